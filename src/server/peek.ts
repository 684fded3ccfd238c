/**
 * `GET /channel/peek?topic=T&channel=C&n=N` (beyond nsqd): the next N (1..100, default 1) messages
 * waiting in a channel's memory queue, oldest first, read without taking them: nothing is
 * consumed, reordered, delayed or counted as an attempt. In-flight and deferred messages are not
 * "next" and are not shown; messages waiting on disk are not read (the reply's `backend_depth`
 * says how many there are), so a channel whose backlog spilled to disk may show fewer than N.
 *
 * Each message: `id` (16 hex characters), `timestamp` (ns since the epoch as in the wire header, a decimal string),
 * `attempts` (deliveries so far), and the body as `body` (UTF-8 text) or `body_base64` (when it
 * is not valid UTF-8, or with `encoding=base64`).
 */
import type { Channel } from "./channel.ts";
import { MSG_HEADER_SIZE, MSG_ID_OFFSET, readAttempts } from "./message.ts";

export const PEEK_MAX = 100;

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
  for (const buf of ch.memQueue.peek(n)) messages.push(describe(buf, base64));
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

function describe(buf: Uint8Array, base64: boolean): PeekedMessage {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const out: PeekedMessage = {
    id: b.toString("latin1", MSG_ID_OFFSET, MSG_ID_OFFSET + 16),
    timestamp: b.readBigInt64BE(0).toString(),
    attempts: readAttempts(buf),
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
