/**
 * The cluster as the dashboard shows it: topics → channels → clients, each aggregated across
 * nodes with a per-node breakdown, and message rates from successive polls (rates.ts).
 * Rates are computed per node and then summed, so a node going down removes its share instead of
 * producing a negative spike.
 */
import type { ClusterSnapshot, NodeState } from "./cluster.ts";
import { RateTracker, sumRates } from "./rates.ts";
import type { ChannelStats, ClientStats, TopicStats } from "../../http-api/node-json-types.ts";
import type { RateStats } from "../../protocol/stats-types.ts";

/** One row of a topic/channel table, or of a per-node breakdown (then `name` is the node). */
export interface StatRow {
  key: string;
  name: string;
  /** false: every node holding it is down (breakdown: this node is down) */
  up: boolean;
  paused: boolean;
  depth: number;
  memDepth: number;
  backendDepth: number;
  inFlight: number;
  deferred: number;
  requeued: number;
  timedOut: number;
  messages: number;
  consumers: number;
  channels: number;
  /** messages per second into the queue (null until two polls were seen) */
  rateIn: number | null;
  /** messages per second out of the queue: Δ(message_count − depth) */
  rateOut: number | null;
  history: readonly number[];
  nodesUp: number;
  nodesTotal: number;
  /** why a node is down, for breakdown rows */
  note: string;
}

export interface ClientRow {
  key: string;
  /** hostname:remote-port, as nsqd's text stats name clients */
  name: string;
  clientId: string;
  node: string;
  userAgent: string;
  state: number;
  ready: number;
  inFlight: number;
  messages: number;
  finished: number;
  requeued: number;
  connectedSec: number;
  tls: boolean;
  /** e.g. "TLS1.3"; "" when not TLS or not reported */
  tlsVersion: string;
  compression: "snappy" | "deflate" | "";
  /** the protocol the client speaks ("V2") */
  version: string;
  remoteAddress: string;
  /** messages per second delivered to this client */
  rate: number | null;
  history: readonly number[];
}

export interface ChannelModel {
  row: StatRow;
  perNode: StatRow[];
  clients: ClientRow[];
}

export interface TopicModel {
  row: StatRow;
  perNode: StatRow[];
  channels: ChannelModel[];
}

export interface ClusterModel {
  at: number;
  nodes: NodeState[];
  topics: TopicModel[];
  discoveryErrors: string[];
  /** nodes dropped after the grace period (named on the status line) */
  left: string[];
}

const SEP = "\u0000";

function emptyRow(key: string, name: string): StatRow {
  return {
    key, name, up: false, paused: false, depth: 0, memDepth: 0, backendDepth: 0, inFlight: 0,
    deferred: 0, requeued: 0, timedOut: 0, messages: 0, consumers: 0, channels: 0,
    rateIn: null, rateOut: null, history: [], nodesUp: 0, nodesTotal: 0, note: "",
  };
}

/** Adds a node's row into an aggregate (counts summed, paused if any node is paused). */
function accumulate(into: StatRow, part: StatRow): void {
  into.nodesTotal++;
  if (!part.up) return;
  into.up = true;
  into.nodesUp++;
  into.paused ||= part.paused;
  into.depth += part.depth;
  into.memDepth += part.memDepth;
  into.backendDepth += part.backendDepth;
  into.inFlight += part.inFlight;
  into.deferred += part.deferred;
  into.requeued += part.requeued;
  into.timedOut += part.timedOut;
  into.messages += part.messages;
  into.consumers += part.consumers;
  into.channels = Math.max(into.channels, part.channels);
  into.rateIn = sumRates([into.rateIn, part.rateIn]);
  into.rateOut = sumRates([into.rateOut, part.rateOut]);
}

interface Builder {
  tracker: RateTracker;
  topics: Map<string, { row: StatRow; perNode: StatRow[]; channels: Map<string, ChannelModel> }>;
}

function nodeRow(key: string, node: NodeState): StatRow {
  const row = emptyRow(key, node.address);
  row.up = node.up;
  row.nodesTotal = 1;
  row.nodesUp = node.up ? 1 : 0;
  // errors read "<url>: <reason>"; the reason is what fits in a table cell
  row.note = node.up ? "" : node.error ? node.error.slice(node.error.lastIndexOf(": ") + 2) : "down";
  return row;
}

/** The node's rate window (1s, 10s, 1m) nearest to the tracker's window (0: since the last poll). */
function offeredWindow(windowMs: number): "1s" | "10s" | "1m" {
  if (windowMs <= 3000) return "1s";
  return windowMs <= 30_000 ? "10s" : "1m";
}

function addRates(b: Builder, row: StatRow, node: NodeState, messages: number, depth: number, offered?: RateStats): void {
  if (!node.up) return;
  const r = b.tracker.rates(row.key, messages, messages - depth, node.sampledAt);
  row.rateIn = r.rate;
  row.rateOut = r.rate2;
  // a node that measures its own rates (nsq serve) is trusted over differencing polls: its window
  // closest to the dashboard's --rate-window
  if (offered !== undefined) {
    const w = offeredWindow(b.tracker.rateWindowMs);
    row.rateIn = offered[`message_${w}`];
    row.rateOut = offered[`out_${w}`];
  }
  row.history = b.tracker.record(row.key, row.rateIn);
}

