/**
 * The disk queue's metadata file, `<name>.diskqueue.meta.dat` (`depth\nreadFileNum,readPos\nwriteFileNum,writePos\n`,
 * go-diskqueue's text), read on open, and the queue's data files found in the data directory. The metadata is
 * written by the sync code (disk-queue-sync.ts: tmp file + fsync + rename, after the data it references).
 */
import { join } from "node:path";
import type { Logger } from "../util/logger.ts";
import { listDataDirectory, type QueueFiles } from "./data-dir-index.ts";
import { errnoCode, errorText, removeQuietly } from "./disk-queue-format.ts";
import { readFileSync } from "node:fs";

const META_RE = /^(-?\d+)\n(\d+),(\d+)\n(\d+),(\d+)\n?\s*$/;

/** The metadata file's five numbers. */
export interface QueueMetadata {
  depth: number;
  readNum: number;
  readPos: number;
  writeNum: number;
  writePos: number;
}

/**
 * Out of file descriptors or memory: the process's trouble, not the file's. The queue then opens as
 * if the metadata were missing (every data file is scanned, so nothing is skipped), but it is not
 * reported as corruption of the queue.
 */
const RESOURCE_ERRORS = new Set(["EMFILE", "ENFILE", "ENOMEM", "EAGAIN"]);

/**
 * Parses the metadata file; null when missing or unreadable. An unreadable or unparsable file counts
 * as corruption, except a read that failed for lack of resources, which is `logError`ed.
 */
export function readQueueMetadata(
  path: string,
  noteCorruption: (message: string, skippedBytes: number) => void,
  logError: (message: string) => void,
): QueueMetadata | null {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (err) {
    const code = errnoCode(err);
    const message = `failed to read metadata ${path} - ${errorText(err)}`;
    if (code !== undefined && RESOURCE_ERRORS.has(code)) logError(`${message}; scanning data files instead`);
    else if (code !== "ENOENT") noteCorruption(message, 0);
    return null;
  }
  const m = META_RE.exec(text);
  if (m === null) {
    noteCorruption(`unparsable metadata ${path} (${JSON.stringify(text.slice(0, 80))}); scanning data files instead`, 0);
    return null;
  }
  const values = m.slice(1).map(Number);
  if (!values.every(Number.isSafeInteger)) {
    noteCorruption(`metadata ${path} holds out-of-range numbers; scanning data files instead`, 0);
    return null;
  }
  const [depth, readNum, readPos, writeNum, writePos] = values;
  return { depth, readNum, readPos, writeNum, writePos };
}

export function listDataFileNumbers(dataPath: string, name: string, log: Logger): number[] {
  const prefix = `${name}.diskqueue.`;
  const numbers: number[] = [];
  let entries: string[];
  try {
    entries = listDataDirectory(dataPath);
  } catch (err) {
    log.error(`DISKQUEUE(${name}) cannot list ${dataPath} - ${errorText(err)}`);
    return numbers;
  }
  const metaTmpPrefix = `${prefix}meta.dat.`;
  for (const entry of entries) {
    if (entry.startsWith(metaTmpPrefix) && entry.endsWith(".tmp")) {
      // Left by a crash (or exit) during a metadata write; the rename never happened, so it holds nothing we need.
      removeQuietly(join(dataPath, entry));
      continue;
    }
    if (!entry.startsWith(prefix) || !entry.endsWith(".dat")) continue;
    const middle = entry.slice(prefix.length, entry.length - 4);
    if (middle.length >= 6 && /^\d+$/.test(middle)) numbers.push(Number(middle));
  }
  return numbers.sort((a, b) => a - b);
}

/** The data file numbers from the start-up listing; leftover metadata tmp files go, as in listDataFileNumbers. */
export function startupDataFiles(dataPath: string, files: QueueFiles | null | undefined): number[] {
  if (files === null || files === undefined) return [];
  for (const tmp of files.metaTmps) removeQuietly(join(dataPath, tmp));
  return files.dataFiles;
}
