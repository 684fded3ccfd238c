/**
 * The broker: owns topics, client connections, the TCP and HTTP listeners and the one scan loop
 * that drives in-flight timeouts, deferred messages and heartbeats (no timer per message,
 * channel or client). `nsq serve` is a thin command over this class; tests and embedders use it
 * directly: `const n = new Nsqd({ tcpAddress: "127.0.0.1:0", ... }); await n.start()`.
 */
import net from "node:net";
import { defaultNsqdOptions, type NsqdOptions } from "./options.ts";
import { createLogger, type Logger } from "../util/logger.ts";
import { ClientV2, ClientState } from "./client.ts";
import { ProtocolV2Connection } from "./protocol-v2.ts";
import { Topic, type TopicHost } from "./topic.ts";
import type { Channel } from "./channel.ts";
import type { BackendQueue } from "./backend-queue.ts";
import { LatencyStats } from "./latency-stats.ts";
import { FRAME_HEARTBEAT } from "../protocol/frames.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { isEphemeral } from "../protocol/names.ts";
import { parseListenAddress, formatHostPort } from "./address.ts";
import { startHttpServer, type HttpServerHandle } from "./http.ts";
import { upgradeTransport, type TransportUpgrade } from "./transport-upgrade.ts";
import { AuthManager } from "./auth.ts";

/** The scan loop's period, as nsqd's queue scan interval. */
const SCAN_INTERVAL_MS = 100;

export type { TransportUpgrade };

export class Nsqd implements TopicHost {
  readonly options: NsqdOptions;
  readonly logger: Logger;
  readonly topics = new Map<string, Topic>();
  readonly clients = new Set<ClientV2>();
  readonly startTime = Math.floor(Date.now() / 1000);
  /** "OK", or the last disk error since which nothing was written successfully */
  private healthError: string | null = null;
  private tcpServer: net.Server | null = null;
  private http: HttpServerHandle | null = null;
  private scanTimer: ReturnType<typeof setInterval> | null = null;
  private readonly activeChannels = new Set<Channel>();
  private nextClientId = 0;
  private readonly auth: AuthManager | null;
  private closing = false;
  tcpPort = -1;
  httpPort = -1;

  constructor(opts: Partial<NsqdOptions> = {}, logger?: Logger) {
    this.options = { ...defaultNsqdOptions(), ...opts };
    this.logger = logger ?? createLogger(this.options.logPrefix, this.options.logLevel);
    this.auth = this.options.authHttpAddresses.length > 0 ? new AuthManager(this.options, this.logger) : null;
  }

  // ---- feature switches used by the protocol ----
  get tlsAvailable(): boolean {
    return this.options.tlsCert !== "" && this.options.tlsKey !== "";
  }
  get tlsRequiredForTcp(): boolean {
    return this.options.tlsRequired !== "false";
  }
  get authEnabled(): boolean {
    return this.options.authHttpAddresses.length > 0;
  }
  get memQueueSize(): number {
    return this.options.memQueueSize;
  }
  get maxMsgTimeout(): number {
    return this.options.maxMsgTimeout;
  }

  async start(): Promise<void> {
    await this.listenTcp();
    if (this.options.httpAddress !== "") {
      this.http = startHttpServer(this, this.options.httpAddress);
      this.httpPort = this.http.port;
      this.logger.info(`HTTP: listening on ${this.http.address}`);
    }
    this.scanTimer = setInterval(() => this.scan(), SCAN_INTERVAL_MS);
  }

  private listenTcp(): Promise<void> {
    const addr = parseListenAddress(this.options.tcpAddress);
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.tcpServer = server;
    return new Promise((resolve, reject) => {
      server.once("error", (err) => reject(new Error(`listen (${this.options.tcpAddress}) failed - ${err.message}`)));
      const onListening = () => {
        const a = server.address();
        if (a !== null && typeof a === "object") {
          this.tcpPort = a.port;
          this.logger.info(`TCP: listening on ${formatHostPort(a.address, a.port)}`);
        } else {
          this.logger.info(`TCP: listening on ${this.options.tcpAddress}`);
        }
        resolve();
      };
      if (addr.kind === "tcp") server.listen(addr.port, addr.host, onListening);
      else server.listen(addr.path, onListening);
    });
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const remote =
      socket.remoteAddress !== undefined ? formatHostPort(socket.remoteAddress.replace(/^::ffff:/, ""), socket.remotePort ?? 0) : "unix";
    const client = new ClientV2(
      ++this.nextClientId,
      socket,
      remote,
      {
        heartbeatInterval: 30_000,
        outputBufferTimeout: this.options.outputBufferTimeout,
        msgTimeout: this.options.msgTimeout,
      },
      (c) => this.removeClient(c),
    );
    const conn = new ProtocolV2Connection(client, this);
    this.clients.add(client);
    socket.on("data", (chunk: Buffer) => conn.onData(chunk));
    socket.on("drain", () => client.onDrain());
    socket.on("close", () => {
      client.closed = true;
      this.removeClient(client);
    });
    socket.on("error", (err) => this.logger.debug(`client ${remote}: ${err.message}`));
  }

  private removeClient(client: ClientV2): void {
    if (!this.clients.delete(client)) return;
    client.state = ClientState.Closing;
    const ch = client.channel;
    if (ch !== null) ch.removeClient(client);
  }

