/**
 * The disk queue in ack mode (issue 20), without a broker: the metadata's read position moves only
 * past acknowledged records, data files stay until then, and a message that holds the head back
 * for too long is copied forward so the window and the files stay bounded.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskQueue } from "../src/server/disk-queue.ts";
import { ReadVerdict } from "../src/server/ack-window.ts";
import { Message, MessageState } from "../src/server/message.ts";
import { silentLogger } from "../src/util/logger.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function open(dir: string, maxBytesPerFile = 100 * 1024 * 1024): DiskQueue {
  return new DiskQueue({
    name: "t:c",
    dataPath: dir,
    maxBytesPerFile,
    minMsgSize: 26,
    maxMsgSize: 1024,
    syncEvery: 1,
    syncTimeout: 2000,
    logger: silentLogger,
  });
}

function record(i: number): Buffer {
  const b = Buffer.alloc(26 + 8);
  b.writeUInt16BE(0, 8);
  b.write(i.toString(16).padStart(16, "0"), 10, "latin1");
  b.write(`body-${i}`.padEnd(8), 26);
  return b;
}

function metaReadPosition(dir: string): string {
  return readFileSync(join(dir, "t:c.diskqueue.meta.dat"), "latin1").split("\n")[1]!;
}

function dataFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => /\.diskqueue\.\d{6}\.dat$/.test(f));
}

test("the metadata's read position moves only past acknowledged records; read files stay until then", () => {
  const dir = mkdtempSync(join(tmpdir(), "nsq-ackq-"));
  dirs.push(dir);
  const q = open(dir, 400); // ~10 records per file
  for (let i = 0; i < 50; i++) q.put(record(i));
  const w = q.trackAcks();
  const msgs: Message[] = [];
  for (let i = 0; i < 50; i++) {
    const rec = q.readNext()!;
    expect(w.onRead(rec)).toBe(ReadVerdict.Deliver);
    const m = new Message(rec, i, null as never);
    w.bind(w.lastSeq, m);
    msgs.push(m);
  }
  expect(q.depth()).toBe(0);
  for (let i = 1; i < 50; i++) w.release(msgs[i]!); // everything but the first
  q.sync();
  expect(metaReadPosition(dir)).toBe("0,0"); // the first record still holds the head
  expect(dataFiles(dir).length).toBeGreaterThanOrEqual(5); // nothing deleted yet
  w.release(msgs[0]!);
  q.close();
  expect(dataFiles(dir).length).toBe(1); // only the write file is left
  expect(existsSync(join(dir, "t:c.diskqueue.ack.bin"))).toBe(false); // nothing outstanding
  const again = open(dir);
  expect(again.readNext()).toBeNull();
  again.close();
});

test("a message holding the head back while many records pass is copied forward; the copy is adopted when read", () => {
  const dir = mkdtempSync(join(tmpdir(), "nsq-ackq-"));
  dirs.push(dir);
  const q = open(dir);
  const n = 40_000;
  for (let i = 0; i < n; i += 1000) q.putMany(Array.from({ length: 1000 }, (_, k) => record(i + k)));
  const w = q.trackAcks();
  let slow: Message | null = null;
  for (let i = 0; i < n; i++) {
    const rec = q.readNext()!;
    w.onRead(rec);
    const m = new Message(rec, i, null as never);
    m.state = MessageState.InFlight;
    w.bind(w.lastSeq, m);
    if (i === 0) slow = m;
    else w.release(m); // FINished at once
  }
  // the slow message was written again at the end and its old record let go
  expect(slow!.windowSeq).toBe(-1);
  expect(slow!.copyPending).toBe(true);
  expect(q.depth()).toBe(1);
  q.sync();
  expect(metaReadPosition(dir)).not.toBe("0,0");
  const copy = q.readNext()!;
  expect(Buffer.from(copy).subarray(10, 26).toString("latin1")).toBe((0).toString(16).padStart(16, "0"));
  expect(w.onRead(copy)).toBe(ReadVerdict.Skip); // not delivered twice: it is the slow message's new place
  expect(slow!.windowSeq).toBeGreaterThanOrEqual(0);
  expect(slow!.copyPending).toBe(false);
  slow!.state = MessageState.Done;
  w.release(slow!);
  q.close();
  const again = open(dir);
  expect(again.readNext()).toBeNull();
  again.close();
});
