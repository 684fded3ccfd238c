/**
 * One TCP connection to nsqd speaking protocol V2 (spec §1): magic, IDENTIFY with
 * feature_negotiation, optional AUTH, then commands. Replies (response or error frames) are
 * matched to the commands that expect one, in order; heartbeats are answered with NOP and never
 * matched. Writes issued in the same tick go out in one socket write.
 */
import { createConnection, type Socket } from "node:net";
import * as cmd from "./commands.ts";
import { FrameParser, FRAME_ERROR, FRAME_MESSAGE, FRAME_RESPONSE, type FrameSink } from "./frame-parser.ts";
import { ConnectionError, NsqError, ProtocolError, TimeoutError } from "./errors.ts";
import { parseHostPort } from "./address.ts";
import type { ClientConfig } from "./config.ts";
import { MESSAGE_HEADER_SIZE } from "./message.ts";

/** What nsqd answered to IDENTIFY (spec §1.8), with nsqjs' defaults when it answered plain OK. */
export interface IdentifyResponse {
  max_rdy_count: number;
  version: string;
  max_msg_timeout: number;
  msg_timeout: number;
  tls_v1: boolean;
  deflate: boolean;
  deflate_level: number;
  max_deflate_level: number;
  snappy: boolean;
  sample_rate: number;
  auth_required: boolean;
  output_buffer_size: number;
  output_buffer_timeout: number;
}

const PLAIN_OK_DEFAULTS: IdentifyResponse = {
  max_rdy_count: 2500,
  version: "",
  max_msg_timeout: 900_000,
  msg_timeout: 60_000,
  tls_v1: false,
  deflate: false,
  deflate_level: 6,
  max_deflate_level: 6,
  snappy: false,
  sample_rate: 0,
  auth_required: false,
  output_buffer_size: 16384,
  output_buffer_timeout: 250,
};

export interface ConnectionEvents {
  /** a message frame arrived; `frame` is a view valid only during the call unless retained */
  onMessageFrame(conn: NsqConnection, frame: Buffer): void;
  /** the socket closed; `error` says why when it was not a requested close */
  onClose(conn: NsqConnection, error: Error | undefined): void;
  /** E_FIN_FAILED / E_REQ_FAILED / E_TOUCH_FAILED: logged, connection stays open */
  onNonFatalError?(conn: NsqConnection, error: NsqError): void;
}

interface PendingReply {
  resolve(data: Buffer): void;
  reject(err: Error): void;
}

const HEARTBEAT = Buffer.from("_heartbeat_");
const CLOSE_WAIT = Buffer.from("CLOSE_WAIT");

export class NsqConnection implements FrameSink {
  readonly address: string;
  private readonly host: string;
  private readonly port: number;
  private socket: Socket | null = null;
  private readonly parser = new FrameParser(this);
  private readonly pending: PendingReply[] = [];
  private outQueue: Buffer[] = [];
  private flushScheduled = false;
  private closed = false;
  private closeError: Error | undefined;
  /** IDENTIFY reply once connected */
  settings: IdentifyResponse = PLAIN_OK_DEFAULTS;

  constructor(
    address: string,
    private readonly config: ClientConfig,
    private readonly events: ConnectionEvents,
  ) {
    const hp = parseHostPort(address);
    this.address = address;
    this.host = hp.host;
    this.port = hp.port;
  }

  /** true once the socket closed, or a fatal error frame arrived (nsqd is about to close it) */
  get isClosed(): boolean {
    return this.closed || this.fatal;
  }
  private fatal = false;

  /** Dials, sends the magic and IDENTIFY, AUTHs if required. Rejects with context on failure. */
  async connect(): Promise<IdentifyResponse> {
    await this.dial();
    this.write(cmd.MAGIC_V2);
    const reply = await this.request(cmd.identify(this.identifyBody()));
    this.settings = parseIdentifyReply(reply, this.address);
    if (this.settings.tls_v1 || this.settings.snappy || this.settings.deflate) {
      this.destroy(new ConnectionError("nsqd enabled a TLS/compression upgrade this client does not support", this.address));
      throw this.closeError!;
    }
    if (this.settings.auth_required) {
      if (!this.config.authSecret) {
        this.destroy(new ConnectionError("nsqd requires AUTH but no auth_secret is configured", this.address));
        throw this.closeError!;
      }
      await this.request(cmd.auth(this.config.authSecret));
    }
    return this.settings;
  }

  private identifyBody(): Record<string, unknown> {
    const c = this.config;
    return {
      client_id: c.clientId,
      hostname: c.hostname,
      user_agent: c.userAgent,
      short_id: c.clientId,
      long_id: c.hostname,
      tls_v1: false,
      deflate: false,
      deflate_level: c.deflateLevel,
      snappy: false,
      feature_negotiation: true,
      heartbeat_interval: c.heartbeatInterval,
      sample_rate: c.sampleRate,
      output_buffer_size: c.outputBufferSize,
      output_buffer_timeout: c.outputBufferTimeout,
      msg_timeout: c.msgTimeout,
    };
  }

