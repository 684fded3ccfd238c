/**
 * InFlightIndex: the open-addressing table behaves as a map from message ID to message, through
 * growth, tombstones, shared 13-digit keys (collisions) and IDs that are not hex.
 */
import { expect, test } from "bun:test";
import { InFlightIndex } from "../src/server/in-flight-queue.ts";
import { Message, MSG_ID_OFFSET } from "../src/server/message.ts";
import { idKey } from "../src/protocol/hex.ts";
import type { Channel } from "../src/server/channel.ts";

function msg(id: string): Message {
  const buf = new Uint8Array(26);
  buf.set(Buffer.from(id, "latin1"), MSG_ID_OFFSET);
  return new Message(buf, idKey(buf, MSG_ID_OFFSET), null as unknown as Channel);
}

function idBytes(id: string): Uint8Array {
  return Buffer.from(id, "latin1");
}

test("add, find, remove through growth and tombstones match a reference map", () => {
  const index = new InFlightIndex();
  const ref = new Map<string, Message>();
  let next = 0;
  const live: string[] = [];
  for (let round = 0; round < 50_000; round++) {
    // a sliding window that grows to 6,000 then churns, as consumers FIN the oldest messages
    if (live.length < 6000 || round % 3 !== 0) {
      const id = (0x5f3a000000000 + next++ * 4097).toString(16).padStart(16, "0");
      const m = msg(id);
      index.add(m);
      ref.set(id, m);
      live.push(id);
    }
    if (live.length > 5000 || round % 7 === 0) {
      const id = live.shift()!;
      expect(index.find(idBytes(id), 0)).toBe(ref.get(id)!);
      index.remove(ref.get(id)!);
      ref.delete(id);
      expect(index.find(idBytes(id), 0)).toBeUndefined();
    }
  }
  expect(index.size).toBe(ref.size);
  for (const [id, m] of ref) expect(index.find(idBytes(id), 0)).toBe(m);
  expect(new Set(index.values())).toEqual(new Set(ref.values()));
});

test("IDs sharing their last 13 digits, and non-hex IDs, are kept apart", () => {
  const index = new InFlightIndex();
  const a = msg("000123456789abcd");
  const b = msg("100123456789abcd"); // same 13-digit key as a
  const c = msg("zz0123456789abcd"); // same key again, not hex in the first digits
  const d = msg("not-a-hex-id-!!!"); // no key at all
  // an ID differing only in case is another ID (nsqd compares bytes)
  expect(index.find(idBytes("000123456789ABCD"), 0)).toBeUndefined();
  expect(index.find(idBytes("000123456789abcD"), 0)).toBeUndefined();
  for (const m of [a, b, c, d]) index.add(m);
  expect(index.size).toBe(4);
  for (const m of [a, b, c, d]) expect(index.find(m.buf, MSG_ID_OFFSET)).toBe(m);
  expect(index.find(idBytes("000123456789ABCD"), 0)).toBeUndefined();
  expect(index.find(idBytes("200123456789abcd"), 0)).toBeUndefined();
  const upper = msg("000123456789ABCD"); // no key (not lowercase): kept by its bytes
  index.add(upper);
  expect(index.find(idBytes("000123456789ABCD"), 0)).toBe(upper);
  expect(index.find(idBytes("000123456789abcd"), 0)).toBe(a);
  index.remove(upper);
  index.remove(a); // b or c is promoted into the table
  expect(index.find(a.buf, MSG_ID_OFFSET)).toBeUndefined();
  expect(index.find(b.buf, MSG_ID_OFFSET)).toBe(b);
  expect(index.find(c.buf, MSG_ID_OFFSET)).toBe(c);
  index.remove(c);
  index.remove(d);
  expect(index.find(b.buf, MSG_ID_OFFSET)).toBe(b);
  expect(index.size).toBe(1);
  index.clear();
  expect(index.size).toBe(0);
  expect(index.find(b.buf, MSG_ID_OFFSET)).toBeUndefined();
});
