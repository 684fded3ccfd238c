/**
 * nsqadmin v1.3.0's options (nsqadmin/options.go, apps/nsqadmin/main.go; spec §6.6): every flag
 * with its name and default, the TOML keys, and the checks nsqadmin makes at start.
 */
import type { ParsedArgs } from "../util/flag-spec.ts";
import { applyFlagsToOptions, type OptionFlagSpec } from "../util/flag-options.ts";
import { UsageError } from "../util/usage-error.ts";
import { logLevelNumber, type LogLevelName } from "../util/logger.ts";
import { parseCidr } from "./acl.ts";

export interface AdminOptions {
  logLevel: LogLevelName;
  logPrefix: string;
  httpAddress: string;
  /** normalized: starts with "/", no trailing "/" except for the root itself */
  basePath: string;
  devStaticDir: string;
  graphiteUrl: string;
  proxyGraphite: boolean;
  statsdPrefix: string;
  statsdCounterFormat: string;
  statsdGaugeFormat: string;
  /** ms */
  statsdInterval: number;
  lookupdHttpAddresses: string[];
  nsqdHttpAddresses: string[];
  /** ms */
  httpClientConnectTimeout: number;
  /** ms */
  httpClientRequestTimeout: number;
  httpClientTlsInsecureSkipVerify: boolean;
  httpClientTlsRootCaFile: string;
  httpClientTlsCert: string;
  httpClientTlsKey: string;
  allowConfigFromCidr: string;
  notificationHttpEndpoint: string;
  aclHttpHeader: string;
  adminUsers: string[];
}

export function defaultAdminOptions(): AdminOptions {
  return {
    logLevel: "info",
    logPrefix: "[nsqadmin] ",
    httpAddress: "0.0.0.0:4171",
    basePath: "/",
    devStaticDir: "",
    graphiteUrl: "",
    proxyGraphite: false,
    statsdPrefix: "nsq.%s",
    statsdCounterFormat: "stats.counters.%s.count",
    statsdGaugeFormat: "stats.gauges.%s",
    statsdInterval: 60_000,
    lookupdHttpAddresses: [],
    nsqdHttpAddresses: [],
    httpClientConnectTimeout: 2000,
    httpClientRequestTimeout: 5000,
    httpClientTlsInsecureSkipVerify: false,
    httpClientTlsRootCaFile: "",
    httpClientTlsCert: "",
    httpClientTlsKey: "",
    allowConfigFromCidr: "127.0.0.1/8",
    notificationHttpEndpoint: "",
    aclHttpHeader: "X-Forwarded-User",
    adminUsers: [],
  };
}

const D = defaultAdminOptions();

export type AdminFlagSpec = OptionFlagSpec<AdminOptions>;

export const ADMIN_FLAGS: AdminFlagSpec[] = [
  { name: "log-level", kind: "string", option: "logLevel", default: D.logLevel, describe: "set log verbosity: debug, info, warn, error, or fatal" },
  { name: "log-prefix", kind: "string", option: "logPrefix", default: D.logPrefix, describe: "log message prefix" },
  { name: "verbose", kind: "bool", default: false, describe: "[deprecated] has no effect, use --log-level" },
  { name: "http-address", kind: "string", address: "listen", option: "httpAddress", default: D.httpAddress, describe: "<addr>:<port> to listen on for HTTP clients" },
  { name: "base-path", kind: "string", option: "basePath", default: D.basePath, describe: "URL base path" },
  { name: "dev-static-dir", kind: "string", option: "devStaticDir", default: "", describe: "(development use only) serve app.js/app.css from this directory" },
  { name: "graphite-url", kind: "string", option: "graphiteUrl", default: "", describe: "graphite HTTP address" },
  { name: "proxy-graphite", kind: "bool", option: "proxyGraphite", default: false, describe: "proxy HTTP requests to graphite" },
  { name: "statsd-counter-format", kind: "string", option: "statsdCounterFormat", default: D.statsdCounterFormat, describe: "The counter stats key formatting applied by the implementation of statsd. If no formatting is desired, set this to an empty string." },
  { name: "statsd-gauge-format", kind: "string", option: "statsdGaugeFormat", default: D.statsdGaugeFormat, describe: "The gauge stats key formatting applied by the implementation of statsd. If no formatting is desired, set this to an empty string." },
  { name: "statsd-prefix", kind: "string", option: "statsdPrefix", default: D.statsdPrefix, describe: "prefix used for keys sent to statsd (%s for host replacement, must match nsqd)" },
  { name: "statsd-interval", kind: "duration", option: "statsdInterval", default: D.statsdInterval, describe: "time interval nsqd is configured to push to statsd (must match nsqd)" },
  { name: "notification-http-endpoint", kind: "string", option: "notificationHttpEndpoint", default: "", describe: "HTTP endpoint (fully qualified) to which POST notifications of admin actions will be sent" },
  { name: "http-client-connect-timeout", kind: "duration", option: "httpClientConnectTimeout", default: D.httpClientConnectTimeout, describe: "timeout for HTTP connect" },
  { name: "http-client-request-timeout", kind: "duration", option: "httpClientRequestTimeout", default: D.httpClientRequestTimeout, describe: "timeout for HTTP request" },
  { name: "http-client-tls-insecure-skip-verify", kind: "bool", option: "httpClientTlsInsecureSkipVerify", default: false, describe: "configure the HTTP client to skip verification of TLS certificates" },
  { name: "http-client-tls-root-ca-file", kind: "string", option: "httpClientTlsRootCaFile", default: "", describe: "path to CA file for the HTTP client" },
  { name: "http-client-tls-cert", kind: "string", option: "httpClientTlsCert", default: "", describe: "path to certificate file for the HTTP client" },
  { name: "http-client-tls-key", kind: "string", option: "httpClientTlsKey", default: "", describe: "path to key file for the HTTP client" },
  { name: "allow-config-from-cidr", kind: "string", option: "allowConfigFromCidr", default: D.allowConfigFromCidr, describe: "A CIDR from which to allow HTTP requests to the /config endpoint" },
  { name: "acl-http-header", kind: "string", option: "aclHttpHeader", default: D.aclHttpHeader, describe: "HTTP header to check for authenticated admin users" },
  { name: "lookupd-http-address", kind: "strings", address: "http", option: "lookupdHttpAddresses", cfgKey: "nsqlookupd_http_addresses", describe: "lookupd HTTP address (may be given multiple times)" },
  { name: "nsqd-http-address", kind: "strings", address: "http", option: "nsqdHttpAddresses", cfgKey: "nsqd_http_addresses", describe: "nsqd HTTP address (may be given multiple times)" },
  { name: "admin-user", kind: "strings", option: "adminUsers", cfgKey: "admin_users", describe: "admin user (may be given multiple times; if specified, only these users will be able to perform privileged actions; acl-http-header is used to determine the authenticated user)" },
];

