/**
 * Smoke test through the compiled single executable (the CI check of issue 9): builds the host
 * executable once with scripts/build-binaries.ts (what `npm run build` runs; into a temporary
 * directory, so a dist/nsq in use is never replaced under it), then drives the file itself:
 * serve + pub + tail round trip, `stat --count 1`, the ink dashboard on a pseudo-terminal,
 * multi-call through links named like the real programs, and a copy with no node_modules near it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { buildOrSkip, hostTarget } from "../scripts/build-binaries.ts";

const REPO = resolve(import.meta.dir, "..");
const BUN = process.execPath;
/** NSQ_SMOKE_BINARY=path runs this smoke test against an already built executable (no build). */
const GIVEN_BINARY = process.env["NSQ_SMOKE_BINARY"];
/** The executable under test: built into this test's own directory (see beforeAll). */
let NSQ = GIVEN_BINARY ? resolve(GIVEN_BINARY) : "";
const BUILD_TIMEOUT_MS = 120_000;
/** Above this the build is too slow to run in every local `bun test`; CI always runs it. */
const SLOW_BUILD_MS = 60_000;
const ENV = { ...process.env, NO_COLOR: "1" };

function withoutCi(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const { CI: _ci, CONTINUOUS_INTEGRATION: _ci2, ...rest } = env;
  return rest;
}

