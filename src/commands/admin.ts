/**
 * `nsq admin` / `nsqadmin`: the web admin of the cluster with nsqadmin v1.3.0's flags (spec §6.6)
 * until SIGINT/SIGTERM. The server (and its embedded UI) is loaded only when the command runs.
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { ADMIN_FLAGS, adminOptionsFromArgs } from "../admin/options.ts";
import { createLogger } from "../util/logger.ts";
import { runUntilShutdownSignal } from "./run-daemon.ts";

export const command: NsqCommand = {
  name: "admin",
  programNames: ["nsqadmin"],
  describe: "run nsqadmin, the web UI and JSON API to watch and administer the cluster",
  flags: ADMIN_FLAGS,
  acceptsConfigFile: true,
  daemon: true,
  async run(args: ParsedArgs): Promise<number> {
    const opts = adminOptionsFromArgs(args);
    const logger = createLogger(opts.logPrefix, opts.logLevel);
    const { NsqAdmin } = await import("../admin/nsqadmin.ts");
    return runUntilShutdownSignal("nsqadmin", new NsqAdmin(opts, logger), logger);
  },
};
