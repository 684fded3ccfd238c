/**
 * The byte plumbing both ends of the bench share (BenchConnection in wire.ts, the sink's
 * connections in sink.ts): a reused growable FIFO for bytes split across chunks, and a writer
 * that hands the socket what it takes and keeps the unwritten tail for `drain`. Nothing here
 * allocates per message: buffers grow by doubling and are reused.
 */

/** A growable byte buffer used as a FIFO: append at the end, consume from the front. */
export class ByteQueue {
  bytes: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  /** Appends src[from..to). */
  append(src: Uint8Array, from: number, to: number): void {
    const needed = this.length + (to - from);
    if (needed > this.bytes.length) {
      const grown = new Uint8Array(Math.max(needed, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(src.subarray(from, to), this.length);
    this.length = needed;
  }

  /** Drops the first `count` bytes. */
  consume(count: number): void {
    this.bytes.copyWithin(0, count, this.length);
    this.length -= count;
  }
}

/** What BufferedWriter writes to: Bun's socket.write, which returns how many bytes it took. */
export interface ByteSink {
  write(data: Uint8Array): number;
}

/**
 * Writes whole batches with one `write()`; an unwritten tail is copied into the pending queue and
 * flushed by `flushPending` on drain, so callers may reuse their buffers as soon as `write` returns.
 */
export class BufferedWriter {
  private readonly pending = new ByteQueue(64 * 1024);

  constructor(private readonly sink: ByteSink) {}

  /** true while earlier bytes still wait for `drain` */
  get blocked(): boolean {
    return this.pending.length > 0;
  }

  /** Writes bytes[0..length) (or queues them behind unwritten bytes). */
  write(bytes: Uint8Array, length = bytes.length): void {
    if (this.pending.length > 0) {
      this.pending.append(bytes, 0, length);
      return;
    }
    const view = length === bytes.length ? bytes : bytes.subarray(0, length);
    const written = this.sink.write(view);
    if (written < length) this.pending.append(bytes, Math.max(written, 0), length);
  }

  /** On drain: writes what is pending; true when nothing is left waiting. */
  flushPending(): boolean {
    if (this.pending.length === 0) return true;
    const written = this.sink.write(this.pending.bytes.subarray(0, this.pending.length));
    if (written > 0) this.pending.consume(written);
    return this.pending.length === 0;
  }
}

/** The big-endian uint32 at buf[at..at+4) (frame and body sizes). */
export function readUint32BE(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}
