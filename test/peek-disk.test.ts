/**
 * Issue 17 item 3 with a backlog on disk: GET /channel/peek shows the channel's next messages in
 * delivery order from its memory queue and its disk queue (read-only: the disk queue's read
 * position, depth and ack window are untouched), and a consumer then receives exactly them.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { subscriber, type RawClient, type WireMessage } from "./helpers/raw-client.ts";
import { until } from "./helpers/until.ts";
import { DiskQueue } from "../src/server/disk-queue.ts";
import { silentLogger } from "../src/util/logger.ts";

interface Peeked {
  id: string;
  timestamp: string;
  attempts: number;
  body?: string;
  body_base64?: string;
}
interface PeekReply {
  depth: number;
  backend_depth: number;
  in_flight_count: number;
  messages: Peeked[];
}

const brokers: TestBroker[] = [];
const clients: RawClient[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const b of brokers.splice(0)) await b.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function broker(opts: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const b = await startBroker(opts);
  brokers.push(b);
  return b;
}

async function peek(b: TestBroker, n: number, topic = "t", channel = "c"): Promise<PeekReply> {
  const res = await b.http(`/channel/peek?topic=${topic}&channel=${channel}&n=${n}`);
  expect(res.status).toBe(200);
  return (await res.json()) as PeekReply;
}

async function setUp(b: TestBroker, bodies: string[]): Promise<void> {
  await b.http("/topic/create?topic=t", { method: "POST" });
  await b.http("/channel/create?topic=t&channel=c", { method: "POST" });
  // one PUB each: every message passes the topic's pump separately, as a publisher's would
  for (const body of bodies) expect((await b.http("/pub?topic=t", { method: "POST", body })).status).toBe(200);
  await until("every message in the channel", async () => (await peek(b, 1)).depth === bodies.length);
}

async function consume(b: TestBroker, count: number): Promise<{ client: RawClient; got: WireMessage[] }> {
  const client = await subscriber(b.tcpPort, "t", "c", count);
  clients.push(client);
  const got: WireMessage[] = [];
  for (let i = 0; i < count; i++) got.push(await client.readMessage());
  return { client, got };
}

function bodies(n: number, size = 0): string[] {
  return Array.from({ length: n }, (_, i) => `m${i}`.padEnd(size, "."));
}

describe("GET /channel/peek reads the disk queue", () => {
  test("--mem-queue-size=0: the next messages in order, twice the same; a consumer then gets exactly them", async () => {
    const b = await broker({ memQueueSize: 0 });
    const sent = bodies(6);
    await setUp(b, sent);

    const first = await peek(b, 4);
    expect(first.backend_depth).toBe(6);
    expect(first.messages.map((m) => m.body)).toEqual(sent.slice(0, 4));
    expect(first.messages.map((m) => m.attempts)).toEqual([0, 0, 0, 0]);
    const all = await peek(b, 100);
    expect(all.messages.map((m) => m.body)).toEqual(sent);
    expect(all.messages.slice(0, 4)).toEqual(first.messages);
    // nothing was read from the queue
    expect(all.depth).toBe(6);
    expect(all.backend_depth).toBe(6);

    const { client, got } = await consume(b, 6);
    expect(got.map((m) => m.id)).toEqual(all.messages.map((m) => m.id));
    expect(got.map((m) => m.body.toString())).toEqual(sent);
    expect(got.map((m) => m.timestampNs.toString())).toEqual(all.messages.map((m) => m.timestamp));
    expect(got.map((m) => m.attempts)).toEqual([1, 1, 1, 1, 1, 1]); // first delivery: peeking was no attempt
    expect((await peek(b, 10)).messages).toEqual([]); // all in flight now

    // a requeued message goes back to disk (no memory queue): peek shows its attempts, delivery counts on from them
    client.write("RDY 0\n"); // else the requeued messages are delivered again at once
    client.write(`REQ ${got[2]!.id} 0\n`);
    client.write(`REQ ${got[4]!.id} 0\n`);
    const again = await until("the requeued messages on disk", async () => {
      const r = await peek(b, 10);
      return r.messages.length === 2 ? r : null;
    });
    expect(again.messages.map((m) => [m.body, m.attempts])).toEqual([
      ["m2", 1],
      ["m4", 1],
    ]);
    client.write("RDY 6\n"); // 4 still in flight + the 2 requeued
    const redelivered = [await client.readMessage(), await client.readMessage()];
    expect(redelivered.map((m) => m.id)).toEqual(again.messages.map((m) => m.id));
    expect(redelivered.map((m) => m.attempts)).toEqual([2, 2]);
  });

  test("across data-file boundaries (small --max-bytes-per-file), from the middle of a file after some were consumed", async () => {
    const b = await broker({ memQueueSize: 0, maxBytesPerFile: 200 });
    const sent = bodies(12, 40); // 70-byte records: two per data file
    await setUp(b, sent);
    const dataFiles = readdirSync(b.dataPath).filter((f) => /^t:c\.diskqueue\.\d+\.dat$/.test(f));
    expect(dataFiles.length).toBeGreaterThanOrEqual(6);

    const all = await peek(b, 12);
    expect(all.messages.map((m) => m.body)).toEqual(sent);

    const { client, got } = await consume(b, 3);
    expect(got.map((m) => m.id)).toEqual(all.messages.slice(0, 3).map((m) => m.id));
    client.write("RDY 0\n");
    for (const m of got) client.write(`FIN ${m.id}\n`);
    await until("3 finished", async () => (await peek(b, 1)).in_flight_count === 0);

    const rest = await peek(b, 100);
    expect(rest.messages.map((m) => m.body)).toEqual(sent.slice(3));
    expect(rest.messages.map((m) => m.id)).toEqual(all.messages.slice(3).map((m) => m.id));
    client.write("RDY 9\n");
    const tail: WireMessage[] = [];
    for (let i = 0; i < 9; i++) tail.push(await client.readMessage());
    expect(tail.map((m) => m.id)).toEqual(rest.messages.map((m) => m.id));
    expect(tail.map((m) => m.attempts)).toEqual(Array(9).fill(1));
  });

  test("memory and disk mixed: peek follows the channel's alternation, and a consumer receives that order", async () => {
    const b = await broker({ memQueueSize: 2 });
    const sent = bodies(7);
    await setUp(b, sent);
    const all = await peek(b, 100);
    expect(all.backend_depth).toBeGreaterThan(0);
    expect(all.messages).toHaveLength(7);
    expect([...all.messages.map((m) => m.body)].sort()).toEqual([...sent].sort());
    const short = await peek(b, 3);
    expect(short.messages).toEqual(all.messages.slice(0, 3));

    const { got } = await consume(b, 7);
    expect(got.map((m) => m.id)).toEqual(all.messages.map((m) => m.id));
    expect(got.map((m) => m.attempts)).toEqual(Array(7).fill(1));
  });

  test("after a restart with messages in flight: peek shows them with their attempts, and leaves the crash-safe state alone", async () => {
    const dataPath = mkdtempSync(join(tmpdir(), "nsq-peek-"));
    dirs.push(dataPath);
    const sent = bodies(5);
    const b1 = await broker({ memQueueSize: 0, dataPath });
    await setUp(b1, sent);
    const { got: first } = await consume(b1, 2); // in flight, never finished
    expect(first.map((m) => m.body.toString())).toEqual(["m0", "m1"]);
    for (const c of clients.splice(0)) c.close();
    await b1.stop();
    brokers.splice(brokers.indexOf(b1), 1);

    const b2 = await broker({ memQueueSize: 0, dataPath });
    await until("the channel after restart", async () => (await b2.http("/channel/peek?topic=t&channel=c&n=1")).status === 200);
    const before = await peek(b2, 100);
    expect([...before.messages.map((m) => m.body)].sort()).toEqual(sent);
    const attemptsByBody = new Map(before.messages.map((m) => [m.body, m.attempts]));
    expect(attemptsByBody.get("m0")).toBe(1);
    expect(attemptsByBody.get("m1")).toBe(1);
    expect(attemptsByBody.get("m4")).toBe(0);
    expect((await peek(b2, 100)).messages).toEqual(before.messages);

    // peeking changed nothing on disk: a second restart shows the same
    await b2.stop();
    brokers.splice(brokers.indexOf(b2), 1);
    const b3 = await broker({ memQueueSize: 0, dataPath });
    await until("the channel after the second restart", async () => (await b3.http("/channel/peek?topic=t&channel=c&n=1")).status === 200);
    const after = await peek(b3, 100);
    expect(after.messages).toEqual(before.messages);

    const { got } = await consume(b3, 5);
    expect(got.map((m) => m.id)).toEqual(after.messages.map((m) => m.id));
    expect(got.map((m) => m.attempts)).toEqual(after.messages.map((m) => m.attempts + 1));
  });
  test("after a restart, deferred messages read back from disk are not shown as next; the rest are, in order", async () => {
    const dataPath = mkdtempSync(join(tmpdir(), "nsq-peek-"));
    dirs.push(dataPath);
    const b1 = await broker({ memQueueSize: 0, dataPath });
    await setUp(b1, ["a"]);
    expect((await b1.http("/pub?topic=t&defer=60000", { method: "POST", body: "later" })).status).toBe(200);
    for (const body of ["b", "c"]) expect((await b1.http("/pub?topic=t", { method: "POST", body })).status).toBe(200);
    await until("all in the channel", async () => (await peek(b1, 1)).depth === 3);
    await b1.stop();
    brokers.splice(brokers.indexOf(b1), 1);

    const b2 = await broker({ memQueueSize: 0, dataPath });
    await until("the channel after restart", async () => (await b2.http("/channel/peek?topic=t&channel=c&n=1")).status === 200);
    const next = await peek(b2, 100);
    expect(next.messages.map((m) => m.body)).toEqual(["a", "b", "c"]);
    const { client, got } = await consume(b2, 3);
    expect(got.map((m) => m.id)).toEqual(next.messages.map((m) => m.id));
    expect(await client.expectNoFrame(100)).toBe(true); // the deferred one stays deferred
  });
});

test("DiskQueue.peekRecords: bounded by records and bytes, read-only (read position and depth unchanged)", () => {
  const dataPath = mkdtempSync(join(tmpdir(), "nsq-peek-"));
  dirs.push(dataPath);
  const q = new DiskQueue({
    name: "pq",
    dataPath,
    maxBytesPerFile: 100, // two 40-byte records per file
    minMsgSize: 26,
    maxMsgSize: 1026,
    syncEvery: 1000,
    syncTimeout: 2000,
    logger: silentLogger,
  });
  try {
    const records = Array.from({ length: 5 }, (_, i) => Buffer.from(`${i}`.padEnd(36, "x")));
    q.putMany(records);
    const visited = (maxRecords: number, maxBytes: number, stopAfter = Infinity): { got: string[]; complete: boolean } => {
      const got: string[] = [];
      const complete = q.peekRecords((rec) => got.push(Buffer.from(rec).toString()) < stopAfter, maxRecords, maxBytes);
      return { got, complete };
    };
    expect(visited(100, 1)).toEqual({ got: [records[0]!.toString()], complete: false }); // the byte budget: one record
    expect(visited(3, 1 << 20)).toEqual({ got: records.slice(0, 3).map(String), complete: false });
    expect(visited(100, 1 << 20, 2).got).toHaveLength(2);
    expect(visited(100, 1 << 20)).toEqual({ got: records.map(String), complete: true });
    expect(q.depth()).toBe(5);
    expect(Buffer.from(q.readNext()!).toString()).toBe(records[0]!.toString());
    expect(Buffer.from(q.readNext()!).toString()).toBe(records[1]!.toString()); // the first file is done now
    expect(visited(100, 1 << 20)).toEqual({ got: records.slice(2).map(String), complete: true });
    expect(q.depth()).toBe(3);
  } finally {
    q.close();
  }
});
