/**
 * The data directory, as real nsqd 1.3 writes it (spec §2.9, §2.10): fixtures written byte by
 * byte open in our broker; what our broker leaves at shutdown is laid out as nsqd reads it; a
 * corrupt queue file is set aside, the rest delivered, and /stats says what was skipped.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker } from "./helpers/broker.ts";
import { subscriber } from "./helpers/raw-client.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "nsq-compat-"));
  dirs.push(d);
  return d;
}

/** One diskqueue record: int32 length, then the message layout (ts, attempts, 16-byte id, body). */
function record(id: string, attempts: number, body: string): Buffer {
  const msg = Buffer.alloc(26 + Buffer.byteLength(body));
  msg.writeBigInt64BE(1703577600000000000n, 0);
  msg.writeUInt16BE(attempts, 8);
  msg.write(id, 10, "latin1");
  msg.write(body, 26);
  const len = Buffer.alloc(4);
  len.writeInt32BE(msg.length);
  return Buffer.concat([len, msg]);
}

function writeQueue(dir: string, name: string, records: Buffer[], depth = records.length): void {
  const data = Buffer.concat(records);
  writeFileSync(join(dir, `${name}.diskqueue.000000.dat`), data, { mode: 0o600 });
  writeFileSync(join(dir, `${name}.diskqueue.meta.dat`), `${depth}\n0,0\n0,${data.length}\n`, { mode: 0o600 });
}

test("a data directory written by real nsqd opens and delivers its messages", async () => {
  const dir = tempDir();
  writeFileSync(
    join(dir, "nsqd.dat"),
    '{"topics":[{"name":"legacy","paused":false,"channels":[{"name":"c","paused":false}]}],"version":"1.3.0"}',
  );
  writeQueue(dir, "legacy:c", [record("0a1b2c3d4e5f6071", 1, "one"), record("0a1b2c3d4e5f6072", 3, "two")]);
  writeQueue(dir, "legacy", [record("0a1b2c3d4e5f6073", 0, "three")]);
  const b = await startBroker({ dataPath: dir });
  const c = await subscriber(b.tcpPort, "legacy", "c", 10);
  const got = new Map<string, { id: string; attempts: number; ts: bigint }>();
  while (got.size < 3) {
    const m = await c.readMessage();
    got.set(m.body.toString(), { id: m.id, attempts: m.attempts, ts: m.timestampNs });
    c.write(`FIN ${m.id}\n`);
  }
  expect(got.get("one")).toEqual({ id: "0a1b2c3d4e5f6071", attempts: 2, ts: 1703577600000000000n });
  expect(got.get("two")).toEqual({ id: "0a1b2c3d4e5f6072", attempts: 4, ts: 1703577600000000000n });
  expect(got.get("three")!.attempts).toBe(1);
  c.close();
  await b.stop();
});

