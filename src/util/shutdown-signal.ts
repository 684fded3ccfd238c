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
