/**
 * `GET /channel/peek?topic=T&channel=C&n=N` (beyond nsqd): the next N (1..100, default 1) messages
 * of a channel in the order it will deliver them — from its memory queue and from its disk queue,
 * interleaved as Channel.take() alternates between them — read without taking them: nothing is
 * consumed, reordered, delayed or counted as an attempt, and the disk queue's read position, ack
 * window and crash-safe positions are untouched (disk-queue-peek.ts reads the records with a
 * descriptor of its own). In-flight and deferred messages are not "next" and are not shown; nor are
 * disk records the channel will pass over (copies of messages held in memory, finished ones, ones
 * whose deferral resumes when read).
 *
 * The disk part is a small synchronous read on the event loop, bounded by N plus the records it may
 * pass over and by PEEK_DISK_BYTES (at least one record): the queue's own reads are synchronous, a
 * snapshot taken there cannot race the reader, and these records are the ones read next (usually
 * in the page cache). A peek that hits the byte budget shows fewer than N messages.
 *
 * Each message: `id` (16 hex characters), `timestamp` (ns since the epoch as in the wire header, a decimal string),
 * `attempts` (deliveries so far), and the body as `body` (UTF-8 text) or `body_base64` (when it
 * is not valid UTF-8, or with `encoding=base64`).
 */
import type { Channel } from "./channel.ts";
import { MSG_HEADER_SIZE, MSG_ID_OFFSET, readAttempts } from "./message.ts";

export const PEEK_MAX = 100;
/** Disk bytes one peek reads at most (it always reads at least one record). */
export const PEEK_DISK_BYTES = 4 * 1024 * 1024;

export interface PeekedMessage {
  id: string;
  /** nanoseconds since the epoch, as a decimal string (exact: int64 does not fit a JSON number) */
  timestamp: string;
  attempts: number;
  body?: string;
  body_base64?: string;
}

export interface PeekReply {
  topic: string;
  channel: string;
  depth: number;
  backend_depth: number;
  in_flight_count: number;
  deferred_count: number;
  messages: PeekedMessage[];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function peekChannel(ch: Channel, n: number, base64: boolean): PeekReply {
  const messages: PeekedMessage[] = [];
  for (const next of nextMessages(ch, n)) messages.push(describe(next.buf, next.attempts, base64));
  return {
    topic: ch.topic.name,
    channel: ch.name,
    depth: ch.depth(),
    backend_depth: ch.backendDepth(),
    in_flight_count: ch.inFlight.size,
    deferred_count: ch.deferredCount(),
    messages,
  };
}

/** A message as it will be delivered: its bytes, and the attempts its delivery starts from. */
interface NextMessage {
  buf: Uint8Array;
  attempts: number;
}

/** The channel's next `n` messages, in take()'s order. */
function nextMessages(ch: Channel, n: number): NextMessage[] {
  const mem = ch.memQueue.peek(n);
  // disk records in read order; attempts -1: take() reads it but passes over it (its turn still counts)
  const disk: NextMessage[] = [];
  let diskComplete = true;
  const backend = ch.backend;
  if (backend?.peekRecords !== undefined && backend.depth() > 0) {
    const filter = ch.ackWindow?.peekFilter() ?? null;
    const restore = ch.restoredDeferred;
    const now = Date.now();
    const passOver = (ch.ackWindow?.hiddenRecords() ?? 0) + (restore?.size ?? 0);
    let deliverable = 0;
    const reachedEnd = backend.peekRecords(
      (buf, file, end) => {
        let attempts = filter === null ? readAttempts(buf) : filter(buf, file, end);
        if (attempts >= 0 && restore !== null && restore.defers(buf, now)) attempts = -1;
        disk.push({ buf, attempts });
        if (attempts >= 0) deliverable++;
        return deliverable < n;
      },
      n + passOver,
      PEEK_DISK_BYTES,
    );
    diskComplete = reachedEnd || deliverable >= n;
  }
  // Channel.take(): disk while it has records and it is disk's turn or memory is empty; a record passed over
  // still ends disk's turn when memory has messages.
  const out: NextMessage[] = [];
  let m = 0;
  let d = 0;
  let preferDisk = ch.nextFromDisk;
  while (out.length < n) {
    let took = false;
    while (preferDisk || m >= mem.length) {
      if (d >= disk.length) {
        if (!diskComplete) return out; // beyond what the budget allowed to read: don't guess
        break;
      }
      preferDisk = false;
      const next = disk[d++]!;
      if (next.attempts < 0) continue;
      out.push(next);
      took = true;
      break;
    }
    if (took) continue;
    preferDisk = true;
    if (m >= mem.length) break;
    const buf = mem[m++]!;
    out.push({ buf, attempts: readAttempts(buf) });
  }
  return out;
}

function describe(buf: Uint8Array, attempts: number, base64: boolean): PeekedMessage {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const out: PeekedMessage = {
    id: b.toString("latin1", MSG_ID_OFFSET, MSG_ID_OFFSET + 16),
    timestamp: b.readBigInt64BE(0).toString(),
    attempts,
  };
  const body = b.subarray(MSG_HEADER_SIZE);
  if (!base64) {
    try {
      out.body = utf8.decode(body);
      return out;
    } catch {
      // not text: base64 below
    }
  }
  out.body_base64 = body.toString("base64");
  return out;
}
