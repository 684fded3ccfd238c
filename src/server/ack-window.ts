/**
 * Crash-safe delivery for a channel's disk queue (issue 20): a record leaves durable storage only
 * when its message is FINished (or requeued, which writes it again first), never when it is merely
 * read and handed to a client.
 *
 * How: the disk queue keeps two read positions. The *read cursor* moves as records are delivered;
 * the *acknowledged position* — the one written to `<queue>.diskqueue.meta.dat`, so the one real
 * nsqd and a restart start from — moves only past a prefix of records that are all done. This
 * window lists, in read order, every record between the two: one entry per record with its end
 * position and either "done" or the in-memory message that holds it (in flight or deferred). When
 * the entry at the head is done, the head pops and the acknowledged position advances.
 *
 * The window's state is written beside the queue at each of the queue's syncs, in the same sync
 * (after the data's fsync, before the metadata's rename), as `<queue>.diskqueue.ack.bin`
 * (layout below). After a crash the records from the acknowledged position are read again and
 * matched with it in order: a finished one is skipped, an in-flight one is delivered again with
 * its attempts raised, a deferred one waits again for its due time. Without a usable file
 * (missing, torn, stale), every record from the acknowledged position is delivered again:
 * duplicates, never loss. Real nsqd ignores the file and does exactly that.
 *
 * Deferred messages that are not at a window position (DPUB, or a deferred message whose window
 * entry had to move) are made durable by appending a copy of the record to the queue; the window
 * remembers the copy (`copies`, by message ID) and, when the reader reaches it, either adopts it
 * as the message's new position or, if the message is done by then, skips it. The same move
 * ("copy forward") keeps the window bounded: when it holds more than max(MIN_WINDOW, 2 × held)
 * entries, the held messages at its head are copied to the end of the queue and their old entries
 * marked done, so one slow or long-deferred message cannot pin the acknowledged position (and the
 * data files after it) forever.
 *
 * `<queue>.diskqueue.ack.bin`, all integers big-endian:
 *   0   8   magic "NSQACK01"
 *   8   4   acknowledged file number  } must equal the metadata's read position, else the file is
 *   12  8   acknowledged position     } stale and ignored
 *   20  4   W: window entries, in read order from the acknowledged position
 *   24  4   D: deferred copies not yet read back
 *   28  …   W entries: state u8 (0 done, 1 in flight, 2 deferred); when state ≠ 0 also the record's
 *           file number u32, end position u32 (checked when replayed) and attempts u16; when
 *           state = 2 also the due time i64 (unix ms)
 *       …   D entries: message ID (16 bytes), due time i64; due 0: the copy's message is done already
 *           (it fired and was written again, or was finished), so the copy is skipped when read
 *       4   CRC-32 (IEEE) of everything before
 * Written only when the window changed since the last write; removed when the window is empty.
 */
import { readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Logger } from "../util/logger.ts";
import { MSG_ID_OFFSET, MessageState, readAttempts, writeAttempts, type Message } from "./message.ts";

/** `<data-path>/<queue>.diskqueue.ack.bin` */
export function ackSidePath(dataPath: string, queueName: string): string {
  return join(dataPath, `${queueName}.diskqueue.ack.bin`);
}

/** What the window needs from its disk queue (implemented by DiskQueue). */
export interface AckQueue {
  /** data file number and end position of the record readNext() returned last */
  readonly lastReadFile: number;
  readonly lastReadEnd: number;
  /** appends a record (a copy of a held message); throws when it cannot */
  put(record: Uint8Array): void;
  /** every record up to (fileNum, pos) is done: `records` of them left the window */
  ackTo(fileNum: number, pos: number, records: number): void;
  /** the window changed: persist it with the next sync */
  sideRecordChanged(): void;
}

/** What onRead tells the channel to do with the record it just read. */
export const enum ReadVerdict {
  /** deliver it (the entry is `lastSeq`, bind the message to it) */
  Deliver = 0,
  /** nothing: a finished record or a copy of a message already in memory */
  Skip = 1,
  /** defer it until `lastDue` (entry `lastSeq`) */
  Defer = 2,
}

const MAGIC = Buffer.from("NSQACK01", "latin1");
const HEADER = 28;
const STATE_DONE = 0;
const STATE_IN_FLIGHT = 1;
const STATE_DEFERRED = 2;
/** The window may always hold this many entries before held ones are copied forward. */
const MIN_WINDOW = 16384;

