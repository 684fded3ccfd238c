/**
 * Client configuration with go-nsq 1.1's option names and defaults (spec §7.1). Durations are
 * milliseconds. `applyClientOption` implements `--consumer-opt` / `--producer-opt` (`key,value`).
 */
import { hostname } from "node:os";
import { parseDuration } from "../util/duration.ts";
import { ConfigError } from "./errors.ts";
import { USER_AGENT_SUFFIX } from "../protocol/version.ts";
import { clientTlsOptions, parseClientTlsMinVersion } from "./tls-options.ts";

export type BackoffStrategy = "exponential" | "full_jitter";

export interface ClientConfig {
  dialTimeout: number;
  readTimeout: number;
  writeTimeout: number;
  lookupdPollInterval: number;
  lookupdPollJitter: number;
  lookupdPollTimeout: number;
  maxRequeueDelay: number;
  defaultRequeueDelay: number;
  backoffStrategy: BackoffStrategy;
  maxBackoffDuration: number;
  backoffMultiplier: number;
  maxAttempts: number;
  lowRdyIdleTimeout: number;
  lowRdyTimeout: number;
  rdyRedistributeInterval: number;
  clientId: string;
  hostname: string;
  userAgent: string;
  heartbeatInterval: number;
  sampleRate: number;
  tlsV1: boolean;
  /** PEM file of CAs that sign nsqd's certificate ("" = the system roots) */
  tlsRootCaFile: string;
  /** accept any server certificate (go-nsq's InsecureSkipVerify) */
  tlsInsecureSkipVerify: boolean;
  /** client certificate and key PEM files, for nsqd's --tls-client-auth-policy */
  tlsCert: string;
  tlsKey: string;
  /** `tls1.0`…`tls1.3`, "" = the runtime's default */
  tlsMinVersion: string;
  deflate: boolean;
  deflateLevel: number;
  snappy: boolean;
  outputBufferSize: number;
  outputBufferTimeout: number;
  maxInFlight: number;
  msgTimeout: number;
  authSecret: string;
}

export function defaultClientConfig(): ClientConfig {
  const host = hostname();
  return {
    dialTimeout: 1000,
    readTimeout: 60_000,
    writeTimeout: 1000,
    lookupdPollInterval: 60_000,
    lookupdPollJitter: 0.3,
    lookupdPollTimeout: 60_000,
    maxRequeueDelay: 15 * 60_000,
    defaultRequeueDelay: 90_000,
    backoffStrategy: "exponential",
    maxBackoffDuration: 2 * 60_000,
    backoffMultiplier: 1000,
    maxAttempts: 5,
    lowRdyIdleTimeout: 10_000,
    lowRdyTimeout: 30_000,
    rdyRedistributeInterval: 5000,
    clientId: host.split(".")[0] ?? host,
    hostname: host,
    userAgent: USER_AGENT_SUFFIX,
    heartbeatInterval: 30_000,
    sampleRate: 0,
    tlsV1: false,
    tlsRootCaFile: "",
    tlsInsecureSkipVerify: false,
    tlsCert: "",
    tlsKey: "",
    tlsMinVersion: "",
    deflate: false,
    deflateLevel: 6,
    snappy: false,
    outputBufferSize: 16384,
    outputBufferTimeout: 250,
    maxInFlight: 1,
    msgTimeout: 0,
    authSecret: "",
  };
}

type Kind = "duration" | "int" | "float" | "bool" | "string" | "strategy" | "tlsVersion";
interface OptionSpec {
  field: keyof ClientConfig;
  kind: Kind;
  min?: number;
  max?: number;
}

const MINUTE = 60_000;
/** go-nsq option name → field, type and allowed range. */
const OPTIONS: Record<string, OptionSpec> = {
  dial_timeout: { field: "dialTimeout", kind: "duration" },
  read_timeout: { field: "readTimeout", kind: "duration", min: 100, max: 5 * MINUTE },
  write_timeout: { field: "writeTimeout", kind: "duration", min: 100, max: 5 * MINUTE },
  lookupd_poll_interval: { field: "lookupdPollInterval", kind: "duration", min: 10, max: 5 * MINUTE },
  lookupd_poll_jitter: { field: "lookupdPollJitter", kind: "float", min: 0, max: 1 },
  lookupd_poll_timeout: { field: "lookupdPollTimeout", kind: "duration" },
  max_requeue_delay: { field: "maxRequeueDelay", kind: "duration", min: 0, max: 60 * MINUTE },
  default_requeue_delay: { field: "defaultRequeueDelay", kind: "duration", min: 0, max: 60 * MINUTE },
  backoff_strategy: { field: "backoffStrategy", kind: "strategy" },
  max_backoff_duration: { field: "maxBackoffDuration", kind: "duration", min: 0, max: 60 * MINUTE },
  backoff_multiplier: { field: "backoffMultiplier", kind: "duration" },
  max_attempts: { field: "maxAttempts", kind: "int", min: 0, max: 65535 },
  low_rdy_idle_timeout: { field: "lowRdyIdleTimeout", kind: "duration", min: 1000, max: 5 * MINUTE },
  low_rdy_timeout: { field: "lowRdyTimeout", kind: "duration", min: 1000, max: 5 * MINUTE },
  rdy_redistribute_interval: { field: "rdyRedistributeInterval", kind: "duration", min: 1, max: 5000 },
  client_id: { field: "clientId", kind: "string" },
  hostname: { field: "hostname", kind: "string" },
  user_agent: { field: "userAgent", kind: "string" },
  heartbeat_interval: { field: "heartbeatInterval", kind: "duration" },
  sample_rate: { field: "sampleRate", kind: "int", min: 0, max: 99 },
  tls_v1: { field: "tlsV1", kind: "bool" },
  tls_root_ca_file: { field: "tlsRootCaFile", kind: "string" },
  tls_insecure_skip_verify: { field: "tlsInsecureSkipVerify", kind: "bool" },
  tls_cert: { field: "tlsCert", kind: "string" },
  tls_key: { field: "tlsKey", kind: "string" },
  tls_min_version: { field: "tlsMinVersion", kind: "tlsVersion" },
  deflate: { field: "deflate", kind: "bool" },
  deflate_level: { field: "deflateLevel", kind: "int", min: 1, max: 9 },
  snappy: { field: "snappy", kind: "bool" },
  output_buffer_size: { field: "outputBufferSize", kind: "int" },
  output_buffer_timeout: { field: "outputBufferTimeout", kind: "duration" },
  max_in_flight: { field: "maxInFlight", kind: "int", min: 0 },
  msg_timeout: { field: "msgTimeout", kind: "duration", min: 0 },
  auth_secret: { field: "authSecret", kind: "string" },
};

