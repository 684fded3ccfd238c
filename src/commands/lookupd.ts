/**
 * `nsq lookupd` / `nsqlookupd`: runs the discovery daemon with nsqlookupd v1.3.0's flags
 * (spec §5.4) until SIGINT/SIGTERM.
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { Nsqlookupd } from "../lookupd/lookupd.ts";
import { defaultLookupdOptions, type LookupdOptions } from "../lookupd/options.ts";
import { createLogger } from "../util/logger.ts";
import { applyFlagsToOptions, type OptionFlagSpec } from "../util/flag-options.ts";
import { runUntilShutdownSignal } from "./run-daemon.ts";

const D = defaultLookupdOptions();

export type LookupdFlagSpec = OptionFlagSpec<LookupdOptions>;

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
  return applyFlagsToOptions(LOOKUPD_FLAGS, args, defaultLookupdOptions());
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
