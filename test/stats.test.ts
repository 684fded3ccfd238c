/**
 * nsqd's /stats (spec §3.6, §3.7, §9 item 14): the JSON document field by field and in nsqd
 * v1.3.0's key order for topics, channels, clients and producers; the filters and their quirks;
 * e2e latency; and the text format byte for byte.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient, subscriber } from "./helpers/raw-client.ts";
import {
  formatStatsText,
  goFixed1,
  nanosecondsToHuman,
  type ClientStats,
  type StatsDocument,
} from "../src/server/stats.ts";
import { eventually } from "./helpers/until.ts";

const TOP_KEYS = ["version", "health", "start_time", "topics", "memory", "producers"];
const MEMORY_KEYS = [
  "heap_objects",
  "heap_idle_bytes",
  "heap_in_use_bytes",
  "heap_released_bytes",
  "gc_pause_usec_100",
  "gc_pause_usec_99",
  "gc_pause_usec_95",
  "next_gc_bytes",
  "gc_total_runs",
];
const TOPIC_KEYS = ["topic_name", "channels", "depth", "backend_depth", "message_count", "message_bytes", "paused", "e2e_processing_latency"];
const CHANNEL_KEYS = [
  "channel_name",
  "depth",
  "backend_depth",
  "in_flight_count",
  "deferred_count",
  "message_count",
  "requeue_count",
  "timeout_count",
  "client_count",
  "clients",
  "paused",
  "e2e_processing_latency",
];
const CLIENT_KEYS_BEFORE_OPTIONAL = [
  "client_id",
  "hostname",
  "version",
  "remote_address",
  "state",
  "ready_count",
  "in_flight_count",
  "message_count",
  "finish_count",
  "requeue_count",
  "connect_ts",
  "sample_rate",
  "deflate",
  "snappy",
  "user_agent",
];
const CLIENT_TLS_KEYS = ["tls", "tls_cipher_suite", "tls_version", "tls_negotiated_protocol", "tls_negotiated_protocol_is_mutual"];

type Json = Record<string, unknown>;

async function statsJson(b: TestBroker, query = ""): Promise<{ raw: string; doc: Json }> {
  const res = await b.http(`/stats?format=json${query}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  expect(res.headers.get("x-nsq-content-type")).toBe("nsq; version=1.0");
  const raw = await res.text();
  return { raw, doc: JSON.parse(raw) as Json };
}

const topicsOf = (doc: Json) => doc.topics as Json[] | null;
const channelsOf = (topic: Json) => topic.channels as Json[];

const open: RawClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

async function connect(b: TestBroker, identify?: Record<string, unknown>): Promise<RawClient> {
  const c = await RawClient.connect(b.tcpPort);
  open.push(c);
  if (identify) {
    c.identify(identify);
    expect(await c.readResponse()).toBe("OK");
  }
  return c;
}

async function publish(c: RawClient, topic: string, body: string): Promise<void> {
  c.pub(topic, body);
  expect(await c.readResponse()).toBe("OK");
}

async function sub(b: TestBroker, topic: string, channel: string, rdy: number, identify?: Record<string, unknown>): Promise<RawClient> {
  const c = await subscriber(b.tcpPort, topic, channel, rdy, identify);
  open.push(c);
  return c;
}

describe("/stats JSON", () => {
  let b: TestBroker;
  beforeAll(async () => {
    b = await startBroker();
  });
  afterAll(async () => {
    await b.stop();
  });

  test("an empty broker: key order, topics [] and producers null", async () => {
    const { doc } = await statsJson(b, "&topic=");
    expect(Object.keys(doc)).toEqual(TOP_KEYS);
    expect(doc.version).toBe("1.3.0");
    expect(doc.health).toBe("OK");
    expect(doc.start_time).toBe(b.nsqd.startTime);
    expect(doc.topics).toEqual([]);
    expect(doc.producers).toBeNull();
    expect(Object.keys(doc.memory as Json)).toEqual(MEMORY_KEYS);
    for (const v of Object.values(doc.memory as Json)) expect(Number.isInteger(v)).toBe(true);
    expect((doc.memory as Json).heap_in_use_bytes as number).toBeGreaterThan(0);
  });

  test("topic, channel, client and producer objects, field by field", async () => {
    const consumer = await sub(b, "orders", "archive", 1, {
      client_id: "app01",
      hostname: "app01.example",
      user_agent: "test-agent/1.0",
      sample_rate: 0,
    });
    const producer = await connect(b, { client_id: "pub01", hostname: "pub01.example", user_agent: "pub/2.0" });
    await b.http("/channel/create?topic=orders&channel=billing", { method: "POST" });
    await publish(producer, "orders", "first");
    await publish(producer, "orders", "second!");
    await publish(producer, "orders", "3");
    const delivered = await consumer.readMessage();
    expect(delivered.body.toString()).toBe("first");
    const before = Math.floor(Date.now() / 1000);

    const { doc } = await statsJson(b, "&topic=orders");
    const topics = topicsOf(doc)!;
    expect(topics.length).toBe(1);
    const topic = topics[0]!;
    expect(Object.keys(topic)).toEqual(TOPIC_KEYS);
    expect(topic.topic_name).toBe("orders");
    expect(topic.depth).toBe(0);
    expect(topic.backend_depth).toBe(0);
    expect(topic.message_count).toBe(3);
    expect(topic.message_bytes).toBe("first".length + "second!".length + 1);
    expect(topic.paused).toBe(false);
    expect(topic.e2e_processing_latency).toEqual({ count: 0, percentiles: null });

    const [archive, billing] = channelsOf(topic);
    for (const ch of [archive!, billing!]) expect(Object.keys(ch)).toEqual(CHANNEL_KEYS);
    expect(archive).toMatchObject({
      channel_name: "archive",
      depth: 2,
      backend_depth: 0,
      in_flight_count: 1,
      deferred_count: 0,
      message_count: 3,
      requeue_count: 0,
      timeout_count: 0,
      client_count: 1,
      paused: false,
      e2e_processing_latency: { count: 0, percentiles: null },
    });
    expect(billing).toMatchObject({ channel_name: "billing", depth: 3, in_flight_count: 0, message_count: 3, client_count: 0, clients: [] });

    const client = (archive!.clients as Json[])[0]!;
    // no pub_counts and no auth keys: they are omitted when empty
    expect(Object.keys(client)).toEqual([...CLIENT_KEYS_BEFORE_OPTIONAL, ...CLIENT_TLS_KEYS]);
    expect(client).toEqual({
      client_id: "app01",
      hostname: "app01.example",
      version: "V2",
      remote_address: `127.0.0.1:${consumer.socket.localPort}`,
      state: 3,
      ready_count: 1,
      in_flight_count: 1,
      message_count: 1,
      finish_count: 0,
      requeue_count: 0,
      connect_ts: client.connect_ts,
      sample_rate: 0,
      deflate: false,
      snappy: false,
      user_agent: "test-agent/1.0",
      tls: false,
      tls_cipher_suite: "",
      tls_version: "",
      tls_negotiated_protocol: "",
      tls_negotiated_protocol_is_mutual: false,
    });
    expect(Math.abs((client.connect_ts as number) - before)).toBeLessThanOrEqual(2);

    const producers = doc.producers as Json[];
    expect(producers.length).toBe(1);
    const p = producers[0]!;
    expect(Object.keys(p)).toEqual([...CLIENT_KEYS_BEFORE_OPTIONAL, "pub_counts", ...CLIENT_TLS_KEYS]);
    expect(p).toMatchObject({
      client_id: "pub01",
      hostname: "pub01.example",
      remote_address: `127.0.0.1:${producer.socket.localPort}`,
      state: 0,
      ready_count: 0,
      in_flight_count: 0,
      message_count: 0,
      user_agent: "pub/2.0",
      pub_counts: [{ topic: "orders", count: 3 }],
    });

    // FIN and REQ show up in the client's and channel's counters
    consumer.write(`FIN ${delivered.id}\n`);
    const second = await consumer.readMessage();
    consumer.write(`REQ ${second.id} 0\n`);
    await eventually(async () => {
      const again = await statsJson(b, "&topic=orders&channel=archive");
      const ch = channelsOf(topicsOf(again.doc)![0]!)[0]!;
      const c = (ch.clients as Json[])[0]!;
      expect([c.finish_count, c.requeue_count, ch.requeue_count]).toEqual([1, 1, 1]);
    });
  });

  test("filters: unknown topic → topics null; unknown channel → topic omitted; channel filter applies to every topic", async () => {
    for (const [t, c] of [
      ["f_b", "shared"],
      ["f_b", "other"],
      ["f_a", "shared"],
      ["f_c", "other"],
    ]) {
      await b.http(`/topic/create?topic=${t}`, { method: "POST" });
      await b.http(`/channel/create?topic=${t}&channel=${c}`, { method: "POST" });
    }
    expect(topicsOf((await statsJson(b, "&topic=no_such_topic")).doc)).toBeNull();
    expect((await statsJson(b, "&topic=no_such_topic")).raw).toContain('"topics":null');
    expect(topicsOf((await statsJson(b, "&topic=f_a&channel=nope")).doc)).toEqual([]);
    const one = topicsOf((await statsJson(b, "&topic=f_b&channel=shared")).doc)!;
    expect(one.map((t) => [t.topic_name, channelsOf(t).map((c) => c.channel_name)])).toEqual([["f_b", ["shared"]]]);
    const across = topicsOf((await statsJson(b, "&channel=shared")).doc)!;
    expect(across.map((t) => t.topic_name).filter((n) => (n as string).startsWith("f_"))).toEqual(["f_a", "f_b"]);
    // sorted by name: topics and channels
    const all = topicsOf((await statsJson(b)).doc)!;
    const names = all.map((t) => t.topic_name as string);
    expect(names).toEqual([...names].sort());
    const fb = all.find((t) => t.topic_name === "f_b")!;
    expect(channelsOf(fb).map((c) => c.channel_name)).toEqual(["other", "shared"]);
  });

  test("include_clients: false/0 → clients null (count kept) and producers null; any other value → true", async () => {
    await sub(b, "ic", "ch", 0);
    const p = await connect(b);
    await publish(p, "ic", "x");
    for (const v of ["false", "0"]) {
      const { doc } = await statsJson(b, `&topic=ic&include_clients=${v}`);
      const ch = channelsOf(topicsOf(doc)![0]!)[0]!;
      expect(ch.clients).toBeNull();
      expect(ch.client_count).toBe(1);
      expect(doc.producers).toBeNull();
    }
    for (const v of ["true", "1", "yes", "", "FALSE"]) {
      const { doc } = await statsJson(b, `&topic=ic&include_clients=${v}`);
      expect((channelsOf(topicsOf(doc)![0]!)[0]!.clients as Json[]).length).toBe(1);
      expect((doc.producers as Json[]).length).toBeGreaterThanOrEqual(1);
    }
  });

  test("include_mem: false/0 → no memory key; any other value → memory present", async () => {
    for (const v of ["false", "0"]) {
      const { doc } = await statsJson(b, `&include_mem=${v}`);
      expect(Object.keys(doc)).toEqual(["version", "health", "start_time", "topics", "producers"]);
    }
    for (const v of ["true", "1", "nah"]) {
      expect(Object.keys((await statsJson(b, `&include_mem=${v}`)).doc)).toEqual(TOP_KEYS);
    }
  });

  test("format: only 'json' selects JSON; anything else is text", async () => {
    for (const q of ["", "?format=JSON", "?format=text", "?format="]) {
      const res = await b.http(`/stats${q}`);
      expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      expect((await res.text()).startsWith("nsqd v1.3.0 (built w/go1.19.8)\n")).toBe(true);
    }
  });

  test("pub_counts quirk: at most one entry; the topic filter picks which; a subscriber that publishes is also a producer", async () => {
    const p = await connect(b, { client_id: "multi" });
    await publish(p, "pc_one", "a");
    await publish(p, "pc_two", "b");
    await publish(p, "pc_two", "c");
    const mine = (doc: Json) => (doc.producers as Json[]).find((x) => x.client_id === "multi")!;
    expect(mine((await statsJson(b)).doc).pub_counts).toEqual([{ topic: "pc_one", count: 1 }]);
    expect(mine((await statsJson(b, "&topic=pc_two")).doc).pub_counts).toEqual([{ topic: "pc_two", count: 2 }]);
    await b.http("/topic/create?topic=pc_none", { method: "POST" });
    const unfiltered = mine((await statsJson(b, "&topic=pc_none")).doc);
    expect("pub_counts" in unfiltered).toBe(false);

    const both = await sub(b, "pc_sub", "ch", 0, { client_id: "both" });
    await publish(both, "pc_sub", "hello");
    const { doc } = await statsJson(b, "&topic=pc_sub");
    const asClient = (channelsOf(topicsOf(doc)![0]!)[0]!.clients as Json[])[0]!;
    expect(asClient.client_id).toBe("both");
    expect(asClient.state).toBe(3);
    expect(asClient.pub_counts).toEqual([{ topic: "pc_sub", count: 1 }]);
    expect((doc.producers as Json[]).some((x) => x.client_id === "both")).toBe(true);
  });

  test("client state: 3 subscribed, 4 after CLS", async () => {
    const c = await sub(b, "st", "ch", 5, { client_id: "closer" });
    c.write("CLS\n");
    expect(await c.readResponse()).toBe("CLOSE_WAIT");
    const { doc } = await statsJson(b, "&topic=st");
    const client = (channelsOf(topicsOf(doc)![0]!)[0]!.clients as Json[])[0]!;
    expect([client.state, client.ready_count]).toEqual([4, 0]);
  });

  test("paused flags and deferred counts are reported", async () => {
    const p = await connect(b);
    await sub(b, "pd", "ch", 0);
    p.writeWithBody("DPUB pd 60000", "later");
    expect(await p.readResponse()).toBe("OK");
    await b.http("/topic/pause?topic=pd", { method: "POST" });
    await b.http("/channel/pause?topic=pd&channel=ch", { method: "POST" });
    const t = topicsOf((await statsJson(b, "&topic=pd")).doc)![0]!;
    expect(t.paused).toBe(true);
    expect(channelsOf(t)[0]).toMatchObject({ paused: true, deferred_count: 1, depth: 0, message_count: 1 });
  });

  test("strings are escaped as Go's encoder does (<, >, &)", async () => {
    await sub(b, "esc", "ch", 0, { client_id: "<a&b>", hostname: "h\u2028" });
    const { raw, doc } = await statsJson(b, "&topic=esc");
    expect(raw).toContain('"client_id":"\\u003ca\\u0026b\\u003e"');
    expect(raw).toContain('"hostname":"h\\u2028"');
    expect((channelsOf(topicsOf(doc)![0]!)[0]!.clients as Json[])[0]!.client_id).toBe("<a&b>");
  });

  test("bad query → 400 INVALID_REQUEST", async () => {
    const res = await b.http("/stats?format=json&topic=%ZZ");
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('{"message":"INVALID_REQUEST"}');
  });
});

describe("/stats e2e processing latency", () => {
  let b: TestBroker;
  beforeAll(async () => {
    b = await startBroker({ e2eProcessingLatencyPercentiles: [0.99, 0.5] });
  });
  afterAll(async () => {
    await b.stop();
  });

  test("configured percentiles: zero values before samples, FIN latencies after; topic merges channels", async () => {
    await b.http("/topic/create?topic=lonely", { method: "POST" });
    const lonely = topicsOf((await statsJson(b, "&topic=lonely")).doc)![0]!;
    // a topic without channels has nothing to merge
    expect(lonely.e2e_processing_latency).toEqual({ count: 0, percentiles: null });

    const a = await sub(b, "lat", "a", 10);
    const c = await sub(b, "lat", "b", 10);
    const empty = topicsOf((await statsJson(b, "&topic=lat")).doc)![0]!;
    const zero = { count: 0, percentiles: [{ quantile: 0.99, value: 0 }, { quantile: 0.5, value: 0 }] };
    expect(empty.e2e_processing_latency).toEqual(zero);
    expect(channelsOf(empty)[0]!.e2e_processing_latency).toEqual(zero);

    const p = await connect(b);
    await publish(p, "lat", "m1");
    await publish(p, "lat", "m2");
    for (const consumer of [a, c]) {
      for (let i = 0; i < 2; i++) {
        const m = await consumer.readMessage();
        if (consumer === a || i === 0) consumer.write(`FIN ${m.id}\n`);
      }
    }
    await eventually(async () => {
      const t = topicsOf((await statsJson(b, "&topic=lat")).doc)![0]!;
      const [ca, cb] = channelsOf(t);
      expect((ca!.e2e_processing_latency as Json).count).toBe(2);
      expect((cb!.e2e_processing_latency as Json).count).toBe(1);
      const merged = t.e2e_processing_latency as { count: number; percentiles: { quantile: number; value: number }[] };
      expect(merged.count).toBe(3);
      expect(merged.percentiles.map((x) => x.quantile)).toEqual([0.99, 0.5]);
      for (const x of merged.percentiles) {
        expect(Number.isInteger(x.value)).toBe(true);
        expect(x.value).toBeGreaterThanOrEqual(0);
        expect(x.value).toBeLessThan(5e9);
      }
      expect(Object.keys(merged.percentiles[0]!)).toEqual(["quantile", "value"]);
    });
    const text = await (await b.http("/stats?topic=lat&include_mem=false")).text();
    expect(text).toMatch(/\n {3}\[lat {12}\] depth: 0 {4} be-depth: 0 {4} msgs: 2 {7} e2e%: [0-9.]+(ns|us|ms|s), [0-9.]+(ns|us|ms|s)\n/);
  });
});

describe("/stats text format", () => {
  const savedTz = process.env.TZ;
  beforeAll(() => {
    process.env.TZ = "America/New_York";
  });
  afterAll(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  const baseClient = (over: Partial<ClientStats>): ClientStats => ({
    client_id: "c",
    hostname: "app01",
    version: "V2",
    remote_address: "10.0.0.5:53412",
    state: 3,
    ready_count: 200,
    in_flight_count: 1,
    message_count: 10,
    finish_count: 9,
    requeue_count: 0,
    connect_ts: 1703602800,
    sample_rate: 0,
    deflate: false,
    snappy: false,
    user_agent: "nsq_tail/1.3.0 go-nsq/1.1.0",
    tls: false,
    tls_cipher_suite: "",
    tls_version: "",
    tls_negotiated_protocol: "",
    tls_negotiated_protocol_is_mutual: false,
    ...over,
  });

  test("a known state renders byte for byte", () => {
    const startMs = Date.UTC(2023, 11, 26, 15, 0, 0); // 10:00:00 in New York
    const nowMs = startMs + 3_723_456; // 1h2m3.456s later
    const doc: StatsDocument = {
      version: "1.3.0",
      health: "OK",
      start_time: startMs / 1000,
      topics: [
        {
          topic_name: "orders",
          channels: [
            {
              channel_name: "archive",
              depth: 12,
              backend_depth: 3,
              in_flight_count: 1,
              deferred_count: 2,
              message_count: 10,
              requeue_count: 4,
              timeout_count: 5,
              client_count: 1,
              clients: [
                baseClient({ connect_ts: Math.floor(nowMs / 1000) - 65 }),
                baseClient({ hostname: "h", remote_address: "1.2.3.4:9", user_agent: "", state: 4, ready_count: 0, connect_ts: Math.floor(nowMs / 1000) }),
              ],
              paused: false,
              e2e_processing_latency: { count: 3, percentiles: [{ quantile: 0.99, value: 1_250_000 }, { quantile: 0.5, value: 999 }] },
            },
            {
              channel_name: "billing",
              depth: 0,
              backend_depth: 0,
              in_flight_count: 0,
              deferred_count: 0,
              message_count: 10,
              requeue_count: 0,
              timeout_count: 0,
              client_count: 0,
              clients: [],
              paused: true,
              e2e_processing_latency: { count: 0, percentiles: null },
            },
          ],
          depth: 0,
          backend_depth: 0,
          message_count: 10,
          message_bytes: 530,
          paused: true,
          e2e_processing_latency: { count: 3, percentiles: [{ quantile: 0.99, value: 2_500_000_000 }, { quantile: 0.5, value: 1500 }] },
        },
      ],
      memory: {
        heap_objects: 1,
        heap_idle_bytes: 2,
        heap_in_use_bytes: 3,
        heap_released_bytes: 4,
        gc_pause_usec_100: 5,
        gc_pause_usec_99: 6,
        gc_pause_usec_95: 7,
        next_gc_bytes: 8,
        gc_total_runs: 9,
      },
      producers: [
        baseClient({
          hostname: "pub01",
          remote_address: "[::1]:40000",
          state: 0,
          user_agent: "to_nsq/1.3.0",
          connect_ts: Math.floor(nowMs / 1000) - 7201,
          pub_counts: [{ topic: "orders", count: 10 }],
        }),
      ],
    };
    const expected =
      "nsqd v1.3.0 (built w/go1.19.8)\n" +
      "start_time 2023-12-26T10:00:00-05:00\n" +
      "uptime 1h2m3.456s\n" +
      "\n" +
      "Health: OK\n" +
      "\n" +
      "Memory:\n" +
      "   heap_objects             \t1\n" +
      "   heap_idle_bytes          \t2\n" +
      "   heap_in_use_bytes        \t3\n" +
      "   heap_released_bytes      \t4\n" +
      "   gc_pause_usec_100        \t5\n" +
      "   gc_pause_usec_99         \t6\n" +
      "   gc_pause_usec_95         \t7\n" +
      "   next_gc_bytes            \t8\n" +
      "   gc_total_runs            \t9\n" +
      "\n" +
      "Topics:\n" +
      "*P [orders         ] depth: 0     be-depth: 0     msgs: 10       e2e%: 2.5s, 1.5us\n" +
      "      [archive                  ] depth: 12    be-depth: 3     inflt: 1    def: 2    re-q: 4     timeout: 5     msgs: 10       e2e%: 1.2ms, 999.0ns\n" +
      "        [V2 app01:53412 nsq_tail/1.3.0 go-nsq/1.1.0] state: 3 inflt: 1    rdy: 200  fin: 9        re-q: 0        msgs: 10       connected: 1m5s\n" +
      "        [V2 h:9                  ] state: 4 inflt: 1    rdy: 0    fin: 9        re-q: 0        msgs: 10       connected: 0s\n" +
      "   *P [billing                  ] depth: 0     be-depth: 0     inflt: 0    def: 0    re-q: 0     timeout: 0     msgs: 10       e2e%: \n" +
      "\n" +
      "Producers:\n" +
      "   [V2 pub01:40000 to_nsq/1.3.0] msgs: 10       topics: orders=10 connected: 2h0m1s\n";
    expect(formatStatsText(doc, { startTimeMs: startMs, nowMs, runtime: "go1.19.8" })).toBe(expected);
  });

  test("no topics, no producers, no memory", () => {
    const doc: StatsDocument = { version: "1.3.0", health: "NOK - disk full", start_time: 0, topics: null, producers: null };
    const text = formatStatsText(doc, { startTimeMs: Date.UTC(2024, 6, 1, 12, 0, 0), nowMs: Date.UTC(2024, 6, 1, 12, 0, 0), runtime: "go1.19.8" });
    expect(text).toBe(
      "nsqd v1.3.0 (built w/go1.19.8)\nstart_time 2024-07-01T08:00:00-04:00\nuptime 0s\n\nHealth: NOK - disk full\n\nTopics: None\n\nProducers: None\n",
    );
  });

  test("human latency values: largest unit exceeded, one decimal, ties to even as Go's %.1f", () => {
    expect(nanosecondsToHuman(0)).toBe("0.0ns");
    expect(nanosecondsToHuman(1000)).toBe("1000.0ns");
    expect(nanosecondsToHuman(1001)).toBe("1.0us");
    expect(nanosecondsToHuman(1_250_000)).toBe("1.2ms");
    expect(nanosecondsToHuman(1_350_000)).toBe("1.4ms");
    expect(nanosecondsToHuman(1_750_000_000)).toBe("1.8s");
    expect(goFixed1(0.25)).toBe("0.2");
    expect(goFixed1(0.75)).toBe("0.8");
    expect(goFixed1(2.45)).toBe((2.45).toFixed(1));
  });

  test("the live text page of a known broker state", async () => {
    const b = await startBroker();
    try {
      const c = await sub(b, "live", "ch", 2, { hostname: "cons.example", user_agent: "ua/1" });
      const p = await connect(b, { hostname: "prod.example", user_agent: "pua/2" });
      await publish(p, "live", "a");
      await publish(p, "live", "b");
      await c.readMessage();
      await c.readMessage();
      await eventually(async () => {
        const text = await (await b.http("/stats?include_mem=false")).text();
        const lines = text.split("\n");
        expect(lines[0]).toBe("nsqd v1.3.0 (built w/go1.19.8)");
        expect(lines[1]).toMatch(/^start_time \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[-+]\d\d:\d\d)$/);
        expect(lines[2]).toMatch(/^uptime \S+$/);
        const rest = lines.slice(3).join("\n").replace(/connected: \d+s/g, "connected: Ns");
        expect(rest).toBe(
          "\nHealth: OK\n" +
            "\nTopics:\n" +
            "   [live           ] depth: 0     be-depth: 0     msgs: 2        e2e%: \n" +
            "      [ch                       ] depth: 0     be-depth: 0     inflt: 2    def: 0    re-q: 0     timeout: 0     msgs: 2        e2e%: \n" +
            `        [V2 cons.example:${c.socket.localPort} ua/1] state: 3 inflt: 2    rdy: 2    fin: 0        re-q: 0        msgs: 2        connected: Ns\n` +
            "\nProducers:\n" +
            `   [V2 prod.example:${p.socket.localPort} pua/2] msgs: 2        topics: live=2 connected: Ns\n`,
        );
      });
    } finally {
      await b.stop();
    }
  });
});