function parseBool(key: string, text: string): boolean {
  const t = text.toLowerCase();
  if (["1", "t", "true"].includes(t)) return true;
  if (["0", "f", "false"].includes(t)) return false;
  throw new ConfigError(`invalid value "${text}" for option ${key}: expected a boolean`);
}

function checkRange(key: string, value: number, spec: OptionSpec): void {
  if (spec.min !== undefined && value < spec.min) throw new ConfigError(`option ${key} (${value}) is below minimum ${spec.min}`);
  if (spec.max !== undefined && value > spec.max) throw new ConfigError(`option ${key} (${value}) is above maximum ${spec.max}`);
}

/**
 * Sets one go-nsq option by name (`-` and `_` are equivalent). A missing value means boolean
 * true, as in the real tools. Durations use Go syntax; a bare integer is taken as milliseconds.
 */
export function applyClientOption(config: ClientConfig, rawKey: string, value: string | undefined): void {
  const key = rawKey.trim().toLowerCase().replaceAll("-", "_");
  const spec = OPTIONS[key];
  if (!spec) throw new ConfigError(`unknown client option "${rawKey}"`);
  const text = value ?? "true";
  const target = config as unknown as Record<string, unknown>;
  switch (spec.kind) {
    case "bool": {
      target[spec.field] = parseBool(key, text);
      return;
    }
    case "tlsVersion":
      parseClientTlsMinVersion(text); // throws ConfigError naming the option
      target[spec.field] = text.trim().toLowerCase();
      return;
    case "string":
      target[spec.field] = text;
      return;
    case "strategy":
      if (text !== "exponential" && text !== "full_jitter") {
        throw new ConfigError(`invalid value "${text}" for option ${key}: expected exponential or full_jitter`);
      }
      target[spec.field] = text;
      return;
    case "duration": {
      let ms: number;
      try {
        ms = /^-?\d+$/.test(text) ? Number(text) : parseDuration(text);
      } catch {
        throw new ConfigError(`invalid value "${text}" for option ${key}: expected a duration`);
      }
      checkRange(key, ms, spec);
      target[spec.field] = ms;
      return;
    }
    case "int":
    case "float": {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n) || (spec.kind === "int" && !Number.isInteger(n))) {
        throw new ConfigError(`invalid value "${text}" for option ${key}: expected a number`);
      }
      checkRange(key, n, spec);
      target[spec.field] = n;
      return;
    }
  }
}

/** Applies `key,value` strings as given to `--consumer-opt` / `--producer-opt`. */
export function applyClientOptionFlags(config: ClientConfig, opts: readonly string[]): void {
  for (const opt of opts) {
    const comma = opt.indexOf(",");
    if (comma < 0) applyClientOption(config, opt, undefined);
    else applyClientOption(config, opt.slice(0, comma), opt.slice(comma + 1));
  }
}

/** Full config from defaults plus an embedder's partial overrides. */
export function resolveClientConfig(partial: Partial<ClientConfig> | undefined): ClientConfig {
  const config = { ...defaultClientConfig(), ...(partial ?? {}) };
  if (config.deflate && config.snappy) {
    // nsqd would refuse IDENTIFY with E_IDENTIFY_FAILED; say so before connecting
    throw new ConfigError("cannot enable both deflate and snappy compression");
  }
  if (!Number.isInteger(config.deflateLevel) || config.deflateLevel < 1 || config.deflateLevel > 9) {
    throw new ConfigError(`deflate_level must be 1..9, got ${config.deflateLevel}`);
  }
  // reads the certificate files once now, so a bad path or missing key fails at start
  if (config.tlsV1) clientTlsOptions(config, "localhost");
  if (!Number.isInteger(config.maxInFlight) || config.maxInFlight < 0) {
    throw new ConfigError(`max_in_flight must be a non-negative integer, got ${config.maxInFlight}`);
  }
  return config;
}
