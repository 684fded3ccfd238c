/**
 * nsqd's HTTP API (spec §3) on Bun.serve: every route of nsqd v1.3.0 with its status codes,
 * `{"message":"CODE"}` error bodies and the `X-NSQ-Content-Type: nsq; version=1.0` header that
 * go-nsq relies on (spec §3.1). Topic/channel changes go through the broker's own methods, so
 * HTTP and TCP share one path for persistence and lookupd notifications.
 *
 * A client speaking the TCP protocol to this port ("  V2", "PUB ...") gets Bun's own
 * `400 Bad Request` and the connection is closed (tested in test/http-api.test.ts).
 */
import { hostname as osHostname } from "node:os";
import type { TLSOptions } from "bun";
import type { Nsqd } from "./nsqd.ts";
import { preciseNowMs } from "./message.ts";
import type { Topic } from "./topic.ts";
import { parseListenAddress, joinHostPort } from "../protocol/address.ts";
import { isValidChannelName, isValidTopicName } from "../protocol/names.ts";
import { NSQ_VERSION, NSQD_BUILT_WITH, PACKAGE_VERSION, RUNTIME } from "../protocol/version.ts";
import { formatDuration } from "../util/duration.ts";
import { parseQuery, parseRequestQuery, firstValue, type QueryParams } from "../http-api/query.ts";
import { splitTarget, targetText } from "../http-api/request.ts";
import { allowHeader, badRequestResponse, errorBody, goRedirect, HttpError, JSON_TYPE, NSQ_CONTENT_TYPE, optionsResponse, TEXT_TYPE, trailingSlashRedirect } from "../http-api/response.ts";
import { startHttpListener } from "../http-api/listener.ts";
import { MSG_HEADER_SIZE } from "./message.ts";
import { BodyError, BodyReader, readBinaryMpub, splitTextMpub } from "./http-body.ts";
import { ConfigError, getConfigValue, putConfigValue, type ConfigTarget } from "./http-config.ts";
import { collectStats, formatStatsText, goJson, parseStatsBool } from "./stats.ts";
import { maxDeferTimeout } from "./options.ts";
import { statsExtras } from "./stats-extras.ts";
import { registerOpsRoutes } from "./http-ops.ts";

export interface HttpServerHandle {
  port: number;
  address: string;
  stop(): void;
  /** out of file descriptors: stop accepting, keep serving (see src/util/fd-guard.ts) */
  pause?(): boolean;
  resume?(): boolean;
}

/** What a route produces; turned into a Response by `toResponse`. */
export type Reply =
  | { kind: "json"; status: number; body: string }
  | { kind: "text"; status: number; body: string; type?: string }
  | { kind: "empty"; status: number };

/** An error whose reply is plain text (PlainText-decorated routes: /ping, /debug/setblockrate). */
class TextError extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(text);
  }
}

const OK: Reply = { kind: "text", status: 200, body: "OK" };
const EMPTY: Reply = { kind: "empty", status: 200 };
const json = (value: unknown): Reply => ({ kind: "json", status: 200, body: goJson(value) });

export interface RequestContext {
  req: Request;
  path: string;
  /** the raw query string (no "?"), "" when absent */
  rawQuery: string;
  /** the `:opt` segment of /config/:opt */
  param: string;
}

export type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;

interface Route {
  handler: Handler;
  /** logged like nsqd's http_api.Log decorator (nsqd does not log /pub and /mpub) */
  log: boolean;
  /**
   * nsqd's V1 decorator: replies carry X-NSQ-Content-Type. False for the PlainText routes (/ping,
   * /debug/setblockrate, /debug/freememory) and the undecorated pprof ones.
   */
  v1: boolean;
}

/**
 * The routes, independent of the listener: `startHttpServer` below serves them over plain HTTP,
 * src/server/https.ts over HTTPS (`tlsEnabled` true: never answers 403 TLS_REQUIRED).
 */
export class NsqdHttpServer {
  private readonly routes = new Map<string, Map<string, Route>>();
  private readonly configRoutes = new Map<string, Route>();

