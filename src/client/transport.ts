/**
 * The byte transport under one client connection: a TCP socket, optionally upgraded to TLS, and
 * optionally wrapped in snappy framing or raw DEFLATE after IDENTIFY (spec §1.8).
 *
 * There is one inbound path and one outbound path whatever the layers:
 *   inbound:  socket → (TLS) → `decode` (parser, or a decompressor that feeds the parser)
 *   outbound: `write(batch)` → (compressor) → (TLS) → socket
 * `write` returns false when some layer is backed up; `onDrain` fires when it can take more.
 */
import type { Socket } from "node:net";
import tls from "node:tls";
import zlib from "node:zlib";
import { SnappyFrameDecoder, SnappyFrameEncoder } from "../protocol/snappy.ts";

export interface TransportEvents {
  /** plaintext protocol bytes (decrypted and decompressed) */
  onBytes(chunk: Buffer): void;
  /** the layers below accept writes again after `write` returned false */
  onDrain(): void;
  /** a layer failed (TLS error, corrupt compressed stream); the transport is being destroyed */
  onError(err: Error): void;
  /** the connection is gone (raw socket or TLS session closed) */
  onClose(): void;
}

interface Writer {
  write(data: Buffer): boolean;
  end(): void;
}

/** nsqd gives the handshake 5 s; the client uses the same bound. */
const TLS_HANDSHAKE_TIMEOUT_MS = 5000;

export class ClientTransport {
  private secure: tls.TLSSocket | null = null;
  private out: Writer;
  /** where bytes of the byte stream (raw or TLS) go: the parser, or a decompressor */
  private decode: (chunk: Buffer) => void;
  private readTimeoutMs = 0;
  private onReadTimeout: () => void = () => {};

  constructor(
    private readonly raw: Socket,
    private readonly events: TransportEvents,
  ) {
    this.decode = events.onBytes;
    this.out = { write: (d) => raw.write(d), end: () => void raw.end() };
    raw.on("data", this.onStreamData);
    raw.on("drain", events.onDrain);
  }

  private readonly onStreamData = (chunk: Buffer): void => this.decode(chunk);

  /** true once TLS is established */
  get isTls(): boolean {
    return this.secure !== null;
  }

  /** Sends one batch; false = backpressure (wait for onDrain before sending more). */
  write(data: Buffer): boolean {
    return this.out.write(data);
  }

  /** Ends the outbound stream after everything queued (compressor output included) is written. */
  end(): void {
    this.out.end();
  }

  destroy(): void {
    this.secure?.destroy();
    this.raw.destroy();
  }

  /** Closes the connection when nothing arrives for `ms` (0 = never); follows TLS when it starts. */
  setReadTimeout(ms: number, onTimeout: () => void): void {
    this.readTimeoutMs = ms;
    this.onReadTimeout = onTimeout;
    if (ms > 0) (this.secure ?? this.raw).setTimeout(ms, onTimeout);
  }

  /**
   * Client side of the TLS handshake over the raw socket (nsqd starts its side right after the
   * IDENTIFY JSON). Resolves once the session is established; rejects with the reason.
   */
  startTls(options: tls.ConnectionOptions): Promise<void> {
    const raw = this.raw;
    raw.off("data", this.onStreamData);
    raw.off("drain", this.events.onDrain);
    raw.setTimeout(0);
    const secure = tls.connect({ ...options, socket: raw });
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error("TLS handshake timed out")), TLS_HANDSHAKE_TIMEOUT_MS);
      secure.on("error", (err: Error) => {
        if (!settled) fail(err);
        else this.events.onError(err);
      });
      secure.on("close", () => {
        fail(new Error("connection closed during TLS handshake"));
        this.events.onClose();
      });
      secure.once("secureConnect", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.secure = secure;
        this.out = { write: (d) => secure.write(d), end: () => void secure.end() };
        secure.on("data", this.onStreamData);
        secure.on("drain", this.events.onDrain);
        if (this.readTimeoutMs > 0) secure.setTimeout(this.readTimeoutMs, this.onReadTimeout);
        resolve();
      });
    });
  }

  /** Both directions switch to the snappy framing format; `rest` = bytes already received after the switch point. */
  startSnappy(rest: Buffer): void {
    const lower = this.out;
    const encoder = new SnappyFrameEncoder();
    this.out = { write: (d) => lower.write(encoder.encode(d)), end: () => lower.end() };
    const decoder = new SnappyFrameDecoder(this.events.onBytes);
    this.decode = (chunk) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        this.fail(new Error(`corrupt snappy stream from nsqd: ${(err as Error).message}`));
      }
    };
    if (rest.length > 0) this.decode(rest);
  }

  /**
   * Both directions switch to raw DEFLATE. Every batch is sync-flushed so nsqd can decode it at
   * once. zlib is asynchronous: its output is forwarded as it appears, and backpressure is
   * reported while zlib's input or the layer below is full.
   */
  startDeflate(level: number, rest: Buffer): void {
    const lower = this.out;
    const deflate = zlib.createDeflateRaw({ level, flush: zlib.constants.Z_SYNC_FLUSH });
    let lowerBlocked = false;
    deflate.on("data", (chunk: Buffer) => {
      if (!lower.write(chunk)) lowerBlocked = true;
    });
    deflate.on("drain", () => {
      if (!lowerBlocked) this.events.onDrain();
    });
    deflate.on("error", (err: Error) => this.fail(new Error(`deflate failed: ${err.message}`)));
    // the byte stream's 'drain' reaches events.onDrain too; this listener runs first
    (this.secure ?? this.raw).prependListener("drain", () => {
      lowerBlocked = false;
    });
    this.out = {
      write: (d) => deflate.write(d) && !lowerBlocked,
      end: () => {
        deflate.once("end", () => lower.end());
        deflate.end();
      },
    };

    const inflate = zlib.createInflateRaw({ flush: zlib.constants.Z_SYNC_FLUSH });
    inflate.on("data", (chunk: Buffer) => this.events.onBytes(chunk));
    inflate.on("error", (err: Error) => this.fail(new Error(`corrupt deflate stream from nsqd: ${err.message}`)));
    this.decode = (chunk) => void inflate.write(chunk);
    if (rest.length > 0) this.decode(rest);
  }

  private fail(err: Error): void {
    this.events.onError(err);
    this.destroy();
  }
}
