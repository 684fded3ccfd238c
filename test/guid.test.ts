/** Message IDs (spec §1.5): 16 lowercase hex digits of a snowflake-like number, unique per topic. */
import { expect, test } from "bun:test";
import { GuidFactory } from "../src/server/guid.ts";

const TWEPOCH = 1288834974288n;

function next(g: GuidFactory, nowMs: number): string {
  const out = Buffer.alloc(16);
  g.writeNext(out, 0, nowMs);
  return out.toString("latin1");
}

test("layout: ((ts - epoch) << 22) | (node << 12) | seq with ts = unix ns >> 20", () => {
  const g = new GuidFactory(513);
  const now = 1795686260435;
  const id = BigInt("0x" + next(g, now));
  const tick = (BigInt(now) * 1000000n) >> 20n;
  expect(id >> 22n).toBe(tick - TWEPOCH);
  expect((id >> 12n) & 1023n).toBe(513n);
  expect(id & 4095n).toBe(0n);
  expect(BigInt("0x" + next(g, now)) & 4095n).toBe(1n);
});

test("unique and increasing, even past 4096 IDs within one tick and when the clock goes back", () => {
  const g = new GuidFactory(7);
  const now = 1795686260435;
  let last = -1n;
  const seen = new Set<string>();
  for (let i = 0; i < 20000; i++) {
    const id = next(g, i === 15000 ? now - 5000 : now);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    const v = BigInt("0x" + id);
    expect(v > last).toBe(true);
    last = v;
    seen.add(id);
  }
  expect(seen.size).toBe(20000);
});

test("node id must be 0..1023", () => {
  expect(() => new GuidFactory(1024)).toThrow(/0\.\.1023/);
  expect(() => new GuidFactory(-1)).toThrow();
});

test("message timestamps are nanoseconds with sub-millisecond precision, close to the wall clock", async () => {
  const { writeTimestamp, preciseNowMs } = await import("../src/server/message.ts");
  const stamps: bigint[] = [];
  for (let i = 0; i < 3; i++) {
    const buf = Buffer.alloc(8);
    writeTimestamp(buf, 0, preciseNowMs());
    stamps.push(buf.readBigInt64BE(0));
  }
  expect(stamps.some((ns) => ns % 1_000_000n !== 0n)).toBe(true);
  expect(Number(stamps[2]! / 1_000_000n)).toBeGreaterThanOrEqual(Date.now() - 1000);
  expect(stamps[2]! >= stamps[0]!).toBe(true);
});
