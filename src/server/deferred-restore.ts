/**
 * Deferred deadlines brought back after a restart. At shutdown deferred messages go into the
 * queue's disk file like any other (so real nsqd can still read it) and their due times into a
 * sidecar (src/server/metadata.ts). When such a message is read back, its remaining delay is
 * applied again. Deferred messages that overflow a topic's memory to its disk queue at run time
 * are remembered the same way, so they keep their delay too. The map is dropped as soon as every entry has been seen, so the per-record
 * check costs nothing in normal running.
 */
import { MSG_ID_OFFSET } from "./message.ts";

export class DeferredRestore {
  constructor(private deadlines: Map<string, number> = new Map()) {}

  /** Remembers the due time of a deferred message that is written to the disk queue now. */
  add(record: Uint8Array, due: number): void {
    this.deadlines.set(Buffer.from(record.buffer, record.byteOffset + MSG_ID_OFFSET, 16).toString("latin1"), due);
  }

  /** Deadlines of records still on disk (for the sidecar at shutdown). */
  entries(): { id: string; due: number }[] {
    return [...this.deadlines].map(([id, due]) => ({ id, due }));
  }

  get done(): boolean {
    return this.deadlines.size === 0;
  }

  /** How many deadlines wait for their record (GET /channel/peek: records it may pass over). */
  get size(): number {
    return this.deadlines.size;
  }

  /** Read-only dueTime for GET /channel/peek: would dueTime defer this record now? */
  defers(record: Uint8Array, now: number): boolean {
    const due = this.deadlines.get(Buffer.from(record.buffer, record.byteOffset + MSG_ID_OFFSET, 16).toString("latin1"));
    return due !== undefined && due > now;
  }

  /** The due time (unix ms) to apply to this record, or 0 when it is not deferred (anymore). */
  dueTime(record: Uint8Array, now: number): number {
    const id = Buffer.from(record.buffer, record.byteOffset + MSG_ID_OFFSET, 16).toString("latin1");
    const due = this.deadlines.get(id);
    if (due === undefined) return 0;
    this.deadlines.delete(id);
    return due > now ? due : 0;
  }
}
