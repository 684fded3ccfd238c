/**
 * Response conventions shared by nsqd's and nsqlookupd's HTTP APIs (spec §3.1): the
 * `X-NSQ-Content-Type: nsq; version=1.0` header go-nsq relies on, `{"message":"CODE"}` error
 * bodies, and httprouter's answers for a path that only differs by a trailing slash (301/307)
 * and for a method the path does not have (405 with Allow, or 200 to OPTIONS).
 */

export const NSQ_CONTENT_TYPE = "nsq; version=1.0";
export const JSON_TYPE = "application/json; charset=utf-8";
export const TEXT_TYPE = "text/plain; charset=utf-8";

/** A failed request: HTTP status and the NSQ error code sent as `{"message":"CODE"}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(code);
  }
}

/** The JSON error body of both daemons. */
export function errorBody(code: string): string {
  return JSON.stringify({ message: code });
}

/**
 * Like httprouter: when `path` has no route but the same path with (or without) a trailing slash
 * does, GET is redirected with 301 and other methods with 307 (the query is kept). Null otherwise.
 * httprouter only looks in the request method's own tree, so `hasRoute` should answer for
 * `method` alone; OPTIONS has no tree and is never redirected.
 */
export function trailingSlashRedirect(
  method: string,
  path: string,
  rawQuery: string | null,
  hasRoute: (path: string, method: string) => boolean,
): Response | null {
  if (path === "/" || method === "CONNECT" || method === "OPTIONS") return null;
  const alternative = path.endsWith("/") ? path.slice(0, -1) : `${path}/`;
  if (!hasRoute(alternative, method)) return null;
  return goRedirect(method, alternative, rawQuery);
}

/**
 * net/http's Redirect as httprouter calls it: 301 for GET, 307 otherwise, to the path escaped as
 * URL.String() does (query kept raw). GET and HEAD get an HTML Content-Type, and GET the small
 * `<a href="...">Moved Permanently</a>.` body, written with Fprintln (so a second newline).
 */
export function goRedirect(method: string, path: string, rawQuery: string | null): Response {
  const status = method === "GET" ? 301 : 307;
  const location = escapePath(path) + (rawQuery === null ? "" : `?${rawQuery}`);
  const headers: Record<string, string> = { Location: location };
  if (method === "GET" || method === "HEAD") headers["Content-Type"] = "text/html; charset=utf-8";
  const body = method === "GET" ? `<a href="${htmlEscape(location)}">${status === 301 ? "Moved Permanently" : "Temporary Redirect"}</a>.\n\n` : null;
  return new Response(body, { status, headers });
}

/** Go's url.PathEscape rules for a URL path (encodePath): '/' and sub-delims but '?' stay. */
function escapePath(path: string): string {
  let out = "";
  for (const byte of Buffer.from(path, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~$&+,/:;=@]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** net/http's htmlEscape for the redirect body. */
function htmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;" })[c]!);
}

/** The Allow header for a path: its methods plus OPTIONS, sorted (byte order) as httprouter lists them. */
export function allowHeader(methods: Iterable<string>): string {
  const all = [...methods];
  if (!all.includes("OPTIONS")) all.push("OPTIONS");
  return all.sort().join(", ");
}

/** httprouter's automatic answer to OPTIONS on a known path. */
export function optionsResponse(allow: string): Response {
  return new Response(null, { status: 200, headers: { Allow: allow } });
}

/**
 * Go's net/http server answer to a request line it cannot parse (e.g. a bad % escape in the
 * path): plain `400 Bad Request` and the connection closed, before any handler or router.
 */
export function badRequestResponse(): Response {
  return new Response("400 Bad Request", {
    status: 400,
    headers: { "Content-Type": TEXT_TYPE, Connection: "close" },
  });
}
