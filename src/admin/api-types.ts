/**
 * The JSON shapes of nsqadmin's API (NSQ v1.3.0 internal/clusterinfo/types.go), shared by the
 * server (stats.ts, cluster-info.ts) and the browser code (ui/client/). Types only, importing only
 * import-free type files, so the browser's type-check (ui/client/tsconfig.json, DOM library) can
 * include this file.
 */
import type { LookupdProducer } from "../protocol/lookupd-types.ts";
import type { RateStats } from "../protocol/stats-types.ts";

export interface ProducerTopic {
  topic: string;
  tombstoned: boolean;
}

/** An nsqd as nsqadmin's /api/nodes lists it: lookupd's producer plus what nsqadmin adds. */
export interface Producer extends LookupdProducer {
  remote_addresses: string[] | null;
  topics: ProducerTopic[] | null;
  out_of_date: boolean;
}

/** One percentile of an e2e latency aggregate (values in ns). */
export interface LatencyPercentile {
  quantile: number;
  value?: number;
  min: number;
  max: number;
  average: number;
  count: number;
}

export interface LatencyAggregate {
  count: number;
  percentiles: LatencyPercentile[] | null;
  topic: string;
  channel: string;
  host: string;
}

/**
 * Beyond nsqadmin: the message rates (msgs/s) an `nsq serve` node measures itself
 * (`/stats?rates=true`): `message_*` in, `out_*` out, over the last 1 s, 10 s and 1 min.
 */
export type AdminRates = RateStats;

export interface AdminClientStats {
  node: string;
  remote_address: string;
  version: string;
  client_id: string;
  hostname: string;
  user_agent: string;
  connect_ts: number;
  /** nanoseconds since connect_ts (whole seconds), as Go's time.Duration */
  connected: number;
  in_flight_count: number;
  ready_count: number;
  finish_count: number;
  requeue_count: number;
  message_count: number;
  sample_rate: number;
  deflate: boolean;
  snappy: boolean;
  authed: boolean;
  auth_identity: string;
  auth_identity_url: string;
  tls: boolean;
  tls_cipher_suite: string;
  tls_version: string;
  tls_negotiated_protocol: string;
  tls_negotiated_protocol_is_mutual: boolean;
}

export interface AdminChannelStats {
  node: string;
  hostname: string;
  topic_name: string;
  channel_name: string;
  depth: number;
  memory_depth: number;
  backend_depth: number;
  in_flight_count: number;
  deferred_count: number;
  requeue_count: number;
  timeout_count: number;
  message_count: number;
  client_count: number;
  nodes: AdminChannelStats[] | null;
  clients: AdminClientStats[] | null;
  paused: boolean;
  e2e_processing_latency: LatencyAggregate | null;
  /** beyond nsqadmin: a node's own rates; on a cluster-wide object (node "*") their sum, present
   * only when every node of it offered them */
  rates?: AdminRates;
}

export interface AdminTopicStats {
  node: string;
  hostname: string;
  topic_name: string;
  depth: number;
  memory_depth: number;
  backend_depth: number;
  message_count: number;
  nodes: AdminTopicStats[] | null;
  channels: AdminChannelStats[] | null;
  paused: boolean;
  e2e_processing_latency: LatencyAggregate | null;
  /** beyond nsqadmin: as AdminChannelStats.rates */
  rates?: AdminRates;
}

/**
 * The settings the server puts in every UI page (ui/shell.ts) and the browser code reads back
 * (ui/client/main.ts): base path, whether this user may act, the lookupds / nsqds, graphs.
 */
export interface UiConfig {
  version: string;
  basePath: string;
  /** --admin-user is unset, or the ACL header names an admin user */
  isAdmin: boolean;
  lookupd: string[];
  nsqd: string[];
  graphEnabled: boolean;
  statsdInterval: number;
}
