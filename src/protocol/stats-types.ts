/**
 * The JSON document of nsqd's `GET /stats?format=json` (spec §3.6), in nsqd v1.3.0's key order.
 * Types only: src/server/stats.ts produces these objects, src/tools/stat reads a tolerant subset of
 * them (see src/tools/stat/types.ts), so both sides speak about one shape.
 */

/** One configured e2e latency quantile; `value` in nanoseconds. */
export interface PercentileValue {
  quantile: number;
  /** nanoseconds */
  value: number;
}

export interface E2eLatency {
  count: number;
  percentiles: PercentileValue[] | null;
}

export interface PubCount {
  topic: string;
  count: number;
}

export interface ClientStats {
  client_id: string;
  hostname: string;
  version: string;
  remote_address: string;
  state: number;
  ready_count: number;
  in_flight_count: number;
  message_count: number;
  finish_count: number;
  requeue_count: number;
  connect_ts: number;
  sample_rate: number;
  deflate: boolean;
  snappy: boolean;
  user_agent: string;
  authed?: boolean;
  auth_identity?: string;
  auth_identity_url?: string;
  pub_counts?: PubCount[];
  tls: boolean;
  tls_cipher_suite: string;
  tls_version: string;
  tls_negotiated_protocol: string;
  tls_negotiated_protocol_is_mutual: boolean;
}

export interface ChannelStats {
  channel_name: string;
  depth: number;
  backend_depth: number;
  in_flight_count: number;
  deferred_count: number;
  message_count: number;
  requeue_count: number;
  timeout_count: number;
  client_count: number;
  /** null when the request used include_clients=false */
  clients: ClientStats[] | null;
  paused: boolean;
  e2e_processing_latency: E2eLatency;
  /** present only after the disk queue skipped corrupt data (an addition to nsqd's shape) */
  backend_corruption?: BackendCorruption;
  /** beyond nsqd: present only with `/stats?rates=true` */
  rates?: RateStats;
  /** beyond nsqd: present only while dead letters are on for the channel (--max-attempts or its override) */
  max_attempts?: number;
  dead_letter_topic?: string;
  dead_letter_count?: number;
}

/**
 * Beyond nsqd: messages per second over the last 1 s, 10 s and 1 min (src/server/rates.ts):
 * `message_*` from message_count, `out_*` from messages that left (topic: to its channels;
 * channel: finished, dead-lettered or emptied).
 */
export interface RateStats {
  message_1s: number;
  message_10s: number;
  message_1m: number;
  out_1s: number;
  out_10s: number;
  out_1m: number;
}

/** What a disk queue set aside as corrupt since start (renamed .bad; see the log for details). */
export interface BackendCorruption {
  events: number;
  skipped_bytes: number;
  last_error: string;
}

export interface TopicStats {
  topic_name: string;
  channels: ChannelStats[];
  depth: number;
  backend_depth: number;
  message_count: number;
  message_bytes: number;
  paused: boolean;
  e2e_processing_latency: E2eLatency;
  backend_corruption?: BackendCorruption;
  /** beyond nsqd: present only with `/stats?rates=true` */
  rates?: RateStats;
}

export interface MemStats {
  heap_objects: number;
  heap_idle_bytes: number;
  heap_in_use_bytes: number;
  heap_released_bytes: number;
  gc_pause_usec_100: number;
  gc_pause_usec_99: number;
  gc_pause_usec_95: number;
  next_gc_bytes: number;
  gc_total_runs: number;
}

export interface StatsDocument {
  version: string;
  health: string;
  start_time: number;
  /** null when the `topic` filter names no existing topic */
  topics: TopicStats[] | null;
  /** absent when include_mem=false */
  memory?: MemStats;
  /** null when no connection has published, or include_clients=false */
  producers: ClientStats[] | null;
}