/** path.Join("/", p) as nsqadmin's bp() applies it: leading "/", cleaned, no trailing "/". */
export function normalizeBasePath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return "/" + parts.join("/");
}

/** The config a user may read through GET /config/:opt (cfg names as nsqadmin's getOptByCfgName). */
export function configValue(opts: AdminOptions, name: string): { found: boolean; value?: unknown } {
  for (const spec of ADMIN_FLAGS) {
    if (!spec.option) continue;
    const cfg = spec.cfgKey ?? spec.name.replace(/-/g, "_");
    if (cfg !== name) continue;
    const v = opts[spec.option];
    // durations are Go time.Duration (nanoseconds) in JSON
    if (spec.kind === "duration") return { found: true, value: (v as number) * 1e6 };
    // lg.LogLevel is an int in Go's JSON (debug=1 … fatal=5), as nsqd's /config/log_level
    if (spec.option === "logLevel") return { found: true, value: logLevelNumber(v as LogLevelName) };
    return { found: true, value: v };
  }
  return { found: false };
}

/** Builds AdminOptions from resolved flags and validates them as nsqadmin.New does. */
export function adminOptionsFromArgs(args: ParsedArgs): AdminOptions {
  const opts = applyFlagsToOptions(ADMIN_FLAGS, args, defaultAdminOptions());
  validateAdminOptions(opts);
  return opts;
}

/** nsqadmin.New's checks, with its messages. Normalizes basePath. */
export function validateAdminOptions(opts: AdminOptions): void {
  if (opts.nsqdHttpAddresses.length === 0 && opts.lookupdHttpAddresses.length === 0) {
    throw new UsageError("--nsqd-http-address or --lookupd-http-address required");
  }
  if (opts.nsqdHttpAddresses.length > 0 && opts.lookupdHttpAddresses.length > 0) {
    throw new UsageError("use --nsqd-http-address or --lookupd-http-address not both");
  }
  if (opts.httpClientTlsCert !== "" && opts.httpClientTlsKey === "") {
    throw new UsageError("--http-client-tls-key must be specified with --http-client-tls-cert");
  }
  if (opts.httpClientTlsKey !== "" && opts.httpClientTlsCert === "") {
    throw new UsageError("--http-client-tls-cert must be specified with --http-client-tls-key");
  }
  for (const a of [...opts.nsqdHttpAddresses, ...opts.lookupdHttpAddresses]) {
    const hostPort = a.replace(/^https?:\/\//, "").replace(/\/+$/, "");
    if (!/^(\[[^\]]+\]|[^:\s/]+):\d+$/.test(hostPort)) {
      const flag = opts.nsqdHttpAddresses.includes(a) ? "nsqd-http-address" : "lookupd-http-address";
      throw new UsageError(`failed to resolve --${flag} (${a}) - not host:port`);
    }
  }
  if (opts.allowConfigFromCidr !== "") {
    if (parseCidr(opts.allowConfigFromCidr) === null) {
      throw new UsageError(`failed to parse --allow-config-from-cidr (${opts.allowConfigFromCidr}) - invalid CIDR address: ${opts.allowConfigFromCidr}`);
    }
  }
  opts.basePath = normalizeBasePath(opts.basePath);
}