/** One entry restored from the side record, replayed against the records read after a restart. */
interface RestoredEntry {
  state: number;
  file: number;
  end: number;
  attempts: number;
  due: number;
}

export interface AckLoadReport {
  inFlight: number;
  deferred: number;
  finished: number;
  error?: string;
}

export class AckWindow {
  // The window as a ring of parallel arrays (no object per entry), allocated on first use: an idle
  // channel costs nothing (issue 21: thousands of queues).
  private cap = 0;
  private files = new Float64Array(0);
  private ends = new Float64Array(0);
  private done = new Uint8Array(0);
  private msgs: (Message | null)[] = [];
  private head = 0;
  private len = 0;
  /** sequence number of the entry at the head; entry seq s lives at (head + s - headSeq) % cap */
  private headSeq = 0;
  /** entries not done */
  private held = 0;

  /** copies appended for messages that are in memory, not yet read back: message ID → message */
  private readonly copies = new Map<string, Message>();
  /** from the side record at start-up: states of the next records to be read, in order */
  private restored: RestoredEntry[] = [];
  private restoredNext = 0;
  private restoredDone = 0;
  private restoredDeferred = 0;
  /** from the side record at start-up: due times of deferred copies not yet read back (0: skip the copy) */
  private readonly unreadDeferred = new Map<string, number>();
  /** entries of unreadDeferred with due 0 */
  private unreadSkips = 0;

  private changed = false;
  private fileOnDisk = false;

  /** set by onRead: the entry of the record just read, and its due time for Defer */
  lastSeq = -1;
  lastDue = 0;

  constructor(
    private readonly queue: AckQueue,
    readonly path: string,
    private readonly log: Logger,
    private readonly name: string,
  ) {}

