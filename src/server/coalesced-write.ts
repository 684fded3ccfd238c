/**
 * Coalesces rewrites of a file whose size grows with the broker's state (nsqd.dat: every topic
 * and channel), so creating the N+1th topic does not cost a rewrite of N entries each time.
 *
 * The first change after a quiet period is written at the end of the current event-loop turn (as
 * before: a lone create, pause or delete is on disk within milliseconds). Changes that follow
 * within `minGapMs` of the previous write — or within 1/maxShare of its duration, when writes
 * get slow (tens of thousands of topics) — are gathered into one write at the end of that gap.
 *
 * What a crash in between loses: the changes made since the last write, at most minGapMs (or
 * 1/maxShare × the last write's duration) old. nsqd also persists its metadata asynchronously
 * after a create (in a goroutine, after the HTTP reply), so a crash right after a create loses it
 * there too; graceful shutdown writes everything (flush).
 */
export interface CoalescedWriteOptions {
  /** shortest gap between two writes while changes keep coming, ms */
  minGapMs: number;
  /** at most this share of the time is spent writing while changes keep coming (0 < maxShare ≤ 1) */
  maxShare: number;
}

export class CoalescedWrite {
  private pending = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private immediate: ReturnType<typeof setImmediate> | null = null;
  private lastWriteEnd = -Infinity;
  private lastDurationMs = 0;
  private stopped = false;

  constructor(
    private readonly write: () => void,
    private readonly opts: CoalescedWriteOptions = { minGapMs: 100, maxShare: 0.1 },
  ) {}

  /** A change happened: write it soon (see above). */
  request(): void {
    if (this.pending || this.stopped) return;
    this.pending = true;
    const gap = Math.max(this.opts.minGapMs, this.lastDurationMs / this.opts.maxShare);
    const wait = this.lastWriteEnd + gap - performance.now();
    if (wait <= 0) this.immediate = setImmediate(this.run);
    else this.timer = setTimeout(this.run, wait);
  }

  /** Writes now if a change is waiting. */
  flush(): void {
    if (this.pending) this.run();
  }

  /** No more writes (the owner writes its final state itself). */
  stop(): void {
    this.stopped = true;
    this.cancel();
  }

  private cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.pending = false;
  }

  private readonly run = (): void => {
    this.cancel();
    if (this.stopped) return;
    const start = performance.now();
    try {
      this.write();
    } finally {
      this.lastWriteEnd = performance.now();
      this.lastDurationMs = this.lastWriteEnd - start;
    }
  };
}
