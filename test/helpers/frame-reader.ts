/**
 * Reads nsqd frames (int32 size, int32 type, data) from any byte source: a plain socket, a TLS
 * socket, a decompressor. RawClient reads its socket with one; tests that walk through the
 * IDENTIFY upgrade sequence by hand use it directly. Feed bytes with `push`.
 */
import net from "node:net";

export interface Frame {
  type: number;
  data: Buffer;
}

export interface FrameReaderOptions {
  /**
   * Parse only that many frames; later bytes belong to an upgraded layer (TLS, compression)
   * and stay in `partial` for the next reader.
   */
  maxFrames?: number;
  /** Sees every parsed frame first; returning false drops it (RawClient answers heartbeats there). */
  intercept?: (frame: Frame) => boolean;
}

export class FrameReader {
  private buf = Buffer.alloc(0);
  private frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private parsed = 0;
  private readonly maxFrames: number;
  private readonly intercept: ((frame: Frame) => boolean) | undefined;

  /** A number is `maxFrames` (see FrameReaderOptions). */
  constructor(options: number | FrameReaderOptions = {}) {
    const opts = typeof options === "number" ? { maxFrames: options } : options;
    this.maxFrames = opts.maxFrames ?? Infinity;
    this.intercept = opts.intercept;
  }

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.parsed < this.maxFrames && this.buf.length >= 8) {
      const size = this.buf.readInt32BE(0);
      // not a frame (e.g. compressed bytes after the last plaintext frame): left in `partial`
      if (size < 4 || this.buf.length < 4 + size) break;
      const frame = { type: this.buf.readInt32BE(4), data: Buffer.from(this.buf.subarray(8, 4 + size)) };
      this.buf = this.buf.subarray(4 + size);
      this.parsed++;
      if (this.intercept === undefined || this.intercept(frame)) this.frames.push(frame);
    }
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  /** Bytes received that do not complete a frame yet. */
  get partial(): Buffer {
    return this.buf;
  }

  /** Puts a frame back in front, to be returned by the next `next`. */
  unshift(frame: Frame): void {
    this.frames.unshift(frame);
  }

  async next(timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error("connection closed while waiting for a frame");
      if (!(await this.waitForChange(deadline))) throw new Error("timed out waiting for a frame");
    }
    return this.frames.shift()!;
  }

  /** Next frame's text, skipping heartbeats. */
  async nextText(timeoutMs = 5000): Promise<string> {
    for (;;) {
      const f = await this.next(timeoutMs);
      const text = f.data.toString();
      if (f.type === 0 && text === "_heartbeat_") continue;
      return f.type === 1 ? `ERROR: ${text}` : text;
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (!(await this.waitForChange(deadline))) throw new Error("connection still open");
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves true on the next push/close, false when `deadline` has passed first. */
  private async waitForChange(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
    return true;
  }
}

/** A size-prefixed command: `line\n` + int32 size + body. */
export function commandWithBody(line: string, body: string | Uint8Array): Buffer {
  const b = Buffer.from(body);
  const size = Buffer.alloc(4);
  size.writeInt32BE(b.length);
  return Buffer.concat([Buffer.from(line + "\n"), size, b]);
}

/**
 * A plain connection that sent the magic and IDENTIFY: the socket and a reader of the frames that
 * arrive before any upgrade. `track` receives the socket so the caller can close it after the test.
 */
export async function connectAndIdentify(
  port: number,
  identify: Record<string, unknown>,
  track: (socket: net.Socket) => void,
): Promise<{ socket: net.Socket; plain: FrameReader }> {
  const socket = net.connect(port, "127.0.0.1");
  track(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.on("error", () => {});
  const plain = new FrameReader(1);
  socket.on("data", (c: Buffer) => plain.push(c));
  socket.on("close", () => plain.close());
  socket.write(Buffer.concat([Buffer.from("  V2"), commandWithBody("IDENTIFY", JSON.stringify(identify))]));
  return { socket, plain };
}