  /** The single periodic loop: in-flight timeouts, deferred messages, heartbeats, read deadlines. */
  private scan(): void {
    const now = Date.now();
    for (const ch of this.activeChannels) {
      if (ch.deleted || !ch.processQueues(now)) this.activeChannels.delete(ch);
    }
    for (const c of this.clients) {
      const hb = c.heartbeatInterval;
      if (hb <= 0 || c.closed) continue;
      if (now - c.lastReadAt > 2 * hb) {
        this.logger.info(`PROTOCOL(V2): [${c.remoteAddress}] IO error - read timeout`);
        c.close();
        continue;
      }
      if (now >= c.nextHeartbeatAt) {
        c.sendFrameBytes(FRAME_HEARTBEAT);
        c.nextHeartbeatAt = now + hb;
      }
    }
  }

  // ---- TopicHost / ChannelHost ----
  markActive(channel: Channel): void {
    this.activeChannels.add(channel);
  }

  onEphemeralChannelEmpty(channel: Channel): void {
    // deferred so that the client that is leaving has finished its own bookkeeping
    queueMicrotask(() => {
      if (!channel.deleted && channel.clients.length === 0) this.deleteChannel(channel.topic.name, channel.name);
    });
  }

  onEphemeralTopicEmpty(topic: Topic): void {
    if (!topic.deleted && topic.channels.size === 0) this.deleteTopic(topic.name);
  }

  logError(msg: string): void {
    this.logger.error(msg);
  }

  createBackend(queueName: string): BackendQueue | null {
    void queueName;
    return new UnavailableBackend();
  }

  createLatencyStats(): LatencyStats | null {
    const p = this.options.e2eProcessingLatencyPercentiles;
    return p.length > 0 ? new LatencyStats(p, this.options.e2eProcessingLatencyWindowTime) : null;
  }

  onChannelCreated(channel: Channel): void {
    this.logger.info(`TOPIC(${channel.topic.name}): new channel(${channel.name})`);
    this.persistMetadata();
  }

  onChannelDeleted(channel: Channel): void {
    this.logger.info(`TOPIC(${channel.topic.name}): deleting channel ${channel.name}`);
    this.activeChannels.delete(channel);
    this.persistMetadata();
  }

  // ---- topics and channels ----
  getTopic(name: string): Topic | undefined {
    return this.topics.get(name);
  }

  getOrCreateTopic(name: string): Topic {
    let topic = this.topics.get(name);
    if (topic !== undefined) return topic;
    const backend = isEphemeral(name) ? null : this.createBackend(name);
    topic = new Topic(name, this.options.nodeId, this, backend);
    this.topics.set(name, topic);
    this.logger.info(`TOPIC(${name}): created`);
    this.persistMetadata();
    topic.start();
    return topic;
  }

  deleteTopic(name: string): boolean {
    const topic = this.topics.get(name);
    if (topic === undefined) return false;
    topic.deleted = true;
    this.topics.delete(name);
    for (const chName of topic.channelNames()) topic.deleteChannel(chName);
    topic.empty();
    topic.backend?.delete();
    this.logger.info(`TOPIC(${name}): deleted`);
    this.persistMetadata();
    return true;
  }

  deleteChannel(topicName: string, channelName: string): boolean {
    const topic = this.topics.get(topicName);
    return topic !== undefined && topic.deleteChannel(channelName);
  }

  setTopicPaused(topic: Topic, paused: boolean): void {
    if (paused) topic.pause();
    else topic.unpause();
    this.persistMetadata();
  }

  setChannelPaused(channel: Channel, paused: boolean): void {
    if (paused) channel.pause();
    else channel.unpause();
    this.persistMetadata();
  }

  // ---- health ----
  get health(): string {
    return this.healthError === null ? "OK" : `NOK - ${this.healthError}`;
  }

  publishFailed(err: unknown): void {
    this.healthError = err instanceof Error ? err.message : String(err);
    this.logger.error(`failed to store a message: ${this.healthError}`);
  }

  // ---- hooks filled in by persistence, lookupd, auth and transports ----
  private persistMetadata(): void {}

  /** Permission check for SUB/PUB/MPUB/DPUB; may return a Promise (re-query after expiry). */
  checkAuth(client: ClientV2, cmd: string, topic: string, channel: string): void | Promise<void> {
    if (this.auth === null) return;
    return this.auth.check(client, cmd, topic, channel);
  }

  /** AUTH: resolves with the reply frame's JSON. */
  authenticate(client: ClientV2, secret: string): Promise<string> {
    if (this.auth === null) return Promise.reject(new ProtocolError("E_AUTH_DISABLED", "AUTH disabled"));
    return this.auth.authenticate(client, secret);
  }

  upgradeTransport(conn: ProtocolV2Connection, upgrade: TransportUpgrade, leftover: Buffer | null): Promise<void> {
    return upgradeTransport(
      { client: conn.client, socket: conn.client.socket, onData: (c) => conn.onData(c), leftover, options: this.options },
      upgrade,
    );
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.scanTimer !== null) clearInterval(this.scanTimer);
    const tcpClosed = new Promise<void>((resolve) => {
      if (this.tcpServer === null) resolve();
      else this.tcpServer.close(() => resolve());
    });
    for (const c of [...this.clients]) c.close();
    this.http?.stop();
    await tcpClosed;
  }
}

/** Placeholder until the disk queue is wired in: overflow is refused, never silently dropped. */
class UnavailableBackend implements BackendQueue {
  put(): void {
    throw new Error("disk queue unavailable");
  }
  putMany(): void {
    throw new Error("disk queue unavailable");
  }
  readNext(): Uint8Array | null {
    return null;
  }
  depth(): number {
    return 0;
  }
  empty(): void {}
  delete(): void {}
  close(): void {}
}
