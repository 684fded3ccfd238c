/**
 * The JSON shape nsqlookupd's HTTP API gives a producer (spec §5.3: PEER in /lookup, NODE in
 * /nodes without its topics). Types only and import-free, so nsq admin's browser code (which
 * type-checks with the DOM library, src/admin/ui/client/tsconfig.json) can include it too.
 */

export interface LookupdProducer {
  remote_address: string;
  hostname: string;
  broadcast_address: string;
  tcp_port: number;
  http_port: number;
  version: string;
}
