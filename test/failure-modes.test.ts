/**
 * Start-up and failure modes an operator can trust (issue 16, items 1-3), with real `nsq`
 * processes (`bun src/cli.ts ...`) and real sockets:
 * - every listener is exclusive: a second daemon on a taken address exits 1 with nsqd's FATAL
 *   line and leaves nothing half-started, while the first keeps answering alone;
 * - a malformed address is a usage error (exit 2) for every address flag of every subcommand, and
 *   only a value containing "/" is a unix socket;
 * - an unwritable --data-path stops nsqd at start; a disk that fills while running fails the
 *   publishes and /ping until a write succeeds again, and a failed metadata write is an ERROR.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, rmSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NsqProcess, runNsq, type RunResult } from "./helpers/nsq-process.ts";
import { RawClient } from "./helpers/raw-client.ts";
import { makeTestCerts, type TestCerts } from "./helpers/tls-certs.ts";
import { addressProblem, goListenError, parseListenAddress } from "../src/protocol/address.ts";
import { lockDataPath } from "../src/server/data-lock.ts";
import { Nsqd } from "../src/server/nsqd.ts";
import { Nsqlookupd } from "../src/lookupd/lookupd.ts";
import { silentLogger } from "../src/util/logger.ts";

const cleanups: (() => void | Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `nsq-fail-${prefix}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function started(p: NsqProcess): NsqProcess {
  cleanups.push(() => p.stop());
  return p;
}

/** A plain TCP listener on a free loopback port that counts the connections it gets. */
async function listener(): Promise<{ server: Server; port: number; connections: () => number }> {
  let count = 0;
  const server = createServer((s) => {
    count++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  return { server, port, connections: () => count };
}

/** Resolves true when 127.0.0.1:port can be bound right now (nothing listens there). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** Mounts a tmpfs (we run as root in CI); null where mounting is not allowed. */
function mountTmpfs(options: string): string | null {
  const dir = mkdtempSync(join(tmpdir(), "nsq-fail-fs-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]);
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  cleanups.push(() => {
    spawnSync("umount", [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const inUse = (port: number) =>
  `listen (127.0.0.1:${port}) failed - listen tcp 127.0.0.1:${port}: bind: address already in use`;

function fatalLine(r: RunResult): string {
  const lines = r.stderr.split("\n").filter((l) => l.includes("FATAL:"));
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe("listeners are exclusive", () => {
  test("a second nsq serve on a taken HTTP port exits 1 with nsqd's message; the first answers every request alone", async () => {
    const lookupd = await listener();
    const first = started(new NsqProcess(["serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${tempDir("first")}`]));
    const { http } = await first.ports();

    const secondData = tempDir("second");
    const second = await runNsq([
      "serve", "--tcp-address=127.0.0.1:0", `--http-address=127.0.0.1:${http}`, `--data-path=${secondData}`,
      `--lookupd-tcp-address=127.0.0.1:${lookupd.port}`,
    ]);
    expect(second.code).toBe(1);
    expect(second.stdout).toBe("");
    expect(fatalLine(second)).toMatch(/^\[nsqd\] \d{4}\/\d\d\/\d\d [\d:.]+ FATAL: failed to instantiate nsqd - /);
    expect(fatalLine(second)).toEndWith(`FATAL: failed to instantiate nsqd - ${inUse(http)}`);
    // nothing half-started: no registration with lookupd, and the data path is free again
    expect(lookupd.connections()).toBe(0);
    lockDataPath(secondData).release();

    // the first one's socket has no SO_REUSEPORT: nobody can share the port, even asking for it
    expect(() => Bun.serve({ hostname: "127.0.0.1", port: http, reusePort: true, fetch: () => new Response("intruder") })).toThrow();
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://127.0.0.1:${http}/pub?topic=solo`, { method: "POST", body: `m${i}` });
      expect(await res.text()).toBe("OK");
    }
    const stats = (await (await fetch(`http://127.0.0.1:${http}/stats?format=json&topic=solo`)).json()) as {
      topics: { topic_name: string; message_count: number }[];
    };
    expect(stats.topics.map((t) => [t.topic_name, t.message_count])).toEqual([["solo", 20]]);
    expect(await first.stop()).toBe(0);
  });

  let certs: TestCerts | null = null;
  afterAll(() => certs?.cleanup());

  test("every listener of serve (TCP, HTTP, HTTPS) and lookupd (TCP, HTTP) is exclusive: a second one exits 1 with nsqd's FATAL line", async () => {
    certs = makeTestCerts();
    const tls = [`--tls-cert=${certs.serverCert}`, `--tls-key=${certs.serverKey}`];
    const serve = started(new NsqProcess(["serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--https-address=127.0.0.1:0", ...tls, `--data-path=${tempDir("tls")}`]));
    const lookupd = started(new NsqProcess(["lookupd", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"]));
    const s = await serve.ports();
    const https = Number((await serve.waitFor(/HTTPS: listening on 127\.0\.0\.1:(\d+)/))[1]);
    const l = await lookupd.ports();
    for (const port of [s.tcp, s.http, https, l.tcp, l.http]) {
      // no SO_REUSEPORT on any of them: not even a socket that asks for it can share the port
      expect(() => Bun.serve({ hostname: "127.0.0.1", port, reusePort: true, fetch: () => new Response("intruder") })).toThrow();
    }
    const data = () => `--data-path=${tempDir("taken")}`;
    const cases: [string, number, string[]][] = [
      ["nsqd", s.tcp, ["serve", `--tcp-address=127.0.0.1:${s.tcp}`, "--http-address=127.0.0.1:0", data()]],
      ["nsqd", https, ["serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--https-address=127.0.0.1:${https}`, ...tls, data()]],
      ["nsqlookupd", l.tcp, ["lookupd", `--tcp-address=127.0.0.1:${l.tcp}`, "--http-address=127.0.0.1:0"]],
      ["nsqlookupd", l.http, ["lookupd", "--tcp-address=127.0.0.1:0", `--http-address=127.0.0.1:${l.http}`]],
    ];
    const results = await Promise.all(cases.map(([, , args]) => runNsq(args)));
    results.forEach((r, i) => {
      const [name, port, args] = cases[i]!;
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(fatalLine(r)).toEndWith(`FATAL: failed to instantiate ${name} - ${inUse(port)}`);
    });
    // the first ones still serve
    expect(await (await fetch(`http://127.0.0.1:${s.http}/ping`)).text()).toBe("OK");
    expect(await (await fetch(`http://127.0.0.1:${l.http}/ping`)).text()).toBe("OK");
    expect(await serve.stop()).toBe(0);
    expect(await lookupd.stop()).toBe(0);
  });

  test("an embedded broker whose HTTP port is taken closes its TCP listener and releases the data path", async () => {
    const taken = await listener();
    const lookupd = await listener();
    const dataPath = tempDir("embedded");
    const nsqd = new Nsqd(
      { tcpAddress: "127.0.0.1:0", httpAddress: `127.0.0.1:${taken.port}`, httpsAddress: "", dataPath, lookupdTcpAddresses: [`127.0.0.1:${lookupd.port}`] },
      silentLogger,
    );
    await expect(nsqd.start()).rejects.toThrow(inUse(taken.port));
    expect(nsqd.tcpPort).toBeGreaterThan(0); // it had bound TCP before HTTP failed…
    await nsqd.close();
    expect(await portIsFree(nsqd.tcpPort)).toBe(true); // …and closed it
    lockDataPath(dataPath).release();
    expect(lookupd.connections()).toBe(0);

    const lookupdServer = new Nsqlookupd({ tcpAddress: "127.0.0.1:0", httpAddress: `127.0.0.1:${taken.port}` }, silentLogger);
    await expect(lookupdServer.start()).rejects.toThrow(inUse(taken.port));
    await lookupdServer.close();
  });
});

describe("addresses", () => {
  test("only a value containing / is a unix socket; everything else must be host:port", () => {
    expect(parseListenAddress("/var/run/nsqd.sock")).toEqual({ kind: "unix", path: "/var/run/nsqd.sock" });
    expect(parseListenAddress("./nsqd.sock")).toEqual({ kind: "unix", path: "./nsqd.sock" });
    expect(parseListenAddress(":4150")).toEqual({ kind: "tcp", host: "0.0.0.0", port: 4150 });
    expect(parseListenAddress("[::1]:0")).toEqual({ kind: "tcp", host: "::1", port: 0 });
    for (const bad of ["127.0.0.1:abc", "127.0.0.1:65536", "127.0.0.1:", ":abc", "nsqd.sock", "::1:4150", "localhost", "127.0.0.1:-1"]) {
      expect(() => parseListenAddress(bad)).toThrow(`invalid address "${bad}"`);
    }
    expect(addressProblem("listen", "127.0.0.1:0")).toBeNull();
    expect(addressProblem("listen", "/tmp/x.sock")).toContain("missing port");
    expect(addressProblem("connect", ":4160")).toBeNull();
    expect(addressProblem("connect", "127.0.0.1:0")).toContain('bad port "0"');
    expect(addressProblem("client", ":4150")).toContain("missing host");
    expect(addressProblem("http", "https://nsqd.example:4152/")).toBeNull();
    expect(addressProblem("http", "http://nsqd.example:99999")).toContain("invalid URL");
    expect(goListenError({ kind: "unix", path: "/x/y.sock" }, Object.assign(new Error("x"), { code: "ENOENT" }))).toBe(
      "listen unix /x/y.sock: bind: no such file or directory",
    );
  });

  test("a bad port is one line and exit 2 for every address flag of every subcommand, and never a socket file", async () => {
    const cwd = tempDir("cwd");
    const data = `--data-path=${cwd}`;
    const cases: string[][] = [
      ["serve", "--tcp-address=127.0.0.1:abc", data],
      ["serve", "--http-address=127.0.0.1:99999", data],
      ["serve", "--https-address=:x", data],
      ["serve", "--tcp-address=nsqd.sock", data],
      ["serve", "--lookupd-tcp-address=127.0.0.1:abc", data],
      ["serve", "--statsd-address=127.0.0.1:70000", data],
      ["serve", "--auth-http-address=127.0.0.1:auth", data],
      ["lookupd", "--tcp-address=127.0.0.1:abc"],
      ["lookupd", "--http-address=:xyz"],
      ["pub", "--nsqd-tcp-address=127.0.0.1:abc", "--topic=t", "x"],
      ["tail", "--nsqd-tcp-address=127.0.0.1:99999", "--topic=t"],
      ["tail", "--lookupd-http-address=127.0.0.1:abc", "--topic=t"],
      ["to-file", "--lookupd-http-address=http://127.0.0.1:abc", "--topic=t"],
      ["to-file", "--nsqd-tcp-address=:abc", "--topic=t"],
      ["pause", "--nsqd-http-address=127.0.0.1:abc", "t"],
      ["pause", "--lookupd-http-address=127.0.0.1:", "t"],
      ["stat", "--nsqd-http-address=127.0.0.1:abc", "--topic=t", "--channel=c"],
      ["stat", "--lookupd-http-address=127.0.0.1:70000", "--topic=t", "--channel=c"],
      ["bench", "writer", "--nsqd-tcp-address=127.0.0.1:abc"],
      ["bench", "sink", "--tcp-address=127.0.0.1:abc"],
    ];
    const results = await Promise.all(cases.map((args) => runNsq(args, { cwd })));
    results.forEach((r, i) => {
      const args = cases[i]!;
      const flag = args.find((a) => a.includes("address="))!.split("=")[0]!;
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      expect({ args, code: r.code, lines: lines.length }).toEqual({ args, code: 2, lines: 1 });
      expect(lines[0]).toContain(`invalid value "${args.find((a) => a.includes("address="))!.split("=")[1]}" for flag -${flag.slice(2)}: `);
    });
    expect(readdirSync(cwd)).toEqual([]); // no unix socket named "127.0.0.1:abc", no nsqd.dat: nothing started
  });
  test("a bad address in a --config file is one line naming the key, exit 1 (nsqd's config errors)", async () => {
    const dir = tempDir("cfg");
    writeFileSync(join(dir, "nsqd.toml"), 'nsqlookupd_tcp_addresses = ["127.0.0.1:abc"]\n');
    const r = await runNsq(["serve", `--config=${join(dir, "nsqd.toml")}`, `--data-path=${dir}`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('nsq serve: invalid value "127.0.0.1:abc" for nsqlookupd_tcp_addresses in the config file: bad port "abc"');
  });
});

describe("an unwritable data path", () => {
  test("nsq serve refuses to start, naming the path and the cause", async () => {
    // a data path that is a file: the lock can be taken, nothing can be written (root or not)
    const file = join(tempDir("file"), "not-a-dir");
    writeFileSync(file, "");
    const cases: { dir: string; cause: string }[] = [{ dir: file, cause: "ENOTDIR" }];
    const readOnly = mountTmpfs("ro,size=1m");
    if (readOnly !== null) cases.push({ dir: readOnly, cause: "EROFS: read-only file system" });
    else if (process.getuid?.() !== 0) {
      const dir = tempDir("ro");
      chmodSync(dir, 0o555);
      cases.push({ dir, cause: "EACCES: permission denied" });
    }
    const taken = await listener();
    for (const { dir, cause } of cases) {
      const r = await runNsq(["serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${dir}`, `--lookupd-tcp-address=127.0.0.1:${taken.port}`]);
      expect(r.code).toBe(1);
      const line = fatalLine(r);
      expect(line).toContain(`${dir}/nsqd.dat`);
      expect(line).toContain(cause);
      expect(r.stderr).not.toContain("listening on"); // refused before any listener
    }
    expect(taken.connections()).toBe(0);
  });

  const full = mountTmpfs("size=256k");
  test.skipIf(full === null)("with --mem-queue-size=0 a disk that fills fails PUB, MPUB, /pub and /ping until a write succeeds again", async () => {
    const dataPath = full!;
    const nsqd = started(new NsqProcess(["serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${dataPath}`, "--mem-queue-size=0"]));
    const { tcp, http } = await nsqd.ports();
    const get = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${http}${path}`, init);
    const publisher = await RawClient.connect(tcp);
    publisher.pub("disk", "before");
    expect(await publisher.readResponse()).toBe("OK");

    // fill the filesystem while the broker runs
    const filler = join(dataPath, "filler");
    const fd = openSync(filler, "w");
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe("ENOSPC");
    } finally {
      closeSync(fd);
    }

    // a PUB that cannot be written is an error, never an OK (pages of the open file may still hold a few)
    let failure = "";
    let accepted = 0;
    for (let i = 0; i < 50 && failure === ""; i++) {
      publisher.pub("disk", "x".repeat(2000));
      const f = await publisher.readFrame();
      if (f.type === 1) failure = f.data.toString();
      else accepted++;
    }
    expect(failure).toMatch(/^E_PUB_FAILED PUB failed .*ENOSPC/);
    expect(accepted).toBeLessThan(50);
    await publisher.waitClosed(); // E_PUB_FAILED is fatal, as in nsqd
    const mpub = await RawClient.connect(tcp);
    mpub.mpub("disk", ["a".repeat(2000), "b".repeat(2000)]);
    expect(await mpub.readError()).toMatch(/^E_MPUB_FAILED MPUB failed /);
    mpub.close();

    const ping = await get("/ping");
    expect(ping.status).toBe(500);
    expect(await ping.text()).toMatch(/^NOK - .*ENOSPC/);
    const pub = await get("/pub?topic=disk", { method: "POST", body: "y".repeat(2000) });
    expect([pub.status, await pub.text()]).toEqual([503, '{"message":"EXITING"}']); // nsqd's answer to any PutMessage error

    // a metadata write that fails is logged at ERROR with the file and the cause (a new topic: a
    // new channel of "disk" would take its backlog, a write that succeeds by itself once there is room)
    expect((await get("/topic/create?topic=meta", { method: "POST" })).status).toBe(200);
    await nsqd.waitFor(/ERROR: failed to persist metadata - failed to write \S+\/nsqd\.dat - ENOSPC/);

    // space again: still unhealthy until a write succeeds, then healthy
    unlinkSync(filler);
    expect((await get("/ping")).status).toBe(500);
    const again = await RawClient.connect(tcp);
    again.pub("disk", "after");
    expect(await again.readResponse()).toBe("OK");
    again.close();
    const healthy = await get("/ping");
    expect([healthy.status, await healthy.text()]).toEqual([200, "OK"]);
    expect(await nsqd.stop()).toBe(0);
  });
});
