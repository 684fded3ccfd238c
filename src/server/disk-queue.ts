/**
 * A file-backed FIFO that reads and writes go-diskqueue v1.1.0's on-disk format byte for byte (spec §2.9):
 *
 *   <dataPath>/<name>.diskqueue.NNNNNN.dat   records `[int32 BE length L][L bytes]`, files rolled at maxBytesPerFile
 *   <dataPath>/<name>.diskqueue.meta.dat     `depth\nreadFileNum,readPos\nwriteFileNum,writePos\n`
 *
 * so real nsqd can take over our data directory and vice versa.
 *
 * Reads and writes are synchronous on purpose: the broker is single-threaded and calls this from its event loop,
 * and a PUB's OK must mean "written to the file" (not fsynced, like nsqd). Writes are batched (one pwrite per file
 * touched by a putMany) and reads go through a 64 KiB read-ahead window.
 *
 * Periodic syncs (every --sync-every operations, --sync-timeout, file roll, finished read file) run off the event
 * loop: node:fs callback APIs run on a thread pool in Bun as in Node, so the fsync of the data file(s) and the
 * metadata rewrite (tmp + fsync) do not block the connections (they were ~24 % of the broker's CPU samples).
 * See "Sync and metadata" below for the ordering rules that keep this crash-safe. close(), sync() and the open-time
 * repair stay fully synchronous.
 *
 * Where we deliberately do better than go-diskqueue (nsq#1033, #1491, #1514, go-diskqueue#28/#29):
 * - On open every data file still to be read is walked record by record (length prefixes only; cheap), so the
 *   depth is exact after any crash and every corrupt byte range is known before delivery starts.
 * - Corrupt ranges (garbage length prefix, truncated record, read position inside a record) are skipped
 *   precisely: after garbage we look for the next plausible record (valid length + 16 lowercase-hex message ID,
 *   confirmed by the record that follows or by end of file) and keep delivering from there. The damaged file
 *   is preserved as `<file>.bad` (hard link, so no copy) for the operator; `corruption` and the log say what
 *   was skipped.
 * - We never append after bytes we did not account for: if the write file on disk differs from the metadata
 *   (bigger: unsynced writes; smaller: lost writes) or has damage, writing moves to a fresh file.
 * - Per-file record counts make depth exact even when a file has to be abandoned at run time.
 * - A failed write (ENOSPC, EIO…) is truncated back, nothing is counted, DiskQueueError is thrown and the
 *   next put can succeed once space is available.
 * - New data files are made durable (directory fsync) before metadata that references them.
 */
import {
  close as closeAsync,
  closeSync,
  constants as fsConstants,
  copyFileSync,
  fstatSync,
  fsync as fsyncAsync,
  fsyncSync,
  linkSync,
  open as openAsync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  write as writeAsync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { Logger } from "../util/logger.ts";
import { fsyncDirectory, replaceFileDurably } from "./durable-file.ts";
import { deferredSidecarPath } from "./metadata.ts";
import { listDataDirectory, type QueueFiles } from "./data-dir-index.ts";
import { AckWindow, ackSidePath, type AckQueue } from "./ack-window.ts";

export interface DiskQueueOptions {
  name: string;
  dataPath: string;
  maxBytesPerFile: number;
  /** Smallest valid record (26: an empty-body message). */
  minMsgSize: number;
  /** Largest valid record (--max-msg-size + 26). */
  maxMsgSize: number;
  /** fsync + persist metadata after this many reads+writes. */
  syncEvery: number;
  /** …or this many ms after the first unsynced operation. */
  syncTimeout: number;
  logger: Logger;
  /** called after each successful put/putMany (the broker clears a disk-error health state) */
  onWriteSucceeded?: () => void;
  /**
   * This queue's files from the broker's one listing of the data directory (data-dir-index.ts), so
   * opening does not list the directory again; null: none were there. Omitted: list it here.
   */
  startupFiles?: QueueFiles | null;
}

export class DiskQueueError extends Error {
  /** errno code of the underlying failure (e.g. "ENOSPC"), when there was one. */
  readonly code: string | undefined;
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "DiskQueueError";
    this.code = errnoCode(cause);
  }
}

export interface CorruptionReport {
  /** Number of distinct corruption incidents detected (each is logged). */
  events: number;
  /** Bytes present in data files that could not be delivered. */
  skippedBytes: number;
  /** Description of the most recent incident ("" if none). */
  lastError: string;
}

/** A byte range of a data file that holds no deliverable record. */
interface SkipRange {
  from: number;
  to: number;
}

/** What we know about one data file between the read and write positions. */
interface DataFile {
  num: number;
  /** Readable extent in bytes (for the current write file this tracks writePos). */
  end: number;
  /** Records in this file not yet handed out. */
  remaining: number;
  /** Corrupt ranges found on open, ascending; the reader jumps over them. */
  skips: SkipRange[];
}

const READ_WINDOW_BYTES = 64 * 1024;
const SCRATCH_INITIAL_BYTES = 64 * 1024;
const SCRATCH_KEEP_BYTES = 4 * 1024 * 1024;
const MESSAGE_ID_OFFSET = 10; // within a record: timestamp(8) + attempts(2)
const MESSAGE_ID_LENGTH = 16;
const META_RE = /^(-?\d+)\n(\d+),(\d+)\n(\d+),(\d+)\n?\s*$/;

// ---------------------------------------------------------------------------------------------------------------
// Shared sync timer: one unref'd interval serves every open queue with unsynced operations.

const dirtyQueues = new Set<DiskQueue>();
const openQueueTimeouts = new Map<DiskQueue, number>();
/** How many open queues use each sync timeout: the smallest is found without walking every queue (O(1) open). */
const timeoutUsers = new Map<number, number>();
let syncTimer: ReturnType<typeof setInterval> | null = null;
let syncTimerPeriod = 0;

function registerOpenQueue(queue: DiskQueue, syncTimeout: number): void {
  openQueueTimeouts.set(queue, syncTimeout);
  timeoutUsers.set(syncTimeout, (timeoutUsers.get(syncTimeout) ?? 0) + 1);
  rescheduleSyncTimer();
}

