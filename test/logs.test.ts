/**
 * Connection logs (issue 16, item 4): `nsq serve` and `nsq lookupd` write nsqd v1.3.0's and
 * nsqlookupd v1.3.0's connection lines word for word and at the same levels. Real processes at
 * the default level (INFO) for the lines operators search for; an in-process broker with a
 * capturing logger for the DEBUG-only lines.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { ProcessGroup, runNsq, type Daemon } from "./helpers/nsq-process.ts";
import { RawClient } from "./helpers/raw-client.ts";
import { Nsqd } from "../src/server/nsqd.ts";
import { createLogger } from "../src/util/logger.ts";

type Proc = Daemon;

const group = new ProcessGroup();
const startProcess = (args: string[]): Promise<Proc> => group.start(args);

/** Resolves with the log line matching `pattern` once it appears (fails the test after 5 s). */
async function line(p: Proc, pattern: RegExp, what: string): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const m = p.log().split("\n").find((l) => pattern.test(l));
    if (m !== undefined) return m;
    if (Date.now() > deadline) throw new Error(`no log line for ${what}; log:\n${p.log()}`);
    await Bun.sleep(20);
  }
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** `<prefix>YYYY/MM/DD HH:MM:SS.uuuuuu LEVEL: ` */
const head = (prefix: string, level: string) => `^${esc(prefix)}\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{6} ${level}: `;
const NSQD_INFO = head("[nsqd] ", "INFO");
const NSQD_ERROR = head("[nsqd] ", "ERROR");
const LOOKUPD_INFO = head("[nsqlookupd] ", "INFO");
const VERSION = esc("v1.3.0 (built w/go1.19.8)");

/**
 * Each pattern matches a later line than the one before (nsqd's order); resolves with the line
 * indexes once all have appeared (fails the test after 5 s, showing the log).
 */
async function inOrder(p: Proc, patterns: RegExp[], what: string): Promise<number[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = p.log().split("\n");
    const found: number[] = [];
    let from = 0;
    for (const pattern of patterns) {
      const i = lines.findIndex((l, n) => n >= from && pattern.test(l));
      if (i < 0) break;
      found.push(i);
      from = i + 1;
    }
    if (found.length === patterns.length) return found;
    if (Date.now() > deadline) {
      throw new Error(`${what}: no line after line ${from} for ${patterns[found.length]}; log:\n${p.log()}`);
    }
    await Bun.sleep(20);
  }
}

/** Sends `signal` and resolves with the exit code. */
function stop(p: Proc, signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
  return p.proc.stop(signal);
}

/** A loopback port with nothing listening on it (bound, then closed). */
async function closedPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let lookupd: Proc;
let nsqd: Proc;

