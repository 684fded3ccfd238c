/**
 * The client side of TLS (go-nsq's `tls_v1`, `tls_root_ca_file`, `tls_insecure_skip_verify`,
 * `tls_cert`, `tls_key`, `tls_min_version`) turned into node:tls connect options. Files are read
 * here so a bad path fails with the option's name in the message.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ConnectionOptions, SecureVersion } from "node:tls";
import { ConfigError } from "./errors.ts";

/** The TLS part of ClientConfig (kept structural so this module does not import config.ts). */
export interface ClientTlsSettings {
  tlsRootCaFile: string;
  tlsInsecureSkipVerify: boolean;
  tlsCert: string;
  tlsKey: string;
  tlsMinVersion: string;
}

const MIN_VERSIONS: Record<string, SecureVersion> = {
  "tls1.0": "TLSv1",
  "tls1.1": "TLSv1.1",
  "tls1.2": "TLSv1.2",
  "tls1.3": "TLSv1.3",
};

/** `tls1.0`…`tls1.3` (go-nsq names; "" = the runtime's default) → node:tls version name. */
export function parseClientTlsMinVersion(value: string): SecureVersion | undefined {
  const v = value.trim().toLowerCase();
  if (v === "") return undefined;
  const version = MIN_VERSIONS[v];
  if (version === undefined) {
    throw new ConfigError(`invalid value "${value}" for option tls_min_version: expected tls1.0, tls1.1, tls1.2 or tls1.3`);
  }
  return version;
}

function readPem(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new ConfigError(`cannot read ${option} "${path}": ${reason}`);
  }
}

/**
 * node:tls options for a handshake with nsqd at `host`. The server name is verified against the
 * certificate unless insecure-skip-verify (go-nsq sets ServerName to the dialled host too);
 * SNI is only sent for DNS names, as TLS forbids IP literals there.
 */
export function clientTlsOptions(settings: ClientTlsSettings, host: string): ConnectionOptions {
  if ((settings.tlsCert === "") !== (settings.tlsKey === "")) {
    throw new ConfigError("tls_cert and tls_key must be given together");
  }
  const options: ConnectionOptions = {
    host,
    rejectUnauthorized: !settings.tlsInsecureSkipVerify,
  };
  if (isIP(host) === 0) options.servername = host;
  if (settings.tlsRootCaFile !== "") options.ca = readPem(settings.tlsRootCaFile, "tls_root_ca_file");
  if (settings.tlsCert !== "") {
    options.cert = readPem(settings.tlsCert, "tls_cert");
    options.key = readPem(settings.tlsKey, "tls_key");
  }
  const minVersion = parseClientTlsMinVersion(settings.tlsMinVersion);
  if (minVersion !== undefined) options.minVersion = minVersion;
  return options;
}
