/**
 * nsq_stat's plain output (spec §6.5): every poll sums one channel across the topic's producers
 * and prints a row of rates and counters; the two header lines repeat every 25 polls.
 */
import { findTopicProducers, fetchSummedChannel, type ClusterSource, type SummedChannel } from "./cluster.ts";
import { DEFAULT_TIMEOUTS, type HttpTimeouts } from "../../http-api/api-request.ts";
import { createLogger, type Logger } from "../../util/logger.ts";

/** Header lines repeat on this many polls (the first poll included). */
export const HEADER_EVERY = 25;

function pad(text: string, width: number): string {
  return text.padStart(width);
}

/** The two header lines, each ending in "\n". */
export function formatHeader(): string {
  const rule =
    "------rate------+----------------depth----------------+--------------metadata---------------";
  const names =
    `${pad("ingress", 7)} ${pad("egress", 7)} | ${pad("total", 7)} ${pad("mem", 7)} ${pad("disk", 7)} ` +
    `${pad("inflt", 5)} ${pad("def", 5)} | ${pad("req", 7)} ${pad("t-o", 7)} ${pad("msgs", 12)} ${pad("clients", 7)}`;
  return `${rule}\n${names}\n`;
}

/**
 * One data row for the change from `prev` to `cur` over `intervalMs` (the configured interval, as
 * nsq_stat does, not the measured time). Rates are truncated toward zero like Go's int64().
 */
export function formatRow(prev: SummedChannel, cur: SummedChannel, intervalMs: number): string {
  const sec = intervalMs / 1000;
  const dMsgs = cur.messages - prev.messages;
  const dDepth = cur.depth - prev.depth;
  const ingress = Math.trunc(dMsgs / sec);
  const egress = Math.trunc((dMsgs - dDepth) / sec);
  const d = (n: number, w: number) => pad(String(n), w);
  return (
    `${d(ingress, 7)} ${d(egress, 7)} | ${d(cur.depth, 7)} ${d(cur.depth - cur.backendDepth, 7)} ` +
    `${d(cur.backendDepth, 7)} ${d(cur.inFlight, 5)} ${d(cur.deferred, 5)} | ${d(cur.requeued, 7)} ` +
    `${d(cur.timedOut, 7)} ${d(cur.messages, 12)} ${d(cur.clients, 7)}\n`
  );
}

export interface PlainOptions {
  source: ClusterSource;
  topic: string;
  channel: string;
  intervalMs: number;
  /** number of data rows before exiting 0; null = forever */
  count: number | null;
  timeouts?: HttpTimeouts;
  write?: (text: string) => void;
  logger?: Logger;
  /** aborting ends the loop with exit code 0 (signals) */
  signal?: AbortSignal;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Runs the poll/print loop; resolves with the exit code (1 after a fatal error, logged). */
export async function runPlain(opts: PlainOptions): Promise<number> {
  const write = opts.write ?? ((t: string) => void process.stdout.write(t));
  const log = opts.logger ?? createLogger("", "info");
  const timeouts = opts.timeouts ?? DEFAULT_TIMEOUTS;
  let prev: SummedChannel | null = null;
  let rows = 0;
  for (let i = 0; opts.count === null || rows < opts.count; i++) {
    if (opts.signal?.aborted) return 0;
    let cur: SummedChannel | null;
    try {
      const producers = await findTopicProducers(opts.source, opts.topic, timeouts);
      for (const e of producers.errors) log.warn(`topic producers: ${e}`);
      const summed = await fetchSummedChannel(producers.value, opts.topic, opts.channel, timeouts);
      for (const e of summed.errors) log.warn(`nsqd stats: ${e}`);
      cur = summed.value;
    } catch (err) {
      log.error(`failed to read cluster stats - ${(err as Error).message}`);
      return 1;
    }
    if (!cur) {
      log.error(`channel "${opts.channel}" of topic "${opts.topic}" not found on any nsqd`);
      return 1;
    }
    if (i % HEADER_EVERY === 0) write(formatHeader());
    if (prev) {
      write(formatRow(prev, cur, opts.intervalMs));
      rows++;
      if (opts.count !== null && rows >= opts.count) break;
    }
    prev = cur;
    await sleep(opts.intervalMs, opts.signal);
  }
  return 0;
}
