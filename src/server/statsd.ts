/**
 * nsqd's statsd output (spec §3.9): every --statsd-interval, the broker's counters and gauges go
 * out as statsd lines over UDP, packed into datagrams of at most --statsd-udp-packet-size bytes
 * and spread over the interval so a collector sees no burst.
 *
 * The work is per interval, never per message: the reporter reads the same snapshot /stats
 * builds (collectStats), so the two always agree.
 */
import dgram from "node:dgram";
import { isIP } from "node:net";
import { isEphemeral } from "../protocol/names.ts";
import type { Logger } from "../util/logger.ts";
import type { Nsqd } from "./nsqd.ts";
import { joinHostPort } from "../protocol/address.ts";
import { collectStats, readMemStats, type ChannelStats, type StatsDocument, type TopicStats } from "./stats.ts";

/** nsqd spreads a round's datagrams over the interval minus this margin (nothing left = all at once). */
const SPREAD_MARGIN_MS = 1000;

// ---- prefix ----

/**
 * The prefix every stat name starts with: `%s` becomes `<broadcast-address>_<http-port>` with
 * dots and colons turned into `_` (an IPv6 host keeps its brackets, as Go's JoinHostPort writes
 * it), and a trailing `.` is added when missing. An empty prefix stays empty.
 */
export function statsdPrefix(template: string, broadcastAddress: string, httpPort: number): string {
  if (template === "") return "";
  const hostKey = joinHostPort(broadcastAddress, httpPort).replace(/[.:]/g, "_");
  const prefix = template.replaceAll("%s", hostKey);
  return prefix.endsWith(".") ? prefix : `${prefix}.`;
}

// ---- lines ----

/** Go's `%.0f` of quantile×100: nearest integer, exact halves to even. */
export function percentileSuffix(quantile: number): string {
  const x = quantile * 100;
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff === 0.5) return String(floor % 2 === 0 ? floor : floor + 1);
  return String(Math.round(x));
}

/** Counters remembered from the previous round, so counters go out as deltas. */
interface TopicCounters {
  messageCount: number;
  messageBytes: number;
  channels: Map<string, ChannelCounters>;
}
interface ChannelCounters {
  messageCount: number;
  requeueCount: number;
  timeoutCount: number;
}

const NO_CHANNEL: ChannelCounters = { messageCount: 0, requeueCount: 0, timeoutCount: 0 };
const NO_TOPIC: TopicCounters = { messageCount: 0, messageBytes: 0, channels: new Map() };

/** Builds one round's lines (each ending in "\n") and keeps the counters for the next round's deltas. */
export class StatsdLineBuilder {
  private lastTopics = new Map<string, TopicCounters>();
  private lastGcRuns = 0;

  constructor(
    private readonly prefix: string,
    private readonly excludeEphemeral: boolean,
    private readonly memStats: boolean,
  ) {}