  /**
   * Reads the side record left by the last run. `metaPosition` is the read position from the
   * queue's metadata (null: no metadata); `trustPositions` is false when the queue found damage
   * on open (then positions may not line up and nothing is skipped). Never throws.
   */
  load(metaPosition: { file: number; pos: number } | null, trustPositions: boolean): AckLoadReport {
    const report: AckLoadReport = { inFlight: 0, deferred: 0, finished: 0 };
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.path);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") report.error = `cannot read ${this.path} - ${errorText(err)}`;
      return this.loaded(report);
    }
    this.fileOnDisk = true;
    this.changed = true; // rewritten (or removed) at the next sync
    const parsed = parseSideRecord(bytes);
    if (typeof parsed === "string") {
      report.error = `${this.path} is unusable (${parsed}); every record from the read position is delivered again (kept as ${this.path}.bad)`;
      this.setAside();
      return this.loaded(report);
    }
    if (metaPosition === null || parsed.ackFile !== metaPosition.file || parsed.ackPos !== metaPosition.pos) {
      const where = metaPosition === null ? "no metadata" : `metadata read position ${metaPosition.file},${metaPosition.pos}`;
      report.error = `${this.path} is stale (written for ${parsed.ackFile},${parsed.ackPos}, ${where}); every record from the read position is delivered again (kept as ${this.path}.bad)`;
      this.setAside();
      return this.loaded(report);
    }
    if (!trustPositions) {
      report.error = `${this.path} ignored because the queue's files were damaged; every record from the read position is delivered again (kept as ${this.path}.bad)`;
      this.setAside();
      return this.loaded(report);
    }
    this.restored = parsed.entries;
    for (const e of parsed.entries) {
      if (e.state === STATE_DONE) report.finished++;
      else if (e.state === STATE_DEFERRED) report.deferred++;
      else report.inFlight++;
    }
    this.restoredDone = report.finished;
    this.restoredDeferred = report.deferred;
    for (const [id, due] of parsed.unread) {
      this.unreadDeferred.set(id, due);
      if (due === 0) this.unreadSkips++;
    }
    report.deferred += parsed.unread.size - this.unreadSkips;
    report.finished += this.unreadSkips;
    return this.loaded(report);
  }

  private loaded(report: AckLoadReport): AckLoadReport {
    if (report.error !== undefined) this.log.error(`DISKQUEUE(${this.name}) ${report.error}`);
    if (report.inFlight + report.deferred + report.finished > 0) {
      this.log.warn(
        `DISKQUEUE(${this.name}) restoring unacknowledged messages from ${this.path}: ${report.inFlight} in flight at the stop ` +
          `(delivered again with attempts raised: up to ${report.inFlight} duplicate(s)), ${report.deferred} deferred, ` +
          `${report.finished} already finished (skipped)`,
      );
    }
    return report;
  }

  /** Records on disk that are not part of the channel's depth: copies of messages in memory, finished or deferred ones still to be replayed. */
  hiddenRecords(): number {
    return this.copies.size + this.unreadDeferred.size + this.restoredDone + this.restoredDeferred;
  }

  /** Deferred messages still on disk, not yet read back (they count in deferred_count). */
  deferredOnDisk(): number {
    return this.unreadDeferred.size - this.unreadSkips + this.restoredDeferred;
  }

  /** Classifies the record readNext() just returned and gives it a window entry. */
  onRead(rec: Uint8Array): ReadVerdict {
    const file = this.queue.lastReadFile;
    const end = this.queue.lastReadEnd;
    if (this.copies.size > 0) {
      const id = idString(rec);
      const msg = this.copies.get(id);
      if (msg !== undefined) {
        this.copies.delete(id);
        msg.copyPending = false;
        if (msg.state === MessageState.Done) this.pushDone(file, end);
        else msg.windowSeq = this.push(file, end, msg); // the copy is the message's position now
        return ReadVerdict.Skip;
      }
    }
    if (this.restoredNext < this.restored.length) {
      const r = this.restored[this.restoredNext]!;
      this.restoredNext++;
      if (r.state === STATE_DONE) {
        this.restoredDone--;
        this.pushDone(file, end);
        return ReadVerdict.Skip;
      }
      if (r.file !== file || r.end !== end) {
        this.log.error(
          `DISKQUEUE(${this.name}) ${this.path} does not match the queue (entry for ${r.file},${r.end}, record at ${file},${end}); ` +
            `the rest of it is ignored and those records are delivered again`,
        );
        this.dropRestored();
      } else {
        writeAttempts(rec, r.attempts);
        this.lastSeq = this.push(file, end, null);
        if (r.state === STATE_DEFERRED) {
          this.restoredDeferred--;
          this.lastDue = r.due;
          return ReadVerdict.Defer;
        }
        return ReadVerdict.Deliver;
      }
    }
    if (this.unreadDeferred.size > 0) {
      const id = idString(rec);
      const due = this.unreadDeferred.get(id);
      if (due !== undefined) {
        this.unreadDeferred.delete(id);
        if (due === 0) {
          this.unreadSkips--;
          this.pushDone(file, end);
          return ReadVerdict.Skip;
        }
        this.lastSeq = this.push(file, end, null);
        this.lastDue = due;
        return ReadVerdict.Defer;
      }
    }
    this.lastSeq = this.push(file, end, null);
    return ReadVerdict.Deliver;
  }

  /**
   * A read-only twin of onRead for GET /channel/peek: called with the records from the queue's read position in
   * order (without readNext), it answers what onRead would do with each — -1 when it would not be delivered next
   * (a copy of a message held in memory, finished, or deferred), else the attempts its delivery starts from.
   * Nothing in the window changes; each call starts from the window's current state.
   */
  peekFilter(): (rec: Uint8Array, file: number, end: number) => number {
    let restoredNext = this.restoredNext;
    let restoredValid = true;
    const seen = new Set<string>(); // copies and deferred ids met earlier in this peek (onRead deletes them)
    return (rec, file, end) => {
      if (this.copies.size > 0) {
        const id = idString(rec);
        if (this.copies.has(id) && !seen.has(id)) {
          seen.add(id);
          return -1;
        }
      }
      if (restoredValid && restoredNext < this.restored.length) {
        const r = this.restored[restoredNext]!;
        restoredNext++;
        if (r.state === STATE_DONE) return -1;
        if (r.file !== file || r.end !== end) restoredValid = false; // onRead drops the rest and goes on
        else return r.state === STATE_DEFERRED ? -1 : r.attempts;
      }
      if (this.unreadDeferred.size > 0) {
        const id = idString(rec);
        if (this.unreadDeferred.has(id) && !seen.has(id)) {
          seen.add(id);
          return -1;
        }
      }
      return readAttempts(rec);
    };
  }

  private dropRestored(): void {
    this.restored = [];
    this.restoredNext = 0;
    this.restoredDone = 0;
    this.restoredDeferred = 0;
  }

  /** The message now holding entry `seq` (delivered or deferred from it). */
  bind(seq: number, msg: Message): void {
    this.msgs[this.index(seq)] = msg;
    msg.windowSeq = seq;
    this.changed = true;
  }

  /** `to` replaces `from` (a deferred requeue makes a new Message): it keeps its position or copy. */
  transfer(from: Message, to: Message): void {
    if (from.windowSeq >= 0) {
      this.msgs[this.index(from.windowSeq)] = to;
      to.windowSeq = from.windowSeq;
      from.windowSeq = -1;
    }
    if (from.copyPending) {
      this.copies.set(idString(from.buf), to);
      to.copyPending = true;
      from.copyPending = false;
    }
    this.changed = true;
    this.queue.sideRecordChanged();
  }

  /** The message no longer needs its durable copy (FIN, or requeued: written again already). */
  release(msg: Message): void {
    if (msg.windowSeq >= 0) {
      const seq = msg.windowSeq;
      msg.windowSeq = -1;
      this.finish(seq);
    }
    // a pending copy is skipped when read back (msg.state is Done by then)
  }

  /** True when the message is on disk already (at a window position or as an unread copy). */
  isDurable(msg: Message): boolean {
    return msg.windowSeq >= 0 || msg.copyPending;
  }

  /**
   * Makes a message that exists only in memory durable: appends a copy of its record and
   * remembers it, so it is adopted (or skipped) when read back. Throws when the write fails.
   */
  persistCopy(msg: Message): void {
    this.queue.put(msg.buf);
    this.copies.set(idString(msg.buf), msg);
    msg.copyPending = true;
    this.changed = true;
  }

  /** Entry `seq` is done; pops the done prefix and moves the acknowledged position. */
  finish(seq: number): void {
    if (seq < this.headSeq || seq >= this.headSeq + this.len) return;
    const i = this.index(seq);
    if (this.done[i] === 1) return;
    this.done[i] = 1;
    this.msgs[i] = null;
    this.held--;
    this.changed = true;
    if (seq === this.headSeq) this.popDone();
    else this.queue.sideRecordChanged();
  }

  /** Drops everything (the channel was emptied; its files are gone). */
  reset(): void {
    for (let k = 0; k < this.len; k++) {
      const m = this.msgs[(this.head + k) % this.cap];
      if (m != null) m.windowSeq = -1;
    }
    for (const m of this.copies.values()) m.copyPending = false;
    this.msgs.fill(null);
    this.headSeq += this.len;
    this.head = 0;
    this.len = 0;
    this.held = 0;
    this.copies.clear();
    this.dropRestored();
    this.unreadDeferred.clear();
    this.unreadSkips = 0;
    this.changed = false;
    this.fileOnDisk = false; // deleted with the queue's files
  }

  /**
   * The side record for the sync being captured now, stamped with the acknowledged position the
   * same sync writes into the metadata: bytes, "delete" (nothing to remember: remove the file), "none"
   * (nothing to remember, no file) or null (unchanged).
   */
  capture(ackFile: number, ackPos: number): Uint8Array | "delete" | "none" | null {
    if (!this.changed) return null;
    this.changed = false;
    const remaining = this.restored.length - this.restoredNext;
    let deferredCopies = 0; // and copies of messages done already (skipped when read back)
    for (const m of this.copies.values()) if (m.state !== MessageState.InFlight) deferredCopies++;
    if (this.len === 0 && remaining === 0 && deferredCopies === 0 && this.unreadDeferred.size === 0) {
      // nothing outstanding: the stamp still has to reach the metadata, with no file (none, or removed)
      if (!this.fileOnDisk) return "none";
      this.fileOnDisk = false;
      return "delete";
    }
    let size = HEADER + 4 + this.len + remaining + (deferredCopies + this.unreadDeferred.size) * 24;
    size += (this.held + remaining) * 18; // upper bound: every held entry deferred
    const out = Buffer.allocUnsafe(size);
    MAGIC.copy(out, 0);
    out.writeUInt32BE(ackFile, 8);
    writeUint64(out, 12, ackPos);
    let at = HEADER;
    let entries = 0;
    for (let k = 0; k < this.len; k++) {
      const i = (this.head + k) % this.cap;
      const msg = this.msgs[i];
      if (this.done[i] === 1 || msg === null) {
        // a null message outside a read turn would be a bookkeeping bug: keep the record (redeliver)
        out[at++] = this.done[i] === 1 ? STATE_DONE : STATE_IN_FLIGHT;
        if (this.done[i] !== 1) at = writeHeld(out, at, this.files[i]!, this.ends[i]!, 0);
      } else {
        const deferred = msg.state === MessageState.Deferred;
        out[at++] = deferred ? STATE_DEFERRED : STATE_IN_FLIGHT;
        at = writeHeld(out, at, this.files[i]!, this.ends[i]!, readAttempts(msg.buf));
        if (deferred) at = writeInt64(out, at, msg.deadline);
      }
      entries++;
    }
    for (let k = this.restoredNext; k < this.restored.length; k++) {
      const r = this.restored[k]!;
      out[at++] = r.state;
      if (r.state !== STATE_DONE) {
        at = writeHeld(out, at, r.file, r.end, r.attempts);
        if (r.state === STATE_DEFERRED) at = writeInt64(out, at, r.due);
      }
      entries++;
    }
    out.writeUInt32BE(entries, 20);
    let unread = 0;
    for (const [id, m] of this.copies) {
      if (m.state === MessageState.InFlight) continue; // read back, it is delivered again: as it should be
      out.write(id, at, 16, "latin1");
      at = writeInt64(out, at + 16, m.state === MessageState.Deferred ? m.deadline : 0);
      unread++;
    }
    for (const [id, due] of this.unreadDeferred) {
      out.write(id, at, 16, "latin1");
      at = writeInt64(out, at + 16, due);
      unread++;
    }
    out.writeUInt32BE(unread, 24);
    out.writeUInt32BE(crc32(out.subarray(0, at)) >>> 0, at);
    this.fileOnDisk = true;
    return out.subarray(0, at + 4);
  }

  /** The window changed since the last capture. */
  get hasChanges(): boolean {
    return this.changed;
  }

  /** The side file was written or removed by the queue (after a failure, try again next sync). */
  captureFailed(): void {
    this.changed = true;
  }

  // ---- ring ----

  private index(seq: number): number {
    return (this.head + (seq - this.headSeq)) % this.cap;
  }

  /** Sets an unusable side record aside as `<file>.bad` (for the operator), so it can never be mistaken for a current one. */
  private setAside(): void {
    this.fileOnDisk = false;
    try {
      renameSync(this.path, `${this.path}.bad`);
    } catch {
      // already gone: nothing to keep
    }
  }

  private push(file: number, end: number, msg: Message | null): number {
    if (this.len === this.cap) this.grow();
    const i = (this.head + this.len) % this.cap;
    this.files[i] = file;
    this.ends[i] = end;
    this.done[i] = 0;
    this.msgs[i] = msg;
    const seq = this.headSeq + this.len;
    this.len++;
    this.held++;
    this.changed = true;
    if (this.len > MIN_WINDOW && this.len > 2 * this.held) this.copyForward();
    return seq;
  }

  private pushDone(file: number, end: number): void {
    const seq = this.push(file, end, null);
    this.finish(seq);
  }

  private popDone(): void {
    let popped = 0;
    let file = 0;
    let end = 0;
    while (this.len > 0 && this.done[this.head] === 1) {
      file = this.files[this.head]!;
      end = this.ends[this.head]!;
      this.head = (this.head + 1) % this.cap;
      this.headSeq++;
      this.len--;
      popped++;
    }
    if (popped > 0) this.queue.ackTo(file, end, popped);
  }

  /**
   * The window is more than twice as long as what it holds: the held messages at its head are
   * written again at the end of the queue and their old entries finished, so the acknowledged
   * position moves on. Entries without a message yet (being delivered this turn) stay.
   */
  private copyForward(): void {
    let k = 0;
    while (k < this.len && this.len > this.held + MIN_WINDOW / 2) {
      const i = (this.head + k) % this.cap;
      const msg = this.msgs[i];
      if (this.done[i] === 1) {
        k++;
        continue;
      }
      if (msg === null) break;
      try {
        this.persistCopy(msg);
      } catch (err) {
        this.log.error(`DISKQUEUE(${this.name}) cannot move a held message forward - ${errorText(err)}`);
        return;
      }
      const seq = msg.windowSeq;
      msg.windowSeq = -1;
      this.finish(seq);
      k = 0; // the head may have popped
    }
  }

  private grow(): void {
    const cap = Math.max(256, this.cap * 2);
    const files = new Float64Array(cap);
    const ends = new Float64Array(cap);
    const done = new Uint8Array(cap);
    const msgs = new Array<Message | null>(cap).fill(null);
    for (let k = 0; k < this.len; k++) {
      const i = (this.head + k) % this.cap;
      files[k] = this.files[i]!;
      ends[k] = this.ends[i]!;
      done[k] = this.done[i]!;
      msgs[k] = this.msgs[i]!;
    }
    this.files = files;
    this.ends = ends;
    this.done = done;
    this.msgs = msgs;
    this.cap = cap;
    this.head = 0;
  }
}

