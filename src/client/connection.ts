/**
 * One TCP connection to nsqd speaking protocol V2 (spec §1): magic, IDENTIFY with
 * feature_negotiation, the TLS / snappy / deflate upgrades it negotiated, optional AUTH, then
 * commands. All bytes go through one ClientTransport (socket → TLS → compression). Replies
 * (response or error frames) are matched to the commands that expect one, in order; heartbeats
 * are answered with NOP and never matched. Writes issued in the same tick go out in one write.
 */
import { createConnection } from "node:net";
import type { ConnectionOptions } from "node:tls";
import * as cmd from "./commands.ts";
import { FrameParser, FRAME_ERROR, FRAME_MESSAGE, FRAME_RESPONSE, type FrameSink } from "./frame-parser.ts";
import { ConnectionError, NotNsqServerError, NsqError, ProtocolError, TimeoutError } from "./errors.ts";
import { parseHostPort } from "./address.ts";
import type { ClientConfig } from "./config.ts";
import { MESSAGE_HEADER_SIZE } from "./message.ts";
import { ClientTransport } from "./transport.ts";
import { clientTlsOptions } from "./tls-options.ts";

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

/** What nsqd answered to AUTH (spec §1.12). */
export interface AuthResponse {
  identity: string;
  identity_url: string;
  permission_count: number;
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
const OK = Buffer.from("OK");
const noop = (): void => {};

export class NsqConnection implements FrameSink {
  readonly address: string;
  private readonly host: string;
  private readonly port: number;
  private transport: ClientTransport | null = null;
  private readonly parser = new FrameParser(this);
  private readonly pending: PendingReply[] = [];
  private outQueue: Buffer[] = [];
  private flushScheduled = false;
  /** the transport refused the last batch; queued commands wait for its drain */
  private blocked = false;
  /** runs synchronously on the next non-heartbeat response, before its waiter (upgrade steps) */
  private replyHook: ((data: Buffer) => void) | null = null;
  /** installs the next layer with the bytes that followed a switch point */
  private afterSwitch: ((rest: Buffer) => void) | null = null;
  /** the `OK`s nsqd sends after each upgrade step, registered as soon as the step is known */
  private upgradeReplies: Array<Promise<Buffer>> = [];
  /** the TLS handshake in progress: a socket close waits for its reason */
  private handshake: Promise<void> | null = null;
  private closed = false;
  private closeError: Error | undefined;
  /** IDENTIFY reply once connected */
  settings: IdentifyResponse = PLAIN_OK_DEFAULTS;
  /** AUTH reply when nsqd required AUTH */
  authResponse: AuthResponse | null = null;

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

  /** true when the session runs over TLS */
  get isTls(): boolean {
    return this.transport?.isTls ?? false;
  }

  /**
   * Dials, sends the magic and IDENTIFY, performs the TLS / compression upgrades nsqd agreed to,
   * AUTHs if required. Rejects with context on failure.
   */
  async connect(): Promise<IdentifyResponse> {
    // read certificate files before dialling, so a bad path fails without touching nsqd
    const tlsOptions = this.config.tlsV1 ? clientTlsOptions(this.config, this.host) : null;
    await this.dial();
    this.write(cmd.MAGIC_V2);
    this.replyHook = (data) => this.onIdentifyReply(data, tlsOptions);
    await this.request(cmd.identify(this.identifyBody()));
    for (const step of this.upgradeReplies) {
      const reply = await step;
      if (!reply.equals(OK)) {
        this.destroy(new ProtocolError(`${this.address}: expected OK after upgrade, got "${reply.toString("utf8")}"`));
        throw this.closeError!;
      }
    }
    this.upgradeReplies = [];
    if (this.settings.auth_required) {
      if (!this.config.authSecret) {
        this.destroy(new ConnectionError("nsqd requires AUTH but no auth_secret is configured", this.address));
        throw this.closeError!;
      }
      this.authResponse = parseAuthReply(await this.request(cmd.auth(this.config.authSecret)), this.address);
    }
    return this.settings;
  }

  /**
   * Runs inside the frame parser on the IDENTIFY reply. When nsqd enabled TLS or compression the
   * bytes after this frame are no longer plaintext frames: the parser stops here and the next
   * layer takes over the rest of the chunk (the compressed `OK` may share a TCP read with the JSON).
   */
  private onIdentifyReply(data: Buffer, tlsOptions: ConnectionOptions | null): void {
    const s = parseIdentifyReply(data, this.address);
    this.settings = s;
    const c = this.config;
    if ((s.tls_v1 && !c.tlsV1) || (s.snappy && !c.snappy) || (s.deflate && !c.deflate)) {
      throw new ProtocolError("nsqd enabled a feature this client did not request");
    }
    if (s.snappy && s.deflate) throw new ProtocolError("nsqd enabled both snappy and deflate");
    if (c.tlsV1 && !s.tls_v1) {
      throw new ProtocolError("TLS was requested but nsqd did not enable it (is nsqd started with --tls-cert/--tls-key?)");
    }
    const compression = s.snappy ? "snappy" : s.deflate ? "deflate" : null;
    if (tlsOptions === null && compression === null) return;
    this.parser.stopAfterCurrentFrame();
    if (tlsOptions !== null) {
      this.afterSwitch = (rest) => this.startTls(rest, tlsOptions, compression);
      this.upgradeReplies.push(this.expectReply());
    } else {
      this.afterSwitch = (rest) => this.startCompression(compression!, rest);
    }
    if (compression !== null) this.upgradeReplies.push(this.expectReply());
  }