function channelNodeRow(b: Builder, node: NodeState, topic: string, c: ChannelStats): StatRow {
  const row = nodeRow(["c", node.address, topic, c.channel_name].join(SEP), node);
  row.paused = c.paused;
  row.depth = c.depth;
  row.backendDepth = c.backend_depth;
  row.memDepth = c.depth - c.backend_depth;
  row.inFlight = c.in_flight_count;
  row.deferred = c.deferred_count;
  row.requeued = c.requeue_count;
  row.timedOut = c.timeout_count;
  row.messages = c.message_count;
  row.consumers = c.client_count;
  addRates(b, row, node, c.message_count, c.depth, c.rates);
  return row;
}

function topicNodeRow(b: Builder, node: NodeState, t: TopicStats): StatRow {
  const row = nodeRow(["t", node.address, t.topic_name].join(SEP), node);
  row.paused = t.paused;
  row.depth = t.depth;
  row.backendDepth = t.backend_depth;
  row.memDepth = t.depth - t.backend_depth;
  row.messages = t.message_count;
  row.channels = t.channels.length;
  for (const c of t.channels) {
    row.inFlight += c.in_flight_count;
    row.deferred += c.deferred_count;
    row.requeued += c.requeue_count;
    row.timedOut += c.timeout_count;
    row.consumers += c.client_count;
  }
  addRates(b, row, node, t.message_count, t.depth, t.rates);
  return row;
}

function clientRow(b: Builder, node: NodeState, topic: string, channel: string, c: ClientStats): ClientRow {
  const key = ["k", node.address, topic, channel, c.remote_address, c.client_id].join(SEP);
  const port = c.remote_address.slice(c.remote_address.lastIndexOf(":") + 1);
  const rate = b.tracker.counter(key, c.message_count, node.sampledAt);
  return {
    key,
    name: `${c.hostname || c.client_id}:${port}`,
    clientId: c.client_id,
    node: node.address,
    userAgent: c.user_agent,
    state: c.state,
    ready: c.ready_count,
    inFlight: c.in_flight_count,
    messages: c.message_count,
    finished: c.finish_count,
    requeued: c.requeue_count,
    connectedSec: c.connect_ts > 0 ? Math.max(0, Math.floor(node.sampledAt / 1000 - c.connect_ts)) : 0,
    tls: c.tls,
    tlsVersion: c.tls_version,
    compression: c.snappy ? "snappy" : c.deflate ? "deflate" : "",
    version: c.version,
    remoteAddress: c.remote_address,
    rate,
    history: b.tracker.record(key, rate),
  };
}

function addNodeTopic(b: Builder, node: NodeState, t: TopicStats): void {
  let topic = b.topics.get(t.topic_name);
  if (!topic) {
    topic = { row: emptyRow(["T", t.topic_name].join(SEP), t.topic_name), perNode: [], channels: new Map() };
    b.topics.set(t.topic_name, topic);
  }
  const tRow = topicNodeRow(b, node, t);
  topic.perNode.push(tRow);
  accumulate(topic.row, tRow);
  for (const c of t.channels) {
    let ch = topic.channels.get(c.channel_name);
    if (!ch) {
      ch = { row: emptyRow(["C", t.topic_name, c.channel_name].join(SEP), c.channel_name), perNode: [], clients: [] };
      topic.channels.set(c.channel_name, ch);
    }
    const cRow = channelNodeRow(b, node, t.topic_name, c);
    ch.perNode.push(cRow);
    accumulate(ch.row, cRow);
    if (node.up) for (const cl of c.clients ?? []) ch.clients.push(clientRow(b, node, t.topic_name, c.channel_name, cl));
  }
}

const byName = (a: { row: StatRow }, b: { row: StatRow }) => a.row.name.localeCompare(b.row.name);

/**
 * Folds one poll into the model. `tracker` carries counters between polls; call once per poll
 * with the same tracker.
 */
export function buildModel(snapshot: ClusterSnapshot, tracker: RateTracker): ClusterModel {
  tracker.beginRound();
  const b: Builder = { tracker, topics: new Map() };
  for (const node of snapshot.nodes) {
    for (const t of node.stats?.topics ?? []) addNodeTopic(b, node, t);
  }
  const topics: TopicModel[] = [];
  for (const t of b.topics.values()) {
    t.row.history = tracker.record(t.row.key, t.row.rateIn);
    const channels = [...t.channels.values()];
    for (const c of channels) c.row.history = tracker.record(c.row.key, c.row.rateIn);
    channels.sort(byName);
    t.row.channels = channels.length;
    topics.push({ row: t.row, perNode: t.perNode, channels });
  }
  topics.sort(byName);
  tracker.endRound();
  return { at: snapshot.at, nodes: snapshot.nodes, topics, discoveryErrors: snapshot.discoveryErrors, left: snapshot.left ?? [] };
}
