/**
 * Request-body reading for nsqd's HTTP publish routes (spec §3.4, §3.5). Bodies are read
 * incrementally from the request stream so that a too-big body is refused after at most
 * limit+1 bytes (nsqd's LimitReader trick) and a binary /mpub never holds more than the
 * messages it declares.
 */

/** Pulls bytes from a request body stream on demand. */
export class BodyReader {
  private reader: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> } | null;
  private chunk: Uint8Array | null = null;
  private offset = 0;
  private done = false;

  constructor(body: ReadableStream<Uint8Array> | null) {
    this.reader = body === null ? null : body.getReader();
    if (this.reader === null) this.done = true;
  }

  /** The next unread bytes (at most `max`), or null at end of body. */
  private async next(max: number): Promise<Uint8Array | null> {
    while (this.chunk === null || this.offset >= this.chunk.length) {
      if (this.done || this.reader === null) return null;
      const { value, done } = await this.reader.read();
      if (done || value === undefined) {
        this.done = true;
        return null;
      }
      this.chunk = value;
      this.offset = 0;
    }
    const n = Math.min(max, this.chunk.length - this.offset);
    const out = this.chunk.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Reads until `limit` bytes or the end of the body, whichever comes first. */
  async readUpTo(limit: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    while (total < limit) {
      const part = await this.next(limit - total);
      if (part === null) break;
      parts.push(part);
      total += part.length;
    }
    if (parts.length === 1) return parts[0]!;
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** Fills target[offset, offset+n) exactly; false when the body ends first (Go's io.ReadFull). */
  async readInto(target: Uint8Array, offset: number, n: number): Promise<boolean> {
    let filled = 0;
    while (filled < n) {
      const part = await this.next(n - filled);
      if (part === null) return false;
      target.set(part, offset + filled);
      filled += part.length;
    }
    return true;
  }

  /** Reads and discards whatever is left (bodies of non-publish routes are read and ignored). */
  async drain(): Promise<void> {
    while ((await this.next(Number.MAX_SAFE_INTEGER)) !== null) {
      // discard
    }
  }

  /** Stops reading: the rest of the body is not wanted. */
  async cancel(): Promise<void> {
    if (this.done || this.reader === null) return;
    this.done = true;
    try {
      await this.reader.cancel();
    } catch {
      // the client may already be gone; nothing to clean up
    }
  }
}

/** A publish body that breaks one of nsqd's rules: the HTTP status and error code to send. */
export class BodyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(code);
  }
}

/**
 * Text-mode /mpub: splits a body (read with a limit of maxBody+1) into messages, as nsqd does:
 * split on "\n" only (a "\r" stays in the message), empty lines skipped silently. Returns the
 * [start, end) byte ranges of the messages. Errors are checked line by line in nsqd's order:
 * reaching maxBody+1 bytes → 413 BODY_TOO_BIG, a line longer than maxMsgSize → 413 MSG_TOO_BIG.
 */
export function splitTextMpub(body: Uint8Array, maxBodySize: number, maxMsgSize: number): [number, number][] {
  const readMax = maxBodySize + 1;
  const ranges: [number, number][] = [];
  let start = 0;
  let total = 0;
  while (start < body.length) {
    const nl = body.indexOf(10, start);
    const blockEnd = nl < 0 ? body.length : nl + 1;
    total += blockEnd - start;
    if (total === readMax) throw new BodyError(413, "BODY_TOO_BIG");
    const end = nl < 0 ? blockEnd : nl;
    if (end > start) {
      if (end - start > maxMsgSize) throw new BodyError(413, "MSG_TOO_BIG");
      ranges.push([start, end]);
    }
    start = blockEnd;
  }
  return ranges;
}

function readInt32BE(buf: Uint8Array, off: number): number {
  return (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
}

/**
 * Binary-mode /mpub: `[int32 count]` then count × `[int32 size][bytes]`, read straight from the
 * stream into message layouts with `headerSize` bytes reserved in front of each body (so the
 * bytes are copied once). Errors are 413 with the TCP MPUB code minus "E_": BAD_BODY for a
 * missing or out-of-range count, BAD_MESSAGE for a bad or truncated part. Bytes after the last
 * declared message are ignored, as nsqd does.
 */
export async function readBinaryMpub(
  reader: BodyReader,
  headerSize: number,
  maxMsgSize: number,
  maxBodySize: number,
): Promise<{ messages: Buffer[]; bodyBytes: number }> {
  const len = new Uint8Array(4);
  if (!(await reader.readInto(len, 0, 4))) throw new BodyError(413, "BAD_BODY");
  const count = readInt32BE(len, 0);
  const maxCount = Math.floor((maxBodySize - 4) / 5);
  if (count <= 0 || count > maxCount) throw new BodyError(413, "BAD_BODY");
  const messages: Buffer[] = [];
  let bodyBytes = 0;
  for (let i = 0; i < count; i++) {
    if (!(await reader.readInto(len, 0, 4))) throw new BodyError(413, "BAD_MESSAGE");
    const size = readInt32BE(len, 0);
    if (size <= 0 || size > maxMsgSize) throw new BodyError(413, "BAD_MESSAGE");
    const msg = Buffer.allocUnsafe(headerSize + size);
    if (!(await reader.readInto(msg, headerSize, size))) throw new BodyError(413, "BAD_MESSAGE");
    messages.push(msg);
    bodyBytes += size;
  }
  return { messages, bodyBytes };
}
