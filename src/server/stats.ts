/**
 * nsqd's /stats (spec §3.6, §3.7): the JSON document with nsqd v1.3.0's exact key order,
 * filters and quirks, and the fixed-width text rendering of the same document.
 *
 * Objects are built key by key in the order Go's structs declare their fields, because
 * JSON.stringify keeps insertion order; optional keys (Go `omitempty`) are inserted only when set.
 */
import type { BackendQueue } from "./backend-queue.ts";
import { heapStats } from "bun:jsc";
import { NSQ_VERSION } from "../protocol/version.ts";
import { formatDuration } from "../util/duration.ts";
import type { ClientV2 } from "./client.ts";
import type { Channel } from "./channel.ts";
import { pick } from "./latency-stats.ts";
import type {
  BackendCorruption,
  ChannelStats,
  ClientStats,
  E2eLatency,
  MemStats,
  PercentileValue,
  StatsDocument,
  TopicStats,
} from "../protocol/stats-types.ts";
import type { Topic } from "./topic.ts";
import { clientTlsDetails } from "./transport-upgrade.ts";
import { heapUsage } from "./process-memory.ts";
import type { StatsExtras } from "./stats-extras.ts";

/** The document types live in src/protocol/stats-types.ts (shared with the stat tool); re-exported for callers of this module. */
export type * from "../protocol/stats-types.ts";

function corruptionOf(backend: BackendQueue | null): BackendCorruption | undefined {
  const c = backend?.corruption;
  if (c === undefined || c.events === 0) return undefined;
  return { events: c.events, skipped_bytes: c.skippedBytes, last_error: c.lastError };
}

export interface StatsFilter {
  /** "" = every topic */
  topic: string;
  /** "" = every channel (applied to every listed topic, as nsqd does) */
  channel: string;
  includeClients: boolean;
  includeMem: boolean;
  /** beyond nsqd: extra fields (rates, dead letters; src/server/stats-extras.ts) */
  extras?: StatsExtras;
}

/** The broker state /stats reads. */
export interface StatsSource {
  readonly topics: ReadonlyMap<string, Topic>;
  readonly clients: ReadonlySet<ClientV2>;
  readonly startTime: number;
  readonly health: string;
  readonly options: { readonly e2eProcessingLatencyPercentiles: number[] };
}

