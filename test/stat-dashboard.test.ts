/**
 * The `nsq stat` dashboard through ink-testing-library: navigation and keys against simulated
 * nodes (deterministic counters), and a live run against the real broker with traffic.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createElement } from "react";
import { render } from "ink-testing-library";
import { App } from "../src/tools/stat/dashboard/App.tsx";
import type { ClusterMonitor, MonitorHandle } from "../src/tools/stat/monitor.ts";
import { DEFAULT_TIMEOUTS } from "../src/http-api/api-request.ts";
import type { Level } from "../src/tools/stat/dashboard/view.ts";
import {
  fakeNode, json, silentListener, simulatedNsqd, statsDocument, waitFor, type FakeNode, type TopicFixture,
} from "./stat-fixtures.ts";
import { ESC, cell, rowOf, startDashboard, type DashboardUi, type DashboardUiOptions } from "./helpers/dashboard-ui.ts";

const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Ui = DashboardUi;

function startUi(addresses: string[], opts: DashboardUiOptions = {}): Ui & { monitor: ClusterMonitor } {
  const ui = startDashboard({ nsqdHttpAddresses: addresses }, opts);
  cleanups.push(() => ui.stop());
  return ui;
}

/** Two topics on one node; every /stats moves orders' counters (steady traffic). */
function busyNode(): ReturnType<typeof simulatedNsqd> {
  const topics: TopicFixture[] = [
    {
      topic_name: "orders", message_count: 0, depth: 0,
      channels: [
        { channel_name: "archive", message_count: 0, depth: 50, in_flight_count: 4, deferred_count: 2, requeue_count: 3, timeout_count: 1, client_count: 1,
          clients: [{ client_id: "w1", hostname: "worker1", version: "V2", remote_address: "127.0.0.1:50001", state: 3, ready_count: 10, in_flight_count: 4, message_count: 0, finish_count: 0, requeue_count: 3, connect_ts: Math.floor(Date.now() / 1000) - 5, user_agent: "nsq_tail/1.3.0 go-nsq/1.1.0", tls: false }] },
        { channel_name: "billing", message_count: 0, depth: 7, client_count: 0 },
      ],
    },
    { topic_name: "zebra", message_count: 3, depth: 900, channels: [] },
  ];
  const node = simulatedNsqd(topics, (ts) => {
    const t = ts[0]!;
    t.message_count! += 100;
    const archive = t.channels[0]!;
    if (!archive.paused) {
      archive.message_count! += 100;
      (archive.clients![0] as { message_count: number }).message_count += 100;
    }
  });
  cleanups.push(() => node.stop());
  return node;
}

