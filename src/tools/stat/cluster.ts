/**
 * Reading a cluster: which nsqd nodes exist (from nsqlookupd or a fixed nsqd list), fetching each
 * node's /stats, and remembering per node whether it answers. Two users: the plain nsq_stat loop
 * (topic producers + summed channel stats, spec §6.5) and the dashboard (every node, every topic).
 */
import { getJson, httpUrl, DEFAULT_TIMEOUTS, HttpStatusError, HttpTimeoutError, type HttpTimeouts } from "../../http-api/api-request.ts";
import { parseProducers, parseStats, producerHttpAddress } from "../../http-api/node-json.ts";
import type { ChannelStats, LookupdProducer, NsqdStats } from "../../http-api/node-json-types.ts";

/** Where the cluster is found: exactly one of the two lists is used (lookupd wins if both given). */
export interface ClusterSource {
  lookupdHttpAddresses: string[];
  nsqdHttpAddresses: string[];
}

function q(v: string): string {
  return encodeURIComponent(v);
}

/** Result of an operation that asked several nodes: what answered, and why the rest did not. */
export interface Gathered<T> {
  value: T;
  errors: string[];
}

/**
 * nsqd HTTP addresses producing `topic`: the union of every lookupd's /lookup answer, or the
 * nsqd addresses whose /stats list the topic. Throws only when no source answered at all.
 */
export async function findTopicProducers(
  source: ClusterSource,
  topic: string,
  timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
): Promise<Gathered<string[]>> {
  const errors: string[] = [];
  const found = new Set<string>();
  if (source.lookupdHttpAddresses.length > 0) {
    const replies = await Promise.allSettled(
      source.lookupdHttpAddresses.map((a) => getJson(httpUrl(a, `/lookup?topic=${q(topic)}`), timeouts)),
    );
    let answered = 0;
    for (const r of replies) {
      if (r.status === "fulfilled") {
        answered++;
        for (const p of parseProducers(r.value)) found.add(producerHttpAddress(p));
      } else if (r.reason instanceof HttpStatusError && r.reason.status === 404) {
        answered++; // TOPIC_NOT_FOUND: this lookupd simply knows no producer
      } else {
        errors.push(String(r.reason?.message ?? r.reason));
      }
    }
    if (answered === 0) throw new Error(`no nsqlookupd answered: ${errors.join("; ")}`);
    return { value: [...found].sort(), errors };
  }
  const replies = await Promise.allSettled(
    source.nsqdHttpAddresses.map(async (a) => {
      const stats = parseStats(
        await getJson(httpUrl(a, `/stats?format=json&topic=${q(topic)}&include_clients=false&include_mem=false`), timeouts),
      );
      return { address: a, has: (stats.topics ?? []).some((t) => t.topic_name === topic) };
    }),
  );
  let answered = 0;
  for (const r of replies) {
    if (r.status === "fulfilled") {
      answered++;
      if (r.value.has) found.add(r.value.address);
    } else errors.push(String(r.reason?.message ?? r.reason));
  }
  if (answered === 0) throw new Error(`no nsqd answered: ${errors.join("; ")}`);
  return { value: [...found].sort(), errors };
}

/** Channel counters summed across nodes (the shape nsq_stat prints). */
export interface SummedChannel {
  depth: number;
  backendDepth: number;
  inFlight: number;
  deferred: number;
  messages: number;
  requeued: number;
  timedOut: number;
  clients: number;
  paused: boolean;
  nodes: number;
}

/**
 * Fetches `topic`/`channel` stats from each producer and sums the channel. `value` is null when no
 * producer has the channel; throws only when producers were given and none answered.
 */
export async function fetchSummedChannel(
  producers: string[],
  topic: string,
  channel: string,
  timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
): Promise<Gathered<SummedChannel | null>> {
  const replies = await Promise.allSettled(
    producers.map(async (a) =>
      parseStats(
        await getJson(
          httpUrl(a, `/stats?format=json&topic=${q(topic)}&channel=${q(channel)}&include_clients=false&include_mem=false`),
          timeouts,
        ),
      ),
    ),
  );
  const errors: string[] = [];
  let sum: SummedChannel | null = null;
  for (const r of replies) {
    if (r.status === "rejected") {
      errors.push(String(r.reason?.message ?? r.reason));
      continue;
    }
    for (const t of r.value.topics ?? []) {
      if (t.topic_name !== topic) continue;
      for (const c of t.channels) if (c.channel_name === channel) sum = addChannel(sum, c);
    }
  }
  if (producers.length > 0 && errors.length === producers.length) {
    throw new Error(`no nsqd answered: ${errors.join("; ")}`);
  }
  return { value: sum, errors };
}

