/**
 * The JSON shapes the stat tool (and, for producers and /info, nsq admin) reads from nsqd (/stats,
 * /info) and nsqlookupd (/lookup, /nodes), as spec §3.6, §3.3 and §5.3 describe them. The /stats
 * shapes are the ones nsqd produces (src/protocol/stats-types.ts), narrowed to the fields the tool
 * uses: every field is treated as possibly missing when parsed (see node-json.ts) because nodes
 * of other versions or broken proxies must never crash the tool, so it only relies on what it
 * fills in.
 */
import type * as Wire from "../protocol/stats-types.ts";
import type { LookupdProducer } from "../protocol/lookupd-types.ts";

export type ClientStats = Pick<
  Wire.ClientStats,
  | "client_id"
  | "hostname"
  | "version"
  | "remote_address"
  | "state"
  | "ready_count"
  | "in_flight_count"
  | "message_count"
  | "finish_count"
  | "requeue_count"
  | "connect_ts"
  | "user_agent"
  | "tls"
  | "deflate"
  | "snappy"
  | "tls_version"
>;

export type ChannelStats = Pick<
  Wire.ChannelStats,
  | "channel_name"
  | "depth"
  | "backend_depth"
  | "in_flight_count"
  | "deferred_count"
  | "message_count"
  | "requeue_count"
  | "timeout_count"
  | "client_count"
  | "paused"
> & {
  /** null when the request used include_clients=false */
  clients: ClientStats[] | null;
  /** the node's own message rates (`nsq serve` with ?rates=true); absent from nsqd */
  rates?: Wire.RateStats;
};

export type TopicStats = Pick<
  Wire.TopicStats,
  "topic_name" | "depth" | "backend_depth" | "message_count" | "message_bytes" | "paused"
> & { channels: ChannelStats[]; rates?: Wire.RateStats };

export type NsqdStats = Pick<Wire.StatsDocument, "version" | "health" | "start_time"> & {
  /** null when a topic filter named an unknown topic */
  topics: TopicStats[] | null;
};

export interface NsqdInfo {
  version: string;
  broadcast_address: string;
  hostname: string;
  http_port: number;
  tcp_port: number;
}

/** A producer as nsqlookupd's /lookup and /nodes list it. */
export type { LookupdProducer };
