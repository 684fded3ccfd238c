/**
 * `nsq admin` with nodes that measure their own rates: two real `nsq serve` processes (which add
 * a `rates` object to `/stats?rates=true`) and a fake nsqd (a Bun.serve answering /stats and
 * /info like nsqd v1.3.0, without `rates`), in nsqd-list mode. While a publisher runs, the API's
 * `rates` (per node and summed cluster-wide) equal the nodes' own, and settle to 0 in the 1 s
 * window after it stops while the 1 min window still remembers. The UI's model (the browser code
 * of src/admin/ui/client, run here against the real API) shows the nodes' rates for the real
 * brokers and still differences the fake nsqd's counters.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { ProcessGroup, type Daemon } from "./helpers/nsq-process.ts";
import { until } from "./helpers/until.ts";
import { Cluster } from "../src/admin/ui/client/model.ts";
import { setBasePath } from "../src/admin/ui/client/api.ts";
import type { RateStats } from "../src/protocol/stats-types.ts";

const group = new ProcessGroup();
let nodes: Daemon[];
let adminUrl = "";
let fake: Server<undefined>;
let publisher: ReturnType<typeof setInterval> | null = null;
let model: Cluster | null = null;
const KEYS = ["message_1s", "message_10s", "message_1m", "out_1s", "out_10s", "out_1m"] as const;

type Json = Record<string, any>;

/** The fake nsqd's counters grow with time (about 100 msgs/s), so only differencing sees a rate. */
const fakeStart = Date.now();
function fakeStats(url: URL): unknown {
  const count = Math.floor((Date.now() - fakeStart) / 10);
  const latency = { count: 0, percentiles: null };
  const topic = {
    topic_name: "legacy", depth: 0, backend_depth: 0, message_count: count, message_bytes: count * 10, paused: false,
    e2e_processing_latency: latency,
    channels: [{
      channel_name: "old", depth: 0, backend_depth: 0, in_flight_count: 0, deferred_count: 0, message_count: count,
      requeue_count: 0, timeout_count: 0, client_count: 0, clients: [], paused: false, e2e_processing_latency: latency,
    }],
  };
  const want = url.searchParams.get("topic");
  return { version: "1.3.0", health: "OK", start_time: Math.floor(fakeStart / 1000), topics: want === null || want === "legacy" ? [topic] : [] };
}

async function api(path: string): Promise<Json> {
  const res = await fetch(adminUrl + path);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Json;
}

async function post(n: Daemon, path: string, body = ""): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${n.http}${path}`, { method: "POST", body });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

const nodeName = (n: Daemon): string => `127.0.0.1:${n.http}`;

/** Each broker's own rates of clicks (or clicks/c), straight from its /stats. */
async function ownRates(channel?: string): Promise<RateStats[]> {
  return Promise.all(nodes.map(async (n) => {
    const s = (await (await fetch(`http://127.0.0.1:${n.http}/stats?format=json&rates=true&topic=clicks`)).json()) as Json;
    const t = s.topics[0];
    return (channel === undefined ? t : t.channels.find((c: Json) => c.channel_name === channel)).rates as RateStats;
  }));
}

/**
 * Reads the brokers, then `read()`, then the brokers again, until `read()` gives something and no
 * broker took a sample in between (they do once a second): then it saw the rates `own` holds.
 */
async function steady<T>(what: string, read: () => Promise<T | null>, channel?: string): Promise<{ own: RateStats[]; value: T }> {
  return until(what, async () => {
    const before = await ownRates(channel);
    const value = await read();
    const after = await ownRates(channel);
    return value && JSON.stringify(before) === JSON.stringify(after) ? { own: before, value } : null;
  }, 15000);
}

const sum = (rs: readonly RateStats[], k: (typeof KEYS)[number]): number => rs.reduce((s, r) => s + r[k], 0);

function expectSums(got: RateStats, own: readonly RateStats[]): void {
  for (const k of KEYS) expect(got[k]).toBeCloseTo(sum(own, k), 3);
}

beforeAll(async () => {
  fake = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/stats") return Response.json(fakeStats(url));
      if (url.pathname === "/info") {
        return Response.json({ version: "1.3.0", broadcast_address: "127.0.0.1", hostname: "fake-nsqd", http_port: fake.port, tcp_port: 4150 });
      }
      return new Response("NOT_FOUND", { status: 404 });
    },
  });
  nodes = await Promise.all([group.nsqd([]), group.nsqd([])]);
  for (const n of nodes) {
    await post(n, "/topic/create?topic=clicks");
    await post(n, "/channel/create?topic=clicks&channel=c");
  }
  const admin = await group.admin([...nodes.map((n) => `--nsqd-http-address=${nodeName(n)}`), `--nsqd-http-address=127.0.0.1:${fake.port}`]);
  adminUrl = `http://127.0.0.1:${admin.http}`;
  // 10 messages to each broker every 50 ms while the tests before the last one run
  const batch = Array.from({ length: 10 }, (_, i) => `click ${i}`).join("\n");
  publisher = setInterval(() => {
    for (const n of nodes) void fetch(`http://127.0.0.1:${n.http}/mpub?topic=clicks`, { method: "POST", body: batch }).catch(() => {});
  }, 50);
});

