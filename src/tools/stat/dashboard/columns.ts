/**
 * Table columns and the layout that fits them to the terminal: columns are kept in priority
 * order while they fit, so 80 columns show the essentials and wider terminals show everything;
 * the name and sparkline columns absorb what is left.
 */
import type { ClientRow, StatRow } from "../model.ts";
import { sparkline } from "../rates.ts";
import { formatDuration } from "../../../util/duration.ts";

export interface Column<R> {
  id: string;
  title: string;
  /** fixed width, or the minimum width for a flexible column */
  width: number;
  /** 1 = always shown first; larger = dropped first when space is short */
  priority: number;
  align: "left" | "right";
  /** flexible columns share the spare width (name first, then sparkline) */
  flex?: "name" | "spark";
  cell(row: R, width: number): string;
}

export interface LaidOutColumn<R> {
  column: Column<R>;
  width: number;
}

/** Compact number: exact when it fits, else k/M/G with one decimal. */
export function fmtCount(n: number, width: number): string {
  const exact = String(n);
  if (exact.length <= width) return exact;
  const units: Array<[number, string]> = [[1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [div, suffix] of units) {
    if (Math.abs(n) >= div) {
      const v = n / div;
      const oneDecimal = `${v.toFixed(1)}${suffix}`;
      return oneDecimal.length <= width ? oneDecimal : `${Math.round(v)}${suffix}`;
    }
  }
  return exact;
}

/** Rate per second: "-" before two polls, one decimal below 10, whole numbers above. */
export function fmtRate(r: number | null, width: number): string {
  if (r === null) return "-";
  if (r > 0 && r < 10) return r.toFixed(1);
  return fmtCount(Math.round(r), width);
}

const SEPARATOR = 1;

function num<R extends StatRow>(
  id: string, title: string, width: number, priority: number, get: (r: R) => number,
): Column<R> {
  return { id, title, width, priority, align: "right", cell: (r, w) => (r.up ? fmtCount(get(r), w) : "-") };
}

function stateOf(r: StatRow): string {
  if (!r.up) return "DOWN";
  if (r.paused) return "paused";
  if (r.nodesUp < r.nodesTotal) return "degr.";
  return "";
}

/** Columns for topic, channel and per-node rows. `kind` decides the few that differ. */
export function statColumns(kind: "topics" | "channels" | "nodes"): Column<StatRow>[] {
  // widths of priority 0-2 columns sum to exactly 80 with separators: at 80×24 every count the
  // issue asks for is visible; wider terminals add the rest and widen name and history
  const cols: Array<Column<StatRow> | null> = [
    { id: "name", title: kind === "nodes" ? "NODE" : kind === "topics" ? "TOPIC" : "CHANNEL", width: 15, priority: 0, align: "left", flex: "name", cell: (r) => r.name },
    { id: "state", title: "STATE", width: 6, priority: 1, align: "left", cell: stateOf },
    num("depth", "DEPTH", 7, 1, (r) => r.depth),
    num("mem", "MEM", 7, 5, (r) => r.memDepth),
    num("disk", "DISK", 7, 5, (r) => r.backendDepth),
    num("inflight", "INFLT", 5, 1, (r) => r.inFlight),
    num("deferred", "DEF", 5, 2, (r) => r.deferred),
    num("requeued", "REQ", 5, 2, (r) => r.requeued),
    num("timedout", "T-O", 5, 2, (r) => r.timedOut),
    kind === "topics" ? num("channels", "CHANS", 5, 4, (r) => r.channels) : null,
    num("consumers", "CONS", 4, 2, (r) => r.consumers),
    num("messages", "MSGS", 10, 4, (r) => r.messages),
    kind === "nodes" ? null : { id: "nodes", title: "NODES", width: 5, priority: 3, align: "right", cell: (r) => `${r.nodesUp}/${r.nodesTotal}` },
    { id: "in", title: "IN/s", width: 6, priority: 1, align: "right", cell: (r, w) => (r.up ? fmtRate(r.rateIn, w) : "-") },
    { id: "out", title: "OUT/s", width: 6, priority: 2, align: "right", cell: (r, w) => (r.up ? fmtRate(r.rateOut, w) : "-") },
    kind === "nodes"
      ? { id: "note", title: "TREND", width: 6, priority: 2, align: "left", flex: "spark", cell: (r, w) => (r.up ? sparkline(r.history, w) : r.note) }
      : { id: "spark", title: "TREND", width: 6, priority: 2, align: "left", flex: "spark", cell: (r, w) => sparkline(r.history, w) },
  ];
  return cols.filter((c): c is Column<StatRow> => c !== null);
}

/** nsqd's numeric client states (spec §1.6) as words; 1 and 2 are defined but unused by nsqd. */
const CLIENT_STATES = ["init", "disconnected", "connected", "subscribed", "closing"];

export function clientStateName(state: number): string {
  return CLIENT_STATES[state] ?? `state ${state}`;
}

/** "TLS1.3" (or "yes" when the node does not report a version), "-" without TLS. */
export function tlsText(r: Pick<ClientRow, "tls" | "tlsVersion">): string {
  return r.tls ? r.tlsVersion || "yes" : "-";
}

export function clientColumns(): Column<ClientRow>[] {
  const n = (id: string, title: string, width: number, priority: number, get: (r: ClientRow) => number): Column<ClientRow> => ({
    id, title, width, priority, align: "right", cell: (r, w) => fmtCount(get(r), w),
  });
  // priority 0-2 widths sum to 80 with separators: at 80 columns a client's state, RDY, in-flight,
  // TLS, compression and user agent are visible; the selected client's details pane has the rest
  return [
    { id: "name", title: "CLIENT", width: 18, priority: 0, align: "left", flex: "name", cell: (r) => r.name },
    { id: "state", title: "STATE", width: 10, priority: 1, align: "left", cell: (r) => clientStateName(r.state) },
    n("ready", "RDY", 5, 1, (r) => r.ready),
    n("inflight", "INFLT", 6, 1, (r) => r.inFlight),
    { id: "tls", title: "TLS", width: 6, priority: 2, align: "left", cell: tlsText },
    { id: "compression", title: "COMPR", width: 7, priority: 2, align: "left", cell: (r) => r.compression || "-" },
    n("messages", "MSGS", 9, 3, (r) => r.messages),
    n("finished", "FIN", 9, 3, (r) => r.finished),
    n("requeued", "REQ", 6, 3, (r) => r.requeued),
    { id: "rate", title: "MSG/s", width: 7, priority: 1, align: "right", cell: (r, w) => fmtRate(r.rate, w) },
    { id: "connected", title: "CONNECTED", width: 9, priority: 3, align: "right", cell: (r) => formatDuration(r.connectedSec * 1000) },
    { id: "spark", title: "TREND", width: 8, priority: 4, align: "left", flex: "spark", cell: (r, w) => sparkline(r.history, w) },
    { id: "node", title: "NODE", width: 21, priority: 4, align: "left", cell: (r) => r.node },
    { id: "agent", title: "USER AGENT", width: 14, priority: 2, align: "left", cell: (r) => r.userAgent || "-" },
  ];
}

/** Chooses columns for `totalWidth` and distributes spare width to the flexible ones. */
export function layoutColumns<R>(columns: Column<R>[], totalWidth: number): LaidOutColumn<R>[] {
  const chosen = new Set<Column<R>>();
  let used = -SEPARATOR;
  const byPriority = [...columns].sort((a, b) => a.priority - b.priority);
  for (const c of byPriority) {
    const need = c.width + SEPARATOR;
    if (c.priority === 0 || used + need <= totalWidth) {
      chosen.add(c);
      used += need;
    }
  }
  const out = columns.filter((c) => chosen.has(c)).map((column) => ({ column, width: column.width }));
  let spare = Math.max(0, totalWidth - used);
  const grow = (flex: "name" | "spark", upTo: number) => {
    const col = out.find((c) => c.column.flex === flex);
    if (!col || spare <= 0) return;
    const add = Math.min(spare, Math.max(0, upTo - col.width));
    col.width += add;
    spare -= add;
  };
  grow("name", 28);
  grow("spark", 40);
  grow("name", 64);
  return out;
}

function fit(text: string, width: number, align: "left" | "right"): string {
  const chars = [...text];
  if (chars.length > width) return width <= 1 ? chars.slice(0, width).join("") : chars.slice(0, width - 1).join("") + "…";
  const padding = " ".repeat(width - chars.length);
  return align === "left" ? text + padding : padding + text;
}

/** The sorted column and its direction arrow, marked on the header. */
export interface SortMark {
  column: string;
  arrow: string;
}

function markedTitle(title: string, width: number, arrow: string): string {
  const chars = [...title];
  return chars.length + 1 <= width ? title + arrow : chars.slice(0, Math.max(0, width - 1)).join("") + arrow;
}

export function renderHeader<R>(layout: LaidOutColumn<R>[], mark?: SortMark): string {
  return layout
    .map(({ column, width }) =>
      fit(mark && mark.column === column.id ? markedTitle(column.title, width, mark.arrow) : column.title, width, column.align))
    .join(" ");
}

export function renderRow<R>(layout: LaidOutColumn<R>[], row: R): string {
  return layout.map(({ column, width }) => fit(column.cell(row, width), width, column.align)).join(" ");
}