function addChannel(sum: SummedChannel | null, c: ChannelStats): SummedChannel {
  const s = sum ?? {
    depth: 0, backendDepth: 0, inFlight: 0, deferred: 0, messages: 0,
    requeued: 0, timedOut: 0, clients: 0, paused: false, nodes: 0,
  };
  s.depth += c.depth;
  s.backendDepth += c.backend_depth;
  s.inFlight += c.in_flight_count;
  s.deferred += c.deferred_count;
  s.messages += c.message_count;
  s.requeued += c.requeue_count;
  s.timedOut += c.timeout_count;
  s.clients += c.client_count;
  s.paused ||= c.paused;
  s.nodes++;
  return s;
}

/** One nsqd as the dashboard knows it. */
export interface NodeState {
  /** host:http_port used for requests; also the node's identity */
  address: string;
  hostname: string;
  up: boolean;
  /** last failure (null while up) */
  error: string | null;
  /** time of the last good /stats (ms since epoch), null if it never answered */
  lastOkAt: number | null;
  /** when the current outage began */
  downSince: number | null;
  /** latest good /stats; kept while down so views still know which topics the node had */
  stats: NsqdStats | null;
  /** when `stats` was taken (ms since epoch, the moment the reply arrived) */
  sampledAt: number;
  /** lookupd no longer lists it (it is still shown until it answers again or is forgotten) */
  unlisted: boolean;
}

export interface ClusterSnapshot {
  /** when the snapshot was taken */
  at: number;
  /** every node known so far, sorted by address */
  nodes: NodeState[];
  /** lookupd failures (the node list may be stale) */
  discoveryErrors: string[];
  /** nodes dropped as having left the cluster (down past the grace period), until they return */
  left?: string[];
}

/** How a poller treats requests that take long. */
export interface PollerOptions {
  /**
   * A node whose /stats request has been out this long is shown down ("not answering") until it
   * answers, instead of keeping its last good numbers (default: never, the request timeout decides).
   */
  hungAfterMs?: number;
  /**
   * A node down longer than this has left the cluster and drops out of snapshots (default: never).
   * With lookupd, only once lookupd no longer lists it either (a node lookupd still lists is part
   * of the cluster, and stays visible as down); it is forgotten, and comes back if lookupd lists it
   * again. A node of a fixed --nsqd-http-address list is still polled, and reappears when it answers.
   */
  downGraceMs?: number;
}

/** The reason shown for a node whose request is out longer than `hungAfterMs`. */
export const NOT_ANSWERING = "not answering";

/**
 * Polls the whole cluster. Nodes once seen stay in the list: a node that stops answering, or that
 * lookupd dropped because its connection died, is shown as down rather than silently vanishing.
 *
 * Every node (and the lookupd discovery) is polled on its own: a round starts a request only
 * where none is out, so one hung node never holds back the others, and a snapshot can be taken
 * at any moment from whatever has answered.
 */
export class ClusterPoller {
  private readonly nodes = new Map<string, NodeState>();
  /** address → when its request still out was started */
  private readonly pending = new Map<string, number>();
  private discovering: Promise<void> | null = null;
  private discoveryErrors: string[] = [];
  /** addresses dropped by hasLeft(), until they answer (fixed list) or lookupd lists them again */
  private readonly left = new Set<string>();
  private readonly hungAfterMs: number;
  private readonly downGraceMs: number;

  constructor(
    private readonly source: ClusterSource,
    private readonly timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
    private readonly now: () => number = Date.now,
    options: PollerOptions = {},
  ) {
    this.hungAfterMs = options.hungAfterMs ?? Infinity;
    this.downGraceMs = options.downGraceMs ?? Infinity;
    for (const a of source.nsqdHttpAddresses) this.ensureNode(a, a);
  }

  private ensureNode(address: string, hostname: string): NodeState {
    let n = this.nodes.get(address);
    if (!n) {
      n = {
        address, hostname, up: false, error: "not polled yet", lastOkAt: null, downSince: null,
        stats: null, sampledAt: 0, unlisted: false,
      };
      this.nodes.set(address, n);
    }
    return n;
  }

  /** Drops a node from the list (e.g. an operator dismissing a decommissioned node). */
  forget(address: string): void {
    this.nodes.delete(address);
    this.pending.delete(address);
  }

