/**
 * `nsq completion [bash|zsh|fish]`: prints a completion script for the shell named (default: the
 * login shell from $SHELL when supported, else bash). Other shells are refused (exit 2).
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { UsageError } from "./types.ts";
import { COMPLETION_SHELLS, completionScript, defaultShell, isCompletionShell } from "../util/completion-scripts.ts";

export const command: NsqCommand = {
  name: "completion",
  describe: `print a shell completion script (${COMPLETION_SHELLS.join(", ")}); e.g. source <(nsq completion bash)`,
  positional: "[shell]",
  flags: [],
  async run(args: ParsedArgs): Promise<number> {
    const [shellArg, ...extra] = args._;
    if (extra.length > 0) throw new UsageError("expected at most one argument: the shell (bash, zsh or fish)");
    const shell = shellArg ?? defaultShell(process.env["SHELL"]);
    if (!isCompletionShell(shell)) {
      throw new UsageError(`unsupported shell "${shell}": nsq completion supports ${COMPLETION_SHELLS.join(", ")}`);
    }
    // imported lazily: index.ts imports this module
    const { COMMANDS } = await import("./index.ts");
    process.stdout.write(completionScript(shell, "nsq", COMMANDS.filter((c) => c.name !== "completion")));
    return 0;
  },
};