  constructor(
    private readonly nsqd: Nsqd,
    private readonly tlsEnabled: boolean,
  ) {
    this.route("GET", "/ping", () => this.ping(), true, false);
    this.route("GET", "/info", () => this.info());
    this.route("POST", "/pub", (c) => this.pub(c), false);
    this.route("POST", "/mpub", (c) => this.mpub(c), false);
    this.route("GET", "/stats", (c) => this.stats(c));
    this.route("POST", "/topic/create", (c) => this.createTopic(c));
    this.route("POST", "/topic/delete", (c) => this.deleteTopic(c));
    this.route("POST", "/topic/empty", (c) => this.emptyTopic(c));
    this.route("POST", "/topic/pause", (c) => this.pauseTopic(c, true));
    this.route("POST", "/topic/unpause", (c) => this.pauseTopic(c, false));
    this.route("POST", "/channel/create", (c) => this.createChannel(c));
    this.route("POST", "/channel/delete", (c) => this.deleteChannel(c));
    this.route("POST", "/channel/empty", (c) => this.emptyChannel(c));
    this.route("POST", "/channel/pause", (c) => this.pauseChannel(c, true));
    this.route("POST", "/channel/unpause", (c) => this.pauseChannel(c, false));
    this.configRoutes.set("GET", { handler: (c) => this.config(c), log: true, v1: true });
    this.configRoutes.set("PUT", { handler: (c) => this.config(c), log: true, v1: true });
    // Go's profiler has no Bun equivalent: the routes exist (so methods are checked) but say so
    this.route("GET", "/debug/pprof/", () => ({ kind: "text", status: 200, body: PPROF_INDEX }), false, false);
    this.route("GET", "/debug/pprof/cmdline", () => ({ kind: "text", status: 200, body: process.argv.join("\x00") }), false, false);
    this.route("GET", "/debug/pprof/symbol", () => ({ kind: "text", status: 200, body: "num_symbols: 0\n" }), false, false);
    this.route("POST", "/debug/pprof/symbol", () => ({ kind: "text", status: 200, body: "num_symbols: 0\n" }), false, false);
    for (const name of ["profile", "heap", "goroutine", "block", "threadcreate"]) {
      this.route("GET", `/debug/pprof/${name}`, () => pprofUnavailable(name), false, false);
    }
    this.route("PUT", "/debug/setblockrate", (c) => this.setBlockRate(c), true, false);
    this.route("POST", "/debug/freememory", () => this.freeMemory(), true, false);
    registerOpsRoutes(this.nsqd, (method, path, handler, log) => this.route(method, path, handler, log));
  }

  private route(method: string, path: string, handler: Handler, log = true, v1 = true): void {
    let methods = this.routes.get(path);
    if (methods === undefined) {
      methods = new Map();
      this.routes.set(path, methods);
    }
    methods.set(method, { handler, log, v1 });
  }

  /** The methods registered for `path`, or undefined when no route has that path. */
  private methodsFor(path: string): { methods: Map<string, Route>; param: string } | undefined {
    const exact = this.routes.get(path);
    if (exact !== undefined) return { methods: exact, param: "" };
    const m = /^\/config\/([^/]+)$/.exec(path);
    if (m !== null) return { methods: this.configRoutes, param: m[1]! };
    return undefined;
  }

  /**
   * httprouter's RedirectFixedPath: the cleaned path matched case-insensitively (and with the
   * trailing slash fixed) against the routes of `method` only; the route's spelling, or null.
   * The `:opt` segment of /config keeps the request's spelling.
   */
  private fixedPath(path: string, method: string): string | null {
    if (path === "/" || method === "CONNECT" || method === "OPTIONS") return null;
    const cleaned = cleanPath(path);
    const lower = cleaned.toLowerCase();
    const bare = lower.length > 1 && lower.endsWith("/") ? lower.slice(0, -1) : lower;
    for (const [route, methods] of this.routes) {
      if (!methods.has(method)) continue;
      const r = route.toLowerCase();
      if (r === lower || r === bare || r === `${bare}/`) return route;
    }
    const m = /^\/config\/([^/]+)\/?$/i.exec(cleaned);
    if (m !== null && this.configRoutes.has(method)) return `/config/${m[1]!}`;
    return null;
  }

