import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskQueue, DiskQueueError, type DiskQueueOptions } from "../src/server/disk-queue.ts";
import { writeDeferredSidecar, deferredSidecarPath } from "../src/server/metadata.ts";
import { createLogger, silentLogger, type Logger } from "../src/util/logger.ts";

const MIN = 26;
const MAX = 1024 * 1024 + 26;

let dirs: string[] = [];
let queues: DiskQueue[] = [];

afterEach(() => {
  for (const q of queues) {
    try {
      q.close();
    } catch {
      // some tests leave queues on purpose in states where closing fails (disk full)
    }
  }
  queues = [];
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "nsq-dq-"));
  dirs.push(d);
  return d;
}

function open(dataPath: string, extra: Partial<DiskQueueOptions> = {}): DiskQueue {
  const q = new DiskQueue({
    name: "orders",
    dataPath,
    maxBytesPerFile: 100 * 1024 * 1024,
    minMsgSize: MIN,
    maxMsgSize: MAX,
    syncEvery: 2500,
    syncTimeout: 2000,
    logger: silentLogger,
    ...extra,
  });
  queues.push(q);
  return q;
}

function capturingLogger(lines: string[]): Logger {
  return createLogger("", "debug", (line) => lines.push(line));
}

/** A message in nsqd's layout (§1.4): timestamp, attempts, 16 hex ID chars, body. */
function message(i: number, body = `body-${i}`): Buffer {
  const b = Buffer.alloc(26 + Buffer.byteLength(body));
  b.writeBigInt64BE(1_700_000_000_000_000_000n + BigInt(i), 0);
  b.writeUInt16BE(1, 8);
  b.write(i.toString(16).padStart(16, "0"), 10, "latin1");
  b.write(body, 26);
  return b;
}

/** `[int32 BE length][payload]`, the go-diskqueue record framing. */
function frame(payload: Uint8Array): Buffer {
  const b = Buffer.alloc(4 + payload.length);
  b.writeInt32BE(payload.length, 0);
  b.set(payload, 4);
  return b;
}

function dataFile(dir: string, n: number, name = "orders"): string {
  return join(dir, `${name}.diskqueue.${String(n).padStart(6, "0")}.dat`);
}

function metaFile(dir: string, name = "orders"): string {
  return join(dir, `${name}.diskqueue.meta.dat`);
}

function drain(q: DiskQueue): string[] {
  const out: string[] = [];
  for (let guard = 0; guard < 100_000; guard++) {
    const r = q.readNext();
    if (r === null) return out;
    out.push(Buffer.from(r).subarray(26).toString());
  }
  throw new Error("queue never ran dry");
}

function bodies(from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i <= to; i++) out.push(`body-${i}`);
  return out;
}

