/**
 * nsqlookupd's options, with nsqlookupd v1.3.0's defaults (spec §5.4). Durations are milliseconds.
 * The CLI (src/commands/lookupd.ts) maps flags / TOML keys onto this shape; embedders and tests pass
 * a Partial<LookupdOptions> to `new Nsqlookupd()`.
 */
import { hostname } from "node:os";
import type { LogLevelName } from "../util/logger.ts";

export interface LookupdOptions {
  logLevel: LogLevelName;
  logPrefix: string;
  /** "host:port" for the V1 TCP protocol; port 0 picks a free port (see Nsqlookupd.tcpPort) */
  tcpAddress: string;
  /** "host:port" for the HTTP API; port 0 picks a free port (see Nsqlookupd.httpPort) */
  httpAddress: string;
  /** returned to nsqd in the IDENTIFY reply; nsqd calls /channels on it */
  broadcastAddress: string;
  /** producers without IDENTIFY/PING for longer are hidden from /lookup and /nodes (ms) */
  inactiveProducerTimeout: number;
  /** how long /topic/tombstone hides a producer from /lookup (ms) */
  tombstoneLifetime: number;
}

export function defaultLookupdOptions(): LookupdOptions {
  return {
    logLevel: "info",
    logPrefix: "[nsqlookupd] ",
    tcpAddress: "0.0.0.0:4160",
    httpAddress: "0.0.0.0:4161",
    broadcastAddress: hostname(),
    inactiveProducerTimeout: 300_000,
    tombstoneLifetime: 45_000,
  };
}
