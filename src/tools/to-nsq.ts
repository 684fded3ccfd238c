/**
 * `nsq to-nsq` / nsq_to_nsq (nsq v1.3.0 apps/nsq_to_nsq): consume topics on one cluster and
 * publish every message to nsqd(s) of another. One consumer per `--topic`, all on `--channel`;
 * each message is published (PUB, pipelined) to one destination chosen by `--mode`, and FINished
 * only after that destination answered OK; a failed publish REQueues it with backoff, so a
 * destination that is down holds delivery back instead of losing messages. Optional JSON
 * filtering (src/tools/json-filter.ts). SIGINT/SIGTERM: CLS on every connection, wait for the
 * outstanding publishes to be answered (FIN or REQ), close the producers, exit 0.
 */
import { Consumer } from "../client/consumer.ts";
import { Producer } from "../client/producer.ts";
import { applyClientOptionFlags, defaultClientConfig } from "../client/config.ts";
import { errorText } from "../client/errors.ts";
import { parseHostPort } from "../client/address.ts";
import type { Message } from "../client/message.ts";
import { isValidChannelName, isValidTopicName } from "../protocol/names.ts";
import { NSQ_VERSION, USER_AGENT_SUFFIX } from "../protocol/version.ts";
import { UsageError } from "../util/usage-error.ts";
import type { Logger } from "../util/logger.ts";
import { HostPool, type HostChoice } from "./host-pool.ts";
import { JsonFilter } from "./json-filter.ts";
import { stderrGoLog, TimerMetrics, formatTimerStats, type LineSink } from "./timer-metrics.ts";
import { checkConsumerSources } from "./tail.ts";

export interface ToNsqOptions {
  topics: string[];
  channel: string;
  destinationTopic: string;
  nsqdAddresses: string[];
  lookupdAddresses: string[];
  destinationAddresses: string[];
  /** round-robin | hostpool | epsilon-greedy (anything else: round-robin, as nsq_to_nsq) */
  mode: string;
  maxInFlight: number;
  statusEvery: number;
  whitelistJsonFields: string[];
  requireJsonField: string;
  requireJsonValue: string;
  consumerOpts: string[];
  producerOpts: string[];
  logger: Logger;
  /** Go-log lines (status lines, filter errors) */
  log?: LineSink;
  stopSignal?: Promise<unknown>;
  /** SIGUSR1 (or a test): print the current statistics */
  onStatsRequest?: (listener: () => void) => () => void;
}

export interface BridgeCounters {
  received: number;
  finished: number;
  requeued: number;
  skipped: number;
}

