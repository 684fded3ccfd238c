/**
 * IDENTIFY (spec §1.8): decoding the JSON body as Go's encoding/json would (keys matched
 * case-insensitively, unknown keys ignored, null keeps the default, a wrong type fails) and
 * validating each setting against the server's bounds with nsqd's exact error texts.
 */
import { ProtocolError } from "../protocol/errors.ts";
import type { NsqdOptions } from "./options.ts";

export interface IdentifyData {
  client_id?: string;
  hostname?: string;
  user_agent?: string;
  feature_negotiation?: boolean;
  heartbeat_interval?: number;
  output_buffer_size?: number;
  output_buffer_timeout?: number;
  tls_v1?: boolean;
  snappy?: boolean;
  deflate?: boolean;
  deflate_level?: number;
  sample_rate?: number;
  msg_timeout?: number;
}

type FieldKind = "string" | "bool" | "int";
const FIELDS: Record<string, FieldKind> = {
  client_id: "string",
  hostname: "string",
  user_agent: "string",
  short_id: "string",
  long_id: "string",
  topology_region: "string",
  topology_zone: "string",
  feature_negotiation: "bool",
  heartbeat_interval: "int",
  output_buffer_size: "int",
  output_buffer_timeout: "int",
  tls_v1: "bool",
  snappy: "bool",
  deflate: "bool",
  deflate_level: "int",
  sample_rate: "int",
  msg_timeout: "int",
};

const DECODE_FAILED = () => new ProtocolError("E_BAD_BODY", "IDENTIFY failed to decode JSON body");

/** Go decodes `int` fields with ParseInt (no exponent, no fraction) into int64; sample_rate is an int32. */
const INT_TEXT = /^-?(0|[1-9][0-9]*)$/;
const INT_RANGE: Record<string, [bigint, bigint]> = { sample_rate: [-(2n ** 31n), 2n ** 31n - 1n] };
const INT64_RANGE: [bigint, bigint] = [-(2n ** 63n), 2n ** 63n - 1n];

function goIntDecodes(field: string, source: string | undefined): boolean {
  if (source === undefined || !INT_TEXT.test(source)) return false;
  const [lo, hi] = INT_RANGE[field] ?? INT64_RANGE;
  const v = BigInt(source);
  return v >= lo && v <= hi;
}

export function decodeIdentify(body: Uint8Array): IdentifyData {
  let raw: unknown;
  // the number literals as written, so int fields can be checked as Go's decoder checks them
  const numberSources = new Map<string, string>();
  try {
    raw = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.length).toString("utf8"), function (key, value, context?: { source?: string }) {
      if (typeof value === "number" && context?.source !== undefined) numberSources.set(key, context.source);
      return value;
    });
  } catch {
    throw DECODE_FAILED();
  }
  if (raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw DECODE_FAILED();
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const name = key.toLowerCase();
    const kind = FIELDS[name];
    if (kind === undefined || value === null) continue;
    if (kind === "string" && typeof value !== "string") throw DECODE_FAILED();
    if (kind === "bool" && typeof value !== "boolean") throw DECODE_FAILED();
    if (kind === "int" && (typeof value !== "number" || !goIntDecodes(name, numberSources.get(key)))) throw DECODE_FAILED();
    out[name] = value;
  }
  return out as IdentifyData;
}

export interface NegotiatedSettings {
  heartbeatInterval?: number;
  outputBufferSize?: number;
  outputBufferTimeout?: number;
  sampleRate: number;
  msgTimeout?: number;
}

/** Validates in nsqd's order: heartbeat, output buffer (timeout then size), sample rate, msg timeout. */
export function negotiate(data: IdentifyData, opts: NsqdOptions): NegotiatedSettings {
  const invalid = (what: string, v: number) => new ProtocolError("E_BAD_BODY", `IDENTIFY ${what} (${v}) is invalid`);
  const result: NegotiatedSettings = { sampleRate: 0 };

  const hb = data.heartbeat_interval ?? 0;
  if (hb === -1) result.heartbeatInterval = 0;
  else if (hb === 0) {
    // keep the default
  } else if (hb >= 1000 && hb <= opts.maxHeartbeatInterval) result.heartbeatInterval = hb;
  else throw invalid("heartbeat interval", hb);

  const obt = data.output_buffer_timeout ?? 0;
  if (obt === -1) result.outputBufferTimeout = 0;
  else if (obt === 0) {
    // default
  } else if (obt >= opts.minOutputBufferTimeout && obt <= opts.maxOutputBufferTimeout) result.outputBufferTimeout = obt;
  else throw invalid("output buffer timeout", obt);

  const obs = data.output_buffer_size ?? 0;
  if (obs === -1) {
    result.outputBufferSize = 1;
    result.outputBufferTimeout = 0;
  } else if (obs === 0) {
    // default
  } else if (obs >= 64 && obs <= opts.maxOutputBufferSize) result.outputBufferSize = obs;
  else throw invalid("output buffer size", obs);

  const sr = data.sample_rate ?? 0;
  if (sr < 0 || sr > 99) throw invalid("sample rate", sr);
  result.sampleRate = sr;

  const mt = data.msg_timeout ?? 0;
  if (mt === 0) {
    // default
  } else if (mt >= 1000 && mt <= opts.maxMsgTimeout) result.msgTimeout = mt;
  else throw invalid("msg timeout", mt);

  return result;
}