interface ParsedSideRecord {
  ackFile: number;
  ackPos: number;
  entries: RestoredEntry[];
  unread: Map<string, number>;
}

/** Parses and checks a side record; a string says why it is unusable. */
export function parseSideRecord(bytes: Buffer): ParsedSideRecord | string {
  if (bytes.length < HEADER + 4) return `${bytes.length} bytes, shorter than a header`;
  if (!bytes.subarray(0, 8).equals(MAGIC)) return "bad magic";
  const bodyEnd = bytes.length - 4;
  if ((crc32(bytes.subarray(0, bodyEnd)) >>> 0) !== bytes.readUInt32BE(bodyEnd)) return "checksum mismatch (torn or corrupt)";
  const ackFile = bytes.readUInt32BE(8);
  const ackPos = readUint64(bytes, 12);
  const w = bytes.readUInt32BE(20);
  const d = bytes.readUInt32BE(24);
  const entries: RestoredEntry[] = [];
  let at = HEADER;
  for (let k = 0; k < w; k++) {
    if (at + 1 > bodyEnd) return "entries run past the end";
    const state = bytes[at++]!;
    if (state === STATE_DONE) {
      entries.push({ state, file: 0, end: 0, attempts: 0, due: 0 });
      continue;
    }
    if (state !== STATE_IN_FLIGHT && state !== STATE_DEFERRED) return `unknown entry state ${state}`;
    const need = state === STATE_DEFERRED ? 18 : 10;
    if (at + need > bodyEnd) return "entries run past the end";
    const file = bytes.readUInt32BE(at);
    const end = bytes.readUInt32BE(at + 4);
    const attempts = bytes.readUInt16BE(at + 8);
    const due = state === STATE_DEFERRED ? Number(bytes.readBigInt64BE(at + 10)) : 0;
    at += need;
    entries.push({ state, file, end, attempts, due });
  }
  const unread = new Map<string, number>();
  for (let k = 0; k < d; k++) {
    if (at + 24 > bodyEnd) return "deferred entries run past the end";
    unread.set(bytes.toString("latin1", at, at + 16), Number(bytes.readBigInt64BE(at + 16)));
    at += 24;
  }
  if (at !== bodyEnd) return `${bodyEnd - at} unexpected trailing bytes`;
  return { ackFile, ackPos, entries, unread };
}

function writeHeld(out: Buffer, at: number, file: number, end: number, attempts: number): number {
  out.writeUInt32BE(file, at);
  out.writeUInt32BE(end, at + 4);
  out.writeUInt16BE(attempts, at + 8);
  return at + 10;
}

function writeInt64(out: Buffer, at: number, value: number): number {
  out.writeBigInt64BE(BigInt(Math.trunc(value)), at);
  return at + 8;
}

function writeUint64(out: Buffer, at: number, value: number): void {
  out.writeUInt32BE(Math.floor(value / 4294967296), at);
  out.writeUInt32BE(value >>> 0, at + 4);
}

function readUint64(bytes: Buffer, at: number): number {
  return bytes.readUInt32BE(at) * 4294967296 + bytes.readUInt32BE(at + 4);
}

function idString(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset + MSG_ID_OFFSET, 16).toString("latin1");
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