export async function runToNsq(opts: ToNsqOptions): Promise<number> {
  if (opts.topics.length === 0 || opts.channel === "") throw new UsageError("--topic and --channel are required");
  for (const t of opts.topics) if (!isValidTopicName(t)) throw new UsageError("--topic is invalid");
  if (opts.destinationTopic !== "" && !isValidTopicName(opts.destinationTopic)) throw new UsageError("--destination-topic is invalid");
  if (!isValidChannelName(opts.channel)) throw new UsageError("--channel is invalid");
  checkConsumerSources(opts.nsqdAddresses, opts.lookupdAddresses);
  if (opts.destinationAddresses.length === 0) throw new UsageError("--destination-nsqd-tcp-address required");
  for (const a of opts.destinationAddresses) parseHostPort(a);

  const log = opts.log ?? stderrGoLog;
  const userAgent = `nsq_to_nsq/${NSQ_VERSION} ${USER_AGENT_SUFFIX}`;
  const consumerConfig = defaultClientConfig();
  const producerConfig = defaultClientConfig();
  applyClientOptionFlags(consumerConfig, opts.consumerOpts);
  applyClientOptionFlags(producerConfig, opts.producerOpts);
  consumerConfig.userAgent = userAgent;
  consumerConfig.maxInFlight = opts.maxInFlight;
  producerConfig.userAgent = userAgent;

  // nsq_to_nsq lists every destination once in a map: a repeated address is one producer
  const destinations = opts.destinationAddresses;
  const producers = new Map<string, Producer>();
  for (const a of destinations) if (!producers.has(a)) producers.set(a, new Producer(a, producerConfig));

  const perAddress = new Map<string, TimerMetrics>();
  if (destinations.length === 1) perAddress.set(destinations[0]!, new TimerMetrics(0, "", log));
  else for (const a of destinations) perAddress.set(a, new TimerMetrics(opts.statusEvery, `[${a}]:`, log));
  const aggregate = new TimerMetrics(opts.statusEvery, "[aggregate]:", log);

  const pool = opts.mode === "hostpool" || opts.mode === "epsilon-greedy" ? new HostPool(destinations, opts.mode === "epsilon-greedy") : null;
  const filter = new JsonFilter({
    requireField: opts.requireJsonField,
    requireValue: opts.requireJsonValue,
    whitelistFields: opts.whitelistJsonFields,
  });
  const counters: BridgeCounters = { received: 0, finished: 0, requeued: 0, skipped: 0 };
  let roundRobin = 0;

  const handle = (msg: Message, destinationTopic: string): void => {
    counters.received++;
    const verdict = filter.apply(msg.body);
    if (verdict.action === "skip") {
      if (verdict.reason === "invalid-json") log(`ERROR: Unable to decode json: ${msg.body.toString("utf8")}`);
      counters.skipped++;
      counters.finished++;
      return; // auto FIN
    }
    if (verdict.action === "backoff") {
      log("ERROR: missing field to check required value");
      counters.requeued++;
      throw new Error("backoff"); // REQ with backoff
    }
    const started = performance.now();
    let address: string;
    let choice: HostChoice | null = null;
    if (pool) {
      choice = pool.get();
      address = choice.host;
    } else {
      roundRobin++;
      address = destinations[roundRobin % destinations.length]!;
    }
    msg.disableAutoResponse();
    producers
      .get(address)!
      .publish(destinationTopic, verdict.body)
      .then(
        () => {
          choice?.mark(null);
          counters.finished++;
          msg.finish();
        },
        (err: unknown) => {
          choice?.mark(err);
          counters.requeued++;
          opts.logger.error(`[${address}] publish failed - ${errorText(err)}`);
          msg.requeue(-1, true);
        },
      )
      .finally(() => {
        perAddress.get(address)!.status(started);
        aggregate.status(started);
      });
  };

  const consumers = opts.topics.map((topic) => {
    const destinationTopic = opts.destinationTopic !== "" ? opts.destinationTopic : topic;
    return new Consumer({ topic, channel: opts.channel, config: consumerConfig, logger: opts.logger, handler: (m) => handle(m, destinationTopic) });
  });

  const printStats = (): void => {
    for (const m of [...perAddress.values(), aggregate]) if (m.enabled) log(formatTimerStats(m.stats()));
    log(bridgeSummary("nsq_to_nsq", counters));
  };
  const removeStatsListener = opts.onStatsRequest?.(printStats);

  try {
    for (const c of consumers) {
      if (opts.nsqdAddresses.length > 0) await c.connectToNsqds(opts.nsqdAddresses);
      else await c.connectToLookupds(opts.lookupdAddresses);
    }
    await opts.stopSignal;
    await Promise.all(consumers.map((c) => c.stop()));
  } finally {
    await Promise.all(consumers.map((c) => c.close()));
    await Promise.allSettled([...producers.values()].map((p) => p.close()));
    pool?.close();
    removeStatsListener?.();
  }
  printStats();
  return 0;
}

/** The one-line summary printed on SIGUSR1 and at exit (an addition: the real tools print none). */
export function bridgeSummary(tool: string, c: BridgeCounters): string {
  return `${tool}: received ${c.received}, finished ${c.finished} (${c.skipped} not forwarded), requeued ${c.requeued}`;
}
