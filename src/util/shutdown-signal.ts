/**
 * Waits for SIGINT or SIGTERM (the daemons' graceful-shutdown signals). Listeners are installed at
 * once, so a signal arriving while the server is still starting is not lost.
 */
export interface ShutdownWait {
  promise: Promise<NodeJS.Signals>;
  /** removes the listeners (e.g. when startup failed) */
  cancel(): void;
}

export function untilShutdownSignal(signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM"]): ShutdownWait {
  let cancel = (): void => {};
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      cancel();
      resolve(signal);
    };
    for (const s of signals) process.on(s, onSignal);
    cancel = () => {
      for (const s of signals) process.off(s, onSignal);
    };
  });
  return { promise, cancel };
}

/** Calls `listener` on every `signal` (e.g. SIGUSR1 for statistics) until the returned function is called. */
export function onSignal(signal: NodeJS.Signals, listener: () => void): () => void {
  const handler = (): void => listener();
  process.on(signal, handler);
  return () => void process.off(signal, handler);
}

/**
 * Like untilShutdownSignal, but later signals are absorbed until cancel(): a second Ctrl-C while
 * a tool finishes what it holds does not kill it halfway (Go's signal.Notify stays registered).
 */
export function untilShutdownSignalKeepingHandlers(signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM"]): ShutdownWait {
  const first = untilShutdownSignal(signals);
  const absorb = (): void => {};
  for (const s of signals) process.on(s, absorb);
  return {
    promise: first.promise,
    cancel: () => {
      first.cancel();
      for (const s of signals) process.off(s, absorb);
    },
  };
}