/** `true`/`1` → true, `false`/`0` → false, anything else (or absent) → true (spec §3.6). */
export function parseStatsBool(value: string | undefined): boolean {
  if (value === "false" || value === "0") return false;
  return true;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function collectStats(source: StatsSource, filter: StatsFilter, now: number = Date.now()): StatsDocument {
  const topics = collectTopics(source, filter, now);
  // nsqd's GetStats returns before collecting producers when the topic filter names no topic
  const unknownTopic = filter.topic !== "" && !source.topics.has(filter.topic);
  const producers = filter.includeClients && !unknownTopic ? collectProducers(source, filter.topic) : null;
  // built in nsqd's key order: memory (omitted when not asked for) comes before producers
  if (!filter.includeMem) return { version: NSQ_VERSION, health: source.health, start_time: source.startTime, topics, producers };
  return { version: NSQ_VERSION, health: source.health, start_time: source.startTime, topics, memory: readMemStats(now), producers };
}

function collectTopics(source: StatsSource, filter: StatsFilter, now: number): TopicStats[] | null {
  let topics: Topic[];
  if (filter.topic === "") {
    topics = [...source.topics.values()];
  } else {
    const t = source.topics.get(filter.topic);
    if (t === undefined) return null;
    topics = [t];
  }
  topics.sort((a, b) => byName(a.name, b.name));
  const configured = source.options.e2eProcessingLatencyPercentiles;
  const out: TopicStats[] = [];
  for (const topic of topics) {
    let channels: Channel[];
    if (filter.channel === "") {
      channels = [...topic.channels.values()];
    } else {
      const ch = topic.channels.get(filter.channel);
      if (ch === undefined) continue;
      channels = [ch];
    }
    channels.sort((a, b) => byName(a.name, b.name));
    const channelStats = channels.map((ch) => channelStatsOf(ch, filter, configured, now));
    const stats: TopicStats = {
      topic_name: topic.name,
      channels: channelStats,
      depth: topic.depth(),
      backend_depth: topic.backendDepth(),
      message_count: topic.messageCount,
      message_bytes: topic.messageBytes,
      paused: topic.paused,
      e2e_processing_latency: topicLatency(topic, configured, now),
    };
    const corruption = corruptionOf(topic.backend);
    if (corruption !== undefined) stats.backend_corruption = corruption;
    if (filter.extras !== undefined) Object.assign(stats, filter.extras.topic(topic));
    out.push(stats);
  }
  return out;
}

function channelStatsOf(ch: Channel, filter: StatsFilter, configured: number[], now: number): ChannelStats {
  const stats: ChannelStats = {
    channel_name: ch.name,
    depth: ch.depth(),
    backend_depth: ch.backendDepth(),
    in_flight_count: ch.inFlight.size,
    deferred_count: ch.deferredCount(),
    message_count: ch.messageCount,
    requeue_count: ch.requeueCount,
    timeout_count: ch.timeoutCount,
    client_count: ch.clients.length,
    clients: filter.includeClients ? ch.clients.map((c) => clientStats(c, filter.topic)) : null,
    paused: ch.paused,
    e2e_processing_latency: channelLatency(ch, configured, now),
  };
  const corruption = corruptionOf(ch.backend);
  if (corruption !== undefined) stats.backend_corruption = corruption;
  if (filter.extras !== undefined) Object.assign(stats, filter.extras.channel(ch));
  return stats;
}

/** Connections that have published at least once (a subscriber that published is listed too). */
function collectProducers(source: StatsSource, topicFilter: string): ClientStats[] | null {
  const out: ClientStats[] = [];
  for (const c of source.clients) if (c.pubCounts.size > 0) out.push(clientStats(c, topicFilter));
  return out.length > 0 ? out : null;
}

const NO_LATENCY = (): E2eLatency => ({ count: 0, percentiles: null });

/** Percentiles with value 0, as nsqd's empty quantile stream reports them. */
function zeroPercentiles(configured: number[]): PercentileValue[] {
  return configured.map((q) => ({ quantile: q, value: 0 }));
}

function channelLatency(ch: Channel, configured: number[], now: number): E2eLatency {
  if (ch.e2e === null) return NO_LATENCY();
  const r = ch.e2e.result(now);
  return { count: r.count, percentiles: r.percentiles ?? zeroPercentiles(ch.e2e.percentiles.length > 0 ? ch.e2e.percentiles : configured) };
}

/** The topic's figure merges its channels' samples; no channel with latency tracking → empty. */
function topicLatency(topic: Topic, configured: number[], now: number): E2eLatency {
  let count = 0;
  let percentiles: number[] | null = null;
  const parts: Float64Array[] = [];
  let total = 0;
  for (const ch of topic.channels.values()) {
    if (ch.e2e === null) continue;
    percentiles ??= ch.e2e.percentiles.length > 0 ? ch.e2e.percentiles : configured;
    const s = ch.e2e.samples(now);
    count += s.seen;
    parts.push(s.values);
    total += s.values.length;
  }
  if (percentiles === null) return NO_LATENCY();
  if (total === 0) return { count, percentiles: zeroPercentiles(percentiles) };
  const all = new Float64Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  all.sort();
  return { count, percentiles: percentiles.map((q) => ({ quantile: q, value: Math.round(pick(all, q) * 1e6) })) };
}

/** The port part of "host:port" / "[v6]:port" ("" when there is none, e.g. a unix socket). */
function portOf(address: string): string {
  const m = /:(\d+)$/.exec(address);
  return m === null ? "" : m[1]!;
}

/**
 * One connection as nsqd's ClientV2Stats. `topicFilter` reproduces nsqd's pub_counts quirk: at
 * most one entry, the filtered topic's if given, else the first topic the client published to.
 */
export function clientStats(c: ClientV2, topicFilter: string): ClientStats {
  const s: Partial<ClientStats> = {};
  s.client_id = c.clientId;
  s.hostname = c.hostname;
  s.version = "V2";
  s.remote_address = c.remoteAddress;
  s.state = c.state;
  s.ready_count = c.readyCount;
  s.in_flight_count = c.inFlight.size;
  s.message_count = c.messageCount;
  s.finish_count = c.finishCount;
  s.requeue_count = c.requeueCount;
  s.connect_ts = c.connectTs;
  s.sample_rate = c.sampleRate;
  s.deflate = c.deflate;
  s.snappy = c.snappy;
  s.user_agent = c.userAgent;
  if (c.authed) s.authed = true;
  if (c.authIdentity !== "") s.auth_identity = c.authIdentity;
  if (c.authIdentityUrl !== "") s.auth_identity_url = c.authIdentityUrl;
  for (const [topic, count] of c.pubCounts) {
    if (topicFilter !== "" && topic !== topicFilter) continue;
    s.pub_counts = [{ topic, count }];
    break;
  }
  s.tls = c.tls;
  // nsqd fills the session fields only for TLS connections
  const tls = c.tls ? clientTlsDetails(c) : null;
  s.tls_cipher_suite = tls?.cipherSuite ?? "";
  s.tls_version = tls?.version ?? "";
  s.tls_negotiated_protocol = tls?.negotiatedProtocol ?? "";
  s.tls_negotiated_protocol_is_mutual = tls?.negotiatedProtocolIsMutual ?? false;
  return s as ClientStats;
}

/** heapStats() walks the heap (tens of ms with millions of objects): its object count is reused for a while. */
const OBJECT_COUNT_TTL_MS = 10_000;
let objectCount = 0;
let objectCountAt = -Infinity;

function heapObjectCount(now: number): number {
  if (now - objectCountAt >= OBJECT_COUNT_TTL_MS) {
    objectCount = heapStats().objectCount;
    objectCountAt = now;
  }
  return objectCount;
}

/**
 * Bun's runtime figures under Go's runtime.MemStats names. Only the key set matters to tools;
 * the GC pause and run counts are not exposed by JavaScriptCore and are reported as 0.
 */
export function readMemStats(now: number = Date.now()): MemStats {
  const m = heapUsage();
  return {
    heap_objects: heapObjectCount(now),
    heap_idle_bytes: Math.max(0, m.heapTotal - m.heapUsed),
    heap_in_use_bytes: m.heapUsed,
    heap_released_bytes: 0,
    gc_pause_usec_100: 0,
    gc_pause_usec_99: 0,
    gc_pause_usec_95: 0,
    next_gc_bytes: m.heapTotal,
    gc_total_runs: 0,
  };
}

/**
 * JSON text of the document as Go's encoder writes it: `<`, `>`, `&`, U+2028 and U+2029 inside
 * strings are escaped (they never occur outside strings in JSON, so a global replace is safe).
 */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

// ---- text format (spec §3.7) ----

/** Go's `%-Ns`: left-aligned, padded with spaces to N runes. */
function padRight(text: string, width: number): string {
  const runes = [...text].length;
  return runes >= width ? text : text + " ".repeat(width - runes);
}

/** Go's `%-Nd`. */
function padNum(n: number, width: number): string {
  return padRight(String(n), width);
}

/** nsqd's NanoSecondToHuman: one decimal and the largest unit the value exceeds. */
export function nanosecondsToHuman(v: number): string {
  let suffix = "ns";
  if (v > 1e9) {
    v /= 1e9;
    suffix = "s";
  } else if (v > 1e6) {
    v /= 1e6;
    suffix = "ms";
  } else if (v > 1e3) {
    v /= 1e3;
    suffix = "us";
  }
  return `${goFixed1(v)}${suffix}`;
}

/**
 * Go's `%.1f`: like toFixed(1), except that an exact tie rounds to even (Go) instead of up (JS).
 * A tie at one decimal is a short dyadic fraction, so 30 digits show it exactly.
 */
export function goFixed1(v: number): string {
  const exact = v.toFixed(30);
  const m = /^(-?\d+)\.(\d)5(0+)$/.exec(exact);
  if (m === null) return v.toFixed(1);
  const tenths = BigInt(m[1]! + m[2]!);
  const even = tenths % 2n === 0n ? tenths : tenths + (tenths < 0n ? -1n : 1n);
  const abs = even < 0n ? -even : even;
  const digits = abs.toString().padStart(2, "0");
  return `${even < 0n ? "-" : ""}${digits.slice(0, -1)}.${digits.slice(-1)}`;
}

function latencyText(e: E2eLatency): string {
  return e.percentiles === null ? "" : e.percentiles.map((p) => nanosecondsToHuman(p.value)).join(", ");
}

/** Time since `connectTs` (unix seconds), in whole seconds, as Go prints a Duration. */
function connectedFor(connectTs: number, nowMs: number): string {
  const seconds = Math.max(0, Math.floor((nowMs - connectTs * 1000) / 1000));
  return formatDuration(seconds * 1000);
}

/** A client's line: the producer form when it has a pub_counts entry, else the consumer form. */
export function clientLine(c: ClientStats, nowMs: number): string {
  const port = portOf(c.remote_address);
  const id = `${c.hostname}:${port} ${c.user_agent}`;
  const connected = connectedFor(c.connect_ts, nowMs);
  if (c.pub_counts !== undefined && c.pub_counts.length > 0) {
    let total = 0;
    const parts: string[] = [];
    for (const p of c.pub_counts) {
      total += p.count;
      parts.push(`${p.topic}=${p.count}`);
    }
    return `[${c.version} ${padRight(id, 21)}] msgs: ${padNum(total, 8)} topics: ${parts.join(",")} connected: ${connected}`;
  }
  return (
    `[${c.version} ${padRight(id, 21)}] state: ${c.state} inflt: ${padNum(c.in_flight_count, 4)} ` +
    `rdy: ${padNum(c.ready_count, 4)} fin: ${padNum(c.finish_count, 8)} re-q: ${padNum(c.requeue_count, 8)} ` +
    `msgs: ${padNum(c.message_count, 8)} connected: ${connected}`
  );
}

/** Go's time.RFC3339 in local time: `2006-01-02T15:04:05-07:00`, `Z` for a zero offset. */
export function formatRfc3339Local(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number) => String(n).padStart(2, "0");
  const offsetMin = -d.getTimezoneOffset();
  let zone = "Z";
  if (offsetMin !== 0) {
    const abs = Math.abs(offsetMin);
    zone = `${offsetMin < 0 ? "-" : "+"}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`;
  }
  return (
    `${String(d.getFullYear()).padStart(4, "0")}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}` +
    `T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}${zone}`
  );
}

