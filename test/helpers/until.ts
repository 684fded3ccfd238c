/** Polling with a deadline, for tests that wait on state they cannot be told about. */

/**
 * Polls `check` every 20 ms until it returns a truthy value, and resolves with it. A throw counts
 * as "not yet" (a node still starting, a reply not there yet). After `ms` it throws naming `what`
 * and the last value or error seen.
 */
export async function until<T>(what: string, check: () => T | Promise<T>, ms = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      last = await check();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms}ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await Bun.sleep(20);
  }
}

/**
 * Retries the assertions in `check` every 10 ms until they pass (for effects that land after a
 * reply was sent: fan-out, RDY, a drain batch); after `timeoutMs` the last failure is thrown.
 */
export async function eventually(check: () => Promise<void>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await Bun.sleep(10);
    }
  }
}
