/**
 * nsqd's HTTPS listener (`--https-address`, spec §0/§1.13): the same routes as the plain HTTP
 * API (http.ts's NsqdHttpServer in its TLS mode, which never answers 403 TLS_REQUIRED) over
 * Bun.serve with the broker's certificate and its client-certificate policy.
 */
import type { Server } from "bun";
import type { Nsqd } from "./nsqd.ts";
import { NsqdHttpServer, type HttpServerHandle } from "./http.ts";
import { parseListenAddress, formatHostPort } from "./address.ts";
import { loadTlsConfig } from "./tls-options.ts";

export function startHttpsServer(nsqd: Nsqd, address: string): HttpServerHandle {
  const config = loadTlsConfig(nsqd.options);
  if (config === null) throw new Error("HTTPS listener needs --tls-cert and --tls-key");
  const addr = parseListenAddress(address);
  const api = new NsqdHttpServer(nsqd, true);
  const fetch = (req: Request, server: Server<undefined>): Promise<Response> => {
    const ip = server.requestIP(req);
    const remote = ip === null ? "" : formatHostPort(ip.address.replace(/^::ffff:/, ""), ip.port);
    return api.handle(req, remote);
  };
  const common = {
    fetch,
    development: false,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    tls: {
      key: config.key,
      cert: config.cert,
      ...(config.ca !== undefined ? { ca: config.ca } : {}),
      requestCert: config.requestCert,
      rejectUnauthorized: config.rejectUnauthorized,
    },
  };
  let server: Server<undefined>;
  try {
    server =
      addr.kind === "tcp"
        ? Bun.serve({ ...common, hostname: addr.host, port: addr.port })
        : Bun.serve({ ...common, unix: addr.path });
  } catch (err) {
    throw new Error(`listen (${address}) failed - ${err instanceof Error ? err.message : String(err)}`);
  }
  const port = addr.kind === "tcp" ? (server.port ?? -1) : -1;
  return {
    port,
    address: addr.kind === "tcp" ? formatHostPort(addr.host, port) : addr.path,
    stop: () => void server.stop(true),
  };
}
