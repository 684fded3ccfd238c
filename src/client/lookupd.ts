/**
 * HTTP queries to nsqlookupd (spec §5.3, §7.7) and nsqd's HTTP API. Sends
 * `Accept: application/vnd.nsq; version=1.0` and reads both reply forms: the object itself when
 * `X-NSQ-Content-Type: nsq; version=1.0` is present, else the pre-1.0 `{"data": ...}` envelope.
 */
import { HttpError } from "./errors.ts";

export const NSQ_ACCEPT = "application/vnd.nsq; version=1.0";
const NSQ_CONTENT_TYPE = "nsq; version=1.0";

/** One nsqd as listed by /lookup (PEER) or /nodes (NODE). */
export interface LookupProducer {
  remote_address?: string;
  hostname: string;
  broadcast_address: string;
  tcp_port: number;
  http_port: number;
  version: string;
  topics?: string[];
  tombstones?: boolean[];
}

export interface LookupResult {
  channels: string[];
  producers: LookupProducer[];
}

export interface HttpOptions {
  /** whole-request deadline in ms */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;

/** `host:port` → `http://host:port`; a full URL is kept (for /lookup its path, unless `/`). */
export function baseUrl(address: string): URL {
  const text = /^https?:\/\//i.test(address) ? address : `http://${address}`;
  try {
    return new URL(text);
  } catch {
    throw new HttpError("invalid lookupd address", address, 0);
  }
}

/** The `/lookup?topic=` URL for a lookupd address, as go-nsq builds it. */
export function lookupUrl(address: string, topic: string): string {
  const url = baseUrl(address);
  if (url.pathname === "" || url.pathname === "/") url.pathname = "/lookup";
  url.searchParams.set("topic", topic);
  return url.toString();
}

/** `<origin>/<path>` for a daemon address, ignoring any path the address carries. */
export function endpointUrl(address: string, path: string, query?: Record<string, string>): string {
  const url = new URL(path, baseUrl(address).origin);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  return url.toString();
}

interface RawReply {
  status: number;
  body: unknown;
  text: string;
}

async function request(method: "GET" | "POST", url: string, opts: HttpOptions): Promise<RawReply> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { Accept: NSQ_ACCEPT },
      signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
  } catch (err) {
    const reason = err instanceof Error && err.name === "TimeoutError" ? "request timed out" : (err as Error).message;
    throw new HttpError(reason, url, 0);
  }
  const text = await res.text();
  let body: unknown = undefined;
  if (text.length > 0 && (text[0] === "{" || text[0] === "[")) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  if (body !== undefined && res.headers.get("x-nsq-content-type") !== NSQ_CONTENT_TYPE) {
    // pre-1.0 envelope: {"status_code":200,"status_txt":"OK","data":{...}}
    const env = body as { data?: unknown; status_code?: unknown };
    if (env && typeof env === "object" && "data" in env) body = env.data;
  }
  return { status: res.status, body, text };
}

function failure(reply: RawReply, url: string): HttpError {
  const msg = (reply.body as { message?: unknown } | undefined)?.message;
  const detail = typeof msg === "string" ? msg : reply.text.trim().slice(0, 200) || "no body";
  return new HttpError(`HTTP ${reply.status} ${detail}`, url, reply.status);
}

function stringArray(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

function producerArray(v: unknown): LookupProducer[] {
  if (!Array.isArray(v)) return [];
  return v.filter(
    (p): p is LookupProducer =>
      !!p && typeof p === "object" && typeof (p as LookupProducer).broadcast_address === "string" &&
      typeof (p as LookupProducer).tcp_port === "number",
  );
}

/** GET /lookup?topic=. Resolves null when lookupd does not know the topic (404). */
export async function lookupTopic(address: string, topic: string, opts: HttpOptions = {}): Promise<LookupResult | null> {
  const url = lookupUrl(address, topic);
  const reply = await request("GET", url, opts);
  if (reply.status === 404) return null;
  if (reply.status !== 200) throw failure(reply, url);
  const body = (reply.body ?? {}) as { channels?: unknown; producers?: unknown };
  return { channels: stringArray(body.channels), producers: producerArray(body.producers) };
}

/** GET /topics from nsqlookupd. */
export async function lookupdTopics(address: string, opts: HttpOptions = {}): Promise<string[]> {
  const url = endpointUrl(address, "/topics");
  const reply = await request("GET", url, opts);
  if (reply.status !== 200) throw failure(reply, url);
  return stringArray((reply.body as { topics?: unknown } | undefined)?.topics);
}

/** GET /nodes from nsqlookupd. */
export async function lookupdNodes(address: string, opts: HttpOptions = {}): Promise<LookupProducer[]> {
  const url = endpointUrl(address, "/nodes");
  const reply = await request("GET", url, opts);
  if (reply.status !== 200) throw failure(reply, url);
  return producerArray((reply.body as { producers?: unknown } | undefined)?.producers);
}

/** POST to an nsqd/lookupd action route (e.g. /topic/pause); throws HttpError on non-200. */
export async function postAction(address: string, path: string, query: Record<string, string>, opts: HttpOptions = {}): Promise<void> {
  const url = endpointUrl(address, path, query);
  const reply = await request("POST", url, opts);
  if (reply.status !== 200) throw failure(reply, url);
}

/** The TCP address a consumer dials for a producer: `broadcast_address:tcp_port`. */
export function producerTcpAddress(p: LookupProducer): string {
  return p.broadcast_address.includes(":") ? `[${p.broadcast_address}]:${p.tcp_port}` : `${p.broadcast_address}:${p.tcp_port}`;
}

/** The HTTP address of a producer: `broadcast_address:http_port`. */
export function producerHttpAddress(p: LookupProducer): string {
  return p.broadcast_address.includes(":") ? `[${p.broadcast_address}]:${p.http_port}` : `${p.broadcast_address}:${p.http_port}`;
}