describe("dashboard (simulated nodes)", () => {
  test("topics list with rates that move, sparkline, and per-node breakdown", async () => {
    const node = busyNode();
    const ui = startUi([node.address]);
    const f = await ui.until("a rate for orders", (fr) => rowOf(fr, "orders") !== "" && !rowOf(fr, "orders").includes(" - "));
    const header = ui.lines().find((l) => l.startsWith("TOPIC"))!;
    expect(header).toMatch(/^TOPIC▲\s+STATE\s+DEPTH\s+MEM\s+INFLT\s+DEF\s+REQ\s+T-O\s+CHANS\s+CONS\s+NODES\s+IN\/s\s+OUT\/s\s+TREND$/);
    expect(f).toContain("nsq stat · 1 node: 1 up · 2 topics");
    const orders = rowOf(f, "orders").trim().split(/\s+/);
    // name, depth 0, mem 0, inflt 4, def 2, req 3, t-o 1, chans 2, cons 1, nodes 1/1, in/s, out/s, trend
    expect(orders.slice(0, 10)).toEqual(["orders", "0", "0", "4", "2", "3", "1", "2", "1", "1/1"]);
    expect(Number(orders[10])).toBeGreaterThan(100); // 100 messages per 100 ms poll ≈ 1000/s
    expect(cell(f, "orders", "IN/s")).toBe(orders[10]!);
    expect(cell(f, "orders", "CONS")).toBe("1");
    expect(orders[12]).toMatch(/[▁▂▃▄▅▆▇█]/);
    expect(f).toContain("topic orders by node");
    expect(rowOf(f, node.address)).not.toBe("");
  });

  test("enter drills into channels and clients, esc and backspace go back up", async () => {
    const node = busyNode();
    const ui = startUi([node.address]);
    await ui.until("topics", (fr) => rowOf(fr, "orders") !== "");
    ui.press("\r");
    let f = await ui.until("channels of orders", (fr) => fr.includes("topics › orders") && rowOf(fr, "archive") !== "");
    expect(rowOf(f, "billing")).not.toBe("");
    expect(f).toContain("channel orders/archive by node");
    ui.press("j");
    f = await ui.until("billing selected", (fr) => fr.includes("channel orders/billing by node"));
    ui.press("k");
    ui.press("\r");
    f = await ui.until("clients of archive", (fr) => fr.includes("topics › orders › archive") && rowOf(fr, "worker1:50001") !== "");
    expect(f).toMatch(/CLIENT▲\s+STATE\s+RDY\s+INFLT\s+TLS\s+COMPR\s+MSGS\s+FIN\s+MSG\/s\s+USER AGENT/);
    await ui.until("client rate", (fr) => Number(cell(fr, "worker1:50001", "MSG/s")) > 0);
    ui.press(ESC);
    await ui.until("back to channels", (fr) => /^topics › orders\s{2}/m.test(fr));
    ui.press("\x7f"); // backspace as terminals send it
    await ui.until("back to topics", (fr) => /^topics\s{2}/m.test(fr));
  });

  test("p pauses the selected channel on the node and p again unpauses it", async () => {
    const node = busyNode();
    const ui = startUi([node.address]);
    await ui.until("topics", (fr) => rowOf(fr, "orders") !== "");
    ui.press("\r");
    await ui.until("channels", (fr) => rowOf(fr, "archive") !== "");
    ui.press("p");
    await ui.until("paused shown", (fr) => /^archive\s+paused/m.test(fr) && fr.includes("paused channel orders/archive on 1 node"));
    expect(node.actions).toEqual(["POST /channel/pause?topic=orders&channel=archive"]);
    expect(node.topics[0]!.channels[0]!.paused).toBe(true);
    ui.press("p");
    await ui.until("unpaused", (fr) => fr.includes("unpaused channel orders/archive on 1 node") && !/^archive\s+paused/m.test(fr));
    expect(node.topics[0]!.channels[0]!.paused).toBe(false);
  });

  test("e asks to confirm; anything but y cancels; y empties on the node", async () => {
    const node = busyNode();
    const ui = startUi([node.address]);
    await ui.until("topics", (fr) => rowOf(fr, "orders") !== "");
    ui.press("\r");
    await ui.until("channels", (fr) => rowOf(fr, "billing") !== "");
    ui.press("j");
    ui.press("e");
    await ui.until("prompt", (fr) => fr.includes("Empty channel orders/billing on every node?"));
    ui.press("n");
    await ui.until("cancelled", (fr) => fr.includes("empty cancelled"));
    expect(node.actions).toEqual([]);
    ui.press("e");
    await ui.until("prompt again", (fr) => fr.includes("(y/N)"));
    ui.press("y");
    await ui.until("emptied", (fr) => fr.includes("emptied channel orders/billing on 1 node"));
    expect(node.actions).toEqual(["POST /channel/empty?topic=orders&channel=billing"]);
    expect(node.topics[0]!.channels[1]!.depth).toBe(0);
  });

  test("/ filters by name, s changes the sort, q quits", async () => {
    const node = busyNode();
    const ui = startUi([node.address]);
    await ui.until("topics", (fr) => rowOf(fr, "zebra") !== "");
    ui.press("/");
    ui.press("z");
    ui.press("e");
    let f = await ui.until("filtered", (fr) => fr.includes("filter: ze") && rowOf(fr, "orders") === "");
    expect(rowOf(f, "zebra")).not.toBe("");
    ui.press("\r");
    ui.press("/");
    ui.press(ESC);
    await ui.until("filter cleared", (fr) => rowOf(fr, "orders") !== "" && !fr.includes("filter:"));
    ui.press("s"); // by depth: zebra (900) before orders (0)
    f = await ui.until("sorted by depth", (fr) => fr.includes("sort: depth"));
    const names = ui.lines().filter((l) => /^(orders|zebra) /.test(l)).map((l) => l.split(" ")[0]);
    expect(names).toEqual(["zebra", "orders"]);
    ui.press("s"); // by rate: orders moves, zebra does not
    await ui.until("sorted by rate", (fr) => fr.includes("sort: rate"));
    expect(ui.lines().filter((l) => /^(orders|zebra) /.test(l)).map((l) => l.split(" ")[0])).toEqual(["orders", "zebra"]);
    ui.press("q");
    await ui.until("unmounted", () => true);
  });

  test("a node that stops answering is shown as DOWN, the rest keeps updating", async () => {
    const a = busyNode();
    const b = busyNode();
    const ui = startUi([a.address, b.address]);
    await ui.until("two nodes", (fr) => fr.includes("2 nodes: 2 up") && fr.includes("1/2") === false && rowOf(fr, "orders").includes("2/2"));
    await b.stop();
    const f = await ui.until("down shown", (fr) => fr.includes("2 nodes: 1 up, 1 DOWN") && rowOf(fr, "orders").includes("1/2"));
    expect(f).toContain(`${b.address} DOWN`);
    expect(f).toContain("connection refused");
    expect(rowOf(f, "orders")).toMatch(/degr\./);
    const downRow = rowOf(f, b.address);
    expect(downRow).toContain("DOWN");
  });

  test("80×24: every line fits, nothing wraps, one line stays free", async () => {
    const node = busyNode();
    const ui = startUi([node.address], { width: 80, height: 24 });
    await ui.until("rows", (fr) => rowOf(fr, "orders") !== "");
    const lines = ui.lines();
    expect(lines.length).toBe(23);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80);
    const header = lines.find((l) => l.startsWith("TOPIC"))!;
    for (const col of ["STATE", "DEPTH", "INFLT", "DEF", "REQ", "T-O", "CONS", "IN/s", "OUT/s", "TREND"]) expect(header).toContain(col);
  });

  test("a larger terminal gets more columns and rows", async () => {
    const node = busyNode();
    const ui = startUi([node.address], { width: 160, height: 50 });
    await ui.until("rows", (fr) => rowOf(fr, "orders") !== "");
    const lines = ui.lines();
    expect(lines.length).toBe(49);
    const header = lines.find((l) => l.startsWith("TOPIC"))!;
    for (const col of ["MEM", "DISK", "MSGS", "CHANS", "NODES"]) expect(header).toContain(col);
  });
});

