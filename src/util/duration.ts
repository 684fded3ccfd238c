/**
 * Go's time.Duration text syntax ("250ms", "1m30s", "1h"), used by every NSQ flag.
 * Values are kept in milliseconds (a JS number); nanosecond output is derived where JSON needs it.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART_RE = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/** Parses a Go duration string into milliseconds; throws with the offending text on bad input. */
export function parseDuration(text: string): number {
  let rest = text.trim();
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest[0] === "-") sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw new Error(`invalid duration "${text}"`);
  let total = 0;
  while (rest.length > 0) {
    const m = PART_RE.exec(rest);
    if (!m) throw new Error(`invalid duration "${text}"`);
    total += parseFloat(m[1]!) * UNIT_MS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

/** Formats milliseconds the way Go's Duration.String() does ("1h2m3.5s", "250ms", "0s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const neg = ms < 0;
  let ns = Math.round(Math.abs(ms) * 1e6);
  let out: string;
  if (ns < 1e9) {
    if (ns < 1e3) out = `${ns}ns`;
    else if (ns < 1e6) out = `${trimZeros(ns / 1e3)}µs`;
    else out = `${trimZeros(ns / 1e6)}ms`;
  } else {
    const h = Math.floor(ns / 3.6e12);
    ns -= h * 3.6e12;
    const m = Math.floor(ns / 6e10);
    ns -= m * 6e10;
    const s = trimZeros(ns / 1e9);
    out = h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
  }
  return neg ? `-${out}` : out;
}

function trimZeros(v: number): string {
  return String(Number(v.toFixed(9)));
}
