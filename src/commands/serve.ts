/**
 * `nsq serve` / `nsqd`: runs the message broker with nsqd v1.3.0's flags (spec §4) until
 * SIGINT/SIGTERM, then shuts down gracefully (queues flushed, metadata written) and exits 0.
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { NSQD_COMMAND_FLAGS, nsqdOptionsFromArgs } from "../server/flags.ts";
import { Nsqd } from "../server/nsqd.ts";
import { createLogger } from "../util/logger.ts";
import { runUntilShutdownSignal } from "./run-daemon.ts";

export const command: NsqCommand = {
  name: "serve",
  programNames: ["nsqd"],
  describe: "run nsqd, the daemon that receives, queues and delivers messages",
  flags: NSQD_COMMAND_FLAGS,
  acceptsConfigFile: true,
  daemon: true,
  async run(args: ParsedArgs): Promise<number> {
    const opts = nsqdOptionsFromArgs(args);
    const logger = createLogger(opts.logPrefix, opts.logLevel);
    const nsqd = new Nsqd(opts, logger);
    return runUntilShutdownSignal("nsqd", nsqd, logger);
  },
};
