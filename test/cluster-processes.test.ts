/**
 * The cluster of issue 4 with real processes: `nsq serve` and `nsq lookupd` started as children
 * (`bun src/cli.ts ...`, port 0, ports read from their "listening on" log lines).
 *
 * - lookupds A and B (inactive timeout 60 s, above nsqd's fixed 15 s PING interval) with nodes
 *   N0..N2: discovery by nsqjs, late topics, tombstones, lookupd restart, SIGKILLed node;
 * - lookupd C (inactive timeout 2 s) with nodes S (SIGSTOPped: connection open, no PINGs) and R
 *   (control, keeps PINGing);
 * - a raw fake lookupd (node:net, in this file) in front of node F: every frame byte-checked.
 *
 * nsqd has no flag for its PING interval (15 s), so the slow parts (R's first PING, F's first
 * PING) start their clocks in beforeAll and are asserted by the last tests: the file's wall time
 * is about max(15 s, the other tests) rather than their sum.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { hostname } from "node:os";
import nsq, { type Message, type Reader } from "nsqjs";
import type { LookupdProducer } from "../src/protocol/lookupd-types.ts";
import { ProcessGroup, type Daemon } from "./helpers/nsq-process.ts";
import { until } from "./helpers/until.ts";

type Proc = Daemon;

const group = new ProcessGroup();
const readers: Reader[] = [];

function startLookupd(inactiveTimeout: string, ports = { tcp: 0, http: 0 }): Promise<Proc> {
  return group.start([
    "lookupd",
    `--tcp-address=127.0.0.1:${ports.tcp}`,
    `--http-address=127.0.0.1:${ports.http}`,
    "--broadcast-address=127.0.0.1",
    `--inactive-producer-timeout=${inactiveTimeout}`,
  ]);
}

function startNode(lookupdTcpPorts: number[]): Promise<Proc> {
  return group.nsqd(lookupdTcpPorts);
}

// ---- lookupd / nsqd HTTP shapes used here ----

type Peer = LookupdProducer;
interface Node extends Peer {
  tombstones: boolean[];
  topics: string[];
}
interface LookupReply {
  channels: string[];
  producers: Peer[];
}
interface DebugEntry {
  id: string;
  tcp_port: number;
  last_update: number;
  tombstoned: boolean;
}
interface ChannelStats {
  channel_name: string;
  depth: number;
  in_flight_count: number;
  message_count: number;
  requeue_count: number;
  timeout_count: number;
  clients: { finish_count: number }[];
}
interface TopicStats {
  topic_name: string;
  channels: ChannelStats[];
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url} -> ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function post(url: string): Promise<void> {
  const res = await fetch(url, { method: "POST" });
  if (res.status !== 200) throw new Error(`POST ${url} -> ${res.status} ${await res.text()}`);
}

/** /lookup producers' tcp ports (sorted), or null for 404 TOPIC_NOT_FOUND. */
async function lookupPorts(l: Proc, topic: string): Promise<number[] | null> {
  const res = await fetch(`http://127.0.0.1:${l.http}/lookup?topic=${topic}`);
  if (res.status === 404) return null;
  const body = (await res.json()) as LookupReply;
  return body.producers.map((p) => p.tcp_port).sort((a, b) => a - b);
}

async function nodes(l: Proc): Promise<Node[]> {
  return (await getJson<{ producers: Node[] }>(`http://127.0.0.1:${l.http}/nodes`)).producers;
}

async function debug(l: Proc): Promise<Record<string, DebugEntry[]>> {
  return getJson<Record<string, DebugEntry[]>>(`http://127.0.0.1:${l.http}/debug`);
}

async function topicStats(n: Proc, topic: string): Promise<TopicStats | undefined> {
  const stats = await getJson<{ topics: TopicStats[] | null }>(`http://127.0.0.1:${n.http}/stats?format=json&topic=${topic}`);
  return stats.topics?.find((t) => t.topic_name === topic);
}

