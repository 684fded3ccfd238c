/**
 * The status lines nsq_to_http and nsq_to_nsq print (bitly/timer_metrics): every `statusEvery`
 * recorded durations, one line with the 99th/95th percentile and the mean of the last window,
 * written like Go's standard logger (`2006/01/02 15:04:05 <line>` on stderr).
 */

export type LineSink = (line: string) => void;

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** Go's `log.Printf` with the default flags: local date and time to the second. */
export function goLogLine(message: string, now = new Date()): string {
  const d = now;
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${message}\n`;
}

export const stderrGoLog: LineSink = (message) => {
  process.stderr.write(goLogLine(message));
};

export interface TimerStats {
  prefix: string;
  count: number;
  /** milliseconds */
  avg: number;
  p95: number;
  p99: number;
}

/** timer_metrics' percentile: index ceil(perc/100 × n + 0.5), clamped to the last. */
function percentile(perc: number, sorted: number[]): number {
  const n = sorted.length;
  if (n === 0) return 0;
  let index = Math.ceil((perc / 100) * n + 0.5);
  if (index >= n) index = n - 1;
  return sorted[index]!;
}

export function formatTimerStats(s: TimerStats): string {
  return `${s.prefix} finished ${s.count} - 99th: ${s.p99.toFixed(2)}ms - 95th: ${s.p95.toFixed(2)}ms - avg: ${s.avg.toFixed(2)}ms`;
}

export class TimerMetrics {
  private readonly timings: number[] = [];
  private position = 0;

  /** `statusEvery` 0 disables recording and printing (as timer_metrics does). */
  constructor(
    private readonly statusEvery: number,
    readonly prefix: string,
    private readonly sink: LineSink = stderrGoLog,
  ) {
    if (statusEvery > 0 && statusEvery < 100) {
      sink(`Warning: use more than 100 status values for accurate percentiles (configured with ${statusEvery})`);
    }
  }

  get enabled(): boolean {
    return this.statusEvery > 0;
  }

  /** Records the time since `startMs` (performance.now() milliseconds). */
  status(startMs: number): void {
    if (this.statusEvery === 0) return;
    this.record(performance.now() - startMs);
  }

  /** timer_metrics' ring: the line is printed when the window wraps, i.e. on record statusEvery + 1. */
  record(durationMs: number): void {
    if (this.statusEvery === 0) return;
    this.position++;
    let looped = false;
    if (this.position > this.statusEvery) {
      looped = true;
      this.position = 1;
    }
    if (this.position > this.timings.length) this.timings.push(durationMs);
    else this.timings[this.position - 1] = durationMs;
    if (looped) this.sink(formatTimerStats(this.stats()));
  }

  stats(): TimerStats {
    const sorted = [...this.timings].sort((a, b) => a - b);
    const total = this.timings.reduce((a, b) => a + b, 0);
    return {
      prefix: this.prefix,
      count: this.timings.length,
      avg: this.timings.length > 0 ? total / this.timings.length : 0,
      p95: percentile(95, sorted),
      p99: percentile(99, sorted),
    };
  }
}
