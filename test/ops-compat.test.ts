/**
 * Issue 17: with every extra switched on (dead letters, a defer limit, a drain timeout, /metrics
 * scraped, rates asked for), a real nsqjs consumer and producer and `nsq stat` see exactly what
 * they see against a broker with none: the additions are invisible to clients.
 */
import { afterEach, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { runNsq } from "./helpers/nsq-process.ts";
import { nsqjsRoundTrip } from "./helpers/nsqjs-roundtrip.ts";
import { scrape } from "./helpers/prometheus.ts";
import type { NsqdOptions } from "../src/server/options.ts";

const brokers: TestBroker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.stop();
});

const EVERY_EXTRA: Partial<NsqdOptions> = {
  maxAttempts: 3,
  deadLetterTopicSuffix: ".dlq",
  maxDeferTimeout: 2 * 3_600_000,
  drainTimeout: 5000,
};

async function observe(opts: Partial<NsqdOptions>): Promise<{ received: string[]; userAgents: string[]; stat: string; statusCode: number }> {
  const b = await startBroker(opts);
  brokers.push(b);
  await scrape(`http://127.0.0.1:${b.httpPort}`); // metrics set up and scraped before the clients come
  const r = await nsqjsRoundTrip(b, "compat", {}, 300);
  expect([...r.received].sort()).toEqual([...r.sent].sort());
  await b.http("/stats?format=json&rates=true");
  const { stdout: stat, code } = await runNsq(["stat", `--nsqd-http-address=127.0.0.1:${b.httpPort}`, "--topic=compat", "--channel=ch", "--count=2", "--interval=100ms", "--plain"]);
  return { received: r.received, userAgents: r.consumers.map((c) => c.user_agent), stat, statusCode: code };
}

test("nsqjs and nsq stat against a broker with every extra on behave as against one with none", async () => {
  const plain = await observe({});
  const extras = await observe(EVERY_EXTRA);
  expect(extras.received.length).toBe(plain.received.length);
  expect(extras.userAgents).toEqual(plain.userAgents);
  expect(extras.statusCode).toBe(0);
  expect(plain.statusCode).toBe(0);
  // quiet brokers after the same traffic: the same rows, byte for byte
  expect(extras.stat).toBe(plain.stat);
  expect(extras.stat.split("\n").filter((l) => l !== "")).toHaveLength(4);
});
