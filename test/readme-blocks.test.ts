/**
 * Every ```sh block of README.md works pasted into a shell as is (issue 16, item 5): each block is
 * run by bash, as written, and a block fails the test when one of its commands fails (`set -e -o
 * pipefail`) or when a `# prints: X` comment's X does not appear in its output.
 *
 * How a block is run, so that it needs nothing from the machine and leaves nothing behind:
 * - its own network namespace (`unshare -rn`, loopback up), so the ports are exactly the README's
 *   (4150, 4161, 4110, …) and never collide with another test, another block or a running nsqd.
 *   Without unshare/ip (or with NSQ_README_NO_NETNS set) the blocks run on the host's loopback,
 *   one at a time, and the test fails with a clear message when one of the README's ports is taken;
 * - in a temporary directory holding the package (package.json, with src/ and node_modules/ as
 *   links to the checkout), HOME in a temporary directory too (`~/bin`, `~/.bashrc`);
 * - `nsq` on PATH is a shim running `bun src/cli.ts`, and `dist/nsq` is the same shim (as after
 *   the Install block; test/binary.test.ts tests the real build);
 * - `sudo` on PATH runs its command as the current user, and `/usr/local/bin` is replaced by a
 *   temporary directory;
 * - lines that cannot run here are replaced, each for the reason in ADAPTATIONS below (the
 *   registry, this suite itself, the slow real build); lines that run until stopped (`npm start`,
 *   the `nsq stat` dashboard) run for a few seconds in a pseudo-terminal (`script`) and must still
 *   be running when they are stopped;
 * - every process a block started is killed when it ends (its process group).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const REPO = join(import.meta.dir, "..");
const README = readFileSync(join(REPO, "README.md"), "utf8");
const BLOCK_TIMEOUT_MS = 90_000;
/** how long a line that runs until stopped is left running */
const UNTIL_STOPPED_S = 3;

interface Block {
  line: number;
  text: string;
}

