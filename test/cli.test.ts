/**
 * The `nsq` executable as users run it: real processes, real sockets on 127.0.0.1, free ports.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NSQ_VERSION } from "../src/protocol/version.ts";
import { commandForProgramName } from "../src/cli.ts";
import { CLI, NsqProcess, REPO, runCommand, type RunResult } from "./helpers/nsq-process.ts";

const BUN = process.execPath;
const HAS_BROKER = existsSync(join(REPO, "src", "server", "nsqd.ts"));
/** Broker tests wait for src/server/nsqd.ts (written by the lead) to exist. */
const serveTest = HAS_BROKER ? test : test.todo;
const DAEMON_VERSION = (name: string) => `${name} v${NSQ_VERSION} (built w/go1.19.8)`;

/** Runs `cmd` to completion (no deadline of its own: the test's timeout bounds it). */
const run = (cmd: string[], cwd = REPO): Promise<RunResult> => runCommand(cmd, { cwd, timeoutMs: 600_000 });

const nsq = (...args: string[]) => run([BUN, CLI, ...args]);

const daemons: NsqProcess[] = [];
/** A long-running child whose stderr (the NSQ log) can be awaited line by line. */
function startDaemon(cmd: string[]): NsqProcess {
  const d = NsqProcess.exec(cmd);
  daemons.push(d);
  return d;
}

