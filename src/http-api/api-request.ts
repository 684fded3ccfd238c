/**
 * The HTTP client of the tools that read a cluster (nsq stat, nsq peek, nsq admin; NSQ's
 * internal/http_api/api_request.go): JSON GETs and action POSTs against nsqd / nsqlookupd, with a
 * deadline and errors that name the URL. Follows spec §3.1: a reply without the
 * `X-NSQ-Content-Type: nsq; version=1.0` header is the pre-1.0 envelope whose payload is `data`.
 */

export interface HttpTimeouts {
  /** Bun's fetch has no separate connect phase deadline; the smaller of the two bounds connecting */
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /**
   * How https:// nodes are verified. It rides along with the timeouts because both are the
   * per-request settings every stat module already passes down to this client.
   */
  tls?: HttpTlsOptions;
}

/** Verification of https:// nodes (Bun fetch's `tls` option). */
export interface HttpTlsOptions {
  /** false = accept any certificate (--tls-insecure-skip-verify) */
  rejectUnauthorized: boolean;
  /** PEM CA bundle (--tls-root-ca-file); undefined = system roots */
  ca?: string;
  /** PEM client certificate and key (nsqadmin's --http-client-tls-cert / --http-client-tls-key) */
  cert?: string;
  key?: string;
}

export const DEFAULT_TIMEOUTS: HttpTimeouts = { connectTimeoutMs: 2000, requestTimeoutMs: 5000 };

/** A request that reached the server and got a non-2xx reply. */
export class HttpStatusError extends Error {
  override name = "HttpStatusError";
  constructor(
    readonly url: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(`${url}: HTTP ${status}${code ? ` ${code}` : ""}`);
  }
}

/**
 * "host:port" → "http://host:port" (bare IPv6 hosts are expected in brackets already); an
 * address given as "https://host:port" keeps its scheme, so that node is queried over HTTPS.
 */
export function httpUrl(address: string, pathAndQuery: string): string {
  if (address.startsWith("https://")) return `${address.replace(/\/+$/, "")}${pathAndQuery}`;
  return `http://${address}${pathAndQuery}`;
}

/** A request that got no (complete) answer within the request timeout. */
export class HttpTimeoutError extends Error {
  override name = "HttpTimeoutError";
  constructor(readonly url: string) {
    super(`${url}: timed out`);
  }
}

const KNOWN_CODES: Record<string, string> = {
  ConnectionRefused: "connection refused",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ConnectionClosed: "connection closed",
  Malformed_HTTP_Response: "malformed HTTP response",
  FailedToOpenSocket: "cannot open socket",
  ENOTFOUND: "host not found",
};

function describeFailure(url: string, err: unknown): Error {
  if (err instanceof HttpStatusError) return err;
  const e = err as { name?: string; code?: string; message?: string };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return new HttpTimeoutError(url);
  const known = e?.code ? KNOWN_CODES[e.code] : undefined;
  // Bun's messages repeat the URL and add advice; keep the first sentence only
  const reason = known ?? (e?.message ?? String(err)).split(/\. /)[0]!;
  return new Error(`${url}: ${reason}`);
}

async function request(url: string, method: "GET" | "POST", timeouts: HttpTimeouts): Promise<Response> {
  try {
    const res = await fetch(url, {
      method,
      signal: AbortSignal.timeout(timeouts.requestTimeoutMs),
      headers: { Accept: "application/vnd.nsq; version=1.0" },
      // keep-alive sockets to many nodes would pin the event loop at exit; polls are cheap
      keepalive: false,
      ...(timeouts.tls !== undefined && url.startsWith("https:") ? { tls: timeouts.tls } : {}),
    });
    if (!res.ok) {
      const text = await res.text();
      let code = text.trim();
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed && typeof parsed === "object" && "message" in parsed) code = String(parsed.message);
      } catch {
        // plain-text error body: keep it as is
      }
      throw new HttpStatusError(url, res.status, code.slice(0, 200));
    }
    return res;
  } catch (err) {
    throw describeFailure(url, err);
  }
}

/** GETs a JSON document; unwraps the legacy `{"status_code","data"}` envelope. */
export async function getJson(url: string, timeouts: HttpTimeouts = DEFAULT_TIMEOUTS): Promise<unknown> {
  const res = await request(url, "GET", timeouts);
  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    throw new Error(`${url}: invalid JSON reply (${(err as Error).message})`);
  }
  if (!res.headers.get("x-nsq-content-type") && body && typeof body === "object" && "data" in body) {
    return (body as { data: unknown }).data;
  }
  return body;
}

/** POSTs an action with an empty body (pause, unpause, empty); resolves when the node said 2xx. */
export async function postAction(url: string, timeouts: HttpTimeouts = DEFAULT_TIMEOUTS): Promise<void> {
  const res = await request(url, "POST", timeouts);
  await res.arrayBuffer();
}