function unregisterOpenQueue(queue: DiskQueue): void {
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

// ---------------------------------------------------------------------------------------------------------------

export class DiskQueue implements AckQueue {
  readonly corruption: CorruptionReport = { events: 0, skippedBytes: 0, lastError: "" };

  private readonly name: string;
  private readonly dataPath: string;
  private readonly maxBytesPerFile: number;
  private readonly minMsgSize: number;
  private readonly maxMsgSize: number;
  private readonly syncEvery: number;
  private readonly syncTimeout: number;
  private readonly log: Logger;

  // Persisted state (metadata file).
  private readFileNum = 0;
  private readPos = 0;
  private writeFileNum = 0;
  private writePos = 0;
  private depthCount = 0;

  /** Data files from the read file to the write file, by number. */
  private files = new Map<number, DataFile>();

  private readFd = -1;
  private readFdNum = -1;
  private readonly window: ReadWindow;

  /** The descriptor appended to, or null before the first write / after a roll or failure. */
  private writer: WriteHandle | null = null;
  /**
   * Descriptors whose bytes are not yet known to be fsynced: the writer plus files retired by a roll (or by a
   * failure) since the last sync that covered them. A retired descriptor stays open until an fsync issued after
   * its retirement has completed, so metadata naming a later file never outruns the earlier file's data.
   */
  private readonly unsyncedHandles = new Set<WriteHandle>();
  /** Encode buffer, allocated by the first write (an idle queue holds no buffer). */
  private scratch: Buffer = EMPTY_BUFFER;
  private readonly single: Uint8Array[] = [new Uint8Array(0)];

  private opsSinceSync = 0;
  private needSync = false;
  /** Bumped whenever a data file is created; the directory is fsynced before metadata that may reference it. */
  private dirChangeSeq = 0;
  private dirSyncedSeq = 0;
  private dirtySince = 0;
  private closed = false;
  /** close() is syncing: the side record is written whatever its interval */
  private closing = false;

  /** The asynchronous sync in flight (at most one per queue), or null. */
  private syncJob: SyncJob | null = null;
  /** Operations that need a sync arrived while one was in flight: start another as soon as it finishes. */
  private syncAgain = false;
  /** Numbers every metadata snapshot; an async snapshot older than what is on disk is never renamed into place. */
  private metaSeq = 0;
  private metaSeqOnDisk = 0;
  /**
   * The metadata text known to be durable (everything it references fsynced), or null. A queue whose state still
   * matches it has nothing to sync at close; a fresh queue with no files counts as "0\n0,0\n0,0\n" on disk.
   */
  private metaOnDisk: string | null = null;
  private idleWaiters: (() => void)[] = [];

  private readonly onWriteSucceeded: (() => void) | null;

  // Crash-safe delivery (ack-window.ts), once trackAcks() was called: the read position written to the
  // metadata is the acknowledged one, and data files are deleted only when it has passed them.
  private ackWindow: AckWindow | null = null;
  private ackFileNum = 0;
  private ackPos = 0;
  /** records read but not yet acknowledged (still in the window) */
  private unackedRecords = 0;
  /** files read to their end but not yet acknowledged, ascending */
  private retainedFiles: { num: number; end: number }[] = [];
  /**
   * The acknowledged position of the side record on disk; the metadata carries this one (never a newer one, so
   * the two always match after a crash) and files are deleted only once it has passed them.
   */
  private persistedAckFile = 0;
  private persistedAckPos = 0;
  /** records acknowledged since the position on disk (for the metadata's depth) */
  private ackedSinceStamp = 0;
  private lastSideWriteAt = 0;
  /** a sync left the changed side record for later (interval): the timer must come back */
  private sidePending = false;
  /** false when the start-up listing showed no side record for this queue (then it is not looked for) */
  private sideRecordMayExist = true;
  /** the read position found in the metadata on open, or null */
  private metaPosition: { file: number; pos: number } | null = null;
  /** where the record last returned by readNext() ends */
  lastReadFile = 0;
  lastReadEnd = 0;

  constructor(opts: DiskQueueOptions) {
    this.name = opts.name;
    this.dataPath = opts.dataPath;
    this.maxBytesPerFile = opts.maxBytesPerFile;
    this.minMsgSize = opts.minMsgSize;
    this.maxMsgSize = opts.maxMsgSize;
    this.syncEvery = Math.max(1, opts.syncEvery);
    this.syncTimeout = Math.max(1, opts.syncTimeout);
    this.log = opts.logger;
    this.onWriteSucceeded = opts.onWriteSucceeded ?? null;
    this.window = new ReadWindow(READ_WINDOW_BYTES);
    this.recover(opts.startupFiles);
    registerOpenQueue(this, this.syncTimeout);
  }

  depth(): number {
    return this.depthCount;
  }

  /** Bytes of read/write buffers this queue holds (0 until it carries messages; nsq issue 21). */
  bufferBytes(): number {
    return this.scratch.length + this.window.allocatedBytes;
  }

  put(record: Uint8Array): void {
    this.single[0] = record;
    try {
      this.putMany(this.single);
    } finally {
      this.single[0] = EMPTY;
    }
  }

  /**
   * Appends every record, or none: the batch is encoded into one buffer and written with one pwrite per data
   * file it spans; on any failure everything written by this call is truncated away before throwing.
   */
  putMany(records: Uint8Array[]): void {
    if (this.closed) throw new DiskQueueError(`DISKQUEUE(${this.name}) put on a closed queue`);
    const count = records.length;
    if (count === 0) return;

    let totalBytes = 0;
    for (let i = 0; i < count; i++) {
      const len = records[i].length;
      if (len < this.minMsgSize || len > this.maxMsgSize) {
        throw new DiskQueueError(
          `DISKQUEUE(${this.name}) invalid message write size (${len}) minMsgSize=${this.minMsgSize} maxMsgSize=${this.maxMsgSize}`,
        );
      }
      totalBytes += 4 + len;
    }
    if (this.scratch.length < totalBytes) this.scratch = Buffer.allocUnsafe(Math.max(totalBytes, this.scratch.length * 2, SCRATCH_INITIAL_BYTES));

    // Encode, splitting into segments where the file rolls (same rule as go-diskqueue's writeOne).
    const segments: WriteSegment[] = [];
    let segment: WriteSegment = { fileNum: this.writeFileNum, filePos: this.writePos, bufStart: 0, bufEnd: 0, records: 0 };
    segments.push(segment);
    let pos = this.writePos;
    let offset = 0;
    const buf = this.scratch;
    for (let i = 0; i < count; i++) {
      const record = records[i];
      const size = 4 + record.length;
      if (pos > 0 && pos + size > this.maxBytesPerFile) {
        segment.bufEnd = offset;
        segment = { fileNum: segment.fileNum + 1, filePos: 0, bufStart: offset, bufEnd: 0, records: 0 };
        segments.push(segment);
        pos = 0;
      }
      buf.writeInt32BE(record.length, offset);
      buf.set(record, offset + 4);
      offset += size;
      pos += size;
      segment.records++;
    }
    segment.bufEnd = offset;

    let current: WriteSegment | null = null;
    try {
      for (const seg of segments) {
        current = seg;
        if (seg.bufEnd === seg.bufStart) continue; // the first segment is empty when the very first record rolls
        const fd = this.openWriteFile(seg.fileNum);
        writeFully(fd, buf, seg.bufStart, seg.bufEnd - seg.bufStart, seg.filePos);
      }
    } catch (err) {
      if (this.scratch.length > SCRATCH_KEEP_BYTES) this.scratch = Buffer.allocUnsafe(SCRATCH_INITIAL_BYTES);
      this.rollBackWrite(segments, err);
      const where = current === null ? "" : ` to ${this.fileName(current.fileNum)} at ${current.filePos}`;
      const message = `DISKQUEUE(${this.name}) failed to write ${count} record(s) (${totalBytes} bytes)${where} - ${errorText(err)}`;
      this.log.error(message);
      throw new DiskQueueError(message, err);
    }

    // A shutdown flush can encode a huge batch; don't keep that much memory around afterwards.
    if (this.scratch.length > SCRATCH_KEEP_BYTES) this.scratch = Buffer.allocUnsafe(SCRATCH_INITIAL_BYTES);

    // Commit.
    for (const seg of segments) {
      const file = this.fileInfo(seg.fileNum);
      file.end = seg.filePos + (seg.bufEnd - seg.bufStart);
      file.remaining += seg.records;
    }
    const last = segments[segments.length - 1];
    if (last.fileNum !== this.writeFileNum) this.needSync = true; // go-diskqueue syncs on every roll
    this.writeFileNum = last.fileNum;
    this.writePos = last.filePos + (last.bufEnd - last.bufStart);
    this.depthCount += count;
    this.opsSinceSync += count;
    this.afterOperation();
    if (this.onWriteSucceeded !== null) this.onWriteSucceeded();
  }

  /** The next record (a fresh buffer owned by the caller) or null when the queue is empty. */
  readNext(): Uint8Array | null {
    if (this.closed) return null;
    for (;;) {
      const file = this.files.get(this.readFileNum);
      if (file === undefined) {
        if (this.readFileNum >= this.writeFileNum) {
          this.repairTail();
          return null;
        }
        this.advanceReadFile();
        continue;
      }
      const isWriteFile = file.num === this.writeFileNum;
      const end = isWriteFile ? this.writePos : file.end;
      while (file.skips.length > 0 && file.skips[0].from < this.readPos) file.skips.shift();
      if (file.skips.length > 0 && file.skips[0].from === this.readPos) {
        this.readPos = file.skips.shift()!.to;
        this.needSync = true;
        continue;
      }
      if (this.readPos >= end || (!isWriteFile && file.remaining === 0)) {
        if (isWriteFile) {
          this.repairTail();
          return null;
        }
        this.finishReadFile(file);
        continue;
      }

      const record = this.readRecordAt(file, end);
      if (record === null) continue; // the file was abandoned as corrupt; try the next one

      this.lastReadFile = file.num;
      this.lastReadEnd = this.readPos;
      file.remaining--;
      this.depthCount--;
      if (this.ackWindow !== null) {
        this.unackedRecords++;
        if (!isWriteFile && file.remaining === 0) this.finishReadFile(file);
        this.afterAckChange();
        return record;
      }
      this.opsSinceSync++;
      if (!isWriteFile && file.remaining === 0) this.finishReadFile(file);
      this.afterRead();
      return record;
    }
  }

  /** Drops every record and data file (spec §2.9 Empty). */
  empty(): void {
    if (this.closed) throw new DiskQueueError(`DISKQUEUE(${this.name}) empty on a closed queue`);
    this.log.info(`DISKQUEUE(${this.name}): emptying`);
    const failures = this.deleteAllFiles();
    if (failures.length > 0) {
      const message = `DISKQUEUE(${this.name}) failed to empty - ${failures.join("; ")}`;
      this.log.error(message);
      throw new DiskQueueError(message);
    }
  }

  /** Empty, then stop without writing metadata (topic/channel deleted). */
  delete(): void {
    if (this.closed) return;
    this.log.info(`DISKQUEUE(${this.name}): deleting`);
    this.log.info(`DISKQUEUE(${this.name}): closing ... ioLoop`); // go-diskqueue's ioLoop ends here
    const failures = this.deleteAllFiles();
    this.release();
    if (failures.length > 0) this.log.error(`DISKQUEUE(${this.name}) failed to delete - ${failures.join("; ")}`);
  }

  /** Sync and release files. Throws DiskQueueError (after releasing everything) if the final sync failed. */
  close(): void {
    if (this.closed) return;
    this.log.info(`DISKQUEUE(${this.name}): closing`);
    this.log.info(`DISKQUEUE(${this.name}): closing ... ioLoop`); // go-diskqueue's ioLoop ends here
    let failure: unknown = null;
    this.closing = true;
    try {
      // Unchanged since the last durable metadata: no fsync, no rewrite (nsq issue 21: 20,000 idle queues).
      const sideChanged = this.ackWindow !== null && this.ackWindow.hasChanges;
      if (this.syncJob !== null || sideChanged || this.metaOnDisk !== this.metadataText()) this.syncNow();
    } catch (err) {
      failure = err;
    }
    this.release();
    if (failure !== null) {
      throw failure instanceof DiskQueueError ? failure : new DiskQueueError(`DISKQUEUE(${this.name}) close - ${errorText(failure)}`, failure);
    }
  }

  /** fsync the write file and persist metadata. Throws DiskQueueError on failure. */
  sync(): void {
    if (this.closed) return;
    this.syncNow(true);
  }

  /** Called by the shared sync timer. */
  syncIfDue(now: number): void {
    if (this.dirtySince === 0 || now - this.dirtySince < this.syncTimeout) return;
    this.requestSync();
  }

  /**
   * Resolves once no asynchronous sync is in flight or queued (immediately when none is). For tests and for
   * callers that want the periodic metadata on disk; close() does not need it (it syncs synchronously).
   */
  whenSyncSettled(): Promise<void> {
    if (this.syncJob === null) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Switches on crash-safe delivery (a channel's queue): from now on a record counts as consumed only when
   * the returned window acknowledges it. Loads the window's side record left by the last run.
   */
  trackAcks(): AckWindow {
    if (this.ackWindow !== null) return this.ackWindow;
    this.ackFileNum = this.persistedAckFile = this.readFileNum;
    this.ackPos = this.persistedAckPos = this.readPos;
    const window = new AckWindow(this, ackSidePath(this.dataPath, this.name), this.log, this.name);
    // the side record replays by position: only when reading starts exactly where the metadata said, undamaged
    const meta = this.metaPosition;
    const trusted = meta !== null && meta.file === this.readFileNum && meta.pos === this.readPos && this.corruption.events === 0;
    if (this.sideRecordMayExist) window.load(meta, trusted);
    this.ackWindow = window;
    return window;
  }

  /** AckQueue: every record up to (fileNum, pos) is done. */
  ackTo(fileNum: number, pos: number, records: number): void {
    this.unackedRecords -= records;
    this.ackedSinceStamp += records;
    let file = fileNum;
    let at = pos;
    // acknowledged to the end of a file the reader has left: move to the next one, as the reader did
    for (let i = 0; i < this.retainedFiles.length; i++) {
      const r = this.retainedFiles[i]!;
      if (r.num !== file || r.end !== at) continue;
      file = i + 1 < this.retainedFiles.length ? this.retainedFiles[i + 1]!.num : this.readFileNum;
      at = 0;
    }
    this.ackFileNum = file;
    this.ackPos = at;
    this.afterAckChange();
  }

  /** Deletes the files read to their end that lie before the acknowledged position now in the metadata. */
  private dropAckedFiles(beforeFile: number): void {
    while (this.retainedFiles.length > 0 && this.retainedFiles[0]!.num < beforeFile) {
      const path = this.fileName(this.retainedFiles.shift()!.num);
      try {
        unlinkSync(path);
      } catch (err) {
        if (errnoCode(err) !== "ENOENT") this.log.error(`DISKQUEUE(${this.name}) failed to Remove(${path}) - ${errorText(err)}`);
      }
    }
  }

  /** AckQueue: the window changed without a read or write (an out-of-order FIN, a deferral). */
  sideRecordChanged(): void {
    this.afterAckChange();
  }

  /**
   * Reads and acknowledgements (ack mode) change only the side record and the acknowledged position: losing
   * them in a crash means redelivery, never loss, so they don't count toward --sync-every; the next sync (a
   * write's, or the --sync-timeout timer's) takes them along.
   */
  private afterAckChange(): void {
    if (this.needSync) {
      this.requestSync();
      return;
    }
    this.markDirtyNow();
  }

  private markDirtyNow(): void {
    if (this.dirtySince === 0) {
      this.dirtySince = Date.now();
      dirtyQueues.add(this);
    }
  }

  /**
   * The side record for a sync starting now, or null: unchanged, or written less than sideInterval ago (one
   * fsync more per sync would halve the grouped sync rate; a later sync or the timer writes it).
   */
  private captureSide(force: boolean): SideCapture | null {
    const window = this.ackWindow;
    if (window === null || !window.hasChanges) return null;
    const now = Date.now();
    if (!force && now - this.lastSideWriteAt < Math.min(SIDE_INTERVAL_MS, this.syncTimeout)) {
      this.sidePending = true;
      return null;
    }
    const bytes = window.capture(this.ackFileNum, this.ackPos);
    if (bytes === null) return null;
    return { bytes, file: this.ackFileNum, pos: this.ackPos, acked: this.ackedSinceStamp };
  }

  /** The side record `side` is on disk: the metadata may carry its position from now on. */
  private sideWritten(side: SideCapture): void {
    // only a completed write counts: a sync cancelled by a synchronous one must not hold the next write back
    this.lastSideWriteAt = Date.now();
    this.persistedAckFile = side.file;
    this.persistedAckPos = side.pos;
    this.ackedSinceStamp -= side.acked;
  }

  private sideFailed(): void {
    this.ackWindow?.captureFailed();
    this.sidePending = true;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Recovery on open

  private recover(startupFiles: QueueFiles | null | undefined): void {
    if (startupFiles !== undefined && startupFiles !== null) this.sideRecordMayExist = startupFiles.ackSidecar === true;
    // With the broker's start-up listing (startupFiles), the directory is not listed again and a metadata file
    // it did not see is not looked for. null (nothing at start-up): only a metadata file written since — a
    // delete that failed to remove it — makes us list the directory.
    const meta = startupFiles?.meta === false ? null : this.readQueueMetadata();
    const listed = startupFiles === undefined || (startupFiles === null && meta !== null);
    const present = listed ? this.listDataFileNumbers() : this.startupDataFiles(startupFiles);

    let readNum: number;
    let readPos: number;
    let writeNum: number;
    let writePos: number;
    if (meta !== null) {
      ({ readNum, readPos, writeNum, writePos } = meta);
      this.metaPosition = { file: readNum, pos: readPos };
    } else if (present.length > 0) {
      // No usable metadata but data files exist (crash right after Empty, or a lost meta file): deliver them all.
      readNum = present[0];
      readPos = 0;
      writeNum = present[present.length - 1];
      writePos = -1; // unknown: never append to these files
      this.log.warn(`DISKQUEUE(${this.name}) no usable metadata; recovering ${present.length} data file(s) ${this.fileName(readNum)}..${this.fileName(writeNum)}`);
    } else {
      this.files.set(0, newDataFile(0, 0)); // fresh queue
      this.metaOnDisk = this.metadataText(); // no files is the same state: nothing to write at close
      return;
    }

    if (meta !== null && readNum > writeNum) {
      this.noteCorruption(`metadata readFileNum ${readNum} > writeFileNum ${writeNum}; reading from ${readNum}, writing to a new file`, 0);
    }
    const stale = present.filter((n) => n < readNum);
    if (stale.length > 0) {
      this.log.warn(`DISKQUEUE(${this.name}) ignoring ${stale.length} data file(s) before read file ${readNum} (already consumed): ${stale.map((n) => this.fileName(n)).join(", ")}`);
    }
    const toRead = present.filter((n) => n >= readNum);
    const highest = Math.max(readNum, writeNum, toRead.length > 0 ? toRead[toRead.length - 1] : 0);

    // Can we keep appending to the metadata's write file? Only if it is exactly as the metadata describes.
    const writeFileSize = listed || present.includes(writeNum) ? fileSize(this.fileName(writeNum)) : -1;
    let appendable = meta !== null && readNum <= writeNum && highest === writeNum && (readNum < writeNum || readPos <= writePos);
    if (meta !== null && readNum <= writeNum) {
      if (writeFileSize === -1 && writePos > 0) {
        this.noteCorruption(`metadata writePos ${writePos} but ${this.fileName(writeNum)} is missing (${writePos} bytes lost)`, 0);
        appendable = false;
      } else if (writeFileSize > writePos) {
        // go-diskqueue#28: unsynced writes beyond the metadata; salvage them and write elsewhere.
        this.log.warn(`DISKQUEUE(${this.name}) ${this.fileName(writeNum)} metadata writePos ${writePos} < file size of ${writeFileSize}, skipping to new file`);
        appendable = false;
      } else if (writeFileSize >= 0 && writeFileSize < writePos) {
        this.noteCorruption(`metadata writePos ${writePos} > file size of ${writeFileSize} for ${this.fileName(writeNum)} (${writePos - writeFileSize} bytes lost), skipping to new file`, 0);
        appendable = false;
      }
    }

    // Walk every file still to be read.
    let total = 0;
    for (const num of toRead) {
      const start = num === readNum ? readPos : 0;
      const file = this.scanDataFile(num, start);
      if (num === writeNum && appendable && file.skips.length > 0) appendable = false;
      this.files.set(num, file);
      total += file.remaining;
    }

    if (appendable) {
      this.writeFileNum = writeNum;
      this.writePos = writePos;
      if (!this.files.has(writeNum)) this.files.set(writeNum, newDataFile(writeNum, writePos));
    } else {
      this.writeFileNum = highest + 1;
      this.writePos = 0;
      this.files.set(this.writeFileNum, newDataFile(this.writeFileNum, 0));
    }

    this.readFileNum = readNum;
    this.readPos = this.files.has(readNum) ? readPos : 0;
    if (!this.files.has(readNum)) {
      if (meta !== null && readNum < this.writeFileNum) {
        this.log.warn(`DISKQUEUE(${this.name}) read file ${this.fileName(readNum)} is missing (consumed before the last metadata sync?); moving on`);
      }
      this.advanceReadFileNumber();
      if (this.readFileNum > this.writeFileNum) this.readFileNum = this.writeFileNum;
    }
    const readFile = this.files.get(this.readFileNum);
    if (readFile !== undefined && this.readPos > readFile.end && this.readFileNum !== this.writeFileNum) {
      this.readPos = readFile.end; // read position beyond the end (already reported by the scan)
    }
    this.depthCount = total;

    if (meta !== null && meta.depth !== total) {
      this.log.warn(`DISKQUEUE(${this.name}) metadata depth ${meta.depth} but ${total} record(s) found on disk; using ${total}`);
    }
    // Drop files that end up fully consumed (e.g. read position at their end).
    this.finishExhaustedReadFiles();
    const changed =
      this.needSync ||
      meta === null ||
      meta.depth !== total ||
      meta.readNum !== this.readFileNum ||
      meta.readPos !== this.readPos ||
      meta.writeNum !== this.writeFileNum ||
      meta.writePos !== this.writePos;
    if (changed) this.syncLogged();
    else this.metaOnDisk = this.metadataText();
  }

  /** Parses the metadata file; null when missing or unreadable (the latter counts as corruption). */
  private readQueueMetadata(): { depth: number; readNum: number; readPos: number; writeNum: number; writePos: number } | null {
    const path = this.metaFileName();
    let text: string;
    try {
      text = readFileSync(path, "latin1");
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") this.noteCorruption(`failed to read metadata ${path} - ${errorText(err)}`, 0);
      return null;
    }
    const m = META_RE.exec(text);
    if (m === null) {
      this.noteCorruption(`unparsable metadata ${path} (${JSON.stringify(text.slice(0, 80))}); scanning data files instead`, 0);
      return null;
    }
    const values = m.slice(1).map(Number);
    if (!values.every(Number.isSafeInteger)) {
      this.noteCorruption(`metadata ${path} holds out-of-range numbers; scanning data files instead`, 0);
      return null;
    }
    const [depth, readNum, readPos, writeNum, writePos] = values;
    return { depth, readNum, readPos, writeNum, writePos };
  }

  private listDataFileNumbers(): number[] {
    const prefix = `${this.name}.diskqueue.`;
    const numbers: number[] = [];
    let entries: string[];
    try {
      entries = listDataDirectory(this.dataPath);
    } catch (err) {
      this.log.error(`DISKQUEUE(${this.name}) cannot list ${this.dataPath} - ${errorText(err)}`);
      return numbers;
    }
    const metaTmpPrefix = `${prefix}meta.dat.`;
    for (const entry of entries) {
      if (entry.startsWith(metaTmpPrefix) && entry.endsWith(".tmp")) {
        // Left by a crash (or exit) during a metadata write; the rename never happened, so it holds nothing we need.
        removeQuietly(join(this.dataPath, entry));
        continue;
      }
      if (!entry.startsWith(prefix) || !entry.endsWith(".dat")) continue;
      const middle = entry.slice(prefix.length, entry.length - 4);
      if (middle.length >= 6 && /^\d+$/.test(middle)) numbers.push(Number(middle));
    }
    return numbers.sort((a, b) => a - b);
  }

  /** The data file numbers from the start-up listing; leftover metadata tmp files go, as in listDataFileNumbers. */
  private startupDataFiles(files: QueueFiles | null | undefined): number[] {
    if (files === null || files === undefined) return [];
    for (const tmp of files.metaTmps) removeQuietly(join(this.dataPath, tmp));
    return files.dataFiles;
  }

  /**
   * Walks a data file from `start`, counting well-formed records and recording corrupt ranges. Never throws:
   * an unreadable file is treated as entirely corrupt.
   */
  private scanDataFile(num: number, start: number): DataFile {
    const path = this.fileName(num);
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      this.noteCorruption(`cannot open ${path} - ${errorText(err)}`, 0);
      return newDataFile(num, 0);
    }
    const window = scanWindow; // one shared window: scans are synchronous, and a queue then keeps no buffer
    window.attach(fd);
    try {
      const size = fstatSync(fd).size;
      const file = newDataFile(num, size);
      if (start > size) {
        this.noteCorruption(`metadata readPos ${start} is beyond the end of ${path} (${size} bytes)`, 0);
        return file;
      }
      let pos = start;
      if (start > 0) {
        const boundary = this.alignReadPosition(window, size, start);
        if (boundary > start) {
          file.skips.push({ from: start, to: boundary });
          this.noteCorruption(`metadata readPos ${start} is inside a record of ${path}; resuming at ${boundary}`, boundary - start);
          pos = boundary;
        }
      }
      while (pos < size) {
        const len = this.recordLengthAt(window, pos, size);
        if (len >= 0) {
          file.remaining++;
          pos += 4 + len;
          continue;
        }
        const reason = this.describeBadRecord(window, pos, size);
        const resume = this.findNextRecord(window, pos + 1, size);
        const to = resume < 0 ? size : resume;
        file.skips.push({ from: pos, to });
        const after = resume < 0 ? "rest of file skipped" : `resuming at ${resume}`;
        this.noteCorruption(`${reason} at ${pos} of ${path}; ${to - pos} bytes skipped, ${after}`, to - pos);
        pos = to;
      }
      if (file.skips.length > 0) this.preserveBadFile(num);
      return file;
    } catch (err) {
      this.noteCorruption(`reading ${path} - ${errorText(err)}; file skipped`, 0);
      this.preserveBadFile(num);
      return newDataFile(num, 0);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Returns `start` when it is a record boundary reachable from the file's beginning, the first boundary past it
   * when it falls inside a record, or `start` (trusting the metadata) when the walk hits damage first.
   */
  private alignReadPosition(window: ReadWindow, size: number, start: number): number {
    let pos = 0;
    while (pos < start) {
      const len = this.recordLengthAt(window, pos, size);
      if (len < 0) return start;
      pos += 4 + len;
    }
    return pos;
  }

  /** Length of the well-formed record at pos, or -1. */
  private recordLengthAt(window: ReadWindow, pos: number, limit: number): number {
    if (limit - pos < 4) return -1;
    const at = window.load(pos, 4, limit);
    if (at < 0) return -1;
    const len = window.buf.readInt32BE(at);
    if (len < this.minMsgSize || len > this.maxMsgSize || pos + 4 + len > limit) return -1;
    return len;
  }

  private describeBadRecord(window: ReadWindow, pos: number, limit: number): string {
    if (limit - pos < 4) return `truncated length prefix (${limit - pos} bytes)`;
    const at = window.load(pos, 4, limit);
    if (at < 0) return "unreadable length prefix";
    const len = window.buf.readInt32BE(at);
    if (len < this.minMsgSize || len > this.maxMsgSize) return `invalid message read size (${len})`;
    return `truncated record (size ${len}, ${limit - pos - 4} bytes left)`;
  }

  /**
   * Finds the next offset ≥ from that looks like the start of a message record: plausible length, a 16-char
   * lowercase-hex ID at the message-ID offset, and either the end of the file or another such record right after.
   * Returns -1 when there is none.
   */
  private findNextRecord(window: ReadWindow, from: number, limit: number): number {
    for (let pos = from; pos + 4 + this.minMsgSize <= limit; pos++) {
      const len = this.plausibleRecordAt(window, pos, limit);
      if (len < 0) continue;
      const next = pos + 4 + len;
      if (next === limit || this.plausibleRecordAt(window, next, limit) >= 0) return pos;
    }
    return -1;
  }

  private plausibleRecordAt(window: ReadWindow, pos: number, limit: number): number {
    const len = this.recordLengthAt(window, pos, limit);
    if (len < MESSAGE_ID_OFFSET + MESSAGE_ID_LENGTH) return -1;
    const idStart = pos + 4 + MESSAGE_ID_OFFSET;
    const at = window.load(idStart, MESSAGE_ID_LENGTH, limit);
    if (at < 0) return -1;
    const buf = window.buf;
    for (let i = at; i < at + MESSAGE_ID_LENGTH; i++) {
      const c = buf[i];
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return -1;
    }
    return len;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reading

  /** Reads the record at readPos and advances; null (after abandoning the file) when it cannot be read. */
  private readRecordAt(file: DataFile, end: number): Uint8Array | null {
    const pos = this.readPos;
    try {
      this.openReadFile(file.num);
      const len = this.recordLengthAt(this.window, pos, end);
      if (len < 0) {
        this.abandonReadFile(file, end, `${this.describeBadRecord(this.window, pos, end)} at ${pos} of ${this.fileName(file.num)}`);
        return null;
      }
      const out = Buffer.allocUnsafeSlow(len); // unpooled: consumers may keep messages for long
      if (4 + len <= this.window.buf.length) {
        const at = this.window.load(pos, 4 + len, end);
        if (at < 0) throw new Error(`short read of ${4 + len} bytes at ${pos}`);
        this.window.buf.copy(out, 0, at + 4, at + 4 + len);
      } else {
        readFully(this.readFd, out, 0, len, pos + 4);
      }
      this.readPos = pos + 4 + len;
      return out;
    } catch (err) {
      this.abandonReadFile(file, end, `reading at ${pos} of ${this.fileName(file.num)} - ${errorText(err)}`);
      return null;
    }
  }

  private openReadFile(num: number): void {
    if (this.readFdNum === num) return;
    this.closeReadFile();
    const path = this.fileName(num);
    this.readFd = openSync(path, "r");
    this.readFdNum = num;
    this.window.attach(this.readFd);
    this.log.info(`DISKQUEUE(${this.name}): readOne() opened ${path}`);
  }

  private closeReadFile(): void {
    if (this.readFd !== -1) closeSafely(this.readFd);
    this.readFd = -1;
    this.readFdNum = -1;
    this.window.detach();
  }

  /** Run-time read failure: keep the file as .bad, drop its remaining records from the depth, move on. */
  private abandonReadFile(file: DataFile, end: number, reason: string): void {
    const skipped = Math.max(0, end - this.readPos);
    this.noteCorruption(`${reason}; ${file.remaining} record(s) (${skipped} bytes) skipped`, skipped);
    this.depthCount -= file.remaining;
    file.remaining = 0;
    this.closeReadFile();
    this.preserveBadFile(file.num);
    if (file.num === this.writeFileNum) {
      // Never append to a file we cannot read back.
      this.retireWriter();
      this.writeFileNum++;
      this.writePos = 0;
      this.files.set(this.writeFileNum, newDataFile(this.writeFileNum, 0));
    }
    this.finishReadFile(file);
  }

  /** Deletes a completely read file and moves the reader to the next one (sync scheduled, like go-diskqueue). */
  private finishReadFile(file: DataFile): void {
    if (this.readFdNum === file.num) this.closeReadFile();
    this.files.delete(file.num);
    const path = this.fileName(file.num);
    if (this.ackWindow !== null && file.num >= this.ackFileNum) {
      this.retainedFiles.push({ num: file.num, end: file.end }); // deleted once acknowledged (ackTo)
    } else {
      try {
        unlinkSync(path);
      } catch (err) {
        if (errnoCode(err) !== "ENOENT") this.log.error(`DISKQUEUE(${this.name}) failed to Remove(${path}) - ${errorText(err)}`);
      }
    }
    if (file.remaining !== 0) {
      // Cannot happen unless the accounting is wrong; keep depth honest anyway.
      this.depthCount -= file.remaining;
      this.noteCorruption(`${path} finished with ${file.remaining} record(s) unaccounted`, 0);
    }
    this.advanceReadFile();
    this.needSync = true;
  }

  private advanceReadFile(): void {
    this.readFileNum++;
    this.readPos = 0;
    this.advanceReadFileNumber();
  }

  /** Skips numbers without a data file (e.g. consumed files deleted before the metadata caught up). */
  private advanceReadFileNumber(): void {
    while (this.readFileNum < this.writeFileNum && !this.files.has(this.readFileNum)) {
      let next = this.writeFileNum;
      for (const num of this.files.keys()) if (num > this.readFileNum && num < next) next = num;
      this.readFileNum = next;
      this.readPos = 0;
    }
  }

  /** Completed files with no record left to deliver (only damage, or a read position at their end) go now. */
  private finishExhaustedReadFiles(): void {
    for (;;) {
      const file = this.files.get(this.readFileNum);
      if (file === undefined || file.num === this.writeFileNum || file.remaining > 0) return;
      this.finishReadFile(file);
    }
  }

  /** The reader caught up with the writer: depth must be 0 (go-diskqueue's checkTailCorruption). */
  private repairTail(): void {
    if (this.depthCount !== 0) {
      this.noteCorruption(`depth ${this.depthCount} at the tail of the queue, resetting to 0`, 0);
      this.depthCount = 0;
      this.needSync = true;
      this.afterOperation();
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Writing

  /** The descriptor of data file `num`, opened (retiring the previous one) when the writer moves to a new file. */
  private openWriteFile(num: number): number {
    const current = this.writer;
    if (current !== null && current.num === num) return current.fd;
    // go-diskqueue fsyncs the old file before starting a new one. We retire it instead: its descriptor stays open
    // and the sync this roll schedules fsyncs it off the event loop before any metadata naming a later file.
    this.retireWriter();
    const path = this.fileName(num);
    const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT, 0o600);
    const handle: WriteHandle = { fd, num, retired: false, fsyncsInFlight: 0, closeWanted: false };
    this.writer = handle;
    this.unsyncedHandles.add(handle);
    this.dirChangeSeq++;
    this.log.info(`DISKQUEUE(${this.name}): writeOne() opened ${path}`);
    return fd;
  }

  /** Stops appending to the current file; its descriptor is closed once a later fsync has covered it. */
  private retireWriter(): void {
    const handle = this.writer;
    if (handle === null) return;
    handle.retired = true;
    this.writer = null;
  }

  /**
   * After a failed fsync the kernel may have dropped the dirty pages: never append to that file again, and don't
   * fsync it again either (a second fsync can "succeed" without the data).
   */
  private abandonWriteFileAfterSyncFailure(): void {
    const handle = this.writer;
    if (handle !== null) {
      handle.retired = true;
      this.writer = null;
      this.unsyncedHandles.delete(handle);
      releaseHandle(handle);
    }
    const current = this.files.get(this.writeFileNum);
    if (current !== undefined) current.end = this.writePos;
    this.writeFileNum++;
    this.writePos = 0;
    this.files.set(this.writeFileNum, newDataFile(this.writeFileNum, 0));
  }

  /** Removes whatever a failed putMany wrote. If that fails too, future writes go to a fresh file. */
  private rollBackWrite(segments: WriteSegment[], cause: unknown): void {
    this.retireWriter();
    let clean = true;
    for (let i = segments.length - 1; i >= 0; i--) {
      const seg = segments[i];
      const path = this.fileName(seg.fileNum);
      try {
        if (seg.filePos === 0) unlinkSync(path);
        else truncateSync(path, seg.filePos);
      } catch (err) {
        if (errnoCode(err) === "ENOENT") continue;
        clean = false;
        this.log.error(`DISKQUEUE(${this.name}) failed to roll back ${path} to ${seg.filePos} after ${errorText(cause)} - ${errorText(err)}`);
      }
    }
    if (!clean) {
      const highest = segments[segments.length - 1].fileNum;
      const current = this.files.get(this.writeFileNum);
      if (current !== undefined) current.end = this.writePos;
      this.writeFileNum = highest + 1;
      this.writePos = 0;
      this.files.set(this.writeFileNum, newDataFile(this.writeFileNum, 0));
      this.needSync = true;
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Sync and metadata
  //
  // A sync makes durable a state captured when it starts: the metadata text (depth and both positions) and the set
  // of descriptors with unsynced bytes are taken at that moment; those descriptors are fsynced (plus the directory
  // when a data file was created), and only then is the captured text written to `<meta>.<random>.tmp`, fsynced and
  // renamed over the metadata file. Everything the metadata references was written before the capture, so it is
  // on disk before the metadata is. Bytes written after the capture may or may not be covered; the next sync will
  // cover them (a retired descriptor stays in unsyncedHandles until an fsync *issued after its retirement* is done).
  //
  // At most one asynchronous sync runs per queue. Requests arriving meanwhile set syncAgain and one more sync starts
  // when it finishes (coalescing). The rename happens on the event loop (renameSync: a cheap directory operation,
  // no flush) so it can be checked against what happened meanwhile: a sync that was cancelled (close, empty,
  // delete) or overtaken by a synchronous sync (metaSeq) deletes its tmp file instead, so no stale metadata ever
  // replaces newer metadata and no metadata file reappears after delete(). Descriptors are never closed while an
  // fsync on them is in flight (WriteHandle.fsyncsInFlight), so an fd number can't be reused under it.

  /**
   * After a write. --sync-every bounds how many acknowledged writes may be on disk unsynced, as in
   * go-diskqueue (which syncs before accepting the write after the Nth): while an asynchronous
   * sync covers the previous N writes, reaching N more syncs synchronously, before this write's
   * publisher gets its OK. With fast disks the async sync is done first and nothing blocks.
   */
  private afterOperation(): void {
    if (this.opsSinceSync >= this.syncEvery) {
      if (this.syncJob !== null && !this.closed) {
        this.syncLogged();
        return;
      }
      this.needSync = true;
    }
    if (this.needSync) {
      this.requestSync();
      return;
    }
    this.markDirty();
  }

  /**
   * Reads count toward --sync-every like go-diskqueue's, but lazily: a read never queues a sync behind the one in
   * flight. A read-side sync only persists the read position; the records themselves are already durable, and a
   * stale read position after a crash means redelivery of records read since (at-least-once, never loss; the
   * depth is recounted from the files on open anyway). So while a sync is running, reads only leave the queue
   * dirty: the first read past the threshold after it finishes, a write-triggered sync or the --sync-timeout timer
   * picks the position up. Structural changes (a finished file deleted, corruption skipped) still sync eagerly.
   */
  private afterRead(): void {
    if (this.needSync || (this.opsSinceSync >= this.syncEvery && this.syncJob === null)) {
      this.requestSync();
      return;
    }
    this.markDirty();
  }

  private markDirty(): void {
    if (this.dirtySince === 0 && this.opsSinceSync > 0) {
      this.dirtySince = Date.now();
      dirtyQueues.add(this);
    }
  }

  /** Starts an asynchronous sync, or asks for one more after the sync in flight. */
  private requestSync(): void {
    if (this.closed) return;
    if (this.syncJob !== null) {
      this.syncAgain = true;
      return;
    }
    this.startSync();
  }

  private startSync(): void {
    this.syncAgain = false;
    const handles: WriteHandle[] = [];
    const retiredAtStart: boolean[] = [];
    for (const handle of this.unsyncedHandles) {
      handles.push(handle);
      retiredAtStart.push(handle.retired);
      handle.fsyncsInFlight++;
    }
    const job: SyncJob = {
      seq: ++this.metaSeq,
      meta: this.metadataText(),
      dirSeq: this.dirChangeSeq,
      handles,
      retiredAtStart,
      pending: handles.length,
      failure: null,
      cancelled: false,
      tmp: "",
      side: null,
      metaWithSide: "",
      metaAckFile: this.persistedAckFile,
    };
    const side = this.captureSide(false);
    if (side !== null) {
      job.side = side;
      const depth = this.depthCount + this.unackedRecords + this.ackedSinceStamp - side.acked;
      job.metaWithSide = `${depth}\n${side.file},${side.pos}\n${this.writeFileNum},${this.writePos}\n`;
    }
    this.syncJob = job;
    this.opsSinceSync = 0;
    this.needSync = false;
    this.dirtySince = 0;
    dirtyQueues.delete(this);
    if (handles.length === 0) {
      this.afterDataSynced(job);
      return;
    }
    for (let i = 0; i < handles.length; i++) {
      const index = i;
      fsyncAsync(handles[index].fd, (err) => this.onHandleSynced(job, index, err));
    }
  }

  private onHandleSynced(job: SyncJob, index: number, err: NodeJS.ErrnoException | null): void {
    const handle = job.handles[index];
    handle.fsyncsInFlight--;
    if (err !== null) {
      if (job.failure === null) {
        job.failure = new DiskQueueError(`DISKQUEUE(${this.name}) failed to sync ${this.fileName(handle.num)} - ${errorText(err)}`, err);
      }
      if (!this.closed && !job.cancelled) {
        if (handle === this.writer) this.abandonWriteFileAfterSyncFailure();
        else if (handle.retired) {
          this.unsyncedHandles.delete(handle); // see abandonWriteFileAfterSyncFailure: no second fsync
          releaseHandle(handle);
        }
      }
    } else if (job.retiredAtStart[index]) {
      // Retired before this sync started, so nothing was written to it after the fsync was issued: done with it.
      this.unsyncedHandles.delete(handle);
      releaseHandle(handle);
    }
    maybeCloseHandle(handle);
    if (--job.pending > 0) return;
    if (job.failure !== null) this.finishSync(job, job.failure);
    else this.afterDataSynced(job);
  }

  private afterDataSynced(job: SyncJob): void {
    if (job.cancelled) {
      this.finishSync(job, null);
      return;
    }
    if (job.dirSeq <= this.dirSyncedSeq) {
      this.writeSideRecord(job);
      return;
    }
    fsyncDirectoryAsync(this.dataPath, () => {
      if (job.dirSeq > this.dirSyncedSeq) this.dirSyncedSeq = job.dirSeq;
      this.writeSideRecord(job);
    });
  }

  /**
   * The ack window's side record goes in place before the metadata stamped with the same position (tmp +
   * fsync off the event loop, rename on it, like the metadata). A failure is logged and the metadata still
   * written: a side record that does not match the metadata is ignored on open (redelivery, never loss).
   */
  private writeSideRecord(job: SyncJob): void {
    const side = job.side;
    const window = this.ackWindow;
    if (side === null || window === null || job.cancelled) {
      this.writeMetadataTmp(job);
      return;
    }
    job.side = null;
    const written = () => {
      this.sideWritten(side);
      job.meta = job.metaWithSide;
      job.metaAckFile = side.file;
    };
    if (side.bytes === "delete" || side.bytes === "none") {
      if (side.bytes === "delete") removeQuietly(window.path);
      written();
      this.writeMetadataTmp(job);
      return;
    }
    const bytes = side.bytes;
    const tmp = metadataTmpName(window.path);
    const done = (err: unknown) => {
      if (err === null && !job.cancelled && !this.closed && job.seq > this.metaSeqOnDisk) {
        try {
          renameSync(tmp, window.path);
          written();
        } catch (renameErr) {
          err = renameErr;
        }
      } else if (err === null) {
        this.sideFailed(); // overtaken: the next sync writes the current state
      }
      if (err !== null) {
        removeQuietly(tmp);
        this.sideFailed();
        this.log.error(`DISKQUEUE(${this.name}) failed to write ${window.path} - ${errorText(err)}`);
      } else removeQuietly(tmp);
      this.writeMetadataTmp(job);
    };
    openAsync(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o600, (openErr, fd) => {
      if (openErr !== null) return done(openErr);
      writeAllAsync(fd, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), 0, (writeErr) => {
        if (writeErr !== null) return closeAsync(fd, () => done(writeErr));
        fsyncAsync(fd, (syncErr) => closeAsync(fd, (closeErr) => done(syncErr ?? closeErr ?? null)));
      });
    });
  }

  private writeMetadataTmp(job: SyncJob): void {
    if (job.cancelled) {
      this.finishSync(job, null);
      return;
    }
    job.tmp = metadataTmpName(this.metaFileName());
    const bytes = Buffer.from(job.meta, "latin1");
    const fail = (err: unknown) => this.finishSync(job, this.metadataError(err));
    openAsync(job.tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o600, (openErr, fd) => {
      if (openErr !== null) return fail(openErr);
      writeAllAsync(fd, bytes, 0, (writeErr) => {
        if (writeErr !== null) return closeAsync(fd, () => fail(writeErr));
        fsyncAsync(fd, (syncErr) => {
          closeAsync(fd, (closeErr) => {
            const err = syncErr ?? closeErr;
            if (err !== null) fail(err);
            else this.finishSync(job, null);
          });
        });
      });
    });
  }

  /** Renames the job's tmp file into place when it is still the newest metadata, then starts a queued sync. */
  private finishSync(job: SyncJob, failure: DiskQueueError | null): void {
    if (this.syncJob === job) this.syncJob = null;
    if (job.side !== null && !job.cancelled) this.sideFailed(); // never written (the data's fsync failed): next sync
    let err = failure;
    if (job.tmp !== "") {
      let renamed = false;
      if (err === null && !job.cancelled && !this.closed && job.seq > this.metaSeqOnDisk) {
        try {
          renameSync(job.tmp, this.metaFileName());
          this.metaSeqOnDisk = job.seq;
          this.metaOnDisk = job.meta;
          renamed = true;
          if (this.ackWindow !== null) this.dropAckedFiles(job.metaAckFile);
        } catch (renameErr) {
          err = this.metadataError(renameErr);
        }
      }
      if (!renamed) removeQuietly(job.tmp);
    }
    if (err !== null && !job.cancelled && !this.closed) {
      // Retry one syncTimeout later (rather than every following operation retrying and logging, e.g. while
      // the disk is full).
      this.log.error(err.message);
      this.syncAgain = false;
      this.needSync = false;
      this.opsSinceSync = 0;
      this.dirtySince = Date.now();
      dirtyQueues.add(this);
    } else if (this.syncAgain && !this.closed) {
      this.startSync();
    }
    if (this.sidePending && !this.closed && this.syncJob === null) {
      this.sidePending = false;
      this.markDirtyNow(); // the timer writes the side record left for later
    }
    if (this.syncJob === null && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private metadataError(err: unknown): DiskQueueError {
    return new DiskQueueError(`DISKQUEUE(${this.name}) failed to persist metadata ${this.metaFileName()} - ${errorText(err)}`, err);
  }

  /** Synchronous sync (open-time repair only), logging failure; the shared timer retries later. */
  private syncLogged(): void {
    try {
      this.syncNow();
    } catch (err) {
      this.log.error(errorText(err));
      this.needSync = false;
      this.opsSinceSync = 0;
      this.dirtySince = Date.now();
      dirtyQueues.add(this);
    }
  }

  /** Fully synchronous sync (close, sync(), open): everything written so far is on disk when it returns. */
  private syncNow(forceSide = false): void {
    // Whatever an async sync in flight captured is older than what we are about to write: skip its metadata.
    if (this.syncJob !== null) {
      this.syncJob.cancelled = true;
      if (this.syncJob.side !== null) this.sideFailed(); // its side record may never be written
    }
    let failure: DiskQueueError | null = null;
    for (const handle of Array.from(this.unsyncedHandles)) {
      try {
        fsyncSync(handle.fd); // fine while an async fsync of the same fd is in flight: the fd stays open
      } catch (err) {
        failure ??= new DiskQueueError(`DISKQUEUE(${this.name}) failed to sync ${this.fileName(handle.num)} - ${errorText(err)}`, err);
        if (handle === this.writer) this.abandonWriteFileAfterSyncFailure();
        else {
          this.unsyncedHandles.delete(handle);
          releaseHandle(handle);
        }
        continue;
      }
      if (handle.retired) {
        this.unsyncedHandles.delete(handle);
        releaseHandle(handle);
      }
    }
    if (failure !== null) throw failure;
    if (this.dirChangeSeq > this.dirSyncedSeq) {
      fsyncDirectory(this.dataPath);
      this.dirSyncedSeq = this.dirChangeSeq;
    }
    this.persistSideRecordNow(forceSide || this.closing);
    this.persistQueueMetadata();
    if (this.ackWindow !== null) this.dropAckedFiles(this.persistedAckFile);
    this.opsSinceSync = 0;
    this.needSync = false;
    this.dirtySince = 0;
    dirtyQueues.delete(this);
    if (this.sidePending && !this.closing) {
      this.sidePending = false;
      this.markDirtyNow(); // the timer writes the side record left for later
    }
  }

  /** The ack window's side record, written before the metadata it is stamped for (failure: logged, retried). */
  private persistSideRecordNow(force: boolean): void {
    const window = this.ackWindow;
    const side = this.captureSide(force);
    if (window === null || side === null) return;
    try {
      if (side.bytes === "delete") removeIfPresentOrThrow(window.path);
      else if (side.bytes !== "none") replaceFileDurably(window.path, side.bytes);
      this.sideWritten(side);
    } catch (err) {
      this.sideFailed();
      this.log.error(`DISKQUEUE(${this.name}) failed to write ${window.path} - ${errorText(err)}`);
    }
  }

  private persistQueueMetadata(): void {
    const seq = ++this.metaSeq;
    const text = this.metadataText();
    try {
      replaceFileDurably(this.metaFileName(), Buffer.from(text, "latin1"));
      this.metaSeqOnDisk = seq;
      this.metaOnDisk = text;
    } catch (err) {
      throw this.metadataError(err);
    }
  }

  private metadataText(): string {
    if (this.ackWindow !== null) {
      const depth = this.depthCount + this.unackedRecords + this.ackedSinceStamp;
      return `${depth}\n${this.persistedAckFile},${this.persistedAckPos}\n${this.writeFileNum},${this.writePos}\n`;
    }
    return `${this.depthCount}\n${this.readFileNum},${this.readPos}\n${this.writeFileNum},${this.writePos}\n`;
  }

  /**
   * Stops the async sync in flight from writing metadata and releases every write descriptor without fsyncing
   * (used when the data is being deleted, and after close() has synced synchronously).
   */
  private dropWriteState(): void {
    const job = this.syncJob;
    if (job !== null) {
      job.cancelled = true;
      // Its tmp file may already exist; finishSync removes it too (covers an open still in flight).
      if (job.tmp !== "") removeQuietly(job.tmp);
    }
    this.metaSeqOnDisk = ++this.metaSeq;
    for (const handle of this.unsyncedHandles) releaseHandle(handle);
    this.unsyncedHandles.clear();
    if (this.writer !== null) releaseHandle(this.writer);
    this.writer = null;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Empty / delete / release

  /** go-diskqueue's deleteAllFiles + skipToNextRWFile; returns failure descriptions. */
  private deleteAllFiles(): string[] {
    this.closeReadFile();
    this.dropWriteState();
    const failures: string[] = [];
    const numbers = new Set<number>(this.files.keys());
    for (let n = this.readFileNum; n <= this.writeFileNum; n++) numbers.add(n);
    for (const r of this.retainedFiles) numbers.add(r.num);
    for (const num of numbers) removeIfPresent(this.fileName(num), failures);
    if (this.ackWindow !== null) removeIfPresent(this.ackWindow.path, failures); // before the metadata: see recover
    removeIfPresent(this.metaFileName(), failures);
    removeIfPresent(deferredSidecarPath(this.dataPath, this.name), failures);
    this.metaOnDisk = null;
    this.writeFileNum++;
    this.writePos = 0;
    this.readFileNum = this.writeFileNum;
    this.readPos = 0;
    this.depthCount = 0;
    this.files = new Map([[this.writeFileNum, newDataFile(this.writeFileNum, 0)]]);
    this.ackFileNum = this.persistedAckFile = this.readFileNum;
    this.ackPos = this.persistedAckPos = 0;
    this.unackedRecords = 0;
    this.ackedSinceStamp = 0;
    this.retainedFiles = [];
    this.ackWindow?.reset();
    this.opsSinceSync = 0;
    this.needSync = false;
    this.syncAgain = false;
    this.dirtySince = 0;
    dirtyQueues.delete(this);
    return failures;
  }

  private release(): void {
    this.closed = true;
    this.closeReadFile();
    this.dropWriteState();
    unregisterOpenQueue(this);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Helpers

  private fileInfo(num: number): DataFile {
    let file = this.files.get(num);
    if (file === undefined) {
      file = newDataFile(num, 0);
      this.files.set(num, file);
    }
    return file;
  }

  private noteCorruption(message: string, skippedBytes: number): void {
    this.corruption.events++;
    this.corruption.skippedBytes += skippedBytes;
    this.corruption.lastError = message;
    this.log.error(`DISKQUEUE(${this.name}) corruption: ${message}`);
  }

  /** Keeps the damaged file's bytes as `<file>.bad` (a hard link; a copy where links are impossible). */
  private preserveBadFile(num: number): void {
    const path = this.fileName(num);
    let target = `${path}.bad`;
    try {
      const existing = statSync(target, { throwIfNoEntry: false });
      if (existing !== undefined) {
        if (existing.ino === statSync(path).ino) return; // already preserved on an earlier open
        target = `${path}.${Date.now()}.bad`;
      }
      try {
        linkSync(path, target);
      } catch (err) {
        if (errnoCode(err) === "ENOENT") return;
        copyFileSync(path, target);
      }
      this.log.warn(`DISKQUEUE(${this.name}) saving bad file as ${target}`);
    } catch (err) {
      this.log.error(`DISKQUEUE(${this.name}) failed to save bad file ${path} as ${target} - ${errorText(err)}`);
    }
  }

  private metaFileName(): string {
    return join(this.dataPath, `${this.name}.diskqueue.meta.dat`);
  }

  private fileName(num: number): string {
    return join(this.dataPath, `${this.name}.diskqueue.${String(num).padStart(6, "0")}.dat`);
  }
}

// ---------------------------------------------------------------------------------------------------------------

interface WriteSegment {
  fileNum: number;
  filePos: number;
  bufStart: number;
  bufEnd: number;
  records: number;
}

const EMPTY = new Uint8Array(0);
const EMPTY_BUFFER = Buffer.alloc(0);

/** A data-file descriptor the queue has appended through. */
interface WriteHandle {
  fd: number;
  num: number;
  /** No more appends; it is closed once an fsync issued after retirement has completed. */
  retired: boolean;
  /** Async fsyncs using the fd right now: it must not be closed (the number could be reused) until they end. */
  fsyncsInFlight: number;
  closeWanted: boolean;
}

/** One asynchronous sync: the state it captured and its progress. */
interface SyncJob {
  /** metaSeq of the captured state. */
  seq: number;
  /** The metadata text captured at start. */
  meta: string;
  /** dirChangeSeq at start: the directory fsync covers data files created up to here. */
  dirSeq: number;
  handles: WriteHandle[];
  /** Per handle: already retired at start (then one successful fsync finishes it). */
  retiredAtStart: boolean[];
  /** fsyncs not yet answered. */
  pending: number;
  failure: DiskQueueError | null;
  /** Set by close/empty/delete/sync(): finish without writing metadata. */
  cancelled: boolean;
  /** The tmp metadata file once its name is chosen, else "". */
  tmp: string;
  /** The ack window's side record captured with the metadata (written just before it), or null. */
  side: SideCapture | null;
  /** The metadata text to write instead of `meta` once `side` is on disk (it carries the side's position). */
  metaWithSide: string;
  /** The acknowledged file number in the metadata written (files before it may go once it is in place). */
  metaAckFile: number;
}

/** A side record captured for a sync, with the acknowledged position it is stamped with. */
interface SideCapture {
  bytes: Uint8Array | "delete" | "none";
  file: number;
  pos: number;
  /** ackedSinceStamp at capture */
  acked: number;
}

/** At most one side-record write per this interval (or --sync-timeout if smaller), except at close. */
const SIDE_INTERVAL_MS = 100;

function releaseHandle(handle: WriteHandle): void {
  handle.closeWanted = true;
  maybeCloseHandle(handle);
}

function maybeCloseHandle(handle: WriteHandle): void {
  if (!handle.closeWanted || handle.fsyncsInFlight > 0 || handle.fd === -1) return;
  closeSafely(handle.fd);
  handle.fd = -1;
}

function metadataTmpName(metaPath: string): string {
  return `${metaPath}.${Math.floor(Math.random() * Number.MAX_SAFE_INTEGER)}.tmp`;
}

function writeAllAsync(fd: number, bytes: Buffer, offset: number, done: (err: NodeJS.ErrnoException | null) => void): void {
  writeAsync(fd, bytes, offset, bytes.length - offset, offset, (err, written) => {
    if (err !== null) return done(err);
    if (written <= 0) return done(Object.assign(new Error(`write returned ${written}`), { code: "EIO" }));
    if (offset + written < bytes.length) return writeAllAsync(fd, bytes, offset + written, done);
    done(null);
  });
}

/** Best effort, like fsyncDirectory: some filesystems refuse fsync on directories. */
function fsyncDirectoryAsync(dir: string, done: () => void): void {
  openAsync(dir, "r", (openErr, fd) => {
    if (openErr !== null) return done();
    fsyncAsync(fd, () => closeAsync(fd, () => done()));
  });
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or never created
  }
}

function newDataFile(num: number, end: number): DataFile {
  return { num, end, remaining: 0, skips: [] };
}

/** A read-ahead window over one file descriptor; its buffer is allocated on first use (idle queues hold none). */
class ReadWindow {
  private storage: Buffer = EMPTY_BUFFER;
  private fd = -1;
  private start = 0;
  private length = 0;

  constructor(private readonly size: number) {}

  get buf(): Buffer {
    if (this.storage.length === 0) this.storage = Buffer.allocUnsafe(this.size);
    return this.storage;
  }

  get allocatedBytes(): number {
    return this.storage.length;
  }

  attach(fd: number): void {
    this.fd = fd;
    this.start = 0;
    this.length = 0;
  }

  detach(): void {
    this.fd = -1;
    this.length = 0;
  }

  /**
   * Makes bytes [pos, pos+n) available in `buf` (n ≤ buf.length) without reading past `limit`; returns their
   * offset in `buf`, or -1 if the file is shorter than expected.
   */
  load(pos: number, n: number, limit: number): number {
    if (pos >= this.start && pos + n <= this.start + this.length) return pos - this.start;
    const want = Math.min(this.buf.length, limit - pos);
    if (want < n) return -1;
    const got = readUpTo(this.fd, this.buf, 0, want, pos);
    this.start = pos;
    this.length = got;
    return got >= n ? 0 : -1;
  }
}

/** Used by the open-time scan of every queue's data files, one file at a time. */
const scanWindow = new ReadWindow(READ_WINDOW_BYTES);

function readUpTo(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
  let total = 0;
  while (total < length) {
    const n = readSync(fd, buf, offset + total, length - total, position + total);
    if (n <= 0) break;
    total += n;
  }
  return total;
}

function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
  const got = readUpTo(fd, buf, offset, length, position);
  if (got < length) throw new Error(`short read: ${got} of ${length} bytes at ${position}`);
}

function writeFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
  while (length > 0) {
    const n = writeSync(fd, buf, offset, length, position);
    if (n <= 0) throw new Error(`write returned ${n}`);
    offset += n;
    length -= n;
    position += n;
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

function removeIfPresentOrThrow(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw err;
  }
}

function removeIfPresent(path: string, failures: string[]): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") failures.push(`${path}: ${errorText(err)}`);
  }
}

function closeSafely(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closing is best effort; the descriptor is gone either way
  }
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

