/**
 * The `nsq stat` dashboard's keys and views (issue 16): the `?` help, the sort marker and its
 * reversal, footer messages that clear, the TREND legend, and the client view with states as
 * words, TLS, compression, user agent, RDY and in-flight. Simulated nodes with fixed counters.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { KEY_HELP } from "../src/tools/stat/dashboard/help.ts";
import { buildScreen } from "../src/tools/stat/dashboard/view.ts";
import { currentLevel, handleKey, initialUi, selectedIndex, type KeyInfo, type UiState } from "../src/tools/stat/dashboard/keys.ts";
import { buildModel, type ClusterModel } from "../src/tools/stat/model.ts";
import { RateTracker } from "../src/tools/stat/rates.ts";
import { parseStats } from "../src/http-api/node-json.ts";
import type { NodeState } from "../src/tools/stat/cluster.ts";
import { simulatedNsqd, statsDocument, type TopicFixture } from "./stat-fixtures.ts";
import { ESC, cell, headerOf, rowOf, rowOrder, startDashboard, type DashboardUiOptions } from "./helpers/dashboard-ui.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function client(id: string, port: number, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    client_id: id, hostname: id, version: "V2", remote_address: `127.0.0.1:${port}`, state: 3,
    ready_count: 0, in_flight_count: 0, message_count: 0, finish_count: 0, requeue_count: 0,
    connect_ts: Math.floor(Date.now() / 1000) - 65, sample_rate: 0, deflate: false, snappy: false,
    user_agent: "", tls: false, tls_cipher_suite: "", tls_version: "", ...extra,
  };
}

/** Three topics with different depths and consumers; orders/work has three quite different clients. */
function fixtureNode() {
  const topics: TopicFixture[] = [
    { topic_name: "alpha", depth: 5, channels: [{ channel_name: "c", client_count: 3 }] },
    {
      topic_name: "orders", depth: 300, channels: [{
        channel_name: "work", client_count: 3, in_flight_count: 9,
        clients: [
          client("secure", 50001, { tls: true, tls_version: "TLS1.3", snappy: true, ready_count: 25, in_flight_count: 7, user_agent: "go-nsq/1.1.0" }),
          client("deflater", 50002, { deflate: true, ready_count: 1, in_flight_count: 1, user_agent: "nsqjs/0.13.0" }),
          client("closing", 50003, { state: 4, ready_count: 0, in_flight_count: 1, user_agent: "pynsq/0.9" }),
        ],
      }],
    },
    { topic_name: "zulu", depth: 40, channels: [] },
  ];
  const node = simulatedNsqd(topics);
  cleanups.push(() => node.stop());
  return node;
}

function start(opts: DashboardUiOptions = {}) {
  const node = fixtureNode();
  const ui = startDashboard({ nsqdHttpAddresses: [node.address] }, opts);
  cleanups.push(() => ui.stop());
  return { node, ui };
}

const TOPICS = ["alpha", "orders", "zulu"];