describe("a hung node (issue 6)", () => {
  const INTERVAL = 200;

  /** One topic whose traffic grows every poll, so IN/s differs from one poll to the next. */
  function acceleratingNode(): FakeNode {
    let k = 0;
    const node = simulatedNsqd([{ topic_name: "orders", message_count: 0, channels: [] }], (ts) => {
      k++;
      ts[0]!.message_count! += 100 * k;
    });
    cleanups.push(() => node.stop());
    return node;
  }

  /** Waits until the orders row has shown `n` different IN/s values (the rate keeps moving). */
  async function ratesKeepMoving(ui: Ui, n: number): Promise<void> {
    const seen = new Set<string>();
    await ui.until(`${n} different IN/s values for orders (seen: ${[...seen].join(", ")})`, (fr) => {
      const v = cell(fr, "orders", "IN/s");
      if (v !== "" && v !== "-") seen.add(v);
      return seen.size >= n;
    }, (n + 3) * INTERVAL + 1000);
  }

  test("a node that accepts connections but never answers: DOWN within ~2 intervals, the live node's rates keep moving", async () => {
    const live = acceleratingNode();
    const silent = silentListener();
    cleanups.push(() => silent.stop());
    // the real defaults (5 s request timeout): the poll must not wait for them
    const ui = startUi([live.address, silent.address], { intervalMs: INTERVAL, timeouts: DEFAULT_TIMEOUTS });
    const f = await ui.until(
      "silent node DOWN (not answering), live node up",
      (fr) => fr.includes("2 nodes: 1 up, 1 DOWN") && fr.includes(`${silent.address} DOWN`) && fr.includes("not answering"),
      2 * INTERVAL + 600,
    );
    expect(f).toContain("every 200ms");
    expect(silent.accepted()).toBeGreaterThan(0);
    await ratesKeepMoving(ui, 4);
    expect(ui.frame()).toContain("2 nodes: 1 up, 1 DOWN");
  });

  test("a node that stops answering mid-run (kill -STOP): DOWN within ~2 intervals, the other keeps updating", async () => {
    const live = acceleratingNode();
    let hung = false;
    const stuck = fakeNode(() =>
      hung ? new Promise<Response>(() => {}) : json(statsDocument([{ topic_name: "orders", message_count: 5, channels: [] }])),
    );
    cleanups.push(() => stuck.stop());
    const ui = startUi([live.address, stuck.address], { intervalMs: INTERVAL, timeouts: DEFAULT_TIMEOUTS });
    await ui.until("both up", (fr) => fr.includes("2 nodes: 2 up") && rowOf(fr, "orders").includes("2/2"));
    hung = true;
    const hungAt = Date.now();
    // its next request starts within one interval and counts as not answering one interval later
    const f = await ui.until(
      "stuck node DOWN (not answering)",
      (fr) => fr.includes("2 nodes: 1 up, 1 DOWN") && fr.includes(`${stuck.address} DOWN`) && fr.includes("not answering"),
      3 * INTERVAL + 600,
    );
    expect(Date.now() - hungAt).toBeLessThan(3 * INTERVAL + 600);
    expect(rowOf(f, "orders")).toContain("1/2");
    await ratesKeepMoving(ui, 4);
  });
});

