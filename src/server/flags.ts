/**
 * nsqd's command-line flags (spec §4): names, defaults and TOML cfg keys exactly as nsqd v1.3.0,
 * each tied to the NsqdOptions field it sets. Also used by the HTTP `/config/:opt` route to map
 * cfg keys onto options, so every row stays here.
 */
import type { FlagSpec, ParsedArgs } from "../util/flag-spec.ts";
import { UsageError } from "../util/usage-error.ts";
import { parseLogLevel } from "../util/logger.ts";
import { flagSource, parseGoFloat } from "../util/goflags.ts";
import { defaultNsqdOptions, type NsqdOptions, type TlsRequired } from "./options.ts";

export type NsqdFlagSpec = FlagSpec & { option: keyof NsqdOptions };

const D = defaultNsqdOptions();

export const NSQD_FLAGS: NsqdFlagSpec[] = [
  { name: "log-level", kind: "string", option: "logLevel", default: D.logLevel, describe: "set log verbosity: debug, info, warn, error, or fatal" },
  { name: "log-prefix", kind: "string", option: "logPrefix", default: D.logPrefix, describe: "log message prefix" },
  { name: "node-id", kind: "int", option: "nodeId", cfgKey: "id", default: D.nodeId, describe: "unique part for message IDs, (int) in range [0,1024) (default is hash of hostname)" },
  { name: "tcp-address", kind: "string", address: "listen-or-unix", option: "tcpAddress", default: D.tcpAddress, describe: "<addr>:<port> to listen on for TCP clients" },
  { name: "http-address", kind: "string", address: "listen-or-unix", emptyOk: true, option: "httpAddress", default: D.httpAddress, describe: "<addr>:<port> to listen on for HTTP clients" },
  { name: "https-address", kind: "string", address: "listen", emptyOk: true, option: "httpsAddress", default: D.httpsAddress, describe: "<addr>:<port> to listen on for HTTPS clients" },
  { name: "broadcast-address", kind: "string", option: "broadcastAddress", default: D.broadcastAddress, describe: "address that will be registered with lookupd (defaults to the OS hostname)" },
  { name: "broadcast-tcp-port", kind: "int", option: "broadcastTcpPort", default: D.broadcastTcpPort, describe: "TCP port that will be registered with lookupd (defaults to the TCP port that this nsqd is listening on)" },
  { name: "broadcast-http-port", kind: "int", option: "broadcastHttpPort", default: D.broadcastHttpPort, describe: "HTTP port that will be registered with lookupd (defaults to the HTTP port that this nsqd is listening on)" },
  { name: "lookupd-tcp-address", kind: "strings", address: "connect", option: "lookupdTcpAddresses", cfgKey: "nsqlookupd_tcp_addresses", default: D.lookupdTcpAddresses, describe: "lookupd TCP address" },
  { name: "auth-http-address", kind: "strings", address: "http", option: "authHttpAddresses", cfgKey: "auth_http_addresses", default: D.authHttpAddresses, describe: "<addr>:<port> or a full url to query auth server" },
  { name: "auth-http-request-method", kind: "string", option: "authHttpRequestMethod", default: D.authHttpRequestMethod, describe: "HTTP method to use for auth server requests (get or post)" },
  { name: "http-client-connect-timeout", kind: "duration", option: "httpClientConnectTimeout", default: D.httpClientConnectTimeout, describe: "timeout for HTTP connect" },
  { name: "http-client-request-timeout", kind: "duration", option: "httpClientRequestTimeout", default: D.httpClientRequestTimeout, describe: "timeout for HTTP request" },
  { name: "data-path", kind: "string", option: "dataPath", default: D.dataPath, describe: "path to store disk-backed messages" },
  { name: "mem-queue-size", kind: "int", option: "memQueueSize", default: D.memQueueSize, describe: "number of messages to keep in memory (per topic/channel)" },
  { name: "max-bytes-per-file", kind: "int", option: "maxBytesPerFile", default: D.maxBytesPerFile, describe: "number of bytes per diskqueue file before rolling" },
  { name: "sync-every", kind: "int", option: "syncEvery", default: D.syncEvery, describe: "number of messages per diskqueue fsync" },
  { name: "sync-timeout", kind: "duration", option: "syncTimeout", default: D.syncTimeout, describe: "duration of time per diskqueue fsync" },
  { name: "queue-scan-worker-pool-max", kind: "int", option: "queueScanWorkerPoolMax", default: D.queueScanWorkerPoolMax, describe: "max concurrency for checking in-flight and deferred message timeouts" },
  { name: "queue-scan-selection-count", kind: "int", option: "queueScanSelectionCount", default: D.queueScanSelectionCount, describe: "number of channels to check per cycle (every 100ms) for in-flight and deferred timeouts" },
  { name: "msg-timeout", kind: "duration", option: "msgTimeout", default: D.msgTimeout, describe: "default duration to wait before auto-requeing a message" },
  { name: "max-msg-timeout", kind: "duration", option: "maxMsgTimeout", default: D.maxMsgTimeout, describe: "maximum duration before a message will timeout" },
  { name: "max-msg-size", kind: "int", option: "maxMsgSize", default: D.maxMsgSize, describe: "maximum size of a single message in bytes" },
  { name: "max-req-timeout", kind: "duration", option: "maxReqTimeout", default: D.maxReqTimeout, describe: "maximum requeuing timeout for a message" },
  { name: "max-body-size", kind: "int", option: "maxBodySize", default: D.maxBodySize, describe: "maximum size of a single command body" },
  { name: "max-heartbeat-interval", kind: "duration", option: "maxHeartbeatInterval", default: D.maxHeartbeatInterval, describe: "maximum client configurable duration of time between client heartbeats" },
  { name: "max-rdy-count", kind: "int", option: "maxRdyCount", default: D.maxRdyCount, describe: "maximum RDY count for a client" },
  { name: "max-output-buffer-size", kind: "int", option: "maxOutputBufferSize", default: D.maxOutputBufferSize, describe: "maximum client configurable size (in bytes) for a client output buffer" },
  { name: "max-output-buffer-timeout", kind: "duration", option: "maxOutputBufferTimeout", default: D.maxOutputBufferTimeout, describe: "maximum client configurable duration of time between flushing to a client" },
  { name: "min-output-buffer-timeout", kind: "duration", option: "minOutputBufferTimeout", default: D.minOutputBufferTimeout, describe: "minimum client configurable duration of time between flushing to a client" },
  { name: "output-buffer-timeout", kind: "duration", option: "outputBufferTimeout", default: D.outputBufferTimeout, describe: "default duration of time between flushing data to clients" },
  { name: "max-channel-consumers", kind: "int", option: "maxChannelConsumers", default: D.maxChannelConsumers, describe: "maximum channel consumer connection count per nsqd instance (default 0, i.e., unlimited)" },
  { name: "statsd-address", kind: "string", address: "connect", emptyOk: true, option: "statsdAddress", default: D.statsdAddress, describe: "UDP <addr>:<port> of a statsd daemon for pushing stats" },
  { name: "statsd-prefix", kind: "string", option: "statsdPrefix", default: D.statsdPrefix, describe: "prefix used for keys sent to statsd (%s for host replacement)" },
  { name: "statsd-interval", kind: "duration", option: "statsdInterval", default: D.statsdInterval, describe: "duration between pushing to statsd" },
  { name: "statsd-mem-stats", kind: "bool", option: "statsdMemStats", default: D.statsdMemStats, describe: "toggle sending memory and GC stats to statsd" },
  { name: "statsd-udp-packet-size", kind: "int", option: "statsdUdpPacketSize", default: D.statsdUdpPacketSize, describe: "the size in bytes of statsd UDP packets" },
  { name: "statsd-exclude-ephemeral", kind: "bool", option: "statsdExcludeEphemeral", default: D.statsdExcludeEphemeral, describe: "Skip ephemeral topics and channels when sending stats to statsd" },
  { name: "e2e-processing-latency-percentile", kind: "strings", commaSeparated: true, option: "e2eProcessingLatencyPercentiles", cfgKey: "e2e_processing_latency_percentiles", default: [], describe: "message processing time percentiles (as float (0, 1.0]) to track (comma separated '1.0,0.99,0.95', default none)" },
  { name: "e2e-processing-latency-window-time", kind: "duration", option: "e2eProcessingLatencyWindowTime", default: D.e2eProcessingLatencyWindowTime, describe: "calculate end to end latency quantiles for this duration of time (ie: 60s would only show quantile calculations from the past 60 seconds)" },
  { name: "tls-cert", kind: "string", option: "tlsCert", default: D.tlsCert, describe: "path to certificate file" },
  { name: "tls-key", kind: "string", option: "tlsKey", default: D.tlsKey, describe: "path to key file" },
  { name: "tls-client-auth-policy", kind: "string", option: "tlsClientAuthPolicy", default: D.tlsClientAuthPolicy, describe: "client certificate auth policy ('require' or 'require-verify')" },
  { name: "tls-root-ca-file", kind: "string", option: "tlsRootCaFile", default: D.tlsRootCaFile, describe: "path to certificate authority file" },
  { name: "tls-required", kind: "string", implicitValue: "true", option: "tlsRequired", default: D.tlsRequired, describe: "require TLS for client connections (true, false, tcp-https)" },
  { name: "tls-min-version", kind: "string", option: "tlsMinVersion", default: D.tlsMinVersion, describe: "minimum SSL/TLS version acceptable ('tls1.0', 'tls1.1', 'tls1.2' or 'tls1.3')" },
  { name: "deflate", kind: "bool", option: "deflate", default: D.deflate, describe: "enable deflate feature negotiation (client compression)" },
  { name: "max-deflate-level", kind: "int", option: "maxDeflateLevel", default: D.maxDeflateLevel, describe: "max deflate compression level a client can negotiate (> values == > nsqd CPU usage)" },
  { name: "snappy", kind: "bool", option: "snappy", default: D.snappy, describe: "enable snappy feature negotiation (client compression)" },
  { name: "topology-region", kind: "string", option: "topologyRegion", default: D.topologyRegion, describe: "[post-1.3] region of this nsqd for topology-aware consumption" },
  { name: "topology-zone", kind: "string", option: "topologyZone", default: D.topologyZone, describe: "[post-1.3] availability zone of this nsqd for topology-aware consumption" },
  { name: "enable-experiment", kind: "strings", option: "enableExperiment", cfgKey: "enable_experiment", default: D.enableExperiment, describe: "[post-1.3] experimental features to enable (e.g. topology-aware-consumption)" },
  { name: "max-defer-timeout", kind: "duration", option: "maxDeferTimeout", default: D.maxDeferTimeout, describe: "[beyond nsqd] maximum delay of DPUB and /pub?defer= (default 0: --max-req-timeout)" },
  { name: "max-attempts", kind: "int", option: "maxAttempts", default: D.maxAttempts, describe: "[beyond nsqd] deliveries before a message that fails (REQ or timeout) goes to the dead-letter topic (default 0: never)" },
  { name: "dead-letter-topic-suffix", kind: "string", option: "deadLetterTopicSuffix", default: D.deadLetterTopicSuffix, describe: "[beyond nsqd] the dead-letter topic of topic T is T<suffix>" },
  { name: "drain-timeout", kind: "duration", option: "drainTimeout", default: D.drainTimeout, describe: "[beyond nsqd] on SIGTERM/SIGINT stop delivering and wait this long for in-flight messages to finish (default 0: exit at once)" },
];

