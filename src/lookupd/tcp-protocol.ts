/**
 * nsqlookupd's TCP protocol "V1" (spec §5.2), as a socket-independent session: feed it the bytes a
 * connection receives and it writes replies / closes through the ConnectionIO it was given. Input
 * may arrive split anywhere or with several commands per chunk; every error is fatal (reply, then
 * close), and nothing a client sends can throw out of `receive`.
 *
 * Replies are framed `[int32 size][data]` with NO frame type (unlike nsqd's V2).
 */
import { hostname as osHostname } from "node:os";
import { isEphemeral, isValidChannelName, isValidTopicName } from "../protocol/names.ts";
import { NSQ_VERSION } from "../protocol/version.ts";
import { formatDuration } from "../util/duration.ts";
import type { Logger } from "../util/logger.ts";
import type { PeerInfo, RegistrationDB } from "./registration-db.ts";

export const MAGIC_V1 = "  V1";
/** A command line longer than this (without "\n") is refused; the real daemon has no cap. */
export const MAX_LINE_BYTES = 64 * 1024;
/** IDENTIFY bodies above this are refused (nsqd sends ~150 bytes). */
export const MAX_IDENTIFY_BODY_BYTES = 1024 * 1024;

export interface ConnectionIO {
  /** the connection's remote "ip:port"; becomes the peer id */
  readonly remoteAddress: string;
  write(data: Uint8Array): void;
  /** flushes pending writes, then closes */
  close(): void;
}

/** What a session needs from the daemon. */
export interface LookupContext {
  db: RegistrationDB;
  logger: Logger;
  broadcastAddress: string;
  tcpPort(): number;
  httpPort(): number;
}

