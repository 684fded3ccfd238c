/**
 * Per-second rates from successive /stats counter samples, and the short rate history behind each
 * sparkline. Work happens in rounds (one per poll): keys not seen in a round are forgotten, so a
 * node that goes down and comes back starts a fresh baseline instead of showing a bogus spike.
 */

interface CounterSample {
  value: number;
  atMs: number;
  round: number;
}

interface Series {
  values: number[];
  round: number;
}

export const DEFAULT_HISTORY_LENGTH = 60;

export class RateTracker {
  private readonly counters = new Map<string, CounterSample>();
  private readonly series = new Map<string, Series>();
  private round = 0;

  constructor(private readonly historyLength = DEFAULT_HISTORY_LENGTH) {}

  /** Starts a poll round; call endRound() once every sample of the round was recorded. */
  beginRound(): void {
    this.round++;
  }

  /**
   * Records a cumulative counter; returns its per-second rate since the previous round's sample,
   * or null for the first sample and after a counter went backwards (node restarted / emptied).
   */
  counter(key: string, value: number, atMs: number): number | null {
    const prev = this.counters.get(key);
    this.counters.set(key, { value, atMs, round: this.round });
    if (!prev || prev.round === this.round) return null;
    const dtSec = (atMs - prev.atMs) / 1000;
    if (dtSec <= 0 || value < prev.value) return null;
    return (value - prev.value) / dtSec;
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
