import type { AckWindow } from "./ack-window.ts";

/**
 * Where a topic or channel puts messages that do not fit its memory queue. Non-ephemeral queues
 * use the disk queue (src/server/disk-queue.ts); ephemeral ones have none (overflow is dropped).
 */
export interface BackendQueue {
  /** appends one record (message layout bytes); throws with context when it cannot */
  put(record: Uint8Array): void;
  /** appends several records with one write */
  putMany(records: Uint8Array[]): void;
  /** the next record, owned by the caller, or null when empty */
  readNext(): Uint8Array | null;
  depth(): number;
  empty(): void;
  /** empties and removes the queue's files */
  delete(): void;
  /** fsyncs what was written so far and persists the metadata (throws with context when it cannot) */
  sync?(): void;
  /** syncs and closes, keeping the data */
  close(): void;
  /** crash-safe delivery (a channel's queue): records stay until the returned window acknowledges them */
  trackAcks?(): AckWindow;
  /**
   * A read-only look at the records from the read position (GET /channel/peek): `visit` gets a copy of each record
   * with its data file and end position, false stops. At most `maxRecords` records, stopping once `maxBytes` were
   * read. True when it went through every record to the end of the queue.
   */
  peekRecords?(visit: (record: Uint8Array, fileNum: number, end: number) => boolean, maxRecords: number, maxBytes: number): boolean;
  /** what was set aside as corrupt since the queue opened, when the backend detects corruption */
  readonly corruption?: { events: number; skippedBytes: number; lastError: string };
}

/**
 * A channel's disk queue name, `<topic>:<channel>` as go-diskqueue names it (`;` on Windows,
 * where `:` cannot be in a file name), so data directories move between nsqd and us.
 */
export function channelQueueName(topic: string, channel: string): string {
  return `${topic}${process.platform === "win32" ? ";" : ":"}${channel}`;
}
