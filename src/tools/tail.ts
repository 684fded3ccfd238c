/**
 * `nsq tail` / nsq_tail (spec §6.2): print the messages of one or more topics to stdout, one
 * consumer per topic on a shared (by default ephemeral) channel. Well-behaved in pipes: a closed
 * reader ends the run quietly with exit code 0.
 */
import { Consumer } from "../client/consumer.ts";
import { applyClientOptionFlags, defaultClientConfig } from "../client/config.ts";
import { parseHostPort } from "../client/address.ts";
import type { Message } from "../client/message.ts";
import { isValidChannelName, isValidTopicName, NAME_RULE } from "../protocol/names.ts";
import { NSQ_VERSION, USER_AGENT_SUFFIX } from "../protocol/version.ts";
import { UsageError } from "../util/usage-error.ts";
import type { Logger } from "../util/logger.ts";
import { AckingWriter, type WritableLike } from "./output-writer.ts";

export interface TailOptions {
  topics: string[];
  /** "" = `tail<6 digits>#ephemeral` */
  channel: string;
  nsqdAddresses: string[];
  lookupdAddresses: string[];
  maxInFlight: number;
  /** exit after this many messages per topic; 0 = forever */
  count: number;
  printTopic: boolean;
  consumerOpts: string[];
  output: WritableLike;
  logger: Logger;
  /** resolves on SIGINT/SIGTERM */
  stopSignal?: Promise<unknown>;
}

const NEWLINE = Buffer.from("\n");

export function randomTailChannel(): string {
  return `tail${String(Math.floor(Math.random() * 999_999)).padStart(6, "0")}#ephemeral`;
}

/** Checks the flags shared by the consuming tools (spec §6.1). */
export function checkConsumerSources(nsqd: string[], lookupd: string[]): void {
  if (nsqd.length === 0 && lookupd.length === 0) throw new UsageError("--nsqd-tcp-address or --lookupd-http-address required");
  if (nsqd.length > 0 && lookupd.length > 0) throw new UsageError("use --nsqd-tcp-address or --lookupd-http-address not both");
  for (const a of nsqd) parseHostPort(a);
}

export async function runTail(opts: TailOptions): Promise<number> {
  if (opts.topics.length === 0) throw new UsageError("--topic is required");
  for (const t of opts.topics) if (!isValidTopicName(t)) throw new UsageError(`invalid topic name "${t}" (${NAME_RULE})`);
  const channel = opts.channel || randomTailChannel();
  if (!isValidChannelName(channel)) throw new UsageError(`invalid channel name "${channel}" (${NAME_RULE})`);
  checkConsumerSources(opts.nsqdAddresses, opts.lookupdAddresses);
  if (opts.count < 0) throw new UsageError("-n must not be negative");

  const config = defaultClientConfig();
  config.userAgent = `nsq_tail/${NSQ_VERSION} ${USER_AGENT_SUFFIX}`;
  config.maxInFlight = opts.maxInFlight;
  applyClientOptionFlags(config, opts.consumerOpts);
  if (opts.count > 0 && opts.count < config.maxInFlight) config.maxInFlight = opts.count;

  let finish!: (reason: "done" | "signal" | "broken") => void;
  const finished = new Promise<"done" | "signal" | "broken">((resolve) => (finish = resolve));
  const writer = new AckingWriter(opts.output, () => finish("broken"));
  void opts.stopSignal?.then(() => finish("signal"));

  const consumers = opts.topics.map((topic) => {
    const prefix = opts.printTopic ? Buffer.from(`${topic} | `) : null;
    let seen = 0;
    const handler = (msg: Message): void => {
      msg.disableAutoResponse();
      if (opts.count > 0 && seen >= opts.count) {
        msg.requeueWithoutBackoff(0); // over the limit: hand it back at once
        return;
      }
      seen++;
      writer.append(prefix ? [prefix, msg.body, NEWLINE] : [msg.body, NEWLINE], msg);
      if (opts.count > 0 && seen === opts.count) finish("done");
    };
    return new Consumer({ topic, channel, handler, config, logger: opts.logger });
  });

  try {
    for (const c of consumers) {
      if (opts.nsqdAddresses.length > 0) await c.connectToNsqds(opts.nsqdAddresses);
      else await c.connectToLookupds(opts.lookupdAddresses);
    }
  } catch (err) {
    await Promise.all(consumers.map((c) => c.close()));
    throw err;
  }

  const reason = await finished;
  if (reason === "broken") {
    await Promise.all(consumers.map((c) => c.close()));
    if (writer.error) throw new Error(`writing to stdout: ${writer.error.message}`);
    return 0;
  }
  if (reason === "done") {
    await writer.drain();
    await Promise.all(consumers.map((c) => c.close()));
    return 0;
  }
  // signal: graceful stop, messages already written are FINed as their writes complete
  const stopping = Promise.all(consumers.map((c) => c.stop()));
  await writer.drain();
  await stopping;
  return 0;
}
