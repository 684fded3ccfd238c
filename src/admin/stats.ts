/**
 * The stats shapes nsqadmin's API returns (internal/clusterinfo/types.go in NSQ v1.3.0): nsqd's
 * /stats objects per node, plus `node`, `hostname`, `memory_depth`, and the cluster-wide sums with
 * `node: "*"` and the per-node objects in `nodes`. Written from untrusted node JSON: missing or
 * mistyped fields become 0 / "" / false so one odd node never breaks a page.
 */
import { bool, list, num, obj, str } from "../http-api/json-fields.ts";
import type { AdminChannelStats, AdminClientStats, AdminRates, AdminTopicStats, LatencyAggregate } from "./api-types.ts";
// the stat tool's check of a node's `rates` object (all six fields numeric, or none)
import { rates as parseRates } from "../http-api/node-json.ts";

export type { AdminChannelStats, AdminClientStats, AdminTopicStats, LatencyAggregate };

function parseLatency(v: unknown, topic: string, channel: string): LatencyAggregate {
  const o = obj(v);
  const count = num(o.count);
  const percentiles = Array.isArray(o.percentiles)
    ? o.percentiles.map((p) => {
        const po = obj(p);
        const value = num(po.value);
        return { quantile: num(po.quantile), value, min: value, max: value, average: value, count };
      })
    : null;
  return { count, percentiles, topic, channel, host: "" };
}

export function parseClient(v: unknown, node: string, nowMs: number): AdminClientStats {
  const o = obj(v);
  const connectTs = num(o.connect_ts);
  return {
    node,
    remote_address: str(o.remote_address),
    version: str(o.version),
    client_id: str(o.client_id),
    hostname: str(o.hostname),
    user_agent: str(o.user_agent),
    connect_ts: connectTs,
    connected: (Math.floor(nowMs / 1000) - connectTs) * 1e9,
    in_flight_count: num(o.in_flight_count),
    ready_count: num(o.ready_count),
    finish_count: num(o.finish_count),
    requeue_count: num(o.requeue_count),
    message_count: num(o.message_count),
    sample_rate: num(o.sample_rate),
    deflate: bool(o.deflate),
    snappy: bool(o.snappy),
    authed: bool(o.authed),
    auth_identity: str(o.auth_identity),
    auth_identity_url: str(o.auth_identity_url),
    tls: bool(o.tls),
    tls_cipher_suite: str(o.tls_cipher_suite),
    tls_version: str(o.tls_version),
    tls_negotiated_protocol: str(o.tls_negotiated_protocol),
    tls_negotiated_protocol_is_mutual: bool(o.tls_negotiated_protocol_is_mutual),
  };
}

/** One node's topics from its /stats reply, each object marked with the node. */
export function parseNodeTopics(stats: unknown, node: string, hostname: string, nowMs: number = Date.now()): AdminTopicStats[] {
  return list(obj(stats).topics).map((t) => {
    const to = obj(t);
    const topicName = str(to.topic_name);
    const depth = num(to.depth);
    const backend = num(to.backend_depth);
    const channels = list(to.channels).map((c): AdminChannelStats => {
      const co = obj(c);
      const channelName = str(co.channel_name);
      const cDepth = num(co.depth);
      const cBackend = num(co.backend_depth);
      return {
        node,
        hostname,
        topic_name: topicName,
        channel_name: channelName,
        depth: cDepth,
        memory_depth: cDepth - cBackend,
        backend_depth: cBackend,
        in_flight_count: num(co.in_flight_count),
        deferred_count: num(co.deferred_count),
        requeue_count: num(co.requeue_count),
        timeout_count: num(co.timeout_count),
        message_count: num(co.message_count),
        client_count: num(co.client_count),
        nodes: null,
        clients: Array.isArray(co.clients) ? co.clients.map((cl) => parseClient(cl, node, nowMs)) : null,
        paused: bool(co.paused),
        e2e_processing_latency: parseLatency(co.e2e_processing_latency, topicName, channelName),
        ...parseRates(co.rates),
      };
    });
    return {
      node,
      hostname,
      topic_name: topicName,
      depth,
      memory_depth: depth - backend,
      backend_depth: backend,
      message_count: num(to.message_count),
      nodes: null,
      channels,
      paused: bool(to.paused),
      e2e_processing_latency: parseLatency(to.e2e_processing_latency, topicName, ""),
      ...parseRates(to.rates),
    };
  });
}

