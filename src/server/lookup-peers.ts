/**
 * nsqd's side of nsqlookupd (spec §5.5): one LookupPeer per --lookupd-tcp-address, a PING to each
 * every 15 s, REGISTER/UNREGISTER fan-out on topic/channel events, and the /channels query used to
 * pre-create channels when a topic is created at runtime.
 *
 * Contract for the broker: call register()/unregister() after its own topic/channel maps reflect
 * the change, so that snapshot() (used on every reconnect) and the queued commands agree.
 */
import { hostname as osHostname } from "node:os";
import { joinHostPort } from "../protocol/address.ts";
import { NSQ_VERSION } from "../protocol/version.ts";
import type { Logger } from "../util/logger.ts";
import { LookupPeer, registrationCommand, type TopicRegistration } from "./lookup-peer.ts";

export interface LookupPeersOptions {
  addresses: string[]; // --lookupd-tcp-address values "host:port"
  broadcastAddress: string;
  tcpPort: number;
  httpPort: number; // what nsqd IDENTIFYs with
  httpClientConnectTimeout: number;
  httpClientRequestTimeout: number; // ms, for /channels queries
  logger: Logger;
  /** every current registration, for (re)registration after (re)connect: topics with their channel names */
  snapshot(): TopicRegistration[];

  // Optional tuning (defaults match nsqd v1.3.0; tests shorten them).
  /** hostname sent in IDENTIFY (default: the OS hostname) */
  hostname?: string;
  /** ms between PINGs (default 15000) */
  pingInterval?: number;
  /** dial timeout ms (default 1000) */
  dialTimeout?: number;
  /** per-command reply deadline ms (default 1000) */
  commandTimeout?: number;
  /** largest accepted reply (default 5 MiB, nsqd's --max-body-size) */
  maxReplySize?: number;
  /** first reconnect delay ms, doubled per failure (default 250) */
  reconnectBackoffInitial?: number;
  /** reconnect delay cap ms (default 15000) */
  reconnectBackoffMax?: number;
}

const DEFAULT_PING_INTERVAL = 15_000;
const MAX_QUEUED_PER_PEER = 10_000;

export class LookupPeers {
  private readonly peers = new Map<string, LookupPeer>();
  private addressList: string[];
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private started = false;
  private closed = false;
  private readonly identifyBody: string;

  constructor(private readonly opts: LookupPeersOptions) {
    this.addressList = unique(opts.addresses);
    // keys sorted, as Go marshals the map nsqd builds
    this.identifyBody = JSON.stringify({
      broadcast_address: opts.broadcastAddress,
      hostname: opts.hostname ?? osHostname(),
      http_port: opts.httpPort,
      tcp_port: opts.tcpPort,
      version: NSQ_VERSION,
    });
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const address of this.addressList) this.addPeer(address);
    const timer = setInterval(() => {
      for (const peer of this.peers.values()) peer.ping();
    }, this.opts.pingInterval ?? DEFAULT_PING_INTERVAL);
    // the broker's listeners keep the process alive; this timer alone must not
    timer.unref?.();
    this.pingTimer = timer;
  }

  /** Replaces the peer set (PUT /config/nsqlookupd_tcp_addresses): keeps, closes and adds peers. */
  setAddresses(addresses: string[]): void {
    if (this.closed) return;
    const next = unique(addresses);
    for (const [address, peer] of this.peers) {
      if (next.includes(address)) continue;
      this.opts.logger.info(`LOOKUP(${address}): removing peer`);
      peer.close();
      this.peers.delete(address);
    }
    this.addressList = next;
    if (!this.started) return;
    for (const address of next) if (!this.peers.has(address)) this.addPeer(address);
  }

  addresses(): string[] {
    return [...this.addressList];
  }

  register(topic: string, channel?: string): void {
    this.broadcast(registrationCommand("REGISTER", topic, channel), channel === undefined ? "topic" : "channel");
  }

  unregister(topic: string, channel?: string): void {
    this.broadcast(registrationCommand("UNREGISTER", topic, channel), channel === undefined ? "topic" : "channel");
  }

  /**
   * Union (sorted, de-duplicated) of `GET /channels?topic=` on every lookupd that has told us its
   * broadcast address; lookupds that fail are logged and skipped; never rejects.
   */
  async channelsForTopic(topic: string): Promise<string[]> {
    const endpoints: string[] = [];
    for (const peer of this.peers.values()) {
      const info = peer.info;
      if (!info || info.broadcastAddress === "") continue;
      endpoints.push(`http://${joinHostPort(info.broadcastAddress, info.httpPort)}/channels?topic=${encodeURIComponent(topic)}`);
    }
    const results = await Promise.all(endpoints.map((endpoint) => this.queryChannels(endpoint)));
    const union = new Set<string>();
    for (const list of results) for (const name of list) union.add(name);
    return [...union].sort();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
  }

  private addPeer(address: string): void {
    this.opts.logger.info(`LOOKUP(${address}): adding peer`);
    const peer = new LookupPeer({
      address,
      logger: this.opts.logger,
      identifyBody: this.identifyBody,
      snapshot: () => this.safeSnapshot(),
      dialTimeout: this.opts.dialTimeout ?? 1000,
      commandTimeout: this.opts.commandTimeout ?? 1000,
      maxReplySize: this.opts.maxReplySize ?? 5 * 1024 * 1024,
      reconnectBackoffInitial: this.opts.reconnectBackoffInitial ?? 250,
      reconnectBackoffMax: this.opts.reconnectBackoffMax ?? 15_000,
      maxQueued: MAX_QUEUED_PER_PEER,
    });
    this.peers.set(address, peer);
    peer.start();
  }

  /** `branch` ("topic" or "channel") prefixes the command in the log, as nsqd's lookupLoop does */
  private broadcast(command: Buffer, branch: string): void {
    if (this.closed) return;
    for (const peer of this.peers.values()) peer.send(command, branch);
  }

  /** The broker's snapshot, guarded: a throwing callback must not break reconnects. */
  private safeSnapshot(): TopicRegistration[] {
    try {
      return this.opts.snapshot();
    } catch (err) {
      this.opts.logger.error(`LOOKUP: snapshot failed - ${err instanceof Error ? err.message : String(err)}`);
      return [];
    }
  }

  private async queryChannels(endpoint: string): Promise<string[]> {
    const timeout = Math.max(this.opts.httpClientRequestTimeout, this.opts.httpClientConnectTimeout);
    try {
      const response = await fetch(endpoint, { signal: AbortSignal.timeout(timeout) });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`got response ${response.status} ${JSON.stringify(text)}`);
      let body: unknown = JSON.parse(text);
      // pre-1.0 daemons wrap the payload in {"status_code":..,"data":{..}}
      if (response.headers.get("X-NSQ-Content-Type") !== "nsq; version=1.0" && isObject(body)) body = body.data;
      const channels = isObject(body) ? body.channels : undefined;
      if (!Array.isArray(channels)) return [];
      return channels.filter((c): c is string => typeof c === "string");
    } catch (err) {
      this.opts.logger.warn(
        `failed to query nsqlookupd ${endpoint} for channels - ${err instanceof Error ? err.message : String(err)}`,
      );
      return [];
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function unique(list: string[]): string[] {
  return [...new Set(list.filter((a) => a !== ""))];
}