/**
 * Flags nsqd accepts that map to no option: `--verbose` (deprecated no-op) and `--worker-id`
 * (deprecated alias of --node-id, honoured only when --node-id is not given).
 */
export const NSQD_EXTRA_FLAGS: FlagSpec[] = [
  { name: "verbose", kind: "bool", default: false, describe: "[deprecated] has no effect, use --log-level" },
  { name: "worker-id", kind: "int", describe: "[deprecated] use --node-id" },
];

/** Every flag the `serve` command declares (without --config / --version, which the CLI adds). */
export const NSQD_COMMAND_FLAGS: FlagSpec[] = [...NSQD_FLAGS, ...NSQD_EXTRA_FLAGS];

/** Looks up an nsqd flag by its TOML cfg key (e.g. "nsqlookupd_tcp_addresses", "id"). */
export function nsqdFlagByCfgKey(key: string): NsqdFlagSpec | undefined {
  return NSQD_FLAGS.find((f) => (f.cfgKey ?? f.name.replace(/-/g, "_")) === key);
}

const TLS_VERSIONS = new Set(["ssl3.0", "tls1.0", "tls1.1", "tls1.2", "tls1.3"]);

/** nsqd's `--tls-required` values: `tcp-https` or anything Go's ParseBool takes. */
export function parseTlsRequired(text: string): TlsRequired {
  const lower = text.toLowerCase();
  if (lower === "tcp-https") return "tcp-https";
  if (["1", "t", "true"].includes(lower)) return "true";
  if (["0", "f", "false"].includes(lower)) return "false";
  throw new Error(`invalid tls-required "${text}" (true, false or tcp-https)`);
}

