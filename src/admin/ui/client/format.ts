/** Formatting helpers of the admin UI. */

export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const nf = new Intl.NumberFormat("en-US");

export function num(n: number): string {
  return nf.format(Math.round(n));
}

/** Messages per second: one decimal below 100, whole numbers above. */
export function rate(r: number | null): string {
  if (r === null) return "–";
  if (r < 100) return r.toFixed(1);
  return nf.format(Math.round(r));
}

/** A Go duration in nanoseconds as "1h2m3s" / "45s". */
export function duration(ns: number): string {
  let s = Math.max(0, Math.floor(ns / 1e9));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d${h}h${m}m`;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** An inline SVG sparkline of the last values (empty until two points exist). */
export function sparkline(values: readonly number[], width = 120, height = 28): string {
  if (values.length < 2) return `<svg class="spark" width="${width}" height="${height}" aria-hidden="true"></svg>`;
  const max = Math.max(1, ...values);
  const step = width / (values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`).join(" ");
  return `<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" aria-hidden="true"><polyline points="${points}" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>`;
}