export interface TextStatsTimes {
  /** when nsqd started, ms since the epoch */
  startTimeMs: number;
  /** the moment the stats were taken, ms since the epoch */
  nowMs: number;
  /** printed as "built w/<runtime>": nsqd's "go1.19.8" (see NSQD_BUILT_WITH) */
  runtime: string;
}

const MEMORY_KEYS: (keyof MemStats)[] = [
  "heap_objects",
  "heap_idle_bytes",
  "heap_in_use_bytes",
  "heap_released_bytes",
  "gc_pause_usec_100",
  "gc_pause_usec_99",
  "gc_pause_usec_95",
  "next_gc_bytes",
  "gc_total_runs",
];

/** The text form of /stats, byte for byte as nsqd prints it. */
export function formatStatsText(doc: StatsDocument, times: TextStatsTimes): string {
  let out = `nsqd v${doc.version} (built w/${times.runtime})\n`;
  out += `start_time ${formatRfc3339Local(times.startTimeMs)}\n`;
  out += `uptime ${formatDuration(times.nowMs - times.startTimeMs)}\n`;
  out += `\nHealth: ${doc.health}\n`;
  if (doc.memory !== undefined) {
    out += "\nMemory:\n";
    for (const key of MEMORY_KEYS) out += `   ${padRight(key, 25)}\t${doc.memory[key]}\n`;
  }
  const topics = doc.topics ?? [];
  out += topics.length === 0 ? "\nTopics: None\n" : "\nTopics:";
  for (const t of topics) {
    out +=
      `\n${t.paused ? "*P " : "   "}[${padRight(t.topic_name, 15)}] depth: ${padNum(t.depth, 5)} ` +
      `be-depth: ${padNum(t.backend_depth, 5)} msgs: ${padNum(t.message_count, 8)} e2e%: ${latencyText(t.e2e_processing_latency)}\n`;
    for (const c of t.channels) {
      out +=
        `${c.paused ? "   *P " : "      "}[${padRight(c.channel_name, 25)}] depth: ${padNum(c.depth, 5)} ` +
        `be-depth: ${padNum(c.backend_depth, 5)} inflt: ${padNum(c.in_flight_count, 4)} def: ${padNum(c.deferred_count, 4)} ` +
        `re-q: ${padNum(c.requeue_count, 5)} timeout: ${padNum(c.timeout_count, 5)} msgs: ${padNum(c.message_count, 8)} ` +
        `e2e%: ${latencyText(c.e2e_processing_latency)}\n`;
      for (const client of c.clients ?? []) out += `        ${clientLine(client, times.nowMs)}\n`;
    }
  }
  const producers = doc.producers ?? [];
  if (producers.length === 0) {
    out += "\nProducers: None\n";
  } else {
    out += "\nProducers:\n";
    for (const p of producers) out += `   ${clientLine(p, times.nowMs)}\n`;
  }
  return out;
}
