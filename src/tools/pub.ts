/**
 * `nsq pub` / to_nsq (spec §6.4): publish records read from stdin (split on --delimiter) or given
 * as arguments to every --nsqd-tcp-address. Each record is published as soon as it is read; records
 * read while a publish is in flight are batched into the next MPUB, so fast input is batched and slow
 * input is not held back. Batches go out in order on each connection, so line order per nsqd is kept. Any failed publish stops the run and makes the exit code 1; a summary goes to stderr.
 */
import { Producer } from "../client/producer.ts";
import { applyClientOptionFlags, defaultClientConfig } from "../client/config.ts";
import { errorText } from "../client/errors.ts";
import { parseHostPort } from "../client/address.ts";
import { isValidTopicName, NAME_RULE } from "../protocol/names.ts";
import { NSQ_VERSION, USER_AGENT_SUFFIX } from "../protocol/version.ts";
import { UsageError } from "../util/usage-error.ts";
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
  if (!isValidTopicName(opts.topic)) throw new UsageError(`invalid --topic "${opts.topic}" (${NAME_RULE})`);
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
    opts.report(`to_nsq: published ${plural(publisher.published, "message")} to ${targets} before the failure (${seconds.toFixed(2)}s)`);
    return 1;
  }
  opts.report(`to_nsq: published ${plural(publisher.published, "message")} to ${targets} in ${seconds.toFixed(2)}s`);
  return 0;
}

/**
 * Collects records into a waiting batch and publishes batches to every producer, one batch in
 * flight at a time (so order per nsqd is kept). A record added while nothing is in flight goes out
 * at once; records added meanwhile wait and go out as one MPUB as soon as the in-flight publish
 * settles — whether or not more input arrives — so slow input is published record by record and
 * fast input is batched.
 */
class FanOutPublisher {
  published = 0;
  failure: unknown = null;
  /** resolves when the first publish fails, so the reader can stop waiting for input */
  readonly failed: Promise<void>;
  private signalFailed!: () => void;
  private inFlight: Promise<void> | null = null;
  private waiting: Buffer[] = [];
  private waitingBytes = 0;

  constructor(
    private readonly topic: string,
    private readonly producers: Producer[],
  ) {
    this.failed = new Promise<void>((resolve) => (this.signalFailed = resolve));
  }

  /** Queues one record; starts publishing it at once when nothing is in flight. */
  add(record: Buffer): void {
    if (this.failure) return;
    this.waiting.push(record);
    this.waitingBytes += record.length;
    if (!this.inFlight) this.startNext();
  }

  /** the waiting batch has reached its limits: the reader should wait before adding more */
  get full(): boolean {
    return this.waiting.length >= BATCH_MAX_COUNT || this.waitingBytes >= BATCH_MAX_BYTES;
  }

  /** Waits until the waiting batch has room (or a publish failed). */
  async waitForRoom(): Promise<void> {
    while (this.full && this.inFlight && !this.failure) await this.inFlight;
  }

  /** Waits until every queued record is published; throws once a publish failed. */
  async drain(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    if (this.failure) throw this.failure;
  }

  /** Moves the waiting batch in flight; called when idle and whenever a publish settles. */
  private startNext(): void {
    if (this.failure || this.waiting.length === 0) {
      this.inFlight = null;
      this.waiting = [];
      this.waitingBytes = 0;
      return;
    }
    const batch = this.waiting;
    this.waiting = [];
    this.waitingBytes = 0;
    // registered before anyone else awaits this promise, so the next batch is already in flight
    // when waitForRoom()/drain() resume
    const publishing = this.publish(batch).then(() => this.startNext());
    this.inFlight = publishing;
  }

  /** Never rejects: a failure is recorded in `failure`. */
  private async publish(batch: Buffer[]): Promise<void> {
    const results = await Promise.allSettled(
      this.producers.map((p) => (batch.length === 1 ? p.publish(this.topic, batch[0]!) : p.multiPublish(this.topic, batch))),
    );
    for (const r of results) {
      if (r.status === "rejected") {
        if (this.failure === null) {
          this.failure = r.reason;
          this.signalFailed();
        }
        return;
      }
    }
    this.published += batch.length;
  }
}

const FAILED = Symbol("publish failed");

async function publishBatched(opts: PubOptions, delim: number, publisher: FanOutPublisher, isStopped: () => boolean): Promise<void> {
  const add = (record: Buffer): void => {
    if (record.length > 0) publisher.add(record);
  };
  if (opts.messages.length > 0) {
    for (const m of opts.messages) {
      add(Buffer.from(m, "utf8"));
      if (publisher.full) await publisher.waitForRoom();
    }
    return;
  }
  const splitter = new DelimitedSplitter(delim);
  const failed = publisher.failed.then((): typeof FAILED => FAILED);
  const chunks = opts.input[Symbol.asyncIterator]();
  for (;;) {
    // a failed publish (e.g. nsqd gone) ends the run now, not when input next arrives
    const next = await Promise.race([chunks.next(), failed]);
    if (next === FAILED || next.done) break;
    const chunk = next.value;
    splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk), add);
    if (publisher.full) await publisher.waitForRoom();
    if (isStopped() || publisher.failure) return;
  }
  if (!isStopped() && !publisher.failure) splitter.end(add);
}

async function publishThrottled(opts: PubOptions, delim: number, publisher: FanOutPublisher, isStopped: () => boolean): Promise<void> {
  const limiter = new RateLimiter(opts.rate);
  const one = async (record: Buffer): Promise<void> => {
    if (record.length === 0) return;
    await limiter.take();
    publisher.add(record);
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

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