afterAll(() => {
  if (publisher) clearInterval(publisher);
  model?.stop();
  group.stopAll();
  fake?.stop(true);
});

test("the API passes each broker's own rates through and sums them cluster-wide while a publisher runs", async () => {
  const topic = await steady("positive topic rates read between two broker samples", async () => {
    const r = await api("/api/topics/clicks");
    return r.rates?.message_1s > 0 ? r : null;
  });
  const t = topic.value;
  expectSums(t.rates, topic.own);
  // per node: exactly that broker's object; nsqadmin's own fields unchanged beside it
  nodes.forEach((n, i) => expect(t.nodes.find((x: Json) => x.node === nodeName(n)).rates).toEqual(topic.own[i]));
  expect(t.message_count).toBeGreaterThan(0);
  expect(t.rates.out_1s).toBeGreaterThan(0); // handed to channel c
  const tc = t.channels.find((c: Json) => c.channel_name === "c");
  expect(tc.rates.message_1s).toBeGreaterThan(0);

  const channel = await steady("channel rates", () => api("/api/topics/clicks/c"), "c");
  expectSums(channel.value.rates, channel.own);
  expect(channel.value.rates.out_1s).toBe(0); // nobody consumes c

  // the rates move: a later reading of the 1 min window differs (it grows while the minute fills)
  await until("the 1 min rate to change", async () => (await api("/api/topics/clicks")).rates.message_1m !== t.rates.message_1m, 10000);

  // /api/nodes/:node and /api/counter carry them too; the fake nsqd's objects have none
  const one = await api(`/api/nodes/${nodeName(nodes[0]!)}`);
  expect(Object.keys(one.topics[0].rates).sort()).toEqual([...KEYS].sort());
  const legacy = await api(`/api/nodes/127.0.0.1:${fake.port}`);
  expect(legacy.topics[0].topic_name).toBe("legacy");
  expect("rates" in legacy.topics[0]).toBe(false);
  expect("rates" in legacy.topics[0].channels[0]).toBe(false);
  const counter = await api("/api/counter");
  expect(Object.keys(counter.stats[`clicks:c:${nodeName(nodes[1]!)}`].rates).sort()).toEqual([...KEYS].sort());
  expect("rates" in counter.stats[`legacy:old:127.0.0.1:${fake.port}`]).toBe(false);
  const legacyTopic = await api("/api/topics/legacy");
  expect("rates" in legacyTopic).toBe(false);
  expect(legacyTopic.message_count).toBeGreaterThan(0);
}, 30000);

test("the UI model shows the brokers' own rates and differences the fake nsqd's counters", async () => {
  setBasePath(adminUrl);
  const m = new Cluster(250, () => {});
  model = m;
  m.start();
  // the fake's rate needs two samples of it; the brokers' rates come with the first
  const rows = await until("rates for clicks and legacy", () => {
    const all = m.topics();
    const clicks = all.find((r) => r.topic === "clicks");
    const legacy = all.find((r) => r.topic === "legacy");
    return clicks?.nodes.length === 2 && (clicks.rate ?? 0) > 0 && (legacy?.rate ?? 0) > 0 ? { clicks, legacy: legacy! } : null;
  }, 15000);
  const { clicks, legacy } = rows;
  // clicks: the sum of the 1 s rates in the brokers' replies, and all windows summed in `measured`
  const replies = clicks.nodes.map((n) => n.stats.rates!);
  expect(clicks.measuredBy).toBe(2);
  expect(clicks.rate!).toBeCloseTo(sum(replies, "message_1s"), 6);
  expectSums(clicks.measured!, replies);
  for (const n of clicks.nodes) expect(n.rate).toBe(n.stats.rates!.message_1s);
  const c = clicks.channels.find((x) => x.channel === "c")!;
  expect(c.rate!).toBeCloseTo(sum(c.nodes.map((n) => n.stats.rates!), "message_1s"), 6);
  // legacy: nothing measured, the rate is the counter's change between the fake's two last samples
  expect(legacy.measured).toBeNull();
  expect(legacy.measuredBy).toBe(0);
  // (read together with the row, with no await between: the same two samples)
  const fakeNode = m.nodes.get(`127.0.0.1:${fake.port}`)!;
  const { sample, prev } = fakeNode;
  const differenced = (sample!.reply.topics[0]!.message_count - prev!.reply.topics[0]!.message_count) / ((sample!.at - prev!.at) / 1000);
  expect(m.topics().find((r) => r.topic === "legacy")!.rate!).toBeCloseTo(differenced, 6);
  // the counter page's total: brokers' channel rates plus the fake's differenced channel
  expect(m.totalRate()!).toBeGreaterThan(0);
  m.stop();
}, 30000);

test("after the publisher stops, the 1 s rates settle to 0 while the 1 min window still counts", async () => {
  clearInterval(publisher!);
  publisher = null;
  const settled = await steady("the 1 s rates at 0", async () => {
    const r = await api("/api/topics/clicks");
    return r.rates.message_1s === 0 ? r : null;
  });
  expectSums(settled.value.rates, settled.own);
  expect(settled.value.rates.message_1m).toBeGreaterThan(0);
}, 30000);
