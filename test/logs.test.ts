/**
 * Connection logs (issue 16, item 4): `nsq serve` and `nsq lookupd` write nsqd v1.3.0's and
 * nsqlookupd v1.3.0's connection lines word for word and at the same levels. Real processes at
 * the default level (INFO) for the lines operators search for; an in-process broker with a
 * capturing logger for the DEBUG-only lines.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RawClient } from "./helpers/raw-client.ts";
import { Nsqd } from "../src/server/nsqd.ts";
import { createLogger } from "../src/util/logger.ts";

const BUN = join(import.meta.dir, "..", "node_modules", ".bin", "bun");
const CLI = join(import.meta.dir, "..", "src", "cli.ts");

interface Proc {
  proc: ChildProcess;
  tcp: number;
  http: number;
  log(): string;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];

function startProcess(args: string[]): Promise<Proc> {
  const proc = spawn(BUN, [CLI, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  children.push(proc);
  let log = "";
  return new Promise((resolve, reject) => {
    proc.stderr!.on("data", (d: Buffer) => {
      if (log.length < 500_000) log += d.toString();
      const tcp = /TCP: listening on [^\n]*:(\d+)/.exec(log);
      const http = /HTTP: listening on [^\n]*:(\d+)/.exec(log);
      if (tcp && http) resolve({ proc, tcp: Number(tcp[1]), http: Number(http[1]), log: () => log });
    });
    proc.on("exit", (code, signal) => reject(new Error(`nsq ${args[0]} exited (${code ?? signal}): ${log}`)));
  });
}

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

let lookupd: Proc;
let nsqd: Proc;

beforeAll(async () => {
  lookupd = await startProcess(["lookupd", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--broadcast-address=127.0.0.1"]);
  const dataPath = mkdtempSync(join(tmpdir(), "nsq-logs-"));
  dirs.push(dataPath);
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
  for (const c of children) c.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
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
  const dataPath = mkdtempSync(join(tmpdir(), "nsq-logs-debug-"));
  dirs.push(dataPath);
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
