/**
 * nsqd's HTTPS listener (`--https-address`, spec §0/§1.13): the same routes as the plain HTTP
 * API (http.ts's NsqdHttpServer in its TLS mode, which never answers 403 TLS_REQUIRED) over
 * Bun.serve with the broker's certificate and its client-certificate policy.
 */
import type { Nsqd } from "./nsqd.ts";
import { listenNsqdHttp, type HttpServerHandle } from "./http.ts";
import { loadTlsConfig } from "./tls-options.ts";

export function startHttpsServer(nsqd: Nsqd, address: string): HttpServerHandle {
  const config = loadTlsConfig(nsqd.options);
  if (config === null) throw new Error("HTTPS listener needs --tls-cert and --tls-key");
  return listenNsqdHttp(nsqd, address, {
    key: config.key,
    cert: config.cert,
    ...(config.ca !== undefined ? { ca: config.ca } : {}),
    requestCert: config.requestCert,
    rejectUnauthorized: config.rejectUnauthorized,
  });
}
