/**
 * What the load generator puts in a message body so the reader can check a run without any
 * per-message object: every body of at least STAMP_SIZE bytes starts with
 *   [0..8)   float64 BE  publish time, ms since the Unix epoch (for publish→consume latency)
 *   [8..12)  uint32 BE   sequence number within the run (0, 1, 2, … in publish order)
 *   [12..16) uint32 BE   run id (random per run), so messages left in the topic by other runs
 *                        are told apart from this run's
 * The rest is zeros, like nsq's bench_writer.
 */
export const STAMP_SIZE = 16;

export function randomRunId(): number {
  return (Math.random() * 0xffffffff) >>> 0 || 1;
}

/**
 * Remembers which sequence numbers arrived (one bit each), to count duplicates and, against the
 * number the writer had acknowledged, losses.
 */
export class SequenceTracker {
  private bits = new Uint8Array(1 << 20);
  unique = 0;
  duplicates = 0;

  /** Records `seq`; returns false when it had been seen before. */
  record(seq: number): boolean {
    const byte = seq >>> 3;
    if (byte >= this.bits.length) this.grow(byte);
    const mask = 1 << (seq & 7);
    if ((this.bits[byte]! & mask) !== 0) {
      this.duplicates++;
      return false;
    }
    this.bits[byte] = this.bits[byte]! | mask;
    this.unique++;
    return true;
  }

  private grow(byte: number): void {
    let size = this.bits.length;
    while (size <= byte) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bits);
    this.bits = grown;
  }
}
