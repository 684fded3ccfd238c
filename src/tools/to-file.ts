/**
 * `nsq to-file` / nsq_to_file (spec §6.3): archive topics to files. Validates the flags, computes
 * the per-topic filename format, starts one FileLogger per topic (explicit, or discovered through
 * lookupd's /topics and filtered by --topic-pattern), shows a progress line on a TTY and shuts down
 * cleanly (every message durable before FIN) on SIGINT/SIGTERM.
 */
import { accessSync, constants, mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { applyClientOptionFlags, defaultClientConfig } from "../client/config.ts";
import { errorText } from "../client/errors.ts";
import { lookupdTopics } from "../client/lookupd.ts";
import { isValidChannelName, isValidTopicName, NAME_RULE } from "../protocol/names.ts";
import { NSQ_VERSION, USER_AGENT_SUFFIX } from "../protocol/version.ts";
import { UsageError } from "../util/usage-error.ts";
import type { Logger } from "../util/logger.ts";
import { FileLogger, type ArchiveCounters, type FileLoggerSettings } from "./file-logger.ts";
import { checkConsumerSources } from "./tail.ts";

export interface ToFileOptions {
  topics: string[];
  topicPattern: string;
  topicRefresh: number;
  channel: string;
  nsqdAddresses: string[];
  lookupdAddresses: string[];
  consumerOpts: string[];
  maxInFlight: number;
  httpConnectTimeout: number;
  httpRequestTimeout: number;
  outputDir: string;
  workDir: string;
  datetimeFormat: string;
  filenameFormat: string;
  hostIdentifier: string;
  gzip: boolean;
  gzipLevel: number;
  rotateSize: number;
  rotateInterval: number;
  syncInterval: number;
  skipEmptyFiles: boolean;
  extraArgs: string[];
  logger: Logger;
  /** resolves on SIGINT/SIGTERM */
  stopSignal: Promise<unknown>;
  /** registers a SIGHUP listener; returns its remover */
  onHangup?(listener: () => void): () => void;
  /** progress line target (a TTY) or null for none */
  progress?: { write(text: string): unknown } | null;
}

/** Applies the filename rules that do not depend on the topic or time (spec §6.3 steps 1–3). */
export function prepareFilenameFormat(opts: Pick<ToFileOptions, "filenameFormat" | "gzip" | "rotateSize" | "rotateInterval" | "workDir" | "outputDir" | "hostIdentifier">): string {
  let format = opts.filenameFormat;
  const needsRev = opts.gzip || opts.rotateSize > 0 || opts.rotateInterval > 0 || resolve(opts.workDir || opts.outputDir) !== resolve(opts.outputDir);
  if (needsRev && !format.includes("<REV>")) {
    throw new UsageError("missing <REV> in --filename-format when gzip, rotation, or a work directory is enabled");
  }
  if (!needsRev) format = format.replaceAll("<REV>", "");
  const full = hostname();
  const short = full.split(".")[0] ?? full;
  const host = opts.hostIdentifier ? opts.hostIdentifier.replaceAll("<SHORT_HOST>", short).replaceAll("<HOSTNAME>", full) : short;
  format = format.replaceAll("<HOST>", host).replaceAll("<PID>", String(process.pid));
  if (opts.gzip && !format.endsWith(".gz")) format += ".gz";
  return format;
}

function ensureWritableDir(dir: string, flag: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o770 });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new Error(`${flag} "${dir}" is not usable: ${(err as NodeJS.ErrnoException).code ?? errorText(err)}`);
  }
}

