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
 * See "Sync and metadata" in disk-queue-sync.ts for the ordering rules that keep this crash-safe. close(), sync() and the open-time
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
 *
 * The queue is split by concept: disk-queue-format.ts (data file bookkeeping, read-ahead window, I/O helpers,
 * DiskQueueError), disk-queue-scan.ts (record format checks and the open-time walk over damaged files),
 * disk-queue-meta.ts (reading the metadata file, listing the queue's data files), disk-queue-sync.ts (the writer,
 * grouped asynchronous syncs, metadata and ack side-record writes; DiskQueue extends it),
 * disk-queue-sync-timer.ts (the one timer shared by every queue) and this file (the queue: put, read, recovery on
 * open, empty/delete/close, crash-safe delivery hooks).
 */
import { copyFileSync, linkSync, openSync, statSync, unlinkSync } from "node:fs";
import type { QueueFiles } from "./data-dir-index.ts";
import { deferredSidecarPath } from "./metadata.ts";
import { AckWindow, ackSidePath, type AckQueue } from "./ack-window.ts";
import {
  closeSafely,
  DiskQueueError,
  EMPTY,
  EMPTY_BUFFER,
  errnoCode,
  errorText,
  fileSize,
  newDataFile,
  READ_WINDOW_BYTES,
  ReadWindow,
  readFully,
  removeIfPresent,
  writeFully,
  type CorruptionReport,
  type DataFile,
} from "./disk-queue-format.ts";
import { listDataFileNumbers, readQueueMetadata, startupDataFiles } from "./disk-queue-meta.ts";
import { RecordFormat, type ScanSink } from "./disk-queue-scan.ts";
import { DiskQueueSync, type WriteSegment } from "./disk-queue-sync.ts";
import { dirtyQueues, registerOpenQueue, unregisterOpenQueue } from "./disk-queue-sync-timer.ts";
import { peekDataFiles, type PeekSpan, type PeekVisitor } from "./disk-queue-peek.ts";
import type { Logger } from "../util/logger.ts";

export { DiskQueueError, type CorruptionReport } from "./disk-queue-format.ts";

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

const SCRATCH_INITIAL_BYTES = 64 * 1024;
const SCRATCH_KEEP_BYTES = 4 * 1024 * 1024;

/** A go-diskqueue compatible queue: reads, writes, recovery on open and the public API (see the file comment). */
export class DiskQueue extends DiskQueueSync implements AckQueue {
  readonly corruption: CorruptionReport = { events: 0, skippedBytes: 0, lastError: "" };

  private readonly maxBytesPerFile: number;
  private readonly minMsgSize: number;
  private readonly maxMsgSize: number;
  private readonly records: RecordFormat;

  private readFd = -1;
  private readFdNum = -1;
  private readonly window: ReadWindow;

  /** Encode buffer, allocated by the first write (an idle queue holds no buffer). */
  private scratch: Buffer = EMPTY_BUFFER;
  private readonly single: Uint8Array[] = [new Uint8Array(0)];

  private readonly onWriteSucceeded: (() => void) | null;

  /** false when the start-up listing showed no side record for this queue (then it is not looked for) */
  private sideRecordMayExist = true;
  /** the read position found in the metadata on open, or null */
  private metaPosition: { file: number; pos: number } | null = null;
  /** where the record last returned by readNext() ends */
  lastReadFile = 0;
  lastReadEnd = 0;

  constructor(opts: DiskQueueOptions) {
    super(opts);
    this.maxBytesPerFile = opts.maxBytesPerFile;
    this.minMsgSize = opts.minMsgSize;
    this.maxMsgSize = opts.maxMsgSize;
    this.records = new RecordFormat(opts.minMsgSize, opts.maxMsgSize);
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

  /** BackendQueue.peekRecords: the records from the read position, read without moving it (disk-queue-peek.ts). */
  peekRecords(visit: PeekVisitor, maxRecords: number, maxBytes: number): boolean {
    if (this.closed) return true;
    const spans: PeekSpan[] = [];
    const nums = Array.from(this.files.keys()).filter((n) => n >= this.readFileNum && n <= this.writeFileNum);
    for (const num of nums.sort((a, b) => a - b)) {
      const file = this.files.get(num)!;
      const isWriteFile = num === this.writeFileNum;
      const start = num === this.readFileNum ? this.readPos : 0;
      spans.push({ num, start, end: isWriteFile ? this.writePos : file.end, records: isWriteFile ? Infinity : file.remaining, skips: file.skips });
    }
    return peekDataFiles(spans, this.records, (num) => this.fileName(num), visit, maxRecords, maxBytes);
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

  /** AckQueue: the window changed without a read or write (an out-of-order FIN, a deferral). */
  sideRecordChanged(): void {
    this.afterAckChange();
  }

  // -------------------------------------------------------------------------------------------------------------
  // Recovery on open

  private recover(startupFiles: QueueFiles | null | undefined): void {
    if (startupFiles !== undefined && startupFiles !== null) this.sideRecordMayExist = startupFiles.ackSidecar === true;
    // With the broker's start-up listing (startupFiles), the directory is not listed again and a metadata file
    // it did not see is not looked for. null (nothing at start-up): only a metadata file written since — a
    // delete that failed to remove it — makes us list the directory.
    const meta = startupFiles?.meta === false ? null : readQueueMetadata(
      this.metaFileName(),
      (message, skipped) => this.noteCorruption(message, skipped),
      (message) => this.log.error(`DISKQUEUE(${this.name}) ${message}`),
    );
    const listed = startupFiles === undefined || (startupFiles === null && meta !== null);
    const present = listed ? listDataFileNumbers(this.dataPath, this.name, this.log) : startupDataFiles(this.dataPath, startupFiles);

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
    const sink: ScanSink = {
      fileName: (num) => this.fileName(num),
      noteCorruption: (message, skipped) => this.noteCorruption(message, skipped),
      preserveBadFile: (num) => this.preserveBadFile(num),
    };
    let total = 0;
    for (const num of toRead) {
      const start = num === readNum ? readPos : 0;
      const file = this.records.scanDataFile(num, start, sink);
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

  // -------------------------------------------------------------------------------------------------------------
  // Reading

  /** Reads the record at readPos and advances; null (after abandoning the file) when it cannot be read. */
  private readRecordAt(file: DataFile, end: number): Uint8Array | null {
    const pos = this.readPos;
    try {
      this.openReadFile(file.num);
      const len = this.records.recordLengthAt(this.window, pos, end);
      if (len < 0) {
        this.abandonReadFile(file, end, `${this.records.describeBadRecord(this.window, pos, end)} at ${pos} of ${this.fileName(file.num)}`);
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

}
