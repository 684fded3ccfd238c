/**
 * nsqd's connection to ONE nsqlookupd (spec §5.5).
 *
 * Commands are queued and sent one at a time, each waiting for its `[size][data]` reply (1 s
 * deadline). On every (re)connect the peer writes the "  V1" magic, IDENTIFYs, remembers the
 * lookupd's broadcast_address/http_port, then REGISTERs everything in the broker's snapshot
 * before sending what is queued. When the connection drops (lookupd restarted, reply timeout,
 * error reply) it reconnects with exponential backoff and re-syncs the same way. Nothing here
 * throws into the caller; failures are logged.
 */
import { connect, type Socket } from "node:net";
import { splitHostPort } from "../protocol/address.ts";
import { goConnError, goDialError, goDialTimeout, goReadTimeout, socketEnds } from "../protocol/go-net-error.ts";
import type { Logger } from "../util/logger.ts";

export const MAGIC_V1 = Buffer.from("  V1", "latin1");

/** What the lookupd said about itself in its IDENTIFY reply. */
export interface LookupdInfo {
  broadcastAddress: string;
  httpPort: number;
  tcpPort: number;
  version: string;
}

export interface TopicRegistration {
  topic: string;
  channels: string[];
}

export interface LookupPeerOptions {
  address: string;
  logger: Logger;
  /** the IDENTIFY JSON body nsqd sends */
  identifyBody: string;
  /** current topics/channels, re-registered after every (re)connect */
  snapshot(): TopicRegistration[];
  dialTimeout: number;
  commandTimeout: number;
  /** replies larger than this are treated as a broken connection (nsqd uses --max-body-size) */
  maxReplySize: number;
  reconnectBackoffInitial: number;
  reconnectBackoffMax: number;
  /** while this many commands wait, the queue is dropped and a reconnect re-syncs from the snapshot */
  maxQueued: number;
}

/** `REGISTER t\n`, `REGISTER t c\n`, `UNREGISTER ...`: the text line for a (un)registration. */
export function registrationCommand(verb: "REGISTER" | "UNREGISTER", topic: string, channel?: string): Buffer {
  return Buffer.from(channel ? `${verb} ${topic} ${channel}\n` : `${verb} ${topic}\n`, "utf8");
}

/** `IDENTIFY\n[int32 size][json]`. */
export function identifyCommand(json: string): Buffer {
  const body = Buffer.from(json, "utf8");
  const header = Buffer.from("IDENTIFY\n", "latin1");
  const size = Buffer.allocUnsafe(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([header, size, body]);
}

const PING = Buffer.from("PING\n", "latin1");

/** One open socket to a lookupd with request/reply framing. */
class PeerConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { resolve(reply: Buffer): void; reject(err: Error): void; timer: ReturnType<typeof setTimeout> } | null =
    null;
  private closedError: Error | null = null;
  private onClosed: ((err: Error) => void) | null = null;
  /** `L->R`, for Go's error texts (nsqd's log lines quote them) */
  private readonly ends: string;

  private constructor(
    private readonly socket: Socket,
    private readonly maxReplySize: number,
  ) {
    this.ends = socketEnds(socket);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (err) => this.fail(new Error(goConnError(this.ends, err))));
    // what Go's read returns once the peer has closed
    socket.on("close", () => this.fail(new Error("EOF")));
  }

  static open(host: string, port: number, timeoutMs: number, maxReplySize: number): Promise<PeerConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(goDialTimeout(host, port)));
      }, timeoutMs);
      socket.once("error", (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(goDialError(host, port, err)));
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        socket.setNoDelay(true);
        resolve(new PeerConnection(socket, maxReplySize));
      });
    });
  }

  /** Called once when the connection breaks for any reason other than destroy(). */
  whenClosed(callback: (err: Error) => void): void {
    this.onClosed = callback;
  }

  write(data: Uint8Array): void {
    if (!this.closedError) this.socket.write(data);
  }

  /** Writes a command and resolves with the reply's data; rejects on timeout or a broken connection. */
  roundTrip(data: Uint8Array, timeoutMs: number): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.pending) return Promise.reject(new Error("command already in progress"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(goReadTimeout(this.ends))), timeoutMs);
      this.pending = { resolve, reject, timer };
      this.socket.write(data);
      this.deliver();
    });
  }

  destroy(): void {
    this.onClosed = null;
    this.fail(new Error("connection closed locally"));
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.deliver();
  }

  private deliver(): void {
    if (!this.pending || this.buffer.length < 4) return;
    const size = this.buffer.readInt32BE(0);
    if (size < 0 || size > this.maxReplySize) {
      this.fail(new Error(`response body size (${size}) is greater than limit (${this.maxReplySize})`));
      return;
    }
    if (this.buffer.length < 4 + size) return;
    const reply = Buffer.from(this.buffer.subarray(4, 4 + size));
    this.buffer = this.buffer.subarray(4 + size);
    const { resolve, timer } = this.pending;
    this.pending = null;
    clearTimeout(timer);
    resolve(reply);
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.socket.destroy();
    if (this.pending) {
      const { reject, timer } = this.pending;
      this.pending = null;
      clearTimeout(timer);
      reject(err);
    }
    const callback = this.onClosed;
    this.onClosed = null;
    callback?.(err);
  }
}

