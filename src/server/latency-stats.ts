/**
 * End-to-end processing latency (FIN time − message timestamp) over a sliding window made of
 * two half-window buckets, the older dropped every half window, as nsqd does (spec §3.6).
 * Each bucket keeps a bounded reservoir sample so memory stays flat under any load.
 */
const RESERVOIR = 4096;
const NO_SAMPLES = new Float64Array(0);

const FIRST_SAMPLES = 64;

class Bucket {
  /** grows on demand up to RESERVOIR: an idle channel holds no sample buffer (nsq issue 21) */
  samples = NO_SAMPLES;
  filled = 0;
  seen = 0;
  add(v: number): void {
    this.seen++;
    if (this.filled < RESERVOIR) {
      if (this.filled === this.samples.length) this.grow();
      this.samples[this.filled++] = v;
    } else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < RESERVOIR) this.samples[j] = v;
    }
  }

  private grow(): void {
    const next = new Float64Array(Math.min(RESERVOIR, Math.max(FIRST_SAMPLES, this.samples.length * 2)));
    next.set(this.samples);
    this.samples = next;
  }
}

import type { PercentileValue } from "../protocol/stats-types.ts";

export type { PercentileValue };

export class LatencyStats {
  private current = new Bucket();
  private previous = new Bucket();
  private bucketStart: number;

  constructor(
    readonly percentiles: number[],
    private readonly windowMs: number,
    now: number = Date.now(),
  ) {
    this.bucketStart = now;
  }

  add(latencyMs: number, now: number): void {
    this.rotate(now);
    // a message stamped by another node whose clock runs ahead would give a negative latency
    this.current.add(latencyMs > 0 ? latencyMs : 0);
  }

  private rotate(now: number): void {
    const half = this.windowMs / 2;
    if (now - this.bucketStart < half) return;
    this.previous = now - this.bucketStart < this.windowMs ? this.current : new Bucket();
    this.current = new Bucket();
    this.bucketStart = now;
  }

  /** samples in the window and the configured percentiles (ns), or null when empty */
  result(now: number = Date.now()): { count: number; percentiles: PercentileValue[] | null } {
    this.rotate(now);
    const count = this.current.seen + this.previous.seen;
    if (count === 0) return { count: 0, percentiles: null };
    const all = new Float64Array(this.current.filled + this.previous.filled);
    all.set(this.current.samples.subarray(0, this.current.filled));
    all.set(this.previous.samples.subarray(0, this.previous.filled), this.current.filled);
    all.sort();
    return { count, percentiles: this.percentiles.map((q) => ({ quantile: q, value: Math.round(pick(all, q) * 1e6) })) };
  }

  /** the raw samples (ms) of the window, for merging a topic's channels */
  samples(now: number = Date.now()): { seen: number; values: Float64Array } {
    this.rotate(now);
    const values = new Float64Array(this.current.filled + this.previous.filled);
    values.set(this.current.samples.subarray(0, this.current.filled));
    values.set(this.previous.samples.subarray(0, this.previous.filled), this.current.filled);
    return { seen: this.current.seen + this.previous.seen, values };
  }
}

export function pick(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx]!;
}