beforeAll(async () => {
  lookupd = await startProcess(["lookupd", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--broadcast-address=127.0.0.1"]);
  const dataPath = group.dir("nsq-logs-");
  nsqd = await startProcess([
    "serve",
    "--tcp-address=127.0.0.1:0",
    "--http-address=127.0.0.1:0",
    "--broadcast-address=127.0.0.1",
    `--data-path=${dataPath}`,
    `--lookupd-tcp-address=127.0.0.1:${lookupd.tcp}`,
  ]);
});

afterAll(() => {
  group.stopAll();
});

test("a TCP client's connection, magic, IDENTIFY and exit are logged at INFO as nsqd does", async () => {
  const c = await RawClient.connect(nsqd.tcp);
  const addr = `127.0.0.1:${c.socket.localPort}`;
  c.identify({ client_id: "logtest", hostname: "box.example", user_agent: "logs-test/1.0", feature_negotiation: true, heartbeat_interval: 5000 });
  await c.readResponse();
  c.pub("logs_topic", "hello");
  expect(await c.readResponse()).toBe("OK");
  c.close();

  await line(nsqd, new RegExp(`${NSQD_INFO}TCP: new client\\(${esc(addr)}\\)$`), "new client");
  await line(nsqd, new RegExp(`${NSQD_INFO}CLIENT\\(${esc(addr)}\\): desired protocol magic '  V2'$`), "magic");
  await line(
    nsqd,
    new RegExp(
      `${NSQD_INFO}${esc(
        `[${addr}] IDENTIFY: {ClientID:logtest Hostname:box.example HeartbeatInterval:5000 OutputBufferSize:0 ` +
          `OutputBufferTimeout:0 FeatureNegotiation:true TLSv1:false Deflate:false DeflateLevel:0 Snappy:false ` +
          `SampleRate:0 UserAgent:logs-test/1.0 MsgTimeout:0}`,
      )}$`,
    ),
    "IDENTIFY",
  );
  await line(nsqd, new RegExp(`${NSQD_INFO}PROTOCOL\\(V2\\): \\[${esc(addr)}\\] exiting ioloop$`), "exiting ioloop");
  await line(nsqd, new RegExp(`${NSQD_INFO}PROTOCOL\\(V2\\): \\[${esc(addr)}\\] exiting messagePump$`), "exiting messagePump");
  // the per-command line is DEBUG only
  expect(nsqd.log()).not.toContain(`[${addr}] [PUB logs_topic]`);
  // a client that hung up is not an error
  expect(nsqd.log()).not.toContain(`client(${addr}) -`);
});

test("a fatal command error and a bad magic are logged at ERROR with nsqd's words", async () => {
  const c = await RawClient.connect(nsqd.tcp);
  const addr = `127.0.0.1:${c.socket.localPort}`;
  c.write("FOO\n");
  expect(await c.readError()).toBe("E_INVALID invalid command FOO");
  await c.waitClosed();
  await line(nsqd, new RegExp(`${NSQD_ERROR}${esc(`[${addr}] - E_INVALID invalid command FOO`)}$`), "command error");
  await line(nsqd, new RegExp(`${NSQD_ERROR}${esc(`client(${addr}) - E_INVALID invalid command FOO`)}$`), "ioloop error");

  const bad = await RawClient.connect(nsqd.tcp, false);
  const badAddr = `127.0.0.1:${bad.socket.localPort}`;
  bad.write("GET / HTTP/1.1\r\n\r\n");
  expect(await bad.readError()).toBe("E_BAD_PROTOCOL");
  await line(nsqd, new RegExp(`${NSQD_INFO}CLIENT\\(${esc(badAddr)}\\): desired protocol magic 'GET '$`), "bad magic seen");
  await line(nsqd, new RegExp(`${NSQD_ERROR}client\\(${esc(badAddr)}\\) bad protocol magic 'GET '$`), "bad magic");
  bad.close();
});

test("nsqd's lookupd connection and registrations are logged as nsqd's lookup loop does", async () => {
  const lookupAddr = `127.0.0.1:${lookupd.tcp}`;
  await line(nsqd, new RegExp(`${NSQD_INFO}LOOKUP\\(${esc(lookupAddr)}\\): adding peer$`), "adding peer");
  await line(nsqd, new RegExp(`${NSQD_INFO}LOOKUP connecting to ${esc(lookupAddr)}$`), "connecting");
  await line(
    nsqd,
    new RegExp(`${NSQD_INFO}LOOKUPD\\(${esc(lookupAddr)}\\): peer info \\{TCPPort:${lookupd.tcp} HTTPPort:${lookupd.http} Version:1\\.3\\.0 BroadcastAddress:127\\.0\\.0\\.1\\}$`),
    "peer info",
  );
  const res = await fetch(`http://127.0.0.1:${nsqd.http}/topic/create?topic=logs_lookup`, { method: "POST" });
  expect(res.status).toBe(200);
  await line(nsqd, new RegExp(`${NSQD_INFO}LOOKUPD\\(${esc(lookupAddr)}\\): topic REGISTER logs_lookup$`), "topic REGISTER");
  const res2 = await fetch(`http://127.0.0.1:${nsqd.http}/channel/create?topic=logs_lookup&channel=c1`, { method: "POST" });
  expect(res2.status).toBe(200);
  await line(nsqd, new RegExp(`${NSQD_INFO}LOOKUPD\\(${esc(lookupAddr)}\\): channel REGISTER logs_lookup c1$`), "channel REGISTER");
});

test("nsqlookupd logs its TCP clients as nsqlookupd does", async () => {
  // the broker's own connection
  await line(lookupd, new RegExp(`${LOOKUPD_INFO}TCP: new client\\(127\\.0\\.0\\.1:\\d+\\)$`), "new client");
  await line(lookupd, new RegExp(`${LOOKUPD_INFO}CLIENT\\(127\\.0\\.0\\.1:\\d+\\): desired protocol magic '  V1'$`), "magic");
  await line(
    lookupd,
    new RegExp(`${LOOKUPD_INFO}CLIENT\\(127\\.0\\.0\\.1:\\d+\\): IDENTIFY Address:127\\.0\\.0\\.1 TCP:${nsqd.tcp} HTTP:${nsqd.http} Version:1\\.3\\.0$`),
    "IDENTIFY",
  );
  // a client that ends its connection after the magic: the end of the IOLoop is logged
  const c = await RawClient.connect(lookupd.tcp, false);
  const addr = `127.0.0.1:${c.socket.localPort}`;
  c.write("  V1");
  await line(lookupd, new RegExp(`${LOOKUPD_INFO}CLIENT\\(${esc(addr)}\\): desired protocol magic '  V1'$`), "raw magic");
  c.close();
  await line(lookupd, new RegExp(`${LOOKUPD_INFO}PROTOCOL\\(V1\\): \\[${esc(addr)}\\] exiting ioloop$`), "exiting ioloop");
});

test("--log-level=debug adds each command and the decoded IDENTIFY; info does not", async () => {
  const lines: string[] = [];
  const logger = createLogger("[nsqd] ", "debug", (l) => void lines.push(l.trimEnd()));
  const dataPath = group.dir("nsq-logs-debug-");
  const broker = new Nsqd({ tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", httpsAddress: "", nodeId: 1, dataPath }, logger);
  await broker.start();
  try {
    const c = await RawClient.connect(broker.tcpPort);
    const addr = `127.0.0.1:${c.socket.localPort}`;
    c.identify({ client_id: "dbg" });
    expect(await c.readResponse()).toBe("OK");
    c.pub("dbg_topic", "x");
    expect(await c.readResponse()).toBe("OK");
    expect(lines.some((l) => l.endsWith(` DEBUG: PROTOCOL(V2): [${addr}] [IDENTIFY]`))).toBe(true);
    expect(lines.some((l) => l.endsWith(` DEBUG: PROTOCOL(V2): [${addr}] [PUB dbg_topic]`))).toBe(true);
    expect(lines.some((l) => l.includes(` DEBUG: PROTOCOL(V2): [${addr}] {ClientID:dbg Hostname: `))).toBe(true);

    // a transport upgrade is announced at INFO before it happens
    const z = await RawClient.connect(broker.tcpPort);
    const zAddr = `127.0.0.1:${z.socket.localPort}`;
    z.identify({ feature_negotiation: true, snappy: true });
    expect(JSON.parse(await z.readResponse()).snappy).toBe(true);
    expect(lines.some((l) => l.endsWith(` INFO: PROTOCOL(V2): [${zAddr}] upgrading connection to snappy`))).toBe(true);
    z.close();

    // REQ beyond --max-req-timeout is clamped and logged; RDY after CLS is ignored and logged
    const sub = await RawClient.connect(broker.tcpPort);
    const subAddr = `127.0.0.1:${sub.socket.localPort}`;
    sub.write("SUB dbg_topic ch\n");
    expect(await sub.readResponse()).toBe("OK");
    sub.write("RDY 1\n");
    const msg = await sub.readMessage();
    sub.write(`REQ ${msg.id} 7200000\n`);
    sub.write("CLS\n");
    expect(await sub.readResponse()).toBe("CLOSE_WAIT");
    sub.write("RDY 5\n");
    sub.write("NOP\n");
    const reqLine = ` INFO: PROTOCOL(V2): [${subAddr}] REQ timeout 7200000000000 out of range 0-3600000000000. Setting to 3600000000000`;
    const rdyLine = ` INFO: PROTOCOL(V2): [${subAddr}] ignoring RDY after CLS in state ClientStateV2Closing`;
    for (let i = 0; i < 100 && !lines.some((l) => l.endsWith(rdyLine)); i++) await Bun.sleep(10);
    expect(lines.some((l) => l.endsWith(reqLine))).toBe(true);
    expect(lines.some((l) => l.endsWith(rdyLine))).toBe(true);
    sub.close();

    logger.level = "info";
    const before = lines.length;
    c.pub("dbg_topic", "y");
    expect(await c.readResponse()).toBe("OK");
    expect(lines.slice(before).filter((l) => l.includes("DEBUG"))).toEqual([]);
    c.close();
  } finally {
    await broker.close();
  }
});

test("nsqd's start-up lines come in nsqd's order: version, ID, metadata, listeners, lookupd", async () => {
  const lookupAddr = esc(`127.0.0.1:${lookupd.tcp}`);
  await inOrder(
    nsqd,
    [
      new RegExp(`${NSQD_INFO}nsqd ${VERSION}$`),
      new RegExp(`${NSQD_INFO}ID: \\d+$`),
      new RegExp(`${NSQD_INFO}NSQ: persisting topic/channel metadata to .*nsqd\\.dat$`),
      new RegExp(`${NSQD_INFO}TCP: listening on 127\\.0\\.0\\.1:${nsqd.tcp}$`),
      new RegExp(`${NSQD_INFO}HTTP: listening on 127\\.0\\.0\\.1:${nsqd.http}$`),
      new RegExp(`${NSQD_INFO}LOOKUP\\(${lookupAddr}\\): adding peer$`),
      new RegExp(`${NSQD_INFO}LOOKUP connecting to ${lookupAddr}$`),
      new RegExp(`${NSQD_INFO}LOOKUPD\\(${lookupAddr}\\): peer info \\{`),
    ],
    "nsqd start-up",
  );
  expect(nsqd.log().split("\n")[0]).toMatch(new RegExp(`${NSQD_INFO}nsqd ${VERSION}$`));
});

test("SIGTERM: nsqd's shutdown lines in order; a restart loads the metadata with nsqd's lines, a failed lookupd dial and a second instance's lock error read as nsqd's", async () => {
  const dataPath = group.dir("nsq-logs-life-");
  const args = ["serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${dataPath}`];
  const first = await startProcess(args);
  const http = `http://127.0.0.1:${first.http}`;
  expect((await fetch(`${http}/topic/create?topic=life`, { method: "POST" })).status).toBe(200);
  expect((await fetch(`${http}/channel/create?topic=life&channel=keep`, { method: "POST" })).status).toBe(200);
  expect((await fetch(`${http}/channel/create?topic=life&channel=tmp#ephemeral`.replace("#", "%23"), { method: "POST" })).status).toBe(200);
  expect((await fetch(`${http}/pub?topic=life`, { method: "POST", body: "m1" })).status).toBe(200);
  expect(await stop(first)).toBe(0);
  await inOrder(
    first,
    [
      new RegExp(`${NSQD_INFO}TCP: closing 127\\.0\\.0\\.1:${first.tcp}$`),
      new RegExp(`${NSQD_INFO}HTTP: closing 127\\.0\\.0\\.1:${first.http}$`),
      new RegExp(`${NSQD_INFO}NSQ: persisting topic/channel metadata to ${esc(join(dataPath, "nsqd.dat"))}$`),
      new RegExp(`${NSQD_INFO}NSQ: closing topics$`),
      new RegExp(`${NSQD_INFO}TOPIC\\(life\\): closing$`),
      new RegExp(`${NSQD_INFO}TOPIC\\(life\\): closing \\.\\.\\. messagePump$`),
      new RegExp(`${NSQD_INFO}CHANNEL\\(keep\\): closing$`),
      new RegExp(`${NSQD_INFO}CHANNEL\\(keep\\): flushing 1 memory 0 in-flight 0 deferred messages to backend$`),
      new RegExp(`${NSQD_INFO}DISKQUEUE\\(life:keep\\): closing$`),
      new RegExp(`${NSQD_INFO}DISKQUEUE\\(life:keep\\): closing \\.\\.\\. ioLoop$`),
      new RegExp(`${NSQD_INFO}DISKQUEUE\\(life\\): closing$`),
      new RegExp(`${NSQD_INFO}DISKQUEUE\\(life\\): closing \\.\\.\\. ioLoop$`),
      new RegExp(`${NSQD_INFO}NSQ: stopping subsystems$`),
      new RegExp(`${NSQD_INFO}QUEUESCAN: closing$`),
      new RegExp(`${NSQD_INFO}LOOKUP: closing$`),
      new RegExp(`${NSQD_INFO}NSQ: bye$`),
    ],
    "nsqd shutdown",
  );
  // the ephemeral channel closes too, but has no disk queue (as nsqd's dummy backend)
  expect(first.log()).toMatch(new RegExp(`${NSQD_INFO}CHANNEL\\(tmp#ephemeral\\): flushing 1 memory 0 in-flight 0 deferred`, "m"));
  expect(first.log()).not.toContain("DISKQUEUE(life:tmp#ephemeral)");
  expect(first.log().trimEnd().split("\n").at(-1)).toMatch(new RegExp(`${NSQD_INFO}NSQ: bye$`));

  const deadPort = await closedPort();
  const dead = esc(`127.0.0.1:${deadPort}`);
  const second = await startProcess([...args, `--lookupd-tcp-address=127.0.0.1:${deadPort}`]);
  await inOrder(
    second,
    [
      new RegExp(`${NSQD_INFO}nsqd ${VERSION}$`),
      new RegExp(`${NSQD_INFO}ID: \\d+$`),
      new RegExp(`${NSQD_INFO}TOPIC\\(life\\): created$`),
      new RegExp(`${NSQD_INFO}TOPIC\\(life\\): new channel\\(keep\\)$`),
      new RegExp(`${NSQD_INFO}NSQ: persisting topic/channel metadata to ${esc(join(dataPath, "nsqd.dat"))}$`),
      new RegExp(`${NSQD_INFO}TCP: listening on 127\\.0\\.0\\.1:${second.tcp}$`),
      new RegExp(`${NSQD_INFO}HTTP: listening on 127\\.0\\.0\\.1:${second.http}$`),
      new RegExp(`${NSQD_INFO}LOOKUP\\(${dead}\\): adding peer$`),
      new RegExp(`${NSQD_INFO}LOOKUP connecting to ${dead}$`),
      new RegExp(`${NSQD_ERROR}LOOKUPD\\(${dead}\\): PING - dial tcp ${dead}: connect: connection refused$`),
      // and it keeps trying, each attempt logged the same way
      new RegExp(`${NSQD_INFO}LOOKUP connecting to ${dead}$`),
      new RegExp(`${NSQD_ERROR}LOOKUPD\\(${dead}\\): PING - dial tcp ${dead}: connect: connection refused$`),
    ],
    "nsqd restart",
  );

  // a second instance on the same data path: nsqd's one FATAL line, nothing before it
  const third = await runNsq(args, { timeoutMs: 20_000 });
  expect(third.code).toBe(1);
  expect(third.stderr.trimEnd().split("\n")).toEqual([
    expect.stringMatching(
      new RegExp(
        `${head("[nsqd] ", "FATAL")}${esc(
          `failed to instantiate nsqd - failed to lock data-path: cannot flock directory ${dataPath} - ` +
            "resource temporarily unavailable (possibly in use by another instance of nsqd)",
        )}$`,
      ),
    ),
  ]);
  expect(await stop(second)).toBe(0);
});

test("a lookupd that fails IDENTIFY is logged as nsqd's connect callback does", async () => {
  // accepts, reads the magic and the IDENTIFY, then hangs up cleanly (FIN: nsqd reads EOF)
  const fake = createServer((socket) => {
    let ending = false;
    socket.on("data", () => {
      if (!ending) setTimeout(() => socket.end(), 20);
      ending = true;
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
  const port = (fake.address() as { port: number }).port;
  const lines: string[] = [];
  const logger = createLogger("[nsqd] ", "info", (l) => void lines.push(l.trimEnd()));
  const dataPath = group.dir("nsq-logs-ident-");
  const broker = new Nsqd(
    { tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", httpsAddress: "", nodeId: 1, dataPath, lookupdTcpAddresses: [`127.0.0.1:${port}`] },
    logger,
  );
  await broker.start();
  try {
    const addr = `127.0.0.1:${port}`;
    const want = [` ERROR: LOOKUPD(${addr}): IDENTIFY - EOF`, ` ERROR: LOOKUPD(${addr}): PING - lookupPeer connectCallback() failed`];
    for (let i = 0; i < 250 && !want.every((w) => lines.some((l) => l.endsWith(w))); i++) await Bun.sleep(20);
    const at = want.map((w) => lines.findIndex((l) => l.endsWith(w)));
    expect(at[0]).toBeGreaterThan(lines.findIndex((l) => l.endsWith(` INFO: LOOKUP connecting to ${addr}`)));
    expect(at[1]).toBeGreaterThan(at[0]!);
  } finally {
    await broker.close();
    fake.close();
  }
  expect(lines.at(-1)).toEndWith(" INFO: NSQ: bye");
});

test("nsqlookupd's start-up and SIGTERM lines; nsqd logs the lost lookupd as a failed PING and redials", async () => {
  await inOrder(
    lookupd,
    [
      new RegExp(`${LOOKUPD_INFO}nsqlookupd ${VERSION}$`),
      new RegExp(`${LOOKUPD_INFO}TCP: listening on 127\\.0\\.0\\.1:${lookupd.tcp}$`),
      new RegExp(`${LOOKUPD_INFO}HTTP: listening on 127\\.0\\.0\\.1:${lookupd.http}$`),
    ],
    "nsqlookupd start-up",
  );
  const before = nsqd.log().length;
  expect(await stop(lookupd)).toBe(0);
  await inOrder(
    lookupd,
    [
      new RegExp(`${LOOKUPD_INFO}TCP: closing 127\\.0\\.0\\.1:${lookupd.tcp}$`),
      new RegExp(`${LOOKUPD_INFO}HTTP: closing 127\\.0\\.0\\.1:${lookupd.http}$`),
    ],
    "nsqlookupd shutdown",
  );
  const addr = esc(`127.0.0.1:${lookupd.tcp}`);
  const after: Proc = { ...nsqd, log: () => nsqd.log().slice(before) };
  await inOrder(
    after,
    [
      new RegExp(`${NSQD_ERROR}LOOKUPD\\(${addr}\\): PING - EOF$`),
      new RegExp(`${NSQD_INFO}LOOKUP connecting to ${addr}$`),
      new RegExp(`${NSQD_ERROR}LOOKUPD\\(${addr}\\): PING - dial tcp ${addr}: connect: connection refused$`),
    ],
    "nsqd after lookupd left",
  );
});