interface QueuedCommand {
  data: Buffer;
  /** for logs: the command line without its newline (go-nsq's Command.String()) */
  line: string;
  /** for the INFO line: `topic REGISTER t`, as nsqd's lookupLoop prefixes its branch */
  label: string;
}

export class LookupPeer {
  /** The lookupd's own data from the latest IDENTIFY reply; null until the first one. */
  info: LookupdInfo | null = null;
  private connection: PeerConnection | null = null;
  private readonly queue: QueuedCommand[] = [];
  private pingQueued = false;
  private running = false;
  private closed = false;
  private backoff: number;
  /** true while execute() waits for a reply (it logs that command's failure itself) */
  private commandInFlight = false;
  /** resolves the loop's current wait; `workWakes` says whether new commands may cut it short */
  private wakeLoop: (() => void) | null = null;
  private workWakes = false;

  constructor(private readonly opts: LookupPeerOptions) {
    this.backoff = opts.reconnectBackoffInitial;
  }

  get address(): string {
    return this.opts.address;
  }

  /** True while a connection is open and synced (IDENTIFY + snapshot done). */
  get connected(): boolean {
    return this.connection !== null;
  }

  /** Starts connecting now; the loop keeps the connection up until close(). */
  start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    void this.loop();
  }

  send(data: Buffer, branch?: string): void {
    if (this.closed) return;
    if (this.queue.length >= this.opts.maxQueued) {
      // the snapshot sent on reconnect carries the current state, so queued deltas are redundant
      this.opts.logger.warn(`LOOKUPD(${this.address}): ${this.queue.length} commands pending, resyncing`);
      this.queue.length = 0;
      this.pingQueued = false;
      this.dropConnection();
    }
    const line = data.toString("utf8").trimEnd();
    this.queue.push({ data, line, label: branch === undefined ? line : `${branch} ${line}` });
    this.wake(true);
  }

  ping(): void {
    if (this.closed || this.pingQueued) return;
    this.pingQueued = true;
    this.send(PING);
  }

  /** Closes the connection without UNREGISTERing (lookupd drops us when the socket closes). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.dropConnection();
    this.wake(false);
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      try {
        if (!this.connection) {
          if (!(await this.connectAndSync())) {
            await this.wait(this.backoff, false);
            this.backoff = Math.min(this.backoff * 2, this.opts.reconnectBackoffMax);
          }
          continue;
        }
        const command = this.queue.shift();
        if (!command) {
          await this.wait(0, true);
          continue;
        }
        if (command.data === PING) this.pingQueued = false;
        await this.execute(this.connection, command);
      } catch (err) {
        // defensive: the loop must never die with an unhandled rejection
        this.opts.logger.error(`LOOKUPD(${this.address}): ${errorText(err)}`);
        this.dropConnection();
      }
    }
  }

  /** Sends one queued command; on failure the connection is dropped (the snapshot re-sync covers it). */
  private async execute(connection: PeerConnection, command: QueuedCommand): Promise<void> {
    if (command.data === PING) this.opts.logger.debug(`LOOKUPD(${this.address}): sending heartbeat`);
    else this.opts.logger.info(`LOOKUPD(${this.address}): ${command.label}`);
    this.commandInFlight = true;
    try {
      const reply = await connection.roundTrip(command.data, this.opts.commandTimeout);
      if (!reply.equals(OK_REPLY)) {
        this.opts.logger.error(`LOOKUPD(${this.address}): ${command.line} - lookupd replied ${reply.toString("utf8")}`);
      }
    } catch (err) {
      // nsqd's words: `LOOKUPD(addr): PING - read tcp …: i/o timeout`, `… REGISTER t - EOF`
      this.opts.logger.error(`LOOKUPD(${this.address}): ${command.line} - ${errorText(err)}`);
      this.dropConnection();
    } finally {
      this.commandInFlight = false;
    }
  }

  /**
   * Dial, magic, IDENTIFY, REGISTER the snapshot; true when the connection is ready. Logged as
   * nsqd's lookupPeer does: nsqd connects inside the command that needs the connection (a PING
   * every 15 s, or a REGISTER), so a failed dial reads `LOOKUPD(addr): PING - dial tcp …`, and a
   * failed IDENTIFY or REGISTER adds `… - lookupPeer connectCallback() failed`.
   */
  private async connectAndSync(): Promise<boolean> {
    const { logger, address } = this.opts;
    const trigger = this.queue[0]?.line ?? "PING";
    let connection: PeerConnection | null = null;
    let step = trigger; // the command a thrown error is logged against
    try {
      const { host, port } = splitHostPort(address);
      logger.info(`LOOKUP connecting to ${address}`);
      connection = await PeerConnection.open(host, port, this.opts.dialTimeout, this.opts.maxReplySize);
      if (this.closed) {
        connection.destroy();
        return false;
      }
      connection.write(MAGIC_V1);
      step = "IDENTIFY";
      const reply = await connection.roundTrip(identifyCommand(this.opts.identifyBody), this.opts.commandTimeout);
      if (reply.toString("utf8") === "E_INVALID") {
        logger.info(`LOOKUPD(${address}): lookupd returned E_INVALID`);
        throw CALLBACK_FAILED;
      }
      const info = parseIdentifyReply(reply);
      if (info === null) {
        logger.error(`LOOKUPD(${address}): parsing response - ${reply.toString("utf8")}`);
        throw CALLBACK_FAILED;
      }
      this.info = info;
      logger.info(
        `LOOKUPD(${address}): peer info {TCPPort:${info.tcpPort} HTTPPort:${info.httpPort} ` +
          `Version:${info.version} BroadcastAddress:${info.broadcastAddress}}`,
      );
      if (info.broadcastAddress === "") logger.error(`LOOKUPD(${address}): no broadcast address`);
      for (const command of snapshotCommands(this.opts.snapshot())) {
        if (this.closed) break;
        step = command.toString("utf8").trimEnd();
        logger.info(`LOOKUPD(${address}): ${step}`);
        await connection.roundTrip(command, this.opts.commandTimeout);
      }
      if (this.closed) {
        connection.destroy();
        return false;
      }
    } catch (err) {
      connection?.destroy();
      if (this.closed) return false;
      if (err !== CALLBACK_FAILED) logger.error(`LOOKUPD(${address}): ${step} - ${errorText(err)}`);
      if (connection !== null) logger.error(`LOOKUPD(${address}): ${trigger} - lookupPeer connectCallback() failed`);
      return false;
    }
    connection.whenClosed((err) => {
      if (this.connection !== connection) return;
      // nsqd notices a lost connection at its next PING and logs the read error; we notice at once
      // (a command waiting for its reply logs its own failure)
      if (!this.commandInFlight) logger.error(`LOOKUPD(${address}): PING - ${err.message}`);
      this.connection = null;
      this.wake(false);
    });
    this.connection = connection;
    this.backoff = this.opts.reconnectBackoffInitial;
    return true;
  }

  private dropConnection(): void {
    const connection = this.connection;
    this.connection = null;
    connection?.destroy();
  }

  /** Sleeps for ms (0 = until woken); new work interrupts only when `interruptible`. */
  private wait(ms: number, interruptible: boolean): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (interruptible && this.queue.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = ms > 0 ? setTimeout(done, ms) : null;
      const self = this;
      function done(): void {
        if (timer) clearTimeout(timer);
        if (self.wakeLoop === done) self.wakeLoop = null;
        resolve();
      }
      this.workWakes = interruptible;
      this.wakeLoop = done;
    });
  }

  /** Ends the loop's wait: always for lifecycle events, only when it waits for work for new commands. */
  private wake(isNewWork: boolean): void {
    if (!this.wakeLoop) return;
    if (isNewWork && !this.workWakes) return;
    this.wakeLoop();
  }
}

