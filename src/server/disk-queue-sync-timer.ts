/**
 * The disk queues' shared sync timer: one unref'd interval serves every open queue with unsynced operations, so
 * --sync-timeout costs one timer however many queues are open (nsq issue 21).
 */

/** What the timer needs from a queue. */
export interface SyncTimerQueue {
  /** syncs when the queue has been dirty for its --sync-timeout */
  syncIfDue(now: number): void;
}

export const dirtyQueues = new Set<SyncTimerQueue>();
const openQueueTimeouts = new Map<SyncTimerQueue, number>();
/** How many open queues use each sync timeout: the smallest is found without walking every queue (O(1) open). */
const timeoutUsers = new Map<number, number>();
let syncTimer: ReturnType<typeof setInterval> | null = null;
let syncTimerPeriod = 0;

export function registerOpenQueue(queue: SyncTimerQueue, syncTimeout: number): void {
  openQueueTimeouts.set(queue, syncTimeout);
  timeoutUsers.set(syncTimeout, (timeoutUsers.get(syncTimeout) ?? 0) + 1);
  rescheduleSyncTimer();
}

export function unregisterOpenQueue(queue: SyncTimerQueue): void {
  const timeout = openQueueTimeouts.get(queue);
  openQueueTimeouts.delete(queue);
  dirtyQueues.delete(queue);
  if (timeout !== undefined) {
    const users = (timeoutUsers.get(timeout) ?? 1) - 1;
    if (users > 0) timeoutUsers.set(timeout, users);
    else timeoutUsers.delete(timeout);
  }
  rescheduleSyncTimer();
}

/** Tick at a quarter of the smallest sync timeout, so a dirty queue is synced within ~1.25 × its timeout. */
function rescheduleSyncTimer(): void {
  if (openQueueTimeouts.size === 0) {
    if (syncTimer !== null) clearInterval(syncTimer);
    syncTimer = null;
    syncTimerPeriod = 0;
    return;
  }
  let smallest = Infinity;
  for (const timeout of timeoutUsers.keys()) smallest = Math.min(smallest, timeout);
  const period = Math.max(5, Math.min(1000, Math.floor(smallest / 4)));
  if (syncTimer !== null && period === syncTimerPeriod) return;
  if (syncTimer !== null) clearInterval(syncTimer);
  syncTimerPeriod = period;
  syncTimer = setInterval(syncDueQueues, period);
  syncTimer.unref();
}

function syncDueQueues(): void {
  const now = Date.now();
  for (const queue of dirtyQueues) queue.syncIfDue(now);
}
