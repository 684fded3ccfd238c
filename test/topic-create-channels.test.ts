/**
 * Issue 14 item 4, with real processes: a topic created at runtime on a broker that has lookupds
 * answers the publish that created it only once the channels lookupd knows for it exist there
 * (nsqd's GetTopic queries lookupd synchronously), so `/stats` read right after shows them.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, createServer, type Server, type Socket } from "node:net";
import { rmSync } from "node:fs";
import { NsqProcess, tempDir } from "./helpers/nsq-process.ts";
import { until } from "./helpers/until.ts";

const procs: NsqProcess[] = [];
const dirs: string[] = [];
let lookupd: { tcp: number; http: number };

function startNode(lookupdTcp: number[], extra: string[] = []): NsqProcess {
  const dir = tempDir("nsq-topic-create-");
  dirs.push(dir);
  const p = new NsqProcess([
    "serve",
    "--tcp-address=127.0.0.1:0",
    "--http-address=127.0.0.1:0",
    "--broadcast-address=127.0.0.1",
    `--data-path=${dir}`,
    ...lookupdTcp.map((port) => `--lookupd-tcp-address=127.0.0.1:${port}`),
    ...extra,
  ]);
  procs.push(p);
  return p;
}

interface Stats {
  topics: Array<{ topic_name: string; depth: number; channels: Array<{ channel_name: string; depth: number }> }>;
}

beforeAll(async () => {
  const l = new NsqProcess(["lookupd", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--broadcast-address=127.0.0.1"]);
  procs.push(l);
  lookupd = await l.ports();
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop("SIGKILL")));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("the first HTTP /pub of a topic lookupd knows returns after its channels exist: /stats at once shows them with the message", async () => {
  const a = startNode([lookupd.tcp]);
  const aPorts = await a.ports();
  expect((await fetch(`http://127.0.0.1:${aPorts.http}/topic/create?topic=orders`, { method: "POST" })).status).toBe(200);
  for (const ch of ["archive", "audit"]) {
    expect((await fetch(`http://127.0.0.1:${aPorts.http}/channel/create?topic=orders&channel=${ch}`, { method: "POST" })).status).toBe(200);
  }
  await until("lookupd knows orders/archive and orders/audit", async () => {
    const r = (await (await fetch(`http://127.0.0.1:${lookupd.http}/channels?topic=orders`)).json()) as { channels: string[] };
    return r.channels.length === 2;
  });

  // a second broker joins; it has told lookupd who it is once its peer info is logged
  const b = startNode([lookupd.tcp]);
  const bPorts = await b.ports();
  await b.waitFor(/peer info/);

  const pub = await fetch(`http://127.0.0.1:${bPorts.http}/pub?topic=orders`, { method: "POST", body: "first" });
  expect(pub.status).toBe(200);
  const stats = (await (await fetch(`http://127.0.0.1:${bPorts.http}/stats?format=json&topic=orders`)).json()) as Stats;
  const topic = stats.topics.find((t) => t.topic_name === "orders");
  expect(topic?.channels.map((c) => [c.channel_name, c.depth]).sort()).toEqual([
    ["archive", 1],
    ["audit", 1],
  ]);

  // TCP MPUB on a third broker: same rule
  const c = startNode([lookupd.tcp]);
  const cPorts = await c.ports();
  await c.waitFor(/peer info/);
  const replies: Buffer[] = [];
  let gotReply!: () => void;
  const replied = new Promise<void>((r) => (gotReply = r));
  // a raw client keeps this test free of the client library
  const conn = await new Promise<Socket>((resolve, reject) => {
    const s = connect(cPorts.tcp, "127.0.0.1", () => resolve(s));
    s.on("error", reject);
  });
  conn.on("data", (d: Buffer) => {
    replies.push(d);
    gotReply();
  });
  const bodies = [Buffer.from("m1"), Buffer.from("m2")];
  const body = Buffer.concat([u32(bodies.length), ...bodies.flatMap((m) => [u32(m.length), m])]);
  conn.write(Buffer.concat([Buffer.from("  V2MPUB orders\n"), u32(body.length), body]));
  await replied;
  expect(Buffer.concat(replies).subarray(8).toString()).toBe("OK");
  const cStats = (await (await fetch(`http://127.0.0.1:${cPorts.http}/stats?format=json&topic=orders`)).json()) as Stats;
  expect(cStats.topics[0]?.channels.map((ch) => [ch.channel_name, ch.depth]).sort()).toEqual([
    ["archive", 2],
    ["audit", 2],
  ]);
  conn.destroy();

  // POST /topic/create on a fourth broker: the channels exist when it answers
  const d = startNode([lookupd.tcp]);
  const dPorts = await d.ports();
  await d.waitFor(/peer info/);
  expect((await fetch(`http://127.0.0.1:${dPorts.http}/topic/create?topic=orders`, { method: "POST" })).status).toBe(200);
  const dStats = (await (await fetch(`http://127.0.0.1:${dPorts.http}/stats?format=json&topic=orders`)).json()) as Stats;
  expect(dStats.topics[0]?.channels.map((ch) => ch.channel_name).sort()).toEqual(["archive", "audit"]);
}, 30_000);

test("a lookupd that accepts but never answers /channels delays the creating publish no longer than the HTTP client timeout", async () => {
  // a fake lookupd: TCP protocol answered just enough (IDENTIFY reply naming a silent HTTP port)
  const silentHttp: Server = createServer(() => {}); // accepts, never answers
  await new Promise<void>((r) => silentHttp.listen(0, "127.0.0.1", r));
  const httpPort = (silentHttp.address() as { port: number }).port;
  const fake: Server = createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (buf.subarray(0, 4).toString() === "  V1") buf = buf.subarray(4);
        const nl = buf.indexOf(10);
        if (nl < 0) return;
        const line = buf.subarray(0, nl).toString();
        if (line.startsWith("IDENTIFY")) {
          if (buf.length < nl + 5) return;
          const size = buf.readUInt32BE(nl + 1);
          if (buf.length < nl + 5 + size) return;
          buf = buf.subarray(nl + 5 + size);
          const info = JSON.stringify({ tcp_port: 1, http_port: httpPort, version: "1.3.0", broadcast_address: "127.0.0.1", hostname: "fake" });
          s.write(Buffer.concat([u32(info.length), Buffer.from(info)]));
        } else {
          buf = buf.subarray(nl + 1);
          s.write(Buffer.concat([u32(2), Buffer.from("OK")]));
        }
      }
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
  const fakePort = (fake.address() as { port: number }).port;
  try {
    const n = startNode([fakePort], ["--http-client-connect-timeout=300ms", "--http-client-request-timeout=600ms"]);
    const ports = await n.ports();
    await n.waitFor(/peer info/);
    const res = await fetch(`http://127.0.0.1:${ports.http}/pub?topic=slow`, { method: "POST", body: "x", signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
    const stats = (await (await fetch(`http://127.0.0.1:${ports.http}/stats?format=json&topic=slow`)).json()) as Stats;
    expect(stats.topics[0]?.topic_name).toBe("slow");
  } finally {
    silentHttp.close();
    fake.close();
  }
}, 20_000);

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
