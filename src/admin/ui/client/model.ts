/**
 * The cluster as the UI sees it, kept live by polling nsqadmin's API: the node list from
 * /api/nodes, then each node's stats from /api/nodes/:node on its own. A node that fails or is
 * slow only marks that node (its last numbers stay, shown as stale); every other node keeps
 * updating. Rates (msgs/s) are a node's own 1 s rates when it measures them (`nsq serve` answers
 * `/stats?rates=true` with a `rates` object, passed through by the API), else the change of
 * message_count between that node's two last samples (real nsqd).
 */
import type { Producer } from "../../api-types.ts";
import type { AdminChannelStats, AdminRates, AdminTopicStats } from "../../api-types.ts";
import { ApiError, get } from "./api.ts";

export interface NodeReply {
  node: string;
  topics: AdminTopicStats[];
  total_messages: number;
  total_clients: number;
  health?: string;
  version?: string;
  message: string;
}

interface Sample {
  at: number;
  reply: NodeReply;
}

export interface NodeState {
  /** broadcast_address:http_port */
  name: string;
  info: Producer | null;
  sample: Sample | null;
  prev: Sample | null;
  error: string | null;
  /** when the request still out was sent (null: none out) */
  pendingSince: number | null;
  /** lookupd (or the nsqd list) still names it */
  listed: boolean;
  /** when the node list stopped naming it */
  unlistedSince: number | null;
}

export interface ChannelRow {
  topic: string;
  channel: string;
  depth: number;
  memory: number;
  backend: number;
  inFlight: number;
  deferred: number;
  requeued: number;
  timedOut: number;
  messages: number;
  rate: number | null;
  /** the nodes' own rates summed over the `measuredBy` nodes that offer them (null: none does) */
  measured: AdminRates | null;
  measuredBy: number;
  clients: number;
  paused: boolean;
  /** per node */
  nodes: Array<{ node: string; stale: boolean; stats: AdminChannelStats; rate: number | null }>;
}

export interface TopicRow {
  topic: string;
  depth: number;
  memory: number;
  backend: number;
  inFlight: number;
  messages: number;
  rate: number | null;
  /** as ChannelRow.measured */
  measured: AdminRates | null;
  measuredBy: number;
  paused: boolean;
  channels: ChannelRow[];
  nodes: Array<{ node: string; stale: boolean; stats: AdminTopicStats; rate: number | null }>;
}

/** A node is "slow" when its request has been out this long. */
export const SLOW_AFTER_MS = 3000;
const HISTORY = 60;
/** A node the node list no longer names is shown (as failing) this long, then dropped. */
const FORGET_AFTER_MS = 120_000;