/** The ```sh (or bash/shell) blocks of the README with the line they start on. */
function shellBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const re = /^```(?:sh|bash|shell)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(markdown); m !== null; m = re.exec(markdown)) {
    blocks.push({ line: markdown.slice(0, m.index).split("\n").length, text: m[1]! });
  }
  return blocks;
}

interface Adaptation {
  match: RegExp;
  /** the replacement line; `$LINE` is the original line (shell-quoted) */
  replace: string;
  why: string;
}

const ADAPTATIONS: Adaptation[] = [
  { match: /^npm install\b/, replace: ": npm install skipped", why: "needs the registry; CI runs it before the tests" },
  { match: /^npm test\b/, replace: ": npm test skipped", why: "it is this test suite" },
  { match: /^npm run build(:all)?\b/, replace: ": dist/nsq is already the nsq shim", why: "the real build is slow; test/binary.test.ts builds and runs it" },
  { match: /^npm run docs:flags\b/, replace: ": docs:flags skipped", why: "it rewrites README.md; test/readme.test.ts checks the section is current" },
  { match: /^npm run typecheck\b/, replace: ": typecheck skipped", why: "tsc over the whole tree is slow; not a README behaviour" },
  { match: /^npm start\b/, replace: "until_stopped $LINE", why: "the broker runs until stopped" },
  { match: /^nsq stat\b(?!.*--(count|plain))/, replace: "until_stopped $LINE", why: "the dashboard runs until q" },
  { match: /^nsq admin\b/, replace: "until_stopped $LINE", why: "the web admin runs until stopped" },
  { match: /^npm run soak\b/, replace: ": soak skipped", why: "the soak runs take minutes; test/reliability.test.ts runs their quick versions" },
  { match: /^NSQ_ADMIN_SCREENSHOTS=/, replace: ": admin screenshots skipped", why: "needs a browser; test/admin-browser.test.ts is part of this suite" },
];

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The block as bash runs it: adaptations applied, /usr/local/bin moved into the sandbox. */
function adapt(block: string): string {
  // a command continued with a trailing backslash is one line for matching and adapting
  const commands: string[] = [];
  for (const line of block.split("\n")) {
    const last = commands.length - 1;
    if (last >= 0 && commands[last]!.endsWith("\\")) commands[last] += "\n" + line;
    else commands.push(line);
  }
  return commands
    .map((command) => {
      const a = ADAPTATIONS.find((x) => x.match.test(command));
      const oneLine = command.replace(/\\\n\s*/g, "").replace(/\s+#.*$/, "");
      const adapted = a ? a.replace.replace("$LINE", shellQuote(oneLine)) : command;
      return adapted.replace(/\/usr\/local\/bin\b/g, '"$SANDBOX/usr/local/bin"');
    })
    .join("\n");
}

const PRELUDE = `set -e -o pipefail
# runs a command that only ends when stopped, in a pseudo-terminal, for a few seconds; it must
# still be running then (timeout's 124), anything else is a failure
until_stopped() {
  local code=0
  timeout -s TERM ${UNTIL_STOPPED_S} script -qec "$1" /dev/null </dev/null || code=$?
  if [ "$code" -ne 124 ]; then echo "README line ended early (exit $code): $1" >&2; return 1; fi
}
`;

const sandboxRoot = mkdtempSync(join(tmpdir(), "nsq-readme-"));
/** own network namespace per block when the machine allows it */
const NETNS =
  process.env["NSQ_README_NO_NETNS"] === undefined && spawnSync("unshare", ["-rn", "sh", "-c", "ip link set lo up"], { stdio: "ignore" }).status === 0;

function prepareSandbox(index: number): { work: string; env: Record<string, string> } {
  const root = join(sandboxRoot, `block-${index}`);
  const work = join(root, "work");
  const bin = join(root, "bin");
  const home = join(root, "home");
  for (const d of [work, bin, home, join(root, "usr", "local", "bin"), join(work, "dist")]) mkdirSync(d, { recursive: true });
  writeFileSync(join(work, "package.json"), readFileSync(join(REPO, "package.json")));
  symlinkSync(join(REPO, "src"), join(work, "src"));
  symlinkSync(join(REPO, "node_modules"), join(work, "node_modules"));
  const shim = `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(join(REPO, "src", "cli.ts"))} "$@"\n`;
  for (const path of [join(bin, "nsq"), join(work, "dist", "nsq")]) {
    writeFileSync(path, shim);
    chmodSync(path, 0o755);
  }
  writeFileSync(join(bin, "sudo"), '#!/bin/sh\nexec "$@"\n');
  chmodSync(join(bin, "sudo"), 0o755);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "FORCE_COLOR") env[k] = v;
  Object.assign(env, { PATH: `${bin}:${env["PATH"] ?? "/usr/bin:/bin"}`, HOME: home, SANDBOX: root, TERM: "xterm-256color" });
  return { work, env };
}

interface Result {
  code: number | null;
  output: string;
}

function runBlock(block: Block, index: number): Promise<Result> {
  const { work, env } = prepareSandbox(index);
  const script = join(work, "..", "block.sh");
  writeFileSync(script, PRELUDE + adapt(block.text));
  const cmd = NETNS ? ["unshare", "-rn", "sh", "-c", `ip link set lo up && exec bash ${shellQuote(script)}`] : ["bash", script];
  // its own process group, so everything the block started can be stopped at once
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd: work, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (d: Buffer) => {
    if (output.length < 1_000_000) output += d.toString();
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const killGroup = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  };
  const groupAlive = () => {
    try {
      process.kill(-child.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      output += `\n[test] block did not finish within ${BLOCK_TIMEOUT_MS} ms`;
      killGroup();
    }, BLOCK_TIMEOUT_MS);
    child.on("exit", async (code) => {
      clearTimeout(timer);
      // a block that starts servers stops them itself (as a user's shell would be left clean):
      // anything still running a few seconds after the shell ended is a failure
      const deadline = Date.now() + 5000;
      while (groupAlive() && Date.now() < deadline) await Bun.sleep(50);
      const leftover = groupAlive();
      killGroup();
      if (leftover) output += "\n[test] processes started by the block were still running after it ended";
      resolve({ code: leftover && code === 0 ? -1 : code, output });
    });
  });
}

const blocks = shellBlocks(README);
const results = new Map<number, Promise<Result>>();

/** The README's own ports (host-network fallback only). */
function portsInUse(): number[] {
  const ports = new Set<number>();
  for (const b of blocks) for (const m of b.text.matchAll(/127\.0\.0\.1:(\d{4})\b/g)) ports.add(Number(m[1]));
  for (const p of [4150, 4151, 4160, 4161, 4110, 4111, 4120, 4121, 4130, 4131]) ports.add(p);
  return [...ports].filter((p) => spawnSync("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${p}`], { stdio: "ignore" }).status === 0);
}

beforeAll(async () => {
  if (NETNS) {
    // isolated: all blocks at once
    blocks.forEach((b, i) => results.set(i, runBlock(b, i)));
    return;
  }
  const busy = portsInUse();
  if (busy.length > 0) throw new Error(`README blocks need ports ${busy.join(", ")} free (or unshare and ip for a network namespace)`);
  // shared loopback: one block after the other
  let previous: Promise<unknown> = Promise.resolve();
  blocks.forEach((b, i) => {
    const p = previous.then(() => runBlock(b, i));
    results.set(i, p);
    previous = p;
  });
});

afterAll(() => rmSync(sandboxRoot, { recursive: true, force: true }));

test("the README has shell blocks, and every adaptation is used by one", () => {
  expect(blocks.length).toBeGreaterThanOrEqual(5);
  for (const a of ADAPTATIONS) expect(blocks.some((b) => b.text.split("\n").some((l) => a.match.test(l)))).toBe(true);
});

for (const [i, block] of blocks.entries()) {
  const first = block.text.split("\n").find((l) => l.trim() !== "" && !l.startsWith("#")) ?? "";
  test(`README block at line ${block.line} runs pasted as is (${first.slice(0, 50)})`, async () => {
    const r = await results.get(i)!;
    if (r.code !== 0) throw new Error(`block at README line ${block.line} exited ${r.code}:\n${r.output.slice(-4000)}`);
    for (const m of block.text.matchAll(/# prints: (.+)$/gm)) expect(r.output).toContain(m[1]!.trim());
  }, BLOCK_TIMEOUT_MS + 30_000);
}
