/**
 * The disk queue's files at the byte level (spec §2.9, go-diskqueue v1.1.0's format): what we know about a data
 * file, the read-ahead window and the synchronous read/write helpers, and the queue's error type. The record
 * layout itself (length prefix, validity checks, resynchronisation after damage) is in disk-queue-scan.ts; the
 * metadata file in disk-queue-meta.ts.
 */
import { closeSync, readSync, statSync, unlinkSync, writeSync } from "node:fs";

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
export interface SkipRange {
  from: number;
  to: number;
}

/** What we know about one data file between the read and write positions. */
export interface DataFile {
  num: number;
  /** Readable extent in bytes (for the current write file this tracks writePos). */
  end: number;
  /** Records in this file not yet handed out. */
  remaining: number;
  /** Corrupt ranges found on open, ascending; the reader jumps over them. */
  skips: SkipRange[];
}

export const READ_WINDOW_BYTES = 64 * 1024;

export const EMPTY = new Uint8Array(0);
export const EMPTY_BUFFER = Buffer.alloc(0);

export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or never created
  }
}

export function newDataFile(num: number, end: number): DataFile {
  return { num, end, remaining: 0, skips: [] };
}

/** A read-ahead window over one file descriptor; its buffer is allocated on first use (idle queues hold none). */
export class ReadWindow {
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

export function readUpTo(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
  let total = 0;
  while (total < length) {
    const n = readSync(fd, buf, offset + total, length - total, position + total);
    if (n <= 0) break;
    total += n;
  }
  return total;
}

export function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
  const got = readUpTo(fd, buf, offset, length, position);
  if (got < length) throw new Error(`short read: ${got} of ${length} bytes at ${position}`);
}

export function writeFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
  while (length > 0) {
    const n = writeSync(fd, buf, offset, length, position);
    if (n <= 0) throw new Error(`write returned ${n}`);
    offset += n;
    length -= n;
    position += n;
  }
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

export function removeIfPresentOrThrow(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw err;
  }
}

export function removeIfPresent(path: string, failures: string[]): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") failures.push(`${path}: ${errorText(err)}`);
  }
}

export function closeSafely(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closing is best effort; the descriptor is gone either way
  }
}

export function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
