/**
 * Sorting of the dashboard's tables: which columns a level can be sorted by (`s` cycles through
 * them), in which direction (`S` reverses it), and the marker the sorted column's header shows.
 * Names sort A→Z by default, numbers largest first: the busiest rows on top.
 */
import type { ClientRow, StatRow } from "../model.ts";

export type SortKey = "name" | "depth" | "rate" | "in-flight" | "consumers" | "ready" | "messages" | "connected";

export interface SortState {
  key: SortKey;
  /** true: the opposite of the key's natural direction */
  reverse: boolean;
}

interface SortSpec<R> {
  key: SortKey;
  /** id of the column (columns.ts) whose header carries the marker */
  column: string;
  value: ((r: R) => number) | null;
}

const byName = <R extends { name: string }>(a: R, b: R) => a.name.localeCompare(b.name);

export const STAT_SORTS: ReadonlyArray<SortSpec<StatRow>> = [
  { key: "name", column: "name", value: null },
  { key: "depth", column: "depth", value: (r) => r.depth },
  { key: "rate", column: "in", value: (r) => r.rateIn ?? -1 },
  { key: "in-flight", column: "inflight", value: (r) => r.inFlight },
  { key: "consumers", column: "consumers", value: (r) => r.consumers },
];

export const CLIENT_SORTS: ReadonlyArray<SortSpec<ClientRow>> = [
  { key: "name", column: "name", value: null },
  { key: "ready", column: "ready", value: (r) => r.ready },
  { key: "rate", column: "rate", value: (r) => r.rate ?? -1 },
  { key: "in-flight", column: "inflight", value: (r) => r.inFlight },
  { key: "messages", column: "messages", value: (r) => r.messages },
  { key: "connected", column: "connected", value: (r) => r.connectedSec },
];

export type TableKind = "stat" | "clients";

function specsFor(kind: TableKind): ReadonlyArray<SortSpec<StatRow>> | ReadonlyArray<SortSpec<ClientRow>> {
  return kind === "stat" ? STAT_SORTS : CLIENT_SORTS;
}

/** The sort in effect on a table: a key the table has no column for sorts by name. */
export function effectiveSort(kind: TableKind, sort: SortState): SortState {
  return specsFor(kind).some((s) => s.key === sort.key) ? sort : { key: "name", reverse: false };
}

/** The next sort column of the table (`s`); the direction goes back to the natural one. */
export function nextSort(kind: TableKind, sort: SortState): SortState {
  const specs = specsFor(kind);
  const i = specs.findIndex((s) => s.key === sort.key);
  return { key: specs[(i + 1) % specs.length]!.key, reverse: false };
}

/** ▲ ascending, ▼ descending, as shown on the sorted column's header and in the title. */
export function sortArrow(sort: SortState): "▲" | "▼" {
  const ascending = (sort.key === "name") !== sort.reverse;
  return ascending ? "▲" : "▼";
}

/** The column id carrying the sort marker on this table. */
export function sortColumn(kind: TableKind, sort: SortState): string {
  const key = effectiveSort(kind, sort).key;
  return specsFor(kind).find((s) => s.key === key)!.column;
}

function sortWith<R extends { name: string }>(rows: R[], specs: ReadonlyArray<SortSpec<R>>, sort: SortState): R[] {
  const spec = specs.find((s) => s.key === sort.key) ?? specs[0]!;
  const dir = sort.reverse ? -1 : 1;
  const value = spec.value;
  if (value === null) return rows.sort((a, b) => dir * byName(a, b));
  // ties keep name order whatever the direction, so equal rows never swap places between polls
  return rows.sort((a, b) => dir * (value(b) - value(a)) || byName(a, b));
}

export function sortStatRows(rows: StatRow[], sort: SortState): StatRow[] {
  return sortWith(rows, STAT_SORTS, effectiveSort("stat", sort));
}

export function sortClientRows(rows: ClientRow[], sort: SortState): ClientRow[] {
  return sortWith(rows, CLIENT_SORTS, effectiveSort("clients", sort));
}
