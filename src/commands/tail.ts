/**
 * `nsq tail` / `nsq_tail`: print a topic's messages to stdout. Flags as nsq_tail v1.3.0
 * (spec §6.2); the logic is in src/tools/tail.ts.
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { CLIENT_TRANSPORT_FLAGS, transportFlagOptions } from "../client/tool-flags.ts";
import { runTail } from "../tools/tail.ts";
import { createLogger } from "../util/logger.ts";
import { untilShutdownSignal } from "../util/shutdown-signal.ts";

export const command: NsqCommand = {
  name: "tail",
  programNames: ["nsq_tail"],
  describe: "consume the specified topic(s) and print the messages to stdout",
  positional: "[topic...]",
  flags: [
    { name: "topic", kind: "strings", default: [], describe: "NSQ topic (may be given multiple times)" },
    { name: "channel", kind: "string", default: "", describe: "NSQ channel (default: tail<random>#ephemeral)" },
    { name: "nsqd-tcp-address", kind: "strings", address: "client", default: [], describe: "nsqd TCP address (may be given multiple times)" },
    { name: "lookupd-http-address", kind: "strings", address: "http", default: [], describe: "lookupd HTTP address (may be given multiple times)" },
    { name: "max-in-flight", kind: "int", default: 200, describe: "max number of messages to allow in flight" },
    { name: "n", kind: "int", default: 0, describe: "total messages to show (will wait if starved)" },
    { name: "print-topic", kind: "bool", default: false, describe: "print topic name where message was received" },
    { name: "consumer-opt", kind: "strings", default: [], describe: "option to passthrough to nsq.Consumer (may be given multiple times)" },
    ...CLIENT_TRANSPORT_FLAGS,
  ],
  async run(args: ParsedArgs): Promise<number> {
    const signalled = untilShutdownSignal();
    try {
      return await runTail({
        topics: [...((args["topic"] as string[] | undefined) ?? []), ...args._],
        channel: String(args["channel"] ?? ""),
        nsqdAddresses: (args["nsqd-tcp-address"] as string[] | undefined) ?? [],
        lookupdAddresses: (args["lookupd-http-address"] as string[] | undefined) ?? [],
        maxInFlight: Number(args["max-in-flight"] ?? 200),
        count: Number(args["n"] ?? 0),
        printTopic: args["print-topic"] === true,
        consumerOpts: [...transportFlagOptions(args), ...((args["consumer-opt"] as string[] | undefined) ?? [])],
        output: process.stdout,
        logger: createLogger("", "warn"),
        stopSignal: signalled.promise,
      });
    } finally {
      signalled.cancel();
    }
  },
};
