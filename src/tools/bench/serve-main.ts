/**
 * Runs the `serve` command directly (argv → Go-style flags → command.run), so `--start-server`
 * works from source whether or not the CLI's command table lists `serve`.
 */
import { command } from "../../commands/serve.ts";
import { parseGoFlags } from "../../util/goflags.ts";

try {
  const code = await command.run(parseGoFlags(process.argv.slice(2), command.flags));
  process.exit(code ?? 0);
} catch (err) {
  process.stderr.write(`nsqd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