export async function runToFile(opts: ToFileOptions): Promise<number> {
  if (opts.extraArgs.length > 0) throw new UsageError(`unexpected arguments: ${opts.extraArgs.join(" ")}`);
  if (!opts.channel) throw new UsageError("--channel is required");
  if (!isValidChannelName(opts.channel)) throw new UsageError(`invalid channel name "${opts.channel}" (${NAME_RULE})`);
  if (opts.topics.length === 0 && !opts.topicPattern) throw new UsageError("--topic or --topic-pattern required");
  if (opts.topics.length === 0 && opts.lookupdAddresses.length === 0) {
    throw new UsageError("--lookupd-http-address must be specified when no --topic specified");
  }
  checkConsumerSources(opts.nsqdAddresses, opts.lookupdAddresses);
  for (const t of opts.topics) if (!isValidTopicName(t)) throw new UsageError(`invalid topic name "${t}" (${NAME_RULE})`);
  if (!Number.isInteger(opts.gzipLevel) || opts.gzipLevel < 1 || opts.gzipLevel > 9) throw new UsageError("invalid --gzip-level");
  if (opts.httpConnectTimeout <= 0) throw new UsageError("--http-client-connect-timeout should be positive");
  if (opts.httpRequestTimeout <= 0) throw new UsageError("--http-client-request-timeout should be positive");
  if (opts.syncInterval <= 0) throw new UsageError("--sync-interval should be positive");
  if (opts.rotateSize < 0 || opts.rotateInterval < 0) throw new UsageError("--rotate-size and --rotate-interval must not be negative");
  let pattern: RegExp | null = null;
  if (opts.topicPattern) {
    try {
      pattern = new RegExp(opts.topicPattern);
    } catch (err) {
      throw new UsageError(`invalid --topic-pattern: ${errorText(err)}`);
    }
  }
  const outputDir = opts.outputDir;
  const workDir = opts.workDir || opts.outputDir;
  const filenameFormat = prepareFilenameFormat({ ...opts, workDir });
  ensureWritableDir(outputDir, "--output-dir");
  if (workDir !== outputDir) ensureWritableDir(workDir, "--work-dir");

  const config = defaultClientConfig();
  config.userAgent = `nsq_to_file/${NSQ_VERSION} ${USER_AGENT_SUFFIX}`;
  config.maxInFlight = opts.maxInFlight;
  applyClientOptionFlags(config, opts.consumerOpts);
  if (config.maxInFlight < 1) throw new UsageError("--max-in-flight must be at least 1");

  const settings: FileLoggerSettings = {
    channel: opts.channel,
    nsqdAddresses: opts.nsqdAddresses,
    lookupdAddresses: opts.lookupdAddresses,
    consumerConfig: config,
    outputDir,
    workDir,
    datetimeFormat: opts.datetimeFormat,
    filenameFormat,
    gzipLevel: opts.gzip ? opts.gzipLevel : null,
    rotateSize: opts.rotateSize,
    rotateInterval: opts.rotateInterval,
    syncInterval: opts.syncInterval,
    skipEmptyFiles: opts.skipEmptyFiles,
    logger: opts.logger,
  };
  const counters: ArchiveCounters = { messages: 0, files: 0 };
  const loggers = new Map<string, FileLogger>();
  // the first fatal error (also one raised while stopping, e.g. the final sync failing)
  let firstFatal: Error | null = null;
  let wakeOnFatal!: (err: Error) => void;
  const fatalError = new Promise<Error>((res) => (wakeOnFatal = res));
  const fatal = (err: Error): void => {
    firstFatal ??= err;
    wakeOnFatal(err);
  };

  const startTopic = async (topic: string): Promise<void> => {
    if (loggers.has(topic) || (pattern && !pattern.test(topic)) || !isValidTopicName(topic)) return;
    const logger = new FileLogger(topic, settings, counters, fatal);
    loggers.set(topic, logger);
    await logger.start();
  };

  let refreshTimer: ReturnType<typeof setInterval> | null = null;
  const discover = async (): Promise<void> => {
    const found = new Set<string>();
    for (const addr of opts.lookupdAddresses) {
      try {
        for (const t of await lookupdTopics(addr, { timeoutMs: opts.httpRequestTimeout })) found.add(t);
      } catch (err) {
        opts.logger.error(`error querying nsqlookupd ${addr} for topics - ${errorText(err)}`);
      }
    }
    for (const t of found) {
      await startTopic(t).catch((err: unknown) => opts.logger.error(`[${t}] cannot start - ${errorText(err)}`));
    }
  };

  const removeHup = opts.onHangup?.(() => {
    for (const l of loggers.values()) l.hup();
  });
  const progressTimer = opts.progress
    ? setInterval(() => opts.progress!.write(`\r\x1b[K[nsq_to_file] ${counters.messages} messages archived, ${counters.files} files opened, ${loggers.size} topics`), 1000)
    : null;

  try {
    if (opts.topics.length > 0) {
      for (const t of opts.topics) await startTopic(t);
      if (loggers.size === 0) throw new UsageError("no --topic matches --topic-pattern");
    } else {
      await discover();
      refreshTimer = setInterval(() => void discover(), opts.topicRefresh);
    }
    await Promise.race([opts.stopSignal, fatalError]);
  } finally {
    if (refreshTimer) clearInterval(refreshTimer);
    removeHup?.();
    if (progressTimer) clearInterval(progressTimer);
    await Promise.all([...loggers.values()].map((l) => l.stop()));
    if (opts.progress) opts.progress.write(`\r\x1b[K[nsq_to_file] ${counters.messages} messages archived, ${counters.files} files opened\n`);
  }
  if (firstFatal) throw firstFatal;
  return 0;
}