  /** Handles one request (Bun.serve's fetch). */
  async handle(req: Request, remote: string): Promise<Response> {
    const { path, rawQuery, malformed } = splitTarget(req.url);
    if (malformed) return badRequestResponse();
    if (!this.tlsEnabled && this.nsqd.options.tlsRequired === "true") return this.tlsRequiredResponse();
    const start = performance.now();
    let reply: Reply;
    let log = true;
    // 404, 405 and panics are V1-decorated in nsqd, whatever the route
    let v1 = true;
    const extraHeaders: Record<string, string> = {};
    try {
      const found = this.methodsFor(path);
      if (found === undefined) {
        const redirect = trailingSlashRedirect(req.method, path, rawQuery, (p, m) => this.methodsFor(p)?.methods.has(m) === true);
        if (redirect !== null) return redirect;
        const fixed = this.fixedPath(path, req.method);
        if (fixed !== null) return goRedirect(req.method, fixed, rawQuery);
        throw new HttpError(404, "NOT_FOUND");
      }
      const route = found.methods.get(req.method);
      if (route === undefined) {
        const allow = allowHeader(found.methods.keys());
        if (req.method === "OPTIONS") return optionsResponse(allow);
        extraHeaders.Allow = allow;
        throw new HttpError(405, "METHOD_NOT_ALLOWED");
      }
      log = route.log;
      v1 = route.v1;
      reply = await route.handler({ req, path, rawQuery: rawQuery ?? "", param: found.param });
    } catch (err) {
      reply = this.errorReply(err);
    }
    if (log) {
      const target = targetText({ path, rawQuery });
      this.nsqd.logger.info(`${reply.status} ${req.method} ${target} (${remote}) ${formatDuration(performance.now() - start)}`);
    }
    // a PlainText route's own replies are text; JSON from one is the panic handler's (V1)
    return toResponse(reply, extraHeaders, v1 || reply.kind === "json");
  }

  private errorReply(err: unknown): Reply {
    if (err instanceof HttpError) return { kind: "json", status: err.status, body: errorBody(err.code) };
    if (err instanceof BodyError || err instanceof ConfigError) {
      return { kind: "json", status: err.status, body: errorBody(err.code) };
    }
    if (err instanceof TextError) return { kind: "text", status: err.status, body: err.text };
    // nsqd's router turns a handler panic into 500 INTERNAL_ERROR
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    this.nsqd.logger.error(`panic in HTTP handler - ${detail}`);
    return { kind: "json", status: 500, body: errorBody("INTERNAL_ERROR") };
  }

  /** --tls-required=true: the plain listener refuses everything and points at HTTPS. */
  private tlsRequiredResponse(): Response {
    const body = `{"message": "TLS_REQUIRED", "https_port": ${this.httpsPort()}}`;
    return new Response(body, {
      status: 403,
      headers: { "X-NSQ-Content-Type": NSQ_CONTENT_TYPE, "Content-Type": JSON_TYPE },
    });
  }

  private httpsPort(): number {
    const live = (this.nsqd as { httpsPort?: number }).httpsPort;
    if (typeof live === "number" && live > 0) return live;
    try {
      const addr = parseListenAddress(this.nsqd.options.httpsAddress);
      return addr.kind === "tcp" ? addr.port : -1;
    } catch {
      return 0;
    }
  }

  // ---- parameters ----

  /** Go's url.ParseQuery on the raw query: a bad escape is 400 INVALID_REQUEST. */
  private query(ctx: RequestContext): QueryParams {
    return parseRequestQuery(ctx.rawQuery, (err) => this.nsqd.logger.error(`failed to parse request params - ${err.message}`));
  }