const OK_REPLY = Buffer.from("OK");
/** thrown inside connectAndSync when the failure was already logged in nsqd's words */
const CALLBACK_FAILED = new Error("lookupPeer connectCallback() failed");

/** REGISTER lines for a snapshot: `REGISTER t` for a topic without channels, else one per channel. */
export function snapshotCommands(snapshot: TopicRegistration[]): Buffer[] {
  const commands: Buffer[] = [];
  for (const { topic, channels } of snapshot) {
    if (channels.length === 0) commands.push(registrationCommand("REGISTER", topic));
    else for (const channel of channels) commands.push(registrationCommand("REGISTER", topic, channel));
  }
  return commands;
}

/** The lookupd's IDENTIFY reply, or null when it is not a JSON object (nsqd: "parsing response"). */
function parseIdentifyReply(reply: Buffer): LookupdInfo | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply.toString("utf8"));
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
  const fields = parsed as Record<string, unknown>;
  return {
    broadcastAddress: typeof fields.broadcast_address === "string" ? fields.broadcast_address : "",
    httpPort: typeof fields.http_port === "number" ? fields.http_port : 0,
    tcpPort: typeof fields.tcp_port === "number" ? fields.tcp_port : 0,
    version: typeof fields.version === "string" ? fields.version : "",
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
