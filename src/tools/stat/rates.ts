/**
 * Per-second rates from successive /stats counter samples, and the short rate history behind each
 * sparkline. Work happens in rounds (one per poll): keys not seen in a round are forgotten, so a
 * node that goes down and comes back starts a fresh baseline instead of showing a bogus spike.
 *
 * A rate is the counter's change over a sliding window (default 5 s), not over the last poll
 * alone: traffic that arrives in bursts (a publisher flushing every second, polls landing just
 * before or after a flush) then reads as its average instead of jumping between 0 and double.
 */

interface CounterSample {
  value: number;
  /** a second counter sampled with the first (a row's "out" beside its "in"); 0 when unused */
  value2: number;
  atMs: number;
}

/** Rates of the two counters of rates(); null before two samples or after a reset. */
export interface RatePair {
  rate: number | null;
  rate2: number | null;
}

interface Counter {
  /** oldest first; samples[0] is the base the rate is measured from */
  samples: CounterSample[];
  round: number;
}

interface Series {
  values: number[];
  round: number;
}

export const DEFAULT_HISTORY_LENGTH = 60;
const NO_RATES: RatePair = Object.freeze({ rate: null, rate2: null });
export const DEFAULT_RATE_WINDOW_MS = 5000;

export class RateTracker {
  private readonly counters = new Map<string, Counter>();
  private readonly series = new Map<string, Series>();
  private round = 0;

  /** `rateWindowMs` 0: the rate since the previous poll only (unsmoothed) */
  constructor(
    readonly historyLength = DEFAULT_HISTORY_LENGTH,
    readonly rateWindowMs = DEFAULT_RATE_WINDOW_MS,
  ) {}

  /** Starts a poll round; call endRound() once every sample of the round was recorded. */
  beginRound(): void {
    this.round++;
  }

  /**
   * Records a cumulative counter; returns its per-second rate over the window (from the newest
   * sample at least a window old, or the oldest one kept), or null for the first sample and
   * after a counter went backwards (node restarted / emptied: the window starts again).
   */
  counter(key: string, value: number, atMs: number): number | null {
    return this.rates(key, value, 0, atMs).rate;
  }

  /**
   * Two counters of one row under one key (one map entry for both: with 10,000 topics a poll
   * records tens of thousands of them). `value` going back resets the window; `value2` may go
   * back by itself (a channel's messages − depth does when messages are requeued), and then its
   * rate is null for as long as the window spans the drop.
   */
  rates(key: string, value: number, value2: number, atMs: number): RatePair {
    const c = this.counters.get(key);
    const sample = { value, value2, atMs };
    if (!c) {
      this.counters.set(key, { samples: [sample], round: this.round });
      return NO_RATES;
    }
    // a second sample of the same key in one round replaces the first (no rate from it)
    if (c.round === this.round) {
      c.samples[c.samples.length - 1] = sample;
      return NO_RATES;
    }
    c.round = this.round;
    const last = c.samples[c.samples.length - 1]!;
    if (value < last.value || atMs <= last.atMs) {
      c.samples = [sample];
      return NO_RATES;
    }
    c.samples.push(sample);
    const edge = atMs - this.rateWindowMs;
    while (c.samples.length > 2 && c.samples[1]!.atMs <= edge) c.samples.shift();
    const base = c.samples[0]!;
    const dtSec = (atMs - base.atMs) / 1000;
    const rate2 = value2 >= base.value2 ? (value2 - base.value2) / dtSec : null;
    return { rate: (value - base.value) / dtSec, rate2 };
  }

  /** Appends a rate (null counts as 0) to a key's history and returns the history. */
  record(key: string, rate: number | null): readonly number[] {
    let s = this.series.get(key);
    if (!s) {
      s = { values: [], round: this.round };
      this.series.set(key, s);
    }
    if (s.round !== this.round || s.values.length === 0) s.values.push(rate ?? 0);
    else s.values[s.values.length - 1] = rate ?? 0;
    s.round = this.round;
    if (s.values.length > this.historyLength) s.values.splice(0, s.values.length - this.historyLength);
    return s.values;
  }

  history(key: string): readonly number[] {
    return this.series.get(key)?.values ?? [];
  }

  /** Forgets every key that was not touched in the current round. */
  endRound(): void {
    for (const [k, s] of this.counters) if (s.round !== this.round) this.counters.delete(k);
    for (const [k, s] of this.series) if (s.round !== this.round) this.series.delete(k);
  }

  get size(): number {
    return this.counters.size + this.series.size;
  }
}

/** Sums rates, treating null (no baseline yet) as unknown only when every part is unknown. */
export function sumRates(rates: ReadonlyArray<number | null>): number | null {
  let total: number | null = null;
  for (const r of rates) if (r !== null) total = (total ?? 0) + r;
  return total;
}

const BARS = "▁▂▃▄▅▆▇█";

/**
 * Renders the last `width` values as block characters scaled to the largest of them; a flat
 * zero history is a row of the lowest bar so the column keeps its width.
 */
export function sparkline(values: readonly number[], width: number): string {
  if (width <= 0) return "";
  const tail = values.slice(Math.max(0, values.length - width));
  let max = 0;
  for (const v of tail) if (v > max) max = v;
  let out = " ".repeat(width - tail.length);
  for (const v of tail) {
    const level = max <= 0 || v <= 0 ? 0 : Math.max(1, Math.round((v / max) * (BARS.length - 1)));
    out += BARS[level];
  }
  return out;
}