describe("before the first poll (issue 6)", () => {
  /** A monitor that never publishes: what the screen shows while the first poll is out. */
  const silentMonitor: MonitorHandle = {
    latest: null,
    intervalMs: 1000,
    subscribe: () => () => {},
    act: async () => "",
  };

  function renderAt(levels: Level[]): string {
    const r = render(createElement(App, { monitor: silentMonitor, initialLevels: levels, width: 100, height: 24 }));
    cleanups.push(() => r.unmount());
    return (r.lastFrame() ?? "").replace(ANSI, "");
  }

  test("--topic --channel: the clients level shows client columns, not channel columns", () => {
    const f = renderAt([{ kind: "topics" }, { kind: "channels", topic: "t1" }, { kind: "clients", topic: "t1", channel: "c1" }]);
    expect(f).toContain("topics › t1 › c1");
    expect(f).toMatch(/^CLIENT▲\s/m);
    expect(f).not.toMatch(/^CHANNEL/m);
    expect(f).toContain("waiting for the first poll");
  });

  test("--topic alone: channel columns; nothing given: topic columns", () => {
    expect(renderAt([{ kind: "topics" }, { kind: "channels", topic: "t1" }])).toMatch(/^CHANNEL▲\s/m);
    expect(renderAt([{ kind: "topics" }])).toMatch(/^TOPIC▲\s/m);
  });
});

// ---------------------------------------------------------------------------------------------
// live: the real broker, HTTP publishing and a raw TCP V2 consumer

type NsqdCtor = new (opts: Record<string, unknown>) => { start(): Promise<void>; close(): Promise<void>; httpPort: number; tcpPort: number };

async function loadBroker(): Promise<NsqdCtor | null> {
  try {
    const mod = (await import("../src/server/nsqd.ts")) as { Nsqd: NsqdCtor };
    return mod.Nsqd;
  } catch {
    return null;
  }
}

