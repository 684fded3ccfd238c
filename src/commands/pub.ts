/**
 * `nsq pub` / `to_nsq`: publish lines from stdin (or the arguments after the topic) to nsqd.
 * Flags as to_nsq v1.3.0 (spec §6.4); the logic is in src/tools/pub.ts.
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { CLIENT_TRANSPORT_FLAGS, transportFlagOptions } from "../client/tool-flags.ts";
import { runPub } from "../tools/pub.ts";
import { untilShutdownSignal } from "../util/shutdown-signal.ts";

export const command: NsqCommand = {
  name: "pub",
  programNames: ["to_nsq"],
  describe: "publish stdin records (split on --delimiter) or the given messages to every --nsqd-tcp-address",
  positional: "[topic] [message...]",
  flags: [
    { name: "topic", kind: "string", default: "", describe: "NSQ topic to publish to" },
    { name: "nsqd-tcp-address", kind: "strings", address: "client", default: [], describe: "destination nsqd TCP address (may be given multiple times)" },
    { name: "delimiter", kind: "string", default: "\n", describe: "character to split input from stdin" },
    { name: "rate", kind: "int", default: 0, describe: "throttle messages per second (0 = unthrottled)" },
    { name: "producer-opt", kind: "strings", default: [], describe: "option to passthrough to nsq.Producer (may be given multiple times)" },
    ...CLIENT_TRANSPORT_FLAGS,
  ],
  async run(args: ParsedArgs): Promise<number> {
    const positional = [...args._];
    let topic = String(args["topic"] ?? "");
    if (!topic && positional.length > 0) topic = positional.shift()!;
    const signalled = untilShutdownSignal();
    void signalled.promise.then(() => process.stdin.destroy());
    try {
      return await runPub({
        topic,
        nsqdAddresses: (args["nsqd-tcp-address"] as string[] | undefined) ?? [],
        delimiter: String(args["delimiter"] ?? "\n"),
        rate: Number(args["rate"] ?? 0),
        producerOpts: [...transportFlagOptions(args), ...((args["producer-opt"] as string[] | undefined) ?? [])],
        messages: positional,
        input: process.stdin,
        report: (line) => void process.stderr.write(line + "\n"),
        stopSignal: signalled.promise,
      });
    } finally {
      signalled.cancel();
      // a failed publish ends the run while stdin may still be open: stop reading it
      process.stdin.destroy();
    }
  },
};
