/**
 * One TCP client connection of the V2 protocol: its negotiated settings, counters, in-flight
 * list and its single write path. Every frame goes through `appendFrame`/`sendMessage` into one
 * output buffer; `flush()` hands the buffer to the socket in one write.
 *
 * When frames leave follows nsqd (spec §1.10): responses, errors and heartbeats go out at the end
 * of the current turn (everything produced while handling one incoming chunk leaves in one
 * write); message frames are held until the negotiated output_buffer_size fills, the client
 * stops being ready (in flight reaches RDY, RDY 0, CLS, paused channel), or its
 * output_buffer_timeout passes — one timer per client, armed only while messages wait.
 * When the socket reports backpressure the client stops taking messages until `drain`.
 */
import type { Socket } from "node:net";
import { InFlightList } from "./in-flight-queue.ts";
import { FRAME_TYPE_ERROR, FRAME_TYPE_MESSAGE, FRAME_TYPE_RESPONSE } from "../protocol/frames.ts";
import type { Channel } from "./channel.ts";

export const enum ClientState {
  Init = 0,
  Subscribed = 3,
  Closing = 4,
}

/** The byte stream a client talks over: the plain socket, or TLS / compression layered on it. */
export interface ClientTransport {
  write(data: Uint8Array): boolean;
  end(): void;
  destroy(): void;
}

/**
 * Output slab sizes: a connection starts small (idle ones stay cheap; 10k connections are
 * 10k slabs) and a busy one doubles up to the maximum. A slab is replaced when full while
 * the socket may still hold a view of it (a write queued behind a pending one); otherwise a
 * flush starts over at its beginning (see flush).
 */
const SLAB_INITIAL = 16 * 1024;
const SLAB_MAX = 256 * 1024;

/** Clients with unflushed output, written out once per microtask checkpoint. */
const dirtyClients: ClientV2[] = [];
let flushQueued = false;

function flushDirtyClients(): void {
  flushQueued = false;
  for (let i = 0; i < dirtyClients.length; i++) dirtyClients[i]!.flush();
  dirtyClients.length = 0;
}

export class ClientV2 {
  state: ClientState = ClientState.Init;
  clientId: string;
  hostname: string;
  userAgent = "";
  /** latest negotiated heartbeat (SUB check, read deadline), as nsqd's client.HeartbeatInterval */
  heartbeatInterval: number;
  /**
   * What nsqd's message pump uses: the values of the FIRST IDENTIFY only (its pump reads them
   * once). A second IDENTIFY changes what is reported and checked, not these.
   */
  pumpHeartbeatInterval: number;
  pumpMsgTimeout: number;
  pumpSampleRate = 0;
  pumpOutputBufferTimeout: number;
  outputBufferSize = 16384;
  outputBufferTimeout: number;
  msgTimeout: number;
  sampleRate = 0;
  tls = false;
  snappy = false;
  deflate = false;
  deflateLevel = 0;
  authed = false;
  authIdentity = "";
  authIdentityUrl = "";
  readonly connectTs = Math.floor(Date.now() / 1000);
  readyCount = 0;
  messageCount = 0;
  finishCount = 0;
  requeueCount = 0;
  /** publishes per topic; a client is a "producer" in /stats once this is non-empty */
  readonly pubCounts = new Map<string, number>();
  channel: Channel | null = null;
  readonly inFlight = new InFlightList();
  closed = false;
  /** why the server ended the connection, for the log (null: the client hung up) */
  closeReason: string | null = null;
  /** ms timestamps driving heartbeats and the read deadline (2 × heartbeat) */
  lastReadAt = Date.now();
  nextHeartbeatAt: number;