describe("keys", () => {
  test("? shows every key with what it does, the TREND legend; any key closes it without acting", async () => {
    const { ui } = start({ height: 30 });
    await ui.until("topics", (f) => rowOf(f, "orders") !== "");
    ui.press("?");
    const f = await ui.until("help", (fr) => fr.includes("Keys (any key closes this help)"));
    for (const k of KEY_HELP) {
      expect(f).toContain(k.keys);
      expect(f).toContain(k.does);
    }
    expect(f).toContain("TREND: messages in/s");
    expect(rowOf(f, "orders")).toBe(""); // the overlay replaces the table
    ui.press("q"); // closes the help; does not quit
    await ui.until("table back", (fr) => rowOf(fr, "orders") !== "" && !fr.includes("Keys (any key"));
    ui.press("q");
  });

  test("the sorted column is marked; s moves to the next column, S reverses the direction", async () => {
    const { ui } = start();
    // waits for header and order together: on a loaded machine a 100 ms poll can briefly mark the
    // node "not answering", and a down node's rows all read 0 (then only the name orders them)
    const sortedAs = (what: string, header: RegExp, order: string[]) =>
      ui.until(what, (fr) => header.test(headerOf(fr)) && rowOrder(fr, TOPICS).join() === order.join());

    let f = await sortedAs("by name", /^TOPIC▲ /, ["alpha", "orders", "zulu"]);
    expect(f).toContain("sort: name ▲");
    ui.press("S"); // name, Z→A
    f = await sortedAs("name reversed", /^TOPIC▼ /, ["zulu", "orders", "alpha"]);
    expect(f).toContain("sort: name ▼");
    ui.press("s"); // depth, largest first (direction back to the natural one)
    f = await sortedAs("by depth", /\sDEPTH▼\s/, ["orders", "zulu", "alpha"]);
    expect(headerOf(f)).toMatch(/^TOPIC /);
    expect(f).toContain("sort: depth ▼");
    ui.press("S"); // depth, smallest first
    f = await sortedAs("depth reversed", /\sDEPTH▲\s/, ["alpha", "zulu", "orders"]);
    expect(f).toContain("sort: depth ▲");
    ui.press("s"); // rate: all 0, then by name
    await sortedAs("by rate", /\sIN\/s▼/, ["alpha", "orders", "zulu"]);
    ui.press("s"); // in-flight: orders has 9 (the header title is cut to fit the arrow)
    await sortedAs("by in-flight", /\sINFL▼\s/, ["orders", "alpha", "zulu"]);
    ui.press("s"); // consumers: alpha 3 = orders 3, then by name
    await sortedAs("by consumers", /\sCON▼\s/, ["alpha", "orders", "zulu"]);
    ui.press("s"); // back to name
    await sortedAs("by name again", /^TOPIC▲ /, ["alpha", "orders", "zulu"]);
  });

  test("a footer message clears by itself after a few seconds (here 300 ms)", async () => {
    const { ui } = start({ messageTtlMs: 300 });
    await ui.until("topics", (f) => rowOf(f, "orders") !== "");
    ui.press("e");
    await ui.until("empty prompt", (f) => f.includes("Empty topic alpha on every node?"));
    ui.press("n");
    await ui.until("cancelled message", (f) => f.includes("empty cancelled"));
    await ui.until("message gone, key list back", (f) => !f.includes("empty cancelled") && f.includes("? help"), 3000);
  });

  test("the TREND column has a legend on every level", async () => {
    const { ui } = start();
    let f = await ui.until("topics", (fr) => rowOf(fr, "orders") !== "");
    expect(f).toMatch(/^topics\s+TREND: messages in\/s, last 60 polls, ▁ none … █ the row's peak$/m);
    ui.press("j");
    ui.press("\r");
    ui.press("\r");
    f = await ui.until("clients", (fr) => fr.includes("topics › orders › work"));
    expect(f).toContain("TREND: messages/s sent to the client");
  });
});

describe("client view", () => {
  async function openClients(ui: ReturnType<typeof start>["ui"]): Promise<string> {
    await ui.until("topics", (f) => rowOf(f, "orders") !== "");
    ui.press("j");
    ui.press("\r");
    await ui.until("channels", (f) => rowOf(f, "work") !== "");
    ui.press("\r");
    return ui.until("clients", (f) => rowOf(f, "closing:50003") !== "");
  }

  test("80 columns: state as a word, RDY, in-flight, TLS, compression and user agent per client", async () => {
    const { ui } = start({ width: 80, height: 24 });
    const f = await openClients(ui);
    expect(headerOf(f)).toMatch(/^CLIENT▲\s+STATE\s+RDY\s+INFLT\s+TLS\s+COMPR\s+MSG\/s\s+USER AGENT$/);
    for (const l of ui.lines()) expect([...l].length).toBeLessThanOrEqual(80);
    // MSG/s is "-" until a second poll gives a rate and "0" after it: a loaded machine may poll twice first
    const rateless = (row: string): string[] => row.split(/\s+/).map((c, i) => (i === 6 && c === "0" ? "-" : c));
    expect(rateless(rowOf(f, "secure:50001"))).toEqual(["secure:50001", "subscribed", "25", "7", "TLS1.3", "snappy", "-", "go-nsq/1.1.0"]);
    expect(rateless(rowOf(f, "deflater:50002"))).toEqual(["deflater:50002", "subscribed", "1", "1", "-", "deflate", "-", "nsqjs/0.13.0"]);
    expect(cell(f, "closing:50003", "RDY")).toBe("0");
    expect(rowOf(f, "closing:50003")).toMatch(/^closing:50003\s+closing\s/);
    expect(f).not.toMatch(/\bST\b/);
  });

  test("the selected client's details: everything nsqd reports about it", async () => {
    const { ui } = start({ width: 100, height: 24 });
    let f = await openClients(ui);
    expect(f).toContain("client closing:50003 (id closing, 127.0.0.1:50003)");
    expect(f).toMatch(/state closing · connected 1m\d+s · TLS no · compression none · protocol V2/);
    ui.press("j");
    f = await ui.until("deflater details", (fr) => fr.includes("client deflater:50002 (id deflater, 127.0.0.1:50002)"));
    expect(f).toContain("TLS no · compression deflate");
    ui.press("j");
    f = await ui.until("secure details", (fr) => fr.includes("client secure:50001 (id secure, 127.0.0.1:50001)"));
    expect(f).toMatch(/state subscribed · connected 1m\d+s · TLS TLS1\.3 · compression snappy · protocol V2/);
    expect(f).toMatch(/RDY 25 · in flight 7 · messages 0 · finished 0 · requeued 0/);
    expect(f).toContain("user agent go-nsq/1.1.0");
  });

  test("s on the clients level sorts by client columns (RDY, rate, in-flight, ...)", async () => {
    const { ui } = start({ width: 120 });
    await openClients(ui);
    ui.press("s"); // ready: 25, 1, 0
    const clients = ["secure:50001", "deflater:50002", "closing:50003"];
    await ui.until("by RDY", (fr) => /\sRDY▼\s/.test(headerOf(fr)) && rowOrder(fr, clients).join() === clients.join());
    ui.press(ESC);
    // a sort the channels table has no column for falls back to name there
    await ui.until("channels by name", (fr) => headerOf(fr).startsWith("CHANNEL▲"));
  });
});

// ---------------------------------------------------------------------------------------------
// every key of the help, as a pure state transition on a fixture model

function fixtureModel(): ClusterModel {
  const topics: TopicFixture[] = Array.from({ length: 25 }, (_, i) => ({
    topic_name: `t${String(i).padStart(2, "0")}`, depth: i, paused: i === 1,
    channels: [{ channel_name: "c" }],
  }));
  const now = Date.now();
  const node: NodeState = {
    address: "127.0.0.1:4151", hostname: "n1", up: true, error: null, lastOkAt: now, downSince: null,
    stats: parseStats(statsDocument(topics)), sampledAt: now, unlisted: false,
  };
  return buildModel({ at: now, nodes: [node], discoveryErrors: [] }, new RateTracker());
}

describe("every key in the help does what it says", () => {
  const model = fixtureModel();
  const rows = buildScreen(model, { kind: "topics" }, "", { key: "name", reverse: false }).rows;
  const at = (ui: UiState) => rows[selectedIndex(ui, rows)]!.name;
  const press = (ui: UiState, input: string, key: KeyInfo = {}) => handleKey(ui, model, input, key, 10);
  const start = () => press(initialUi(), "", { downArrow: true }).ui; // on t01

  const cases: Record<string, () => void> = {
    "↑ ↓  j k": () => {
      for (const [input, key] of [["", { downArrow: true }], ["j", {}]] as const) expect(at(press(start(), input, key).ui)).toBe("t02");
      for (const [input, key] of [["", { upArrow: true }], ["k", {}]] as const) expect(at(press(start(), input, key).ui)).toBe("t00");
    },
    "PgUp PgDn": () => {
      const down = press(start(), "", { pageDown: true }).ui;
      expect(at(down)).toBe("t11");
      expect(at(press(down, "", { pageUp: true }).ui)).toBe("t01");
    },
    "Home End  g G": () => {
      for (const [input, key] of [["", { end: true }], ["G", {}]] as const) expect(at(press(start(), input, key).ui)).toBe("t24");
      for (const [input, key] of [["", { home: true }], ["g", {}]] as const) expect(at(press(start(), input, key).ui)).toBe("t00");
    },
    "⏎ →  l": () => {
      for (const [input, key] of [["", { return: true }], ["", { rightArrow: true }], ["l", {}]] as const) {
        expect(currentLevel(press(start(), input, key).ui)).toEqual({ kind: "channels", topic: "t01" });
      }
    },
    "esc ← ⌫  h": () => {
      const inside = press(start(), "", { return: true }).ui;
      for (const [input, key] of [["", { escape: true }], ["", { leftArrow: true }], ["", { backspace: true }], ["h", {}]] as const) {
        expect(currentLevel(press(inside, input, key).ui)).toEqual({ kind: "topics" });
      }
    },
    "/": () => {
      let ui = press(start(), "/").ui;
      expect(ui.editingFilter).toBe(true);
      ui = press(press(ui, "2").ui, "4").ui;
      ui = press(ui, "", { return: true }).ui;
      expect(ui.filter).toBe("24");
      expect(buildScreen(model, currentLevel(ui), ui.filter, ui.sort).rows.map((r) => r.name)).toEqual(["t24"]);
      expect(press(press(ui, "/").ui, "", { escape: true }).ui.filter).toBe("");
    },
    s: () => expect(press(start(), "s").ui.sort).toEqual({ key: "depth", reverse: false }),
    S: () => expect(press(start(), "S").ui.sort).toEqual({ key: "name", reverse: true }),
    p: () => {
      expect(press(start(), "p").effect).toEqual({ kind: "action", action: "unpause", target: { topic: "t01" } }); // t01 is paused
      expect(press(press(start(), "j").ui, "p").effect).toEqual({ kind: "action", action: "pause", target: { topic: "t02" } });
    },
    e: () => {
      const asked = press(start(), "e");
      expect(asked.effect).toBeNull();
      expect(asked.ui.confirm).toEqual({ action: "empty", target: { topic: "t01" } });
      expect(press(asked.ui, "y").effect).toEqual({ kind: "action", action: "empty", target: { topic: "t01" } });
      expect(press(asked.ui, "n").effect).toBeNull();
    },
    n: () => {
      let ui = press(start(), "n").ui;
      expect(ui.namePrompt).toEqual({ topic: null, text: "" });
      for (const ch of "new") ui = press(ui, ch).ui;
      ui = press(ui, "", { return: true }).ui;
      expect(ui.confirm).toEqual({ action: "create", target: { topic: "new" } });
      expect(press(ui, "y").effect).toEqual({ kind: "action", action: "create", target: { topic: "new" } });
      const inTopic = press(press(start(), "", { return: true }).ui, "n").ui;
      expect(inTopic.namePrompt).toEqual({ topic: "t01", text: "" });
    },
    d: () => {
      const asked = press(start(), "d");
      expect(asked.ui.confirm).toEqual({ action: "delete", target: { topic: "t01" } });
      expect(press(asked.ui, "x").effect).toBeNull();
      expect(press(asked.ui, "y").effect).toEqual({ kind: "action", action: "delete", target: { topic: "t01" } });
    },
    "?": () => {
      const open = press(start(), "?").ui;
      expect(open.help).toBe(true);
      const closed = press(open, "d");
      expect(closed.ui.help).toBe(false);
      expect(closed.ui.confirm).toBeNull(); // the closing key does nothing else
    },
    "q  ctrl-c": () => {
      expect(press(start(), "q").effect).toEqual({ kind: "exit" });
      expect(press(start(), "c", { ctrl: true }).effect).toEqual({ kind: "exit" });
    },
  };

  test("the help lists exactly the keys tested here", () => {
    expect(KEY_HELP.map((k) => k.keys).sort()).toEqual(Object.keys(cases).sort());
  });
  for (const [keys, check] of Object.entries(cases)) test(keys, check);
});
