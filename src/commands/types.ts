/**
 * How a subcommand is declared. Each module in src/commands/ exports `command: NsqCommand`;
 * src/cli.ts registers them all with yargs in one place and turns a thrown UsageError into a
 * one-line message with exit code 2, and any other error into one line with exit code 1.
 */
import type { FlagSpec, ParsedArgs } from "../util/flag-spec.ts";

export type { FlagKind, FlagSpec, ParsedArgs } from "../util/flag-spec.ts";
export { UsageError } from "../util/usage-error.ts";

export interface NsqCommand {
  /** subcommand name, e.g. "serve", "to-file" */
  name: string;
  /** program names that run this command when the executable is invoked under them (argv[0]) */
  programNames?: string[];
  describe: string;
  /** e.g. "[topic]" for yargs' positional usage text */
  positional?: string;
  flags: FlagSpec[];
  /** when true a `--config FILE` TOML file may provide flag values (flag > config > default) */
  acceptsConfigFile?: boolean;
  /** long-running server (nsqd, nsqlookupd): `--version` also names the runtime, like Go's daemons */
  daemon?: boolean;
  /** runs the command; resolves with the process exit code (default 0) */
  run(args: ParsedArgs, context?: CommandContext): Promise<number | void>;
}

/** How the command was started. */
export interface CommandContext {
  /** the real program's name when started under it (multi-call: "nsq_stat", "nsqd"…), else undefined */
  invokedAs?: string;
}