let tmp = "";
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "nsq-cli-"));
});
afterEach(async () => {
  for (const d of daemons.splice(0)) if (d.running) await d.stop("SIGKILL");
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function expectOneErrorLine(result: RunResult, text: string): void {
  expect(result.stdout).toBe("");
  const lines = result.stderr.split("\n").filter((l) => l !== "");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(text);
  expect(result.stderr).not.toContain("\x1b["); // no colour when not a terminal
  expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe("versions and help", () => {
  test("nsq --version", async () => {
    const r = await nsq("--version");
    // both versions, from src/protocol/version.ts (the package's own from package.json)
    const pkg = (await Bun.file(join(REPO, "package.json")).json()) as { version: string };
    expect(r).toEqual({ code: 0, stdout: `nsq ${pkg.version} (implements NSQ v${NSQ_VERSION}; bun ${Bun.version})\n`, stderr: "" });
  });

  test("nsq lookupd --version and -version", async () => {
    for (const flag of ["--version", "-version"]) {
      const r = await nsq("lookupd", flag);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(DAEMON_VERSION("nsqlookupd") + "\n");
    }
  });

  test.skipIf(!HAS_BROKER)("nsq serve --version", async () => {
    const r = await nsq("serve", "--version");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(DAEMON_VERSION("nsqd") + "\n");
  });

  test("nsq help CMD and CMD -h print the flags", async () => {
    const help = await nsq("help", "lookupd");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("-tombstone-lifetime duration");
    expect(help.stdout).toContain("(default 45s)");
    const h = await nsq("lookupd", "-h");
    expect(h.code).toBe(0);
    expect(h.stdout).toBe(help.stdout);
  });

  test("nsq help lists the commands; nsq without a command is a usage error", async () => {
    const help = await nsq("help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("nsq lookupd");
    expect(help.stdout).toContain("nsq install-links");
    const bare = await nsq();
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("nsq lookupd");
  });

  // nsq completion: test/completion.test.ts
});

describe("errors", () => {
  test("unknown flag → exit 2, one line", async () => {
    const r = await nsq("lookupd", "--no-such-flag=1");
    expect(r.code).toBe(2);
    expectOneErrorLine(r, "flag provided but not defined: --no-such-flag");
  });

  test("bad flag value → exit 2, one line naming the flag", async () => {
    const r = await nsq("lookupd", "-tombstone-lifetime", "45");
    expect(r.code).toBe(2);
    expectOneErrorLine(r, 'invalid value "45" for flag -tombstone-lifetime: parse error');
  });

  test("unknown command → exit 2", async () => {
    const r = await nsq("frobnicate");
    expect(r.code).toBe(2);
    expectOneErrorLine(r, 'unknown command "frobnicate"');
  });

  test("unreadable config file → exit 1, one line", async () => {
    const missing = join(tmp, "missing.toml");
    const r = await nsq("lookupd", `--config=${missing}`);
    expect(r.code).toBe(1);
    expectOneErrorLine(r, `failed to load config file ${missing}`);
  });

  test("listen failure → exit 1, one line", async () => {
    const r = await nsq("lookupd", "-tcp-address=256.0.0.1:0", "-http-address=127.0.0.1:0", "-log-level=fatal");
    expect(r.code).toBe(1);
    expectOneErrorLine(r, "FATAL: failed to instantiate nsqlookupd - listen (256.0.0.1:0) failed - ");
  });

  test.skipIf(!HAS_BROKER)("nsqd startup validation → exit 1, one line", async () => {
    const r = await nsq("serve", "--node-id=5000", `--data-path=${tmp}`);
    expect(r.code).toBe(1);
    expectOneErrorLine(r, "--node-id must be [0,1024)");
  });
});

describe("daemons", () => {
  test("nsq lookupd with single-dash flags listens, answers, and exits 0 on SIGTERM", async () => {
    const d = startDaemon([BUN, CLI, "lookupd", "-tcp-address", "127.0.0.1:0", "-http-address=127.0.0.1:0"]);
    const { http } = await d.ports();
    const res = await fetch(`http://127.0.0.1:${http}/ping`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("OK");
    expect(await d.stop("SIGTERM")).toBe(0);
  });

  test("nsq lookupd reads a TOML config file, flags override it", async () => {
    const cfg = join(tmp, "lookupd.toml");
    await writeFile(cfg, 'log_prefix = "[from-config] "\ntcp_address = "127.0.0.1:1"\nhttp_address = "127.0.0.1:0"\n');
    const d = startDaemon([BUN, CLI, "lookupd", "--config", cfg, "--tcp-address=127.0.0.1:0"]);
    const { http } = await d.ports();
    expect(d.log).toContain("[from-config] ");
    expect((await fetch(`http://127.0.0.1:${http}/ping`)).status).toBe(200);
    expect(await d.stop("SIGINT")).toBe(0);
  });

  serveTest("nsq serve logs its listening ports, serves, and exits 0 on SIGTERM", async () => {
    const data = await mkdtemp(join(tmp, "serve-"));
    const d = startDaemon([
      BUN, CLI, "serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${data}`,
    ]);
    const { http, tcp } = await d.ports();
    expect(tcp).toBeGreaterThan(0);
    expect(d.log).toContain(DAEMON_VERSION("nsqd"));
    const res = await fetch(`http://127.0.0.1:${http}/ping`);
    expect(res.status).toBe(200);
    expect(await d.stop("SIGTERM")).toBe(0);
    expect(existsSync(join(data, "nsqd.dat"))).toBe(true); // graceful close wrote the metadata
  });

  serveTest("a second nsqd on the same data path fails to start: exit 1, one line", async () => {
    const data = await mkdtemp(join(tmp, "serve-lock-"));
    const first = startDaemon([BUN, CLI, "serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${data}`]);
    await first.ports();
    const second = await nsq("serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${data}`, "--log-level=error");
    expect(second.code).toBe(1);
    expectOneErrorLine(second, "FATAL: failed to instantiate nsqd - failed to lock data-path: cannot flock directory");
    expect(await first.stop()).toBe(0);
  });

  serveTest("nsq serve takes Go-style single-dash flags and a TOML config", async () => {
    const data = await mkdtemp(join(tmp, "serve-cfg-"));
    const cfg = join(data, "nsqd.toml");
    await writeFile(cfg, `data_path = ${JSON.stringify(data)}\nlog_prefix = "[cfg-nsqd] "\nmem_queue_size = 7\n`);
    const d = startDaemon([BUN, CLI, "serve", "-config", cfg, "-tcp-address", "127.0.0.1:0", "-http-address=127.0.0.1:0"]);
    const { http } = await d.ports();
    expect(d.log).toContain("[cfg-nsqd] ");
    const res = await fetch(`http://127.0.0.1:${http}/ping`);
    expect(res.status).toBe(200);
    expect(await d.stop("SIGINT")).toBe(0);
  });
});

describe("multi-call", () => {
  test("the program name comes from argv0 (compiled) or the script name, extension stripped", () => {
    expect(commandForProgramName("/usr/local/bin/nsqd", "/$bunfs/root/nsq")?.name).toBe("serve");
    expect(commandForProgramName("/opt/bin/nsqlookupd.exe", undefined)?.name).toBe("lookupd");
    expect(commandForProgramName("bun", "/opt/nsq/nsq_tail.ts")?.name).toBe("tail");
    expect(commandForProgramName("bun", "/work/src/cli.ts")).toBeUndefined();
  });

  let bin = "";
  beforeAll(async () => {
    bin = join(tmp, "nsq");
    const built = await run([BUN, "build", "--compile", CLI, "--outfile", bin]);
    if (built.code !== 0) throw new Error(`bun build --compile failed: ${built.stderr}`);
  }, 60_000);

  test("install-links creates symlinks to the compiled executable", async () => {
    const links = join(tmp, "links");
    await mkdir(links, { recursive: true });
    const r = await run([bin, "install-links", links]);
    expect(r.code).toBe(0);
    expect(lstatSync(join(links, "nsqlookupd")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(links, "nsqlookupd"))).toBe(bin);
    if (HAS_BROKER) expect(readlinkSync(join(links, "nsqd"))).toBe(bin);
    // a second run replaces nothing and still succeeds
    expect((await run([bin, "install-links", links])).code).toBe(0);
  });

  test("a symlink named nsqlookupd behaves as `nsq lookupd`", async () => {
    const dir = join(tmp, "by-name");
    await mkdir(dir, { recursive: true });
    await symlink(bin, join(dir, "nsqlookupd"));
    const version = await run([join(dir, "nsqlookupd"), "--version"]);
    expect(version.stdout).toBe(DAEMON_VERSION("nsqlookupd") + "\n");
    const bad = await run([join(dir, "nsqlookupd"), "-bogus"]);
    expect(bad.code).toBe(2);
    expectOneErrorLine(bad, "nsqlookupd: flag provided but not defined: -bogus");
    const d = startDaemon([join(dir, "nsqlookupd"), "-tcp-address=127.0.0.1:0", "-http-address", "127.0.0.1:0"]);
    const { http } = await d.ports();
    expect((await fetch(`http://127.0.0.1:${http}/ping`)).status).toBe(200);
    expect(await d.stop()).toBe(0);
  });

  serveTest("a symlink named nsqd behaves as `nsq serve`", async () => {
    const dir = join(tmp, "by-name-nsqd");
    await mkdir(dir, { recursive: true });
    await symlink(bin, join(dir, "nsqd"));
    const data = await mkdtemp(join(tmp, "nsqd-"));
    const version = await run([join(dir, "nsqd"), "-version"]);
    expect(version.stdout).toBe(DAEMON_VERSION("nsqd") + "\n");
    const d = startDaemon([join(dir, "nsqd"), "-tcp-address=127.0.0.1:0", "-http-address=127.0.0.1:0", "-data-path", data]);
    const { http } = await d.ports();
    expect((await fetch(`http://127.0.0.1:${http}/ping`)).status).toBe(200);
    expect(await d.stop()).toBe(0);
  });

  test("install-links from a script writes wrappers that run the command", async () => {
    const links = join(tmp, "wrappers");
    await mkdir(links, { recursive: true });
    const r = await nsq("install-links", links);
    expect(r.code).toBe(0);
    const version = await run([join(links, "nsqlookupd"), "--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout).toBe(DAEMON_VERSION("nsqlookupd") + "\n");
  });
});
