/**
 * Splits nsqd's byte stream into frames `[int32 size][int32 type][data]` (spec §1.3).
 * Works on byte offsets of each received chunk: many frames in one chunk cost no copies; a frame
 * split across chunks is assembled once, when its last byte arrives (no quadratic re-concat).
 */
import { ProtocolError } from "./errors.ts";

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
      if (size < 4 || size > MAX_FRAME_SIZE) throw new ProtocolError(`invalid frame size ${size}`);
      if (len - off - 4 < size) {
        this.needed = 4 + size;
        break;
      }
      const type = buf.readInt32BE(off + 4);
      if (type !== FRAME_RESPONSE && type !== FRAME_ERROR && type !== FRAME_MESSAGE) {
        throw new ProtocolError(`unknown frame type ${type}`);
      }
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

  /** Reads the size prefix of the pending frame when it is split across parts. */
  private peekSize(): number {
    const head = Buffer.concat(this.parts, this.partsLength).subarray(0, 4);
    const size = head.readInt32BE(0);
    if (size < 4 || size > MAX_FRAME_SIZE) throw new ProtocolError(`invalid frame size ${size}`);
    return size;
  }

  /** Bytes held for an incomplete frame (0 when the stream ended on a frame boundary). */
  get buffered(): number {
    return this.partsLength;
  }
}
