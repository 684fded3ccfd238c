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
import { channelQueueName, type BackendQueue } from "./backend-queue.ts";
import { LatencyStats } from "./latency-stats.ts";
import { FRAME_HEARTBEAT } from "../protocol/frames.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { isEphemeral } from "../protocol/names.ts";
import { parseListenAddress, joinHostPort, goListenError } from "../protocol/address.ts";
import { startHttpServer, type HttpServerHandle } from "./http.ts";
import { startHttpsServer } from "./https.ts";
import { loadTlsConfig } from "./tls-options.ts";
import { StatsdReporter } from "./statsd.ts";
import { upgradeTransport, type TransportUpgrade } from "./transport-upgrade.ts";
import { AuthManager } from "./auth.ts";
import { DiskQueue } from "./disk-queue.ts";
import { MSG_HEADER_SIZE, MSG_ID_OFFSET, reanchorClock } from "./message.ts";
import { readMetadata, writeMetadata, writeMetadataAsync, readDeferredSidecar, writeDeferredSidecar, type NsqdMetadata } from "./metadata.ts";
import { lockNsqdDataPath, type DataPathLock } from "./data-lock.ts";
import { DeferredRestore } from "./deferred-restore.ts";
import { LookupPeers } from "./lookup-peers.ts";
import { DataDirIndex } from "./data-dir-index.ts";
import { CoalescedWrite } from "./coalesced-write.ts";
import { isValidChannelName, isValidTopicName } from "../protocol/names.ts";
import { residentBytes } from "./process-memory.ts";
import { FdGuard } from "../util/fd-guard.ts";
import { logConnectionEnd, logNewClient, readTimeoutReason } from "./connection-log.ts";
import { RateSampler } from "./rates.ts";
import { DeadLetters } from "./dead-letter.ts";
import { Drain } from "./drain.ts";
import * as lifecycle from "./lifecycle-log.ts";
import { goListenerAddress, goListenerAddressText } from "../protocol/listener-address.ts";

/** The scan loop's period, as nsqd's queue scan interval. */
const SCAN_INTERVAL_MS = 100;
/** How often resident memory is checked, and by how much it may grow before a collection. */
const MEMORY_CHECK_MS = 1000;
const MEMORY_GROWTH_FOR_GC = 256 * 1024 * 1024;
/** ...or when this many clients have disconnected since the last collection. */
const CLIENTS_GONE_FOR_GC = 500;

export type { TransportUpgrade };

export class Nsqd implements TopicHost {
  readonly options: NsqdOptions;
  readonly logger: Logger;
  readonly topics = new Map<string, Topic>();
  readonly clients = new Set<ClientV2>();
  /** each client's protocol state, for the connection log when it ends */
  private readonly connections = new WeakMap<ClientV2, ProtocolV2Connection>();
  readonly startTimeMs = Date.now();
  readonly startTime = Math.floor(this.startTimeMs / 1000);
  /** "OK", or the last disk error since which nothing was written successfully */
  private healthError: string | null = null;
  private tcpServer: net.Server | null = null;
  private http: HttpServerHandle | null = null;
  private https: HttpServerHandle | null = null;
  private scanTimer: ReturnType<typeof setInterval> | null = null;
  private readonly activeChannels = new Set<Channel>();
  private nextMemoryCheck = 0;
  private rssAfterLastGc = 0;
  private clientsGoneSinceGc = 0;
  private nextClientId = 0;
  private readonly auth: AuthManager | null;
  private closing = false;
  tcpPort = -1;
  httpPort = -1;
  httpsPort = -1;
  readonly dataPath: string;
  private dataLock: DataPathLock | null = null;
  /** as the start-up line printed it, for the shutdown line */
  private tcpListenAddress = "";
  private lookupPeers: LookupPeers | null = null;
  /** topics created at runtime still waiting for lookupd's channel list (see channelsReady) */
  private readonly channelQueries = new Map<Topic, Promise<void>>();
  private statsd: StatsdReporter | null = null;
  /** logs running out of file descriptors and pauses the TCP and HTTP listeners meanwhile (null: not Linux) */
  fdGuard: FdGuard | null = null;
  /** nsqd.dat rewrites, coalesced when changes come close together (coalesced-write.ts) */
  private readonly metadataWrite = new CoalescedWrite(() => this.writeMetadataInBackground());
  /** the data directory as listed once at start (data-dir-index.ts): no listing per queue opened */
  private dirIndex = DataDirIndex.unread();
  /** false while metadata is being loaded at startup (no rewrite per loaded topic) */
  private loaded = false;
  // ---- beyond nsqd (README "Beyond nsqd") ----
  /** per-topic/channel message rates, sampled by the scan loop once a second */
  readonly rates = new RateSampler();
  readonly deadLetters = new DeadLetters(this);
  readonly drain = new Drain(this);