  /**
   * nsqd's NewReqParams: the query, then the whole body read and ignored; a body that cannot be
   * read is also INVALID_REQUEST.
   */
  private async reqParams(ctx: RequestContext): Promise<QueryParams> {
    const params = this.query(ctx);
    try {
      await new BodyReader(ctx.req.body).drain();
    } catch (err) {
      this.nsqd.logger.error(`failed to parse request params - ${String(err)}`);
      throw new HttpError(400, "INVALID_REQUEST");
    }
    return params;
  }

  /** `topic` present and valid; the topic is created if needed (nsqd's getTopicFromQuery). */
  private topicFromQuery(ctx: RequestContext): { params: QueryParams; topic: Topic } {
    const params = this.query(ctx);
    const name = firstValue(params, "topic");
    if (name === undefined) throw new HttpError(400, "MISSING_ARG_TOPIC");
    if (!isValidTopicName(name)) throw new HttpError(400, "INVALID_TOPIC");
    return { params, topic: this.nsqd.getOrCreateTopic(name) };
  }

  /** `topic` and `channel` valid and the topic existing (nsqd's getExistingTopicFromQuery). */
  private async existingTopicAndChannelName(ctx: RequestContext): Promise<{ topic: Topic; channel: string }> {
    const params = await this.reqParams(ctx);
    const topicName = firstValue(params, "topic");
    if (topicName === undefined) throw new HttpError(400, "MISSING_ARG_TOPIC");
    if (!isValidTopicName(topicName)) throw new HttpError(400, "INVALID_ARG_TOPIC");
    const channel = firstValue(params, "channel");
    if (channel === undefined) throw new HttpError(400, "MISSING_ARG_CHANNEL");
    if (!isValidChannelName(channel)) throw new HttpError(400, "INVALID_ARG_CHANNEL");
    const topic = this.nsqd.getTopic(topicName);
    if (topic === undefined) throw new HttpError(404, "TOPIC_NOT_FOUND");
    return { topic, channel };
  }

  // ---- routes ----

  private ping(): Reply {
    const health = this.nsqd.health;
    if (health !== "OK") throw new TextError(500, health);
    if (this.nsqd.draining) throw new TextError(503, "NOK - draining");
    return OK;
  }

  private info(): Reply {
    const opts = this.nsqd.options;
    return json({
      version: NSQ_VERSION,
      broadcast_address: opts.broadcastAddress,
      hostname: osHostname(),
      http_port: this.nsqd.httpPort,
      tcp_port: this.nsqd.tcpPort,
      start_time: this.nsqd.startTime,
      max_heartbeat_interval: msToNs(opts.maxHeartbeatInterval),
      max_output_buffer_size: opts.maxOutputBufferSize,
      max_output_buffer_timeout: msToNs(opts.maxOutputBufferTimeout),
      max_deflate_level: opts.maxDeflateLevel,
      // beyond nsqd (clients ignore unknown fields): what this broker really is
      nsq_version: PACKAGE_VERSION,
      runtime: RUNTIME,
    });
  }

  /** POST /pub (spec §3.4), checks in nsqd's order. */
  private async pub(ctx: RequestContext): Promise<Reply> {
    const maxMsgSize = this.nsqd.options.maxMsgSize;
    if (contentLength(ctx.req) > maxMsgSize) throw new HttpError(413, "MSG_TOO_BIG");
    const reader = new BodyReader(ctx.req.body);
    let body: Uint8Array;
    try {
      body = await reader.readUpTo(maxMsgSize + 1);
    } catch {
      throw new HttpError(500, "INTERNAL_ERROR");
    }
    if (body.length === maxMsgSize + 1) {
      await reader.cancel();
      throw new HttpError(413, "MSG_TOO_BIG");
    }
    if (body.length === 0) throw new HttpError(400, "MSG_EMPTY");
    const { params, topic } = this.topicFromQuery(ctx);
    await this.nsqd.channelsReady(topic); // a topic created here first gets lookupd's channels (nsqd's GetTopic)
    let deferMs = 0;
    const deferText = firstValue(params, "defer");
    if (deferText !== undefined) deferMs = parseDefer(deferText, maxDeferTimeout(this.nsqd.options));

    const msg = Buffer.allocUnsafe(MSG_HEADER_SIZE + body.length);
    msg.set(body, MSG_HEADER_SIZE);
    this.publish(topic, [msg], body.length, deferMs);
    return OK;
  }