let tmp = "";
let buildMs = 0;
const children: Subprocess[] = [];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "nsq-binary-"));
  if (GIVEN_BINARY) return;
  // `npm run build`'s script, aimed at a private directory: dist/nsq may be in use (benchmarks)
  const dist = join(tmp, "dist");
  NSQ = hostTarget(dist).outfile;
  const started = performance.now();
  const build = Bun.spawnSync([BUN, join(REPO, "scripts", "build-binaries.ts"), "--dist", dist], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  buildMs = performance.now() - started;
  if (build.exitCode !== 0) {
    throw new Error(`npm run build failed (exit ${build.exitCode}): ${build.stderr.toString()}${build.stdout.toString()}`);
  }
  if (buildMs > SLOW_BUILD_MS && !process.env["CI"]) {
    console.warn(`binary.test: the build took ${Math.round(buildMs)} ms (> ${SLOW_BUILD_MS} ms); set CI=1 to run this file anyway`);
  }
}, BUILD_TIMEOUT_MS);

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill("SIGKILL");
    await child.exited;
  }
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Tests run only when the build was quick enough, or always under CI. */
function runnable(): boolean {
  return buildMs <= SLOW_BUILD_MS || !!process.env["CI"];
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string[], options: { stdin?: string; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  const child = Bun.spawn(cmd, {
    cwd: options.cwd ?? tmp,
    env: ENV,
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs ?? 15_000,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

/** Reads a child's stream until `pattern` has matched everything it needs, with a deadline. */
async function readUntil(stream: ReadableStream<Uint8Array>, done: (text: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = setTimeout(() => void reader.cancel(), timeoutMs);
  try {
    while (!done(text)) {
      const { value, done: ended } = await reader.read();
      if (ended) throw new Error(`stream ended before ${what}; got: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    return text;
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
}

interface Broker {
  tcp: string;
  http: string;
}

/** `dist/nsq serve` on loopback port 0; the ports are read from its "listening on" log lines. */
async function startServe(): Promise<Broker> {
  const data = mkdtempSync(join(tmp, "data-"));
  const child = Bun.spawn([NSQ, "serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${data}`], {
    cwd: tmp,
    env: ENV,
    stdout: "ignore",
    stderr: "pipe",
  });
  children.push(child);
  const listening = /TCP: listening on (\S+)[\s\S]*HTTP: listening on (\S+)|HTTP: listening on (\S+)[\s\S]*TCP: listening on (\S+)/;
  const log = await readUntil(child.stderr, (t) => listening.test(t), "nsq serve logged its TCP and HTTP addresses");
  const m = listening.exec(log)!;
  return m[1] ? { tcp: m[1], http: m[2]! } : { tcp: m[4]!, http: m[3]! };
}

describe("compiled nsq executable", () => {
  test("npm run build produced an executable of plausible size", () => {
    expect(existsSync(NSQ)).toBe(true);
    const size = statSync(NSQ).size;
    // the Bun runtime alone is tens of MiB; far less means a broken file
    expect(size).toBeGreaterThan(30 * 1024 * 1024);
    expect(existsSync(`${NSQ}.map`)).toBe(true);
  });

  test("--version, help and usage exit codes", async () => {
    if (!runnable()) return;
    const version = await run([NSQ, "--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^nsq \d+\.\d+\.\d+\S* \(implements NSQ v1\.3\.0; bun \S+\)\n$/);
    const serveVersion = await run([NSQ, "serve", "--version"]);
    expect(serveVersion.code).toBe(0);
    expect(serveVersion.stdout).toMatch(/^nsqd v1\.3\.0 \(built w\/go1\.19\.8\)\n$/);
    const help = await run([NSQ, "help"]);
    expect(help.code).toBe(0);
    for (const name of ["serve", "lookupd", "pub", "tail", "to-file", "pause", "stat"]) expect(help.stdout).toContain(name);
    const unknown = await run([NSQ, "no-such-command"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1);
  });

  test("serve + pub + tail round trip, then stat --count 1", async () => {
    if (!runnable()) return;
    const broker = await startServe();
    expect((await fetch(`http://${broker.http}/ping`)).status).toBe(200);

    const pub = await run([NSQ, "pub", `--nsqd-tcp-address=${broker.tcp}`, "--topic=smoke"], { stdin: "first\nsecond\n" });
    expect(pub.code).toBe(0);

    // a named (durable) channel, so stat can read it afterwards
    const tail = await run([NSQ, "tail", `--nsqd-tcp-address=${broker.tcp}`, "--topic=smoke", "--channel=smoke-ch", "-n", "2"]);
    expect(tail.code).toBe(0);
    expect(tail.stdout).toBe("first\nsecond\n");

    const stat = await run([NSQ, "stat", `--nsqd-http-address=${broker.http}`, "--topic=smoke", "--channel=smoke-ch", "--interval=100ms", "--count", "1"]);
    expect(stat.stderr).toBe("");
    expect(stat.code).toBe(0);
    const lines = stat.stdout.trimEnd().split("\n");
    expect(lines[1]).toContain("ingress  egress");
    expect(lines).toHaveLength(3); // two header lines, one row
    // row: ingress egress | total mem disk inflt def | req t-o msgs clients
    const numbers = lines[2]!.replace(/\|/g, " ").trim().split(/\s+/).map(Number);
    expect(numbers).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0]);
  });

  test("multi-call: a symlink named nsqd is nsqd; install-links makes the others", async () => {
    if (!runnable()) return;
    const bin = mkdtempSync(join(tmp, "bin-"));
    symlinkSync(NSQ, join(bin, "nsqd"));
    const nsqd = await run([join(bin, "nsqd"), "--version"]);
    expect(nsqd.code).toBe(0);
    expect(nsqd.stdout).toMatch(/^nsqd v1\.3\.0 \(built w\/go1\.19\.8\)\n$/);

    const links = join(tmp, "links");
    mkdirSync(links, { recursive: true });
    const installed = await run([NSQ, "install-links", links]);
    expect(installed.code).toBe(0);
    const lookupd = await run([join(links, "nsqlookupd"), "--version"]);
    expect(lookupd).toMatchObject({ code: 0 });
    expect(lookupd.stdout).toStartWith("nsqlookupd v1.3.0");
    const toNsq = await run([join(links, "to_nsq"), "--version"]);
    expect(toNsq.stdout).toBe("to_nsq v1.3.0\n");
  });

  test("a copy far from the repository (no node_modules) runs", async () => {
    if (!runnable()) return;
    const alone = mkdtempSync(join(tmpdir(), "nsq-alone-"));
    try {
      const copy = join(alone, "nsq");
      copyFileSync(NSQ, copy);
      Bun.spawnSync(["chmod", "755", copy]);
      const r = await run([copy, "help", "stat"], { cwd: alone });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("-nsqd-http-address");
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  });

  test("the compiled nsq admin serves its embedded UI (script, styles) with no source beside it", async () => {
    if (!runnable()) return;
    const alone = mkdtempSync(join(tmpdir(), "nsq-alone-"));
    try {
      const copy = join(alone, "nsqadmin");
      copyFileSync(NSQ, copy);
      Bun.spawnSync(["chmod", "755", copy]);
      const child = Bun.spawn([copy, "--http-address=127.0.0.1:0", "--nsqd-http-address=127.0.0.1:1"], { cwd: alone, stderr: "pipe", env: ENV });
      children.push(child);
      const log = await readUntil(child.stderr, (t) => /HTTP: listening on [^\n]*:\d+/.test(t), "nsqadmin listening");
      const port = /HTTP: listening on [^\n]*:(\d+)/.exec(log)![1];
      const js = await fetch(`http://127.0.0.1:${port}/static/app.js`);
      expect(js.status).toBe(200);
      expect((await js.text()).length).toBeGreaterThan(5000);
      expect(await (await fetch(`http://127.0.0.1:${port}/static/app.css`)).text()).toContain("prefers-color-scheme");
      expect(await (await fetch(`http://127.0.0.1:${port}/topics`)).text()).toContain("/static/app.js");
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  });

  // The dashboard needs a terminal: util-linux `script` gives the executable a pseudo-terminal.
  const hasScript = process.platform === "linux" && Bun.which("script") !== null;
  test.skipIf(!hasScript)("stat dashboard (ink, embedded) draws on a TTY and quits on q", async () => {
    if (!runnable()) return;
    const broker = await startServe();
    const inner = `stty cols 100 rows 30; exec '${NSQ}' stat --nsqd-http-address=${broker.http}`;
    const child = Bun.spawn(["script", "-qfec", inner, "/dev/null"], {
      cwd: tmp,
      // ink draws nothing interactive when it sees CI set (is-in-ci); a person's terminal has no CI
      env: { ...withoutCi(ENV), TERM: "xterm-256color" },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    children.push(child);
    const screen = await readUntil(child.stdout, (t) => t.includes("q quit"), "the dashboard drew its key help");
    expect(screen).toContain("nsq stat");
    child.stdin.write("q");
    await child.stdin.flush();
    const code = await Promise.race([child.exited, Bun.sleep(10_000).then(() => "timeout" as const)]);
    expect(code).toBe(0);
    const stderr = await new Response(child.stderr).text();
    expect(stderr).not.toMatch(/error|react-devtools/i);
  });
});

describe("build-binaries.ts", () => {
  test("a target that cannot be built is reported and skipped, not fatal", () => {
    const [outcome] = buildOrSkip([{ name: "nowhere-x64", bunTarget: "bun-nowhere-x64", outfile: join(tmp, "nsq-nowhere") }]);
    expect(outcome!.status).toBe("skipped");
    if (outcome!.status === "skipped") expect(outcome!.reason).toContain("nowhere-x64");
  });
});
