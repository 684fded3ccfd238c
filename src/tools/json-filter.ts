/**
 * nsq_to_nsq's JSON options: `--require-json-field` / `--require-json-value` decide whether a
 * message passes, `--whitelist-json-field` rewrites it to only those fields. The output is what
 * Go's encoding/json makes of the map nsq_to_nsq builds: keys sorted, `<`, `>`, `&`, U+2028 and
 * U+2029 escaped, integral numbers printed as integers.
 */

export interface JsonFilterOptions {
  requireField: string;
  requireValue: string;
  whitelistFields: string[];
}

/** What to do with one message. */
export type FilterResult =
  | { action: "publish"; body: Uint8Array }
  /** FIN without publishing (not JSON, or filtered out) */
  | { action: "skip"; reason: "invalid-json" | "filtered" }
  /** REQ with backoff: the required field is missing while a value is required */
  | { action: "backoff" };

/** strconv.ParseFloat's accepted decimal forms (what a JSON number can equal). */
const GO_FLOAT = /^[+-]?(?:(?:\d[\d_]*\.?[\d_]*|\.[\d_]+)(?:[eE][+-]?\d+)?|inf|infinity|nan)$/i;

export class JsonFilter {
  private readonly requireNumber: number | null;

  constructor(private readonly opts: JsonFilterOptions) {
    const v = opts.requireValue;
    this.requireNumber = v !== "" && GO_FLOAT.test(v) ? Number(v.replaceAll("_", "").replace(/^([+-]?)inf(inity)?$/i, "$1Infinity")) : null;
  }

  /** true when messages must be decoded at all */
  get active(): boolean {
    return this.opts.requireField !== "" || this.opts.whitelistFields.length > 0;
  }

  apply(body: Uint8Array): FilterResult {
    if (!this.active) return { action: "publish", body };
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
    } catch {
      return { action: "skip", reason: "invalid-json" };
    }
    // Go decodes into map[string]interface{}: JSON null leaves an empty map, anything else but an object fails
    if (parsed === null) parsed = {};
    if (typeof parsed !== "object" || Array.isArray(parsed)) return { action: "skip", reason: "invalid-json" };
    const js = parsed as Record<string, unknown>;
    const verdict = this.shouldPass(js);
    if (verdict === "backoff") return { action: "backoff" };
    if (!verdict) return { action: "skip", reason: "filtered" };
    if (this.opts.whitelistFields.length === 0) return { action: "publish", body };
    const out: Record<string, unknown> = {};
    for (const key of this.opts.whitelistFields) if (Object.hasOwn(js, key)) out[key] = js[key];
    return { action: "publish", body: Buffer.from(goJson(out), "utf8") };
  }

  private shouldPass(js: Record<string, unknown>): boolean | "backoff" {
    const { requireField, requireValue } = this.opts;
    if (requireField === "") return true;
    if (!Object.hasOwn(js, requireField)) return requireValue !== "" ? "backoff" : false;
    if (requireValue === "") return true;
    const v = js[requireField];
    if (typeof v === "string") return v === requireValue;
    if (this.requireNumber !== null) return typeof v === "number" && v === this.requireNumber;
    // neither a plain string nor a number to compare with: nsq_to_nsq gives up
    return false;
  }
}

const ESCAPES: Record<string, string> = { "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029" };

function goString(s: string): string {
  // JSON.stringify already escapes quotes, backslashes and control characters as Go does (\n, \t,
  // \u00XX); Go also escapes HTML-significant characters and the two JS line separators
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => ESCAPES[c]!);
}

/** encoding/json.Marshal of a decoded value: objects with sorted keys, HTML-safe strings. */
export function goJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return goString(value);
    case "number":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (Array.isArray(value)) return `[${value.map(goJson).join(",")}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort(compareUtf8);
      return `{${keys.map((k) => `${goString(k)}:${goJson(obj[k])}`).join(",")}}`;
    }
    default:
      return "null";
  }
}

/** Go sorts map keys by their bytes: UTF-8 order, not JavaScript's UTF-16 order. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