/**
 * Builds NsqdOptions from resolved flags (defaults from defaultNsqdOptions()) and runs nsqd's
 * startup validation. A bad value given on the command line is a UsageError (exit 2); anything
 * else (config file values, range checks) is an Error with nsqd-like text (exit 1).
 */
export function nsqdOptionsFromArgs(args: ParsedArgs): NsqdOptions {
  const opts = defaultNsqdOptions();
  const record = opts as unknown as Record<string, unknown>;
  const fail = (flag: string, message: string): never => {
    throw flagSource(args, flag) === "command-line" ? new UsageError(message) : new Error(message);
  };

  for (const spec of NSQD_FLAGS) {
    const value = args[spec.name];
    if (value === undefined) continue;
    switch (spec.option) {
      case "logLevel":
        try {
          opts.logLevel = parseLogLevel(String(value));
        } catch {
          fail(spec.name, `invalid value "${String(value)}" for flag -log-level: invalid log level`);
        }
        break;
      case "tlsRequired":
        try {
          opts.tlsRequired = parseTlsRequired(String(value));
        } catch {
          fail(spec.name, `invalid value "${String(value)}" for flag -tls-required: parse error`);
        }
        break;
      case "tlsMinVersion": {
        const version = String(value).toLowerCase();
        if (version !== "" && !TLS_VERSIONS.has(version)) {
          fail(spec.name, `invalid value "${String(value)}" for flag -tls-min-version: unknown tlsVersionOption "${version}"`);
        }
        if (version !== "") opts.tlsMinVersion = version;
        break;
      }
      case "e2eProcessingLatencyPercentiles":
        opts.e2eProcessingLatencyPercentiles = (value as string[]).map((text) => {
          try {
            return parseGoFloat(String(text));
          } catch {
            return fail(spec.name, `invalid value "${String(text)}" for flag -${spec.name}: parse error`);
          }
        });
        break;
      default:
        record[spec.option] = Array.isArray(value) ? [...value] : value;
    }
  }

  const workerId = args["worker-id"];
  if (typeof workerId === "number" && flagSource(args, "node-id") === undefined) opts.nodeId = workerId;

  validateNsqdOptions(opts);
  return opts;
}