  transport: ClientTransport;
  /** false while the socket's buffer is full: no new messages until it drains */
  writable = true;
  /** the broker is draining for shutdown (src/server/drain.ts): nothing new is delivered, as with RDY 0 */
  draining = false;
  /**
   * Output slab: frames are appended at outLen; [outStart, outLen) is not yet written. A flush
   * hands that range to the socket as a view (node:net keeps a reference until it is sent) and
   * carries on after it in the same slab, so flushing allocates nothing until the slab is used up.
   */
  private out: Buffer;
  private outStart = 0;
  private outLen = 0;
  private dirty = false;
  /** output_buffer_timeout timer, armed while message frames wait in the buffer */
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly timerFlush = (): void => {
    this.flushTimer = null;
    this.flush();
  };
  private onClose: (c: ClientV2) => void;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly remoteAddress: string,
    defaults: { heartbeatInterval: number; outputBufferTimeout: number; msgTimeout: number },
    onClose: (c: ClientV2) => void,
  ) {
    const host = remoteAddress.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    this.clientId = host;
    this.hostname = host;
    this.heartbeatInterval = defaults.heartbeatInterval;
    this.outputBufferTimeout = defaults.outputBufferTimeout;
    this.msgTimeout = defaults.msgTimeout;
    this.pumpHeartbeatInterval = defaults.heartbeatInterval;
    this.pumpMsgTimeout = defaults.msgTimeout;
    this.pumpOutputBufferTimeout = defaults.outputBufferTimeout;
    this.nextHeartbeatAt = Date.now() + this.heartbeatInterval;
    this.transport = socket;
    this.out = Buffer.allocUnsafe(SLAB_INITIAL);
    this.onClose = onClose;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Ready for one more message: subscribed, not closing, RDY window open, socket not backed up. */
  isReadyForDelivery(): boolean {
    return this.state === ClientState.Subscribed && this.writable && this.inFlight.size < this.readyCount && !this.draining;
  }

  /** Makes room for `n` more bytes: a fresh slab holding the unwritten bytes when this one is full. */
  private reserve(n: number): void {
    if (this.outLen + n <= this.out.length) return;
    const pending = this.outLen - this.outStart;
    const next = Buffer.allocUnsafe(Math.max(Math.min(this.out.length * 2, SLAB_MAX), (pending + n) * 2));
    this.out.copy(next, 0, this.outStart, this.outLen);
    this.out = next;
    this.outStart = 0;
    this.outLen = pending;
  }

  private markDirty(): void {
    if (this.dirty) return;
    this.dirty = true;
    dirtyClients.push(this);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flushDirtyClients);
    }
  }

  /** Appends a message frame (type 2) for the message layout `buf`. */
  sendMessage(buf: Uint8Array): void {
    const n = buf.length;
    this.reserve(n + 8);
    const out = this.out;
    let p = this.outLen;
    const size = n + 4;
    out[p] = size >>> 24;
    out[p + 1] = size >>> 16;
    out[p + 2] = size >>> 8;
    out[p + 3] = size;
    out[p + 4] = 0;
    out[p + 5] = 0;
    out[p + 6] = 0;
    out[p + 7] = FRAME_TYPE_MESSAGE;
    out.set(buf, p + 8);
    this.outLen = p + 8 + n;
    if (this.outLen - this.outStart >= this.outputBufferSize) this.flush();
    else if (this.pumpOutputBufferTimeout <= 0 || !this.isReadyForDelivery()) this.markDirty();
    else if (this.flushTimer === null && !this.dirty) this.flushTimer = setTimeout(this.timerFlush, this.pumpOutputBufferTimeout);
  }

  /** Sends buffered message frames at the end of this turn (the client stopped being ready). */
  flushSoon(): void {
    if (this.outLen !== this.outStart) this.markDirty();
  }

  /** Appends a prebuilt frame (response, heartbeat). */
  sendFrameBytes(frame: Uint8Array): void {
    this.reserve(frame.length);
    this.out.set(frame, this.outLen);
    this.outLen += frame.length;
    this.markDirty();
  }

  sendResponse(data: string | Uint8Array): void {
    this.appendFrame(FRAME_TYPE_RESPONSE, typeof data === "string" ? Buffer.from(data) : data);
  }

  /** `text` is a byte string (latin1): error texts echo the client's bytes exactly, as nsqd's do. */
  sendError(text: string): void {
    this.appendFrame(FRAME_TYPE_ERROR, Buffer.from(text, "latin1"));
  }

  private appendFrame(type: number, data: Uint8Array): void {
    this.reserve(data.length + 8);
    const p = this.outLen;
    this.out.writeInt32BE(data.length + 4, p);
    this.out.writeInt32BE(type, p + 4);
    this.out.set(data, p + 8);
    this.outLen = p + 8 + data.length;
    this.markDirty();
  }

  /** Hands all buffered frames to the transport in one write. */
  flush(): void {
    this.dirty = false;
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.outLen === this.outStart || this.closed) return;
    const chunk = this.out.subarray(this.outStart, this.outLen);
    this.outStart = this.outLen;
    const ok = this.transport.write(chunk);
    if (!ok && this.writable) this.writable = false;
    // The plain socket copies whatever the kernel did not take; only a write queued behind a
    // pending one (writableLength > 0) still references the slab. Otherwise start over in the
    // same slab: a fresh one per 256 KiB written cost a page fault per 4 KiB (kernel time).
    if (this.transport === this.socket && this.socket.writableLength === 0) this.outStart = this.outLen = 0;
  }

  /** The transport drained: deliveries may resume. */
  onDrain(): void {
    if (this.writable) return;
    this.writable = true;
    this.channel?.pump();
  }

  /** Writes what is buffered, then ends the connection. */
  closeAfterFlush(): void {
    this.flush();
    this.closed = true;
    this.transport.end();
    this.onClose(this);
  }

  /** Closes the connection now (channel deleted, server shutdown, read timeout). */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.transport.destroy();
    this.onClose(this);
  }
}
