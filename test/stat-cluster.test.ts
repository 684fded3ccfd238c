/**
 * Cluster reading for `nsq stat`: discovery through nsqlookupd or a fixed nsqd list, per-node
 * up/down state, aggregation across nodes, rates from counter deltas, actions on every node.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { ClusterPoller, findTopicProducers } from "../src/tools/stat/cluster.ts";
import { buildModel } from "../src/tools/stat/model.ts";
import { RateTracker, sparkline, sumRates } from "../src/tools/stat/rates.ts";
import { actionPath, applyAction, nodesWithTopic } from "../src/tools/stat/actions.ts";
import { getJson, HttpStatusError } from "../src/http-api/api-request.ts";
import { pollTimeouts } from "../src/tools/stat/monitor.ts";
import { parseStats, producerHttpAddress } from "../src/http-api/node-json.ts";
import {
  fakeLookupd, fakeNode, fakeNsqd, json, silentListener, simulatedNsqd, type FakeNode, type TopicFixture,
} from "./stat-fixtures.ts";

const servers: FakeNode[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((n) => n.stop()));
});
function keep<T extends FakeNode>(n: T): T {
  servers.push(n);
  return n;
}

const FAST = { connectTimeoutMs: 500, requestTimeoutMs: 500 };

describe("rates", () => {
  test("first sample has no rate; later ones are Δ/Δt per second; a counter going back resets", () => {
    const r = new RateTracker();
    r.beginRound();
    expect(r.counter("k", 100, 1000)).toBeNull();
    r.endRound();
    r.beginRound();
    expect(r.counter("k", 150, 1500)).toBe(100);
    r.endRound();
    r.beginRound();
    expect(r.counter("k", 10, 2500)).toBeNull(); // restarted node
    r.endRound();
    r.beginRound();
    expect(r.counter("k", 40, 3500)).toBe(30);
  });

  test("keys not seen in a round are forgotten (no spike when a node comes back)", () => {
    const r = new RateTracker();
    r.beginRound();
    r.counter("a", 1, 0);
    r.record("a", 5);
    r.endRound();
    r.beginRound();
    r.endRound(); // "a" absent this round
    expect(r.size).toBe(0);
    r.beginRound();
    expect(r.counter("a", 1000, 2000)).toBeNull();
  });

  test("history keeps the last N values, one per round", () => {
    const r = new RateTracker(3);
    for (let i = 1; i <= 5; i++) {
      r.beginRound();
      r.record("h", i);
      r.record("h", i * 10); // same round: replaces, does not append
      r.endRound();
    }
    expect(r.history("h")).toEqual([30, 40, 50]);
  });

  test("sparkline scales to the largest value, keeps its width, newest on the right", () => {
    expect(sparkline([0, 1, 2, 4, 8], 5)).toBe("▁▂▃▅█");
    expect(sparkline([3], 4)).toBe("   █");
    expect(sparkline([0, 0], 2)).toBe("▁▁");
    expect(sparkline([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 3)).toBe("▇▇█");
    expect(sumRates([null, null])).toBeNull();
    expect(sumRates([null, 2, 3])).toBe(5);
  });
});

describe("http + parse", () => {
  test("legacy envelope without X-NSQ-Content-Type is unwrapped; odd field types never throw", async () => {
    const n = keep(fakeNode(() => new Response(JSON.stringify({ status_code: 200, data: { topics: [{ topic_name: "t", depth: "7", channels: "x" }] } }))));
    const stats = parseStats(await getJson(`http://${n.address}/stats`, FAST));
    expect(stats.topics?.[0]?.topic_name).toBe("t");
    expect(stats.topics?.[0]?.depth).toBe(0);
    expect(stats.topics?.[0]?.channels).toEqual([]);
    expect(parseStats(null).topics).toBeNull();
  });

  test("HTTP error status carries the NSQ code; a silent server times out", async () => {
    const n = keep(fakeNode((url) => (url.pathname === "/slow" ? new Promise<Response>(() => {}) : json({ message: "TOPIC_NOT_FOUND" }, 404))));
    const err = await getJson(`http://${n.address}/lookup?topic=x`, FAST).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpStatusError);
    expect((err as HttpStatusError).status).toBe(404);
    expect((err as HttpStatusError).code).toBe("TOPIC_NOT_FOUND");
    const slow = await getJson(`http://${n.address}/slow`, { connectTimeoutMs: 100, requestTimeoutMs: 100 }).catch((e: Error) => e.message);
    expect(slow).toBe(`http://${n.address}/slow: timed out`);
  });

  test("producer addresses: IPv6 broadcast addresses get brackets", () => {
    expect(producerHttpAddress({ broadcast_address: "nsqd1", http_port: 4151 })).toBe("nsqd1:4151");
    expect(producerHttpAddress({ broadcast_address: "::1", http_port: 4151 })).toBe("[::1]:4151");
  });
});

describe("discovery", () => {
  test("nsqd list: producers are the nodes whose /stats list the topic", async () => {
    const a = keep(fakeNsqd(() => [{ topic_name: "t", channels: [] }]));
    const b = keep(fakeNsqd(() => [{ topic_name: "other", channels: [] }]));
    const found = await findTopicProducers({ nsqdHttpAddresses: [a.address, b.address], lookupdHttpAddresses: [] }, "t", FAST);
    expect(found).toEqual({ value: [a.address], errors: [] });
  });

  test("lookupd: union of every lookupd's /lookup; a lookupd without the topic (404) is not an error", async () => {
    const l1 = keep(fakeLookupd(() => [{ port: 4151, topics: ["t"] }]));
    const l2 = keep(fakeLookupd(() => [{ port: 4251, topics: ["t"] }, { port: 4151, topics: ["t"] }]));
    const l3 = keep(fakeLookupd(() => []));
    const found = await findTopicProducers({ nsqdHttpAddresses: [], lookupdHttpAddresses: [l1.address, l2.address, l3.address] }, "t", FAST);
    expect(found).toEqual({ value: ["127.0.0.1:4151", "127.0.0.1:4251"], errors: [] });
  });

  test("no lookupd answering is an error naming them", async () => {
    const l = fakeLookupd(() => []);
    const address = l.address;
    await l.stop();
    await expect(findTopicProducers({ nsqdHttpAddresses: [], lookupdHttpAddresses: [address] }, "t", FAST)).rejects.toThrow(address);
  });
});

function counters(step: { n: number }, paused = false): TopicFixture[] {
  return [{
    topic_name: "orders",
    message_count: 1000 + 50 * step.n,
    depth: 10,
    backend_depth: 4,
    channels: [
      { channel_name: "archive", message_count: 900 + 40 * step.n, depth: 20, backend_depth: 5, in_flight_count: 3, deferred_count: 1, requeue_count: 2, timeout_count: 1, client_count: 1, paused,
        clients: [{ client_id: "w", hostname: "worker", version: "V2", remote_address: "127.0.0.1:5555", state: 3, ready_count: 5, in_flight_count: 3, message_count: 10 * step.n, finish_count: 7, requeue_count: 0, connect_ts: 1_000, user_agent: "test/1", tls: false }] },
    ],
  }];
}

describe("poller and model", () => {
  test("aggregates across nodes; rates are per second from deltas; a stopped node is down, never a crash", async () => {
    let clock = 100_000;
    const step = { n: 0 };
    const a = keep(fakeNsqd(() => counters(step)));
    const b = fakeNsqd(() => counters(step, true));
    const poller = new ClusterPoller({ nsqdHttpAddresses: [a.address, b.address], lookupdHttpAddresses: [] }, FAST, () => clock);
    const tracker = new RateTracker();

    const m1 = buildModel(await poller.poll(), tracker);
    expect(m1.nodes.map((n) => n.up)).toEqual([true, true]);
    const t1 = m1.topics[0]!;
    expect(t1.row.name).toBe("orders");
    expect(t1.row.rateIn).toBeNull();
    expect(t1.row.depth).toBe(20);
    expect(t1.row.memDepth).toBe(12);
    expect(t1.row.consumers).toBe(2);
    expect(t1.row.channels).toBe(1);
    const c1 = t1.channels[0]!;
    expect(c1.row).toMatchObject({ depth: 40, backendDepth: 10, memDepth: 30, inFlight: 6, deferred: 2, requeued: 4, timedOut: 2, consumers: 2, paused: true, nodesUp: 2, nodesTotal: 2 });
    expect(c1.perNode.find((r) => r.name === a.address)!.paused).toBe(false);
    expect(c1.perNode.find((r) => r.name === b.address)!.paused).toBe(true);
    expect(c1.clients.length).toBe(2);
    expect(c1.clients[0]!.name).toBe("worker:5555");

    clock += 2000;
    step.n = 4; // +200 topic messages, +160 channel messages per node over 2 s
    const m2 = buildModel(await poller.poll(), tracker);
    const t2 = m2.topics[0]!;
    expect(t2.row.rateIn).toBe(200); // 2 nodes × 100/s
    expect(t2.row.rateOut).toBe(200); // depth unchanged
    expect(t2.channels[0]!.row.rateIn).toBe(160);
    expect(t2.channels[0]!.clients[0]!.rate).toBe(20);
    expect(t2.row.history).toEqual([0, 200]);

    await b.stop();
    clock += 2000;
    step.n = 8;
    const snap3 = await poller.poll();
    const down = snap3.nodes.find((n) => n.address === b.address)!;
    expect(down.up).toBe(false);
    expect(down.error).toContain(b.address);
    expect(down.downSince).toBe(clock);
    expect(down.stats).not.toBeNull(); // last known stats kept so views know what it had
    const m3 = buildModel(snap3, tracker);
    const t3 = m3.topics[0]!;
    expect(t3.row.nodesUp).toBe(1);
    expect(t3.row.nodesTotal).toBe(2);
    expect(t3.row.rateIn).toBe(100); // only the live node, no negative spike
    expect(t3.row.depth).toBe(10);
    const downRow = t3.perNode.find((r) => r.name === b.address)!;
    expect(downRow.up).toBe(false);
    expect(downRow.note).toContain("connection refused");
    expect(t3.channels[0]!.clients.length).toBe(1);
    expect(t3.channels[0]!.row.paused).toBe(false); // the paused copy lives on the down node
  });

  test("lookupd: nodes come from /nodes; a node lookupd dropped and that stopped answering stays listed as down", async () => {
    const a = keep(fakeNsqd(() => [{ topic_name: "t", channels: [] }]));
    const b = fakeNsqd(() => [{ topic_name: "t", channels: [] }]);
    let listed = [a.port, b.port];
    const l = keep(fakeLookupd(() => listed.map((port) => ({ port, topics: ["t"] }))));
    const poller = new ClusterPoller({ nsqdHttpAddresses: [], lookupdHttpAddresses: [l.address] }, FAST);
    const s1 = await poller.poll();
    expect(s1.nodes.map((n) => [n.address, n.up, n.hostname])).toEqual(
      [[a.address, true, `node${a.port}`], [b.address, true, `node${b.port}`]].sort() as Array<[string, boolean, string]>,
    );
    await b.stop();
    listed = [a.port];
    const s2 = await poller.poll();
    const gone = s2.nodes.find((n) => n.address === b.address)!;
    expect(gone).toMatchObject({ up: false, unlisted: true });
    expect(s2.discoveryErrors).toEqual([]);
    await l.stop();
    servers.splice(servers.indexOf(l), 1);
    const s3 = await poller.poll(); // lookupd gone too: known nodes still polled, error reported
    expect(s3.discoveryErrors.length).toBe(1);
    expect(s3.nodes.find((n) => n.address === a.address)!.up).toBe(true);
  });
});

describe("poller with a hung node (issue 6)", () => {
  test("poll(maxWait) returns what answered; the hung node is not answering after hungAfterMs; no second request while one is out", async () => {
    const live = keep(fakeNsqd(() => [{ topic_name: "t", channels: [] }]));
    const silent = silentListener();
    try {
      const poller = new ClusterPoller(
        { nsqdHttpAddresses: [live.address, silent.address], lookupdHttpAddresses: [] },
        { connectTimeoutMs: 5000, requestTimeoutMs: 5000 },
        Date.now,
        { hungAfterMs: 150 },
      );
      const t0 = Date.now();
      const s1 = await poller.poll(100);
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(s1.nodes.find((n) => n.address === live.address)!.up).toBe(true);
      expect(s1.nodes.find((n) => n.address === silent.address)!.error).toBe("not polled yet");
      await Bun.sleep(100); // let the silent node's request age past hungAfterMs
      const s2 = await poller.poll(100);
      const hung = s2.nodes.find((n) => n.address === silent.address)!;
      expect(hung.up).toBe(false);
      expect(hung.error).toBe(`http://${silent.address}/stats: not answering`);
      expect(hung.downSince).toBeGreaterThanOrEqual(t0);
      expect(hung.downSince).toBeLessThan(t0 + 100);
      expect(s2.nodes.find((n) => n.address === live.address)!.sampledAt).toBeGreaterThan(s1.nodes.find((n) => n.address === live.address)!.sampledAt);
      expect(silent.accepted()).toBe(1); // the request still out was not repeated
    } finally {
      silent.stop();
    }
  });

  test("the dashboard's poll deadline is capped near the interval; the configured one wins when shorter", () => {
    expect(pollTimeouts({ connectTimeoutMs: 2000, requestTimeoutMs: 5000 }, 1000)).toEqual({ connectTimeoutMs: 2000, requestTimeoutMs: 2000 });
    expect(pollTimeouts({ connectTimeoutMs: 2000, requestTimeoutMs: 5000 }, 100)).toEqual({ connectTimeoutMs: 500, requestTimeoutMs: 500 });
    expect(pollTimeouts({ connectTimeoutMs: 200, requestTimeoutMs: 300 }, 1000)).toEqual({ connectTimeoutMs: 200, requestTimeoutMs: 300 });
  });
});

describe("actions", () => {
  test("pause goes to every node that has the topic; failures are reported per node", async () => {
    const topics = (): TopicFixture[] => [{ topic_name: "my.topic", channels: [{ channel_name: "ch#ephemeral" }] }];
    const a = keep(simulatedNsqd(topics()));
    const b = keep(simulatedNsqd(topics()));
    const other = keep(simulatedNsqd([{ topic_name: "else", channels: [] }]));
    const dead = fakeNsqd(() => topics());
    const poller = new ClusterPoller({ nsqdHttpAddresses: [a.address, b.address, other.address, dead.address], lookupdHttpAddresses: [] }, FAST);
    await poller.poll();
    await dead.stop();
    const snap = await poller.poll();
    const nodes = nodesWithTopic(snap.nodes, "my.topic");
    expect(nodes.sort()).toEqual([a.address, b.address, dead.address].sort());
    const result = await applyAction(nodes, "pause", { topic: "my.topic", channel: "ch#ephemeral" }, FAST);
    expect(result.ok.sort()).toEqual([a.address, b.address].sort());
    expect(result.failed.map((f) => f.node)).toEqual([dead.address]);
    expect(a.actions).toEqual(["POST /channel/pause?topic=my.topic&channel=ch%23ephemeral"]);
    expect(a.topics[0]!.channels[0]!.paused).toBe(true);
    expect(b.topics[0]!.channels[0]!.paused).toBe(true);
    expect(other.actions).toEqual([]);
  });

  test("action paths follow the nsqd HTTP API", () => {
    expect(actionPath("pause", { topic: "t" })).toBe("/topic/pause?topic=t");
    expect(actionPath("unpause", { topic: "t" })).toBe("/topic/unpause?topic=t");
    expect(actionPath("empty", { topic: "t", channel: "c" })).toBe("/channel/empty?topic=t&channel=c");
  });

  test("an nsqd error code is part of the failure", async () => {
    const a = keep(simulatedNsqd([{ topic_name: "t", channels: [] }]));
    const r = await applyAction([a.address], "empty", { topic: "t", channel: "missing" }, FAST);
    expect(r.failed[0]!.error).toContain("404 CHANNEL_NOT_FOUND");
  });
});
