/**
 * Splits nsqd's byte stream into frames `[int32 size][int32 type][data]` (spec §1.3).
 * Works on byte offsets of each received chunk: many frames in one chunk cost no copies; a frame
 * split across chunks is assembled once, when its last byte arrives (no quadratic re-concat).
 */
import { NotNsqServerError, ProtocolError } from "./errors.ts";

export const FRAME_RESPONSE = 0;
export const FRAME_ERROR = 1;
export const FRAME_MESSAGE = 2;

/** Upper bound on a frame, far above any nsqd limit; protects against a garbage size prefix. */
const MAX_FRAME_SIZE = 256 * 1024 * 1024;

export interface FrameSink {
  /** `data` is a view into the received bytes; copy it if it must outlive the call. */
  onFrame(type: number, data: Buffer): void;
}

export class FrameParser {
  /** bytes of an incomplete frame, kept as received chunks until it is complete */
  private parts: Buffer[] = [];
  private partsLength = 0;
  /** total bytes (size prefix included) the incomplete frame needs; 0 = not yet known */
  private needed = 0;
  /** a whole frame has been parsed: the peer speaks NSQ */
  private sawFrame = false;

  /** set by the sink during onFrame: the bytes after this frame belong to another layer */
  private stopRequested = false;
  private remainder: Buffer | null = null;

  constructor(private readonly sink: FrameSink) {}

  /**
   * Called from `onFrame` when the stream changes encoding right after the current frame (the
   * TLS / compression upgrade after IDENTIFY): `push` returns without parsing further, and the
   * unparsed bytes are handed over by `takeRemainder`.
   */
  stopAfterCurrentFrame(): void {
    this.stopRequested = true;
  }

  /** true when the last `push` stopped at a switch point; `takeRemainder` resumes parsing. */
  get stopped(): boolean {
    return this.remainder !== null;
  }

  /** Bytes received after the switch point (maybe empty); parsing resumes with the next push. */
  takeRemainder(): Buffer {
    const rest = this.remainder ?? Buffer.alloc(0);
    this.remainder = null;
    return rest;
  }

  /** Feeds received bytes; throws ProtocolError on a malformed stream. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.partsLength > 0) {
      this.parts.push(chunk);
      this.partsLength += chunk.length;
      if (this.needed === 0 && this.partsLength >= 4) this.needed = 4 + this.peekSize();
      if (this.needed === 0 || this.partsLength < this.needed) return;
      buf = Buffer.concat(this.parts, this.partsLength);
      this.parts = [];
      this.partsLength = 0;
      this.needed = 0;
    }
    const len = buf.length;
    let off = 0;
    while (len - off >= 4) {
      const size = buf.readInt32BE(off);
      if (size < 4 || size > MAX_FRAME_SIZE) throw this.streamError(buf.subarray(off), `invalid frame size ${size}`);
      if (len - off - 4 < size) {
        this.needed = 4 + size;
        break;
      }
      const type = buf.readInt32BE(off + 4);
      if (type !== FRAME_RESPONSE && type !== FRAME_ERROR && type !== FRAME_MESSAGE) {
        throw this.streamError(buf.subarray(off), `unknown frame type ${type}`);
      }
      this.sawFrame = true;
      this.sink.onFrame(type, buf.subarray(off + 8, off + 4 + size));
      off += 4 + size;
      if (this.stopRequested) {
        this.stopRequested = false;
        this.remainder = buf.subarray(off);
        return;
      }
    }
    if (off < len) {
      this.parts.push(buf.subarray(off));
      this.partsLength = len - off;
    }
  }

  /**
   * A malformed stream. Before any frame was parsed the peer is not nsqd at all (an HTTP server,
   * nsqlookupd's TCP port...): say so instead of reporting a frame size made of ASCII letters.
   */
  private streamError(bytes: Buffer, detail: string): ProtocolError {
    if (this.sawFrame) return new ProtocolError(detail);
    const text = bytes.subarray(0, 32).toString("latin1");
    if (text.startsWith("HTTP")) {
      return new NotNsqServerError(
        "the peer is not an NSQ server: it answers like an HTTP server (give nsqd's TCP port, 4150 by default, not its HTTP port)",
      );
    }
    if (text.slice(4).startsWith("E_BAD_PROTOCOL")) {
      return new NotNsqServerError("the peer is not nsqd: it refused protocol V2 (nsqlookupd's TCP port? give an nsqd TCP address)");
    }
    return new NotNsqServerError(`the peer is not an NSQ server: its first bytes are not an NSQ frame (${JSON.stringify(text.slice(0, 16))})`);
  }

  /** Reads the size prefix of the pending frame when it is split across parts. */
  private peekSize(): number {
    const head = Buffer.concat(this.parts, this.partsLength).subarray(0, 4);
    const size = head.readInt32BE(0);
    if (size < 4 || size > MAX_FRAME_SIZE) throw this.streamError(head, `invalid frame size ${size}`);
    return size;
  }

  /** Bytes held for an incomplete frame (0 when the stream ended on a frame boundary). */
  get buffered(): number {
    return this.partsLength;
  }
}
