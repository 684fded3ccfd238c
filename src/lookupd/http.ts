/**
 * nsqlookupd's HTTP API (spec §5.3) on Bun.serve, with the response conventions of spec §3.1:
 * every JSON-API reply carries `X-NSQ-Content-Type: nsq; version=1.0` (go-nsq depends on it),
 * errors are `{"message":"<CODE>"}`, unknown paths 404 NOT_FOUND, wrong methods 405.
 */
import { isValidChannelName, isValidTopicName } from "../protocol/names.ts";
import { NSQ_VERSION } from "../protocol/version.ts";
import type { Logger } from "../util/logger.ts";
import { listenHost, splitHostPort } from "../protocol/address.ts";
import { startHttpListener, type HttpListener } from "../http-api/listener.ts";
import { firstValue, parseRequestQuery, type QueryParams } from "../http-api/query.ts";
import { splitTarget, targetText } from "../http-api/request.ts";
import { allowHeader, badRequestResponse, errorBody, HttpError, JSON_TYPE, NSQ_CONTENT_TYPE, optionsResponse, TEXT_TYPE, trailingSlashRedirect } from "../http-api/response.ts";
import { filterActive, type Producer, type RegistrationDB } from "./registration-db.ts";
import { LookupdMetrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
import { goListenerAddress } from "../protocol/listener-address.ts";

export interface LookupHttpContext {
  db: RegistrationDB;
  logger: Logger;
  inactiveProducerTimeout: number;
  tombstoneLifetime: number;
}

/** What a route handler produces; turned into a Response by `respond`. */
type Reply =
  | { kind: "json"; status: number; body: string }
  | { kind: "text"; status: number; body: string; v1: boolean }
  | { kind: "empty" }
  /** beyond nsqlookupd: GET /metrics, produced asynchronously (src/lookupd/metrics.ts) */
  | { kind: "async"; response: Promise<Response> };

type Handler = (params: QueryParams) => Reply;

const json = (value: unknown): Reply => ({ kind: "json", status: 200, body: JSON.stringify(value) });
const EMPTY: Reply = { kind: "empty" };

/** Go's zero time.Time as UnixNano: what /debug shows for a producer never tombstoned. */
const GO_ZERO_TIME_NS = -6795364578871345152n;

export class LookupHttpServer {
  private listener: HttpListener | null = null;
  /** as the start-up line printed it, for the shutdown line */
  private listenAddress = "";
  private readonly routes = new Map<string, Map<string, Handler>>();

  constructor(private readonly ctx: LookupHttpContext) {
    this.route("GET", "/ping", () => ({ kind: "text", status: 200, body: "OK", v1: false }));
    this.route("GET", "/info", () => json({ version: NSQ_VERSION }));
    this.route("GET", "/debug", () => this.debug());
    this.route("GET", "/lookup", (p) => this.lookup(p));
    this.route("GET", "/topics", () => json({ topics: this.ctx.db.findRegistrations("topic", "*", "").map((r) => r.key) }));
    this.route("GET", "/channels", (p) => this.channels(p));
    this.route("GET", "/nodes", () => this.nodes());
    this.route("POST", "/topic/create", (p) => this.createTopic(p));
    this.route("POST", "/topic/delete", (p) => this.deleteTopic(p));
    this.route("POST", "/channel/create", (p) => this.createChannel(p));
    this.route("POST", "/channel/delete", (p) => this.deleteChannel(p));
    this.route("POST", "/topic/tombstone", (p) => this.tombstoneTopicProducer(p));
    this.route("GET", "/metrics", () => this.metrics());
  }

  private metricsRegistry: LookupdMetrics | null = null;

  private metrics(): Reply {
    this.metricsRegistry ??= new LookupdMetrics(this.ctx);
    const body = this.metricsRegistry.text();
    return { kind: "async", response: body.then((text) => new Response(text, { headers: { "Content-Type": METRICS_CONTENT_TYPE } })) };
  }

  get port(): number {
    return this.listener?.port ?? 0;
  }

  async listen(address: string): Promise<void> {
    const { host, port } = splitHostPort(address);
    // a failed bind throws nsqlookupd's `listen (<address>) failed - …`
    this.listener = startHttpListener({
      address,
      target: { kind: "tcp", host: listenHost(host), port },
      handle: (req, peer) => this.handle(req, peer?.address ?? ""),
      onError: (err) => {
        this.ctx.logger.error(`panic in HTTP handler - ${err.message}`);
        return this.respond({ kind: "json", status: 500, body: errorBody("INTERNAL_ERROR") }) as Response; // json: never async
      },
    });
    this.listenAddress = goListenerAddress(host, this.port);
    this.ctx.logger.info(`HTTP: listening on ${this.listenAddress}`);
  }

  /** Out of file descriptors: stop accepting (src/util/fd-guard.ts); resume() listens again. */
  pause(): boolean {
    return this.listener?.pause() ?? false;
  }

  resume(): void {
    if (this.listener !== null && !this.listener.resume()) this.ctx.logger.error(`HTTP: could not listen on port ${this.port} again`);
  }

  async close(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    if (!listener) return;
    await listener.stop();
    this.ctx.logger.info(`HTTP: closing ${this.listenAddress}`);
  }

  /** Routes one request (never throws: a failing handler becomes 500 INTERNAL_ERROR). */
  handle(req: Request, remote = ""): Response | Promise<Response> {
    const start = performance.now();
    const { path, rawQuery, malformed } = splitTarget(req.url);
    if (malformed) return badRequestResponse(); // as Go's server, before routing
    let reply: Reply;
    let extraHeaders: Record<string, string> = {};
    const methods = this.routes.get(path);
    try {
      if (!methods) {
        const redirect = trailingSlashRedirect(req.method, path, rawQuery, (p, m) => this.routes.get(p)?.has(m) === true);
        if (redirect !== null) return redirect;
        throw new HttpError(404, "NOT_FOUND");
      }
      const handler = methods.get(req.method);
      if (!handler) {
        const allow = allowHeader(methods.keys());
        if (req.method === "OPTIONS") return optionsResponse(allow);
        extraHeaders = { Allow: allow };
        throw new HttpError(405, "METHOD_NOT_ALLOWED");
      }
      reply = handler(parseRequestQuery(rawQuery ?? ""));
    } catch (err) {
      if (err instanceof HttpError) {
        reply = { kind: "json", status: err.status, body: errorBody(err.code) };
      } else {
        this.ctx.logger.error(`panic in HTTP handler - ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
        reply = { kind: "json", status: 500, body: errorBody("INTERNAL_ERROR") };
      }
    }
    const status = reply.kind === "empty" || reply.kind === "async" ? 200 : reply.status;
    this.ctx.logger.info(`${status} ${req.method} ${targetText({ path, rawQuery })} (${remote}) ${(performance.now() - start).toFixed(3)}ms`);
    return this.respond(reply, extraHeaders);
  }

  private respond(reply: Reply, extraHeaders: Record<string, string> = {}): Response | Promise<Response> {
    switch (reply.kind) {
      case "async":
        return reply.response;
      case "json":
        return new Response(reply.body, {
          status: reply.status,
          headers: { "Content-Type": JSON_TYPE, "X-NSQ-Content-Type": NSQ_CONTENT_TYPE, ...extraHeaders },
        });
      case "text": {
        const headers: Record<string, string> = { "Content-Type": TEXT_TYPE };
        if (reply.v1) headers["X-NSQ-Content-Type"] = NSQ_CONTENT_TYPE;
        return new Response(reply.body, { status: reply.status, headers });
      }
      case "empty":
        return new Response(null, { status: 200, headers: { "X-NSQ-Content-Type": NSQ_CONTENT_TYPE } });
    }
  }

  private route(method: string, path: string, handler: Handler): void {
    let methods = this.routes.get(path);
    if (!methods) {
      methods = new Map();
      this.routes.set(path, methods);
    }
    methods.set(method, handler);
  }

  private channels(params: QueryParams): Reply {
    const topic = requireParam(params, "topic", "MISSING_ARG_TOPIC");
    return json({ channels: this.channelNames(topic) });
  }

  private lookup(params: QueryParams): Reply {
    const topic = requireParam(params, "topic", "MISSING_ARG_TOPIC");
    const db = this.ctx.db;
    if (db.findRegistrations("topic", topic, "").length === 0) throw new HttpError(404, "TOPIC_NOT_FOUND");
    const producers = filterActive(
      db.findProducers("topic", topic, ""),
      this.ctx.inactiveProducerTimeout,
      this.ctx.tombstoneLifetime,
    );
    return json({ channels: this.channelNames(topic), producers: producers.map(peerJson) });
  }

  private nodes(): Reply {
    const db = this.ctx.db;
    // tombstoned producers stay listed here (lifetime 0 disables that filter); only inactivity hides
    const clients = filterActive(db.findProducers("client", "", ""), this.ctx.inactiveProducerTimeout, 0);
    const now = Date.now();
    const nodes = clients.map((client) => {
      const topics = db
        .lookupRegistrations(client.peer.id)
        .filter((r) => r.category === "topic")
        .map((r) => r.key);
      const tombstones = topics.map(
        (t) =>
          db.producerOf({ category: "topic", key: t, subKey: "" }, client.peer.id)?.isTombstoned(this.ctx.tombstoneLifetime, now) ??
          false,
      );
      return { ...peerJson(client), tombstones, topics };
    });
    return json({ producers: nodes });
  }

  private createTopic(params: QueryParams): Reply {
    const topic = requireParam(params, "topic", "MISSING_ARG_TOPIC");
    if (!isValidTopicName(topic)) throw new HttpError(400, "INVALID_ARG_TOPIC");
    this.ctx.logger.info(`DB: adding topic(${topic})`);
    this.ctx.db.addRegistration({ category: "topic", key: topic, subKey: "" });
    return EMPTY;
  }

  private deleteTopic(params: QueryParams): Reply {
    const topic = requireParam(params, "topic", "MISSING_ARG_TOPIC");
    const db = this.ctx.db;
    for (const r of db.findRegistrations("channel", topic, "*")) {
      this.ctx.logger.info(`DB: removing channel(${r.subKey}) from topic(${topic})`);
      db.removeRegistration(r);
    }
    for (const r of db.findRegistrations("topic", topic, "")) {
      this.ctx.logger.info(`DB: removing topic(${topic})`);
      db.removeRegistration(r);
    }
    return EMPTY;
  }

  private createChannel(params: QueryParams): Reply {
    const { topic, channel } = topicChannelArgs(params);
    this.ctx.logger.info(`DB: adding channel(${channel}) in topic(${topic})`);
    this.ctx.db.addRegistration({ category: "channel", key: topic, subKey: channel });
    this.ctx.logger.info(`DB: adding topic(${topic})`);
    this.ctx.db.addRegistration({ category: "topic", key: topic, subKey: "" });
    return EMPTY;
  }

  private deleteChannel(params: QueryParams): Reply {
    const { topic, channel } = topicChannelArgs(params);
    const registrations = this.ctx.db.findRegistrations("channel", topic, channel);
    if (registrations.length === 0) throw new HttpError(404, "CHANNEL_NOT_FOUND");
    this.ctx.logger.info(`DB: removing channel(${channel}) from topic(${topic})`);
    for (const r of registrations) this.ctx.db.removeRegistration(r);
    return EMPTY;
  }

  private tombstoneTopicProducer(params: QueryParams): Reply {
    const topic = requireParam(params, "topic", "MISSING_ARG_TOPIC");
    const node = requireParam(params, "node", "MISSING_ARG_NODE");
    this.ctx.logger.info(`DB: setting tombstone for producer@${node} of topic(${topic})`);
    const now = Date.now();
    for (const p of this.ctx.db.findProducers("topic", topic, "")) {
      // node is compared as text with "broadcast_address:http_port", exactly as nsqadmin sends it
      if (`${p.peer.broadcastAddress}:${p.peer.httpPort}` === node) p.tombstone(now);
    }
    return EMPTY;
  }

  /** Hand-built JSON: nanosecond timestamps exceed 2^53 and must be printed exactly. */
  private debug(): Reply {
    const groups = new Map<string, Producer[]>();
    for (const { registration: r, producers } of this.ctx.db.all()) {
      // like Go, a registration without producers does not appear at all
      if (producers.length === 0) continue;
      groups.set(`${r.category}:${r.key}:${r.subKey}`, producers);
    }
    const keys = [...groups.keys()].sort();
    const entries = keys.map((key) => {
      const items = groups.get(key)!.map((p) => {
        const tombstonedAt = p.tombstoned ? msToNs(p.tombstonedAt) : GO_ZERO_TIME_NS;
        return (
          `{"broadcast_address":${JSON.stringify(p.peer.broadcastAddress)},` +
          `"hostname":${JSON.stringify(p.peer.hostname)},` +
          `"http_port":${p.peer.httpPort},` +
          `"id":${JSON.stringify(p.peer.id)},` +
          `"last_update":${msToNs(p.peer.lastUpdate)},` +
          `"tcp_port":${p.peer.tcpPort},` +
          `"tombstoned":${p.tombstoned},` +
          `"tombstoned_at":${tombstonedAt},` +
          `"version":${JSON.stringify(p.peer.version)}}`
        );
      });
      return `${JSON.stringify(key)}:[${items.join(",")}]`;
    });
    return { kind: "json", status: 200, body: `{${entries.join(",")}}` };
  }

  private channelNames(topic: string): string[] {
    return this.ctx.db.findRegistrations("channel", topic, "*").map((r) => r.subKey);
  }
}

/** PEER object of /lookup (and the first fields of a /nodes NODE), in Go's struct field order. */
function peerJson(p: Producer) {
  return {
    remote_address: p.peer.remoteAddress,
    hostname: p.peer.hostname,
    broadcast_address: p.peer.broadcastAddress,
    tcp_port: p.peer.tcpPort,
    http_port: p.peer.httpPort,
    version: p.peer.version,
  };
}

function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms)) * 1_000_000n;
}

function requireParam(params: QueryParams, key: string, missingCode: string): string {
  const value = firstValue(params, key);
  if (value === undefined) throw new HttpError(400, missingCode);
  return value;
}

function topicChannelArgs(params: QueryParams): { topic: string; channel: string } {
  const topic = requireParam(params, "topic", "MISSING_ARG_TOPIC");
  if (!isValidTopicName(topic)) throw new HttpError(400, "INVALID_ARG_TOPIC");
  const channel = requireParam(params, "channel", "MISSING_ARG_CHANNEL");
  if (!isValidChannelName(channel)) throw new HttpError(400, "INVALID_ARG_CHANNEL");
  return { topic, channel };
}