  private dial(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: this.host, port: this.port });
      this.socket = socket;
      socket.setNoDelay(true);
      let connected = false;
      const timer = setTimeout(() => {
        this.destroy(new TimeoutError(`dial timeout after ${this.config.dialTimeout}ms`, this.address));
      }, this.config.dialTimeout);
      socket.on("error", (err) => {
        const text = connected ? err.message : `cannot connect: ${err.message}`;
        this.closeError ??= new ConnectionError(text, this.address, { cause: err });
      });
      socket.on("close", () => {
        clearTimeout(timer);
        if (!connected) reject(this.closeError ?? new ConnectionError("connection closed while connecting", this.address));
        this.onSocketClose();
      });
      socket.once("connect", () => {
        connected = true;
        clearTimeout(timer);
        if (this.config.readTimeout > 0) {
          socket.setTimeout(this.config.readTimeout, () => {
            this.destroy(new TimeoutError(`no data from nsqd for ${this.config.readTimeout}ms`, this.address));
          });
        }
        socket.on("data", (chunk: Buffer) => this.onData(chunk));
        resolve();
      });
    });
  }

  private onData(chunk: Buffer): void {
    try {
      this.parser.push(chunk);
    } catch (err) {
      const e = err instanceof ProtocolError ? err : new ProtocolError(String(err));
      this.destroy(new ConnectionError(`protocol error: ${e.message}`, this.address, { cause: e }));
    }
  }

  onFrame(type: number, data: Buffer): void {
    if (type === FRAME_MESSAGE) {
      if (data.length < MESSAGE_HEADER_SIZE) throw new ProtocolError(`message frame too short (${data.length} bytes)`);
      this.events.onMessageFrame(this, data);
    } else if (type === FRAME_RESPONSE) {
      if (data.equals(HEARTBEAT)) {
        this.write(cmd.NOP);
        return;
      }
      const p = this.pending.shift();
      if (p) p.resolve(data);
    } else if (type === FRAME_ERROR) {
      const err = NsqError.fromFrame(data, this.address);
      if (!err.fatal) {
        this.events.onNonFatalError?.(this, err);
        return;
      }
      // nsqd closes the socket after a fatal error; the command waiting first caused it
      this.closeError ??= err;
      this.fatal = true;
      const p = this.pending.shift();
      if (p) p.reject(err);
    }
  }

  /** Queues bytes; everything written in one tick is sent with a single socket write. */
  write(buf: Buffer): void {
    if (this.closed || !this.socket) return;
    this.outQueue.push(buf);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const q = this.outQueue;
    if (q.length === 0 || this.closed || !this.socket) return;
    this.outQueue = [];
    this.socket.write(q.length === 1 ? q[0]! : Buffer.concat(q));
  };

  /** Sends a command that nsqd answers with a response or error frame. */
  request(buf: Buffer): Promise<Buffer> {
    if (this.closed || this.fatal) return Promise.reject(this.closeError ?? new ConnectionError("connection is closed", this.address));
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.write(buf);
    });
  }

  async subscribe(topic: string, channel: string): Promise<void> {
    await this.request(cmd.sub(topic, channel));
  }
  async publish(topic: string, body: Uint8Array): Promise<void> {
    await this.request(cmd.pub(topic, body));
  }
  async multiPublish(topic: string, bodies: readonly Uint8Array[]): Promise<void> {
    await this.request(cmd.mpub(topic, bodies));
  }
  async deferredPublish(topic: string, deferMs: number, body: Uint8Array): Promise<void> {
    await this.request(cmd.dpub(topic, deferMs, body));
  }
  /** CLS: resolves when nsqd answers CLOSE_WAIT. */
  async startClose(): Promise<void> {
    const reply = await this.request(cmd.CLS);
    if (!reply.equals(CLOSE_WAIT)) {
      throw new ProtocolError(`${this.address}: expected CLOSE_WAIT, got "${reply.toString("utf8")}"`);
    }
  }
  rdy(count: number): void {
    this.write(cmd.rdy(count));
  }
  finish(id: Uint8Array): void {
    this.write(cmd.fin(id));
  }
  requeue(id: Uint8Array, delayMs: number): void {
    this.write(cmd.req(id, delayMs));
  }
  touch(id: Uint8Array): void {
    this.write(cmd.touch(id));
  }

  /** Flushes queued commands, then closes the socket. */
  close(): void {
    if (this.closed || !this.socket) return;
    this.flush();
    this.socket.end();
    // a peer that never answers the FIN must not keep the socket (and the process) alive
    const s = this.socket;
    setTimeout(() => s.destroy(), 1000).unref();
  }

  /** Closes immediately; `error` is reported to onClose and to waiting commands. */
  destroy(error?: Error): void {
    if (error) this.closeError ??= error;
    this.socket?.destroy();
  }

  private onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    const err = this.closeError ?? new ConnectionError("connection closed", this.address);
    for (const p of this.pending.splice(0)) p.reject(err);
    this.outQueue = [];
    this.events.onClose(this, this.closeError);
  }
}

function parseIdentifyReply(reply: Buffer, address: string): IdentifyResponse {
  if (reply[0] !== 0x7b /* { */) return { ...PLAIN_OK_DEFAULTS };
  try {
    const parsed = JSON.parse(reply.toString("utf8")) as Partial<IdentifyResponse>;
    return { ...PLAIN_OK_DEFAULTS, ...parsed };
  } catch (err) {
    throw new ProtocolError(`${address}: IDENTIFY reply is not valid JSON: ${(err as Error).message}`);
  }
}
