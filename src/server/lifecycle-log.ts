/**
 * nsqd v1.3.0's start-up and shutdown log lines (nsqd/nsqd.go, topic.go, channel.go, lookup.go,
 * internal/protocol/tcp_server.go, internal/http_api/http_server.go, go-diskqueue), word for word
 * and at the same levels, so operators' log searches and alerts keep working.
 *
 * At shutdown nsqd prints a few lines per topic and channel (tens of thousands with many topics);
 * they are plain logger calls, formatted only when INFO is enabled, with no I/O of their own.
 */
import { join } from "node:path";
import { daemonVersionLine } from "../protocol/version.ts";
import type { Logger } from "../util/logger.ts";

/** True when INFO lines would be written. */
export function infoEnabled(logger: Logger): boolean {
  return logger.level === "info" || logger.level === "debug";
}

/** After the data path is locked: nsqd's version line and node ID, before anything else. */
export function logNsqdIdentity(logger: Logger, nodeId: number): void {
  logger.info(daemonVersionLine("nsqd"));
  logger.info(`ID: ${nodeId}`);
}

/** Every nsqd.dat rewrite (start-up, run time, shutdown): Go's path.Join of --data-path ("" → "nsqd.dat"). */
export function logPersistMetadata(logger: Logger, dataPathOption: string): void {
  logger.info(`NSQ: persisting topic/channel metadata to ${join(dataPathOption, "nsqd.dat")}`);
}

/** `TCP: closing <addr>`, `HTTP: closing <addr>`, `HTTPS: closing <addr>`, after the listener stopped. */
export function logListenerClosed(logger: Logger, proto: "TCP" | "HTTP" | "HTTPS", address: string): void {
  logger.info(`${proto}: closing ${address}`);
}

export function logClosingTopics(logger: Logger): void {
  logger.info("NSQ: closing topics");
}

/** Topic.exit(false): its message pump ends before its channels close. */
export function logTopicClosing(logger: Logger, topic: string): void {
  if (!infoEnabled(logger)) return;
  logger.info(`TOPIC(${topic}): closing`);
  logger.info(`TOPIC(${topic}): closing ... messagePump`);
}

/** Channel.exit(false) and its flush: the counts line only when something is left in memory. */
export function logChannelClosing(logger: Logger, channel: string, memory: number, inFlight: number, deferred: number): void {
  if (!infoEnabled(logger)) return;
  logger.info(`CHANNEL(${channel}): closing`);
  if (memory > 0 || inFlight > 0 || deferred > 0) {
    logger.info(`CHANNEL(${channel}): flushing ${memory} memory ${inFlight} in-flight ${deferred} deferred messages to backend`);
  }
}

/** Topic.flush(): only when messages are left in memory. */
export function logTopicFlush(logger: Logger, topic: string, memory: number): void {
  if (memory > 0) logger.info(`TOPIC(${topic}): flushing ${memory} memory messages to backend`);
}

/** The end of Exit(): the loops stop (queue scan, lookup, statsd when configured), the lock goes, bye. */
export function logSubsystemsStopping(logger: Logger): void {
  logger.info("NSQ: stopping subsystems");
}

export function logSubsystemsStopped(logger: Logger, statsd: boolean): void {
  logger.info("QUEUESCAN: closing");
  logger.info("LOOKUP: closing");
  if (statsd) logger.info("STATSD: closing");
}

export function logBye(logger: Logger): void {
  logger.info("NSQ: bye");
}
