/**
 * Command-line flags for the client's transport options (TLS, compression, AUTH), shared by
 * `nsq tail`, `nsq to-file` and `nsq pub`. The real tools only take these through
 * `--consumer-opt` / `--producer-opt`; the flags are shorthands that become the same go-nsq
 * `key,value` options, placed before the user's explicit options so those still win.
 */
import type { FlagSpec, ParsedArgs } from "../util/flag-spec.ts";

export const CLIENT_TRANSPORT_FLAGS: FlagSpec[] = [
  { name: "tls", kind: "bool", default: false, describe: "connect to nsqd over TLS (consumer/producer option tls_v1)" },
  { name: "tls-insecure-skip-verify", kind: "bool", default: false, describe: "TLS: accept any nsqd certificate (implies --tls)" },
  { name: "tls-root-ca-file", kind: "string", default: "", describe: "TLS: PEM file of CAs that sign nsqd's certificate (implies --tls)" },
  { name: "tls-cert", kind: "string", default: "", describe: "TLS: client certificate PEM file, with --tls-key (implies --tls)" },
  { name: "tls-key", kind: "string", default: "", describe: "TLS: client key PEM file, with --tls-cert (implies --tls)" },
  { name: "snappy", kind: "bool", default: false, describe: "compress the connection with snappy" },
  { name: "deflate", kind: "bool", default: false, describe: "compress the connection with deflate" },
  { name: "deflate-level", kind: "int", default: 6, describe: "deflate compression level (1-9)" },
  { name: "auth-secret", kind: "string", default: "", describe: "secret sent with AUTH when nsqd requires it" },
];

/** The go-nsq options (`key,value`) the transport flags stand for. */
export function transportFlagOptions(args: ParsedArgs): string[] {
  const text = (name: string): string => (typeof args[name] === "string" ? (args[name] as string) : "");
  const opts: string[] = [];
  const caFile = text("tls-root-ca-file");
  const cert = text("tls-cert");
  const key = text("tls-key");
  const insecure = args["tls-insecure-skip-verify"] === true;
  if (args["tls"] === true || insecure || caFile !== "" || cert !== "" || key !== "") opts.push("tls_v1,true");
  if (insecure) opts.push("tls_insecure_skip_verify,true");
  if (caFile !== "") opts.push(`tls_root_ca_file,${caFile}`);
  if (cert !== "") opts.push(`tls_cert,${cert}`);
  if (key !== "") opts.push(`tls_key,${key}`);
  if (args["snappy"] === true) opts.push("snappy,true");
  if (args["deflate"] === true) opts.push("deflate,true");
  if (args["deflate-level"] !== undefined && args["deflate-level"] !== 6) opts.push(`deflate_level,${String(args["deflate-level"])}`);
  const secret = text("auth-secret");
  if (secret !== "") opts.push(`auth_secret,${secret}`);
  return opts;
}