/** The live tests need the broker's /stats and /channel/pause routes (the lead is writing them). */
async function brokerHasStats(Nsqd: NsqdCtor | null): Promise<boolean> {
  if (!Nsqd) return false;
  const dir = mkdtempSync(join(tmpdir(), "nsq-stat-probe-"));
  const n = new Nsqd({ tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", dataPath: dir, logLevel: "fatal" });
  try {
    await n.start();
    const res = await fetch(`http://127.0.0.1:${n.httpPort}/stats?format=json`);
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  } finally {
    await n.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

const Broker = await loadBroker();
const live = await brokerHasStats(Broker);

async function startBroker() {
  const dir = mkdtempSync(join(tmpdir(), "nsq-stat-live-"));
  const n = new Broker!({ tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", dataPath: dir, logLevel: "fatal" });
  await n.start();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await n.close();
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.push(close);
  return { address: `127.0.0.1:${n.httpPort}`, tcpPort: n.tcpPort, close };
}

/** Minimal V2 consumer: SUB, RDY, FIN every message (frame type 2). */
async function consume(tcpPort: number, topic: string, channel: string): Promise<{ received: () => number; close: () => void }> {
  let received = 0;
  let buf = Buffer.alloc(0);
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port: tcpPort,
    socket: {
      data(s, chunk) {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 8) {
          const size = buf.readInt32BE(0);
          if (buf.length < 4 + size) break;
          const type = buf.readInt32BE(4);
          const body = buf.subarray(8, 4 + size);
          if (type === 0 && body.toString() === "_heartbeat_") s.write("NOP\n");
          if (type === 2) {
            received++;
            s.write(`FIN ${body.subarray(10, 26).toString()}\n`);
          }
          buf = buf.subarray(4 + size);
        }
      },
    },
  });
  sock.write(`  V2SUB ${topic} ${channel}\nRDY 100\n`);
  const close = () => sock.end();
  cleanups.push(close);
  return { received: () => received, close };
}

function publishEvery(address: string, topic: string, ms: number): () => void {
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      await fetch(`http://${address}/mpub?topic=${topic}`, { method: "POST", body: "a\nb\nc\nd\ne\n" }).then((r) => r.arrayBuffer()).catch(() => {});
      await Bun.sleep(ms);
    }
  };
  void loop();
  const stop = () => void (stopped = true);
  cleanups.push(stop);
  return stop;
}

async function channelPaused(address: string, topic: string, channel: string): Promise<boolean> {
  const stats = (await (await fetch(`http://${address}/stats?format=json&topic=${topic}&channel=${channel}`)).json()) as {
    topics: Array<{ channels: Array<{ paused: boolean }> }>;
  };
  return stats.topics[0]!.channels[0]!.paused;
}

describe.skipIf(!live)("dashboard (live broker)", () => {
  test("rates move with traffic; p pauses the channel on the server; a killed node shows as down", async () => {
    const n1 = await startBroker();
    const n2 = await startBroker();
    publishEvery(n1.address, "live", 20);
    publishEvery(n2.address, "live", 20);
    const c1 = await consume(n1.tcpPort, "live", "work");
    await consume(n2.tcpPort, "live", "work");
    const ui = startUi([n1.address, n2.address], { intervalMs: 200 });

    await ui.until("topic rate", (fr) => Number(cell(fr, "live", "IN/s")) > 0, 8000);
    ui.press("\r");
    await ui.until("channel with consumers and rate", (fr) => cell(fr, "work", "CONS") === "2" && Number(cell(fr, "work", "IN/s")) > 0, 8000);
    await waitFor("messages consumed", () => c1.received() > 0);

    ui.press("p");
    await ui.until("paused in the UI", (fr) => /^work\s+paused/m.test(fr), 8000);
    expect(await channelPaused(n1.address, "live", "work")).toBe(true);
    expect(await channelPaused(n2.address, "live", "work")).toBe(true);

    await n2.close();
    const f = await ui.until("node down", (fr) => fr.includes("1 DOWN") && fr.includes(`${n2.address} DOWN`), 8000);
    expect(rowOf(f, "work")).toContain("paused");
    ui.press("p");
    await ui.until("unpaused on the live node", (fr) => fr.includes("unpaused channel live/work on 1 node; 1 failed"), 8000);
    expect(await channelPaused(n1.address, "live", "work")).toBe(false);
  }, 30_000);
});
