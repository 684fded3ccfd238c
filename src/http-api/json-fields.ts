/**
 * Reading fields of untrusted JSON from a node's HTTP API (nsqd /stats and /info, nsqlookupd
 * /nodes and /lookup). A missing or mistyped field reads as {} / 0 / "" / false / [] instead of
 * throwing: one odd node (another version, a broken proxy) must never take a whole view down.
 * Shared by the stat tool's parsers and nsq admin.
 */

export type Json = Record<string, unknown>;

export function obj(v: unknown): Json {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
}
export function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}
export function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
export function bool(v: unknown): boolean {
  return v === true;
}
export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
/** The strings of an array (other entries dropped). */
export function strings(v: unknown): string[] {
  return list(v).filter((s): s is string => typeof s === "string");
}
