/**
 * nsqadmin's HTTP server (nsqadmin/http.go): the UI pages, its embedded assets, /ping, the JSON
 * API (api.ts) and /config/:opt, every route under --base-path, with httprouter's answers for
 * unknown paths (404), wrong methods (405) and a trailing slash (redirect).
 */
import type { SocketAddress } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startHttpListener, type HttpListener } from "../http-api/listener.ts";
import { allowHeader, errorBody, HttpError, JSON_TYPE, NSQ_CONTENT_TYPE, optionsResponse, TEXT_TYPE, trailingSlashRedirect } from "../http-api/response.ts";
import { parseListenAddress, peerAddress } from "../protocol/address.ts";
import { NSQ_VERSION } from "../protocol/version.ts";
import { parseLogLevel } from "../util/logger.ts";
import { formatDuration } from "../util/duration.ts";
import { cidrContains, isAuthorizedAdmin, parseCidr } from "./acl.ts";
import * as api from "./api.ts";
import type { ApiContext, ApiHandler, ApiRequest } from "./api.ts";
import { configValue, type AdminOptions } from "./options.ts";
import { renderShell } from "./ui/shell.ts";
import type { UiConfig } from "./api-types.ts";
import { staticAsset } from "./ui/assets.ts";

type Kind = "page" | "api" | "text" | "static" | "raw";

/** Sent by the UI with its periodic polls (client/api.ts), so they are logged at debug only. */
const POLL_HEADER = "x-nsqadmin-poll";

interface Route {
  method: string;
  segments: string[];
  kind: Kind;
  handler: (req: ApiRequest, raw: Request) => Promise<unknown> | unknown;
}

export interface AdminHttpContext extends ApiContext {
  setOpts(opts: AdminOptions): void;
}

/** The UI's page paths: each serves the application shell; the client renders the page. */
const PAGES = ["/", "/topics", "/topics/:topic", "/topics/:topic/:channel", "/nodes", "/nodes/:node", "/counter", "/lookup"];

export class AdminHttpServer {
  private listener: HttpListener | null = null;
  private readonly routes: Route[] = [];

  constructor(private readonly ctx: AdminHttpContext) {
    for (const p of PAGES) this.add("GET", p, "page", (_req, raw) => this.index(raw));
    this.add("GET", "/ping", "text", () => "OK");
    this.add("GET", "/static/:asset", "static", (req) => this.asset(req.params.asset!, /\bgzip\b/.test(req.headers.get("accept-encoding") ?? "")));
    this.add("GET", "/fonts/:asset", "static", () => {
      throw new HttpError(404, "NOT_FOUND");
    });
    if (ctx.opts().proxyGraphite) this.add("GET", "/render", "raw", (req) => this.proxyGraphite(req));
    const a = (method: string, path: string, handler: ApiHandler) => this.add(method, path, "api", (req) => handler(ctx, req));
    a("GET", "/api/topics", api.topics);
    a("GET", "/api/topics/:topic", api.topic);
    a("GET", "/api/topics/:topic/:channel", api.channel);
    a("GET", "/api/nodes", api.nodes);
    a("GET", "/api/nodes/:node", api.node);
    a("POST", "/api/topics", api.createTopicChannel);
    a("POST", "/api/topics/:topic", api.topicChannelAction);
    a("POST", "/api/topics/:topic/:channel", api.topicChannelAction);
    a("DELETE", "/api/nodes/:node", api.tombstoneNodeForTopic);
    a("DELETE", "/api/topics/:topic", api.deleteTopic);
    a("DELETE", "/api/topics/:topic/:channel", api.deleteChannel);
    a("GET", "/api/counter", api.counter);
    a("GET", "/api/graphite", (_ctx, req) => this.graphite(req));
    this.add("GET", "/config/:opt", "api", (req) => this.config(req, false));
    this.add("PUT", "/config/:opt", "api", (req) => this.config(req, true));
  }

  get port(): number {
    return this.listener?.port ?? 0;
  }

  listen(address: string): void {
    const target = parseListenAddress(address);
    if (target.kind !== "tcp") throw new Error(`listen (${address}) failed - not host:port`);
    this.listener = startHttpListener({
      address,
      target,
      handle: (req, peer) => this.handle(req, peer),
      onError: (err) => {
        this.ctx.logger.error(`PANIC: ${err.message}`);
        return v1(500, errorBody("INTERNAL_ERROR"));
      },
      maxRequestBodySize: 8 * 1024 * 1024,
    });
  }

  async close(): Promise<void> {
    await this.listener?.stop();
    this.listener = null;
  }