  constructor(opts: Partial<NsqdOptions> = {}, logger?: Logger) {
    this.options = { ...defaultNsqdOptions(), ...opts };
    this.logger = logger ?? createLogger(this.options.logPrefix, this.options.logLevel);
    this.auth = this.options.authHttpAddresses.length > 0 ? new AuthManager(this.options, this.logger) : null;
    this.dataPath = this.options.dataPath === "" ? process.cwd() : this.options.dataPath;
  }

  /** true once a graceful shutdown has begun (publishes answer EXITING) */
  get exiting(): boolean {
    return this.closing;
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
    loadTlsConfig(this.options); // a bad --tls-* file fails the start, not the first TLS client
    this.dataLock = lockNsqdDataPath(this.dataPath);
    lifecycle.logNsqdIdentity(this.logger, this.options.nodeId);
    try {
      this.dirIndex = DataDirIndex.read(this.dataPath);
      this.loadMetadata();
      this.loaded = true;
      this.persistMetadataAtStart();
      await this.listenTcp();
      if (this.options.httpAddress !== "") {
        this.http = startHttpServer(this, this.options.httpAddress);
        this.httpPort = this.http.port;
        this.logger.info(`HTTP: listening on ${goListenerAddressText(this.http.address)}`);
      }
      if (this.options.httpsAddress !== "" && this.tlsAvailable) {
        this.https = startHttpsServer(this, this.options.httpsAddress);
        this.httpsPort = this.https.port;
        this.logger.info(`HTTPS: listening on ${goListenerAddressText(this.https.address)}`);
      }
    } catch (err) {
      this.tcpServer?.close();
      this.http?.stop();
      this.https?.stop();
      this.loaded = false; // close() must not rewrite metadata or flush queues of a broker that never ran
      this.dataLock.release();
      this.dataLock = null;
      throw err;
    }
    this.scanTimer = setInterval(() => this.scan(), SCAN_INTERVAL_MS);
    this.fdGuard = this.startFdGuard();
    this.startLookupPeers();
    if (this.options.statsdAddress !== "") {
      this.statsd = new StatsdReporter(this);
      this.statsd.start();
    }
  }

  private startLookupPeers(): void {
    if (this.options.lookupdTcpAddresses.length === 0) return;
    this.lookupPeers = new LookupPeers({
      addresses: this.options.lookupdTcpAddresses,
      broadcastAddress: this.options.broadcastAddress,
      tcpPort: this.options.broadcastTcpPort || this.tcpPort,
      httpPort: this.options.broadcastHttpPort || this.httpPort,
      httpClientConnectTimeout: this.options.httpClientConnectTimeout,
      httpClientRequestTimeout: this.options.httpClientRequestTimeout,
      maxReplySize: this.options.maxBodySize,
      logger: this.logger,
      snapshot: () =>
        [...this.topics.values()].map((t) => ({ topic: t.name, channels: t.channelNames() })),
    });
    this.lookupPeers.start();
  }

  /** PUT /config/nsqlookupd_tcp_addresses */
  setLookupdAddresses(addresses: string[]): void {
    this.options.lookupdTcpAddresses = addresses;
    if (this.lookupPeers === null) this.startLookupPeers();
    else this.lookupPeers.setAddresses(addresses);
  }

  /** Recreates topics, channels and paused flags from nsqd.dat (spec §2.10). */
  private loadMetadata(): void {
    const meta = readMetadata(this.dataPath);
    if (meta === null) return;
    for (const t of meta.topics) {
      if (!isValidTopicName(t.name)) {
        this.logger.warn(`skipping creation of invalid topic ${t.name}`);
        continue;
      }
      const topic = this.createTopic(t.name);
      if (t.paused) topic.pause();
      for (const c of t.channels) {
        if (!isValidChannelName(c.name)) {
          this.logger.warn(`skipping creation of invalid channel ${c.name}`);
          continue;
        }
        const ch = topic.getOrCreateChannel(c.name);
        if (c.paused) ch.pause();
        if (c.maxAttempts !== undefined) this.deadLetters.setOverride(ch, c.maxAttempts);
        ch.restoredDeferred = this.restoreDeferred(channelQueueName(t.name, c.name));
      }
      topic.restoredDeferred = this.restoreDeferred(t.name);
      topic.start();
    }
  }