  build(doc: StatsDocument, now: number = Date.now()): string[] {
    const lines: string[] = [];
    const counter = (stat: string, value: number) => lines.push(`${this.prefix}${stat}:${Math.trunc(value)}|c\n`);
    const gauge = (stat: string, value: number) => lines.push(`${this.prefix}${stat}:${Math.trunc(value)}|g\n`);
    const next = new Map<string, TopicCounters>();

    for (const topic of doc.topics ?? []) {
      // remembered even when excluded, as nsqd keeps the whole previous snapshot
      next.set(topic.topic_name, countersOf(topic));
      if (this.excludeEphemeral && isEphemeral(topic.topic_name)) continue;
      const last = this.lastTopics.get(topic.topic_name) ?? NO_TOPIC;
      const t = `topic.${topic.topic_name}`;
      counter(`${t}.message_count`, topic.message_count - last.messageCount);
      counter(`${t}.message_bytes`, topic.message_bytes - last.messageBytes);
      gauge(`${t}.depth`, topic.depth);
      gauge(`${t}.backend_depth`, topic.backend_depth);
      for (const p of topic.e2e_processing_latency.percentiles ?? []) {
        gauge(`${t}.e2e_processing_latency_${percentileSuffix(p.quantile)}`, p.value);
      }
      for (const channel of topic.channels) {
        if (this.excludeEphemeral && isEphemeral(channel.channel_name)) continue;
        const lastCh = last.channels.get(channel.channel_name) ?? NO_CHANNEL;
        const c = `${t}.channel.${channel.channel_name}`;
        counter(`${c}.message_count`, channel.message_count - lastCh.messageCount);
        gauge(`${c}.depth`, channel.depth);
        gauge(`${c}.backend_depth`, channel.backend_depth);
        gauge(`${c}.in_flight_count`, channel.in_flight_count);
        gauge(`${c}.deferred_count`, channel.deferred_count);
        counter(`${c}.requeue_count`, channel.requeue_count - lastCh.requeueCount);
        counter(`${c}.timeout_count`, channel.timeout_count - lastCh.timeoutCount);
        gauge(`${c}.clients`, channel.client_count);
        for (const p of channel.e2e_processing_latency.percentiles ?? []) {
          gauge(`${c}.e2e_processing_latency_${percentileSuffix(p.quantile)}`, p.value);
        }
      }
    }
    this.lastTopics = next;

    if (this.memStats) {
      const m = readMemStats(now);
      gauge("mem.heap_objects", m.heap_objects);
      gauge("mem.heap_idle_bytes", m.heap_idle_bytes);
      gauge("mem.heap_in_use_bytes", m.heap_in_use_bytes);
      gauge("mem.heap_released_bytes", m.heap_released_bytes);
      gauge("mem.gc_pause_usec_100", m.gc_pause_usec_100);
      gauge("mem.gc_pause_usec_99", m.gc_pause_usec_99);
      gauge("mem.gc_pause_usec_95", m.gc_pause_usec_95);
      gauge("mem.next_gc_bytes", m.next_gc_bytes);
      counter("mem.gc_runs", m.gc_total_runs - this.lastGcRuns);
      this.lastGcRuns = m.gc_total_runs;
    }
    return lines;
  }
}

function countersOf(topic: TopicStats): TopicCounters {
  const channels = new Map<string, ChannelCounters>();
  for (const ch of topic.channels) channels.set(ch.channel_name, channelCountersOf(ch));
  return { messageCount: topic.message_count, messageBytes: topic.message_bytes, channels };
}

function channelCountersOf(ch: ChannelStats): ChannelCounters {
  return { messageCount: ch.message_count, requeueCount: ch.requeue_count, timeoutCount: ch.timeout_count };
}

// ---- packing ----

/**
 * Whole lines packed greedily into datagrams of at most `maxBytes`. A line is never split: one
 * longer than the limit goes out alone (as nsqd's buffered writer passes it straight through).
 */
export function packLines(lines: readonly string[], maxBytes: number): Buffer[] {
  const out: Buffer[] = [];
  let pending: Buffer[] = [];
  let size = 0;
  for (const line of lines) {
    const bytes = Buffer.from(line, "utf8");
    if (size > 0 && size + bytes.length > maxBytes) {
      out.push(Buffer.concat(pending, size));
      pending = [];
      size = 0;
    }
    pending.push(bytes);
    size += bytes.length;
  }
  if (size > 0) out.push(Buffer.concat(pending, size));
  return out;
}

// ---- sending ----

/** `host:port` / `[v6]:port` → parts; null when it is not one. */
export function parseStatsdAddress(address: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1] ?? m[2]!, port };
}

/** One round: a fresh connected UDP socket, datagrams sent one per `spacingMs`, then closed. */
class StatsdRound {
  private readonly socket: dgram.Socket;
  private index = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private finished = false;
  private sendErrorLogged = false;
  private readonly target: { host: string; port: number } | null;

  constructor(
    private readonly address: string,
    private readonly datagrams: Buffer[],
    private readonly spacingMs: number,
    private readonly logger: Logger,
    private readonly onDone: () => void,
  ) {
    this.target = parseStatsdAddress(address);
    this.socket = dgram.createSocket(this.target !== null && isIP(this.target.host) === 6 ? "udp6" : "udp4");
    // Node reports connect/DNS failures as 'error' events; Bun passes them to the connect callback
    this.socket.on("error", (err) => this.fail(err));
  }

  /** Connects, then sends the first datagram at once and the rest one per spacing. */
  begin(): void {
    const target = this.target;
    if (target === null) {
      this.fail(new Error("not a host:port address"));
      return;
    }
    this.socket.connect(target.port, target.host, (err?: unknown) => {
      if (err instanceof Error) this.fail(err);
      else this.sendNext();
    });
  }

