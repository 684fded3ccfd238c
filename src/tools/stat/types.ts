/**
 * The JSON shapes the stat tool reads from nsqd (/stats, /info) and nsqlookupd (/lookup, /nodes),
 * as spec §3.6, §3.3 and §5.3 describe them. Only the fields the tool uses are typed; every field
 * is treated as possibly missing when parsed (see parse.ts) because nodes of other versions or
 * broken proxies must never crash the tool.
 */

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
  user_agent: string;
  tls: boolean;
  deflate: boolean;
  snappy: boolean;
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
}

export interface TopicStats {
  topic_name: string;
  channels: ChannelStats[];
  depth: number;
  backend_depth: number;
  message_count: number;
  message_bytes: number;
  paused: boolean;
}

export interface NsqdStats {
  version: string;
  health: string;
  start_time: number;
  /** null when a topic filter named an unknown topic */
  topics: TopicStats[] | null;
}

export interface NsqdInfo {
  version: string;
  broadcast_address: string;
  hostname: string;
  http_port: number;
  tcp_port: number;
}

/** A producer as nsqlookupd's /lookup and /nodes list it. */
export interface LookupdProducer {
  remote_address: string;
  hostname: string;
  broadcast_address: string;
  tcp_port: number;
  http_port: number;
  version: string;
}
