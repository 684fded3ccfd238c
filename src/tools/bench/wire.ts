/**
 * The load generator's side of the V2 wire (spec §1): a raw Bun.connect socket that
 *  - parses server frames by byte offsets straight out of the received chunk (no objects per frame;
 *    only a frame split across chunks is copied, into one reused carry buffer), and
 *  - writes whole batches with one `write()`; Bun takes what the kernel accepts and returns the count,
 *    so an unwritten tail is copied into a reused pending buffer and flushed on `drain`.
 * Callers may therefore rewrite their frame buffers as soon as `write()` returns.
 */
import type { Socket } from "bun";
import { BufferedWriter, ByteQueue, readUint32BE } from "./byte-queue.ts";
import { parseHostPort as parseClientHostPort } from "../../client/address.ts";

export const MAGIC_V2 = new Uint8Array([0x20, 0x20, 0x56, 0x32]);
export const FRAME_RESPONSE = 0;
export const FRAME_ERROR = 1;
export const FRAME_MESSAGE = 2;
/** frame header (size + type) plus the fixed message header (timestamp, attempts, id) */
export const MESSAGE_BODY_OFFSET = 8 + 26;

const encoder = new TextEncoder();
const NOP = encoder.encode("NOP\n");
const HEARTBEAT = encoder.encode("_heartbeat_");

/** Receives every complete frame: `buf[offset..offset+size)` is `type` (4 bytes) + data. */
export interface FrameHandler {
  /** `start` is the offset of the 4-byte size field; data begins at start + 8 and has `dataLength` bytes */
  onFrame(buf: Uint8Array, start: number, type: number, dataLength: number): void;
  /** called after every received chunk has been parsed: the place to flush batched replies */
  onChunkEnd(): void;
  onDrain(): void;
  onClose(error: Error | undefined): void;
}

export interface HostPort {
  host: string;
  port: number;
}

/** "host:port" (IPv6 as "[::1]:4150") → parts, by the client's rules; throws naming the text on anything else. */
export function parseHostPort(text: string): HostPort {
  return parseClientHostPort(text);
}

function isHeartbeat(buf: Uint8Array, dataStart: number, dataLength: number): boolean {
  if (dataLength !== HEARTBEAT.length) return false;
  for (let i = 0; i < dataLength; i++) if (buf[dataStart + i] !== HEARTBEAT[i]) return false;
  return true;
}

/** One V2 connection of the load generator. */
export class BenchConnection {
  private socket: Socket<undefined> | undefined;
  /** a frame split across chunks, until its rest arrives */
  private readonly carry = new ByteQueue(64 * 1024);
  private readonly writer = new BufferedWriter({ write: (data) => this.socket!.write(data) });
  private closed = false;
  /** heartbeats answered; they are not passed to the handler */
  heartbeats = 0;

  private constructor(
    private readonly handler: FrameHandler,
    private readonly answerHeartbeats: boolean,
  ) {}

  /** `answerHeartbeats: false` hands heartbeats to the handler like any response (nsq's bench tools). */
  static async open(address: HostPort, handler: FrameHandler, options: { answerHeartbeats?: boolean } = {}): Promise<BenchConnection> {
    const conn = new BenchConnection(handler, options.answerHeartbeats ?? true);
    conn.socket = await Bun.connect<undefined>({
      hostname: address.host,
      port: address.port,
      socket: {
        data: (_s, chunk) => conn.receive(chunk),
        drain: () => conn.drain(),
        close: () => conn.finish(undefined),
        error: (_s, err) => conn.finish(err),
        connectError: (_s, err) => conn.finish(err),
      },
    }).catch((err: unknown) => {
      throw new Error(`connect to ${address.host}:${address.port} failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    conn.socket.setNoDelay(true);
    conn.write(MAGIC_V2);
    return conn;
  }

  /** true while earlier bytes still wait for `drain`: callers should hold further batches */
  get blocked(): boolean {
    return this.writer.blocked;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Writes `bytes` (or queues them behind unwritten bytes); the caller may reuse `bytes` at once. */
  write(bytes: Uint8Array, length = bytes.length): void {
    if (this.closed || this.socket === undefined) return;
    this.writer.write(bytes, length);
  }

  close(): void {
    if (this.closed) return;
    this.socket?.end();
  }

  private drain(): void {
    if (this.socket !== undefined && !this.writer.flushPending()) return;
    this.handler.onDrain();
  }

  private finish(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.handler.onClose(error);
  }

  private receive(chunk: Uint8Array): void {
    const carry = this.carry;
    if (carry.length === 0) {
      const consumed = this.parse(chunk, chunk.length);
      if (consumed < chunk.length) carry.append(chunk, consumed, chunk.length);
    } else {
      carry.append(chunk, 0, chunk.length);
      carry.consume(this.parse(carry.bytes, carry.length));
    }
    this.handler.onChunkEnd();
  }

  /** Hands every complete frame in buf[0..length) to the handler; returns the bytes consumed. */
  private parse(buf: Uint8Array, length: number): number {
    let offset = 0;
    while (length - offset >= 8) {
      const size = readUint32BE(buf, offset);
      if (size < 4 || size > 256 * 1024 * 1024) {
        this.finish(new Error(`bad frame size ${size}`));
        this.socket?.terminate();
        return length;
      }
      if (length - offset < 4 + size) break;
      const type = buf[offset + 7]! | (buf[offset + 6]! << 8);
      const dataLength = size - 4;
      if (type === FRAME_RESPONSE && this.answerHeartbeats && isHeartbeat(buf, offset + 8, dataLength)) {
        this.heartbeats++;
        this.write(NOP);
      } else {
        this.handler.onFrame(buf, offset, type, dataLength);
      }
      offset += 4 + size;
    }
    return offset;
  }
}

/** The text of an error or response frame (rare path: strings allowed). */
export function frameText(buf: Uint8Array, start: number, dataLength: number): string {
  return new TextDecoder().decode(buf.subarray(start + 8, start + 8 + dataLength));
}

/** True when the frame's data is exactly "OK". */
export function isOk(buf: Uint8Array, start: number, dataLength: number): boolean {
  return dataLength === 2 && buf[start + 8] === 0x4f && buf[start + 9] === 0x4b;
}

export function encodeText(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Wall clock in nanoseconds as a double (≈256 ns precision today; plenty for latency in µs). */
export function nowNs(): number {
  return (performance.timeOrigin + performance.now()) * 1e6;
}