describe("round trip and format", () => {
  test("put/readNext preserve order, bytes and depth", () => {
    const q = open(tempDir());
    for (let i = 1; i <= 50; i++) q.put(message(i));
    q.putMany([message(51), message(52), message(53)]);
    expect(q.depth()).toBe(53);
    const first = q.readNext();
    expect(first).not.toBeNull();
    expect(Buffer.from(first!).equals(message(1))).toBe(true);
    expect(q.depth()).toBe(52);
    expect(drain(q)).toEqual(bodies(2, 53));
    expect(q.depth()).toBe(0);
    expect(q.readNext()).toBeNull();
    expect(q.corruption.events).toBe(0);
  });

  test("data file bytes are exactly [int32 BE length][record] and metadata text is exact (mode 0600)", () => {
    const dir = tempDir();
    const q = open(dir);
    const records = [message(1), message(2, "x".repeat(300)), message(3, "")];
    q.putMany(records);
    q.sync();
    const bytes = readFileSync(dataFile(dir, 0));
    expect(bytes.equals(Buffer.concat(records.map(frame)))).toBe(true);
    const size = bytes.length;
    expect(readFileSync(metaFile(dir), "latin1")).toBe(`3\n0,0\n0,${size}\n`);
    expect(statSync(metaFile(dir)).mode & 0o777).toBe(0o600);
    expect(statSync(dataFile(dir, 0)).mode & 0o777).toBe(0o600);
    q.readNext();
    q.sync();
    expect(readFileSync(metaFile(dir), "latin1")).toBe(`2\n0,${frame(records[0]).length}\n0,${size}\n`);
    // no tmp files left behind
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("records larger than the read-ahead window round-trip", () => {
    const q = open(tempDir());
    const big = message(7, "B".repeat(300 * 1024));
    q.put(message(1));
    q.put(big);
    q.put(message(2));
    expect(Buffer.from(q.readNext()!).equals(message(1))).toBe(true);
    expect(Buffer.from(q.readNext()!).equals(big)).toBe(true);
    expect(Buffer.from(q.readNext()!).equals(message(2))).toBe(true);
    expect(q.readNext()).toBeNull();
  });

  test("invalid record sizes are refused with DiskQueueError and change nothing", () => {
    const q = open(tempDir());
    q.put(message(1));
    expect(() => q.put(new Uint8Array(25))).toThrow(DiskQueueError);
    expect(() => q.putMany([message(2), new Uint8Array(MAX + 1)])).toThrow(/invalid message write size \(1048603\)/);
    expect(q.depth()).toBe(1);
    expect(drain(q)).toEqual(["body-1"]);
  });

  test("rolls files at maxBytesPerFile, deletes files once read, and syncs on roll", async () => {
    const dir = tempDir();
    const q = open(dir, { maxBytesPerFile: 200 });
    const recSize = 4 + message(10).length; // 4 + 26 + 7 = 37
    for (let i = 10; i < 30; i++) q.put(message(i));
    // 5 records of 37 bytes fit in 200 (185), the 6th would exceed → 4 files of 5 records
    expect(statSync(dataFile(dir, 0)).size).toBe(5 * recSize);
    expect(statSync(dataFile(dir, 3)).size).toBe(5 * recSize);
    expect(existsSync(dataFile(dir, 4))).toBe(false);
    // the roll to file 3 synced metadata (asynchronously)
    await q.whenSyncSettled();
    expect(readFileSync(metaFile(dir), "latin1")).toMatch(/^\d+\n0,0\n3,\d+\n$/);
    for (let i = 10; i < 16; i++) q.readNext();
    expect(existsSync(dataFile(dir, 0))).toBe(false);
    expect(existsSync(dataFile(dir, 1))).toBe(true);
    expect(q.depth()).toBe(14);
    expect(drain(q)).toEqual(bodies(16, 29));
  });

  test("a single record bigger than maxBytesPerFile goes alone into a fresh file", () => {
    const dir = tempDir();
    const q = open(dir, { maxBytesPerFile: 100 });
    q.put(message(1));
    q.put(message(2, "z".repeat(150)));
    q.put(message(3));
    expect(statSync(dataFile(dir, 1)).size).toBe(4 + 26 + 150);
    expect(drain(q)).toEqual(["body-1", "z".repeat(150), "body-3"]);
  });

  test("putMany spanning several files writes them all and counts them", () => {
    const dir = tempDir();
    const q = open(dir, { maxBytesPerFile: 100 });
    const batch: Buffer[] = [];
    for (let i = 0; i < 10; i++) batch.push(message(i));
    q.putMany(batch);
    expect(q.depth()).toBe(10);
    // 36-byte records, 2 per 100-byte file → files 0..4
    expect(readdirSync(dir).filter((f) => /\.\d{6}\.dat$/.test(f)).length).toBe(5);
    for (let n = 0; n < 5; n++) expect(statSync(dataFile(dir, n)).size).toBe(72);
    expect(drain(q)).toEqual(bodies(0, 9));
  });

  test("a multi-megabyte putMany across many files round-trips in order", () => {
    const dir = tempDir();
    const q = open(dir, { maxBytesPerFile: 1024 * 1024 });
    const batch: Buffer[] = [];
    for (let i = 0; i < 100; i++) batch.push(message(i, String(i).padEnd(64 * 1024, ".")));
    q.putMany(batch);
    expect(q.depth()).toBe(100);
    expect(readdirSync(dir).filter((f) => /\.\d{6}\.dat$/.test(f)).length).toBe(7); // 15 records of 64 KiB per MiB
    const got = drain(q).map((b) => b.replace(/\.+$/, ""));
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  });

  test("reopen resumes from metadata", () => {
    const dir = tempDir();
    const q = open(dir, { maxBytesPerFile: 150 });
    for (let i = 1; i <= 10; i++) q.put(message(i));
    expect(drain1(q, 3)).toEqual(bodies(1, 3));
    q.close();
    const again = open(dir, { maxBytesPerFile: 150 });
    expect(again.depth()).toBe(7);
    expect(drain(again)).toEqual(bodies(4, 10));
    again.put(message(11));
    again.close();
    const third = open(dir, { maxBytesPerFile: 150 });
    expect(drain(third)).toEqual(["body-11"]);
    expect(third.corruption.events).toBe(0);
  });

  test("close is idempotent and put after close throws DiskQueueError", () => {
    const q = open(tempDir());
    q.close();
    q.close();
    expect(() => q.put(message(1))).toThrow(DiskQueueError);
    expect(q.readNext()).toBeNull();
  });
});

function drain1(q: DiskQueue, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(Buffer.from(q.readNext()!).subarray(26).toString());
  return out;
}

describe("files written as real nsqd writes them", () => {
  test("multi-file fixture with metadata mid-file is read from the right record and appended correctly", () => {
    const dir = tempDir();
    const f0 = Buffer.concat([frame(message(1)), frame(message(2)), frame(message(3))]);
    const f1 = Buffer.concat([frame(message(4)), frame(message(5))]);
    writeFileSync(dataFile(dir, 0), f0);
    writeFileSync(dataFile(dir, 1), f1);
    const readPos = frame(message(1)).length;
    writeFileSync(metaFile(dir), `4\n0,${readPos}\n1,${f1.length}\n`);
    const q = open(dir);
    expect(q.depth()).toBe(4);
    expect(drain1(q, 2)).toEqual(["body-2", "body-3"]);
    expect(existsSync(dataFile(dir, 0))).toBe(false); // fully read file removed
    q.put(message(6));
    q.sync();
    expect(readFileSync(dataFile(dir, 1)).equals(Buffer.concat([f1, frame(message(6))]))).toBe(true);
    expect(readFileSync(metaFile(dir), "latin1")).toBe(`3\n1,0\n1,${f1.length + frame(message(6)).length}\n`);
    expect(drain(q)).toEqual(["body-4", "body-5", "body-6"]);
    expect(q.corruption.events).toBe(0);
  });

  test("a consumed queue (readPos == writePos) reopens empty and keeps appending to the same file", () => {
    const dir = tempDir();
    const f0 = Buffer.concat([frame(message(1)), frame(message(2))]);
    writeFileSync(dataFile(dir, 0), f0);
    writeFileSync(metaFile(dir), `0\n0,${f0.length}\n0,${f0.length}\n`);
    const q = open(dir);
    expect(q.depth()).toBe(0);
    expect(q.readNext()).toBeNull();
    q.put(message(3));
    expect(statSync(dataFile(dir, 0)).size).toBe(f0.length + frame(message(3)).length);
    expect(drain(q)).toEqual(["body-3"]);
  });

  test("metadata that says write file N at 0 (just rolled, file not yet created)", () => {
    const dir = tempDir();
    writeFileSync(dataFile(dir, 4), Buffer.concat([frame(message(1)), frame(message(2))]));
    writeFileSync(metaFile(dir), `2\n4,0\n5,0\n`);
    const q = open(dir);
    expect(q.depth()).toBe(2);
    q.put(message(3));
    expect(existsSync(dataFile(dir, 5))).toBe(true);
    expect(drain(q)).toEqual(bodies(1, 3));
    expect(q.corruption.events).toBe(0);
  });
});

describe("recovery from corruption", () => {
  test("truncated record at the end of the write file (metadata behind): salvage, skip the tail, keep .bad", () => {
    const dir = tempDir();
    const good = Buffer.concat([frame(message(1)), frame(message(2)), frame(message(3))]);
    const partial = frame(message(4)).subarray(0, 20);
    writeFileSync(dataFile(dir, 0), Buffer.concat([good, partial]));
    writeFileSync(metaFile(dir), `2\n0,0\n0,${frame(message(1)).length * 2}\n`);
    const lines: string[] = [];
    const q = open(dir, { logger: capturingLogger(lines) });
    expect(q.depth()).toBe(3);
    expect(q.corruption.events).toBe(1);
    expect(q.corruption.skippedBytes).toBe(20);
    expect(q.corruption.lastError).toContain("truncated record");
    expect(lines.join("")).toContain("metadata writePos");
    expect(readFileSync(dataFile(dir, 0) + ".bad").equals(Buffer.concat([good, partial]))).toBe(true);
    q.put(message(5)); // writing moved to a fresh file
    expect(existsSync(dataFile(dir, 1))).toBe(true);
    expect(drain(q)).toEqual(["body-1", "body-2", "body-3", "body-5"]);
    expect(q.depth()).toBe(0);
    expect(existsSync(dataFile(dir, 0))).toBe(false);
  });

  test("garbage length prefix mid-file: skip exactly the garbage, deliver what follows", () => {
    const dir = tempDir();
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3, 4, 5, 6]);
    const bytes = Buffer.concat([frame(message(1)), frame(message(2)), garbage, frame(message(3)), frame(message(4))]);
    writeFileSync(dataFile(dir, 0), bytes);
    writeFileSync(dataFile(dir, 1), frame(message(5)));
    writeFileSync(metaFile(dir), `5\n0,0\n1,${frame(message(5)).length}\n`);
    const q = open(dir);
    expect(q.depth()).toBe(5);
    expect(q.corruption.events).toBe(1);
    expect(q.corruption.skippedBytes).toBe(10);
    expect(q.corruption.lastError).toContain("invalid message read size (-16)");
    expect(readFileSync(dataFile(dir, 0) + ".bad").equals(bytes)).toBe(true);
    expect(drain(q)).toEqual(bodies(1, 5));
    expect(q.depth()).toBe(0);
  });

  test("garbage with no recognisable record after it: rest of that file skipped, next file delivered", () => {
    const dir = tempDir();
    const junk = Buffer.alloc(500, 0x41); // length prefix 0x41414141 is out of range, no hex IDs anywhere
    writeFileSync(dataFile(dir, 0), Buffer.concat([frame(message(1)), junk]));
    writeFileSync(dataFile(dir, 1), Buffer.concat([frame(message(2)), frame(message(3))]));
    writeFileSync(metaFile(dir), `9\n0,0\n1,${frame(message(2)).length * 2}\n`);
    const q = open(dir);
    expect(q.depth()).toBe(3);
    expect(q.corruption.skippedBytes).toBe(500);
    expect(drain(q)).toEqual(bodies(1, 3));
    expect(existsSync(dataFile(dir, 0) + ".bad")).toBe(true);
    expect(existsSync(dataFile(dir, 0))).toBe(false);
  });

  test("metadata ahead of the data (writePos beyond file size): deliver what exists, write to a new file", () => {
    const dir = tempDir();
    const bytes = Buffer.concat([frame(message(1)), frame(message(2)), frame(message(3))]);
    writeFileSync(dataFile(dir, 0), bytes);
    writeFileSync(metaFile(dir), `10\n0,0\n0,${bytes.length + 400}\n`);
    const q = open(dir);
    expect(q.depth()).toBe(3);
    expect(q.corruption.events).toBe(1);
    expect(q.corruption.lastError).toContain("400 bytes lost");
    // repaired metadata persisted at once
    expect(readFileSync(metaFile(dir), "latin1")).toBe(`3\n0,0\n1,0\n`);
    q.put(message(4));
    expect(statSync(dataFile(dir, 0)).size).toBe(bytes.length); // never wrote into a hole
    expect(drain(q)).toEqual(bodies(1, 4));
  });

  test("metadata ahead of the data (readPos beyond the file): nothing replayed, no loop", () => {
    const dir = tempDir();
    const bytes = Buffer.concat([frame(message(1)), frame(message(2))]);
    writeFileSync(dataFile(dir, 0), bytes);
    writeFileSync(dataFile(dir, 1), frame(message(3)));
    writeFileSync(metaFile(dir), `1\n0,9999\n1,${frame(message(3)).length}\n`);
    const q = open(dir);
    expect(q.depth()).toBe(1);
    expect(q.corruption.lastError).toContain("beyond the end");
    expect(drain(q)).toEqual(["body-3"]);
  });

  test("metadata behind the data (files written after the last sync) are all delivered", () => {
    const dir = tempDir();
    writeFileSync(dataFile(dir, 0), Buffer.concat([frame(message(1)), frame(message(2)), frame(message(3))]));
    writeFileSync(dataFile(dir, 1), Buffer.concat([frame(message(4)), frame(message(5))]));
    writeFileSync(metaFile(dir), `1\n0,${frame(message(1)).length * 2}\n0,${frame(message(1)).length * 2}\n`);
    const q = open(dir);
    expect(q.depth()).toBe(3);
    expect(q.corruption.events).toBe(0); // unsynced writes are expected after a crash, not corruption
    q.put(message(6));
    expect(existsSync(dataFile(dir, 2))).toBe(true);
    expect(drain(q)).toEqual(bodies(3, 6));
  });

  test("readPos inside a record resumes at the next record boundary", () => {
    const dir = tempDir();
    const bytes = Buffer.concat([frame(message(1)), frame(message(2)), frame(message(3))]);
    writeFileSync(dataFile(dir, 0), bytes);
    writeFileSync(metaFile(dir), `3\n0,5\n1,0\n`);
    const q = open(dir);
    expect(q.depth()).toBe(2);
    expect(q.corruption.skippedBytes).toBe(frame(message(1)).length - 5);
    expect(drain(q)).toEqual(["body-2", "body-3"]);
  });

  test("missing metadata with data files present: everything is recovered", () => {
    const dir = tempDir();
    writeFileSync(dataFile(dir, 7), Buffer.concat([frame(message(1)), frame(message(2))]));
    writeFileSync(dataFile(dir, 8), frame(message(3)));
    const q = open(dir);
    expect(q.depth()).toBe(3);
    q.put(message(4));
    expect(existsSync(dataFile(dir, 9))).toBe(true);
    expect(drain(q)).toEqual(bodies(1, 4));
  });

  test("unparsable metadata is reported and the data files are scanned instead", () => {
    const dir = tempDir();
    writeFileSync(dataFile(dir, 0), frame(message(1)));
    writeFileSync(metaFile(dir), "garbage\x00\x01");
    const q = open(dir);
    expect(q.corruption.events).toBe(1);
    expect(q.corruption.lastError).toContain("unparsable metadata");
    expect(drain(q)).toEqual(["body-1"]);
  });

  test("read file already deleted (crash between remove and metadata sync) is skipped", () => {
    const dir = tempDir();
    writeFileSync(dataFile(dir, 3), Buffer.concat([frame(message(1)), frame(message(2))]));
    writeFileSync(metaFile(dir), `5\n2,100\n3,${frame(message(1)).length * 2}\n`);
    const q = open(dir);
    expect(q.depth()).toBe(2);
    expect(drain(q)).toEqual(bodies(1, 2));
  });

  test("names that contain another queue's prefix are not mistaken for its data files", () => {
    const dir = tempDir();
    writeFileSync(dataFile(dir, 0, "orders.diskqueue.000001"), frame(message(1)));
    writeFileSync(dataFile(dir, 0, "orders:archive"), frame(message(2)));
    const q = open(dir);
    expect(q.depth()).toBe(0);
  });

  test("a data file damaged while open (run time) is abandoned without throwing; depth stays exact", () => {
    const dir = tempDir();
    const q = open(dir, { maxBytesPerFile: 120 });
    for (let i = 1; i <= 9; i++) q.put(message(i)); // 3 per file → files 0,1,2
    expect(q.depth()).toBe(9);
    expect(drain1(q, 1)).toEqual(["body-1"]);
    // someone truncates a file not read yet: record 4 survives, 5 is cut, 6 is gone
    truncateSync(dataFile(dir, 1), 50);
    expect(drain1(q, 3)).toEqual(bodies(2, 4));
    expect(q.depth()).toBe(5);
    expect(drain(q)).toEqual(bodies(7, 9));
    expect(q.depth()).toBe(0);
    expect(q.corruption.events).toBe(1);
    expect(q.corruption.lastError).toContain("2 record(s)");
    expect(existsSync(dataFile(dir, 1) + ".bad")).toBe(true);
    expect(existsSync(dataFile(dir, 1))).toBe(false);
  });

  test("a data file deleted while open is skipped", () => {
    const dir = tempDir();
    const q = open(dir, { maxBytesPerFile: 120 });
    for (let i = 1; i <= 6; i++) q.put(message(i));
    unlinkSync(dataFile(dir, 0));
    expect(drain(q)).toEqual(bodies(4, 6));
    expect(q.depth()).toBe(0);
    expect(q.corruption.lastError).toContain("ENOENT");
  });
});

