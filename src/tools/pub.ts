/**
 * `nsq pub` / to_nsq (spec §6.4): publish records read from stdin (split on --delimiter) or given
 * as arguments to every --nsqd-tcp-address. Unthrottled input is batched into MPUBs, with one batch
 * in flight while the next is read; batches go out in order on each connection, so line order per
 * nsqd is kept. Any failed publish stops the run and makes the exit code 1; a summary goes to stderr.
 */
import { Producer } from "../client/producer.ts";
import { applyClientOptionFlags, defaultClientConfig } from "../client/config.ts";
import { errorText } from "../client/errors.ts";
import { parseHostPort } from "../client/address.ts";
import { isValidTopicName } from "../protocol/names.ts";
import { NSQ_VERSION, USER_AGENT_SUFFIX } from "../protocol/version.ts";
import { UsageError } from "../commands/types.ts";
import { DelimitedSplitter } from "./splitter.ts";
import { RateLimiter } from "./rate-limiter.ts";

export interface PubOptions {
  topic: string;
  nsqdAddresses: string[];
  /** exactly one byte */
  delimiter: string;
  /** messages per second; < 1 = unthrottled */
  rate: number;
  producerOpts: string[];
  /** messages given on the command line; when empty, records come from `input` */
  messages: string[];
  input: AsyncIterable<Uint8Array>;
  /** one line of text to stderr */
  report(line: string): void;
  /** resolves when the run should stop early (SIGINT/SIGTERM) */
  stopSignal?: Promise<unknown>;
}

/** Batch limits: far below nsqd's 5 MiB max-body-size; big enough to amortise the round trip. */
const BATCH_MAX_COUNT = 1000;
const BATCH_MAX_BYTES = 1024 * 1024;

export async function runPub(opts: PubOptions): Promise<number> {
  if (!opts.topic) throw new UsageError("--topic required");
  if (!isValidTopicName(opts.topic)) throw new UsageError(`invalid --topic "${opts.topic}"`);
  if (opts.nsqdAddresses.length === 0) throw new UsageError("--nsqd-tcp-address required");
  const delim = Buffer.from(opts.delimiter, "utf8");
  if (delim.length !== 1) throw new UsageError("--delimiter must be a single byte");
  for (const a of opts.nsqdAddresses) parseHostPort(a);

  const config = defaultClientConfig();
  config.userAgent = `to_nsq/${NSQ_VERSION} ${USER_AGENT_SUFFIX}`;
  applyClientOptionFlags(config, opts.producerOpts);
  const producers = opts.nsqdAddresses.map((a) => new Producer(a, config));
  await Promise.all(producers.map((p) => p.connect()));

  const started = performance.now();
  const publisher = new FanOutPublisher(opts.topic, producers);
  let stopped = false;
  void opts.stopSignal?.then(() => {
    stopped = true;
  });
  try {
    if (opts.rate >= 1) await publishThrottled(opts, delim[0]!, publisher, () => stopped);
    else await publishBatched(opts, delim[0]!, publisher, () => stopped);
    await publisher.drain();
  } catch {
    // the failure is recorded by the publisher and reported below
  } finally {
    await Promise.allSettled(producers.map((p) => p.close()));
  }
  const seconds = (performance.now() - started) / 1000;
  const targets = `${producers.length} nsqd${producers.length === 1 ? "" : "s"}`;
  if (publisher.failure) {
    opts.report(`to_nsq: publish failed: ${errorText(publisher.failure)}`);
    opts.report(`to_nsq: published ${publisher.published} messages to ${targets} before the failure (${seconds.toFixed(2)}s)`);
    return 1;
  }
  opts.report(`to_nsq: published ${publisher.published} messages to ${targets} in ${seconds.toFixed(2)}s`);
  return 0;
}

/** Publishes each batch to every producer; keeps one batch in flight. */
class FanOutPublisher {
  published = 0;
  failure: unknown = null;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly topic: string,
    private readonly producers: Producer[],
  ) {}

  /** Waits for the previous batch, then starts this one. Throws once a publish failed. */
  async send(batch: Buffer[]): Promise<void> {
    await this.drain();
    this.inFlight = this.publish(batch);
  }

  /** no batch is waiting for its OK */
  get idle(): boolean {
    return this.inFlight === null;
  }

  async drain(): Promise<void> {
    if (this.inFlight) {
      const p = this.inFlight;
      this.inFlight = null;
      await p;
    }
    if (this.failure) throw this.failure;
  }

  private async publish(batch: Buffer[]): Promise<void> {
    const results = await Promise.allSettled(
      this.producers.map((p) => (batch.length === 1 ? p.publish(this.topic, batch[0]!) : p.multiPublish(this.topic, batch))),
    );
    for (const r of results) {
      if (r.status === "rejected") {
        this.failure ??= r.reason;
        return;
      }
    }
    this.published += batch.length;
  }
}

async function publishBatched(opts: PubOptions, delim: number, publisher: FanOutPublisher, isStopped: () => boolean): Promise<void> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  const pending: Buffer[][] = [];
  const add = (record: Buffer): void => {
    if (record.length === 0) return;
    batch.push(record);
    batchBytes += record.length;
    if (batch.length >= BATCH_MAX_COUNT || batchBytes >= BATCH_MAX_BYTES) {
      pending.push(batch);
      batch = [];
      batchBytes = 0;
    }
  };
  if (opts.messages.length > 0) {
    for (const m of opts.messages) add(Buffer.from(m, "utf8"));
  } else {
    const splitter = new DelimitedSplitter(delim);
    for await (const chunk of opts.input) {
      splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk), add);
      // slow input (tail -f | nsq pub): do not hold records back waiting for a full batch
      if (batch.length > 0 && pending.length === 0 && publisher.idle) {
        pending.push(batch);
        batch = [];
        batchBytes = 0;
      }
      while (pending.length > 0) await publisher.send(pending.shift()!);
      if (isStopped()) break;
    }
    if (!isStopped()) splitter.end(add);
  }
  for (const b of pending) await publisher.send(b);
  if (batch.length > 0) await publisher.send(batch);
}

async function publishThrottled(opts: PubOptions, delim: number, publisher: FanOutPublisher, isStopped: () => boolean): Promise<void> {
  const limiter = new RateLimiter(opts.rate);
  const one = async (record: Buffer): Promise<void> => {
    if (record.length === 0) return;
    await limiter.take();
    await publisher.send([record]);
    await publisher.drain(); // synchronous publish: wait for OK before the next token
  };
  if (opts.messages.length > 0) {
    for (const m of opts.messages) {
      if (isStopped()) return;
      await one(Buffer.from(m, "utf8"));
    }
    return;
  }
  const splitter = new DelimitedSplitter(delim);
  for await (const chunk of opts.input) {
    const records: Buffer[] = [];
    splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk), (r) => records.push(Buffer.from(r)));
    for (const r of records) {
      if (isStopped()) return;
      await one(r);
    }
  }
  const last: Buffer[] = [];
  splitter.end((r) => last.push(r));
  for (const r of last) await one(r);
}
