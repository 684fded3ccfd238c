/**
 * Reading and changing a cluster for nsqadmin (NSQ's internal/clusterinfo): topic and node lists
 * from nsqlookupd or a fixed nsqd list, per-node /stats, and the admin actions fanned out to every
 * lookupd and every nsqd producing the topic.
 *
 * Every call asks all nodes at once. Nodes that fail are reported in `errors` (the API turns them
 * into `"message": "WARNING: ..."`); only when none answered does a call throw UpstreamError
 * (502 UPSTREAM_ERROR), as clusterinfo's PartialErr / error split.
 */
import { getJson, httpUrl, HttpStatusError, postAction, type HttpTimeouts } from "../http-api/api-request.ts";
import { joinHostPort } from "../protocol/address.ts";
import { list, obj, str, strings } from "../http-api/json-fields.ts";
import { parseInfo, parseProducer as parseLookupdProducer, parseTopicNames, producerHttpAddress } from "../http-api/node-json.ts";
import type { Logger } from "../util/logger.ts";
import { parseNodeTopics, type AdminTopicStats } from "./stats.ts";

/** Every node asked failed: the API answers 502 `UPSTREAM_ERROR: <message>`. */
export class UpstreamError extends Error {
  override name = "UpstreamError";
}

/** A result some nodes contributed to; `errors` names the ones that failed. */
export interface Partial<T> {
  value: T;
  errors: string[];
}

import type { Producer, ProducerTopic } from "./api-types.ts";

export type { Producer, ProducerTopic };

/** broadcast_address:http_port, the name nsqadmin gives a node (IPv6 in brackets). */
export { producerHttpAddress };

function producerTcpAddress(p: Pick<Producer, "broadcast_address" | "tcp_port">): string {
  return joinHostPort(p.broadcast_address, p.tcp_port);
}

/** A lookupd producer entry (PEER of /lookup or NODE of /nodes) with the fields nsqadmin adds. */
function parseProducer(v: unknown): Producer {
  const o = obj(v);
  const topics = strings(o.topics);
  const tombstones = list(o.tombstones);
  return {
    remote_addresses: null,
    ...parseLookupdProducer(o),
    topics: topics.length > 0 ? topics.map((topic, i) => ({ topic, tombstoned: tombstones[i] === true })) : null,
    out_of_date: false,
  };
}

/** semver comparison on major.minor.patch; unparsable versions count as 0.0.0 */
function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const q = encodeURIComponent;

export class ClusterInfo {
  constructor(
    private readonly timeouts: () => HttpTimeouts,
    private readonly logger: Logger,
  ) {}

  private get(url: string): Promise<unknown> {
    this.logger.debug(`CI: querying ${url}`);
    return getJson(url, this.timeouts());
  }

  private post(url: string): Promise<void> {
    this.logger.debug(`CI: querying ${url}`);
    return postAction(url, this.timeouts());
  }

  /**
   * Asks every address; rejects with UpstreamError when every one failed (and there was one).
   * `tolerate` turns a failure into an answer (e.g. lookupd's 404 TOPIC_NOT_FOUND).
   */
  private async each<T>(
    what: string,
    addrs: readonly string[],
    ask: (addr: string) => Promise<T>,
  ): Promise<{ answers: Array<{ addr: string; value: T }>; errors: string[] }> {
    const settled = await Promise.allSettled(addrs.map(ask));
    const answers: Array<{ addr: string; value: T }> = [];
    const errors: string[] = [];
    settled.forEach((r, i) => {
      if (r.status === "fulfilled") answers.push({ addr: addrs[i]!, value: r.value });
      else errors.push(errText(r.reason));
    });
    if (addrs.length > 0 && answers.length === 0) throw new UpstreamError(`failed to query any ${what}: ${errors.join("; ")}`);
    return { answers, errors };
  }

  /** Sorted union of every lookupd's /topics. */
  async lookupdTopics(lookupds: readonly string[]): Promise<Partial<string[]>> {
    const r = await this.each("nsqlookupd", lookupds, (a) => this.get(httpUrl(a, "/topics")));
    const topics = new Set<string>();
    for (const { value } of r.answers) for (const t of parseTopicNames(value)) topics.add(t);
    return { value: [...topics].sort(), errors: r.errors };
  }

