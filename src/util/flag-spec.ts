/**
 * How a program's flags are declared and what parsing them yields. Shared by the CLI layer
 * (src/commands), the flag parser (goflags, config-file) and the programs' option builders, so it
 * lives below all of them.
 *
 * Flags keep the real NSQ programs' names and accept Go's syntax too (`-flag v`, `-flag=v`,
 * `--flag v`, `--flag=v`); see src/util/goflags.ts.
 */
import type { AddressKind } from "../protocol/address.ts";

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
  /**
   * The flag holds a network address of this kind: the CLI checks every value before the command
   * runs (a bad one is a usage error, exit 2). An empty value is allowed only with `emptyOk`.
   */
  address?: AddressKind;
  /** an empty address disables the thing (nsqd's --http-address=, --statsd-address=) */
  emptyOk?: boolean;
}

/** Parsed flags keyed by flag name (kebab-case); durations in ms; repeatable flags as arrays. */
export interface ParsedArgs {
  /** positional arguments after the subcommand name */
  _: string[];
  [flag: string]: string | number | boolean | string[] | undefined;
}
