/**
 * Reading a request target the way Go's net/http does for nsqd and nsqlookupd: the path is
 * percent-decoded (URL.Path) and the query kept raw (URL.RawQuery) for the strict parser in query.ts.
 */
export interface RequestTarget {
  /** percent-decoded path; left as sent when it does not decode (then no route matches: 404) */
  path: string;
  /** the raw query without "?", null when the target has no "?" at all */
  rawQuery: string | null;
  /**
   * the path has a bad % escape: Go's server refuses such a request line itself (see
   * badRequestResponse in response.ts) before any handler runs
   */
  malformed: boolean;
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
  const path = unescapePath(rawPath);
  return path === null ? { path: rawPath, rawQuery, malformed: true } : { path, rawQuery, malformed: false };
}

/**
 * Go's url.PathUnescape: every "%" needs two hex digits (else null); the bytes need not be UTF-8
 * (such a path simply matches no route, as in Go).
 */
function unescapePath(raw: string): string | null {
  if (!raw.includes("%")) return raw;
  const bytes: number[] = [];
  const utf8 = Buffer.from(raw, "utf8");
  for (let i = 0; i < utf8.length; i++) {
    const b = utf8[i]!;
    if (b !== 0x25) {
      bytes.push(b);
      continue;
    }
    const hi = hexValue(utf8[i + 1]);
    const lo = hexValue(utf8[i + 2]);
    if (hi < 0 || lo < 0) return null;
    bytes.push(hi * 16 + lo);
    i += 2;
  }
  return Buffer.from(bytes).toString("utf8");
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return -1;
}

/** The path with its raw query, as the access log prints a request. */
export function targetText(target: Pick<RequestTarget, "path" | "rawQuery">): string {
  return target.rawQuery === null ? target.path : `${target.path}?${target.rawQuery}`;
}
