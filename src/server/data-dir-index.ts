/**
 * What the data directory held when the broker started, listed once.
 *
 * Each disk queue used to list the whole directory when it opened (to find its data files and
 * leftover metadata tmp files): with thousands of topics that is N listings of an N-file
 * directory, quadratic start-up (nsq issue 21: ~100,000 getdents64 for 2,000 topics). The broker
 * now reads the directory once (DataDirIndex.read) and hands each queue the entry for its name
 * (claim), so opening a queue costs only the files it actually has.
 *
 * A claimed entry is removed: a queue created later under the same name (a topic deleted and
 * created again) starts from what it finds itself. Files this process creates after start-up
 * belong to open queues, which remove them when deleted; a queue opened at run time that finds
 * its metadata file anyway (a delete that failed to remove it) falls back to listing the
 * directory (see DiskQueue's recover).
 *
 * Every directory listing of the broker and its disk queues goes through listDataDirectory, so
 * tests can count them (directoryReadCount) whatever the number of topics.
 */
import { readdirSync } from "node:fs";

/** The files of one disk queue found at start-up (names as go-diskqueue writes them). */
export interface QueueFiles {
  /** `<name>.diskqueue.NNNNNN.dat` numbers, ascending */
  dataFiles: number[];
  /** `<name>.diskqueue.meta.dat` exists */
  meta: boolean;
  /** `<name>.diskqueue.meta.dat.<random>.tmp` left by a crash during a metadata write */
  metaTmps: string[];
  /** `<name>.diskqueue.ack.bin` (ack-window.ts) exists; absent = false */
  ackSidecar?: boolean;
}

let directoryReads = 0;

/** How many times the broker or its queues have listed a data directory (process-wide). */
export function directoryReadCount(): number {
  return directoryReads;
}

/** The one place that lists a data directory (counted). Throws like readdirSync. */
export function listDataDirectory(dir: string): string[] {
  directoryReads++;
  return readdirSync(dir);
}

const DATA_FILE_RE = /^(.+)\.diskqueue\.(\d{6,})\.dat$/;
const META_FILE_SUFFIX = ".diskqueue.meta.dat";
const META_TMP_RE = /^(.+)\.diskqueue\.meta\.dat\..*\.tmp$/;
const DEFERRED_SIDECAR_SUFFIX = ".diskqueue.deferred.bin";
const ACK_SIDECAR_SUFFIX = ".diskqueue.ack.bin";

export class DataDirIndex {
  private readonly queues = new Map<string, QueueFiles>();
  private readonly deferredSidecars = new Set<string>();

  /** false when the directory could not be listed: queues then look for their files themselves */
  private constructor(private readonly complete: boolean) {}

  /** Lists `dir` once. An unreadable directory yields an empty index (queues then start empty, as before). */
  static read(dir: string): DataDirIndex {
    let entries: string[];
    try {
      entries = listDataDirectory(dir);
    } catch {
      return new DataDirIndex(false);
    }
    const index = new DataDirIndex(true);
    for (const entry of entries) index.add(entry);
    for (const files of index.queues.values()) if (files.dataFiles.length > 1) files.dataFiles.sort((a, b) => a - b);
    return index;
  }

  /** Before the directory is listed: knows nothing. */
  static unread(): DataDirIndex {
    return new DataDirIndex(false);
  }

  private add(entry: string): void {
    // Greedy `(.+)`: a queue name may itself contain ".diskqueue.", the last one separates.
    let m = DATA_FILE_RE.exec(entry);
    if (m !== null) {
      this.entry(m[1]!).dataFiles.push(Number(m[2]));
      return;
    }
    if (entry.endsWith(META_FILE_SUFFIX)) {
      this.entry(entry.slice(0, -META_FILE_SUFFIX.length)).meta = true;
      return;
    }
    m = META_TMP_RE.exec(entry);
    if (m !== null) {
      this.entry(m[1]!).metaTmps.push(entry);
      return;
    }
    if (entry.endsWith(DEFERRED_SIDECAR_SUFFIX)) this.deferredSidecars.add(entry.slice(0, -DEFERRED_SIDECAR_SUFFIX.length));
    else if (entry.endsWith(ACK_SIDECAR_SUFFIX)) this.entry(entry.slice(0, -ACK_SIDECAR_SUFFIX.length)).ackSidecar = true;
  }

  private entry(name: string): QueueFiles {
    let files = this.queues.get(name);
    if (files === undefined) {
      files = { dataFiles: [], meta: false, metaTmps: [] };
      this.queues.set(name, files);
    }
    return files;
  }

  /**
   * What DiskQueue's `startupFiles` should be for queue `name` opening now: its start-up files
   * (removed from the index); for a name the listing did not show, "no files" while the broker is
   * still starting and null afterwards (files may have been written since: the queue checks for
   * a metadata file); undefined when the listing failed (the queue lists the directory itself).
   */
  claim(name: string, starting: boolean): QueueFiles | null | undefined {
    if (!this.complete) return undefined;
    const files = this.queues.get(name);
    if (files === undefined) return starting ? { dataFiles: [], meta: false, metaTmps: [] } : null;
    this.queues.delete(name);
    return files;
  }

  /** A deferred sidecar of queue `name` was in the directory at start-up (or may have been: listing failed). */
  hasDeferredSidecar(name: string): boolean {
    return !this.complete || this.deferredSidecars.has(name);
  }
}
