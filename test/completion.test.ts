/**
 * `nsq completion` (issue 16, item 7): help, bash/zsh/fish scripts that complete subcommands,
 * flags and the multi-call names, and a clear refusal (exit 2) for other shells. The scripts are
 * loaded into the real shells; zsh and fish are exercised when installed (bash always is).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runNsq, type RunResult } from "./helpers/nsq-process.ts";

const dir = mkdtempSync(join(tmpdir(), "nsq-completion-"));
const scripts: Record<string, string> = {};

function which(name: string): boolean {
  return Bun.which(name) !== null;
}

const nsq = (args: string[], env: Record<string, string> = {}): Promise<RunResult> => runNsq(args, { env });

async function shell(cmd: string[]): Promise<string> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: dir } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${stderr}`);
  return stdout;
}

beforeAll(async () => {
  for (const sh of ["bash", "zsh", "fish"]) {
    const r = await nsq(["completion", sh]);
    expect(r.code).toBe(0);
    scripts[sh] = join(dir, `nsq.${sh}`);
    writeFileSync(scripts[sh]!, r.stdout);
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("nsq completion --help prints help, not a script", async () => {
  const r = await nsq(["completion", "--help"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("Usage: nsq completion [flags] [shell]");
  expect(r.stdout).toContain("bash, zsh, fish");
  expect(r.stdout).not.toContain("complete ");
});

test("other shells are refused with a clear error and exit 2", async () => {
  const r = await nsq(["completion", "powershell"]);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr).toContain(`unsupported shell "powershell": nsq completion supports bash, zsh, fish`);
});

test("without an argument the script is for $SHELL when supported, else bash", async () => {
  expect((await nsq(["completion"], { SHELL: "/usr/bin/fish" })).stdout).toContain("complete -c nsq -f");
  expect((await nsq(["completion"], { SHELL: "/bin/zsh" })).stdout).toStartWith("#compdef nsq");
  expect((await nsq(["completion"], { SHELL: "/bin/tcsh" })).stdout).toContain("complete -o default -F _nsq_complete nsq");
});

test("bash: subcommands, a subcommand's flags and a multi-call program's flags", async () => {
  const complete = (words: string[]) =>
    shell([
      "bash",
      "-c",
      `source ${scripts["bash"]}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _nsq_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ]);
  expect((await complete(["nsq", "lo"])).trim().split("\n")).toEqual(["lookupd"]);
  expect((await complete(["nsq", "serve", "--tcp-a"])).trim()).toBe("--tcp-address");
  expect((await complete(["nsq", "lookupd", "--tomb"])).trim()).toBe("--tombstone-lifetime");
  expect((await complete(["nsqd", "--data-p"])).trim()).toBe("--data-path");
  expect((await complete(["nsq", "completion", ""])).trim().split("\n")).toEqual(["bash", "zsh", "fish"]);
});

test.skipIf(!which("zsh"))("zsh: the script loads after compinit and dispatches per subcommand", async () => {
  const run = (words: string[], current: number) =>
    shell([
      "zsh",
      "-f",
      "-c",
      `autoload -Uz compinit; compinit -u -d ${dir}/zcompdump; source ${scripts["zsh"]}; ` +
        `_describe(){ print -r -- "DESCRIBE $*" }; _arguments(){ print -rl -- "$@" }; compadd(){ print -r -- "COMPADD $*" }; ` +
        `print -r -- "registered:$_comps[nsq]:$_comps[nsqd]"; words=(${words.map((w) => `'${w}'`).join(" ")}); CURRENT=${current}; _nsq`,
    ]);
  const top = await run(["nsq", "st"], 2);
  expect(top).toContain("registered:_nsq:_nsq");
  expect(top).toContain("DESCRIBE -t commands nsq command commands");
  const serve = await run(["nsq", "serve", "--tcp"], 3);
  expect(serve).toContain("--tcp-address=[<addr>\\:<port> to listen on for TCP clients]:tcp-address: ");
  expect(serve).toContain("*--lookupd-tcp-address=[lookupd TCP address]:lookupd-tcp-address: ");
  const nsqd = await run(["nsqd", "--da"], 2);
  expect(nsqd).toContain("--data-path=[path to store disk-backed messages]:data-path:_files");
  expect(await run(["nsq", "completion", ""], 3)).toContain("COMPADD bash zsh fish");
});

test.skipIf(!which("fish"))("fish: complete -C completes subcommands, flags and multi-call names", async () => {
  const complete = async (line: string) =>
    (await shell(["fish", "--no-config", "-c", `source ${scripts["fish"]}; complete -C '${line}'`]))
      .trim()
      .split("\n")
      .map((l) => l.split("\t")[0]);
  expect(await complete("nsq lo")).toEqual(["lookupd"]);
  expect(await complete("nsq serve --tcp-a")).toEqual(["--tcp-address"]);
  expect(await complete("nsqd --data-p")).toEqual(["--data-path"]);
  expect(await complete("nsq completion ")).toEqual(["bash", "fish", "zsh"]);
});