async function publish(n: Proc, topic: string, bodies: string[]): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${n.http}/mpub?topic=${topic}`, { method: "POST", body: bodies.join("\n") });
  if (res.status !== 200) throw new Error(`mpub on ${n.http}: ${res.status} ${await res.text()}`);
}

const sortedPorts = (ps: Proc[]): number[] => ps.map((p) => p.tcp).sort((a, b) => a - b);

// ---- the raw fake lookupd in front of node F ----

/** One frame as nsqd wrote it (exact bytes) and the command line it starts with. */
interface Frame {
  line: string;
  raw: Buffer;
}

class FakeLookupd {
  readonly frames: Frame[] = [];
  magic: Buffer | null = null;
  connections = 0;
  readonly channelQueries: string[] = [];
  private tcpServer: Server | null = null;
  private httpServer: HttpServer | null = null;
  tcpPort = 0;
  httpPort = 0;

  async start(): Promise<void> {
    // what nsqd calls on runtime topic creation: GET <broadcast_address>:<http_port>/channels?topic=
    this.httpServer = createHttpServer((req, res) => {
      this.channelQueries.push(req.url ?? "");
      res.setHeader("X-NSQ-Content-Type", "nsq; version=1.0");
      res.setHeader("Content-Type", "application/json; charset=utf-8");
      res.end(JSON.stringify({ channels: [] }));
    });
    await new Promise<void>((resolve) => this.httpServer!.listen(0, "127.0.0.1", resolve));
    this.httpPort = (this.httpServer.address() as { port: number }).port;

    this.tcpServer = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve) => this.tcpServer!.listen(0, "127.0.0.1", resolve));
    this.tcpPort = (this.tcpServer.address() as { port: number }).port;
  }

  close(): void {
    this.tcpServer?.close();
    this.httpServer?.close();
    this.httpServer?.closeAllConnections();
  }

  lines(): string[] {
    return this.frames.map((f) => f.line);
  }

  private serve(socket: Socket): void {
    this.connections++;
    let buf = Buffer.alloc(0);
    let sawMagic = false;
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!sawMagic) {
          if (buf.length < 4) return;
          this.magic = Buffer.from(buf.subarray(0, 4));
          buf = buf.subarray(4);
          sawMagic = true;
          continue;
        }
        const nl = buf.indexOf(0x0a);
        if (nl < 0) return;
        const line = buf.subarray(0, nl).toString("utf8");
        let end = nl + 1;
        if (line === "IDENTIFY") {
          if (buf.length < end + 4) return;
          const size = buf.readInt32BE(end);
          if (buf.length < end + 4 + size) return;
          end += 4 + size;
        }
        this.frames.push({ line, raw: Buffer.from(buf.subarray(0, end)) });
        buf = buf.subarray(end);
        socket.write(reply(line === "IDENTIFY" ? this.identifyReply() : "OK"));
      }
    });
  }

  private identifyReply(): string {
    return JSON.stringify({
      broadcast_address: "127.0.0.1",
      hostname: "fake-lookupd",
      http_port: this.httpPort,
      tcp_port: this.tcpPort,
      version: "1.3.0",
    });
  }
}

/** lookupd's reply framing: [int32 size][data], no frame type. */
function reply(data: string): Buffer {
  const body = Buffer.from(data, "utf8");
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

// ---- the cluster ----

let lookupdA: Proc;
let lookupdB: Proc;
let lookupdC: Proc;
let cluster: Proc[] = [];
let stoppedNode: Proc; // S: SIGSTOPped right after registering with C
let controlNode: Proc; // R: keeps PINGing C
let wireNode: Proc; // F: registered with the fake lookupd only
let wireNodeStartedAt = 0;
const fake = new FakeLookupd();

beforeAll(async () => {
  await fake.start();
  wireNodeStartedAt = Date.now();
  [lookupdA, lookupdB, lookupdC, wireNode] = await Promise.all([
    startLookupd("60s"),
    startLookupd("60s"),
    startLookupd("2s"),
    startNode([fake.tcpPort]),
  ]);
  [cluster, stoppedNode, controlNode] = await Promise.all([
    Promise.all([0, 1, 2].map(() => startNode([lookupdA.tcp, lookupdB.tcp]))),
    startNode([lookupdC.tcp]),
    startNode([lookupdC.tcp]),
  ]);
  // S and R register topic "liveness" with C; S is then frozen with its connection open
  await Promise.all([stoppedNode, controlNode].map((n) => post(`http://127.0.0.1:${n.http}/topic/create?topic=liveness`)));
  await until("S and R registered with C", async () => ((await debug(lookupdC))["topic:liveness:"] ?? []).length === 2);
  stoppedNode.proc.signal("SIGSTOP");
  for (const l of [lookupdA, lookupdB]) {
    await until(`3 nodes identified with lookupd :${l.http}`, async () => (await nodes(l)).length === 3);
  }
}, 30_000);

