/**
 * Latency histogram with fixed memory and O(1) recording: 1 µs buckets up to 100 ms, then one
 * bucket per ms up to 60 s (anything later lands in the last one).
 */
const FINE_LIMIT_US = 100_000;
const COARSE_LIMIT_MS = 60_000;

export class LatencyHistogram {
  private readonly fine = new Uint32Array(FINE_LIMIT_US);
  private readonly coarse = new Uint32Array(COARSE_LIMIT_MS + 1);
  count = 0;
  maxUs = 0;
  /** negative samples (clock differences between processes) are clamped to 0 and counted */
  negative = 0;

  recordUs(us: number): void {
    if (us < 0) {
      this.negative++;
      us = 0;
    }
    if (us < FINE_LIMIT_US) this.fine[us | 0]!++;
    else this.coarse[Math.min((us / 1000) | 0, COARSE_LIMIT_MS)]!++;
    if (us > this.maxUs) this.maxUs = us;
    this.count++;
  }

  /** The latency (µs) at or below which `q` (0..1) of the samples fall; 0 without samples. */
  quantileUs(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < FINE_LIMIT_US; i++) {
      seen += this.fine[i]!;
      if (seen >= rank) return i;
    }
    for (let i = 0; i <= COARSE_LIMIT_MS; i++) {
      seen += this.coarse[i]!;
      if (seen >= rank) return i * 1000;
    }
    return this.maxUs;
  }
}
