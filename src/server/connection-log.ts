/**
 * nsqd v1.3.0's per-connection log lines (nsqd/tcp.go, protocol_v2.go, client_v2.go), word for
 * word and at the same levels, so operators' log searches and alerts keep working.
 *
 * Only connection events and commands are logged; the per-command DEBUG line is formatted only
 * after the caller has checked `debugEnabled`, so the message hot path does no logging work.
 */
import type { Logger } from "../util/logger.ts";
import type { IdentifyData } from "./identify.ts";

/** True when DEBUG lines would be written (the level can change at run time via /config). */
export function debugEnabled(logger: Logger): boolean {
  return logger.level === "debug";
}

/** Go's `%+v` of nsqd's identifyDataV2 struct: every field, zero values for missing keys. */
export function formatIdentifyData(d: IdentifyData): string {
  return (
    `{ClientID:${d.client_id ?? ""} Hostname:${d.hostname ?? ""} HeartbeatInterval:${d.heartbeat_interval ?? 0} ` +
    `OutputBufferSize:${d.output_buffer_size ?? 0} OutputBufferTimeout:${d.output_buffer_timeout ?? 0} ` +
    `FeatureNegotiation:${d.feature_negotiation ?? false} TLSv1:${d.tls_v1 ?? false} Deflate:${d.deflate ?? false} ` +
    `DeflateLevel:${d.deflate_level ?? 0} Snappy:${d.snappy ?? false} SampleRate:${d.sample_rate ?? 0} ` +
    `UserAgent:${d.user_agent ?? ""} MsgTimeout:${d.msg_timeout ?? 0}}`
  );
}

export function logNewClient(logger: Logger, remote: string): void {
  logger.info(`TCP: new client(${remote})`);
}

/** After the 4-byte magic: nsqd logs it, then refuses anything but "  V2". */
export function logProtocolMagic(logger: Logger, remote: string, magic: string, accepted: boolean): void {
  logger.info(`CLIENT(${remote}): desired protocol magic '${magic}'`);
  if (!accepted) logger.error(`client(${remote}) bad protocol magic '${magic}'`);
}

/** One command line, as Go prints `[][]byte` params with %s: `[PUB topic]`. Call only at debug. */
export function logCommand(logger: Logger, remote: string, line: string): void {
  logger.debug(`PROTOCOL(V2): [${remote}] [${line}]`);
}

export function logIdentify(logger: Logger, remote: string, data: IdentifyData): void {
  if (debugEnabled(logger)) logger.debug(`PROTOCOL(V2): [${remote}] ${formatIdentifyData(data)}`);
  logger.info(`[${remote}] IDENTIFY: ${formatIdentifyData(data)}`);
}

export function logUpgrades(logger: Logger, remote: string, tls: boolean, snappy: boolean, deflate: boolean, deflateLevel: number): void {
  if (tls) logger.info(`PROTOCOL(V2): [${remote}] upgrading connection to TLS`);
  if (snappy) logger.info(`PROTOCOL(V2): [${remote}] upgrading connection to snappy`);
  if (deflate) logger.info(`PROTOCOL(V2): [${remote}] upgrading connection to deflate (level ${deflateLevel})`);
}

/** A command that failed: the error sent to the client, as nsqd's IOLoop logs it. */
export function logCommandError(logger: Logger, remote: string, message: string): void {
  logger.error(`[${remote}] - ${message}`);
}

/**
 * The connection ended. `gotMagic`: the protocol loop had started (otherwise nsqd reports the
 * failed magic read); `reason`: why the server ended it (a fatal error, a read timeout), null
 * when the client hung up.
 */
export function logConnectionEnd(logger: Logger, remote: string, gotMagic: boolean, badMagic: boolean, reason: string | null): void {
  if (badMagic) return; // already reported with the magic
  if (!gotMagic) {
    logger.error(`failed to read protocol version - ${reason ?? "EOF"}`);
    return;
  }
  logger.info(`PROTOCOL(V2): [${remote}] exiting ioloop`);
  logger.info(`PROTOCOL(V2): [${remote}] exiting messagePump`);
  if (reason !== null) logger.error(`client(${remote}) - ${reason}`);
}

/** Go's error text for a read deadline that passed: `failed to read command - read tcp L->R: i/o timeout`. */
export function readTimeoutReason(socket: { localAddress?: string; localPort?: number }, remote: string, previous: string | null): string {
  if (previous !== null) return previous;
  const host = (socket.localAddress ?? "").replace(/^::ffff:/, "");
  const local = host.includes(":") ? `[${host}]:${socket.localPort ?? 0}` : `${host}:${socket.localPort ?? 0}`;
  return `failed to read command - read tcp ${local}->${remote}: i/o timeout`;
}

/** RDY after CLS is ignored; nsqd says so at INFO (per event, not per message). */
export function logRdyAfterCls(logger: Logger, remote: string): void {
  logger.info(`PROTOCOL(V2): [${remote}] ignoring RDY after CLS in state ClientStateV2Closing`);
}

/** A REQ timeout outside 0..max is clamped; nsqd logs the durations as Go's %d (nanoseconds). */
export function logReqClamped(logger: Logger, remote: string, requestedMs: number, maxMs: number, clampedMs: number): void {
  const ns = (ms: number) => (BigInt(Math.trunc(ms)) * 1_000_000n).toString();
  logger.info(`PROTOCOL(V2): [${remote}] REQ timeout ${ns(requestedMs)} out of range 0-${ns(maxMs)}. Setting to ${ns(clampedMs)}`);
}
