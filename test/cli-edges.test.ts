/**
 * The rough edges of issue 16 a newcomer hits, with real processes: `npm start` passes signals to
 * the broker, install-links refuses a missing directory, config/name/flag errors say what is
 * wrong and where, tools pointed at a port that is not nsqd say so, and `nsq --version`.
 */
import { afterAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NsqProcess, runNsq, type RunResult } from "./helpers/nsq-process.ts";

const REPO = join(import.meta.dir, "..");
const tmp = mkdtempSync(join(tmpdir(), "nsq-edges-"));
const cleanups: (() => void)[] = [];

afterAll(() => {
  for (const c of cleanups) c();
  rmSync(tmp, { recursive: true, force: true });
});

const nsq = (args: string[], stdin?: string): Promise<RunResult> => runNsq(args, { stdin });

test("a TOML --config error names the file's line and column", async () => {
  const path = join(tmp, "bad.toml");
  writeFileSync(path, 'tcp_address = "127.0.0.1:0"\nmem_queue_size = = 3\n');
  const r = await nsq(["serve", `--config=${path}`]);
  expect(r.code).toBe(1);
  expect(r.stderr.trim()).toBe(`nsq serve: failed to load config file ${path} - invalid TOML at line 2, column 18: Expected a value but found '='`);
});

test("an invalid topic or channel name on the command line states the rule", async () => {
  const rule = "(1-64 chars of [.a-zA-Z0-9_-], optional #ephemeral suffix)";
  const t = await nsq(["tail", "--nsqd-tcp-address=127.0.0.1:1", "--topic=bad topic"]);
  expect(t.code).toBe(2);
  expect(t.stderr).toContain(`invalid topic name "bad topic" ${rule}`);
  const c = await nsq(["tail", "--nsqd-tcp-address=127.0.0.1:1", "--topic=ok", "--channel=a/b"]);
  expect(c.code).toBe(2);
  expect(c.stderr).toContain(`invalid channel name "a/b" ${rule}`);
  const p = await nsq(["pub", "--nsqd-tcp-address=127.0.0.1:1", `--topic=${"x".repeat(65)}`, "m"]);
  expect(p.code).toBe(2);
  expect(p.stderr).toContain(rule);
});

test("an unknown flag is reported with the dashes it was typed with", async () => {
  const long = await nsq(["lookupd", "--x"]);
  expect(long.code).toBe(2);
  expect(long.stderr).toContain("flag provided but not defined: --x ");
  const short = await nsq(["lookupd", "-x=1"]);
  expect(short.code).toBe(2);
  expect(short.stderr).toContain("flag provided but not defined: -x ");
});

test("install-links refuses a directory that does not exist instead of creating it", async () => {
  const missing = join(tmp, "no-such-dir", "bin");
  const r = await nsq(["install-links", missing]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`${missing} does not exist`);
  expect(existsSync(join(tmp, "no-such-dir"))).toBe(false);
  const file = join(tmp, "a-file");
  writeFileSync(file, "");
  expect((await nsq(["install-links", file])).stderr).toContain(`${file} is not a directory`);
});

test("a tool pointed at an HTTP port or at nsqlookupd's TCP port says the peer is not nsqd", async () => {
  const http: Server = createServer((_req, res) => res.end("hello"));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => http.close());
  const port = (http.address() as { port: number }).port;
  const pub = await nsq(["pub", `--nsqd-tcp-address=127.0.0.1:${port}`, "--topic=t"], "x\n");
  expect(pub.code).toBe(1);
  expect(pub.stderr).toContain(`127.0.0.1:${port}: the peer is not an NSQ server: it answers like an HTTP server`);
  expect(pub.stderr).not.toContain("invalid frame size");

  // nsqlookupd answers the V2 magic with a V1 E_BAD_PROTOCOL
  const lookupd = new NsqProcess(["lookupd", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"]);
  cleanups.push(() => lookupd.signal("SIGKILL"));
  const { tcp: tcpPort } = await lookupd.ports();
  const tail = await nsq(["tail", `--nsqd-tcp-address=127.0.0.1:${tcpPort}`, "--topic=t"]);
  expect(tail.code).toBe(1);
  expect(tail.stderr).toContain("the peer is not nsqd: it refused protocol V2");
});

test("nsq --version prints the package's version and the NSQ version it implements", async () => {
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
  const r = await nsq(["--version"]);
  expect(r.stdout).toBe(`nsq ${pkg.version} (implements NSQ v1.3.0; bun ${Bun.version})\n`);
  // the daemons keep nsqd's shape
  expect((await nsq(["serve", "--version"])).stdout).toBe("nsqd v1.3.0 (built w/go1.19.8)\n");
});

test.skipIf(Bun.which("npm") === null)("npm start execs the broker: stopping npm stops the broker and frees its data path", async () => {
  // a copy of the package whose src and node_modules are the checkout's (npm start makes ./data here)
  const pkgDir = mkdtempSync(join(tmp, "npm-start-"));
  writeFileSync(join(pkgDir, "package.json"), readFileSync(join(REPO, "package.json")));
  symlinkSync(join(REPO, "src"), join(pkgDir, "src"));
  symlinkSync(join(REPO, "node_modules"), join(pkgDir, "node_modules"));
  const npm = spawn("npm", ["start", "--", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"], {
    cwd: pkgDir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let brokerPid = 0;
  cleanups.push(() => {
    npm.kill("SIGKILL");
    if (brokerPid > 0) {
      try {
        process.kill(brokerPid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  let log = "";
  const httpPort = await new Promise<number>((resolve, reject) => {
    npm.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
      const m = /HTTP: listening on [^\n]*:(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    });
    npm.on("exit", (code) => reject(new Error(`npm start exited (${code}): ${log}`)));
  });
  expect((await fetch(`http://127.0.0.1:${httpPort}/ping`)).status).toBe(200);
  // with exec, the shell npm ran became the broker: npm's only child is the broker itself
  const children = readFileSync(`/proc/${npm.pid}/task/${npm.pid}/children`, "utf8").trim().split(/\s+/).map(Number);
  expect(children.length).toBe(1);
  brokerPid = children[0]!;
  expect(readFileSync(`/proc/${brokerPid}/cmdline`, "utf8")).toContain("serve");

  const npmExited = new Promise<void>((resolve) => npm.on("exit", () => resolve()));
  npm.kill("SIGTERM");
  await npmExited;
  // the broker got the signal: it exits (graceful shutdown) and releases its port
  const deadline = Date.now() + 10_000;
  while (existsSync(`/proc/${brokerPid}`) && !readFileSync(`/proc/${brokerPid}/stat`, "utf8").includes(") Z ")) {
    if (Date.now() > deadline) throw new Error(`broker ${brokerPid} still running after npm was stopped; log:\n${log}`);
    await Bun.sleep(25);
  }
  await expect(fetch(`http://127.0.0.1:${httpPort}/ping`)).rejects.toThrow();
}, 30_000);
