/**
 * How a subcommand is declared. Each module in src/commands/ exports `command: NsqCommand`;
 * src/cli.ts registers them all with yargs in one place and turns a thrown UsageError into a
 * one-line message with exit code 2, and any other error into one line with exit code 1.
 *
 * Flags keep the real NSQ programs' names and accept Go's syntax too (`-flag v`, `-flag=v`,
 * `--flag v`, `--flag=v`); see src/util/goflags.ts.
 */
export type FlagKind = "string" | "int" | "float" | "bool" | "duration" | "strings";

export interface FlagSpec {
  /** kebab-case flag name, as the real program spells it (e.g. "lookupd-http-address") */
  name: string;
  kind: FlagKind;
  describe: string;
  /** default value; durations are given in milliseconds, "strings" as an array */
  default?: string | number | boolean | string[];
  /** TOML config key when it differs from the flag name with - replaced by _ */
  cfgKey?: string;
  /** single-letter alias, e.g. "n" */
  alias?: string;
  /** "strings" flags: also split each value on commas (e.g. e2e percentiles) */
  commaSeparated?: boolean;
  /**
   * Value used when the flag is given bare (`-tls-required`), as Go's IsBoolFlag values do; such a
   * flag never consumes the next argument and takes other values only as `-flag=value`.
   */
  implicitValue?: string;
}

/** Parsed flags keyed by flag name (kebab-case); durations in ms; repeatable flags as arrays. */
export interface ParsedArgs {
  /** positional arguments after the subcommand name */
  _: string[];
  [flag: string]: string | number | boolean | string[] | undefined;
}

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

/** A mistake in how the command was invoked: reported as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
