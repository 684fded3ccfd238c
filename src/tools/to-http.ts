/**
 * `nsq to-http` / nsq_to_http (nsq v1.3.0 apps/nsq_to_http): consume a topic and make one HTTP
 * request per message, `--get` (the body, query-escaped, replaces the template's `%s`) or
 * `--post` (the body is the request body), to a destination chosen by `--mode`. At most `--n`
 * requests run at once; a message is FINished only after a 2xx (GET: exactly 200, as
 * nsq_to_http); an error, another status or a timeout REQueues it with backoff.
 *
 * HTTP is Bun's fetch (connections kept alive and reused); `--http-client-request-timeout` bounds
 * each whole request. fetch has no connect phase to time out, so `--http-client-connect-timeout`
 * is applied by a TCP connect probe before the first request to a destination and after a
 * network failure (src/tools/connect-probe.ts).
 *
 * SIGINT/SIGTERM: CLS on the connections, messages still waiting for a request slot are
 * REQueued at once (no delay), the requests under way finish (FIN or REQ), then exit 0.
 */
import { Consumer } from "../client/consumer.ts";
import { applyClientOptionFlags, defaultClientConfig } from "../client/config.ts";
import type { Message } from "../client/message.ts";
import { NSQ_VERSION, USER_AGENT_SUFFIX } from "../protocol/version.ts";
import { UsageError } from "../util/usage-error.ts";
import type { Logger } from "../util/logger.ts";
import { ConnectProbe } from "./connect-probe.ts";
import { HostPool, type HostChoice } from "./host-pool.ts";
import { stderrGoLog, TimerMetrics, formatTimerStats, type LineSink } from "./timer-metrics.ts";
import { checkConsumerSources } from "./tail.ts";
import { bridgeSummary, type BridgeCounters } from "./to-nsq.ts";

export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

export interface ToHttpOptions {
  topic: string;
  channel: string;
  nsqdAddresses: string[];
  lookupdAddresses: string[];
  getAddresses: string[];
  postAddresses: string[];
  contentType: string;
  /** `key: value` strings (--header) */
  headers: string[];
  /** round-robin | hostpool | epsilon-greedy (anything else: every address in turn, as nsq_to_http) */
  mode: string;
  /** concurrent requests (--n) */
  concurrency: number;
  /** fraction of messages to send (--sample) */
  sample: number;
  maxInFlight: number;
  /** ms; 0 = no limit */
  httpConnectTimeout: number;
  httpRequestTimeout: number;
  statusEvery: number;
  consumerOpts: string[];
  logger: Logger;
  log?: LineSink;
  stopSignal?: Promise<unknown>;
  onStatsRequest?: (listener: () => void) => () => void;
}

/** nsq_to_http's parseCustomHeaders: `key:value`, both trimmed and non-empty; a later key wins. */
export function parseCustomHeaders(list: readonly string[]): Array<[string, string]> {
  const out = new Map<string, [string, string]>();
  for (const s of list) {
    const colon = s.indexOf(":");
    const key = colon < 0 ? "" : s.slice(0, colon).trim();
    const value = colon < 0 ? "" : s.slice(colon + 1).trim();
    if (key === "" || value === "") throw new UsageError("--header value format should be 'key=value'");
    out.set(key.toLowerCase(), [key, value]);
  }
  return [...out.values()];
}

const UNRESERVED = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~") UNRESERVED[c.charCodeAt(0)] = 1;
const HEX = "0123456789ABCDEF";