test("what our broker leaves at shutdown is laid out as real nsqd reads it", async () => {
  const dir = tempDir();
  const b = await startBroker({ dataPath: dir, memQueueSize: 10 });
  await b.http("/channel/create?topic=out&channel=c", { method: "POST" }).then(async (r) => {
    if (r.status === 404) {
      await b.http("/topic/create?topic=out", { method: "POST" });
      await b.http("/channel/create?topic=out&channel=c", { method: "POST" });
    }
  });
  const body = Array.from({ length: 25 }, (_, i) => `m${i}`).join("\n");
  expect((await b.http("/mpub?topic=out", { method: "POST", body })).status).toBe(200);
  await b.stop();

  expect(JSON.parse(readFileSync(join(dir, "nsqd.dat"), "utf8"))).toEqual({
    topics: [{ name: "out", paused: false, channels: [{ name: "c", paused: false }] }],
    version: "1.3.0",
  });
  const meta = readFileSync(join(dir, "out:c.diskqueue.meta.dat"), "utf8");
  const m = /^(\d+)\n(\d+),(\d+)\n(\d+),(\d+)\n$/.exec(meta);
  expect(m).not.toBeNull();
  expect(Number(m![1])).toBe(25);
  // walk every record of the channel's data files from the read position
  const bodies: string[] = [];
  for (let file = Number(m![2]); file <= Number(m![4]); file++) {
    const name = join(dir, `out:c.diskqueue.${String(file).padStart(6, "0")}.dat`);
    const data = readFileSync(name);
    let pos = file === Number(m![2]) ? Number(m![3]) : 0;
    const end = file === Number(m![4]) ? Number(m![5]) : data.length;
    while (pos < end) {
      const len = data.readInt32BE(pos);
      expect(len).toBeGreaterThanOrEqual(26);
      const msg = data.subarray(pos + 4, pos + 4 + len);
      expect(msg.subarray(10, 26).toString("latin1")).toMatch(/^[0-9a-f]{16}$/);
      bodies.push(msg.subarray(26).toString());
      pos += 4 + len;
    }
  }
  expect(bodies.sort()).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`).sort());
});

test("a garbled queue file never stops the server: good records delivered, the bad part reported", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "nsqd.dat"), '{"topics":[{"name":"bad","paused":false,"channels":[{"name":"c","paused":false}]}],"version":"1.3.0"}');
  const garbage = Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8]);
  writeQueue(dir, "bad:c", [record("1111111111111111", 0, "before"), garbage, record("2222222222222222", 0, "after")], 2);
  const b = await startBroker({ dataPath: dir });
  const c = await subscriber(b.tcpPort, "bad", "c", 10);
  const got: string[] = [];
  while (got.length < 2) {
    const m = await c.readMessage();
    got.push(m.body.toString());
    c.write(`FIN ${m.id}\n`);
  }
  expect(got.sort()).toEqual(["after", "before"]);
  const stats = (await (await b.http("/stats?format=json&topic=bad")).json()) as {
    topics: { channels: { backend_corruption?: { events: number; skipped_bytes: number } }[] }[];
  };
  const corruption = stats.topics[0]!.channels[0]!.backend_corruption;
  expect(corruption?.events).toBeGreaterThan(0);
  expect(corruption?.skipped_bytes).toBeGreaterThan(0);
  expect(readdirSync(dir).some((f) => f.endsWith(".bad"))).toBe(true);
  expect(await (await b.http("/ping")).text()).toBe("OK");
  c.close();
  await b.stop();
});

test("nsqd's directory mid-consumption (read position inside a later file, older files gone) starts nsq serve; what it leaves is nsqd's format again", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "nsqd.dat"), '{"topics":[{"name":"mid","paused":false,"channels":[{"name":"c","paused":false}]}],"version":"1.3.0"}');
  // files 000003 (two records, the first one already read by nsqd) and 000004 (one record, the write file)
  const f3 = Buffer.concat([record("3333333333333331", 1, "read"), record("3333333333333332", 0, "second")]);
  const f4 = record("4444444444444441", 0, "third");
  writeFileSync(join(dir, "mid:c.diskqueue.000003.dat"), f3, { mode: 0o600 });
  writeFileSync(join(dir, "mid:c.diskqueue.000004.dat"), f4, { mode: 0o600 });
  const firstLen = record("3333333333333331", 1, "read").length;
  writeFileSync(join(dir, "mid:c.diskqueue.meta.dat"), `2\n3,${firstLen}\n4,${f4.length}\n`, { mode: 0o600 });
  const b = await startBroker({ dataPath: dir, memQueueSize: 0 });
  const c = await subscriber(b.tcpPort, "mid", "c", 10);
  const got: string[] = [];
  while (got.length < 2) {
    const m = await c.readMessage();
    got.push(m.body.toString());
    c.write(`FIN ${m.id}\n`);
  }
  expect(got).toEqual(["second", "third"]);
  expect(await c.expectNoFrame(200)).toBe(true);
  c.close();
  await b.stop();
  // read position = write position, in nsqd's three-line format; no side record once all is finished
  const meta = readFileSync(join(dir, "mid:c.diskqueue.meta.dat"), "latin1");
  const m = /^(\d+)\n(\d+),(\d+)\n(\d+),(\d+)\n$/.exec(meta);
  expect(m).not.toBeNull();
  expect(Number(m![1])).toBe(0);
  expect(`${m![2]},${m![3]}`).toBe(`${m![4]},${m![5]}`);
  expect(readdirSync(dir).filter((f) => f.endsWith(".ack.bin"))).toEqual([]);
});
