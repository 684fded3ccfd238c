/**
 * Drain on shutdown (beyond nsqd, `--drain-timeout`, default 0 = nsqd's immediate exit).
 *
 * When the broker is asked to close with a drain timeout, it first stops handing messages to
 * consumers (every client behaves as if its RDY were 0), keeps serving FIN, REQ and TOUCH for what
 * is in flight and keeps accepting publishes, and waits until nothing is in flight or the timeout
 * passes (or `interrupt()` — the daemon's second signal — cuts it short). `/ping` answers 503
 * meanwhile so load balancers stop sending. Then the usual shutdown persists everything.
 */
import type { ClientV2 } from "./client.ts";
import type { Logger } from "../util/logger.ts";
import { formatDuration } from "../util/duration.ts";

export interface DrainHost {
  readonly clients: ReadonlySet<ClientV2>;
  readonly logger: Logger;
}

/** How often the in-flight count is checked while draining. */
const CHECK_MS = 50;

export class Drain {
  /** true from the start of a drain until the broker has closed */
  active = false;
  private stop: (() => void) | null = null;

  constructor(private readonly host: DrainHost) {}

  /**
   * Messages in flight to connected clients: only they can still FIN or REQ them. Those of clients
   * that left wait for their timeout and are persisted at shutdown either way.
   */
  inFlight(): number {
    let n = 0;
    for (const c of this.host.clients) if (!c.closed) n += c.inFlight.size;
    return n;
  }

  /** A client that connects while draining gets nothing delivered either. */
  admit(client: ClientV2): void {
    if (this.active) client.draining = true;
  }

  /** Stops deliveries and resolves when nothing is in flight, at the timeout, or on interrupt(). */
  run(timeoutMs: number): Promise<void> {
    this.active = true;
    for (const c of this.host.clients) c.draining = true;
    const started = performance.now();
    const log = this.host.logger;
    log.info(`draining: delivery stopped, waiting up to ${formatDuration(timeoutMs)} for ${this.inFlight()} in-flight messages`);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setInterval> | null = null;
      const finish = (why: string): void => {
        if (timer === null) return;
        clearInterval(timer);
        timer = null;
        this.stop = null;
        const left = this.inFlight();
        const took = formatDuration(performance.now() - started);
        if (left === 0) log.info(`draining: done after ${took} (${why})`);
        else log.warn(`draining: ${why} after ${took} with ${left} messages in flight; they are kept for the next start`);
        resolve();
      };
      const check = (): void => {
        if (this.inFlight() === 0) finish("nothing in flight");
        else if (performance.now() - started >= timeoutMs) finish("timeout");
      };
      timer = setInterval(check, CHECK_MS);
      this.stop = () => finish("interrupted by a second signal");
      check();
    });
  }

  /** Ends a running drain now (the shutdown then proceeds and persists everything). */
  interrupt(): void {
    this.stop?.();
  }
}