  /** path.Join(basePath, p): the route as registered under the base path. */
  private bp(p: string): string {
    const base = this.ctx.opts().basePath;
    if (base === "/") return p;
    return p === "/" ? base : base + p;
  }

  private add(method: string, path: string, kind: Kind, handler: Route["handler"]): void {
    this.routes.push({ method, segments: this.bp(path).split("/").slice(1), kind, handler });
  }

  private match(path: string): Array<{ route: Route; params: Record<string, string> }> {
    const segs = path.split("/").slice(1);
    const out: Array<{ route: Route; params: Record<string, string> }> = [];
    for (const route of this.routes) {
      if (route.segments.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segs.length && ok; i++) {
        const want = route.segments[i]!;
        const got = segs[i]!;
        if (want.startsWith(":")) {
          if (got === "") ok = false;
          else params[want.slice(1)] = got;
        } else if (want !== got) ok = false;
      }
      if (ok) out.push({ route, params });
    }
    return out;
  }

  private async handle(raw: Request, peer: SocketAddress | null): Promise<Response> {
    const url = new URL(raw.url);
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return new Response("400 Bad Request", { status: 400, headers: { "Content-Type": TEXT_TYPE } });
    }
    const started = performance.now();
    const response = await this.dispatch(raw, url, path, peer);
    // every request at info as nsqadmin logs them, except the UI's own once-a-second polling
    const line = `${response.status} ${raw.method} ${url.pathname}${url.search} (${peer ? peerAddress(peer.address, peer.port) : ""}) ${formatDuration(performance.now() - started)}`;
    if (raw.headers.get(POLL_HEADER) === null) this.ctx.logger.info(line);
    else this.ctx.logger.debug(line);
    return response;
  }

  private async dispatch(raw: Request, url: URL, path: string, peer: SocketAddress | null): Promise<Response> {
    const matches = this.match(path);
    const found = matches.find((m) => m.route.method === raw.method || (raw.method === "HEAD" && m.route.method === "GET"));
    if (!found) {
      const rawQuery = url.search === "" ? null : url.search.slice(1);
      const redirect = trailingSlashRedirect(raw.method, path, rawQuery, (p, m) => this.match(p).some((x) => x.route.method === m));
      if (redirect) return redirect;
      if (matches.length > 0) {
        const allow = allowHeader(new Set(matches.map((m) => m.route.method)));
        if (raw.method === "OPTIONS") return optionsResponse(allow);
        const r = v1(405, errorBody("METHOD_NOT_ALLOWED"));
        r.headers.set("Allow", allow);
        return r;
      }
      return v1(404, errorBody("NOT_FOUND"));
    }
    const { route, params } = found;
    const req: ApiRequest = {
      params,
      query: url.searchParams,
      headers: raw.headers,
      remoteAddr: peer ? peerAddress(peer.address, peer.port) : "",
      pathAndQuery: url.pathname + url.search,
      body: raw.method === "GET" || raw.method === "HEAD" ? "" : await raw.text(),
    };
    try {
      const value = await route.handler(req, raw);
      switch (route.kind) {
        case "page":
          return new Response(value as string, { headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache" } });
        case "text":
          return new Response(value as string, { headers: { "Content-Type": TEXT_TYPE } });
        case "static":
        case "raw":
          return value as Response;
        case "api":
          return v1(200, JSON.stringify(value));
      }
    } catch (err) {
      if (err instanceof HttpError) return v1(err.status, errorBody(err.code));
      this.ctx.logger.error(`PANIC: ${route.method} ${path}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      return v1(500, errorBody("INTERNAL_ERROR"));
    }
  }

  private index(raw: Request): string {
    const o = this.ctx.opts();
    const config: UiConfig = {
      version: NSQ_VERSION,
      basePath: o.basePath,
      isAdmin: isAuthorizedAdmin(raw.headers, o.adminUsers, o.aclHttpHeader),
      lookupd: o.lookupdHttpAddresses,
      nsqd: o.nsqdHttpAddresses,
      graphEnabled: o.graphiteUrl !== "",
      statsdInterval: Math.round(o.statsdInterval / 1000),
    };
    return renderShell(config);
  }

  private asset(name: string, gzip: boolean): Response {
    const dev = this.ctx.opts().devStaticDir;
    if (dev !== "") {
      try {
        const body = readFileSync(join(dev, name.replace(/[/\\]/g, "")));
        return new Response(body, { headers: { "Content-Type": contentType(name) } });
      } catch {
        throw new HttpError(404, "NOT_FOUND");
      }
    }
    const asset = staticAsset(name, gzip);
    if (!asset) throw new HttpError(404, "NOT_FOUND");
    const headers: Record<string, string> = { "Content-Type": asset.type, "Cache-Control": "no-cache", Vary: "Accept-Encoding" };
    if (asset.gzip) headers["Content-Encoding"] = "gzip";
    return new Response(asset.body, { headers });
  }

  /** GET /api/graphite: the rate of a graphite target (500 INTERNAL_ERROR when graphite fails). */
  private async graphite(req: ApiRequest): Promise<unknown> {
    if (req.query.get("metric") !== "rate") throw new HttpError(400, "INVALID_ARG_METRIC");
    const target = req.query.get("target");
    if (target === null) throw new HttpError(400, "INVALID_ARG_TARGET");
    const o = this.ctx.opts();
    const interval = Math.floor(o.statsdInterval / 1000);
    const params = new URLSearchParams({ format: "json", from: `-${interval * 2}sec`, target, until: `-${interval}sec` });
    const url = `${o.graphiteUrl}/render?${params.toString()}`;
    this.ctx.logger.info(`GRAPHITE: ${url}`);
    let rate: number;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(o.httpClientRequestTimeout), headers: { Accept: "application/vnd.nsq; version=1.0" } });
      if (!res.ok) throw new Error(`got response ${res.status}`);
      const body = (await res.json()) as Array<{ datapoints: Array<Array<number | null>> }>;
      rate = Number(body[0]!.datapoints[0]![0]);
    } catch (err) {
      this.ctx.logger.error(`graphite request failed - ${err instanceof Error ? err.message : String(err)}`);
      throw new HttpError(500, "INTERNAL_ERROR");
    }
    return { rate: rate < 0 ? "N/A" : (rate / interval).toFixed(2) };
  }

  private async proxyGraphite(req: ApiRequest): Promise<Response> {
    const target = new URL(this.ctx.opts().graphiteUrl);
    const url = `${target.origin}${req.pathAndQuery.slice(this.ctx.opts().basePath === "/" ? 0 : this.ctx.opts().basePath.length)}`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.ctx.opts().httpClientRequestTimeout) });
      return new Response(await res.arrayBuffer(), { status: res.status, headers: { "Content-Type": res.headers.get("content-type") ?? "application/octet-stream" } });
    } catch (err) {
      this.ctx.logger.error(`graphite proxy: ${err instanceof Error ? err.message : String(err)}`);
      return new Response("Bad Gateway", { status: 502 });
    }
  }

  /** GET/PUT /config/:opt, from --allow-config-from-cidr only. */
  private config(req: ApiRequest, put: boolean): unknown {
    const o = this.ctx.opts();
    if (o.allowConfigFromCidr !== "") {
      const cidr = parseCidr(o.allowConfigFromCidr);
      const ip = req.remoteAddr.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
      if (ip === "") throw new HttpError(400, "INVALID_REMOTE_ADDR");
      if (!cidr || !cidrContains(cidr, ip)) throw new HttpError(403, "FORBIDDEN");
    }
    const opt = req.params.opt!;
    if (put) {
      // PUT: the value as the body, at most 1 MiB (nsqadmin's LimitReader check)
      if (req.body.length === 0 || Buffer.byteLength(req.body) > 1024 * 1024) throw new HttpError(413, "INVALID_VALUE");
      const next = { ...o };
      if (opt === "nsqlookupd_http_addresses") {
        let v: unknown;
        try {
          v = JSON.parse(req.body);
        } catch {
          throw new HttpError(400, "INVALID_VALUE");
        }
        if (v !== null && (!Array.isArray(v) || !v.every((s) => typeof s === "string"))) throw new HttpError(400, "INVALID_VALUE");
        next.lookupdHttpAddresses = (v as string[] | null) ?? [];
      } else if (opt === "log_level") {
        try {
          next.logLevel = parseLogLevel(req.body);
        } catch {
          throw new HttpError(400, "INVALID_VALUE");
        }
      } else {
        throw new HttpError(400, "INVALID_OPTION");
      }
      this.ctx.setOpts(next);
    }
    const r = configValue(this.ctx.opts(), opt);
    if (!r.found) throw new HttpError(400, "INVALID_OPTION");
    return r.value;
  }
}

/** A reply with the V1 conventions: JSON type and the X-NSQ-Content-Type header. */
function v1(status: number, body: string): Response {
  return new Response(body, { status, headers: { "Content-Type": JSON_TYPE, "X-NSQ-Content-Type": NSQ_CONTENT_TYPE } });
}

function contentType(name: string): string {
  if (name.endsWith(".js")) return "text/javascript; charset=utf-8";
  if (name.endsWith(".css")) return "text/css; charset=utf-8";
  if (name.endsWith(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}
