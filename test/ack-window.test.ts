/**
 * Crash-safe delivery (issue 20), byte for byte: what a crash leaves in the data directory while
 * messages are in flight, finished out of order, deferred by REQ and by DPUB; how a restart brings
 * each back in its state (and /stats says so); a torn side record; real nsqd's view of the same
 * directory (its queue files and metadata alone), and our side record after nsqd moved on.
 *
 * A "crash" here is a copy of the data directory taken while the broker runs: what kill -9 leaves
 * (the page cache survives a process kill). test/crash.test.ts does it with real processes.
 */
import { afterAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Nsqd } from "../src/server/nsqd.ts";
import { createLogger } from "../src/util/logger.ts";
import { parseSideRecord } from "../src/server/ack-window.ts";
import { RawClient, subscriber, type WireMessage } from "./helpers/raw-client.ts";

const dirs: string[] = [];
const running: Nsqd[] = [];
afterAll(async () => {
  for (const n of running) await n.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "nsq-ack-"));
  dirs.push(d);
  return d;
}

async function broker(dataPath: string, memQueueSize = 0): Promise<{ nsqd: Nsqd; log: string[] }> {
  const log: string[] = [];
  const logger = createLogger("", "info", (line) => void log.push(line));
  const nsqd = new Nsqd(
    { tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", httpsAddress: "", nodeId: 1, dataPath, memQueueSize, syncEvery: 1, syncTimeout: 20 },
    logger,
  );
  await nsqd.start();
  running.push(nsqd);
  return { nsqd, log };
}

const SIDE = "t:c.diskqueue.ack.bin";

/**
 * m0..m9 published and delivered; m1, m3 FINished (out of order: m0 still holds the head); m2
 * REQueued for a minute; "late" DPUBbed for a minute; m0, m4..m9 in flight. Returns a crash image.
 */
async function crashImage(): Promise<string> {
  const dir = tempDir();
  const { nsqd } = await broker(dir);
  await fetch(`http://127.0.0.1:${nsqd.httpPort}/topic/create?topic=t`, { method: "POST" });
  await fetch(`http://127.0.0.1:${nsqd.httpPort}/channel/create?topic=t&channel=c`, { method: "POST" });
  const c = await subscriber(nsqd.tcpPort, "t", "c", 10);
  const p = await RawClient.connect(nsqd.tcpPort);
  p.mpub("t", Array.from({ length: 10 }, (_, i) => `m${i}`));
  expect(await p.readResponse()).toBe("OK");
  p.writeWithBody("DPUB t 60000", "late");
  expect(await p.readResponse()).toBe("OK");
  const got = new Map<string, WireMessage>();
  while (got.size < 10) {
    const m = await c.readMessage();
    got.set(m.body.toString(), m);
  }
  c.write(`FIN ${got.get("m3")!.id}\nFIN ${got.get("m1")!.id}\nREQ ${got.get("m2")!.id} 60000\n`);
  // the side record reflects all of it once the --sync-timeout timer has run
  const side = join(dir, SIDE);
  for (;;) {
    await Bun.sleep(20);
    if (!existsSync(side)) continue;
    const parsed = parseSideRecord(readFileSync(side));
    if (typeof parsed === "string") continue;
    const states = parsed.entries.map((e) => e.state).join("");
    // in read order: m0 in flight, m1 done, m2 deferred, m3 done, m4..m9 in flight, the DPUB's copy deferred
    if (states === "10201111112") break;
  }
  // nsqd.dat (written off the event loop) lists the channel
  while (!readFileSync(join(dir, "nsqd.dat"), "utf8").includes('"name":"c"')) await Bun.sleep(10);
  const image = tempDir();
  cpSync(dir, image, { recursive: true });
  c.close();
  p.close();
  return image;
}

async function stats(nsqd: Nsqd): Promise<{ depth: number; in_flight_count: number; deferred_count: number }> {
  const res = await fetch(`http://127.0.0.1:${nsqd.httpPort}/stats?format=json&topic=t&channel=c`);
  const body = (await res.json()) as { topics: { channels: { depth: number; in_flight_count: number; deferred_count: number }[] }[] };
  return body.topics[0]!.channels[0]!;
}

/** Reads messages until none arrives for `quietMs`; FINs each. */
async function drain(c: RawClient, quietMs = 400): Promise<WireMessage[]> {
  const out: WireMessage[] = [];
  for (;;) {
    let f;
    try {
      f = await c.readFrame(quietMs);
    } catch {
      return out;
    }
    if (f.type !== 2) continue;
    const m = { timestampNs: f.data.readBigInt64BE(0), attempts: f.data.readUInt16BE(8), id: f.data.subarray(10, 26).toString("latin1"), body: f.data.subarray(26) };
    out.push(m);
    c.write(`FIN ${m.id}\n`);
  }
}

/** The bodies real nsqd would read: every record from the metadata's read position to its write position. */
function nsqdView(dir: string, queue: string): string[] {
  const meta = readFileSync(join(dir, `${queue}.diskqueue.meta.dat`), "latin1");
  const m = /^(-?\d+)\n(\d+),(\d+)\n(\d+),(\d+)\n$/.exec(meta);
  expect(m).not.toBeNull();
  const [readNum, readPos, writeNum, writePos] = [Number(m![2]), Number(m![3]), Number(m![4]), Number(m![5])];
  const bodies: string[] = [];
  for (let file = readNum; file <= writeNum; file++) {
    const path = join(dir, `${queue}.diskqueue.${String(file).padStart(6, "0")}.dat`);
    if (!existsSync(path)) continue;
    const data = readFileSync(path);
    let pos = file === readNum ? readPos : 0;
    const end = file === writeNum ? Math.min(writePos, data.length) : data.length;
    while (pos < end) {
      const len = data.readInt32BE(pos);
      expect(len).toBeGreaterThanOrEqual(26);
      expect(data.subarray(pos + 14, pos + 30).toString("latin1")).toMatch(/^[0-9a-f]{16}$/);
      bodies.push(data.subarray(pos + 30, pos + 4 + len).toString());
      pos += 4 + len;
    }
  }
  return bodies;
}

test("after a crash, in-flight messages come back with attempts raised, deferred ones stay deferred, finished ones are not redelivered", async () => {
  const image = await crashImage();
  const { nsqd, log } = await broker(image);
  expect(log.join("")).toMatch(/restoring unacknowledged messages from .*t:c\.diskqueue\.ack\.bin: 7 in flight .*up to 7 duplicate\(s\).*, 2 deferred, 2 already finished/);
  // /stats before any consumer: the in-flight ones are back in the queue, the deferred ones counted as deferred
  expect(await stats(nsqd)).toMatchObject({ depth: 7, in_flight_count: 0, deferred_count: 2 });
  const c = await subscriber(nsqd.tcpPort, "t", "c", 50);
  const got = await drain(c);
  expect(got.map((m) => m.body.toString()).sort()).toEqual(["m0", "m4", "m5", "m6", "m7", "m8", "m9"]);
  for (const m of got) expect(m.attempts).toBe(2);
  expect(await stats(nsqd)).toMatchObject({ depth: 0, in_flight_count: 0, deferred_count: 2 });
  c.close();
});

test("a torn side record is reported with its path; the broker starts and delivers everything from the read position again", async () => {
  const image = await crashImage();
  const side = join(image, SIDE);
  truncateSync(side, readFileSync(side).length - 7);
  const { nsqd, log } = await broker(image);
  expect(log.join("")).toContain(`${side} is unusable (checksum mismatch`);
  const c = await subscriber(nsqd.tcpPort, "t", "c", 50);
  const got = (await drain(c)).map((m) => m.body.toString());
  // conservative: the finished ones again (duplicates), the deferred ones at once; nothing missing
  expect(new Set(got)).toEqual(new Set([...Array.from({ length: 10 }, (_, i) => `m${i}`), "late"]));
  c.close();
});

test("the crash image is laid out as real nsqd reads it: its queue files and metadata alone hold every unfinished message", async () => {
  const image = await crashImage();
  for (const name of readdirSync(image)) {
    expect(name).toMatch(/^(nsqd\.dat|t(:c)?\.diskqueue\.(\d{6}\.dat|meta\.dat|ack\.bin)|\.lock|nsqd\.lock)$/);
  }
  const view = nsqdView(image, "t:c");
  // m1, m3 may be there too (nsqd would redeliver them): at worst duplicates, never a loss
  for (const body of ["m0", "m2", "m4", "m5", "m6", "m7", "m8", "m9", "late"]) expect(view).toContain(body);
  // the topic's own queue was never used: no files at all, which nsqd reads as empty
  expect(existsSync(join(image, "t.diskqueue.meta.dat"))).toBe(false);
});

test("a side record left behind when real nsqd moved the read position on is ignored as stale: no message is skipped", async () => {
  const image = await crashImage();
  // nsqd consumed m0 (the first record): its metadata now starts one record later
  const metaPath = join(image, "t:c.diskqueue.meta.dat");
  const [depth, read, write] = readFileSync(metaPath, "latin1").trim().split("\n");
  const [readNum, readPos] = read!.split(",").map(Number);
  const data = readFileSync(join(image, `t:c.diskqueue.${String(readNum).padStart(6, "0")}.dat`));
  const next = readPos! + 4 + data.readInt32BE(readPos!);
  writeFileSync(metaPath, `${Number(depth) - 1}\n${readNum},${next}\n${write}\n`);
  const { nsqd, log } = await broker(image);
  expect(log.join("")).toMatch(/t:c\.diskqueue\.ack\.bin is stale/);
  const c = await subscriber(nsqd.tcpPort, "t", "c", 50);
  const got = new Set((await drain(c)).map((m) => m.body.toString()));
  for (const body of ["m2", "m4", "m5", "m6", "m7", "m8", "m9", "late"]) expect(got.has(body)).toBe(true);
  c.close();
});

test("nothing is written for a channel whose queue was not touched, and the side record goes once everything is finished", async () => {
  const dir = tempDir();
  const { nsqd } = await broker(dir);
  await fetch(`http://127.0.0.1:${nsqd.httpPort}/channel/create?topic=t&channel=c`, { method: "POST" });
  await Bun.sleep(60);
  expect(readdirSync(dir).filter((f) => f.endsWith(".ack.bin"))).toEqual([]);
  const p = await RawClient.connect(nsqd.tcpPort);
  p.mpub("t", ["a", "b", "c"]);
  expect(await p.readResponse()).toBe("OK");
  const c = await subscriber(nsqd.tcpPort, "t", "c", 10);
  expect((await drain(c, 300)).length).toBe(3);
  for (let i = 0; i < 100 && existsSync(join(dir, SIDE)); i++) await Bun.sleep(20);
  expect(existsSync(join(dir, SIDE))).toBe(false);
  // the read position is past all three records: a restart delivers nothing again
  expect(nsqdView(dir, "t:c")).toEqual([]);
  c.close();
  p.close();
});

test("after a graceful restart (default --mem-queue-size) deferred messages count in deferred_count, not depth, and keep their delay", async () => {
  const dir = tempDir();
  const first = await broker(dir, 10_000);
  await fetch(`http://127.0.0.1:${first.nsqd.httpPort}/channel/create?topic=t&channel=c`, { method: "POST" });
  const p = await RawClient.connect(first.nsqd.tcpPort);
  p.writeWithBody("DPUB t 60000", "later-1");
  expect(await p.readResponse()).toBe("OK");
  p.writeWithBody("DPUB t 60000", "later-2");
  expect(await p.readResponse()).toBe("OK");
  p.pub("t", "requeued");
  expect(await p.readResponse()).toBe("OK");
  const c = await subscriber(first.nsqd.tcpPort, "t", "c", 1);
  const m = await c.readMessage();
  c.write(`REQ ${m.id} 60000\n`);
  for (let i = 0; i < 100 && (await stats(first.nsqd)).deferred_count < 3; i++) await Bun.sleep(10);
  expect(await stats(first.nsqd)).toMatchObject({ depth: 0, in_flight_count: 0, deferred_count: 3 });
  c.close();
  p.close();
  await first.nsqd.close();
  running.splice(running.indexOf(first.nsqd), 1);

  const second = await broker(dir, 10_000);
  expect(await stats(second.nsqd)).toMatchObject({ depth: 0, in_flight_count: 0, deferred_count: 3 });
  const c2 = await subscriber(second.nsqd.tcpPort, "t", "c", 10);
  expect(await drain(c2, 300)).toEqual([]); // still deferred
  expect(await stats(second.nsqd)).toMatchObject({ depth: 0, deferred_count: 3 });
  c2.close();
});
