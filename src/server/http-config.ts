/**
 * nsqd's `/config/:opt` (spec §3.8): options addressed by their config-file name, shown as Go's
 * JSON encoding of the option would show them (durations as integer nanoseconds, log level and
 * TLS settings as the integers Go stores), and the two options that can change at run time.
 */
import { nsqdFlagByCfgKey } from "./flags.ts";
import type { NsqdOptions, TlsRequired } from "./options.ts";
import { logLevelNumber, type LogLevelName } from "../util/logger.ts";

/** The broker surface /config needs. */
export interface ConfigTarget {
  readonly options: NsqdOptions;
  readonly logger: { level: LogLevelName };
  /** reconnects lookupd peers to the new list (spec §3.8) */
  setLookupdAddresses(addresses: string[]): void;
}

/** A JSON value as /config returns it (null: a list option set to JSON null, Go's nil slice). */
export type ConfigValue = string | number | boolean | string[] | number[] | null;

/**
 * Options whose lookupd list was PUT as JSON `null`: the options keep an empty list (what the
 * broker works with) while /config shows `null`, as Go encodes the nil slice it then holds.
 */
const nilLookupdAddresses = new WeakSet<NsqdOptions>();

/** Go's TLSRequired constants: TLSNotRequired, TLSRequiredExceptHTTP, TLSRequired. */
const TLS_REQUIRED_NUMBER: Record<TlsRequired, number> = { false: 0, "tcp-https": 1, true: 2 };

/** crypto/tls version numbers that nsqd stores for --tls-min-version. */
const TLS_VERSION_NUMBER: Record<string, number> = {
  "ssl3.0": 0x0300,
  "tls1.0": 0x0301,
  "tls1.1": 0x0302,
  "tls1.2": 0x0303,
  "tls1.3": 0x0304,
};

/** Error reply of /config: HTTP status and code. */
export class ConfigError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(code);
  }
}

/** Current value of the option whose config-file name is `cfgKey`; undefined when there is none. */
export function getConfigValue(target: ConfigTarget, cfgKey: string): ConfigValue | undefined {
  const flag = nsqdFlagByCfgKey(cfgKey);
  if (flag === undefined) return undefined;
  const opts = target.options;
  switch (flag.option) {
    case "logLevel":
      return logLevelNumber(target.logger.level);
    case "tlsRequired":
      return TLS_REQUIRED_NUMBER[opts.tlsRequired];
    case "tlsMinVersion":
      return TLS_VERSION_NUMBER[opts.tlsMinVersion.toLowerCase()] ?? 0;
  }
  if (flag.option === "lookupdTcpAddresses" && nilLookupdAddresses.has(opts)) return null;
  const value = opts[flag.option];
  if (flag.kind === "duration" && typeof value === "number") return Math.round(value * 1e6);
  if (Array.isArray(value)) return [...value] as string[] | number[];
  return value;
}

/**
 * PUT /config/:opt with the raw body. Checks in nsqd's order: body empty or longer than
 * maxMsgSize (the caller reads at most maxMsgSize+1 bytes) → 413 INVALID_VALUE; an option other
 * than the two settable ones → 400 INVALID_OPTION; unparsable value → 400 INVALID_VALUE.
 * Returns the new value.
 */
export function putConfigValue(target: ConfigTarget, cfgKey: string, body: Uint8Array): ConfigValue {
  const maxMsgSize = target.options.maxMsgSize;
  if (body.length === 0 || body.length > maxMsgSize) throw new ConfigError(413, "INVALID_VALUE");
  const text = Buffer.from(body.buffer, body.byteOffset, body.length).toString("utf8");
  switch (cfgKey) {
    case "nsqlookupd_tcp_addresses": {
      const addresses = parseStringArray(text);
      if (addresses === null) nilLookupdAddresses.add(target.options);
      else nilLookupdAddresses.delete(target.options);
      target.options.lookupdTcpAddresses = addresses ?? [];
      target.setLookupdAddresses(addresses ?? []);
      break;
    }
    case "log_level": {
      const level = parseGoLogLevel(text);
      if (level === null) throw new ConfigError(400, "INVALID_VALUE");
      target.logger.level = level;
      target.options.logLevel = level;
      break;
    }
    default:
      throw new ConfigError(400, "INVALID_OPTION");
  }
  const value = getConfigValue(target, cfgKey);
  if (value === undefined) throw new ConfigError(400, "INVALID_OPTION");
  return value;
}

const GO_LOG_LEVELS: ReadonlySet<string> = new Set<LogLevelName>(["debug", "info", "warn", "error", "fatal"]);

/**
 * nsqd's lg.ParseLogLevel: exactly these five names in any case (no "warning" alias). Go's
 * strings.ToLower maps U+0130 to a plain "i", where JS adds a combining dot.
 */
function parseGoLogLevel(text: string): LogLevelName | null {
  const lower = text.replace(/\u0130/g, "i").toLowerCase();
  return GO_LOG_LEVELS.has(lower) ? (lower as LogLevelName) : null;
}

/** A JSON array of strings; JSON `null` is null (Go's nil slice). */
function parseStringArray(text: string): string[] | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(400, "INVALID_VALUE");
  }
  if (parsed === null) return null;
  if (!Array.isArray(parsed) || !parsed.every((v): v is string => typeof v === "string")) {
    throw new ConfigError(400, "INVALID_VALUE");
  }
  return parsed;
}
