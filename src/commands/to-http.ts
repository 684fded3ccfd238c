/**
 * `nsq to-http` / `nsq_to_http`: one HTTP GET or POST per message of a topic. Flags as
 * nsq_to_http v1.3.0; the logic is in src/tools/to-http.ts.
 */
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { CLIENT_TRANSPORT_FLAGS, transportFlagOptions } from "../client/tool-flags.ts";
import { DEFAULT_CONTENT_TYPE, runToHttp } from "../tools/to-http.ts";
import { createLogger } from "../util/logger.ts";
import { onSignal, untilShutdownSignalKeepingHandlers } from "../util/shutdown-signal.ts";

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

export const command: NsqCommand = {
  name: "to-http",
  programNames: ["nsq_to_http"],
  describe: "consume a topic and make an HTTP GET or POST per message (FIN only after a 2xx)",
  flags: [
    { name: "topic", kind: "string", default: "", describe: "nsq topic" },
    { name: "channel", kind: "string", default: "nsq_to_http", describe: "nsq channel" },
    { name: "max-in-flight", kind: "int", default: 200, describe: "max number of messages to allow in flight" },
    { name: "n", kind: "int", default: 100, describe: "number of concurrent publishers" },
    { name: "mode", kind: "string", default: "hostpool", describe: "the upstream request mode options: round-robin, hostpool (default), epsilon-greedy" },
    { name: "sample", kind: "float", default: 1.0, describe: "% of messages to publish (float b/w 0 -> 1)" },
    { name: "http-client-connect-timeout", kind: "duration", default: 2000, describe: "timeout for HTTP connect" },
    { name: "http-client-request-timeout", kind: "duration", default: 20_000, describe: "timeout for HTTP request" },
    { name: "status-every", kind: "int", default: 250, describe: "the # of requests between logging status (per handler), 0 disables" },
    { name: "content-type", kind: "string", default: DEFAULT_CONTENT_TYPE, describe: "the Content-Type used for POST requests" },
    { name: "post", kind: "strings", default: [], describe: "HTTP address to make a POST request to.  data will be in the body (may be given multiple times)" },
    { name: "header", kind: "strings", default: [], describe: "Custom header for HTTP requests (may be given multiple times)" },
    { name: "get", kind: "strings", default: [], describe: "HTTP address to make a GET request to. '%s' will be printf replaced with data (may be given multiple times)" },
    { name: "nsqd-tcp-address", kind: "strings", default: [], describe: "nsqd TCP address (may be given multiple times)" },
    { name: "lookupd-http-address", kind: "strings", default: [], describe: "lookupd HTTP address (may be given multiple times)" },
    { name: "consumer-opt", kind: "strings", default: [], describe: "option to passthrough to nsq.Consumer (may be given multiple times)" },
    { name: "max-backoff-duration", kind: "duration", describe: "(deprecated, not in nsq_to_http 1.3) use --consumer-opt=max_backoff_duration,X" },
    ...CLIENT_TRANSPORT_FLAGS,
  ],
  async run(args: ParsedArgs): Promise<number> {
    const consumerOpts = [...transportFlagOptions(args), ...strings(args["consumer-opt"])];
    // nsq_to_http before 1.0 had --max-backoff-duration; it still works, as the consumer option
    if (typeof args["max-backoff-duration"] === "number") {
      process.stderr.write("WARNING: --max-backoff-duration is deprecated in favor of --consumer-opt=max_backoff_duration,X\n");
      consumerOpts.unshift(`max_backoff_duration,${Number(args["max-backoff-duration"])}`);
    }
    const signalled = untilShutdownSignalKeepingHandlers();
    try {
      return await runToHttp({
        topic: String(args["topic"] ?? ""),
        channel: String(args["channel"] ?? "nsq_to_http"),
        nsqdAddresses: strings(args["nsqd-tcp-address"]),
        lookupdAddresses: strings(args["lookupd-http-address"]),
        getAddresses: strings(args["get"]),
        postAddresses: strings(args["post"]),
        contentType: String(args["content-type"] ?? DEFAULT_CONTENT_TYPE),
        headers: strings(args["header"]),
        mode: String(args["mode"] ?? "hostpool"),
        concurrency: Number(args["n"] ?? 100),
        sample: Number(args["sample"] ?? 1),
        maxInFlight: Number(args["max-in-flight"] ?? 200),
        httpConnectTimeout: Number(args["http-client-connect-timeout"] ?? 2000),
        httpRequestTimeout: Number(args["http-client-request-timeout"] ?? 20_000),
        statusEvery: Number(args["status-every"] ?? 250),
        consumerOpts,
        logger: createLogger("", "info"),
        stopSignal: signalled.promise,
        onStatsRequest: (listener) => onSignal("SIGUSR1", listener),
      });
    } finally {
      signalled.cancel();
    }
  },
};