afterAll(async () => {
  for (const r of readers) r.close();
  group.stopAll();
  fake.close();
});

/** An nsqjs Reader that knows only lookupds A and B, polling every second. */
function reader(topic: string, channel: string, onBody: (body: string) => void): Reader {
  const r = new nsq.Reader(topic, channel, {
    lookupdHTTPAddresses: [lookupdA, lookupdB].map((l) => `127.0.0.1:${l.http}`),
    lookupdPollInterval: 1,
    maxInFlight: 500,
  });
  readers.push(r);
  r.on("error", () => {});
  r.on("message", (m: Message) => {
    onBody(m.body.toString());
    m.finish();
  });
  r.connect();
  return r;
}

test("an nsqjs Reader given only lookupd addresses consumes a topic published on all three nodes, every message exactly once", async () => {
  const perNode = 200;
  await Promise.all(cluster.map((n, i) => publish(n, "everywhere", Array.from({ length: perNode }, (_, k) => `n${i}-${k}`))));
  for (const l of [lookupdA, lookupdB]) {
    await until("3 producers of 'everywhere'", async () => JSON.stringify(await lookupPorts(l, "everywhere")) === JSON.stringify(sortedPorts(cluster)));
  }

  const counts = new Map<string, number>();
  let total = 0;
  reader("everywhere", "once", (body) => {
    counts.set(body, (counts.get(body) ?? 0) + 1);
    total++;
  });
  await until("all messages", () => counts.size === 3 * perNode, 10_000);
  // every node saw each message finished once: nothing in flight, requeued or timed out
  for (const n of cluster) {
    await until("FIN of every message", async () => (await topicStats(n, "everywhere"))?.channels[0]?.clients[0]?.finish_count === perNode);
    const ch = (await topicStats(n, "everywhere"))!.channels.find((c) => c.channel_name === "once")!;
    expect(ch).toMatchObject({ depth: 0, in_flight_count: 0, message_count: perNode, requeue_count: 0, timeout_count: 0 });
    expect(ch.clients.length).toBe(1);
  }
  expect(total).toBe(3 * perNode);
  for (let i = 0; i < 3; i++) expect([...counts.keys()].filter((b) => b.startsWith(`n${i}-`)).length).toBe(perNode);
  expect([...counts.values()].every((c) => c === 1)).toBe(true);
});

test("a topic created on a node after the Reader started is found within the poll interval", async () => {
  const received: string[] = [];
  reader("late_topic", "c", (body) => received.push(body));
  // the reader's first poll finds nothing (404 TOPIC_NOT_FOUND)
  for (const l of [lookupdA, lookupdB]) expect(await lookupPorts(l, "late_topic")).toBeNull();

  const publishedAt = Date.now();
  await publish(cluster[1]!, "late_topic", ["late-1", "late-2"]);
  await until("messages of the late topic", () => received.length === 2, 5000);
  const elapsed = Date.now() - publishedAt;
  // registration is immediate, so one poll interval (1 s) plus connect time suffices
  expect(elapsed).toBeLessThan(2500);
  expect(received.sort()).toEqual(["late-1", "late-2"]);
  for (const l of [lookupdA, lookupdB]) expect(await lookupPorts(l, "late_topic")).toEqual([cluster[1]!.tcp]);
});

