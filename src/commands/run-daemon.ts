/**
 * The life of a daemon command (`nsq serve`, `nsq lookupd`): start it, run until SIGINT/SIGTERM,
 * then close it gracefully and exit 0. A failed start closes what was opened, logs one FATAL line
 * in the real daemon's words (`failed to instantiate nsqd - listen (…) failed - …`, `failed to
 * persist metadata - …`) and exits 1, as nsqd and nsqlookupd do.
 */
import type { Logger } from "../util/logger.ts";
import { untilShutdownSignal } from "../util/shutdown-signal.ts";

export interface Daemon {
  start(): Promise<void>;
  close(): Promise<void>;
  /** a second SIGINT/SIGTERM during close(): finish now (nsqd: cuts a --drain-timeout drain short) */
  interruptClose?(): void;
}

export async function runUntilShutdownSignal(name: string, daemon: Daemon, logger: Logger): Promise<number> {
  // listening before start, so a signal that arrives while the daemon is starting is not lost
  const signalled = untilShutdownSignal();
  try {
    await daemon.start();
  } catch (err) {
    signalled.cancel();
    await daemon.close().catch(() => {});
    logger.fatal(startFailure(name, err));
    return 1;
  }
  const signal = await signalled.promise;
  logger.info(`received ${signal}, shutting down`);
  const again = daemon.interruptClose !== undefined ? untilShutdownSignal() : null;
  void again?.promise.then((second) => {
    logger.info(`received ${second} again, exiting now`);
    daemon.interruptClose?.();
  });
  try {
    await daemon.close();
  } finally {
    again?.cancel();
  }
  return 0;
}

/** nsqd's own top-level wording where it has one (its Start step), else its New step's. */
function startFailure(name: string, err: unknown): string {
  const reason = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, " ");
  return /^failed to (load|persist) metadata - /.test(reason) ? reason : `failed to instantiate ${name} - ${reason}`;
}
