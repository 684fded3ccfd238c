/**
 * README.md stays true to the code: its "Flags of nsq serve" section is exactly what
 * scripts/gen-flag-docs.ts renders from src/server/flags.ts, the set-up contract at the top is
 * untouched, and every subcommand and multi-call name is documented.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BEGIN_MARKER, END_MARKER, README_PATH, renderFlagSection, withFlagSection } from "../scripts/gen-flag-docs.ts";
import { NSQD_COMMAND_FLAGS } from "../src/server/flags.ts";
import { defaultNodeId } from "../src/server/options.ts";
import { COMMANDS } from "../src/commands/index.ts";

const readme = readFileSync(README_PATH, "utf8");

function flagSection(text: string): string {
  const begin = text.indexOf(BEGIN_MARKER);
  const end = text.indexOf(END_MARKER);
  expect(begin).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(begin);
  return text.slice(begin + BEGIN_MARKER.length, end).trim();
}

describe("README.md", () => {
  test("the flag section is up to date (fix: npm run docs:flags)", () => {
    expect(flagSection(readme)).toBe(renderFlagSection());
    expect(withFlagSection(readme)).toBe(readme);
  });

  test("the flag section lists every flag of nsq serve, plus --config/--version/--help", () => {
    const section = flagSection(readme);
    for (const flag of NSQD_COMMAND_FLAGS) expect(section).toContain(`| \`--${flag.name}\``);
    for (const name of ["config", "version", "help"]) expect(section).toContain(`| \`--${name}\``);
  });

  test("a renamed or new flag makes the section stale", () => {
    const renamed = NSQD_COMMAND_FLAGS.map((f) => (f.name === "mem-queue-size" ? { ...f, name: "memory-queue-size" } : f));
    expect(renderFlagSection(renamed)).not.toBe(flagSection(readme));
  });

  test("host-dependent defaults are described, not this machine's values", () => {
    const row = flagSection(readme).split("\n").find((l) => l.startsWith("| `--node-id`"))!;
    expect(row.split("|")[3]!.trim()).not.toBe(`\`${defaultNodeId()}\``);
    expect(row).toContain("hostname");
  });

  test("keeps the set-up contract as its first lines", () => {
    expect(readme.split("\n").slice(0, 7)).toEqual([
      "# nsq",
      "",
      "```sh",
      "npm install",
      "npm start        # runs `nsq serve` (the broker) on :4150 (TCP) and :4151 (HTTP), data in ./data",
      "npm test         # the whole test suite",
      "```",
    ]);
  });

  test("documents every subcommand with an example, and every multi-call name", () => {
    for (const command of COMMANDS) {
      expect(readme).toContain(`| \`nsq ${command.name}`); // the subcommand table
      expect(readme).toMatch(new RegExp(`^nsq ${command.name}\\b`, "m")); // an example line
      for (const program of command.programNames ?? []) expect(readme).toContain(`\`${program}\``);
    }
  });

  test("the withFlagSection rewrite refuses a README without markers", () => {
    expect(() => withFlagSection("# nothing here\n")).toThrow(/markers/);
  });
});