test("a tombstoned node is excluded from /lookup and a Reader started afterwards never connects to it", async () => {
  const [n0, n1, n2] = cluster as [Proc, Proc, Proc];
  for (const [i, n] of cluster.entries()) {
    await post(`http://127.0.0.1:${n.http}/topic/create?topic=tombstoned`);
    await post(`http://127.0.0.1:${n.http}/channel/create?topic=tombstoned&channel=c`);
    await publish(n, "tombstoned", [`t${i}`]);
  }
  for (const l of [lookupdA, lookupdB]) {
    await until("3 producers of 'tombstoned'", async () => (await lookupPorts(l, "tombstoned"))?.length === 3);
    await post(`http://127.0.0.1:${l.http}/topic/tombstone?topic=tombstoned&node=127.0.0.1:${n0.http}`);
  }
  for (const l of [lookupdA, lookupdB]) {
    expect(await lookupPorts(l, "tombstoned")).toEqual(sortedPorts([n1, n2]));
    // /nodes still lists the node, flagged for that topic only
    const node = (await nodes(l)).find((p) => p.tcp_port === n0.tcp)!;
    expect(node.tombstones[node.topics.indexOf("tombstoned")]).toBe(true);
    expect(node.tombstones[node.topics.indexOf("everywhere")]).toBe(false);
  }

  const received: string[] = [];
  reader("tombstoned", "c", (body) => received.push(body));
  await until("messages from the two live nodes", () => received.length === 2);
  // Proving a negative needs time: let the reader poll twice more (once per lookupd, 1 s apart).
  await Bun.sleep(2200);
  expect(received.sort()).toEqual(["t1", "t2"]);
  const ch = (await topicStats(n0, "tombstoned"))!.channels.find((c) => c.channel_name === "c")!;
  expect(ch.clients).toEqual([]);
  expect(ch.depth).toBe(1);
});

test("a restarted lookupd (same ports) lists every producer and channel again once nodes re-register", async () => {
  // ground truth from the nodes themselves: topic -> (node tcp ports, channel names)
  const expected = new Map<string, { ports: number[]; channels: string[] }>();
  for (const n of cluster) {
    const stats = await getJson<{ topics: TopicStats[] }>(`http://127.0.0.1:${n.http}/stats?format=json`);
    for (const t of stats.topics) {
      const e = expected.get(t.topic_name) ?? { ports: [], channels: [] };
      e.ports.push(n.tcp);
      for (const c of t.channels) if (!e.channels.includes(c.channel_name)) e.channels.push(c.channel_name);
      expected.set(t.topic_name, e);
    }
  }
  expect([...expected.keys()].sort()).toEqual(["everywhere", "late_topic", "tombstoned"]);

  const ports = { tcp: lookupdA.tcp, http: lookupdA.http };
  await lookupdA.kill();
  lookupdA = await startLookupd("60s", ports);
  expect([lookupdA.tcp, lookupdA.http]).toEqual([ports.tcp, ports.http]);

  const matches = async (): Promise<boolean> => {
    for (const [topic, e] of expected) {
      const res = await fetch(`http://127.0.0.1:${lookupdA.http}/lookup?topic=${topic}`);
      if (res.status !== 200) return false;
      const body = (await res.json()) as LookupReply;
      const got = body.producers.map((p) => p.tcp_port).sort((a, b) => a - b);
      if (JSON.stringify(got) !== JSON.stringify(e.ports.sort((a, b) => a - b))) return false;
      if (JSON.stringify(body.channels.sort()) !== JSON.stringify(e.channels.sort())) return false;
    }
    return true;
  };
  await until("every registration back on the restarted lookupd", matches, 8000);
  // nothing is persisted: the tombstone of N0 is gone on the restarted lookupd only
  expect(await lookupPorts(lookupdA, "tombstoned")).toEqual(sortedPorts(cluster));
  expect(await lookupPorts(lookupdB, "tombstoned")).toEqual(sortedPorts(cluster.slice(1)));
  expect((await nodes(lookupdA)).map((n) => n.tcp_port).sort((a, b) => a - b)).toEqual(sortedPorts(cluster));
});

