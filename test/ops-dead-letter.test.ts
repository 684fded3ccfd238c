/**
 * Issue 17, beyond nsqd: --max-defer-timeout for DPUB and /pub?defer=, and dead letters
 * (--max-attempts, per-channel override over HTTP kept in nsqd.dat, <topic>.dead).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { subscriber, RawClient, type WireMessage } from "./helpers/raw-client.ts";
import { scrape } from "./helpers/prometheus.ts";
import { createLogger } from "../src/util/logger.ts";
import type { ChannelStats, StatsDocument } from "../src/protocol/stats-types.ts";

const brokers: TestBroker[] = [];
const clients: RawClient[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const b of brokers.splice(0)) await b.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function broker(opts: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const b = await startBroker(opts);
  brokers.push(b);
  return b;
}

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

async function channelStats(b: TestBroker, topic: string, channel: string): Promise<ChannelStats | undefined> {
  const doc = (await (await b.http(`/stats?format=json&topic=${encodeURIComponent(topic)}`)).json()) as StatsDocument;
  return doc.topics?.[0]?.channels.find((c) => c.channel_name === channel);
}

describe("--max-defer-timeout", () => {
  test("DPUB and /pub?defer= beyond --max-req-timeout but within --max-defer-timeout are accepted", async () => {
    const b = await broker({ maxReqTimeout: 1000, maxDeferTimeout: 60_000 });
    const c = await connect(b.tcpPort);
    c.writeWithBody("DPUB later 5000", "in five seconds");
    expect(await c.readResponse()).toBe("OK");
    c.writeWithBody("DPUB later 60001", "too late");
    expect(await c.readError()).toBe("E_INVALID DPUB timeout 60001 out of range 0-60000");
    expect((await b.http("/pub?topic=later&defer=30000", { method: "POST", body: "x" })).status).toBe(200);
    const r = await b.http("/pub?topic=later&defer=60001", { method: "POST", body: "x" });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ message: "INVALID_DEFER" });
    // /mpub takes defer= too (post-1.3 nsqd's parameter), every message deferred
    await b.http("/channel/create?topic=later&channel=c", { method: "POST" });
    expect((await b.http("/mpub?topic=later&defer=30000", { method: "POST", body: "m1\nm2" })).status).toBe(200);
    expect((await channelStats(b, "later", "c"))!.deferred_count).toBe(4); // + the DPUB and the /pub that waited in the topic
    const bad = await b.http("/mpub?topic=later&defer=60001", { method: "POST", body: "m3" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ message: "INVALID_DEFER" });
  });

  test("unset, the limit is --max-req-timeout (nsqd)", async () => {
    const b = await broker({ maxReqTimeout: 1000 });
    const c = await connect(b.tcpPort);
    c.writeWithBody("DPUB later 5000", "x");
    expect(await c.readError()).toBe("E_INVALID DPUB timeout 5000 out of range 0-1000");
  });
});

describe("dead letters", () => {
  test("a message requeued N times lands in <topic>.dead with body and header intact", async () => {
    const b = await broker({ maxAttempts: 3 });
    await b.http("/topic/create?topic=jobs", { method: "POST" });
    await b.http("/channel/create?topic=jobs&channel=work", { method: "POST" });
    const body = Buffer.from([0x00, 0x01, 0xff, 0x0a, 0x68, 0x69]); // binary, with a newline
    const pub = await connect(b.tcpPort);
    pub.pub("jobs", body);
    expect(await pub.readResponse()).toBe("OK");

    const worker = await subscriber(b.tcpPort, "jobs", "work", 1);
    clients.push(worker);
    let first: WireMessage | null = null;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const m = await worker.readMessage();
      expect(m.attempts).toBe(attempt);
      first ??= m;
      worker.write(`REQ ${m.id} 0\n`);
    }
    // not delivered a fourth time
    expect(await worker.expectNoFrame(300)).toBe(true);

    const dead = await subscriber(b.tcpPort, "jobs.dead", "inspect", 1);
    clients.push(dead);
    const d = await dead.readMessage();
    expect(Buffer.compare(d.body, body)).toBe(0);
    expect(d.id).toBe(first!.id);
    expect(d.timestampNs).toBe(first!.timestampNs);
    expect(d.attempts).toBe(4); // 3 on jobs, + this delivery
    dead.write(`FIN ${d.id}\n`);

    const ch = (await channelStats(b, "jobs", "work"))!;
    expect(ch.max_attempts).toBe(3);
    expect(ch.dead_letter_topic).toBe("jobs.dead");
    expect(ch.dead_letter_count).toBe(1);
    expect(ch.requeue_count).toBe(3);
    expect(ch.depth + ch.in_flight_count + ch.deferred_count).toBe(0);
    const m = await scrape(`http://127.0.0.1:${b.httpPort}`);
    expect(m.value("nsq_channel_dead_lettered_total", { topic: "jobs", channel: "work" })).toBe(1);
    expect(m.value("nsq_channel_max_attempts", { topic: "jobs", channel: "work" })).toBe(3);
    expect(m.value("nsq_topic_messages_total", { topic: "jobs.dead" })).toBe(1);
  });

  test("a message that times out N times is dead-lettered too, logged at WARN", async () => {
    const lines: string[] = [];
    const b = await startBroker({ maxAttempts: 2, msgTimeout: 150 }, createLogger("[nsqd] ", "warn", (line) => void lines.push(line)));
    brokers.push(b);
    await b.http("/topic/create?topic=slow", { method: "POST" });
    await b.http("/channel/create?topic=slow&channel=c", { method: "POST" });
    await b.http("/pub?topic=slow", { method: "POST", body: "never finished" });
    const s = await subscriber(b.tcpPort, "slow", "c", 1);
    clients.push(s);
    expect((await s.readMessage()).attempts).toBe(1);
    expect((await s.readMessage()).attempts).toBe(2);
    const dead = await subscriber(b.tcpPort, "slow.dead", "c", 1);
    clients.push(dead);
    expect((await dead.readMessage()).body.toString()).toBe("never finished");
    expect((await channelStats(b, "slow", "c"))!.timeout_count).toBe(2);
    const warn = lines.find((l) => l.includes("WARN") && l.includes("moved to slow.dead"));
    expect(warn).toMatch(/TOPIC\(slow\) CHANNEL\(c\): message [0-9a-f]{16} \(timestamp \d{4}-.*Z\) failed 2 attempts, moved to slow\.dead/);
  });

  test("off by default: /stats keeps nsqd's shape and a message is requeued forever", async () => {
    const b = await broker();
    await b.http("/topic/create?topic=t", { method: "POST" });
    await b.http("/channel/create?topic=t&channel=c", { method: "POST" });
    await b.http("/pub?topic=t", { method: "POST", body: "x" });
    const s = await subscriber(b.tcpPort, "t", "c", 1);
    clients.push(s);
    for (let i = 1; i <= 5; i++) {
      const m = await s.readMessage();
      expect(m.attempts).toBe(i);
      s.write(`REQ ${m.id} 0\n`);
    }
    const ch = (await channelStats(b, "t", "c"))!;
    expect(Object.keys(ch)).not.toContain("max_attempts");
    expect(b.nsqd.getTopic("t.dead")).toBeUndefined();
  });

  test("the per-channel setting over HTTP survives a restart (nsqd.dat) and overrides --max-attempts", async () => {
    const dataPath = mkdtempSync(join(tmpdir(), "nsq-dead-"));
    dirs.push(dataPath);
    const first = await startBroker({ dataPath, maxAttempts: 5 });
    await first.http("/topic/create?topic=orders", { method: "POST" });
    await first.http("/channel/create?topic=orders&channel=strict", { method: "POST" });
    await first.http("/channel/create?topic=orders&channel=lenient", { method: "POST" });
    const set = await first.http("/channel/config?topic=orders&channel=strict&max_attempts=1", { method: "POST" });
    expect(set.status).toBe(200);
    expect(await set.json()).toEqual({
      topic: "orders",
      channel: "strict",
      max_attempts: 1,
      max_attempts_override: 1,
      dead_letter_topic: "orders.dead",
      dead_letter_count: 0,
    });
    expect((await first.http("/channel/config?topic=orders&channel=lenient&max_attempts=0", { method: "POST" })).status).toBe(200);
    expect((await first.http("/channel/config?topic=orders&channel=strict&max_attempts=x", { method: "POST" })).status).toBe(400);
    expect((await first.http("/channel/config?topic=orders&channel=nope&max_attempts=1", { method: "POST" })).status).toBe(404);
    await first.stop();

    const meta = JSON.parse(readFileSync(join(dataPath, "nsqd.dat"), "utf8")) as { topics: { channels: Record<string, unknown>[] }[] };
    const entries = meta.topics[0]!.channels;
    expect(entries.find((c) => c.name === "strict")).toEqual({ name: "strict", paused: false, max_attempts: 1 });
    expect(entries.find((c) => c.name === "lenient")).toEqual({ name: "lenient", paused: false, max_attempts: 0 });

    const second = await broker({ dataPath, maxAttempts: 5 });
    const cfg = (await (await second.http("/channel/config?topic=orders&channel=strict")).json()) as { max_attempts: number };
    expect(cfg.max_attempts).toBe(1);
    await second.http("/pub?topic=orders", { method: "POST", body: "once" });
    const strict = await subscriber(second.tcpPort, "orders", "strict", 1);
    clients.push(strict);
    const m = await strict.readMessage();
    strict.write(`REQ ${m.id} 0\n`);
    const dead = await subscriber(second.tcpPort, "orders.dead", "d", 1);
    clients.push(dead);
    const d = await dead.readMessage();
    expect(d.id).toBe(m.id);
    expect(d.body.toString()).toBe("once");
    // lenient (0) never dead-letters, whatever --max-attempts says
    expect((await channelStats(second, "orders", "lenient"))!.max_attempts).toBeUndefined();
    // back to the broker's setting
    await second.http("/channel/config?topic=orders&channel=strict&max_attempts=default", { method: "POST" });
    expect(((await (await second.http("/channel/config?topic=orders&channel=strict")).json()) as { max_attempts: number }).max_attempts).toBe(5);
  });
});
