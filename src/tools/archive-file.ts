/**
 * One output file of nsq_to_file. Writes are buffered until `sync()`, which writes them (as one
 * gzip member when gzipping, so the file is a valid concatenation of members), then fsyncs.
 * Synchronous fs calls keep the order write → fsync → FIN strict and a batch atomic on disk.
 */
import { closeSync, constants, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, unlinkSync, writeSync, existsSync } from "node:fs";
import { dirname } from "node:path";
import { gzipSync } from "node:zlib";

export interface ArchiveFileOptions {
  gzipLevel: number | null;
  /** create exclusively (gzip or rotate-interval) instead of appending */
  exclusive: boolean;
}

export class FileExistsError extends Error {
  override name = "FileExistsError";
}

export class ArchiveFile {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** on-disk size at open plus uncompressed bytes written since */
  size: number;
  readonly openedAt = Date.now();

  private constructor(
    readonly path: string,
    private fd: number | null,
    private readonly gzipLevel: number | null,
  ) {
    this.size = fstatSync(fd!).size;
  }

  /** Opens (creating directories with mode 0770); throws FileExistsError for an exclusive create of an existing file. */
  static open(path: string, opts: ArchiveFileOptions): ArchiveFile {
    mkdirSync(dirname(path), { recursive: true, mode: 0o770 });
    const flags = opts.exclusive
      ? constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL
      : constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND;
    let fd: number;
    try {
      fd = openSync(path, flags, 0o666);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new FileExistsError(path);
      throw new Error(`opening ${path}: ${(err as Error).message}`);
    }
    return new ArchiveFile(path, fd, opts.gzipLevel);
  }

  write(data: Buffer): void {
    this.pending.push(data);
    this.pendingBytes += data.length;
    this.size += data.length;
  }

  /** Writes everything buffered and fsyncs. */
  sync(): void {
    if (this.fd === null) return;
    if (this.pendingBytes > 0) {
      let data = Buffer.concat(this.pending, this.pendingBytes);
      if (this.gzipLevel !== null) data = gzipSync(data, { level: this.gzipLevel });
      this.pending = [];
      this.pendingBytes = 0;
      let off = 0;
      while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
    }
    fsyncSync(this.fd);
  }

  /** Syncs and closes. */
  close(): void {
    if (this.fd === null) return;
    this.sync();
    closeSync(this.fd);
    this.fd = null;
  }

  /** Closes and deletes the file (used when a just-created file cannot be used). */
  discard(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    unlinkSync(this.path);
  }
}

/** Moves a closed file by hard link + unlink; false when `to` already exists. */
export function moveNoClobber(from: string, to: string): boolean {
  mkdirSync(dirname(to), { recursive: true, mode: 0o770 });
  try {
    linkSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new Error(`moving ${from} to ${to}: ${(err as Error).message}`);
  }
  unlinkSync(from);
  return true;
}

export { existsSync };