test("an ephemeral channel is registered while a Reader uses it and its registration is removed when the last client leaves", async () => {
  const channelsOf = async (l: Proc): Promise<string[]> =>
    (await getJson<{ channels: string[] }>(`http://127.0.0.1:${l.http}/channels?topic=everywhere`)).channels.sort();
  const r = reader("everywhere", "tmp#ephemeral", () => {});
  for (const l of [lookupdA, lookupdB]) {
    await until("ephemeral channel registered", async () => (await channelsOf(l)).includes("tmp#ephemeral"));
  }
  r.close();
  // each node deletes the channel when its last client goes and UNREGISTERs it; an empty
  // #ephemeral registration is deleted by lookupd, while "once" (non-ephemeral) stays
  for (const l of [lookupdA, lookupdB]) {
    await until("ephemeral channel registration removed", async () => !(await channelsOf(l)).includes("tmp#ephemeral"));
    expect(await channelsOf(l)).toEqual(["once"]);
  }
});

// nsqd v1.3.0 deletes a topic's channels as part of the topic deletion and notifies lookupd for
// each (`UNREGISTER t c` after `UNREGISTER t`); lookupd removes an emptied `#ephemeral` channel
// registration only on that channel UNREGISTER.
test("deleting a topic with an ephemeral channel removes that channel's registration from lookupd", async () => {
  const n0 = cluster[0]!;
  const channelsOf = async (l: Proc): Promise<string[]> =>
    (await getJson<{ channels: string[] }>(`http://127.0.0.1:${l.http}/channels?topic=eph_topic`)).channels;
  await post(`http://127.0.0.1:${n0.http}/topic/create?topic=eph_topic`);
  await post(`http://127.0.0.1:${n0.http}/channel/create?topic=eph_topic&channel=${encodeURIComponent("x#ephemeral")}`);
  for (const l of [lookupdA, lookupdB]) await until("ephemeral channel registered", async () => (await channelsOf(l)).includes("x#ephemeral"));
  await post(`http://127.0.0.1:${n0.http}/topic/delete?topic=eph_topic`);
  for (const l of [lookupdA, lookupdB]) {
    await until("topic unregistered", async () => (await lookupPorts(l, "eph_topic"))?.length === 0);
    await until("ephemeral channel registration removed", async () => !(await channelsOf(l)).includes("x#ephemeral"), 2000);
  }
});

test("a SIGKILLed node vanishes from /lookup and /nodes of every lookupd", async () => {
  const victim = cluster[2]!;
  await victim.kill();
  const survivors = cluster.slice(0, 2);
  for (const l of [lookupdA, lookupdB]) {
    // its TCP connection closed, so lookupd drops it at once (well before any inactivity timeout)
    await until("killed node gone from /nodes", async () => !(await nodes(l)).some((n) => n.tcp_port === victim.tcp), 3000);
    expect(await lookupPorts(l, "everywhere")).toEqual(sortedPorts(survivors));
    expect(Object.values(await debug(l)).flat().some((p) => p.tcp_port === victim.tcp)).toBe(false);
  }
});

