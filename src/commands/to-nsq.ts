/**
 * `nsq to-nsq` / `nsq_to_nsq`: copy topics to nsqd(s) of another cluster. Flags as nsq_to_nsq
 * v1.3.0; the logic is in src/tools/to-nsq.ts.
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { CLIENT_TRANSPORT_FLAGS, transportFlagOptions } from "../client/tool-flags.ts";
import { runToNsq } from "../tools/to-nsq.ts";
import { createLogger } from "../util/logger.ts";
import { onSignal, untilShutdownSignalKeepingHandlers } from "../util/shutdown-signal.ts";

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

export const command: NsqCommand = {
  name: "to-nsq",
  programNames: ["nsq_to_nsq"],
  describe: "consume topics and re-publish every message to destination nsqd(s) (FIN only after the destination's OK)",
  flags: [
    { name: "topic", kind: "strings", default: [], describe: "nsq topic (may be given multiple times)" },
    { name: "channel", kind: "string", default: "nsq_to_nsq", describe: "nsq channel" },
    { name: "destination-topic", kind: "string", default: "", describe: "use this destination topic for all consumed topics (default is consumed topic name)" },
    { name: "max-in-flight", kind: "int", default: 200, describe: "max number of messages to allow in flight" },
    { name: "status-every", kind: "int", default: 250, describe: "the # of requests between logging status (per destination), 0 disables" },
    { name: "mode", kind: "string", default: "hostpool", describe: "the upstream request mode options: round-robin, hostpool (default), epsilon-greedy" },
    { name: "nsqd-tcp-address", kind: "strings", default: [], describe: "nsqd TCP address (may be given multiple times)" },
    { name: "destination-nsqd-tcp-address", kind: "strings", default: [], describe: "destination nsqd TCP address (may be given multiple times)" },
    { name: "lookupd-http-address", kind: "strings", default: [], describe: "lookupd HTTP address (may be given multiple times)" },
    { name: "whitelist-json-field", kind: "strings", default: [], describe: "for JSON messages: pass this field (may be given multiple times)" },
    { name: "require-json-field", kind: "string", default: "", describe: "for JSON messages: only pass messages that contain this field" },
    { name: "require-json-value", kind: "string", default: "", describe: "for JSON messages: only pass messages in which the required field has this value" },
    { name: "consumer-opt", kind: "strings", default: [], describe: "option to passthrough to nsq.Consumer (may be given multiple times)" },
    { name: "producer-opt", kind: "strings", default: [], describe: "option to passthrough to nsq.Producer (may be given multiple times)" },
    ...CLIENT_TRANSPORT_FLAGS.map((f) => ({ ...f, describe: `${f.describe} [source connections; destinations: --producer-opt]` })),
  ],
  async run(args: ParsedArgs): Promise<number> {
    const signalled = untilShutdownSignalKeepingHandlers();
    try {
      return await runToNsq({
        topics: strings(args["topic"]),
        channel: String(args["channel"] ?? "nsq_to_nsq"),
        destinationTopic: String(args["destination-topic"] ?? ""),
        nsqdAddresses: strings(args["nsqd-tcp-address"]),
        lookupdAddresses: strings(args["lookupd-http-address"]),
        destinationAddresses: strings(args["destination-nsqd-tcp-address"]),
        mode: String(args["mode"] ?? "hostpool"),
        maxInFlight: Number(args["max-in-flight"] ?? 200),
        statusEvery: Number(args["status-every"] ?? 250),
        whitelistJsonFields: strings(args["whitelist-json-field"]),
        requireJsonField: String(args["require-json-field"] ?? ""),
        requireJsonValue: String(args["require-json-value"] ?? ""),
        consumerOpts: [...transportFlagOptions(args), ...strings(args["consumer-opt"])],
        producerOpts: strings(args["producer-opt"]),
        logger: createLogger("", "info"),
        stopSignal: signalled.promise,
        onStatsRequest: (listener) => onSignal("SIGUSR1", listener),
      });
    } finally {
      signalled.cancel();
    }
  },
};
