/**
 * Coalesces rewrites of a file whose size grows with the broker's state (nsqd.dat: every topic
 * and channel), so creating the N+1th topic does not cost a rewrite of N entries each time.
 *
 * The first change after a quiet period is written at the end of the current event-loop turn (a
 * lone create, pause or delete is on disk within milliseconds, as before). Changes that follow
 * within `minGapMs` of the previous write's end — or within (1/maxShare − 1) × its duration, when
 * writes get slow (tens of thousands of topics) — are gathered into one write at the end of that
 * gap. At most one write runs at a time (the write may be asynchronous); changes arriving during
 * it are written after it.
 *
 * What a crash in between loses: the changes made since the last completed write — at most
 * minGapMs plus one write's duration old (or (1/maxShare) × that duration when writes are slow:
 * ~1 s with 50,000 topics on a loaded disk). nsqd also persists its metadata asynchronously after a
 * create (in a goroutine, after the HTTP reply), so a crash right after a create loses it there
 * too; a graceful shutdown writes everything.
 */
export interface CoalescedWriteOptions {
  /** shortest gap between two writes while changes keep coming, ms */
  minGapMs: number;
  /** at most about this share of the time is spent writing while changes keep coming (0 < maxShare ≤ 1) */
  maxShare: number;
}

export class CoalescedWrite {
  private pending = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private immediate: ReturnType<typeof setImmediate> | null = null;
  private inFlight: Promise<void> | null = null;
  private lastWriteEnd = -Infinity;
  private lastDurationMs = 0;
  private stopped = false;

  /** `write` must not throw or reject: it reports its own failures. */
  constructor(
    private readonly write: () => void | Promise<void>,
    private readonly opts: CoalescedWriteOptions = { minGapMs: 100, maxShare: 0.2 },
  ) {}

  /** A change happened: write it soon (see above). */
  request(): void {
    if (this.pending || this.stopped) return;
    this.pending = true;
    if (this.inFlight === null) this.schedule();
  }

  /** No more writes; resolves once a write in progress has finished (the owner then writes its final state). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    this.pending = false;
    if (this.inFlight !== null) await this.inFlight;
  }

  private schedule(): void {
    const gap = Math.max(this.opts.minGapMs, this.lastDurationMs * (1 / this.opts.maxShare - 1));
    const wait = this.lastWriteEnd + gap - performance.now();
    if (wait <= 0) this.immediate = setImmediate(this.run);
    else this.timer = setTimeout(this.run, wait);
  }

  private clearTimers(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  private readonly run = (): void => {
    this.clearTimers();
    this.pending = false;
    if (this.stopped) return;
    const start = performance.now();
    const result = this.write();
    if (result === undefined) {
      this.finished(start);
      return;
    }
    this.inFlight = result.then(() => {
      this.inFlight = null;
      this.finished(start);
    });
  };

  private finished(start: number): void {
    this.lastWriteEnd = performance.now();
    this.lastDurationMs = this.lastWriteEnd - start;
    if (this.pending && !this.stopped) this.schedule();
  }
}