  /** POST /mpub (spec §3.5): text lines or the binary MPUB layout. */
  private async mpub(ctx: RequestContext): Promise<Reply> {
    const opts = this.nsqd.options;
    if (contentLength(ctx.req) > opts.maxBodySize) throw new HttpError(413, "BODY_TOO_BIG");
    const { params, topic } = this.topicFromQuery(ctx);
    await this.nsqd.channelsReady(topic); // a topic created here first gets lookupd's channels (nsqd's GetTopic)
    // `defer=` on /mpub: post-1.3 nsqd's addition (1.3.0 ignores it), limited by --max-defer-timeout
    const mpubDefer = firstValue(params, "defer");
    const deferMs = mpubDefer === undefined ? 0 : parseDefer(mpubDefer, maxDeferTimeout(opts));
    const binaryParam = firstValue(params, "binary");
    // absent → text; true/1 → binary; false/0 → text; anything else → binary (nsqd logs a warning)
    let binary = false;
    if (binaryParam !== undefined) {
      if (binaryParam === "true" || binaryParam === "1") binary = true;
      else if (binaryParam === "false" || binaryParam === "0") binary = false;
      else {
        binary = true;
        this.nsqd.logger.warn(`deprecated value '${binaryParam}' used for /mpub binary param`);
      }
    }
    const reader = new BodyReader(ctx.req.body);
    let msgs: Buffer[];
    let bodyBytes = 0;
    if (binary) {
      let parsed: { messages: Buffer[]; bodyBytes: number };
      try {
        parsed = await readBinaryMpub(reader, MSG_HEADER_SIZE, opts.maxMsgSize, opts.maxBodySize);
      } catch (err) {
        await reader.cancel();
        if (err instanceof BodyError) throw err;
        // a body that breaks off mid-message is a malformed MPUB, as nsqd's reader reports it
        throw new HttpError(413, "BAD_MESSAGE");
      }
      msgs = parsed.messages;
      bodyBytes = parsed.bodyBytes;
    } else {
      let body: Uint8Array;
      try {
        body = await reader.readUpTo(opts.maxBodySize + 1);
      } catch {
        throw new HttpError(500, "INTERNAL_ERROR");
      }
      if (body.length > opts.maxBodySize) await reader.cancel();
      const ranges = splitTextMpub(body, opts.maxBodySize, opts.maxMsgSize);
      let total = 0;
      for (const [s, e] of ranges) total += MSG_HEADER_SIZE + (e - s);
      // one allocation for the whole batch; each message is a view of it (as the TCP MPUB does)
      const block = Buffer.allocUnsafe(total);
      msgs = new Array<Buffer>(ranges.length);
      let at = 0;
      for (let i = 0; i < ranges.length; i++) {
        const [s, e] = ranges[i]!;
        const msg = block.subarray(at, at + MSG_HEADER_SIZE + (e - s));
        msg.set(body.subarray(s, e), MSG_HEADER_SIZE);
        msgs[i] = msg;
        at += msg.length;
        bodyBytes += e - s;
      }
    }
    if (msgs.length > 0) this.publish(topic, msgs, bodyBytes, deferMs);
    return OK;
  }