test("every frame nsq serve sends to a lookupd is byte-exact (magic, IDENTIFY, REGISTER, UNREGISTER)", async () => {
  const expectedIdentify = JSON.stringify({
    broadcast_address: "127.0.0.1",
    hostname: hostname(),
    http_port: wireNode.http,
    tcp_port: wireNode.tcp,
    version: "1.3.0",
  });
  await until("IDENTIFY at the fake lookupd", () => fake.frames.length >= 1);
  expect(fake.magic).toEqual(Buffer.from("  V1"));
  const size = Buffer.alloc(4);
  size.writeInt32BE(Buffer.byteLength(expectedIdentify), 0);
  expect(fake.frames[0]!.raw).toEqual(Buffer.concat([Buffer.from("IDENTIFY\n"), size, Buffer.from(expectedIdentify)]));

  // PINGs may interleave (nsqd's 15 s timer); everything else must come in this order, exactly
  const nonPing = (): Frame[] => fake.frames.slice(1).filter((f) => f.line !== "PING");
  const base = `http://127.0.0.1:${wireNode.http}`;
  const steps: [string, string][] = [
    [`${base}/topic/create?topic=wire_check`, "REGISTER wire_check\n"],
    [`${base}/channel/create?topic=wire_check&channel=c1`, "REGISTER wire_check c1\n"],
    [`${base}/channel/delete?topic=wire_check&channel=c1`, "UNREGISTER wire_check c1\n"],
    [`${base}/topic/delete?topic=wire_check`, "UNREGISTER wire_check\n"],
  ];
  for (const [i, [url, frame]] of steps.entries()) {
    await post(url);
    await until(`frame ${JSON.stringify(frame)}`, () => nonPing().length === i + 1);
    expect(nonPing()[i]!.raw).toEqual(Buffer.from(frame));
  }
  // deleting a topic that still has a channel: UNREGISTER of the topic, then of each channel it
  // deletes along with it (as nsqd v1.3.0 does)
  await post(`${base}/topic/create?topic=wire_two`);
  await post(`${base}/channel/create?topic=wire_two&channel=c2`);
  await until("REGISTERs of wire_two", () => nonPing().length === 6);
  await post(`${base}/topic/delete?topic=wire_two`);
  await until("UNREGISTER wire_two, UNREGISTER wire_two c2", () => nonPing().length === 8);
  expect(nonPing()[6]!.raw).toEqual(Buffer.from("UNREGISTER wire_two\n"));
  expect(nonPing()[7]!.raw).toEqual(Buffer.from("UNREGISTER wire_two c2\n"));
  // the runtime topic creation asked the lookupd (at the address its IDENTIFY reply gave) for channels
  expect(fake.channelQueries).toEqual(["/channels?topic=wire_check", "/channels?topic=wire_two"]);
  expect(fake.connections).toBe(1);
});

test("a node whose connection stays open but stops PINGing (SIGSTOP) disappears after the inactive timeout", async () => {
  const isListed = async (n: Proc): Promise<boolean> => (await nodes(lookupdC)).some((p) => p.tcp_port === n.tcp);
  // nsqd PINGs every 15 s (no flag shortens it) and C's inactive timeout is 2 s: both nodes go
  // inactive 2 s after their IDENTIFY; R comes back with its first PING, S (frozen) does not
  await until("the control node to go inactive before its first PING", async () => !(await isListed(controlNode)), 5000);
  await until("the control node's PING to lookupd C", () => isListed(controlNode), 20_000);
  expect(await isListed(stoppedNode)).toBe(false);
  expect(await lookupPorts(lookupdC, "liveness")).toEqual([controlNode.tcp]);
  // still registered (its TCP connection is open), only hidden for inactivity
  const d = await debug(lookupdC);
  const s = d["client::"]!.find((p) => p.tcp_port === stoppedNode.tcp)!;
  expect(s).toBeDefined();
  expect(d["topic:liveness:"]!.some((p) => p.tcp_port === stoppedNode.tcp)).toBe(true);
  const r = d["client::"]!.find((p) => p.tcp_port === controlNode.tcp)!;
  expect(r.last_update - s.last_update).toBeGreaterThan(2_000 * 1e6);
  expect(Date.now() * 1e6 - s.last_update).toBeGreaterThan(2_000 * 1e6);

  // resumed, its overdue PING timer fires and it is listed again
  stoppedNode.proc.signal("SIGCONT");
  await until("the resumed node's PING", () => isListed(stoppedNode), 5000);
  expect(await lookupPorts(lookupdC, "liveness")).toContain(stoppedNode.tcp);
}, 25_000);

test("nsq serve PINGs its lookupd every 15 s with the exact bytes PING\\n", async () => {
  await until("PING at the fake lookupd", () => fake.lines().includes("PING"), Math.max(1000, wireNodeStartedAt + 17_000 - Date.now()));
  for (const f of fake.frames.filter((f) => f.line === "PING")) expect(f.raw).toEqual(Buffer.from("PING\n"));
  expect(fake.connections).toBe(1);
}, 20_000);