const byHost = <T extends { hostname: string; node: string }>(a: T, b: T): number =>
  a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0;

/** Merges latency b into a (percentiles matched by quantile, averages weighted by count). */
function addLatency(a: LatencyAggregate, b: LatencyAggregate | null): void {
  a.host = "*";
  if (!b) return;
  a.count += b.count;
  for (const value of b.percentiles ?? []) {
    a.percentiles ??= [];
    let p = a.percentiles.find((x) => x.quantile === value.quantile);
    if (!p) {
      p = { quantile: value.quantile, min: value.min, max: value.max, average: 0, count: 0 };
      a.percentiles.push(p);
    }
    p.max = Math.max(p.max, value.max);
    p.min = Math.min(p.min, value.min);
    p.count += value.count;
    p.average = p.count === 0 ? 0 : p.average + ((value.average - p.average) * value.count) / p.count;
  }
  a.percentiles?.sort((x, y) => y.quantile - x.quantile);
}

export function emptyChannel(topic: string, channel: string): AdminChannelStats {
  return {
    node: "*", hostname: "", topic_name: topic, channel_name: channel, depth: 0, memory_depth: 0,
    backend_depth: 0, in_flight_count: 0, deferred_count: 0, requeue_count: 0, timeout_count: 0,
    message_count: 0, client_count: 0, nodes: [], clients: [], paused: false,
    e2e_processing_latency: { count: 0, percentiles: null, topic, channel, host: "*" },
  };
}

/**
 * Adds one node's rates into a cluster-wide object's. The sum stands only while every node added
 * offered rates (`first`: nothing was added before): a sum missing a real nsqd's share would read
 * as the cluster's rate and be too low, so then the field is left out.
 */
function addRates(sum: { rates?: AdminRates }, part: { rates?: AdminRates }, first: boolean): void {
  if (part.rates === undefined) {
    delete sum.rates;
    return;
  }
  if (first) {
    sum.rates = { ...part.rates };
    return;
  }
  const r = sum.rates;
  if (r === undefined) return;
  for (const k of Object.keys(r) as Array<keyof AdminRates>) r[k] = Math.round((r[k] + part.rates[k]) * 1000) / 1000;
}

/** Adds one node's channel into a cluster-wide channel (counts summed, paused if any is). */
export function addChannel(sum: AdminChannelStats, c: AdminChannelStats): void {
  sum.depth += c.depth;
  sum.memory_depth += c.memory_depth;
  sum.backend_depth += c.backend_depth;
  sum.in_flight_count += c.in_flight_count;
  sum.deferred_count += c.deferred_count;
  sum.requeue_count += c.requeue_count;
  sum.timeout_count += c.timeout_count;
  sum.message_count += c.message_count;
  sum.client_count += c.client_count;
  sum.paused ||= c.paused;
  addRates(sum, c, (sum.nodes?.length ?? 0) === 0);
  (sum.nodes ??= []).push(c);
  sum.nodes.sort(byHost);
  if (c.clients) (sum.clients ??= []).push(...c.clients);
  sum.clients?.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  if (sum.e2e_processing_latency) addLatency(sum.e2e_processing_latency, c.e2e_processing_latency);
}

/** The cluster-wide view of one topic from the per-node topic objects. */
export function aggregateTopic(topic: string, perNode: readonly AdminTopicStats[]): AdminTopicStats {
  const sum: AdminTopicStats = {
    node: "*", hostname: "", topic_name: topic, depth: 0, memory_depth: 0, backend_depth: 0,
    message_count: 0, nodes: [], channels: [], paused: false,
    e2e_processing_latency: { count: 0, percentiles: null, topic, channel: "", host: "*" },
  };
  const channels = new Map<string, AdminChannelStats>();
  for (const t of perNode) {
    sum.depth += t.depth;
    sum.memory_depth += t.memory_depth;
    sum.backend_depth += t.backend_depth;
    sum.message_count += t.message_count;
    sum.paused ||= t.paused;
    addRates(sum, t, sum.nodes!.length === 0);
    sum.nodes!.push(t);
    addLatency(sum.e2e_processing_latency!, t.e2e_processing_latency);
    for (const c of t.channels ?? []) {
      let agg = channels.get(c.channel_name);
      if (!agg) {
        agg = emptyChannel(topic, c.channel_name);
        channels.set(c.channel_name, agg);
        sum.channels!.push(agg);
      }
      addChannel(agg, c);
    }
  }
  sum.nodes!.sort(byHost);
  return sum;
}
