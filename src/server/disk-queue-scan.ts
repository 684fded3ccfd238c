/**
 * The record format of a data file (`[int32 BE length L][L bytes]`, L within [minMsgSize, maxMsgSize]) and the
 * walk that checks it: on open every data file still to be read is walked record by record (length prefixes
 * only), counting records and recording corrupt ranges; after garbage the walk looks for the next plausible
 * record (valid length + 16 lowercase-hex message ID, confirmed by the record that follows or by end of file).
 */
import { closeSync, fstatSync, openSync } from "node:fs";
import { errorText, newDataFile, READ_WINDOW_BYTES, ReadWindow, type DataFile } from "./disk-queue-format.ts";

const MESSAGE_ID_OFFSET = 10; // within a record: timestamp(8) + attempts(2)
const MESSAGE_ID_LENGTH = 16;

/** Used by the open-time scan of every queue's data files, one file at a time. */
const scanWindow = new ReadWindow(READ_WINDOW_BYTES);

/** Where the walk reports what it finds (the queue's corruption report and its `.bad` copies). */
export interface ScanSink {
  fileName(num: number): string;
  noteCorruption(message: string, skippedBytes: number): void;
  preserveBadFile(num: number): void;
}

/** Checks records against the queue's size limits; one per queue (it holds only the two limits). */
export class RecordFormat {
  constructor(
    private readonly minMsgSize: number,
    private readonly maxMsgSize: number,
  ) {}

  /**
   * Walks a data file from `start`, counting well-formed records and recording corrupt ranges. Never throws:
   * an unreadable file is treated as entirely corrupt.
   */
  scanDataFile(num: number, start: number, sink: ScanSink): DataFile {
    const path = sink.fileName(num);
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      sink.noteCorruption(`cannot open ${path} - ${errorText(err)}`, 0);
      return newDataFile(num, 0);
    }
    const window = scanWindow; // one shared window: scans are synchronous, and a queue then keeps no buffer
    window.attach(fd);
    try {
      const size = fstatSync(fd).size;
      const file = newDataFile(num, size);
      if (start > size) {
        sink.noteCorruption(`metadata readPos ${start} is beyond the end of ${path} (${size} bytes)`, 0);
        return file;
      }
      let pos = start;
      if (start > 0) {
        const boundary = this.alignReadPosition(window, size, start);
        if (boundary > start) {
          file.skips.push({ from: start, to: boundary });
          sink.noteCorruption(`metadata readPos ${start} is inside a record of ${path}; resuming at ${boundary}`, boundary - start);
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
        sink.noteCorruption(`${reason} at ${pos} of ${path}; ${to - pos} bytes skipped, ${after}`, to - pos);
        pos = to;
      }
      if (file.skips.length > 0) sink.preserveBadFile(num);
      return file;
    } catch (err) {
      sink.noteCorruption(`reading ${path} - ${errorText(err)}; file skipped`, 0);
      sink.preserveBadFile(num);
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
  recordLengthAt(window: ReadWindow, pos: number, limit: number): number {
    if (limit - pos < 4) return -1;
    const at = window.load(pos, 4, limit);
    if (at < 0) return -1;
    const len = window.buf.readInt32BE(at);
    if (len < this.minMsgSize || len > this.maxMsgSize || pos + 4 + len > limit) return -1;
    return len;
  }

  describeBadRecord(window: ReadWindow, pos: number, limit: number): string {
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
}
