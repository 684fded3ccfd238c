/**
 * A read-only look at a disk queue from its read position (GET /channel/peek, src/server/peek.ts): the records the
 * reader would return next, read through a descriptor and window of their own. Nothing the queue keeps changes —
 * not the read position, not the skip lists, not the depth, not the ack window — so a peek never consumes,
 * reorders or delays anything, and crash-safe positions are untouched.
 *
 * Synchronous, like the queue's own reads, and bounded: the caller gives a record count and a byte budget (the
 * broker: N plus the records it may pass over, and 4 MiB). Doing it on the event loop keeps the snapshot exact
 * (files, positions and skips cannot change under it, and a file the reader finishes is only deleted on the event
 * loop); these are the records the consumer reads next, so they are usually in the page cache already.
 */
import { openSync } from "node:fs";
import { closeSafely, READ_WINDOW_BYTES, ReadWindow, readFully, type SkipRange } from "./disk-queue-format.ts";
import type { RecordFormat } from "./disk-queue-scan.ts";

/** One data file still to be read, as the reader sees it now. */
export interface PeekSpan {
  num: number;
  /** the read position in the read file, 0 in later files */
  start: number;
  /** readable extent (the write position in the write file) */
  end: number;
  /** records left to deliver in it (the reader finishes a completed file after this many) */
  records: number;
  /** corrupt ranges the reader jumps over (read, never changed) */
  skips: readonly SkipRange[];
}

export type PeekVisitor = (record: Uint8Array, fileNum: number, end: number) => boolean;

/**
 * Visits the records of `spans` in order, as readNext would return them. Returns true when every record was
 * visited, false when the visitor or a limit stopped it first. A record the reader would find damaged ends the
 * walk of its file, as the reader then sets the rest of that file aside.
 */
export function peekDataFiles(
  spans: readonly PeekSpan[],
  format: RecordFormat,
  fileName: (num: number) => string,
  visit: PeekVisitor,
  maxRecords: number,
  maxBytes: number,
): boolean {
  let records = 0;
  let bytes = 0;
  let window: ReadWindow | null = null;
  for (const span of spans) {
    if (span.records <= 0 || span.start >= span.end) continue;
    let fd: number;
    try {
      fd = openSync(fileName(span.num), "r");
    } catch {
      continue; // the reader will find it missing and move on as well
    }
    window ??= new ReadWindow(READ_WINDOW_BYTES);
    window.attach(fd);
    try {
      let pos = span.start;
      let left = span.records;
      let skip = 0;
      while (left > 0 && pos < span.end) {
        while (skip < span.skips.length && span.skips[skip]!.from < pos) skip++;
        if (skip < span.skips.length && span.skips[skip]!.from === pos) {
          pos = span.skips[skip++]!.to;
          continue;
        }
        if (records >= maxRecords || bytes >= maxBytes) return false;
        const len = format.recordLengthAt(window, pos, span.end);
        if (len < 0) break;
        const out = Buffer.allocUnsafe(len);
        if (4 + len <= window.buf.length) {
          const at = window.load(pos, 4 + len, span.end);
          if (at < 0) break;
          window.buf.copy(out, 0, at + 4, at + 4 + len);
        } else {
          readFully(fd, out, 0, len, pos + 4);
        }
        pos += 4 + len;
        left--;
        records++;
        bytes += 4 + len;
        if (!visit(out, span.num, pos)) return false;
      }
    } catch {
      // unreadable here: the reader will set the file aside as corrupt and go on with the next one
    } finally {
      window.detach();
      closeSafely(fd);
    }
  }
  return true;
}