  /**
   * Stamps and queues messages whose bodies are in place. A deleted topic is nsqd's "exiting"
   * (503); a message that could not be stored marks the broker unhealthy, as a failed TCP publish
   * does, and is also answered 503 EXITING: nsqd's doPUB/doMPUB map every PutMessage(s) error so.
   */
  private publish(topic: Topic, msgs: Buffer[], bodyBytes: number, deferMs: number): void {
    if (topic.deleted || this.nsqd.exiting) throw new HttpError(503, "EXITING");
    const now = preciseNowMs();
    for (const m of msgs) topic.stamp(m, now);
    try {
      if (deferMs > 0) for (const m of msgs) topic.publishDeferred(m, m.length - MSG_HEADER_SIZE, now + deferMs);
      else topic.publish(msgs, bodyBytes);
    } catch (err) {
      this.nsqd.publishFailed(err);
      throw new HttpError(503, "EXITING");
    }
  }

  private async stats(ctx: RequestContext): Promise<Reply> {
    const params = await this.reqParams(ctx);
    const filter = {
      topic: firstValue(params, "topic") ?? "",
      channel: firstValue(params, "channel") ?? "",
      includeClients: parseStatsBool(firstValue(params, "include_clients")),
      includeMem: parseStatsBool(firstValue(params, "include_mem")),
      extras: statsExtras(this.nsqd, ["true", "1"].includes(firstValue(params, "rates") ?? "")),
    };
    const now = Date.now();
    const doc = collectStats(this.nsqd, filter, now);
    if (firstValue(params, "format") === "json") return { kind: "json", status: 200, body: goJson(doc) };
    const text = formatStatsText(doc, {
      startTimeMs: this.nsqd.startTimeMs,
      nowMs: now,
      runtime: NSQD_BUILT_WITH,
    });
    return { kind: "text", status: 200, body: text };
  }

  private async createTopic(ctx: RequestContext): Promise<Reply> {
    await this.nsqd.channelsReady(this.topicFromQuery(ctx).topic);
    return EMPTY;
  }

  /** No name validation here, as in nsqd: an invalid name is simply not found. */
  private async deleteTopic(ctx: RequestContext): Promise<Reply> {
    const params = await this.reqParams(ctx);
    const name = firstValue(params, "topic");
    if (name === undefined) throw new HttpError(400, "MISSING_ARG_TOPIC");
    if (!this.nsqd.deleteTopic(name)) throw new HttpError(404, "TOPIC_NOT_FOUND");
    return EMPTY;
  }

  private async emptyTopic(ctx: RequestContext): Promise<Reply> {
    const params = await this.reqParams(ctx);
    const name = firstValue(params, "topic");
    if (name === undefined) throw new HttpError(400, "MISSING_ARG_TOPIC");
    if (!isValidTopicName(name)) throw new HttpError(400, "INVALID_TOPIC");
    const topic = this.nsqd.getTopic(name);
    if (topic === undefined) throw new HttpError(404, "TOPIC_NOT_FOUND");
    try {
      topic.empty();
    } catch (err) {
      this.nsqd.logger.error(`failed to empty topic ${name} - ${String(err)}`);
      throw new HttpError(500, "INTERNAL_ERROR");
    }
    return EMPTY;
  }

  private async pauseTopic(ctx: RequestContext, paused: boolean): Promise<Reply> {
    const params = await this.reqParams(ctx);
    const name = firstValue(params, "topic");
    if (name === undefined) throw new HttpError(400, "MISSING_ARG_TOPIC");
    const topic = this.nsqd.getTopic(name);
    if (topic === undefined) throw new HttpError(404, "TOPIC_NOT_FOUND");
    return this.orInternalError(ctx, () => this.nsqd.setTopicPaused(topic, paused));
  }

  /** Runs a broker action; a failure is logged and answered 500 INTERNAL_ERROR, as nsqd does. */
  private orInternalError(ctx: RequestContext, action: () => void): Reply {
    try {
      action();
    } catch (err) {
      this.nsqd.logger.error(`failure in ${ctx.path} - ${String(err)}`);
      throw new HttpError(500, "INTERNAL_ERROR");
    }
    return EMPTY;
  }

  /** Creates the channel of an existing topic (never the topic). */
  private async createChannel(ctx: RequestContext): Promise<Reply> {
    const { topic, channel } = await this.existingTopicAndChannelName(ctx);
    topic.getOrCreateChannel(channel);
    return EMPTY;
  }