describe("empty, delete, sync", () => {
  test("empty removes data, metadata and the deferred sidecar, and writing continues in the next file", () => {
    const dir = tempDir();
    const q = open(dir, { maxBytesPerFile: 100 });
    for (let i = 1; i <= 6; i++) q.put(message(i));
    q.sync();
    writeDeferredSidecar(dir, "orders", [{ id: "0000000000000001", due: Date.now() + 1000 }]);
    q.empty();
    expect(q.depth()).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
    expect(q.readNext()).toBeNull();
    q.put(message(7));
    q.sync();
    expect(readFileSync(metaFile(dir), "latin1")).toMatch(/^1\n(\d+),0\n\1,36\n$/);
    expect(drain(q)).toEqual(["body-7"]);
    expect(existsSync(deferredSidecarPath(dir, "orders"))).toBe(false);
  });

  test("delete leaves no files and writes no metadata", () => {
    const dir = tempDir();
    const q = open(dir);
    q.put(message(1));
    q.sync();
    q.delete();
    expect(readdirSync(dir)).toEqual([]);
    expect(() => q.put(message(2))).toThrow(DiskQueueError);
  });

  test("syncEvery: metadata is persisted after N operations without an explicit sync", async () => {
    const dir = tempDir();
    const q = open(dir, { syncEvery: 5 });
    for (let i = 1; i <= 4; i++) q.put(message(i));
    await q.whenSyncSettled();
    expect(existsSync(metaFile(dir))).toBe(false);
    q.put(message(5));
    await q.whenSyncSettled();
    expect(readFileSync(metaFile(dir), "latin1")).toBe(`5\n0,0\n0,${5 * 36}\n`);
    q.readNext(); // reads count too
    q.readNext();
    q.readNext();
    q.readNext();
    q.readNext();
    await q.whenSyncSettled();
    expect(readFileSync(metaFile(dir), "latin1")).toBe(`0\n0,${5 * 36}\n0,${5 * 36}\n`);
  });

  test("syncTimeout: a dirty queue is synced by the shared timer", async () => {
    const dir = tempDir();
    const q = open(dir, { syncTimeout: 40 });
    q.put(message(1));
    expect(existsSync(metaFile(dir))).toBe(false);
    const deadline = Date.now() + 3000;
    while (!existsSync(metaFile(dir)) && Date.now() < deadline) await Bun.sleep(10);
    expect(readFileSync(metaFile(dir), "latin1")).toBe(`1\n0,0\n0,36\n`);
  });

  test("restart after a crash without sync (no close): writes since the last sync are salvaged", () => {
    const dir = tempDir();
    const q = open(dir, { syncEvery: 3 });
    for (let i = 1; i <= 5; i++) q.put(message(i)); // synced after 3
    // simulate kill -9: never closed (afterEach releases it once the test is over)
    const again = open(dir, { syncEvery: 3 });
    expect(again.depth()).toBe(5);
    expect(drain(again)).toEqual(bodies(1, 5));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Asynchronous syncs: count/time/roll-triggered syncs run off the event loop, one at a time per queue.

const hasProcFds = existsSync("/proc/self/fd");
function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Lets the event loop turn `n` times, so an async sync in flight gets to a different stage each time. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function errorLines(lines: string[]): string[] {
  return lines.filter((l) => /ERROR|FATAL|WARN/i.test(l));
}

const REC = 4 + 26 + "body-1".length; // 36 bytes per record of message(1..9)

describe("asynchronous sync", () => {
  test("the count-triggered sync does not block the put, and writes the state captured when it started", async () => {
    const dir = tempDir();
    const q = open(dir, { syncEvery: 5 });
    for (let i = 1; i <= 5; i++) q.put(message(i));
    // The 5th put started a sync but returned before the metadata was written (it is written off the event loop).
    expect(existsSync(metaFile(dir))).toBe(false);
    for (let i = 6; i <= 8; i++) q.put(message(i)); // below the next threshold: no further sync requested
    await q.whenSyncSettled();
    // The metadata describes the 5 records captured at sync start (all fsynced), not the 8 written since.
    expect(readFileSync(metaFile(dir), "latin1")).toBe(`5\n0,0\n0,${5 * REC}\n`);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("writes arriving while a sync is in flight are coalesced into one more sync after it", async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const q = open(dir, { syncEvery: 5, logger: capturingLogger(lines) });
    for (let i = 1; i <= 5; i++) q.put(message(i)); // sync #1 starts
    for (let i = 6; i <= 9; i++) q.put(message(i)); // 4 ops: below the threshold
    q.putMany([message(10), message(11), message(12)]); // threshold again while #1 is in flight: one more queued
    q.putMany([message(13), message(14), message(15), message(16), message(17)]); // still in flight: same one
    await q.whenSyncSettled();
    expect(readFileSync(metaFile(dir), "latin1")).toBe(`17\n0,0\n0,${9 * REC + 8 * (REC + 1)}\n`);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(errorLines(lines)).toEqual([]);
    // and the data reads back in order after a reopen from that metadata
    q.close();
    const again = open(dir);
    expect(again.depth()).toBe(17);
    expect(drain(again).length).toBe(17);
  });

  test("reads past the threshold while a sync is in flight are persisted later (timer), not lost", async () => {
    const dir = tempDir();
    const q = open(dir, { syncEvery: 5, syncTimeout: 40 });
    for (let i = 1; i <= 5; i++) q.put(message(i)); // sync starts (write side)
    expect(drain(q).length).toBe(5); // 5 reads while it is in flight
    const want = `0\n0,${5 * REC}\n0,${5 * REC}\n`;
    const deadline = Date.now() + 3000;
    const current = () => (existsSync(metaFile(dir)) ? readFileSync(metaFile(dir), "latin1") : "");
    while (current() !== want && Date.now() < deadline) await Bun.sleep(10);
    expect(readFileSync(metaFile(dir), "latin1")).toBe(want);
  });

  test.skipIf(!hasProcFds)("rolled files stay open until their async fsync is done, then are closed (no fd leak)", async () => {
    const dir = tempDir();
    const before = openFdCount();
    const q = open(dir, { maxBytesPerFile: 200, syncEvery: 1_000_000 });
    for (let i = 10; i < 30; i++) q.put(message(i)); // 4 files; each roll requests a sync
    // Nothing has been fsynced yet (the syncs run off the event loop): the retired descriptors are still open.
    expect(openFdCount()).toBeGreaterThan(before + 1);
    await q.whenSyncSettled();
    expect(openFdCount()).toBe(before + 1); // only the current write file
    expect(readFileSync(metaFile(dir), "latin1")).toBe(`20\n0,0\n3,${5 * 37}\n`);
    q.close();
    expect(openFdCount()).toBe(before);
  });

  test.skipIf(!hasProcFds)("close() during an async sync: its metadata wins, nothing stale replaces it, no stray tmp, fds released", async () => {
    for (let delay = 0; delay < 24; delay++) {
      const dir = tempDir();
      const lines: string[] = [];
      const before = openFdCount();
      const q = open(dir, { syncEvery: 5, maxBytesPerFile: 200, logger: capturingLogger(lines) });
      for (let i = 1; i <= 5; i++) q.put(message(i)); // sync starts (and a roll is coming)
      await turns(delay);
      q.put(message(6)); // rolls to file 1
      q.put(message(7));
      q.close(); // fully synchronous: metadata on disk when it returns
      const closedState = `7\n0,0\n1,${2 * REC}\n`;
      expect(readFileSync(metaFile(dir), "latin1")).toBe(closedState);
      await q.whenSyncSettled();
      expect(readFileSync(metaFile(dir), "latin1")).toBe(closedState);
      expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
      expect(openFdCount()).toBe(before);
      expect(errorLines(lines)).toEqual([]);
      const again = open(dir);
      expect(drain(again)).toEqual(bodies(1, 7));
      again.close();
      await again.whenSyncSettled(); // a cancelled sync still owns its descriptors until its fsyncs return
      expect(openFdCount()).toBe(before);
    }
  });

  test("delete() during an async sync: no metadata or tmp file reappears afterwards", async () => {
    for (let delay = 0; delay < 24; delay++) {
      const dir = tempDir();
      const lines: string[] = [];
      const q = open(dir, { syncEvery: 5, logger: capturingLogger(lines) });
      for (let i = 1; i <= 5; i++) q.put(message(i)); // sync starts
      await turns(delay);
      q.delete();
      await q.whenSyncSettled();
      expect(readdirSync(dir)).toEqual([]);
      await turns(5);
      expect(readdirSync(dir)).toEqual([]);
      expect(errorLines(lines).filter((l) => !l.includes("deleting"))).toEqual([]);
    }
  });

  test("empty() during an async sync: the stale metadata is not renamed back over the emptied queue", async () => {
    for (let delay = 0; delay < 12; delay++) {
      const dir = tempDir();
      const q = open(dir, { syncEvery: 5 });
      for (let i = 1; i <= 5; i++) q.put(message(i)); // sync starts
      await turns(delay);
      q.empty();
      await q.whenSyncSettled();
      expect(existsSync(metaFile(dir))).toBe(false);
      q.put(message(42));
      q.close();
      const again = open(dir);
      expect(drain(again)).toEqual(["body-42"]);
      again.close();
    }
  });

  test("kill -9 style reopen (no close) while syncs are in flight delivers every record written", async () => {
    const dir = tempDir();
    const q = open(dir, { syncEvery: 1, maxBytesPerFile: 300 });
    for (let i = 1; i <= 40; i++) q.put(message(i));
    for (let i = 1; i <= 10; i++) expect(Buffer.from(q.readNext()!).subarray(26).toString()).toBe(`body-${i}`);
    // reopen without close or waiting: metadata lags the files; the scan salvages the rest (maybe replaying some)
    const again = open(dir, { syncEvery: 1, maxBytesPerFile: 300 });
    const got = drain(again);
    expect(got.slice(got.length - 30)).toEqual(bodies(11, 40));
    await q.whenSyncSettled();
  });

  test("metadata tmp files left by a crash are removed on open; another queue's are not touched", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "orders.diskqueue.meta.dat.12345.tmp"), "1\n0,0\n0,36\n");
    writeFileSync(join(dir, "orders:c.diskqueue.meta.dat.777.tmp"), "x");
    open(dir);
    expect(existsSync(join(dir, "orders.diskqueue.meta.dat.12345.tmp"))).toBe(false);
    expect(existsSync(join(dir, "orders:c.diskqueue.meta.dat.777.tmp"))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Disk full: a tiny tmpfs (we run as root in CI); skipped with a message where mounting is impossible.

function tryMountTmpfs(): string | null {
  const dir = mkdtempSync(join(tmpdir(), "nsq-dq-full-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return dir;
}

const fullMount = tryMountTmpfs();
if (fullMount === null) console.warn("disk-queue.test: cannot mount a 64k tmpfs (not root?); skipping the disk-full test");

describe("disk full", () => {
  afterEach(() => {
    if (fullMount !== null) for (const f of readdirSync(fullMount)) rmSync(join(fullMount, f), { recursive: true, force: true });
  });

  test.skipIf(fullMount === null)("ENOSPC throws DiskQueueError, leaves no partial record, and a later put succeeds", () => {
    const dir = join(fullMount!, "data");
    mkdirSync(dir);
    const filler = join(fullMount!, "filler");
    writeFileSync(filler, Buffer.alloc(16 * 1024));
    const q = open(dir, { maxBytesPerFile: 1024 * 1024 });
    const body = "p".repeat(1000);
    let stored = 0;
    let failure: unknown = null;
    for (let i = 0; i < 200 && failure === null; i++) {
      try {
        q.put(message(i, body));
        stored++;
      } catch (err) {
        failure = err;
      }
    }
    expect(failure).toBeInstanceOf(DiskQueueError);
    expect((failure as DiskQueueError).code).toBe("ENOSPC");
    expect((failure as Error).message).toContain("failed to write 1 record(s)");
    expect(stored).toBeGreaterThan(10);
    expect(q.depth()).toBe(stored);
    expect(statSync(dataFile(dir, 0)).size).toBe(stored * (4 + 26 + 1000)); // partial write truncated back
    // a batch that cannot fit is all-or-nothing
    expect(() => q.putMany([message(1000, body), message(1001, body), message(1002, body)])).toThrow(DiskQueueError);
    expect(q.depth()).toBe(stored);
    // free space: the next put works and everything reads back in order
    rmSync(filler);
    q.put(message(999, "after"));
    expect(q.depth()).toBe(stored + 1);
    const got = drain(q);
    expect(got.length).toBe(stored + 1);
    expect(got[stored]).toBe("after");
    expect(q.corruption.events).toBe(0);
    q.close();
    queues = queues.filter((x) => x !== q);
  });
});

afterAll(() => {
  if (fullMount !== null) {
    spawnSync("umount", ["-l", fullMount]);
    rmSync(fullMount, { recursive: true, force: true });
  }
});

describe("randomised damage", () => {
  /** Small deterministic PRNG (mulberry32) so failures are reproducible. */
  function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  test("any damage to data or metadata: open never throws, depth equals what is delivered, queue stays usable", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const random = rng(seed);
      const dir = tempDir();
      const q = open(dir, { maxBytesPerFile: 400, syncEvery: 1 + Math.floor(random() * 20) });
      const total = 20 + Math.floor(random() * 40);
      for (let i = 0; i < total; i++) q.put(message(i, "m".repeat(Math.floor(random() * 60))));
      for (let i = Math.floor(random() * total); i > 0; i--) q.readNext();
      if (random() < 0.5) q.close(); // otherwise: a crash without close (released by afterEach)

      // damage: overwrite bytes, truncate, append garbage, or scribble on the metadata
      const files = readdirSync(dir).filter((f) => f.endsWith(".dat"));
      for (let k = 0; k < 3; k++) {
        const target = join(dir, files[Math.floor(random() * files.length)]);
        const bytes = readFileSync(target);
        const kind = random();
        if (kind < 0.4 && bytes.length > 0) {
          const at = Math.floor(random() * bytes.length);
          for (let j = 0; j < 1 + random() * 8 && at + j < bytes.length; j++) bytes[at + j] = Math.floor(random() * 256);
          writeFileSync(target, bytes);
        } else if (kind < 0.7) {
          truncateSync(target, Math.floor(random() * bytes.length));
        } else if (kind < 0.85) {
          writeFileSync(target, Buffer.concat([bytes, Buffer.from([0, 0, 1, 0, 9, 9, 9])]));
        } else {
          writeFileSync(metaFile(dir), `${Math.floor(random() * 100)}\n${Math.floor(random() * 3)},${Math.floor(random() * 500)}\n${Math.floor(random() * 3)},${Math.floor(random() * 500)}\n`);
        }
      }

      const again = open(dir, { maxBytesPerFile: 400 });
      const expected = again.depth();
      let delivered = 0;
      while (again.readNext() !== null) {
        delivered++;
        if (delivered > 10_000) throw new Error(`seed ${seed}: reader loops`);
      }
      expect({ seed, delivered }).toEqual({ seed, delivered: expected });
      expect(again.depth()).toBe(0);
      again.put(message(1));
      again.close();
      const third = open(dir, { maxBytesPerFile: 400 });
      expect({ seed, depth: third.depth() }).toEqual({ seed, depth: 1 });
      expect(drain(third)).toEqual(["body-1"]);
    }
  });
});

test("--sync-every bounds unsynced acknowledged writes: N more writes while a sync is running sync at once", () => {
  const dir = tempDir();
  const q = open(dir, { syncEvery: 2 });
  const recSize = 4 + message(10).length;
  q.put(message(10));
  q.put(message(11)); // 2 writes: an asynchronous sync starts
  q.put(message(12));
  q.put(message(13)); // 2 more while it runs: synced before put returns
  // metadata written synchronously describes all four writes already
  expect(readFileSync(metaFile(dir), "latin1")).toBe(`4\n0,0\n0,${4 * recSize}\n`);
});
