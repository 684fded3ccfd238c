/**
 * The in-memory FIFO of a topic or channel, storing messages packed as they arrived: one MPUB is
 * one buffer with an offset table, not one object per message. A view (subarray) is made only
 * when a message is taken out — to go in flight, to disk, or to another queue — so a million
 * queued messages are a few thousand live objects, which keeps the GC's marking work and the
 * resident memory small (perf-notes item 2).
 */
import { RingQueue } from "./ring-queue.ts";

/** Messages stored back to back in `buf`; message i spans offsets[i] .. offsets[i+1]. */
class Segment {
  /** buf's memory and where buf starts in it, read once: `buf.buffer` is a getter call on a Buffer */
  readonly memory: ArrayBufferLike;
  readonly base: number;
  constructor(
    readonly buf: Uint8Array,
    /** null for a segment holding exactly one message (the whole buffer) */
    readonly offsets: Int32Array | null,
    public next: number,
    readonly end: number,
  ) {
    this.memory = buf.buffer;
    this.base = buf.byteOffset;
  }
}

export class MessageQueue {
  private readonly segments = new RingQueue<Segment>(16);
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** Appends one message. */
  push(msg: Uint8Array): void {
    this.segments.push(new Segment(msg, null, 0, 1));
    this.count++;
  }

  /**
   * Appends messages [from, to) of a packed batch. `buf` must not change afterwards except
   * through views of its messages; `offsets` may be shared between queues (it is never written).
   */
  pushBatch(buf: Uint8Array, offsets: Int32Array, from: number, to: number): void {
    if (to <= from) return;
    this.segments.push(new Segment(buf, offsets, from, to));
    this.count += to - from;
  }

  /** Removes and returns the oldest message as a view of its batch. */
  shift(): Uint8Array | undefined {
    const seg = this.segments.peek();
    if (seg === undefined) return undefined;
    let msg: Uint8Array;
    if (seg.offsets === null) {
      msg = seg.buf;
      seg.next = 1;
    } else {
      // a plain view: Buffer#subarray costs twice as much, once per delivered message
      const from = seg.offsets[seg.next]!;
      msg = new Uint8Array(seg.memory, seg.base + from, seg.offsets[seg.next + 1]! - from);
      seg.next++;
    }
    if (seg.next >= seg.end) this.segments.shift();
    this.count--;
    return msg;
  }

  /**
   * Removes the oldest run of messages that share one buffer, for moving on as a batch
   * (topic → channels). Returns null when empty.
   */
  shiftRun(max = Infinity): { buf: Uint8Array; offsets: Int32Array | null; from: number; to: number } | null {
    const seg = this.segments.peek();
    if (seg === undefined || max <= 0) return null;
    const from = seg.next;
    const to = Math.min(seg.end, from + max);
    seg.next = to;
    if (seg.next >= seg.end) this.segments.shift();
    this.count -= to - from;
    return { buf: seg.buf, offsets: seg.offsets, from, to };
  }

  /** Views of the oldest `max` messages, left in the queue (GET /channel/peek). */
  peek(max: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let s = 0; out.length < max; s++) {
      const seg = this.segments.at(s);
      if (seg === undefined) break;
      if (seg.offsets === null) out.push(seg.buf);
      else for (let i = seg.next; i < seg.end && out.length < max; i++) out.push(seg.buf.subarray(seg.offsets[i]!, seg.offsets[i + 1]!));
    }
    return out;
  }

  clear(): void {
    this.segments.clear();
    this.count = 0;
  }

  /** Removes and returns every message, oldest first, as views. */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let m = this.shift(); m !== undefined; m = this.shift()) out.push(m);
    return out;
  }
}

/** Views of messages [from, to) of a packed batch. */
export function batchViews(buf: Uint8Array, offsets: Int32Array | null, from: number, to: number): Uint8Array[] {
  if (offsets === null) return [buf];
  const out: Uint8Array[] = new Array(to - from);
  for (let i = from; i < to; i++) out[i - from] = buf.subarray(offsets[i]!, offsets[i + 1]!);
  return out;
}