/**
 * nsqd's startup checks (exit 1 with this text). Also applies nsqd's implied setting: a client
 * certificate policy forces TLS to be required.
 */
export function validateNsqdOptions(opts: NsqdOptions): void {
  if (!Number.isInteger(opts.nodeId) || opts.nodeId < 0 || opts.nodeId >= 1024) {
    throw new Error(`--node-id must be [0,1024), got ${opts.nodeId}`);
  }
  if (!Number.isInteger(opts.maxDeflateLevel) || opts.maxDeflateLevel < 1 || opts.maxDeflateLevel > 9) {
    throw new Error(`--max-deflate-level must be [1,9], got ${opts.maxDeflateLevel}`);
  }
  for (const p of opts.e2eProcessingLatencyPercentiles) {
    if (!(p > 0 && p <= 1)) throw new Error(`invalid E2E processing latency percentile: ${p} (must be in (0,1])`);
  }
  const policy = opts.tlsClientAuthPolicy;
  if (policy !== "" && policy !== "require" && policy !== "require-verify") {
    throw new Error(`invalid --tls-client-auth-policy "${policy}" (require or require-verify)`);
  }
  if (policy !== "" && opts.tlsRequired === "false") opts.tlsRequired = "true";
  const hasTls = opts.tlsCert !== "" && opts.tlsKey !== "";
  if ((opts.tlsCert !== "") !== (opts.tlsKey !== "")) {
    throw new Error("failed to build TLS config - both --tls-cert and --tls-key must be given");
  }
  if (opts.tlsRequired !== "false" && !hasTls) {
    throw new Error("cannot require TLS client connections without TLS key and cert");
  }
  const method = opts.authHttpRequestMethod.toLowerCase();
  if (method !== "get" && method !== "post") {
    throw new Error(`--auth-http-request-method must be "get" or "post", got "${opts.authHttpRequestMethod}"`);
  }
  opts.authHttpRequestMethod = method;
  if (!Number.isInteger(opts.maxAttempts) || opts.maxAttempts < 0 || opts.maxAttempts > 65535) {
    throw new Error(`--max-attempts must be [0,65535], got ${opts.maxAttempts}`);
  }
  if (opts.deadLetterTopicSuffix === "") throw new Error("--dead-letter-topic-suffix must not be empty");
}
