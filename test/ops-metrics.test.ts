/**
 * Issue 17, beyond nsqd: GET /metrics (parsed with a real Prometheus text parser) against /stats,
 * message rates in /stats?rates=true and /metrics, and GET /channel/peek.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { subscriber, RawClient } from "./helpers/raw-client.ts";
import { scrape, Scrape } from "./helpers/prometheus.ts";
import { makeTestCerts } from "./helpers/tls-certs.ts";
import type { StatsDocument } from "../src/protocol/stats-types.ts";
import { ClusterPoller } from "../src/tools/stat/cluster.ts";
import { buildModel } from "../src/tools/stat/model.ts";
import { RateTracker } from "../src/tools/stat/rates.ts";

const brokers: TestBroker[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(opts: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const b = await startBroker(opts);
  brokers.push(b);
  return b;
}

async function stats(b: TestBroker, query = ""): Promise<StatsDocument> {
  return (await (await b.http(`/stats?format=json${query}`)).json()) as StatsDocument;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

describe("GET /metrics", () => {
  test("before and after traffic: every topic and channel figure equals /stats", async () => {
    const b = await broker({ e2eProcessingLatencyPercentiles: [0.5, 0.99] });
    const base = `http://127.0.0.1:${b.httpPort}`;
    const res = await b.http("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const empty = await scrape(base);
    expect(empty.families.get("nsq_topic_depth")?.metrics ?? []).toEqual([]);
    expect(empty.value("nsq_health")).toBe(1);
    expect(empty.value("nsq_info", { version: "1.3.0" })).toBe(1);
    // process metrics
    expect(empty.value("process_resident_memory_bytes")!).toBeGreaterThan(0);
    expect(empty.type("process_cpu_seconds_total")).toBe("COUNTER");
    expect(empty.value("process_open_fds")!).toBeGreaterThan(0);
    expect(empty.value("nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(empty.value("nsq_uptime_seconds")).toBeGreaterThanOrEqual(0);

    // topic names with '.', '-', '_' and '#ephemeral' travel as label values
    const topic = "orders.eu-1_x";
    await b.http(`/topic/create?topic=${topic}`, { method: "POST" });
    await b.http(`/channel/create?topic=${topic}&channel=ch-a`, { method: "POST" });
    await b.http(`/channel/create?topic=${topic}&channel=idle`, { method: "POST" });
    await b.http(`/mpub?topic=${topic}`, { method: "POST", body: "a\nb\nc\nd\ne\nf" });
    await b.http(`/pub?topic=tmp%23ephemeral`, { method: "POST", body: "x" });
    const c = await subscriber(b.tcpPort, topic, "ch-a", 3);
    clients.push(c);
    const got = [await c.readMessage(), await c.readMessage(), await c.readMessage()];
    c.write(`FIN ${got[0]!.id}\n`);
    c.write(`REQ ${got[1]!.id} 0\n`);
    c.write("NOP\n");
    await until("FIN and REQ processed", async () => {
      const ch = (await stats(b)).topics!.find((t) => t.topic_name === topic)!.channels.find((x) => x.channel_name === "ch-a")!;
      return ch.requeue_count === 1 && ch.in_flight_count === 3 ? true : undefined;
    });

    const m = await scrape(base);
    const doc = await stats(b);
    expect(doc.topics!.map((t) => t.topic_name).sort()).toEqual([topic, "tmp#ephemeral"]);
    for (const t of doc.topics!) {
      const l = { topic: t.topic_name };
      expect(m.value("nsq_topic_depth", l)).toBe(t.depth);
      expect(m.value("nsq_topic_backend_depth", l)).toBe(t.backend_depth);
      expect(m.value("nsq_topic_messages_total", l)).toBe(t.message_count);
      expect(m.value("nsq_topic_message_bytes_total", l)).toBe(t.message_bytes);
      expect(m.value("nsq_topic_paused", l)).toBe(t.paused ? 1 : 0);
      for (const ch of t.channels) {
        const cl = { topic: t.topic_name, channel: ch.channel_name };
        expect(m.value("nsq_channel_depth", cl)).toBe(ch.depth);
        expect(m.value("nsq_channel_backend_depth", cl)).toBe(ch.backend_depth);
        expect(m.value("nsq_channel_in_flight", cl)).toBe(ch.in_flight_count);
        expect(m.value("nsq_channel_deferred", cl)).toBe(ch.deferred_count);
        expect(m.value("nsq_channel_messages_total", cl)).toBe(ch.message_count);
        expect(m.value("nsq_channel_requeued_total", cl)).toBe(ch.requeue_count);
        expect(m.value("nsq_channel_timed_out_total", cl)).toBe(ch.timeout_count);
        expect(m.value("nsq_channel_clients", cl)).toBe(ch.client_count);
        for (const p of ch.e2e_processing_latency.percentiles!) {
          expect(m.value("nsq_channel_e2e_processing_latency_seconds", { ...cl, quantile: String(p.quantile) })).toBeCloseTo(p.value / 1e9, 9);
        }
      }
    }
    const chA = { topic, channel: "ch-a" };
    expect(m.value("nsq_topic_messages_total", { topic })).toBe(6);
    expect(m.value("nsq_channel_in_flight", chA)).toBe(3); // RDY 3 refilled after the FIN and the REQ
    expect(m.value("nsq_channel_requeued_total", chA)).toBe(1);
    expect(m.value("nsq_channel_depth", { topic, channel: "idle" })).toBe(6);
    expect(m.value("nsq_channel_clients", chA)).toBe(1);
    expect(m.value("nsq_tcp_connections")).toBe(1);
    expect(m.type("nsq_topic_messages_total")).toBe("COUNTER");
    expect(m.type("nsq_channel_depth")).toBe("GAUGE");
    // one FIN: the e2e latency quantiles are there
    expect(m.value("nsq_channel_e2e_processing_latency_seconds", { ...chA, quantile: "0.99" })).toBeGreaterThan(0);
    // rates are series too (all windows)
    for (const w of ["1s", "10s", "1m"]) expect(m.value("nsq_channel_message_rate", { ...chA, window: w })).toBeGreaterThanOrEqual(0);
    // and /stats without ?rates keeps nsqd's shape
    expect(Object.keys(doc.topics![0]!)).not.toContain("rates");
    expect(Object.keys(doc.topics![0]!.channels[0]!)).not.toContain("rates");
  });

  test("on the HTTPS port too", async () => {
    const certs = makeTestCerts();
    try {
      const b = await broker({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, httpsAddress: "127.0.0.1:0" });
      await b.http("/topic/create?topic=secure", { method: "POST" });
      const res = await fetch(`https://127.0.0.1:${b.nsqd.httpsPort}/metrics`, { tls: { ca: certs.read(certs.caCert) } });
      expect(res.status).toBe(200);
      const m = new Scrape(await res.text());
      expect(m.value("nsq_topic_depth", { topic: "secure" })).toBe(0);
    } finally {
      certs.cleanup();
    }
  });

  test("a route like nsqd's others: the fixed-path redirect finds it", async () => {
    const b = await broker();
    const r = await b.http("/METRICS", { redirect: "manual" });
    expect([301, 307]).toContain(r.status);
    expect(r.headers.get("location")).toBe("/metrics");
  });
});

describe("rates", () => {
  test("move while a publisher runs and settle to 0 after it stops", async () => {
    const b = await broker();
    await b.http("/topic/create?topic=rated", { method: "POST" });
    await b.http("/channel/create?topic=rated&channel=c", { method: "POST" });
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await b.http("/mpub?topic=rated", { method: "POST", body: "1\n2\n3\n4\n5" });
        await Bun.sleep(10);
      }
    })();
    const moving = await until("a 1 s rate above 0", async () => {
      const t = (await stats(b, "&rates=true")).topics![0]!;
      return t.rates !== undefined && t.rates.message_1s > 0 && t.channels[0]!.rates!.message_1s > 0 ? t : undefined;
    });
    expect(Object.keys(moving.rates!)).toEqual(["message_1s", "message_10s", "message_1m", "out_1s", "out_10s", "out_1m"]);
    // the topic hands everything to its channel at once: its out rate moves with its in rate
    expect(moving.rates!.out_1s).toBeGreaterThan(0);
    const m = await scrape(`http://127.0.0.1:${b.httpPort}`);
    expect(m.value("nsq_topic_message_rate", { topic: "rated", window: "10s" })).toBeGreaterThan(0);
    expect(m.value("nsq_channel_message_rate", { topic: "rated", channel: "c", window: "1m" })).toBeGreaterThan(0);
    // nothing consumes the channel: nothing leaves it
    expect(m.value("nsq_channel_out_rate", { topic: "rated", channel: "c", window: "10s" })).toBe(0);
    publishing = false;
    await publisher;
    const settled = await until("the 1 s rate back at 0", async () => {
      const t = (await stats(b, "&rates=true")).topics![0]!;
      return t.rates!.message_1s === 0 ? t : undefined;
    });
    expect(settled.channels[0]!.rates!.message_1s).toBe(0);
  });
});

describe("GET /channel/peek", () => {
  test("shows the next messages; a consumer then gets them unchanged, attempts not counted", async () => {
    const b = await broker();
    await b.http("/topic/create?topic=pk", { method: "POST" });
    await b.http("/channel/create?topic=pk&channel=c", { method: "POST" });
    await b.http("/mpub?topic=pk", { method: "POST", body: "first\nsecond\nthird" });
    await b.http("/pub?topic=pk", { method: "POST", body: new Uint8Array([0xff, 0x00, 0xfe]) });

    const res = await b.http("/channel/peek?topic=pk&channel=c&n=2");
    expect(res.status).toBe(200);
    const two = (await res.json()) as { depth: number; messages: { id: string; attempts: number; body: string; timestamp: string }[] };
    expect(two.depth).toBe(4);
    expect(two.messages.map((x) => x.body)).toEqual(["first", "second"]);
    expect(two.messages.map((x) => x.attempts)).toEqual([0, 0]);
    // peeking twice shows the same: nothing was taken
    const again = (await (await b.http("/channel/peek?topic=pk&channel=c&n=100")).json()) as {
      messages: { id: string; body?: string; body_base64?: string; timestamp: string }[];
    };
    expect(again.messages.slice(0, 2).map((x) => x.id)).toEqual(two.messages.map((x) => x.id));
    expect(again.messages).toHaveLength(4);
    expect(again.messages[3]!.body_base64).toBe(Buffer.from([0xff, 0x00, 0xfe]).toString("base64"));
    const b64 = (await (await b.http("/channel/peek?topic=pk&channel=c&encoding=base64")).json()) as { messages: { body_base64: string }[] };
    expect(Buffer.from(b64.messages[0]!.body_base64, "base64").toString()).toBe("first");

    const c = await subscriber(b.tcpPort, "pk", "c", 4);
    clients.push(c);
    const got = [await c.readMessage(), await c.readMessage(), await c.readMessage(), await c.readMessage()];
    expect(got.map((x) => x.id)).toEqual(again.messages.map((x) => x.id));
    expect(got.map((x) => x.attempts)).toEqual([1, 1, 1, 1]); // first delivery: peeking was no attempt
    expect(got[0]!.timestampNs.toString()).toBe(two.messages[0]!.timestamp);
    expect(got[0]!.body.toString()).toBe("first");
    // in flight now: no longer "next"
    const after = (await (await b.http("/channel/peek?topic=pk&channel=c")).json()) as { messages: unknown[]; in_flight_count: number };
    expect(after.messages).toEqual([]);
    expect(after.in_flight_count).toBe(4);
  });

  test("nsqd's error style for unknown topics and channels and bad arguments", async () => {
    const b = await broker();
    await b.http("/topic/create?topic=pk", { method: "POST" });
    const cases: [string, number, string][] = [
      ["/channel/peek?topic=nope&channel=c", 404, "TOPIC_NOT_FOUND"],
      ["/channel/peek?topic=pk&channel=nope", 404, "CHANNEL_NOT_FOUND"],
      ["/channel/peek?channel=c", 400, "MISSING_ARG_TOPIC"],
      ["/channel/peek?topic=pk", 400, "MISSING_ARG_CHANNEL"],
    ];
    for (const [path, status, message] of cases) {
      const r = await b.http(path);
      expect(r.status).toBe(status);
      expect(await r.json()).toEqual({ message });
    }
    await b.http("/channel/create?topic=pk&channel=c", { method: "POST" });
    for (const n of ["0", "101", "x", "-1"]) {
      const r = await b.http(`/channel/peek?topic=pk&channel=c&n=${n}`);
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual({ message: "INVALID_ARG_N" });
    }
  });
});

describe("nsq stat's model", () => {
  test("uses the node's own rates when it offers them (a rate from the first poll on)", async () => {
    const b = await broker();
    await b.http("/topic/create?topic=seen", { method: "POST" });
    await b.http("/channel/create?topic=seen&channel=c", { method: "POST" });
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await b.http("/mpub?topic=seen", { method: "POST", body: "1\n2\n3" });
        await Bun.sleep(10);
      }
    })();
    try {
      await until("a rate on the node", async () => ((await stats(b, "&rates=true")).topics![0]!.rates!.message_1s > 0 ? true : undefined));
      const poller = new ClusterPoller({ nsqdHttpAddresses: [`127.0.0.1:${b.httpPort}`], lookupdHttpAddresses: [] });
      const model = buildModel(await poller.poll(), new RateTracker());
      const t = model.topics.find((x) => x.row.name === "seen")!;
      // differencing needs two polls; the node's figure is there at once
      expect(t.row.rateIn).toBeGreaterThan(0);
      expect(t.channels[0]!.row.rateIn).toBeGreaterThan(0);
    } finally {
      publishing = false;
      await publisher;
    }
  });
});