/** Go's url.QueryEscape on raw bytes: unreserved kept, space → `+`, everything else %XX. */
export function queryEscape(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    if (UNRESERVED[b] === 1) out += String.fromCharCode(b);
    else if (b === 0x20) out += "+";
    else out += `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

/** fmt.Sprintf(template, escaped): the one `%s` replaced, `%%` becomes `%`. */
export function fillGetTemplate(template: string, escaped: string): string {
  return template.replace(/%%|%s/g, (m) => (m === "%%" ? "%" : escaped));
}

export class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`got status code ${status}`);
    this.name = "HttpStatusError";
  }
}

/** Limits concurrent requests to `size`; waiters are served in arrival order. */
class Slots {
  private free: number;
  private readonly waiters: Array<{ msg: Message; resolve: (granted: boolean) => void }> = [];

  constructor(size: number) {
    this.free = size;
  }

  acquire(msg: Message): Promise<boolean> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.waiters.push({ msg, resolve }));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.resolve(true);
    else this.free++;
  }

  /** Hands every waiting message back (REQ, no delay, no backoff); their handlers return. */
  requeueWaiting(): number {
    const waiting = this.waiters.splice(0);
    for (const w of waiting) {
      w.msg.requeueWithoutBackoff(0);
      w.resolve(false);
    }
    return waiting.length;
  }
}

export async function runToHttp(opts: ToHttpOptions): Promise<number> {
  const headers = parseCustomHeaders(opts.headers);
  if (opts.topic === "" || opts.channel === "") throw new UsageError("--topic and --channel are required");
  if (opts.contentType !== DEFAULT_CONTENT_TYPE) {
    if (opts.postAddresses.length === 0) throw new UsageError("--content-type only used with --post");
    if (opts.contentType === "") throw new UsageError("--content-type requires a value when used");
  }
  checkConsumerSources(opts.nsqdAddresses, opts.lookupdAddresses);
  if (opts.getAddresses.length === 0 && opts.postAddresses.length === 0) throw new UsageError("--get or --post required");
  if (opts.getAddresses.length > 0 && opts.postAddresses.length > 0) throw new UsageError("use --get or --post not both");
  for (const get of opts.getAddresses) {
    if (get.split("%s").length - 1 !== 1) throw new UsageError("invalid GET address - must be a printf string");
  }
  if (!(opts.sample >= 0 && opts.sample <= 1)) throw new UsageError("--sample must be between 0.0 and 1.0");
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new UsageError("--n must be at least 1");

  const log = opts.log ?? stderrGoLog;
  const config = defaultClientConfig();
  applyClientOptionFlags(config, opts.consumerOpts);
  config.userAgent = `nsq_to_http/${NSQ_VERSION} ${USER_AGENT_SUFFIX}`;
  config.maxInFlight = opts.maxInFlight;

  const isPost = opts.postAddresses.length > 0;
  const addresses = isPost ? opts.postAddresses : opts.getAddresses;
  const userAgent = `nsq_to_http v${NSQ_VERSION}`;
  const probe = new ConnectProbe(opts.httpConnectTimeout);

  /** One request; resolves on success, rejects with the reason otherwise. */
  const send = async (address: string, body: Buffer): Promise<void> => {
    const h = new Headers();
    h.set("User-Agent", userAgent);
    if (isPost) h.set("Content-Type", opts.contentType);
    for (const [k, v] of headers) h.set(k, v);
    const url = isPost ? address : fillGetTemplate(address, queryEscape(body));
    await probe.check(url);
    let res: Response;
    try {
      res = await fetch(url, {
        method: isPost ? "POST" : "GET",
        headers: h,
        body: isPost ? body : undefined,
        signal: opts.httpRequestTimeout > 0 ? AbortSignal.timeout(opts.httpRequestTimeout) : undefined,
      });
      await res.arrayBuffer(); // read to the end so the connection is reused
    } catch (err) {
      probe.failed(url);
      throw err;
    }
    probe.answered(url);
    const ok = isPost ? res.status >= 200 && res.status < 300 : res.status === 200;
    if (!ok) throw new HttpStatusError(res.status);
  };

  const perAddress = new Map<string, TimerMetrics>();
  if (addresses.length === 1) perAddress.set(addresses[0]!, new TimerMetrics(0, "", log));
  else for (const a of addresses) perAddress.set(a, new TimerMetrics(opts.statusEvery, `[${a}]:`, log));
  const aggregate = new TimerMetrics(opts.statusEvery, "[aggregate]:", log);
  const mode = opts.mode === "round-robin" ? "round-robin" : opts.mode === "hostpool" || opts.mode === "epsilon-greedy" ? "hostpool" : "all";
  const pool = mode === "hostpool" ? new HostPool(addresses, opts.mode === "epsilon-greedy") : null;
  let counter = 0;
  const counters: BridgeCounters = { received: 0, finished: 0, requeued: 0, skipped: 0 };
  const slots = new Slots(opts.concurrency);
  let stopping = false;

  const deliver = async (body: Buffer): Promise<void> => {
    const started = performance.now();
    if (mode === "all") {
      for (const a of addresses) {
        const st = performance.now();
        await send(a, body);
        perAddress.get(a)!.status(st);
      }
    } else if (mode === "round-robin") {
      counter++;
      const a = addresses[counter % addresses.length]!;
      await send(a, body);
      perAddress.get(a)!.status(started);
    } else {
      const choice: HostChoice = pool!.get();
      try {
        await send(choice.host, body);
      } catch (err) {
        choice.mark(err);
        throw err;
      }
      choice.mark(null);
      perAddress.get(choice.host)!.status(started);
    }
    aggregate.status(started);
  };

  const handler = async (msg: Message): Promise<void> => {
    counters.received++;
    if (opts.sample < 1 && Math.random() > opts.sample) {
      counters.skipped++;
      counters.finished++;
      return;
    }
    if (stopping) {
      msg.requeueWithoutBackoff(0);
      counters.requeued++;
      return;
    }
    if (!(await slots.acquire(msg))) {
      counters.requeued++;
      return; // handed back at shutdown
    }
    try {
      await deliver(msg.body);
      counters.finished++;
    } catch (err) {
      counters.requeued++;
      throw err; // the consumer logs it and REQueues with backoff
    } finally {
      slots.release();
    }
  };

  const consumer = new Consumer({ topic: opts.topic, channel: opts.channel, config, logger: opts.logger, handler });
  const printStats = (): void => {
    for (const m of [...perAddress.values(), aggregate]) if (m.enabled) log(formatTimerStats(m.stats()));
    log(bridgeSummary("nsq_to_http", counters));
  };
  const removeStatsListener = opts.onStatsRequest?.(printStats);

  try {
    if (opts.nsqdAddresses.length > 0) await consumer.connectToNsqds(opts.nsqdAddresses);
    else await consumer.connectToLookupds(opts.lookupdAddresses);
    await opts.stopSignal;
    stopping = true;
    const stopped = consumer.stop();
    slots.requeueWaiting();
    await stopped;
  } finally {
    await consumer.close();
    pool?.close();
    removeStatsListener?.();
  }
  printStats();
  return 0;
}
