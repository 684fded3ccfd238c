/**
 * Turns untrusted JSON from a node's HTTP API into the typed shapes of node-json-types.ts. Missing
 * or mistyped fields become 0 / "" / false instead of exceptions: one odd node must not take the
 * whole view down. Shared by the stat tool (src/tools/stat) and nsq admin (src/admin).
 */
import type {
  ChannelStats,
  ClientStats,
  LookupdProducer,
  NsqdInfo,
  NsqdStats,
  TopicStats,
} from "./node-json-types.ts";
import type { RateStats } from "../protocol/stats-types.ts";
import { bool, list, num, obj, str, strings, type Json } from "./json-fields.ts";
import { joinHostPort } from "../protocol/address.ts";

export function parseClient(v: unknown): ClientStats {
  const o = obj(v);
  return {
    client_id: str(o.client_id),
    hostname: str(o.hostname),
    version: str(o.version),
    remote_address: str(o.remote_address),
    state: num(o.state),
    ready_count: num(o.ready_count),
    in_flight_count: num(o.in_flight_count),
    message_count: num(o.message_count),
    finish_count: num(o.finish_count),
    requeue_count: num(o.requeue_count),
    connect_ts: num(o.connect_ts),
    user_agent: str(o.user_agent),
    tls: bool(o.tls),
    deflate: bool(o.deflate),
    snappy: bool(o.snappy),
    tls_version: str(o.tls_version),
  };
}

export function parseChannel(v: unknown): ChannelStats {
  const o = obj(v);
  return {
    channel_name: str(o.channel_name),
    depth: num(o.depth),
    backend_depth: num(o.backend_depth),
    in_flight_count: num(o.in_flight_count),
    deferred_count: num(o.deferred_count),
    message_count: num(o.message_count),
    requeue_count: num(o.requeue_count),
    timeout_count: num(o.timeout_count),
    client_count: num(o.client_count),
    clients: Array.isArray(o.clients) ? o.clients.map(parseClient) : null,
    paused: bool(o.paused),
    ...rates(o.rates),
  };
}

/** The node's `rates` object when it offers one with every field numeric; nothing otherwise. */
export function rates(v: unknown): { rates?: RateStats } {
  if (v === null || typeof v !== "object") return {};
  const o = v as Json;
  const keys = ["message_1s", "message_10s", "message_1m", "out_1s", "out_10s", "out_1m"] as const;
  if (!keys.every((k) => typeof o[k] === "number" && Number.isFinite(o[k]))) return {};
  return { rates: Object.fromEntries(keys.map((k) => [k, o[k] as number])) as unknown as RateStats };
}

export function parseTopic(v: unknown): TopicStats {
  const o = obj(v);
  return {
    topic_name: str(o.topic_name),
    channels: list(o.channels).map(parseChannel),
    depth: num(o.depth),
    backend_depth: num(o.backend_depth),
    message_count: num(o.message_count),
    message_bytes: num(o.message_bytes),
    paused: bool(o.paused),
    ...rates(o.rates),
  };
}

export function parseStats(v: unknown): NsqdStats {
  const o = obj(v);
  return {
    version: str(o.version),
    health: str(o.health),
    start_time: num(o.start_time),
    topics: Array.isArray(o.topics) ? o.topics.map(parseTopic) : null,
  };
}

export function parseInfo(v: unknown): NsqdInfo {
  const o = obj(v);
  return {
    version: str(o.version),
    broadcast_address: str(o.broadcast_address),
    hostname: str(o.hostname),
    http_port: num(o.http_port),
    tcp_port: num(o.tcp_port),
  };
}

/** "host:port" for HTTP requests to a producer (broadcast_address:http_port, IPv6 in brackets). */
export function producerHttpAddress(p: Pick<LookupdProducer, "broadcast_address" | "http_port">): string {
  return joinHostPort(p.broadcast_address, p.http_port);
}

export function parseProducer(v: unknown): LookupdProducer {
  const o = obj(v);
  return {
    remote_address: str(o.remote_address),
    hostname: str(o.hostname),
    broadcast_address: str(o.broadcast_address),
    tcp_port: num(o.tcp_port),
    http_port: num(o.http_port),
    version: str(o.version),
  };
}

/** `producers` of a lookupd /lookup or /nodes reply. */
export function parseProducers(v: unknown): LookupdProducer[] {
  return list(obj(v).producers).map(parseProducer);
}

/** `topics` of a lookupd /topics reply. */
export function parseTopicNames(v: unknown): string[] {
  return strings(obj(v).topics);
}
