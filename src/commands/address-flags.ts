/**
 * Checks every address flag of a command (FlagSpec.address) before the command runs, so a typo
 * such as `--tcp-address=127.0.0.1:abc` is one line and exit 2 for every subcommand instead of a
 * unix socket named `127.0.0.1:abc`, a daemon half started, or a tool retrying a lookupd forever.
 * A bad value from a --config file is an Error (exit 1), as nsqd's other config-file checks.
 */
import type { FlagSpec, ParsedArgs } from "../util/flag-spec.ts";
import { UsageError } from "../util/usage-error.ts";
import { flagSource } from "../util/goflags.ts";
import { addressProblem } from "../protocol/address.ts";

export function checkAddressFlags(args: ParsedArgs, flags: readonly FlagSpec[]): void {
  for (const spec of flags) {
    if (spec.address === undefined) continue;
    const value = args[spec.name];
    if (value === undefined) continue;
    for (const text of Array.isArray(value) ? value : [String(value)]) {
      if (text === "" && spec.emptyOk === true) continue;
      const problem = text === "" ? "empty address" : addressProblem(spec.address, text);
      if (problem === null) continue;
      // the flag's value is already quoted: say only what is wrong with it
      const why = problem.replace(`invalid address "${text}": `, "");
      if (flagSource(args, spec.name) === "config") {
        const key = spec.cfgKey ?? spec.name.replace(/-/g, "_");
        throw new Error(`invalid value "${text}" for ${key} in the config file: ${why}`);
      }
      throw new UsageError(`invalid value "${text}" for flag -${spec.name}: ${why}`);
    }
  }
}