  private startTls(rest: Buffer, options: ConnectionOptions, compression: "snappy" | "deflate" | null): void {
    // nsqd sends nothing between the JSON and its handshake reply, which waits for our hello
    if (rest.length > 0) throw new ProtocolError(`unexpected ${rest.length} bytes from nsqd before the TLS handshake`);
    if (compression !== null) {
      // the OK over TLS is the next switch point: compression starts right after it
      this.replyHook = () => {
        this.parser.stopAfterCurrentFrame();
        this.afterSwitch = (after) => this.startCompression(compression, after);
      };
    }
    const handshake = this.transport!.startTls(options);
    this.handshake = handshake;
    handshake.then(
      () => {
        this.handshake = null;
      },
      (err: unknown) => {
        this.handshake = null;
        const reason = err instanceof Error ? err.message : String(err);
        this.destroy(new ConnectionError(`TLS handshake failed: ${reason}`, this.address, { cause: err }));
      },
    );
  }

  private startCompression(kind: "snappy" | "deflate", rest: Buffer): void {
    if (kind === "snappy") this.transport!.startSnappy(rest);
    else this.transport!.startDeflate(this.settings.deflate_level, rest);
  }

  private identifyBody(): Record<string, unknown> {
    const c = this.config;
    return {
      client_id: c.clientId,
      hostname: c.hostname,
      user_agent: c.userAgent,
      short_id: c.clientId,
      long_id: c.hostname,
      tls_v1: c.tlsV1,
      deflate: c.deflate,
      deflate_level: c.deflateLevel,
      snappy: c.snappy,
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
      socket.setNoDelay(true);
      const transport = new ClientTransport(socket, {
        onBytes: (chunk) => this.onData(chunk),
        onDrain: () => this.onDrain(),
        onError: (err) => {
          this.closeError ??= new ConnectionError(err.message, this.address, { cause: err });
          this.transport?.destroy();
        },
        onClose: () => this.onSocketClose(),
      });
      this.transport = transport;
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
          transport.setReadTimeout(this.config.readTimeout, () => {
            this.destroy(new TimeoutError(`no data from nsqd for ${this.config.readTimeout}ms`, this.address));
          });
        }
        resolve();
      });
    });
  }

  /** The one read path: plaintext protocol bytes from the transport. */
  private onData(chunk: Buffer): void {
    try {
      this.parser.push(chunk);
      if (this.parser.stopped) {
        const next = this.afterSwitch;
        this.afterSwitch = null;
        const rest = this.parser.takeRemainder();
        if (next === null) throw new ProtocolError("frame parser stopped without a next layer");
        next(rest);
      }
    } catch (err) {
      const e = err instanceof ProtocolError ? err : new ProtocolError(String(err));
      const text = e instanceof NotNsqServerError ? e.message : `protocol error: ${e.message}`;
      this.destroy(new ConnectionError(text, this.address, { cause: e }));
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
      const hook = this.replyHook;
      if (hook !== null) {
        this.replyHook = null;
        hook(data); // may throw (bad IDENTIFY JSON): the waiter is then rejected by the close
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
      this.replyHook = null;
      const p = this.pending.shift();
      if (p) p.reject(err);
    }
  }

  /** Queues bytes; everything written in one tick is sent with a single socket write. */
  write(buf: Buffer): void {
    if (this.closed || !this.transport) return;
    this.outQueue.push(buf);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** The one write path. While the transport is backed up, commands queue until it drains. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const q = this.outQueue;
    if (q.length === 0 || this.closed || this.blocked || !this.transport) return;
    this.outQueue = [];
    if (!this.transport.write(q.length === 1 ? q[0]! : Buffer.concat(q))) this.blocked = true;
  };

  private onDrain(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.flush();
  }

  /** Waits for a reply nsqd sends without a command (the `OK` after each upgrade step). */
  private expectReply(): Promise<Buffer> {
    const p = new Promise<Buffer>((resolve, reject) => this.pending.push({ resolve, reject }));
    p.catch(noop); // awaited by connect(); a rejection before that must not count as unhandled
    return p;
  }

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
    if (this.closed || !this.transport) return;
    this.blocked = false; // closing: hand everything queued to the transport
    this.flush();
    this.transport.end();
    // a peer that never answers the FIN must not keep the socket (and the process) alive
    const t = this.transport;
    setTimeout(() => t.destroy(), 1000).unref();
  }

  /** Closes immediately; `error` is reported to onClose and to waiting commands. */
  destroy(error?: Error): void {
    if (error) this.closeError ??= error;
    this.transport?.destroy();
  }

  private onSocketClose(): void {
    if (this.closed) return;
    if (this.handshake !== null) {
      // the socket closing under a failed handshake: report the handshake's reason, not "closed"
      void this.handshake.then(() => this.onSocketClose(), () => this.onSocketClose());
      return;
    }
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

function parseAuthReply(reply: Buffer, address: string): AuthResponse {
  try {
    const parsed = JSON.parse(reply.toString("utf8")) as Partial<AuthResponse>;
    return {
      identity: String(parsed.identity ?? ""),
      identity_url: String(parsed.identity_url ?? ""),
      permission_count: Number(parsed.permission_count ?? 0),
    };
  } catch (err) {
    throw new ProtocolError(`${address}: AUTH reply is not valid JSON: ${(err as Error).message}`);
  }
}
