/**
 * Issue 17, beyond nsqlookupd: GET /metrics of `nsq lookupd` (producers, topics, channels,
 * tombstones), with a real broker registered, parsed with a real Prometheus text parser.
 */
import { afterEach, expect, test } from "bun:test";
import { Nsqlookupd } from "../src/lookupd/lookupd.ts";
import { silentLogger } from "../src/util/logger.ts";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { scrape } from "./helpers/prometheus.ts";
import { waitFor } from "./lookupd-helpers.ts";

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

test("producers, topics, channels and tombstones as /nodes and /lookup count them", async () => {
  const lookupd = new Nsqlookupd({ tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", broadcastAddress: "127.0.0.1" }, silentLogger);
  await lookupd.start();
  stops.push(() => lookupd.close());
  const base = `http://127.0.0.1:${lookupd.httpPort}`;
  const empty = await scrape(base);
  expect(empty.value("nsqlookupd_producers")).toBe(0);
  expect(empty.value("nsqlookupd_topics")).toBe(0);
  expect(empty.value("process_resident_memory_bytes")!).toBeGreaterThan(0);

  const b: TestBroker = await startBroker({ lookupdTcpAddresses: [`127.0.0.1:${lookupd.tcpPort}`], broadcastAddress: "127.0.0.1" });
  stops.push(() => b.stop());
  await b.http("/topic/create?topic=a.b-c", { method: "POST" });
  await b.http("/channel/create?topic=a.b-c&channel=x", { method: "POST" });
  await b.http("/topic/create?topic=other", { method: "POST" });
  await waitFor("registrations", async () => {
    const m = await scrape(base);
    return m.value("nsqlookupd_channels") === 1 && m.value("nsqlookupd_topics") === 2;
  });
  const m = await scrape(base);
  expect(m.value("nsqlookupd_producers")).toBe(1);
  expect(m.value("nsqlookupd_topic_producers", { topic: "a.b-c" })).toBe(1);
  expect(m.value("nsqlookupd_topic_tombstones", { topic: "a.b-c" })).toBe(0);
  const nodes = (await (await fetch(`${base}/nodes`)).json()) as { producers: unknown[] };
  expect(nodes.producers).toHaveLength(m.value("nsqlookupd_producers")!);

  const tomb = await fetch(`${base}/topic/tombstone?topic=a.b-c&node=127.0.0.1:${b.httpPort}`, { method: "POST" });
  expect(tomb.status).toBe(200);
  const after = await scrape(base);
  expect(after.value("nsqlookupd_topic_tombstones", { topic: "a.b-c" })).toBe(1);
  expect(after.value("nsqlookupd_topic_producers", { topic: "a.b-c" })).toBe(0); // /lookup hides it
  expect(after.value("nsqlookupd_topic_producers", { topic: "other" })).toBe(1);
  expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
});
