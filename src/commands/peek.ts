/**
 * `nsq peek` (beyond nsq's tools): print a channel's next messages without consuming them
 * (nsqd's GET /channel/peek of `nsq serve`); the logic is in src/tools/peek.ts.
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { UsageError } from "../util/usage-error.ts";
import { runPeek } from "../tools/peek.ts";

export const command: NsqCommand = {
  name: "peek",
  describe: "print a channel's next messages without consuming them (nsq serve only)",
  flags: [
    { name: "nsqd-http-address", kind: "string", default: "", describe: "nsqd HTTP address (host:port or https://host:port)" },
    { name: "topic", kind: "string", default: "", describe: "NSQ topic" },
    { name: "channel", kind: "string", default: "", describe: "NSQ channel" },
    { name: "n", kind: "int", default: 1, describe: "how many messages to show (1-100)" },
    { name: "body-only", kind: "bool", default: false, describe: "print only the bodies, one per line" },
    { name: "http-client-connect-timeout", kind: "duration", default: 2000, describe: "timeout for HTTP connect" },
    { name: "http-client-request-timeout", kind: "duration", default: 5000, describe: "timeout for HTTP request" },
  ],
  async run(args: ParsedArgs): Promise<number> {
    const address = String(args["nsqd-http-address"] ?? "");
    const topic = String(args["topic"] ?? "");
    const channel = String(args["channel"] ?? "");
    const count = Number(args["n"] ?? 1);
    if (address === "") throw new UsageError("--nsqd-http-address is required");
    if (topic === "" || channel === "") throw new UsageError("--topic and --channel are required");
    if (!Number.isInteger(count) || count < 1 || count > 100) throw new UsageError("-n must be between 1 and 100");
    return runPeek({
      nsqdHttpAddress: address,
      topic,
      channel,
      count,
      bodyOnly: args["body-only"] === true,
      timeouts: {
        connectTimeoutMs: Number(args["http-client-connect-timeout"] ?? 2000),
        requestTimeoutMs: Number(args["http-client-request-timeout"] ?? 5000),
      },
      write: (bytes) => void process.stdout.write(bytes),
      report: (line) => void process.stderr.write(line + "\n"),
    });
  },
};
