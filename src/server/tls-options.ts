/**
 * nsqd's TLS settings (spec §1.13) turned into what node:tls and Bun.serve need: certificate,
 * key and CA read once, the client-certificate policy and the minimum protocol version.
 * Shared by the TCP upgrade (transport-upgrade.ts), the HTTPS listener (https.ts) and outgoing
 * HTTPS calls to auth servers (auth.ts, which trusts --tls-root-ca-file).
 */
import { readFileSync } from "node:fs";
import type { SecureVersion } from "node:tls";
import type { NsqdOptions } from "./options.ts";

export type ClientAuthPolicy = "none" | "require" | "require-verify";

export interface ServerTlsConfig {
  key: Buffer;
  cert: Buffer;
  /** --tls-root-ca-file: verifies client certificates (require-verify) and auth servers */
  ca: Buffer | undefined;
  clientAuthPolicy: ClientAuthPolicy;
  /** ask the peer for a certificate (both policies) */
  requestCert: boolean;
  /** reject peers whose certificate does not verify (require-verify only) */
  rejectUnauthorized: boolean;
  minVersion: SecureVersion;
}

const MIN_VERSIONS: Record<string, SecureVersion> = {
  "": "TLSv1",
  "tls1.0": "TLSv1",
  "tls1.1": "TLSv1.1",
  "tls1.2": "TLSv1.2",
  "tls1.3": "TLSv1.3",
};

/** --tls-min-version (`tls1.0`…`tls1.3`, case-insensitive) as a node:tls version name. */
export function parseTlsMinVersion(value: string): SecureVersion {
  const v = MIN_VERSIONS[value.trim().toLowerCase()];
  if (v === undefined) throw new Error(`unknown tls-min-version ${JSON.stringify(value)} (tls1.0, tls1.1, tls1.2, tls1.3)`);
  return v;
}

/** nsqd's policy names; anything else means no client certificate is asked for. */
export function parseClientAuthPolicy(value: string): ClientAuthPolicy {
  if (value === "require") return "require";
  if (value === "require-verify") return "require-verify";
  return "none";
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`failed to load ${what} ${JSON.stringify(path)} - ${err instanceof Error ? err.message : String(err)}`);
  }
}

const cache = new WeakMap<NsqdOptions, ServerTlsConfig | null>();
const caCache = new WeakMap<NsqdOptions, Buffer>();

/**
 * Reads the files named by the options (once per options object) and returns the TLS config,
 * or null when --tls-cert/--tls-key are not both set. Throws with the file name on a read
 * error; nsqd should call this at start so a bad path fails the start, not the first client.
 */
export function loadTlsConfig(options: NsqdOptions): ServerTlsConfig | null {
  const cached = cache.get(options);
  if (cached !== undefined) return cached;
  let config: ServerTlsConfig | null = null;
  const ca = outgoingCa(options);
  if (options.tlsCert !== "" && options.tlsKey !== "") {
    const policy = parseClientAuthPolicy(options.tlsClientAuthPolicy);
    config = {
      key: readPem(options.tlsKey, "tls-key"),
      cert: readPem(options.tlsCert, "tls-cert"),
      ca,
      clientAuthPolicy: policy,
      requestCert: policy !== "none",
      rejectUnauthorized: policy === "require-verify",
      minVersion: parseTlsMinVersion(options.tlsMinVersion),
    };
  }
  cache.set(options, config);
  return config;
}

/** The CA used to verify auth servers over HTTPS (--tls-root-ca-file), if any. */
export function outgoingCa(options: NsqdOptions): Buffer | undefined {
  if (options.tlsRootCaFile === "") return undefined;
  let ca = caCache.get(options);
  if (ca === undefined) {
    ca = readPem(options.tlsRootCaFile, "tls-root-ca-file");
    caCache.set(options, ca);
  }
  return ca;
}

/** node:tls protocol names (`TLSv1.2`) as nsqd's /stats shows them (`TLS1.2`). */
export function statsTlsVersion(protocol: string | null): string {
  switch (protocol) {
    case "TLSv1":
      return "TLS1.0";
    case "TLSv1.1":
      return "TLS1.1";
    case "TLSv1.2":
      return "TLS1.2";
    case "TLSv1.3":
      return "TLS1.3";
    default:
      return protocol ?? "";
  }
}
