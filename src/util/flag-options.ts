/**
 * Copies resolved flag values onto a program's options object, for the daemons whose flags map
 * one to one onto option fields (nsqlookupd, nsqadmin). --log-level is parsed into a level name
 * with Go's flag error; every other value is taken as parsed, with empty entries dropped from
 * repeatable flags (`--lookupd-http-address=` in a config file means none).
 */
import type { FlagSpec, ParsedArgs } from "./flag-spec.ts";
import { UsageError } from "./usage-error.ts";
import { parseLogLevel, type LogLevelName } from "./logger.ts";
import { flagSource } from "./goflags.ts";

/** A flag tied to the option field it sets (no `option`: the flag is accepted and ignored). */
export type OptionFlagSpec<O> = FlagSpec & { option?: keyof O };

export function applyFlagsToOptions<O extends { logLevel: LogLevelName }>(
  specs: readonly OptionFlagSpec<O>[],
  args: ParsedArgs,
  opts: O,
): O {
  const record = opts as unknown as Record<string, unknown>;
  for (const spec of specs) {
    const value = args[spec.name];
    if (!spec.option || value === undefined) continue;
    if (spec.option === "logLevel") {
      try {
        opts.logLevel = parseLogLevel(String(value));
      } catch {
        const message = `invalid value "${String(value)}" for flag -log-level: invalid log level`;
        // a bad command-line value is a usage error (exit 2); one from the config file is not
        throw flagSource(args, spec.name) === "command-line" ? new UsageError(message) : new Error(message);
      }
      continue;
    }
    record[spec.option as string] = Array.isArray(value) ? value.filter((s) => s !== "") : value;
  }
  return opts;
}
