/**
 * `nsq stat` (issue 16): rates averaged over a window instead of jumping every poll, and nodes
 * that left the cluster dropping out after a grace period instead of showing DOWN forever.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { ClusterPoller } from "../src/tools/stat/cluster.ts";
import { buildModel } from "../src/tools/stat/model.ts";
import { RateTracker } from "../src/tools/stat/rates.ts";
import { fakeLookupd, fakeNode, fakeNsqd, json, simulatedNsqd, statsDocument, type FakeNode } from "./stat-fixtures.ts";
import { rowOf, startDashboard, type DashboardUi } from "./helpers/dashboard-ui.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function keep<T extends FakeNode>(n: T): T {
  cleanups.push(() => n.stop());
  return n;
}

const FAST = { connectTimeoutMs: 500, requestTimeoutMs: 500 };

/** Rates a tracker reports for a counter that grows by 200 every other second (bursty, 100/s on average). */
function burstyRates(windowMs: number): number[] {
  const r = new RateTracker(60, windowMs);
  const rates: number[] = [];
  let value = 0;
  for (let sec = 0; sec <= 20; sec++) {
    if (sec % 2 === 1) value += 200;
    r.beginRound();
    const rate = r.counter("k", value, 1_000_000 + sec * 1000);
    r.endRound();
    if (rate !== null) rates.push(rate);
  }
  return rates;
}

describe("smoothed rates", () => {
  test("per-poll rates of bursty traffic jump between 0 and 200; over a 5 s window they stay near the 100/s average", () => {
    const raw = burstyRates(0);
    expect(new Set(raw)).toEqual(new Set([0, 200]));
    const smooth = burstyRates(5000).slice(5); // once the window is full
    for (const v of smooth) {
      expect(v).toBeGreaterThanOrEqual(80);
      expect(v).toBeLessThanOrEqual(120);
    }
  });

  test("the window grows from the first sample; a counter going back starts it again", () => {
    const r = new RateTracker(60, 5000);
    const at = (sec: number, value: number) => {
      r.beginRound();
      const rate = r.counter("k", value, sec * 1000);
      r.endRound();
      return rate;
    };
    expect(at(0, 0)).toBeNull();
    expect(at(1, 100)).toBe(100); // 1 s of data so far
    expect(at(2, 100)).toBe(50); // 100 over 2 s
    expect(at(7, 700)).toBe(120); // base: the newest sample at least 5 s old (t=2)
    expect(at(8, 10)).toBeNull(); // restarted node: no negative rate
    expect(at(9, 40)).toBe(30);
  });

  test("the model's topic rate is the smoothed one", async () => {
    let clock = 0;
    let k = 0;
    // 200 messages every other poll: 100/s on average
    const node = keep(fakeNsqd(() => [{ topic_name: "t", message_count: 200 * Math.floor((k + 1) / 2), channels: [] }]));
    const poller = new ClusterPoller({ nsqdHttpAddresses: [node.address], lookupdHttpAddresses: [] }, FAST, () => clock);
    const tracker = new RateTracker(60, 5000);
    const rates: number[] = [];
    for (k = 0; k < 12; k++) {
      clock = k * 1000;
      const rate = buildModel(await poller.poll(), tracker).topics[0]!.row.rateIn;
      if (k >= 6) rates.push(rate!);
    }
    for (const r of rates) {
      expect(r).toBeGreaterThanOrEqual(80);
      expect(r).toBeLessThanOrEqual(120);
    }
  });
});

describe("nodes that left the cluster", () => {
  test("fixed list: a node down longer than the grace period drops out of snapshots, and comes back when it answers", async () => {
    let clock = 1_000_000;
    let answering = true;
    const live = keep(fakeNsqd(() => [{ topic_name: "t", channels: [] }]));
    const gate = keep(fakeNode(() => (answering
      ? json(statsDocument([{ topic_name: "only-on-gate", channels: [] }]))
      : json({ message: "DOWN" }, 500))));
    const poller = new ClusterPoller(
      { nsqdHttpAddresses: [live.address, gate.address], lookupdHttpAddresses: [] },
      FAST, () => clock, { downGraceMs: 60_000 },
    );
    expect((await poller.poll()).nodes.length).toBe(2);
    answering = false;
    clock += 1000;
    let snap = await poller.poll();
    expect(snap.nodes.find((n) => n.address === gate.address)).toMatchObject({ up: false });
    clock += 60_000; // down exactly the grace period: still shown
    snap = await poller.poll();
    expect(snap.nodes.map((n) => n.address)).toContain(gate.address);
    clock += 1;
    snap = await poller.poll();
    expect(snap.nodes.map((n) => n.address)).not.toContain(gate.address);
    expect(snap.left).toEqual([gate.address]);
    expect(buildModel(snap, new RateTracker()).topics.map((t) => t.row.name)).toEqual(["t"]); // its topics went with it
    answering = true;
    clock += 1000;
    snap = await poller.poll();
    expect(snap.nodes.find((n) => n.address === gate.address)).toMatchObject({ up: true });
    expect(snap.left).toEqual([]);
  });

  test("lookupd: a down node lookupd still lists stays; once unlisted and past the grace period it is forgotten", async () => {
    let clock = 1_000_000;
    const a = keep(fakeNsqd(() => [{ topic_name: "t", channels: [] }]));
    const b = fakeNsqd(() => [{ topic_name: "t", channels: [] }]);
    let listed = [a.port, b.port];
    const l = keep(fakeLookupd(() => listed.map((port) => ({ port, topics: ["t"] }))));
    const poller = new ClusterPoller({ nsqdHttpAddresses: [], lookupdHttpAddresses: [l.address] }, FAST, () => clock, { downGraceMs: 60_000 });
    expect((await poller.poll()).nodes.length).toBe(2);
    await b.stop();
    clock += 1000;
    await poller.poll();
    clock += 120_000; // long past the grace period, but lookupd still lists it: part of the cluster
    let snap = await poller.poll();
    expect(snap.nodes.find((n) => n.address === b.address)).toMatchObject({ up: false, unlisted: false });
    listed = [a.port];
    clock += 1000;
    snap = await poller.poll();
    expect(snap.nodes.map((n) => n.address)).toEqual([a.address]);
    clock += 1000;
    snap = await poller.poll(); // forgotten: not polled, not shown
    expect(snap.nodes.map((n) => n.address)).toEqual([a.address]);
  });

  test("the dashboard drops a stopped node after the grace period (here 300 ms) instead of showing DOWN forever", async () => {
    const a = keep(simulatedNsqd([{ topic_name: "orders", channels: [] }]));
    const b = simulatedNsqd([{ topic_name: "orders", channels: [] }]);
    const ui: DashboardUi = startDashboard(
      { nsqdHttpAddresses: [a.address, b.address] },
      { intervalMs: 100, monitorOptions: { downGraceMs: 300 } },
    );
    cleanups.push(() => ui.stop());
    await ui.until("two nodes", (f) => f.includes("2 nodes: 2 up") && rowOf(f, "orders").includes("2/2"));
    await b.stop();
    await ui.until("down shown first", (f) => f.includes(`${b.address} DOWN`));
    const f = await ui.until("dropped", (fr) => fr.includes("1 node: 1 up") && rowOf(fr, "orders").includes("1/1"), 3000);
    expect(f).toContain(`nodes: ${a.address}  (left the cluster: ${b.address})`);
    expect(f).not.toContain(`${b.address} DOWN`);
  });
});
