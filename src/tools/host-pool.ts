/**
 * Destination selection of nsq_to_http and nsq_to_nsq (`--mode`), after bitly/go-hostpool:
 *
 * - `hostpool` (the default): round-robin over the hosts not marked dead. A failure marks a host
 *   dead for 30 s; when that passes it is tried again and, failing again, waits twice as long
 *   (up to 900 s); a success revives it. When every host is dead all are revived.
 * - `epsilon-greedy`: the same failure tracking; usually a weighted random choice favouring hosts
 *   with the lowest recent response times (1 / mean over the last 5 minutes), exploring round-robin
 *   with probability ε (0.3, decaying ×0.9 per exploration to 0.01).
 * - `round-robin` needs no pool: the tools keep a counter.
 */

const INITIAL_RETRY_DELAY_MS = 30_000;
const MAX_RETRY_INTERVAL_MS = 900_000;
const EPSILON_BUCKETS = 120;
const EPSILON_DECAY = 0.9;
const MIN_EPSILON = 0.01;
const INITIAL_EPSILON = 0.3;
const DECAY_DURATION_MS = 5 * 60_000;

interface HostEntry {
  host: string;
  dead: boolean;
  nextRetry: number;
  retryDelay: number;
  // epsilon-greedy: response time sums (ms) and counts per time bucket
  counts: number[];
  values: number[];
  bucket: number;
}

/** One chosen host; `mark` reports the outcome once (later calls are ignored). */
export interface HostChoice {
  readonly host: string;
  mark(error: unknown): void;
}

export class HostPool {
  private readonly entries: HostEntry[];
  private readonly byHost = new Map<string, HostEntry>();
  private nextIndex = 0;
  private epsilon = INITIAL_EPSILON;
  private decayTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    hosts: readonly string[],
    private readonly epsilonGreedy = false,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.entries = hosts.map((host) => ({
      host,
      dead: false,
      nextRetry: 0,
      retryDelay: INITIAL_RETRY_DELAY_MS,
      counts: new Array<number>(EPSILON_BUCKETS).fill(0),
      values: new Array<number>(EPSILON_BUCKETS).fill(0),
      bucket: 0,
    }));
    for (const e of this.entries) this.byHost.set(e.host, e);
    if (epsilonGreedy) {
      this.decayTimer = setInterval(() => this.decay(), DECAY_DURATION_MS / EPSILON_BUCKETS);
      this.decayTimer.unref?.();
    }
  }

  get(): HostChoice {
    const host = this.epsilonGreedy ? this.pickEpsilonGreedy() : this.pickRoundRobin();
    const started = this.now();
    let marked = false;
    return {
      host,
      mark: (error: unknown) => {
        if (marked) return;
        marked = true;
        if (error === null || error === undefined) this.markSuccess(host, this.now() - started);
        else this.markFailed(host);
      },
    };
  }

  close(): void {
    if (this.decayTimer) clearInterval(this.decayTimer);
    this.decayTimer = null;
  }

  private pickRoundRobin(): string {
    const now = this.now();
    const n = this.entries.length;
    for (let i = 0; i < n; i++) {
      const index = (i + this.nextIndex) % n;
      const e = this.entries[index]!;
      if (!e.dead) {
        this.nextIndex = index + 1;
        return e.host;
      }
      if (e.nextRetry < now) {
        this.willRetry(e);
        this.nextIndex = index + 1;
        return e.host;
      }
    }
    // every host is down: try them all again
    for (const e of this.entries) e.dead = false;
    this.nextIndex = 0;
    return this.entries[0]!.host;
  }

  private willRetry(e: HostEntry): void {
    e.retryDelay = Math.min(e.retryDelay * 2, MAX_RETRY_INTERVAL_MS);
    e.nextRetry = this.now() + e.retryDelay;
  }

  private pickEpsilonGreedy(): string {
    if (this.random() < this.epsilon) {
      this.epsilon = Math.max(this.epsilon * EPSILON_DECAY, MIN_EPSILON);
      return this.pickRoundRobin();
    }
    const now = this.now();
    const possible: Array<{ e: HostEntry; value: number }> = [];
    let sum = 0;
    for (const e of this.entries) {
      if (e.dead && e.nextRetry >= now) continue;
      const avg = weightedAverageResponseTime(e);
      if (avg > 0) {
        const value = 1 / avg;
        sum += value;
        possible.push({ e, value });
      }
    }
    let chosen: HostEntry | null = null;
    if (possible.length > 0) {
      const pick = this.random();
      let ceiling = 0;
      for (const p of possible) {
        ceiling += p.value / sum;
        if (pick <= ceiling) {
          chosen = p.e;
          break;
        }
      }
    }
    if (chosen === null) return this.pickRoundRobin();
    if (chosen.dead) this.willRetry(chosen);
    return chosen.host;
  }

  private markSuccess(host: string, elapsedMs: number): void {
    const e = this.byHost.get(host);
    if (!e) return;
    e.dead = false;
    if (this.epsilonGreedy) {
      e.counts[e.bucket]!++;
      e.values[e.bucket]! += Math.floor(elapsedMs);
    }
  }

  private markFailed(host: string): void {
    const e = this.byHost.get(host);
    if (!e || e.dead) return;
    e.dead = true;
    e.retryDelay = INITIAL_RETRY_DELAY_MS;
    e.nextRetry = this.now() + e.retryDelay;
  }

  private decay(): void {
    for (const e of this.entries) {
      e.bucket = (e.bucket + 1) % EPSILON_BUCKETS;
      e.counts[e.bucket] = 0;
      e.values[e.bucket] = 0;
    }
  }
}

/** go-hostpool's weighting: newer buckets weigh more; an empty bucket repeats the previous value. */
function weightedAverageResponseTime(e: HostEntry): number {
  let value = 0;
  let last = 0;
  for (let i = 1; i <= EPSILON_BUCKETS; i++) {
    const pos = (e.bucket + i) % EPSILON_BUCKETS;
    const count = e.counts[pos]!;
    const weight = i / EPSILON_BUCKETS;
    if (count > 0) {
      last = e.values[pos]! / count;
      value += last * weight;
    } else {
      value += last * weight;
    }
  }
  return value;
}