  private restoreDeferred(queueName: string): DeferredRestore | null {
    if (!this.dirIndex.hasDeferredSidecar(queueName)) return null;
    const sidecar = readDeferredSidecar(this.dataPath, queueName);
    if (sidecar.error !== undefined) this.logger.warn(sidecar.error);
    return sidecar.deadlines.size > 0 ? new DeferredRestore(sidecar.deadlines) : null;
  }

  private metadataSnapshot(): NsqdMetadata {
    const topics = [];
    // plain code-unit order: localeCompare costs seconds per write with tens of thousands of topics
    for (const t of [...this.topics.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (t.ephemeral) continue;
      const channels = [];
      for (const c of t.channels.values()) {
        if (c.ephemeral) continue;
        const maxAttempts = this.deadLetters.override(c);
        channels.push(maxAttempts === null ? { name: c.name, paused: c.paused } : { name: c.name, paused: c.paused, maxAttempts });
      }
      topics.push({ name: t.name, paused: t.paused, channels });
    }
    return { topics };
  }

  private writeMetadataNow(): void {
    lifecycle.logPersistMetadata(this.logger, this.options.dataPath);
    try {
      writeMetadata(this.dataPath, this.metadataSnapshot());
    } catch (err) {
      this.logger.error(`failed to persist metadata - ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** A run-time rewrite: the fsyncs of a file with every topic in it must not stall the connections. */
  private async writeMetadataInBackground(): Promise<void> {
    lifecycle.logPersistMetadata(this.logger, this.options.dataPath);
    try {
      await writeMetadataAsync(this.dataPath, this.metadataSnapshot());
    } catch (err) {
      this.logger.error(`failed to persist metadata - ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** As nsqd: a data path that cannot be written at start-up is fatal, not a logged error. */
  private persistMetadataAtStart(): void {
    lifecycle.logPersistMetadata(this.logger, this.options.dataPath);
    try {
      writeMetadata(this.dataPath, this.metadataSnapshot());
    } catch (err) {
      // the message names the file and the cause ("failed to write <data-path>/nsqd.dat - EROFS: …")
      throw new Error(`failed to persist metadata - ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private listenTcp(): Promise<void> {
    const addr = parseListenAddress(this.options.tcpAddress);
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.tcpServer = server;
    return new Promise((resolve, reject) => {
      server.once("error", (err) => reject(new Error(`listen (${this.options.tcpAddress}) failed - ${goListenError(addr, err)}`)));
      const onListening = () => {
        const a = server.address();
        if (a !== null && typeof a === "object") {
          this.tcpPort = a.port;
          this.tcpListenAddress = goListenerAddress(a.address, a.port);
          this.logger.info(`TCP: listening on ${this.tcpListenAddress}`);
        } else {
          this.tcpListenAddress = this.options.tcpAddress;
          this.logger.info(`TCP: listening on ${this.tcpListenAddress}`);
        }
        resolve();
      };
      if (addr.kind === "tcp") server.listen(addr.port, addr.host, onListening);
      else server.listen(addr.path, onListening);
    });
  }

  private startFdGuard(): FdGuard | null {
    const server = this.tcpServer;
    const addr = parseListenAddress(this.options.tcpAddress);
    return FdGuard.start(this.logger, {
      // the HTTP(S) listeners too: Bun.serve's accept spins on EMFILE as well
      pause: () => {
        const http = [this.http?.pause?.() ?? false, this.https?.pause?.() ?? false].some(Boolean);
        if (server === null || addr.kind !== "tcp") return http;
        server.close();
        return true;
      },
      resume: () => {
        if (this.closing) return;
        if (addr.kind === "tcp") server?.listen(this.tcpPort, addr.host);
        for (const h of [this.http, this.https]) {
          if (h?.resume !== undefined && !h.resume()) this.logger.error(`HTTP: could not listen on ${h.address} again`);
        }
      },
      clients: () => this.clients.size,
    });
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const remote =
      socket.remoteAddress !== undefined ? joinHostPort(socket.remoteAddress.replace(/^::ffff:/, ""), socket.remotePort ?? 0) : "unix";
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
    logNewClient(this.logger, remote);
    this.connections.set(client, conn);
    this.clients.add(client);
    this.drain.admit(client);
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
    this.clientsGoneSinceGc++;
    const conn = this.connections.get(client);
    this.connections.delete(client);
    if (conn) logConnectionEnd(this.logger, client.remoteAddress, conn.gotMagic, conn.badMagic, client.closeReason);
    client.state = ClientState.Closing;
    const ch = client.channel;
    if (ch !== null) ch.removeClient(client);
  }

  /** The single periodic loop: in-flight timeouts, deferred messages, heartbeats, read deadlines. */
  private scan(): void {
    const now = Date.now();
    if (now >= this.nextMemoryCheck) {
      this.nextMemoryCheck = now + MEMORY_CHECK_MS;
      this.collectIfGrown();
      reanchorClock();
    }
    this.rates.maybeSample(this.topics.values(), now);
    for (const ch of this.activeChannels) {
      if (ch.deleted || !ch.processQueues(now)) {
        this.activeChannels.delete(ch);
        ch.inScanSet = false;
      }
    }
    for (const c of this.clients) {
      if (c.closed) continue;
      // read deadline: the latest negotiated interval; heartbeats: the pump's (first IDENTIFY)
      const hb = c.heartbeatInterval;
      if (hb > 0 && now - c.lastReadAt > 2 * hb) {
        c.closeReason = readTimeoutReason(c.socket, c.remoteAddress, c.closeReason);
        c.close();
        continue;
      }
      const sendEvery = c.pumpHeartbeatInterval;
      if (sendEvery > 0 && now >= c.nextHeartbeatAt) {
        c.sendFrameBytes(FRAME_HEARTBEAT);
        c.nextHeartbeatAt = now + sendEvery;
      }
    }
  }

  /**
   * Received socket chunks and spilled batches live outside the JS heap, so the collector feels
   * little pressure from them and resident memory can balloon under a publishing burst. The
   * broker keeps few live objects, so a full collection is cheap: run one when RSS has grown.
   */
  private collectIfGrown(): void {
    const rss = residentBytes();
    if (rss === null) return; // out of file descriptors: /proc cannot be read
    // after a wave of disconnections nothing allocates on an idle broker, so without this their
    // buffers and TLS/compression state stayed resident until the next burst of traffic
    const wave = this.clientsGoneSinceGc >= CLIENTS_GONE_FOR_GC;
    if (!wave && rss - this.rssAfterLastGc < MEMORY_GROWTH_FOR_GC) {
      if (rss < this.rssAfterLastGc) this.rssAfterLastGc = rss;
      return;
    }
    Bun.gc(true);
    this.clientsGoneSinceGc = 0;
    this.rssAfterLastGc = residentBytes() ?? rss;
  }

  // ---- TopicHost / ChannelHost ----
  markActive(channel: Channel): void {
    if (channel.inScanSet) return;
    channel.inScanSet = true;
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

  storageFailed(err: unknown): void {
    this.publishFailed(err);
  }

  deadLetter(channel: Channel, buf: Uint8Array): boolean {
    return this.deadLetters.divert(channel, buf);
  }

  createBackend(queueName: string): BackendQueue | null {
    return new DiskQueue({
      name: queueName,
      dataPath: this.dataPath,
      maxBytesPerFile: this.options.maxBytesPerFile,
      minMsgSize: MSG_HEADER_SIZE,
      maxMsgSize: this.options.maxMsgSize + MSG_HEADER_SIZE,
      syncEvery: this.options.syncEvery,
      syncTimeout: this.options.syncTimeout,
      logger: this.logger,
      // a disk error makes the broker unhealthy until the next successful disk write (as nsqd)
      onWriteSucceeded: this.clearHealthError,
      startupFiles: this.dirIndex.claim(queueName, !this.loaded),
    });
  }

  createLatencyStats(): LatencyStats | null {
    const p = this.options.e2eProcessingLatencyPercentiles;
    return p.length > 0 ? new LatencyStats(p, this.options.e2eProcessingLatencyWindowTime) : null;
  }

  onChannelCreated(channel: Channel): void {
    this.logger.info(`TOPIC(${channel.topic.name}): new channel(${channel.name})`);
    this.lookupPeers?.register(channel.topic.name, channel.name);
    if (!channel.ephemeral) this.persistMetadata();
  }

  onChannelDeleted(channel: Channel): void {
    this.logger.info(`TOPIC(${channel.topic.name}): deleting channel ${channel.name}`);
    this.activeChannels.delete(channel);
    channel.inScanSet = false;
    this.lookupPeers?.unregister(channel.topic.name, channel.name);
    if (!channel.ephemeral) this.persistMetadata();
  }

  // ---- topics and channels ----
  getTopic(name: string): Topic | undefined {
    return this.topics.get(name);
  }

  private createTopic(name: string): Topic {
    const backend = isEphemeral(name) ? null : this.createBackend(name);
    const topic = new Topic(name, this.options.nodeId, this, backend);
    this.topics.set(name, topic);
    this.logger.info(`TOPIC(${name}): created`);
    return topic;
  }

  /**
   * The topic, created if needed. A new topic registers with lookupd and, when lookupds are
   * known, first pre-creates the channels they list, so early messages reach them (spec §2.2);
   * until then its messages wait in the topic.
   */
  getOrCreateTopic(name: string): Topic {
    let topic = this.topics.get(name);
    if (topic !== undefined) return topic;
    topic = this.createTopic(name);
    this.lookupPeers?.register(name);
    if (!topic.ephemeral) this.persistMetadata();
    const peers = this.lookupPeers;
    if (peers === null || peers.addresses().length === 0) {
      topic.start();
      return topic;
    }
    this.channelQueries.set(topic, this.preCreateChannels(topic, peers));
    return topic;
  }

  /**
   * Creates the non-ephemeral channels lookupd knows for a new topic, then starts it. Never
   * rejects; bounded by the HTTP client timeout, so a silent lookupd cannot hold publishes longer.
   */
  private async preCreateChannels(topic: Topic, peers: LookupPeers): Promise<void> {
    const limit = Math.max(this.options.httpClientConnectTimeout, this.options.httpClientRequestTimeout);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), limit)));
    try {
      const channels = await Promise.race([peers.channelsForTopic(topic.name).catch(() => []), timedOut]);
      if (topic.deleted) return;
      for (const ch of channels) if (!isEphemeral(ch) && isValidChannelName(ch)) topic.getOrCreateChannel(ch);
    } finally {
      clearTimeout(timer);
      this.channelQueries.delete(topic);
      if (!topic.deleted) topic.start();
    }
  }

  /**
   * While a topic created at runtime waits for lookupd's channel list: resolves when its channels
   * exist. nsqd answers the PUB / MPUB / DPUB / SUB / `/pub` / `/mpub` / `/topic/create` that
   * created a topic only then (its GetTopic queries lookupd synchronously). undefined when there
   * is nothing to wait for.
   */
  channelsReady(topic: Topic): Promise<void> | undefined {
    return topic.started ? undefined : this.channelQueries.get(topic);
  }

  deleteTopic(name: string): boolean {
    const topic = this.topics.get(name);
    if (topic === undefined) return false;
    topic.deleted = true;
    this.topics.delete(name);
    this.lookupPeers?.unregister(name);
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

  /** POST /channel/config: the channel's dead-letter limit (null: back to --max-attempts), kept in nsqd.dat. */
  setChannelMaxAttempts(channel: Channel, maxAttempts: number | null): void {
    this.deadLetters.setOverride(channel, maxAttempts);
    this.persistMetadata();
  }

  // ---- health ----
  get health(): string {
    return this.healthError === null ? "OK" : `NOK - ${this.healthError}`;
  }

  private readonly clearHealthError = (): void => {
    if (this.healthError !== null) this.healthError = null;
  };

  publishFailed(err: unknown): void {
    this.healthError = err instanceof Error ? err.message : String(err);
    this.logger.error(`failed to store a message: ${this.healthError}`);
  }

  // ---- hooks filled in by persistence, lookupd, auth and transports ----
  /**
   * Rewrites nsqd.dat at the end of the current turn, however many changes it had; changes that
   * keep coming are gathered into one write per 100 ms or so (coalesced-write.ts says what a
   * crash in between loses).
   */
  private persistMetadata(): void {
    if (!this.loaded || this.closing) return;
    this.metadataWrite.request();
  }

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

  /** true while a --drain-timeout drain runs before the shutdown (/ping answers 503) */
  get draining(): boolean {
    return this.drain.active;
  }

  /** The daemon's second signal: cut a drain short (the shutdown still persists everything). */
  interruptClose(): void {
    this.drain.interrupt();
  }

  async close(): Promise<void> {
    if (this.closing || this.drain.active) return;
    if (this.options.drainTimeout > 0 && this.scanTimer !== null) await this.drain.run(this.options.drainTimeout);
    this.closing = true;
    const started = this.scanTimer !== null; // after a failed start nsqd prints only the FATAL line
    if (this.scanTimer !== null) clearInterval(this.scanTimer);
    this.fdGuard?.stop();
    this.statsd?.stop();
    const tcpClosed = new Promise<void>((resolve) => {
      if (this.tcpServer === null || !this.tcpServer.listening) resolve();
      else this.tcpServer.close(() => resolve());
    });
    for (const c of [...this.clients]) c.close();
    this.http?.stop();
    this.https?.stop();
    this.lookupPeers?.close();
    await tcpClosed;
    if (started) {
      lifecycle.logListenerClosed(this.logger, "TCP", this.tcpListenAddress);
      if (this.http !== null) lifecycle.logListenerClosed(this.logger, "HTTP", goListenerAddressText(this.http.address));
      if (this.https !== null) lifecycle.logListenerClosed(this.logger, "HTTPS", goListenerAddressText(this.https.address));
    }
    await this.metadataWrite.stop(); // a background rewrite still running must not land after the final one
    if (this.loaded) {
      this.writeMetadataNow();
      lifecycle.logClosingTopics(this.logger);
      for (const topic of this.topics.values()) this.flushTopicForShutdown(topic);
    }
    if (started) {
      lifecycle.logSubsystemsStopping(this.logger);
      lifecycle.logSubsystemsStopped(this.logger, this.statsd !== null);
    }
    this.dataLock?.release();
    this.dataLock = null;
    if (started) lifecycle.logBye(this.logger);
  }

  /**
   * Graceful shutdown of one topic (spec §2.10): every channel writes its queued, in-flight and
   * deferred messages to its disk queue (deferred due times go to the sidecar), then the topic
   * writes its own queue; ephemeral data is dropped.
   */
  private flushTopicForShutdown(topic: Topic): void {
    lifecycle.logTopicClosing(this.logger, topic.name);
    for (const ch of topic.channels.values()) {
      const inFlight = ch.inFlight.size;
      const memory = ch.memQueue.length;
      const items = ch.takeAllForShutdown();
      lifecycle.logChannelClosing(this.logger, ch.name, memory, inFlight, items.length - inFlight - memory);
      if (ch.backend === null) continue;
      this.persistQueue(channelQueueName(topic.name, ch.name), ch.backend, items, ch.restoredDeferred);
    }
    const items = topic.takeAllForShutdown();
    lifecycle.logTopicFlush(this.logger, topic.name, items.length);
    if (topic.backend !== null) this.persistQueue(topic.name, topic.backend, items, topic.restoredDeferred);
  }

  /**
   * Appends a queue's remaining messages to its disk queue and writes the deferred sidecar: due
   * times of the deferred ones written now, and of deferred ones already on disk, not yet read.
   */
  private persistQueue(
    queueName: string,
    backend: BackendQueue,
    items: { buf: Uint8Array; dueAt: number }[],
    onDisk: DeferredRestore | null,
  ): void {
    try {
      if (items.length > 0) backend.putMany(items.map((i) => i.buf));
      const deferred: { id: Uint8Array | string; due: number }[] = items
        .filter((i) => i.dueAt > 0)
        .map((i) => ({ id: i.buf.subarray(MSG_ID_OFFSET, MSG_ID_OFFSET + 16), due: i.dueAt }));
      if (onDisk !== null) deferred.push(...onDisk.entries());
      // with nothing deferred, only a sidecar that was there at start needs removing (no unlink per queue)
      if (deferred.length > 0 || this.dirIndex.hasDeferredSidecar(queueName)) writeDeferredSidecar(this.dataPath, queueName, deferred);
    } catch (err) {
      this.logger.error(`failed to write ${items.length} messages of ${queueName} to disk at shutdown - ${String(err)}`);
    }
    try {
      backend.close();
    } catch (err) {
      this.logger.error(`failed to close the disk queue of ${queueName} - ${String(err)}`);
    }
  }
}
