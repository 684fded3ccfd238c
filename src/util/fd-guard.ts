/**
 * Watches the process's file descriptors so that running out of them is a clear, logged state
 * instead of a silent one.
 *
 * When every descriptor is in use (thousands of clients over `ulimit -n`), accept() fails with
 * EMFILE. Bun's listener then neither reports it nor backs off: it retries at once, burning a
 * whole core, while new clients sit in the kernel's backlog with no answer. Go's nsqd logs
 * "temporary Accept() failure" and sleeps. Here, once a second, the descriptors in
 * /proc/self/fd are counted against the soft limit; near it the TCP and HTTP listeners are paused
 * (new clients are refused at once: a clear ECONNREFUSED instead of a hang) and one ERROR line
 * says why; when enough have been freed they listen again and that is logged too. Connected TCP
 * clients are served throughout (pausing Bun.serve also closes its idle keep-alive connections,
 * which HTTP clients reopen). Linux only (elsewhere the guard does nothing).
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Logger } from "./logger.ts";

const CHECK_MS = 1000;

export interface FdGuardHooks {
  /** stop accepting TCP clients; false when it cannot (the state is still logged) */
  pause(): boolean;
  /** accept again */
  resume(): void;
  /** connected clients, for the log line */
  clients(): number;
}

/** The soft RLIMIT_NOFILE from /proc/self/limits, or null when unknown or unlimited. */
export function openFileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Descriptors open now, or null when even listing them needs one more than is left. */
export function openFileCount(): number | null {
  try {
    return readdirSync("/proc/self/fd").length - 1; // minus the directory being listed
  } catch {
    return null;
  }
}

export class FdGuard {
  /** times the limit was reached since start (a metric for tests and /stats readers) */
  exhaustedEvents = 0;
  exhausted = false;
  private paused = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** pause this close to the limit: the broker itself needs a few (disk queue files, HTTP) */
  private readonly high: number;
  /** resume below this, so one client coming and going does not flap the listener */
  private readonly low: number;

  constructor(
    private readonly limit: number,
    private readonly logger: Logger,
    private readonly hooks: FdGuardHooks,
  ) {
    const reserve = Math.max(16, Math.floor(limit * 0.02));
    this.high = limit - reserve;
    this.low = limit - 2 * reserve - Math.floor(limit * 0.03);
  }

  /** Starts watching when the platform tells the limit; returns null otherwise. */
  static start(logger: Logger, hooks: FdGuardHooks): FdGuard | null {
    const limit = openFileLimit();
    if (limit === null || openFileCount() === null) return null;
    const guard = new FdGuard(limit, logger, hooks);
    guard.timer = setInterval(() => guard.check(openFileCount()), CHECK_MS);
    guard.timer.unref?.();
    return guard;
  }

  /** One observation: `open` descriptors in use, null when counting them failed (EMFILE). */
  check(open: number | null): void {
    if (!this.exhausted && (open === null || open >= this.high)) {
      this.exhausted = true;
      this.exhaustedEvents++;
      this.paused = this.hooks.pause();
      this.logger.error(
        `out of file descriptors (${open ?? this.limit} of ulimit -n ${this.limit} in use, ${this.hooks.clients()} clients connected)` +
          (this.paused ? ": new TCP and HTTP connections are refused until some close" : ": new connections wait until some close") +
          " - raise the limit (ulimit -n) for more clients",
      );
    } else if (this.exhausted && open !== null && open < this.low) {
      this.exhausted = false;
      if (this.paused) this.hooks.resume();
      this.paused = false;
      this.logger.info(`file descriptors available again (${open} of ${this.limit} in use), accepting connections`);
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
