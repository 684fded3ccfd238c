/**
 * `nsq to-file` / `nsq_to_file`: archive topics to (rotated, optionally gzipped) files. Flags as
 * nsq_to_file v1.3.0 (spec §6.3); the logic is in src/tools/to-file.ts and file-logger.ts.
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { CLIENT_TRANSPORT_FLAGS, transportFlagOptions } from "../client/tool-flags.ts";
import { runToFile } from "../tools/to-file.ts";
import { createLogger, parseLogLevel } from "../util/logger.ts";
import { untilShutdownSignal } from "../util/shutdown-signal.ts";
import { UsageError } from "./types.ts";

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

export const command: NsqCommand = {
  name: "to-file",
  programNames: ["nsq_to_file"],
  describe: "archive topics to files (rotation, gzip, work dir, lookupd topic discovery)",
  flags: [
    { name: "topic", kind: "strings", default: [], describe: "nsq topic (may be given multiple times)" },
    { name: "topic-pattern", kind: "string", default: "", describe: "only log topics matching the following pattern" },
    { name: "topic-refresh", kind: "duration", default: 60_000, describe: "how frequently the topic list should be refreshed" },
    { name: "channel", kind: "string", default: "nsq_to_file", describe: "nsq channel" },
    { name: "nsqd-tcp-address", kind: "strings", address: "client", default: [], describe: "nsqd TCP address (may be given multiple times)" },
    { name: "lookupd-http-address", kind: "strings", address: "http", default: [], describe: "lookupd HTTP address (may be given multiple times)" },
    { name: "consumer-opt", kind: "strings", default: [], describe: "option to passthrough to nsq.Consumer (may be given multiple times)" },
    ...CLIENT_TRANSPORT_FLAGS,
    { name: "max-in-flight", kind: "int", default: 200, describe: "max number of messages to allow in flight" },
    { name: "http-client-connect-timeout", kind: "duration", default: 2000, describe: "timeout for HTTP connect" },
    { name: "http-client-request-timeout", kind: "duration", default: 5000, describe: "timeout for HTTP request" },
    { name: "output-dir", kind: "string", default: "/tmp", describe: "directory to write output files to" },
    { name: "work-dir", kind: "string", default: "", describe: "directory for in-progress files before moving to output-dir" },
    { name: "datetime-format", kind: "string", default: "%Y-%m-%d_%H", describe: "strftime compatible format for <DATETIME> in filename format" },
    { name: "filename-format", kind: "string", default: "<TOPIC>.<HOST><REV>.<DATETIME>.log", describe: "output filename format (<TOPIC>, <HOST>, <PID>, <DATETIME>, <REV> are replaced. <REV> is increased when file already exists)" },
    { name: "host-identifier", kind: "string", default: "", describe: "value to output in log filename in place of hostname. <SHORT_HOST> and <HOSTNAME> are valid replacement tokens" },
    { name: "gzip", kind: "bool", default: false, describe: "gzip output files" },
    { name: "gzip-level", kind: "int", default: 6, describe: "gzip compression level (1-9, 1=BestSpeed, 9=BestCompression)" },
    { name: "rotate-size", kind: "int", default: 0, describe: "rotate the file when it grows bigger than `rotate-size` bytes" },
    { name: "rotate-interval", kind: "duration", default: 0, describe: "rotate the file every duration" },
    { name: "sync-interval", kind: "duration", default: 30_000, describe: "sync file to disk every duration" },
    { name: "skip-empty-files", kind: "bool", default: false, describe: "skip writing empty files" },
    { name: "log-level", kind: "string", default: "info", describe: "set log verbosity: debug, info, warn, error, or fatal" },
    { name: "log-prefix", kind: "string", default: "[nsq_to_file] ", describe: "log message prefix" },
  ],
  async run(args: ParsedArgs): Promise<number> {
    let level;
    try {
      level = parseLogLevel(String(args["log-level"] ?? "info"));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const logger = createLogger(String(args["log-prefix"] ?? "[nsq_to_file] "), level);
    const signalled = untilShutdownSignal();
    try {
      return await runToFile({
        topics: strings(args["topic"]),
        topicPattern: String(args["topic-pattern"] ?? ""),
        topicRefresh: Number(args["topic-refresh"] ?? 60_000),
        channel: String(args["channel"] ?? "nsq_to_file"),
        nsqdAddresses: strings(args["nsqd-tcp-address"]),
        lookupdAddresses: strings(args["lookupd-http-address"]),
        consumerOpts: [...transportFlagOptions(args), ...strings(args["consumer-opt"])],
        maxInFlight: Number(args["max-in-flight"] ?? 200),
        httpConnectTimeout: Number(args["http-client-connect-timeout"] ?? 2000),
        httpRequestTimeout: Number(args["http-client-request-timeout"] ?? 5000),
        outputDir: String(args["output-dir"] ?? "/tmp"),
        workDir: String(args["work-dir"] ?? ""),
        datetimeFormat: String(args["datetime-format"] ?? "%Y-%m-%d_%H"),
        filenameFormat: String(args["filename-format"] ?? "<TOPIC>.<HOST><REV>.<DATETIME>.log"),
        hostIdentifier: String(args["host-identifier"] ?? ""),
        gzip: args["gzip"] === true,
        gzipLevel: Number(args["gzip-level"] ?? 6),
        rotateSize: Number(args["rotate-size"] ?? 0),
        rotateInterval: Number(args["rotate-interval"] ?? 0),
        syncInterval: Number(args["sync-interval"] ?? 30_000),
        skipEmptyFiles: args["skip-empty-files"] === true,
        extraArgs: args._,
        logger,
        stopSignal: signalled.promise,
        onHangup: (listener) => {
          process.on("SIGHUP", listener);
          return () => void process.off("SIGHUP", listener);
        },
        progress: process.stderr.isTTY ? process.stderr : null,
      });
    } finally {
      signalled.cancel();
    }
  },
};
