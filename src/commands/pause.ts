/**
 * `nsq pause` / `nsq_pause`: pause or unpause a topic or topic/channel on every nsqd given or
 * discovered through lookupd, printing a table of what changed where (src/tools/pause.ts).
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { runPause } from "../tools/pause.ts";
import { UsageError } from "./types.ts";

export const command: NsqCommand = {
  name: "pause",
  programNames: ["nsq_pause"],
  describe: "pause (or --unpause) a topic or topic/channel on every nsqd",
  positional: "[topic[/channel]]",
  flags: [
    { name: "topic", kind: "string", default: "", describe: "topic to pause (or give topic[/channel] as an argument)" },
    { name: "channel", kind: "string", default: "", describe: "channel to pause (default: the whole topic)" },
    { name: "unpause", kind: "bool", default: false, describe: "unpause instead of pause" },
    { name: "nsqd-http-address", kind: "strings", address: "http", default: [], describe: "nsqd HTTP address (may be given multiple times)" },
    { name: "lookupd-http-address", kind: "strings", address: "http", default: [], describe: "lookupd HTTP address (may be given multiple times)" },
    { name: "http-client-connect-timeout", kind: "duration", default: 2000, describe: "timeout for HTTP connect" },
    { name: "http-client-request-timeout", kind: "duration", default: 5000, describe: "timeout for HTTP request" },
  ],
  async run(args: ParsedArgs): Promise<number> {
    const positional = args._;
    const topicFlag = String(args["topic"] ?? "");
    if (positional.length > 1 || (topicFlag && positional.length > 0)) {
      throw new UsageError(`unexpected arguments: ${positional.join(" ")}`);
    }
    return runPause({
      target: topicFlag || positional[0] || "",
      channel: String(args["channel"] ?? ""),
      unpause: args["unpause"] === true,
      nsqdHttpAddresses: (args["nsqd-http-address"] as string[] | undefined) ?? [],
      lookupdHttpAddresses: (args["lookupd-http-address"] as string[] | undefined) ?? [],
      connectTimeoutMs: Number(args["http-client-connect-timeout"] ?? 2000),
      timeoutMs: Number(args["http-client-request-timeout"] ?? 5000),
      print: (text) => void process.stdout.write(text),
      report: (line) => void process.stderr.write(line + "\n"),
    });
  },
};