  private async discover(): Promise<void> {
    const errors: string[] = [];
    const listed = new Set<string>();
    const replies = await Promise.allSettled(
      this.source.lookupdHttpAddresses.map((a) => getJson(httpUrl(a, "/nodes"), this.timeouts)),
    );
    for (const r of replies) {
      if (r.status === "rejected") {
        errors.push(String(r.reason?.message ?? r.reason));
        continue;
      }
      for (const p of parseProducers(r.value)) {
        const address = producerHttpAddress(p);
        listed.add(address);
        const n = this.ensureNode(address, p.hostname || address);
        n.hostname = p.hostname || n.hostname;
      }
    }
    // only trust "not listed" when every lookupd answered
    if (errors.length === 0) for (const n of this.nodes.values()) n.unlisted = !listed.has(n.address);
    this.discoveryErrors = errors;
  }

  private async pollNode(n: NodeState, startedAt: number): Promise<void> {
    try {
      // rates=true: `nsq serve` adds its own message rates (nsqd ignores the parameter)
      const body = await getJson(httpUrl(n.address, "/stats?format=json&include_mem=false&rates=true"), this.timeouts);
      n.stats = parseStats(body);
      n.sampledAt = this.now();
      n.lastOkAt = n.sampledAt;
      n.up = true;
      n.error = null;
      n.downSince = null;
      n.unlisted = false;
    } catch (err) {
      // the outage began when the request that failed went out, not when it gave up
      if (n.up || n.downSince === null) n.downSince = startedAt;
      n.up = false;
      // with a hung threshold, a timeout is the same condition the snapshot calls not answering
      n.error = err instanceof HttpTimeoutError && Number.isFinite(this.hungAfterMs)
        ? `${err.url}: ${NOT_ANSWERING}`
        : (err as Error).message;
    } finally {
      this.pending.delete(n.address);
    }
  }

  /** Starts a request to every known node that has none out; resolves when those have settled. */
  private pollIdleNodes(): Promise<void> {
    const started: Promise<void>[] = [];
    for (const n of this.nodes.values()) {
      if (this.pending.has(n.address)) continue;
      const at = this.now();
      this.pending.set(n.address, at);
      started.push(this.pollNode(n, at));
    }
    return Promise.all(started).then(() => {});
  }

  /**
   * Starts one round: discovery (unless one is still out) and a request to every node without
   * one out; nodes discovery finds are polled as soon as it answers. Resolves when everything
   * this round started has settled (each request is bounded by the request timeout).
   */
  startRound(): Promise<void> {
    const work: Promise<void>[] = [this.pollIdleNodes()];
    if (this.source.lookupdHttpAddresses.length > 0 && this.discovering === null) {
      this.discovering = this.discover().finally(() => {
        this.discovering = null;
      });
      work.push(this.discovering.then(() => this.pollIdleNodes()));
    }
    return Promise.all(work).then(() => {});
  }

  /**
   * The cluster as known now. A node whose request has been out longer than `hungAfterMs` is
   * marked down here ("not answering"); its next answer brings it back up.
   */
  snapshot(): ClusterSnapshot {
    const at = this.now();
    for (const [address, since] of this.pending) {
      const n = this.nodes.get(address);
      if (!n || at - since < this.hungAfterMs) continue;
      if (n.up || n.downSince === null) n.downSince = since;
      n.up = false;
      n.error = `${httpUrl(address, "/stats")}: ${NOT_ANSWERING}`;
    }
    const nodes = [...this.nodes.values()]
      .filter((n) => !this.hasLeft(n, at))
      .sort((a, b) => a.address.localeCompare(b.address));
    for (const n of nodes) this.left.delete(n.address);
    return { at, nodes: nodes.map((n) => ({ ...n })), discoveryErrors: [...this.discoveryErrors], left: [...this.left].sort() };
  }

  /** Down past the grace period (and, with lookupd, no longer listed): see PollerOptions.downGraceMs. */
  private hasLeft(n: NodeState, at: number): boolean {
    if (n.up || n.downSince === null || at - n.downSince <= this.downGraceMs) return false;
    if (this.source.lookupdHttpAddresses.length > 0) {
      if (!n.unlisted) return false;
      this.forget(n.address);
    }
    this.left.add(n.address);
    return true;
  }

  /**
   * One round, then a snapshot: waits for the round's requests, or at most `maxWaitMs` (those
   * still out then are left running and counted by later snapshots). Never throws.
   */
  async poll(maxWaitMs = Infinity): Promise<ClusterSnapshot> {
    const round = this.startRound();
    if (Number.isFinite(maxWaitMs)) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, maxWaitMs));
      });
      await Promise.race([round, deadline]);
      clearTimeout(timer);
    } else {
      await round;
    }
    return this.snapshot();
  }
}