export class Cluster {
  readonly nodes = new Map<string, NodeState>();
  discoveryError: string | null = null;
  discoveryWarning = "";
  lastDiscovery = 0;
  /** cluster-wide msgs/s over time (for sparklines), and per topic */
  readonly history: number[] = [];
  readonly topicHistory = new Map<string, number[]>();
  private discovering = false;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly onChange: () => void,
  ) {}

  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Polls now (after an action, so its effect shows at once). */
  refresh(): void {
    this.tick();
  }

  private tick(): void {
    if (!this.discovering) {
      this.discovering = true;
      void this.discover().finally(() => {
        this.discovering = false;
      });
    }
    this.recordHistory();
    for (const n of this.nodes.values()) this.pollNode(n);
    this.onChange();
  }

  private async discover(): Promise<void> {
    try {
      const r = await get<{ nodes: Producer[]; message: string }>("/api/nodes");
      this.discoveryError = null;
      this.discoveryWarning = r.message;
      const listed = new Set<string>();
      for (const p of r.nodes) {
        const name = `${p.broadcast_address.includes(":") ? `[${p.broadcast_address}]` : p.broadcast_address}:${p.http_port}`;
        listed.add(name);
        let n = this.nodes.get(name);
        if (!n) {
          n = { name, info: p, sample: null, prev: null, error: null, pendingSince: null, listed: true, unlistedSince: null };
          this.nodes.set(name, n);
          this.pollNode(n);
        }
        n.info = p;
        n.listed = true;
      }
      // only a complete answer says a node is gone
      if (r.message === "") {
        const now = Date.now();
        for (const n of [...this.nodes.values()]) {
          if (listed.has(n.name)) {
            n.unlistedSince = null;
            continue;
          }
          n.listed = false;
          n.unlistedSince ??= now;
          // a node gone this long was removed on purpose (or is long dead): stop showing it
          if (now - n.unlistedSince > FORGET_AFTER_MS) this.nodes.delete(n.name);
        }
      }
    } catch (err) {
      this.discoveryError = (err as Error).message;
    }
    this.lastDiscovery = Date.now();
    this.onChange();
  }

  private pollNode(n: NodeState): void {
    if (n.pendingSince !== null) return;
    n.pendingSince = Date.now();
    void get<NodeReply>(`/api/nodes/${encodeURIComponent(n.name)}`)
      .then((reply) => {
        n.prev = n.sample;
        n.sample = { at: Date.now(), reply };
        n.error = null;
      })
      .catch((err: unknown) => {
        n.error = err instanceof ApiError && err.status === 404 && !n.listed
          ? "no longer registered with any nsqlookupd"
          : (err as Error).message;
      })
      .finally(() => {
        n.pendingSince = null;
        this.onChange();
      });
  }

  /** Nodes whose latest poll failed, or whose request is out too long. */
  problems(now = Date.now()): Array<{ node: string; error: string }> {
    const out: Array<{ node: string; error: string }> = [];
    for (const n of this.nodes.values()) {
      if (n.error) out.push({ node: n.name, error: n.error });
      else if (n.pendingSince !== null && now - n.pendingSince > SLOW_AFTER_MS) {
        out.push({ node: n.name, error: `slow: no answer for ${Math.round((now - n.pendingSince) / 1000)}s` });
      }
    }
    return out;
  }

  isStale(n: NodeState, now = Date.now()): boolean {
    return n.error !== null || (n.pendingSince !== null && now - n.pendingSince > SLOW_AFTER_MS);
  }

  private recordHistory(): void {
    const total = this.totalRate();
    if (total !== null) push(this.history, total);
    for (const t of this.topics()) if (t.rate !== null) push(getOr(this.topicHistory, t.topic), t.rate);
  }

  /** msgs/s of a counter between a node's two last samples (null until there are two). */
  private static rateOf(n: NodeState, pick: (r: NodeReply) => number | undefined): number | null {
    if (!n.sample || !n.prev) return null;
    const now = pick(n.sample.reply);
    const before = pick(n.prev.reply);
    if (now === undefined) return null;
    const dt = (n.sample.at - n.prev.at) / 1000;
    if (dt <= 0) return null;
    // a topic that is new on this node, or a counter reset by a restart
    return Math.max(0, (now - (before ?? 0)) / dt);
  }

  /** msgs/s of one topic or channel on a node: its own when it offers rates, else differenced. */
  private static queueRate(n: NodeState, stats: { rates?: AdminRates }, pick: (r: NodeReply) => number | undefined): number | null {
    return stats.rates !== undefined ? stats.rates.message_1s : Cluster.rateOf(n, pick);
  }

  totalRate(): number | null {
    let sum: number | null = null;
    for (const n of this.nodes.values()) {
      const channels = n.sample ? n.sample.reply.topics.flatMap((t) => t.channels ?? []) : [];
      const offered = channels.length > 0 && channels.every((c) => c.rates !== undefined);
      const r = offered ? channels.reduce((s, c) => s + c.rates!.message_1s, 0) : Cluster.rateOf(n, (reply) => channelMessages(reply));
      if (r !== null) sum = (sum ?? 0) + r;
    }
    return sum;
  }

  totalMessages(): number {
    let sum = 0;
    for (const n of this.nodes.values()) if (n.sample) sum += channelMessages(n.sample.reply);
    return sum;
  }

  /** Every topic across the cluster, sorted by name. */
  topics(): TopicRow[] {
    const now = Date.now();
    const rows = new Map<string, TopicRow>();
    for (const n of this.nodes.values()) {
      if (!n.sample) continue;
      const stale = this.isStale(n, now);
      for (const t of n.sample.reply.topics) {
        let row = rows.get(t.topic_name);
        if (!row) {
          row = {
            topic: t.topic_name, depth: 0, memory: 0, backend: 0, inFlight: 0, messages: 0, rate: null,
            measured: null, measuredBy: 0, paused: false, channels: [], nodes: [],
          };
          rows.set(t.topic_name, row);
        }
        const r = Cluster.queueRate(n, t, (reply) => reply.topics.find((x) => x.topic_name === t.topic_name)?.message_count);
        addMeasured(row, t.rates);
        row.depth += t.depth;
        row.memory += t.memory_depth;
        row.backend += t.backend_depth;
        row.messages += t.message_count;
        row.paused ||= t.paused;
        if (r !== null) row.rate = (row.rate ?? 0) + r;
        row.nodes.push({ node: n.name, stale, stats: t, rate: r });
        for (const c of t.channels ?? []) {
          row.inFlight += c.in_flight_count;
          let ch = row.channels.find((x) => x.channel === c.channel_name);
          if (!ch) {
            ch = {
              topic: t.topic_name, channel: c.channel_name, depth: 0, memory: 0, backend: 0, inFlight: 0, deferred: 0,
              requeued: 0, timedOut: 0, messages: 0, rate: null, measured: null, measuredBy: 0, clients: 0, paused: false, nodes: [],
            };
            row.channels.push(ch);
          }
          addMeasured(ch, c.rates);
          const cr = Cluster.queueRate(n, c, (reply) =>
            reply.topics.find((x) => x.topic_name === t.topic_name)?.channels?.find((x) => x.channel_name === c.channel_name)?.message_count);
          ch.depth += c.depth;
          ch.memory += c.memory_depth;
          ch.backend += c.backend_depth;
          ch.inFlight += c.in_flight_count;
          ch.deferred += c.deferred_count;
          ch.requeued += c.requeue_count;
          ch.timedOut += c.timeout_count;
          ch.messages += c.message_count;
          ch.clients += c.client_count;
          ch.paused ||= c.paused;
          if (cr !== null) ch.rate = (ch.rate ?? 0) + cr;
          ch.nodes.push({ node: n.name, stale, stats: c, rate: cr });
        }
      }
    }
    for (const row of rows.values()) row.channels.sort((a, b) => a.channel.localeCompare(b.channel));
    return [...rows.values()].sort((a, b) => a.topic.localeCompare(b.topic));
  }

  /** Names of nodes whose last sample is missing (never answered). */
  unknownNodes(): string[] {
    return [...this.nodes.values()].filter((n) => !n.sample).map((n) => n.name);
  }
}

/** Messages processed on a node: the sum of its channels' message_count (nsqadmin's counter). */
function channelMessages(reply: NodeReply): number {
  let sum = 0;
  for (const t of reply.topics) for (const c of t.channels ?? []) sum += c.message_count;
  return sum;
}

/** Adds one node's own rates into a row's sum. */
function addMeasured(row: { measured: AdminRates | null; measuredBy: number }, rates: AdminRates | undefined): void {
  if (rates === undefined) return;
  row.measuredBy++;
  if (row.measured === null) {
    row.measured = { ...rates };
    return;
  }
  for (const k of Object.keys(rates) as Array<keyof AdminRates>) row.measured[k] += rates[k];
}

function push(list: number[], v: number): void {
  list.push(v);
  if (list.length > HISTORY) list.shift();
}

function getOr(map: Map<string, number[]>, key: string): number[] {
  let v = map.get(key);
  if (!v) map.set(key, (v = []));
  return v;
}
