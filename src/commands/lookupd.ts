/**
 * `nsq lookupd` / `nsqlookupd`: runs the discovery daemon with nsqlookupd v1.3.0's flags
 * (spec §5.4) until SIGINT/SIGTERM.
 */
import type { FlagSpec, NsqCommand, ParsedArgs } from "./types.ts";
import { UsageError } from "./types.ts";
import { Nsqlookupd } from "../lookupd/lookupd.ts";
import { defaultLookupdOptions, type LookupdOptions } from "../lookupd/options.ts";
import { createLogger, parseLogLevel } from "../util/logger.ts";
import { flagSource } from "../util/goflags.ts";
import { runUntilShutdownSignal } from "./run-daemon.ts";

const D = defaultLookupdOptions();

export type LookupdFlagSpec = FlagSpec & { option?: keyof LookupdOptions };

export const LOOKUPD_FLAGS: LookupdFlagSpec[] = [
  { name: "log-level", kind: "string", option: "logLevel", default: D.logLevel, describe: "set log verbosity: debug, info, warn, error, or fatal" },
  { name: "log-prefix", kind: "string", option: "logPrefix", default: D.logPrefix, describe: "log message prefix" },
  { name: "verbose", kind: "bool", default: false, describe: "[deprecated] has no effect, use --log-level" },
  { name: "tcp-address", kind: "string", address: "listen", option: "tcpAddress", default: D.tcpAddress, describe: "<addr>:<port> to listen on for TCP clients" },
  { name: "http-address", kind: "string", address: "listen", option: "httpAddress", default: D.httpAddress, describe: "<addr>:<port> to listen on for HTTP clients" },
  { name: "broadcast-address", kind: "string", option: "broadcastAddress", default: D.broadcastAddress, describe: "address of this lookupd node, (default to the OS hostname)" },
  { name: "inactive-producer-timeout", kind: "duration", option: "inactiveProducerTimeout", default: D.inactiveProducerTimeout, describe: "duration of time a producer will remain in the active list since its last ping" },
  { name: "tombstone-lifetime", kind: "duration", option: "tombstoneLifetime", default: D.tombstoneLifetime, describe: "duration of time a producer will remain tombstoned if registration remains" },
];

/** Builds LookupdOptions from resolved flags. */
export function lookupdOptionsFromArgs(args: ParsedArgs): LookupdOptions {
  const opts = defaultLookupdOptions();
  const record = opts as unknown as Record<string, unknown>;
  for (const spec of LOOKUPD_FLAGS) {
    const value = args[spec.name];
    if (!spec.option || value === undefined) continue;
    if (spec.option === "logLevel") {
      try {
        opts.logLevel = parseLogLevel(String(value));
      } catch {
        const message = `invalid value "${String(value)}" for flag -log-level: invalid log level`;
        throw flagSource(args, spec.name) === "command-line" ? new UsageError(message) : new Error(message);
      }
      continue;
    }
    record[spec.option] = value;
  }
  return opts;
}

export const command: NsqCommand = {
  name: "lookupd",
  programNames: ["nsqlookupd"],
  describe: "run nsqlookupd, the daemon that tells consumers which nsqd nodes have a topic",
  flags: LOOKUPD_FLAGS,
  acceptsConfigFile: true,
  daemon: true,
  async run(args: ParsedArgs): Promise<number> {
    const opts = lookupdOptionsFromArgs(args);
    const logger = createLogger(opts.logPrefix, opts.logLevel);
    const lookupd = new Nsqlookupd(opts, logger);
    return runUntilShutdownSignal("nsqlookupd", lookupd, logger);
  },
};
