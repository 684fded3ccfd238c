/**
 * The disk queue's writer and its syncs: the data file appended to, the descriptors not yet fsynced, and the
 * grouped asynchronous syncs that make data, the ack window's side record and the metadata durable in that order
 * (see "Sync and metadata" below). DiskQueue (disk-queue.ts) extends this class with reading, writing records,
 * recovery and the public API; the state both sides use is declared here.
 */
import {
  close as closeAsync,
  constants as fsConstants,
  fsync as fsyncAsync,
  fsyncSync,
  open as openAsync,
  openSync,
  renameSync,
  truncateSync,
  unlinkSync,
  write as writeAsync,
} from "node:fs";
import { join } from "node:path";
import type { Logger } from "../util/logger.ts";
import type { AckWindow } from "./ack-window.ts";
import { fsyncDirectory, replaceFileDurably } from "./durable-file.ts";
import { closeSafely, DiskQueueError, errnoCode, errorText, newDataFile, removeIfPresentOrThrow, removeQuietly, type DataFile } from "./disk-queue-format.ts";
import { dirtyQueues } from "./disk-queue-sync-timer.ts";

/** What the writer and sync code need from the queue's options. */
export interface DiskQueueSyncOptions {
  name: string;
  dataPath: string;
  syncEvery: number;
  syncTimeout: number;
  logger: Logger;
}

export abstract class DiskQueueSync {
  protected readonly name: string;
  protected readonly dataPath: string;
  private readonly syncEvery: number;
  protected readonly syncTimeout: number;
  protected readonly log: Logger;

  // Persisted state (metadata file).
  protected readFileNum = 0;
  protected readPos = 0;
  protected writeFileNum = 0;
  protected writePos = 0;
  protected depthCount = 0;

  /** Data files from the read file to the write file, by number. */
  protected files = new Map<number, DataFile>();

  /** The descriptor appended to, or null before the first write / after a roll or failure. */
  private writer: WriteHandle | null = null;
  /**
   * Descriptors whose bytes are not yet known to be fsynced: the writer plus files retired by a roll (or by a
   * failure) since the last sync that covered them. A retired descriptor stays open until an fsync issued after
   * its retirement has completed, so metadata naming a later file never outruns the earlier file's data.
   */
  private readonly unsyncedHandles = new Set<WriteHandle>();

  protected opsSinceSync = 0;
  protected needSync = false;
  /** Bumped whenever a data file is created; the directory is fsynced before metadata that may reference it. */
  private dirChangeSeq = 0;
  private dirSyncedSeq = 0;
  protected dirtySince = 0;
  protected closed = false;
  /** close() is syncing: the side record is written whatever its interval */
  protected closing = false;

  /** The asynchronous sync in flight (at most one per queue), or null. */
  protected syncJob: SyncJob | null = null;
  /** Operations that need a sync arrived while one was in flight: start another as soon as it finishes. */
  protected syncAgain = false;
  /** Numbers every metadata snapshot; an async snapshot older than what is on disk is never renamed into place. */
  private metaSeq = 0;
  private metaSeqOnDisk = 0;
  /**
   * The metadata text known to be durable (everything it references fsynced), or null. A queue whose state still
   * matches it has nothing to sync at close; a fresh queue with no files counts as "0\n0,0\n0,0\n" on disk.
   */
  protected metaOnDisk: string | null = null;
  private idleWaiters: (() => void)[] = [];

  // Crash-safe delivery (ack-window.ts), once trackAcks() was called: the read position written to the
  // metadata is the acknowledged one, and data files are deleted only when it has passed them.
  protected ackWindow: AckWindow | null = null;
  protected ackFileNum = 0;
  protected ackPos = 0;
  /** records read but not yet acknowledged (still in the window) */
  protected unackedRecords = 0;
  /** files read to their end but not yet acknowledged, ascending */
  protected retainedFiles: { num: number; end: number }[] = [];
  /**
   * The acknowledged position of the side record on disk; the metadata carries this one (never a newer one, so
   * the two always match after a crash) and files are deleted only once it has passed them.
   */
  protected persistedAckFile = 0;
  protected persistedAckPos = 0;
  /** records acknowledged since the position on disk (for the metadata's depth) */
  protected ackedSinceStamp = 0;
  private lastSideWriteAt = 0;
  /** a sync left the changed side record for later (interval): the timer must come back */
  private sidePending = false;

  constructor(opts: DiskQueueSyncOptions) {
    this.name = opts.name;
    this.dataPath = opts.dataPath;
    this.syncEvery = Math.max(1, opts.syncEvery);
    this.syncTimeout = Math.max(1, opts.syncTimeout);
    this.log = opts.logger;
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

  // -------------------------------------------------------------------------------------------------------------
  // Crash-safe delivery: the ack window's side record and the files it keeps

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

  /**
   * Reads and acknowledgements (ack mode) change only the side record and the acknowledged position: losing
   * them in a crash means redelivery, never loss, so they don't count toward --sync-every; the next sync (a
   * write's, or the --sync-timeout timer's) takes them along.
   */
  protected afterAckChange(): void {
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
  // Writing

  /** The descriptor of data file `num`, opened (retiring the previous one) when the writer moves to a new file. */
  protected openWriteFile(num: number): number {
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
  protected retireWriter(): void {
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
  protected rollBackWrite(segments: WriteSegment[], cause: unknown): void {
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
  protected afterOperation(): void {
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
  protected afterRead(): void {
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
  protected syncLogged(): void {
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
  protected syncNow(forceSide = false): void {
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

  protected metadataText(): string {
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
  protected dropWriteState(): void {
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
  // File names

  protected metaFileName(): string {
    return join(this.dataPath, `${this.name}.diskqueue.meta.dat`);
  }

  protected fileName(num: number): string {
    return join(this.dataPath, `${this.name}.diskqueue.${String(num).padStart(6, "0")}.dat`);
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface WriteSegment {
  fileNum: number;
  filePos: number;
  bufStart: number;
  bufEnd: number;
  records: number;
}

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