  /** Sorted union of every lookupd's /channels?topic=. */
  async lookupdTopicChannels(topic: string, lookupds: readonly string[]): Promise<Partial<string[]>> {
    const r = await this.each("nsqlookupd", lookupds, (a) => this.get(httpUrl(a, `/channels?topic=${q(topic)}`)));
    const channels = new Set<string>();
    for (const { value } of r.answers) for (const c of strings(obj(value).channels)) channels.add(c);
    return { value: [...channels].sort(), errors: r.errors };
  }

  /** Every nsqd registered with any lookupd, deduplicated by broadcast_address:tcp_port. */
  async lookupdProducers(lookupds: readonly string[]): Promise<Partial<Producer[]>> {
    const r = await this.each("nsqlookupd", lookupds, (a) => this.get(httpUrl(a, "/nodes")));
    const byAddr = new Map<string, Producer>();
    let maxVersion = "0.0.0";
    for (const { addr, value } of r.answers) {
      for (const raw of list(obj(value).producers)) {
        const p = parseProducer(raw);
        const key = producerTcpAddress(p);
        let known = byAddr.get(key);
        if (!known) {
          known = p;
          known.topics?.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
          byAddr.set(key, known);
          if (compareVersions(p.version, maxVersion) > 0) maxVersion = p.version;
        }
        (known.remote_addresses ??= []).push(`${addr}/${p.remote_address === "" ? "N/A" : p.remote_address}`);
      }
    }
    const producers = [...byAddr.values()];
    for (const p of producers) p.out_of_date = compareVersions(p.version, maxVersion) < 0;
    producers.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : producerHttpAddress(a) < producerHttpAddress(b) ? -1 : 1));
    return { value: producers, errors: r.errors };
  }

  /**
   * Producers of a topic: the union of every lookupd's /lookup. `known` is false when every
   * lookupd answered 404 TOPIC_NOT_FOUND (no lookupd has the topic at all).
   */
  async lookupdTopicProducers(topic: string, lookupds: readonly string[]): Promise<Partial<{ producers: Producer[]; known: boolean }>> {
    let known = false;
    const r = await this.each("nsqlookupd", lookupds, async (a) => {
      try {
        const reply = await this.get(httpUrl(a, `/lookup?topic=${q(topic)}`));
        known = true;
        return reply;
      } catch (err) {
        if (err instanceof HttpStatusError && err.status === 404) return {};
        throw err;
      }
    });
    const producers: Producer[] = [];
    for (const { value } of r.answers) {
      for (const raw of list(obj(value).producers)) {
        const p = parseProducer(raw);
        if (!producers.some((x) => producerHttpAddress(x) === producerHttpAddress(p))) producers.push(p);
      }
    }
    return { value: { producers, known }, errors: r.errors };
  }

  /** Sorted union of the topics of the given nsqd (from /stats). */
  async nsqdTopics(nsqds: readonly string[]): Promise<Partial<string[]>> {
    const r = await this.each("nsqd", nsqds, (a) => this.get(httpUrl(a, "/stats?format=json&include_clients=false&include_mem=false")));
    const topics = new Set<string>();
    for (const { value } of r.answers) for (const t of list(obj(value).topics)) topics.add(str(obj(t).topic_name));
    return { value: [...topics].sort(), errors: r.errors };
  }

  /** The given nsqd as producers, from /info and /stats (only those with `topic`, when given). */
  async nsqdProducers(nsqds: readonly string[], topic?: string): Promise<Partial<Producer[]>> {
    const filter = topic === undefined ? "" : `&topic=${q(topic)}`;
    const r = await this.each("nsqd", nsqds, async (a) => {
      const stats = obj(await this.get(httpUrl(a, `/stats?format=json&include_clients=false&include_mem=false${filter}`)));
      const topics = list(stats.topics).map((t) => str(obj(t).topic_name));
      if (topic !== undefined && !topics.includes(topic)) return null;
      const info = parseInfo(await this.get(httpUrl(a, "/info")));
      // an nsqd that does not say where it is: the address it was reached on
      const hostPort = /^(?:https?:\/\/)?(\[[^\]]+\]|[^:]+):(\d+)/.exec(a);
      const host = hostPort ? hostPort[1]!.replace(/^\[|\]$/g, "") : a;
      const producer: Producer = {
        remote_addresses: null,
        remote_address: "",
        hostname: info.hostname || host,
        broadcast_address: info.broadcast_address || host,
        tcp_port: info.tcp_port,
        http_port: info.broadcast_address ? info.http_port : Number(hostPort?.[2] ?? 0),
        version: info.version,
        topics: topics.length > 0 ? topics.sort().map((t) => ({ topic: t, tombstoned: false })) : null,
        out_of_date: false,
      };
      return producer;
    });
    return { value: r.answers.flatMap((x) => (x.value ? [x.value] : [])), errors: r.errors };
  }

  async producers(lookupds: readonly string[], nsqds: readonly string[]): Promise<Partial<Producer[]>> {
    return lookupds.length > 0 ? this.lookupdProducers(lookupds) : this.nsqdProducers(nsqds);
  }

  private shared: {
    key: string;
    /** the latest answer and when its request started */
    last: Partial<Producer[]> | null;
    lastAt: number;
    /** the request out now, and when it started */
    pending: Promise<Partial<Producer[]>> | null;
    pendingAt: number;
  } | null = null;

  /**
   * producers() for callers that only need to find a node in the list (/api/nodes/:node, which
   * the UI asks for every node every second): one request per `refreshMs` is shared by all, and
   * while a newer one is out the last answer (up to `staleMs` old) is used at once, so one slow
   * lookupd delays nothing but the list's freshness. `fresh` waits for a list started now
   * (e.g. before answering NODE_NOT_FOUND).
   */
  producersShared(
    lookupds: readonly string[],
    nsqds: readonly string[],
    refreshMs: number,
    staleMs: number,
    fresh = false,
  ): Promise<Partial<Producer[]>> {
    const key = JSON.stringify([lookupds, nsqds]);
    const now = Date.now();
    if (this.shared?.key !== key) this.shared = { key, last: null, lastAt: 0, pending: null, pendingAt: 0 };
    const s = this.shared;
    if (s.pending === null && (fresh || s.last === null || now - Math.max(s.lastAt, s.pendingAt) >= refreshMs)) {
      const started = now;
      const request = this.producers(lookupds, nsqds);
      s.pending = request;
      s.pendingAt = started;
      request
        .then((r) => {
          if (started >= s.lastAt) {
            s.last = r;
            s.lastAt = started;
          }
        }, () => {})
        .finally(() => {
          if (s.pending === request) s.pending = null;
        });
    }
    if (!fresh && s.last !== null && now - s.lastAt < staleMs) return Promise.resolve(s.last);
    // no usable answer yet: wait for the one out (started above when none was)
    return s.pending ?? this.producers(lookupds, nsqds);
  }

  /** Producers of a topic; `known` false when no lookupd (or no nsqd) has heard of it. */
  async topicProducers(topic: string, lookupds: readonly string[], nsqds: readonly string[]): Promise<Partial<{ producers: Producer[]; known: boolean }>> {
    if (lookupds.length > 0) return this.lookupdTopicProducers(topic, lookupds);
    const r = await this.nsqdProducers(nsqds, topic);
    return { value: { producers: r.value, known: r.value.length > 0 }, errors: r.errors };
  }

  /**
   * Every producer's /stats (narrowed to topic / channel when given), as per-node topic objects
   * sorted by hostname. No producers: an empty list (nsqadmin answers 502 there).
   */
  async nsqdStats(
    producers: readonly Producer[],
    topic: string,
    channel: string,
    includeClients: boolean,
  ): Promise<Partial<AdminTopicStats[]> & { health: Map<string, string> }> {
    // rates=true: `nsq serve` adds the rates it measures itself (nsqd ignores the parameter)
    let query = "/stats?format=json&include_mem=false&rates=true";
    if (topic !== "") {
      query += `&topic=${q(topic)}`;
      if (channel !== "") query += `&channel=${q(channel)}`;
    }
    if (!includeClients) query += "&include_clients=false";
    const addrs = producers.map(producerHttpAddress);
    const r = await this.each("nsqd", addrs, (a) => this.get(httpUrl(a, query)));
    const out: AdminTopicStats[] = [];
    const health = new Map<string, string>();
    for (const { addr, value } of r.answers) {
      const p = producers[addrs.indexOf(addr)]!;
      health.set(addr, str(obj(value).health));
      for (const t of parseNodeTopics(value, addr, p.hostname)) if (topic === "" || t.topic_name === topic) out.push(t);
    }
    out.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.node < b.node ? -1 : 1));
    return { value: out, errors: r.errors, health };
  }

  /** POSTs `path` to each address in turn; failures are collected, never thrown. */
  private async postAll(addrs: readonly string[], path: string): Promise<string[]> {
    const settled = await Promise.allSettled(addrs.map((a) => this.post(httpUrl(a, path))));
    return settled.flatMap((r) => (r.status === "rejected" ? [errText(r.reason)] : []));
  }

  /** Tombstones `node` for `topic` on every lookupd, then deletes the topic on that nsqd. */
  async tombstoneNodeForTopic(topic: string, node: string, lookupds: readonly string[]): Promise<string[]> {
    const errors = await this.postAll(lookupds, `/topic/tombstone?topic=${q(topic)}&node=${q(node)}`);
    const p = await this.nsqdProducers([node]);
    errors.push(...p.errors);
    errors.push(...(await this.postAll(p.value.map(producerHttpAddress), `/topic/delete?topic=${q(topic)}`)));
    return errors;
  }

  /** Creates the topic (and channel) on every lookupd; a channel also on every producer. */
  async createTopicChannel(topic: string, channel: string, lookupds: readonly string[]): Promise<string[]> {
    const errors = await this.postAll(lookupds, `/topic/create?topic=${q(topic)}`);
    if (channel !== "") {
      const qs = `topic=${q(topic)}&channel=${q(channel)}`;
      errors.push(...(await this.postAll(lookupds, `/channel/create?${qs}`)));
      const p = await this.lookupdTopicProducers(topic, lookupds).catch((err: unknown) => ({ value: { producers: [], known: false }, errors: [errText(err)] }));
      errors.push(...p.errors);
      errors.push(...(await this.postAll(p.value.producers.map(producerHttpAddress), `/channel/create?${qs}`)));
    }
    return errors;
  }

  async deleteTopic(topic: string, lookupds: readonly string[], nsqds: readonly string[]): Promise<string[]> {
    // the producers first: once lookupd forgets the topic they can no longer be found
    const p = await this.topicProducers(topic, lookupds, nsqds);
    const qs = `topic=${q(topic)}`;
    const errors = [...p.errors, ...(await this.postAll(lookupds, `/topic/delete?${qs}`))];
    errors.push(...(await this.postAll(p.value.producers.map(producerHttpAddress), `/topic/delete?${qs}`)));
    return errors;
  }

  async deleteChannel(topic: string, channel: string, lookupds: readonly string[], nsqds: readonly string[]): Promise<string[]> {
    const p = await this.topicProducers(topic, lookupds, nsqds);
    const qs = `topic=${q(topic)}&channel=${q(channel)}`;
    const errors = [...p.errors, ...(await this.postAll(lookupds, `/channel/delete?${qs}`))];
    errors.push(...(await this.postAll(p.value.producers.map(producerHttpAddress), `/channel/delete?${qs}`)));
    return errors;
  }

  /** pause / unpause / empty a topic or channel on every nsqd producing the topic. */
  /** `known` is false when no lookupd (or listed nsqd) has heard of the topic: nothing was done. */
  async action(
    action: "pause" | "unpause" | "empty",
    topic: string,
    channel: string,
    lookupds: readonly string[],
    nsqds: readonly string[],
  ): Promise<{ errors: string[]; known: boolean }> {
    const p = await this.topicProducers(topic, lookupds, nsqds);
    const path = channel === ""
      ? `/topic/${action}?topic=${q(topic)}`
      : `/channel/${action}?topic=${q(topic)}&channel=${q(channel)}`;
    const errors = [...p.errors, ...(await this.postAll(p.value.producers.map(producerHttpAddress), path))];
    return { errors, known: p.value.known || p.errors.length > 0 };
  }
}