/** `[int32 size][data]`, the only V1 framing. */
export function frameV1(data: string | Uint8Array): Uint8Array {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

class FatalError extends Error {
  constructor(
    readonly code: string,
    readonly desc: string,
    readonly cause?: unknown,
  ) {
    super(`${code} ${desc}`);
  }
}

type State = "magic" | "line" | "identify-size" | "identify-body" | "closed";

const OK = frameV1("OK");
const NEWLINE = 0x0a;

export class LookupV1Session {
  private state: State = "magic";
  private buffer: Buffer = Buffer.alloc(0);
  private bodySize = 0;
  private peer: PeerInfo | null = null;
  /** the magic was accepted: the end of the connection is logged as the end of the IOLoop */
  private loopStarted = false;
  private failReason: string | null = null;

  constructor(
    private readonly io: ConnectionIO,
    private readonly ctx: LookupContext,
  ) {
    ctx.logger.info(`TCP: new client(${io.remoteAddress})`);
  }

  /** The identified peer, or null before IDENTIFY. */
  get peerInfo(): PeerInfo | null {
    return this.peer;
  }

  receive(chunk: Uint8Array): void {
    if (this.state === "closed") return;
    this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    try {
      // each step consumes one unit of input (magic, line, size or body); false once closed
      while (this.step()) continue;
    } catch (err) {
      if (err instanceof FatalError) this.fail(err);
      else this.fail(new FatalError("E_INVALID", "internal error", err));
    }
  }

  /** The connection ended (either side): drop the peer from every registration it holds. */
  disconnected(): void {
    const before = this.state;
    this.state = "closed";
    this.buffer = Buffer.alloc(0);
    // as nsqlookupd's tcp.go / IOLoop: a connection that never sent its magic, or ran the loop
    if (before === "magic") this.ctx.logger.error(`failed to read protocol version - EOF`);
    else if (this.loopStarted) this.ctx.logger.info(`PROTOCOL(V1): [${this.io.remoteAddress}] exiting ioloop`);
    this.loopStarted = false;
    const peer = this.peer;
    if (!peer) return this.logFailReason();
    this.peer = null;
    for (const r of this.ctx.db.removePeer(peer.id)) {
      this.ctx.logger.info(
        `DB: client(${this.io.remoteAddress}) UNREGISTER category:${r.category} key:${r.key} subkey:${r.subKey}`,
      );
    }
    this.logFailReason();
  }

  /** nsqlookupd's tcp.go reports the error that ended the IOLoop after it returns. */
  private logFailReason(): void {
    const reason = this.failReason;
    this.failReason = null;
    if (reason !== null) this.ctx.logger.error(`client(${this.io.remoteAddress}) - ${reason}`);
  }

  /** Handles one unit of buffered input; false when more bytes are needed. */
  private step(): boolean {
    switch (this.state) {
      case "magic":
        return this.readMagic();
      case "line":
        return this.readLine();
      case "identify-size":
        return this.readIdentifySize();
      case "identify-body":
        return this.readIdentifyBody();
      default:
        return false;
    }
  }

  private readMagic(): boolean {
    if (this.buffer.length < 4) return false;
    const magic = this.buffer.subarray(0, 4).toString("latin1");
    this.consume(4);
    this.ctx.logger.info(`CLIENT(${this.io.remoteAddress}): desired protocol magic '${magic}'`);
    if (magic !== MAGIC_V1) {
      this.ctx.logger.error(`client(${this.io.remoteAddress}) bad protocol magic '${magic}'`);
      this.io.write(frameV1("E_BAD_PROTOCOL"));
      this.close();
      return false;
    }
    this.state = "line";
    this.loopStarted = true;
    return true;
  }

  private readLine(): boolean {
    const nl = this.buffer.indexOf(NEWLINE);
    if (nl < 0) {
      if (this.buffer.length > MAX_LINE_BYTES) throw new FatalError("E_INVALID", "command line too long");
      return false;
    }
    const line = this.buffer.subarray(0, nl).toString("utf8").trim();
    this.consume(nl + 1);
    this.exec(line.split(" "));
    return true;
  }

  private exec(params: string[]): void {
    const name = params[0]!;
    switch (name) {
      case "PING":
        return this.ping();
      case "IDENTIFY":
        if (this.peer) throw new FatalError("E_INVALID", "cannot IDENTIFY again");
        this.state = "identify-size";
        return;
      case "REGISTER":
        return this.register(params.slice(1));
      case "UNREGISTER":
        return this.unregister(params.slice(1));
      default:
        throw new FatalError("E_INVALID", `invalid command ${name}`);
    }
  }

  private ping(): void {
    if (this.peer) {
      // a PING may arrive before IDENTIFY; only identified peers have a lastUpdate to refresh
      const now = Date.now();
      this.ctx.logger.info(`CLIENT(${this.peer.id}): pinged (last ping ${formatDuration(now - this.peer.lastUpdate)})`);
      this.peer.lastUpdate = now;
    }
    this.io.write(OK);
  }

  private readIdentifySize(): boolean {
    if (this.buffer.length < 4) return false;
    const size = this.buffer.readInt32BE(0);
    this.consume(4);
    if (size < 0 || size > MAX_IDENTIFY_BODY_BYTES) {
      throw new FatalError("E_BAD_BODY", "IDENTIFY failed to read body", new Error(`body size ${size}`));
    }
    this.bodySize = size;
    this.state = "identify-body";
    return true;
  }

  private readIdentifyBody(): boolean {
    if (this.buffer.length < this.bodySize) return false;
    const body = this.buffer.subarray(0, this.bodySize).toString("utf8");
    this.consume(this.bodySize);
    this.identify(body);
    this.state = "line";
    return true;
  }

  private identify(body: string): void {
    const remote = this.io.remoteAddress;
    const peer = decodeIdentify(body, remote);
    if (!peer.broadcastAddress || peer.tcpPort === 0 || peer.httpPort === 0 || !peer.version) {
      throw new FatalError("E_BAD_BODY", "IDENTIFY missing fields");
    }
    peer.lastUpdate = Date.now();
    this.ctx.logger.info(
      `CLIENT(${remote}): IDENTIFY Address:${peer.broadcastAddress} TCP:${peer.tcpPort} HTTP:${peer.httpPort} Version:${peer.version}`,
    );
    this.peer = peer;
    if (this.ctx.db.addProducer({ category: "client", key: "", subKey: "" }, peer)) {
      this.ctx.logger.info(`DB: client(${remote}) REGISTER category:client key: subkey:`);
    }
    // keys in sorted order, as Go marshals a map
    const reply = JSON.stringify({
      broadcast_address: this.ctx.broadcastAddress,
      hostname: osHostname(),
      http_port: this.ctx.httpPort(),
      tcp_port: this.ctx.tcpPort(),
      version: NSQ_VERSION,
    });
    this.io.write(frameV1(reply));
  }

  private register(params: string[]): void {
    const peer = this.requirePeer();
    const { topic, channel } = topicChannel("REGISTER", params);
    const remote = this.io.remoteAddress;
    if (channel !== "" && this.ctx.db.addProducer({ category: "channel", key: topic, subKey: channel }, peer)) {
      this.ctx.logger.info(`DB: client(${remote}) REGISTER category:channel key:${topic} subkey:${channel}`);
    }
    if (this.ctx.db.addProducer({ category: "topic", key: topic, subKey: "" }, peer)) {
      this.ctx.logger.info(`DB: client(${remote}) REGISTER category:topic key:${topic} subkey:`);
    }
    this.io.write(OK);
  }

  private unregister(params: string[]): void {
    const peer = this.requirePeer();
    const { topic, channel } = topicChannel("UNREGISTER", params);
    const db = this.ctx.db;
    const remote = this.io.remoteAddress;
    if (channel !== "") {
      const key = { category: "channel", key: topic, subKey: channel } as const;
      const { removed, left } = db.removeProducer(key, peer.id);
      if (removed) this.ctx.logger.info(`DB: client(${remote}) UNREGISTER category:channel key:${topic} subkey:${channel}`);
      // only ephemeral registrations disappear when their last producer goes
      if (left === 0 && isEphemeral(channel)) db.removeRegistration(key);
    } else {
      // a topic UNREGISTER implies its channels are gone too; nsqd normally unregisters them first
      for (const r of db.findRegistrations("channel", topic, "*")) {
        if (db.removeProducer(r, peer.id).removed) {
          this.ctx.logger.warn(`client(${remote}) unexpected UNREGISTER category:channel key:${topic} subkey:${r.subKey}`);
        }
      }
      const key = { category: "topic", key: topic, subKey: "" } as const;
      const { removed, left } = db.removeProducer(key, peer.id);
      if (removed) this.ctx.logger.info(`DB: client(${remote}) UNREGISTER category:topic key:${topic} subkey:`);
      if (left === 0 && isEphemeral(topic)) db.removeRegistration(key);
    }
    this.io.write(OK);
  }

  private requirePeer(): PeerInfo {
    if (!this.peer) throw new FatalError("E_INVALID", "client must IDENTIFY");
    return this.peer;
  }

  private fail(err: FatalError): void {
    const cause = err.cause instanceof Error ? ` - ${err.cause.message}` : "";
    this.ctx.logger.error(`[${this.io.remoteAddress}] - ${err.message}${cause}`);
    this.failReason = err.message;
    this.io.write(frameV1(err.message));
    this.close();
  }

  private close(): void {
    this.state = "closed";
    this.buffer = Buffer.alloc(0);
    this.io.close();
  }

  private consume(n: number): void {
    this.buffer = this.buffer.subarray(n);
  }
}

function topicChannel(command: string, params: string[]): { topic: string; channel: string } {
  if (params.length === 0) throw new FatalError("E_INVALID", `${command} insufficient number of params`);
  const topic = params[0]!;
  const channel = params.length >= 2 ? params[1]! : "";
  if (!isValidTopicName(topic)) throw new FatalError("E_BAD_TOPIC", `${command} topic name '${topic}' is not valid`);
  if (channel !== "" && !isValidChannelName(channel)) {
    throw new FatalError("E_BAD_CHANNEL", `${command} channel name '${channel}' is not valid`);
  }
  return { topic, channel };
}

type StringField = "hostname" | "broadcastAddress" | "version" | "remoteAddress";
type IntField = "tcpPort" | "httpPort";
/** JSON key (lower-cased) → PeerInfo field; remote_address is type-checked but then overwritten. */
const STRING_FIELDS = new Map<string, StringField>([
  ["hostname", "hostname"],
  ["broadcast_address", "broadcastAddress"],
  ["version", "version"],
  ["remote_address", "remoteAddress"],
]);
const INT_FIELDS = new Map<string, IntField>([
  ["tcp_port", "tcpPort"],
  ["http_port", "httpPort"],
]);

/**
 * Decodes the IDENTIFY JSON like Go's encoding/json into nsqlookupd's PeerInfo: unknown keys are
 * ignored, key matching is case-insensitive, null leaves a field empty, a wrong type is an error.
 */
function decodeIdentify(body: string, remoteAddress: string): PeerInfo {
  const peer: PeerInfo = {
    id: remoteAddress,
    remoteAddress,
    hostname: "",
    broadcastAddress: "",
    tcpPort: 0,
    httpPort: 0,
    version: "",
    lastUpdate: 0,
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new FatalError("E_BAD_BODY", "IDENTIFY failed to decode JSON body", err);
  }
  if (parsed === null) return peer;
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new FatalError("E_BAD_BODY", "IDENTIFY failed to decode JSON body", new Error("not a JSON object"));
  }
  for (const [rawKey, value] of Object.entries(parsed as Record<string, unknown>)) {
    const key = rawKey.toLowerCase();
    if (value === null) continue;
    const stringField = STRING_FIELDS.get(key);
    if (stringField) {
      if (typeof value !== "string") throw badField(rawKey);
      peer[stringField] = value;
      continue;
    }
    const intField = INT_FIELDS.get(key);
    if (intField) {
      if (typeof value !== "number" || !Number.isSafeInteger(value)) throw badField(rawKey);
      peer[intField] = value;
    }
  }
  peer.remoteAddress = remoteAddress;
  return peer;
}

function badField(key: string): FatalError {
  return new FatalError("E_BAD_BODY", "IDENTIFY failed to decode JSON body", new Error(`bad type for "${key}"`));
}