  /** Sends whatever is left at once and closes (nsqd skips the remaining sleeps on exit). */
  finishNow(): void {
    if (this.finished) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    while (this.index < this.datagrams.length) this.sendOne();
    this.close();
  }

  private sendNext(): void {
    this.timer = null;
    if (this.finished) return;
    if (this.index >= this.datagrams.length) {
      this.close();
      return;
    }
    this.sendOne();
    if (this.index >= this.datagrams.length) this.close();
    else this.timer = setTimeout(() => this.sendNext(), this.spacingMs);
  }

  private sendOne(): void {
    const datagram = this.datagrams[this.index++]!;
    try {
      this.socket.send(datagram, (err) => {
        if (err && !this.sendErrorLogged) {
          this.sendErrorLogged = true;
          this.logger.error(`STATSD: failed to send to ${this.address} - ${err.message}`);
        }
      });
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.finished) {
      // a late asynchronous error from a send (e.g. ECONNREFUSED): logged once, never thrown
      if (!this.sendErrorLogged) {
        this.sendErrorLogged = true;
        this.logger.error(`STATSD: failed to send to ${this.address} - ${errorText(err)}`);
      }
      return;
    }
    this.logger.error(`failed to create UDP socket to statsd(${this.address}) - ${errorText(err)}`);
    this.close();
  }

  private close(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
    this.onDone();
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** How long apart a round's datagrams go out: nsqd's (interval − 1 s) / count, never negative. */
export function spreadSpacingMs(intervalMs: number, datagramCount: number): number {
  if (datagramCount === 0) return 0;
  return Math.max(0, intervalMs - SPREAD_MARGIN_MS) / datagramCount;
}

// ---- the reporter ----

/**
 * Pushes the broker's stats to --statsd-address every --statsd-interval. Construct it after the
 * HTTP listener is up (the prefix names the HTTP port); start() and stop() are idempotent.
 */
export class StatsdReporter {
  private readonly builder: StatsdLineBuilder;
  private readonly prefix: string;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private round: StatsdRound | null = null;

  constructor(
    private readonly nsqd: Nsqd,
    private readonly logger: Logger = nsqd.logger,
  ) {
    const o = nsqd.options;
    const httpPort = o.broadcastHttpPort || Math.max(0, nsqd.httpPort);
    this.prefix = statsdPrefix(o.statsdPrefix, o.broadcastAddress, httpPort);
    this.builder = new StatsdLineBuilder(this.prefix, o.statsdExcludeEphemeral, o.statsdMemStats);
  }

  /** The resolved prefix (for logs and tests). */
  get statPrefix(): string {
    return this.prefix;
  }

  start(): void {
    const o = this.nsqd.options;
    if (o.statsdAddress === "" || this.ticker !== null) return;
    if (!(o.statsdInterval > 0)) {
      this.logger.error(`STATSD: interval must be positive (got ${o.statsdInterval}ms); not reporting`);
      return;
    }
    this.ticker = setInterval(() => this.tick(), o.statsdInterval);
  }

  /** Stops the ticker; datagrams still waiting in a round go out at once, then the socket closes. */
  stop(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    this.round?.finishNow();
    this.round = null;
  }

  private tick(): void {
    // like nsqd's ticker, a tick that arrives while a round is still spreading is dropped
    if (this.round !== null) return;
    const o = this.nsqd.options;
    let datagrams: Buffer[];
    try {
      const now = Date.now();
      const doc = collectStats(this.nsqd, { topic: "", channel: "", includeClients: false, includeMem: false }, now);
      datagrams = packLines(this.builder.build(doc, now), o.statsdUdpPacketSize);
    } catch (err) {
      this.logger.error(`STATSD: failed to collect stats - ${errorText(err)}`);
      return;
    }
    this.logger.info(`STATSD: pushing stats to ${o.statsdAddress}`);
    const spacing = spreadSpacingMs(o.statsdInterval, datagrams.length);
    const round = new StatsdRound(o.statsdAddress, datagrams, spacing, this.logger, () => {
      if (this.round === round) this.round = null;
    });
    this.round = round;
    round.begin();
  }
}
