/**
 * A message is kept as its wire/disk layout (spec §1.4) in one byte array:
 *   [0..8) timestamp int64 ns  [8..10) attempts uint16  [10..26) id (16 hex bytes)  [26..) body
 * Queues hold these arrays as they are; a Message object is made only when a message goes in
 * flight or is deferred (both bounded), so millions of queued messages are not millions of objects.
 */
import type { ClientV2 } from "./client.ts";
import type { Channel } from "./channel.ts";

export const MSG_HEADER_SIZE = 26;
export const MSG_ID_OFFSET = 10;
export const MSG_ATTEMPTS_OFFSET = 8;

/**
 * Wall-clock time in ms with sub-millisecond precision (Date.now() has whole ms only): the
 * monotonic clock plus an anchor to the wall clock, so message timestamps are true nanosecond
 * values (at ~256 ns resolution, a double's precision at this magnitude) and latency can be
 * measured from them. `reanchorClock()` (the broker's scan loop, once a second) keeps the anchor
 * within a millisecond of the wall clock when the system clock is adjusted.
 */
let clockAnchor = Date.now() - performance.now();

export function preciseNowMs(): number {
  return performance.now() + clockAnchor;
}

export function reanchorClock(): void {
  const anchor = Date.now() - performance.now();
  // Date.now() truncates to whole ms: move only for a real difference, not that jitter
  if (Math.abs(anchor - clockAnchor) > 1) clockAnchor = anchor;
}

/** Writes the timestamp (int64 ns since the epoch) of `nowMs` at `offset` of `out`. */
export function writeTimestamp(out: Uint8Array, offset: number, nowMs: number): void {
  const ns = Math.floor(nowMs * 1e6);
  const hi = Math.floor(ns / 4294967296);
  const lo = ns - hi * 4294967296;
  out[offset] = hi >>> 24;
  out[offset + 1] = hi >>> 16;
  out[offset + 2] = hi >>> 8;
  out[offset + 3] = hi;
  out[offset + 4] = lo >>> 24;
  out[offset + 5] = lo >>> 16;
  out[offset + 6] = lo >>> 8;
  out[offset + 7] = lo;
}

/** The message timestamp in ms (loses sub-ms precision; used for latency figures only). */
export function readTimestampMs(buf: Uint8Array): number {
  const hi = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
  const lo = ((buf[4]! << 24) | (buf[5]! << 16) | (buf[6]! << 8) | buf[7]!) >>> 0;
  return (hi * 4294967296 + lo) / 1e6;
}

export function readAttempts(buf: Uint8Array): number {
  return (buf[MSG_ATTEMPTS_OFFSET]! << 8) | buf[MSG_ATTEMPTS_OFFSET + 1]!;
}

export function writeAttempts(buf: Uint8Array, attempts: number): void {
  const a = attempts > 0xffff ? 0xffff : attempts;
  buf[MSG_ATTEMPTS_OFFSET] = a >>> 8;
  buf[MSG_ATTEMPTS_OFFSET + 1] = a & 0xff;
}

export const enum MessageState {
  InFlight = 1,
  Deferred = 2,
  Done = 3,
}

/** A message that is in flight to a client or deferred in a channel. */
export class Message {
  /** in-flight deadline or deferred due time, ms (performance-free Date.now clock) */
  deadline = 0;
  /** when it was delivered; TOUCH may not extend past deliveredAt + max-msg-timeout */
  deliveredAt = 0;
  state: MessageState = MessageState.InFlight;
  owner: ClientV2 | null = null;
  /** intrusive links of the owner's in-flight list (ordered by deadline) */
  prev: Message | null = null;
  next: Message | null = null;
  /** its record's entry in the channel's ack window (ack-window.ts), or -1 */
  windowSeq = -1;
  /** a copy of its record was appended to the disk queue and not yet read back */
  copyPending = false;

  constructor(
    /** the message layout bytes; owned by this message */
    public buf: Uint8Array,
    /** number key of the ID (see idKey) */
    public key: number,
    public channel: Channel,
  ) {}
}