  private async deleteChannel(ctx: RequestContext): Promise<Reply> {
    const { topic, channel } = await this.existingTopicAndChannelName(ctx);
    if (!this.nsqd.deleteChannel(topic.name, channel)) throw new HttpError(404, "CHANNEL_NOT_FOUND");
    return EMPTY;
  }

  private async emptyChannel(ctx: RequestContext): Promise<Reply> {
    const { topic, channel } = await this.existingTopicAndChannelName(ctx);
    const ch = topic.getChannel(channel);
    if (ch === undefined) throw new HttpError(404, "CHANNEL_NOT_FOUND");
    try {
      ch.empty();
    } catch (err) {
      this.nsqd.logger.error(`failed to empty channel ${topic.name}:${channel} - ${String(err)}`);
      throw new HttpError(500, "INTERNAL_ERROR");
    }
    return EMPTY;
  }

  private async pauseChannel(ctx: RequestContext, paused: boolean): Promise<Reply> {
    const { topic, channel } = await this.existingTopicAndChannelName(ctx);
    const ch = topic.getChannel(channel);
    if (ch === undefined) throw new HttpError(404, "CHANNEL_NOT_FOUND");
    return this.orInternalError(ctx, () => this.nsqd.setChannelPaused(ch, paused));
  }

  /** GET/PUT /config/:opt (spec §3.8). The query string is not parsed here, as in nsqd. */
  private async config(ctx: RequestContext): Promise<Reply> {
    const target: ConfigTarget = this.nsqd;
    const opt = ctx.param;
    if (ctx.req.method === "PUT") {
      const maxMsgSize = this.nsqd.options.maxMsgSize;
      const reader = new BodyReader(ctx.req.body);
      let body: Uint8Array;
      try {
        body = await reader.readUpTo(maxMsgSize + 1);
      } catch {
        throw new HttpError(500, "INTERNAL_ERROR");
      }
      if (body.length > maxMsgSize) await reader.cancel();
      return json(putConfigValue(target, opt, body));
    }
    const value = getConfigValue(target, opt);
    if (value === undefined) throw new HttpError(400, "INVALID_OPTION");
    return json(value);
  }

  /** PUT /debug/setblockrate?rate=N: validated like nsqd (Go's Atoi); no block profiler on Bun. */
  private async setBlockRate(ctx: RequestContext): Promise<Reply> {
    const rate = await formValue(ctx, "rate");
    const err = atoiError(rate);
    if (err !== null) throw new TextError(400, `invalid block rate : ${err}`);
    return { kind: "text", status: 200, body: "" };
  }

  private freeMemory(): Reply {
    Bun.gc(true);
    return { kind: "text", status: 200, body: "" };
  }
}

const PPROF_INDEX =
  "/debug/pprof/\n\nGo runtime profiles are not available: this nsqd runs on Bun.\n" +
  "Profiles: block goroutine heap threadcreate profile cmdline symbol\n";

function pprofUnavailable(name: string): Reply {
  return { kind: "text", status: 501, body: `profile ${name} is not available on this runtime\n` };
}

/** httprouter's CleanPath: path.Clean that keeps a trailing slash and always starts with "/". */
function cleanPath(path: string): string {
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  const cleaned = `/${out.join("/")}`;
  // a final "/", "/." or "/.." keeps the trailing slash, as in httprouter
  return cleaned !== "/" && /\/\.{0,2}$/.test(path) ? `${cleaned}/` : cleaned;
}

function toResponse(reply: Reply, extraHeaders: Record<string, string>, v1: boolean): Response {
  const headers: Record<string, string> = v1 ? { "X-NSQ-Content-Type": NSQ_CONTENT_TYPE, ...extraHeaders } : { ...extraHeaders };
  switch (reply.kind) {
    case "json":
      headers["Content-Type"] = JSON_TYPE;
      return new Response(reply.body, { status: reply.status, headers });
    case "text":
      // Go's server sniffs a non-empty body as text/plain; an empty one gets no type
      if (reply.body !== "") headers["Content-Type"] = reply.type ?? TEXT_TYPE;
      return new Response(reply.body === "" ? null : reply.body, { status: reply.status, headers });
    case "empty":
      return new Response(null, { status: reply.status, headers });
  }
}

