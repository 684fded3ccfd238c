/**
 * Reading a request target the way Go's net/http does for nsqd and nsqlookupd: the path is
 * percent-decoded (URL.Path) and the query kept raw (URL.RawQuery) for the strict parser in query.ts.
 */
export interface RequestTarget {
  /** percent-decoded path; left as sent when it does not decode (then no route matches: 404) */
  path: string;
  /** the raw query without "?", null when the target has no "?" at all */
  rawQuery: string | null;
}

/** Splits a request URL into its decoded path and raw query. */
export function splitTarget(url: string): RequestTarget {
  const schemeEnd = url.indexOf("://");
  const pathStart = schemeEnd < 0 ? 0 : url.indexOf("/", schemeEnd + 3);
  let target = pathStart < 0 ? "/" : url.slice(pathStart);
  const hash = target.indexOf("#");
  if (hash >= 0) target = target.slice(0, hash);
  const q = target.indexOf("?");
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? null : target.slice(q + 1);
  let path = rawPath;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    // an undecodable path matches no route and gets the normal 404
  }
  return { path, rawQuery };
}

/** The path with its raw query, as the access log prints a request. */
export function targetText(target: RequestTarget): string {
  return target.rawQuery === null ? target.path : `${target.path}?${target.rawQuery}`;
}