/** The declared Content-Length, or -1 when absent/unparsable (chunked), as Go's ContentLength. */
function contentLength(req: Request): number {
  const v = req.headers.get("content-length");
  if (v === null || !/^\d+$/.test(v)) return -1;
  return Number(v);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** `defer=` must be a signed decimal int64 of ms within 0..max-req-timeout (spec §3.4 step 6). */
function parseDefer(text: string, maxReqTimeoutMs: number): number {
  if (!/^[+-]?\d+$/.test(text)) throw new HttpError(400, "INVALID_DEFER");
  const v = BigInt(text);
  if (v < INT64_MIN || v > INT64_MAX) throw new HttpError(400, "INVALID_DEFER");
  if (v < 0n || v > BigInt(Math.floor(maxReqTimeoutMs))) throw new HttpError(400, "INVALID_DEFER");
  return Number(v);
}

function msToNs(ms: number): number {
  return Math.round(ms * 1e6);
}

/**
 * Go's Request.FormValue: a urlencoded body's value wins over the query's; parse errors are
 * ignored (a missing value is "").
 */
async function formValue(ctx: RequestContext, key: string): Promise<string> {
  const type = ctx.req.headers.get("content-type") ?? "";
  if (type.split(";")[0]!.trim().toLowerCase() === "application/x-www-form-urlencoded") {
    const body = Buffer.from(await new BodyReader(ctx.req.body).readUpTo(10 << 20)).toString("utf8");
    const v = lenientFirst(body, key);
    if (v !== undefined) return v;
  }
  return lenientFirst(ctx.rawQuery, key) ?? "";
}

function lenientFirst(raw: string, key: string): string | undefined {
  for (const part of raw.split("&")) {
    if (part === "" || part.includes(";")) continue;
    try {
      const one = parseQuery(part);
      const v = firstValue(one, key);
      if (v !== undefined) return v;
    } catch {
      // Go keeps the pairs it could parse
    }
  }
  return undefined;
}

/** The error text Go's strconv.Atoi gives for `s`, or null when it is a valid int64. */
function atoiError(s: string): string | null {
  if (!/^[+-]?\d+$/.test(s)) return `strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`;
  const v = BigInt(s);
  if (v < INT64_MIN || v > INT64_MAX) return `strconv.Atoi: parsing ${JSON.stringify(s)}: value out of range`;
  return null;
}

/** Starts nsqd's plain HTTP listener on `address` (the HTTPS one is src/server/https.ts). */
export function startHttpServer(nsqd: Nsqd, address: string): HttpServerHandle {
  return listenNsqdHttp(nsqd, address);
}

/**
 * Serves nsqd's routes on `address`; with `tls` the listener is HTTPS and the routes run in
 * their TLS mode (never 403 TLS_REQUIRED).
 */
export function listenNsqdHttp(nsqd: Nsqd, address: string, tls?: TLSOptions): HttpServerHandle {
  const target = parseListenAddress(address);
  const api = new NsqdHttpServer(nsqd, tls !== undefined);
  const listener = startHttpListener({
    address,
    target,
    handle: (req, peer) => api.handle(req, peer === null ? "" : joinHostPort(peer.address.replace(/^::ffff:/, ""), peer.port)),
    // bodies are limited by nsqd's own rules (413 MSG_TOO_BIG / BODY_TOO_BIG), not Bun's default
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    ...(tls !== undefined ? { tls } : {}),
  });
  return {
    port: listener.port,
    address: target.kind === "tcp" ? joinHostPort(target.host, listener.port) : target.path,
    stop: () => void listener.stop(),
    pause: () => listener.pause(),
    resume: () => listener.resume(),
  };
}
