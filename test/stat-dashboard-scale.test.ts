/**
 * The `nsq stat` dashboard with 10,000 topics (issue 21 item 5): only the visible window of rows
 * is formatted and rendered, and moving, jumping and filtering work on the whole list.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createElement } from "react";
import { render } from "ink-testing-library";
import { Table } from "../src/tools/stat/dashboard/Table.tsx";
import type { Column } from "../src/tools/stat/dashboard/columns.ts";
import { buildModel, type ClusterModel } from "../src/tools/stat/model.ts";
import { RateTracker } from "../src/tools/stat/rates.ts";
import type { NodeState } from "../src/tools/stat/cluster.ts";
import type { MonitorHandle } from "../src/tools/stat/monitor.ts";
import { parseStats } from "../src/http-api/node-json.ts";
import { statsDocument, type TopicFixture } from "./stat-fixtures.ts";
import { renderDashboard, rowOf } from "./helpers/dashboard-ui.ts";

const N = 10_000;
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;
const name = (i: number) => `topic-${String(i).padStart(5, "0")}`;

const cleanups: Array<() => unknown> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

interface Row {
  key: string;
  name: string;
}

describe("windowed table", () => {
  test("10,000 rows: only the visible rows are formatted; scrolling shows the window around the selection", () => {
    const rows: Row[] = Array.from({ length: N }, (_, i) => ({ key: String(i), name: name(i) }));
    const formatted: string[] = [];
    const columns: Column<Row>[] = [
      { id: "name", title: "TOPIC", width: 20, priority: 0, align: "left", cell: (r) => (formatted.push(r.name), r.name) },
    ];
    const height = 15;
    const props = { columns, rows, width: 60, height, emptyText: "" };
    const r = render(createElement(Table<Row>, { ...props, selected: 0 }));
    cleanups.push(() => r.unmount());
    let lines = (r.lastFrame() ?? "").replace(ANSI, "").split("\n");
    expect(lines.length).toBe(height + 1);
    expect(lines[0]).toMatch(/ 1-15\/10000$/);
    expect(formatted.length).toBe(height);
    expect(formatted).toEqual(rows.slice(0, height).map((x) => x.name));

    formatted.length = 0;
    r.rerender(createElement(Table<Row>, { ...props, selected: N - 1 }));
    lines = (r.lastFrame() ?? "").replace(ANSI, "").split("\n");
    expect(lines[0]).toMatch(/ 9986-10000\/10000$/);
    expect(lines[height]!.trim()).toBe(name(N - 1));
    expect(formatted.length).toBe(height);

    formatted.length = 0;
    r.rerender(createElement(Table<Row>, { ...props, selected: 5000 }));
    lines = (r.lastFrame() ?? "").replace(ANSI, "").split("\n");
    expect(lines.slice(1).map((l) => l.trim())).toContain(name(5000));
    expect(formatted.length).toBe(height);
  });
});

/** A model of one node with N topics of one channel each, as buildModel makes it from /stats. */
function bigModel(): ClusterModel {
  const topics: TopicFixture[] = Array.from({ length: N }, (_, i) => ({
    topic_name: name(i), depth: i % 97, message_count: i, channels: [{ channel_name: "c", depth: i % 97 }],
  }));
  const now = Date.now();
  const node: NodeState = {
    address: "127.0.0.1:4151", hostname: "n1", up: true, error: null, lastOkAt: now, downSince: null,
    stats: parseStats(statsDocument(topics)), sampledAt: now, unlisted: false,
  };
  return buildModel({ at: now, nodes: [node], discoveryErrors: [] }, new RateTracker());
}

describe("dashboard with 10,000 topics", () => {
  test("the screen keeps its height; G, / filter and s sort act on all 10,000 rows", async () => {
    const model = bigModel();
    const monitor: MonitorHandle = { latest: model, intervalMs: 1000, subscribe: (l) => (l(model), () => {}), act: async () => "" };
    const ui = renderDashboard(monitor, { width: 120, height: 30 });
    cleanups.push(() => ui.stop());
    let f = await ui.until("first rows", (fr) => rowOf(fr, name(0)) !== "");
    expect(f).toContain(`${N} topics`);
    expect(ui.lines().length).toBe(29);
    const shown = () => ui.lines().filter((l) => /^topic-\d{5} /.test(l)).length;
    expect(shown()).toBeLessThan(30);
    expect(f).toMatch(/1-\d+\/10000/);

    ui.press("G");
    f = await ui.until("last row", (fr) => rowOf(fr, name(N - 1)) !== "" && fr.includes(`topic ${name(N - 1)} by node`));
    expect(rowOf(f, name(0))).toBe("");
    expect(ui.lines().length).toBe(29);

    ui.press("/");
    ui.type("0424");
    ui.press("\r");
    f = await ui.until("filtered to the matches", (fr) => fr.includes("filter: 0424") && !fr.includes("(enter keep"));
    // topic-00424 and topic-04240 … topic-04249
    expect(ui.lines().filter((l) => /^topic-\d{5} /.test(l)).map((l) => l.split(" ")[0])).toEqual(
      [name(424), ...Array.from({ length: 10 }, (_, i) => name(4240 + i))],
    );

    ui.press("/");
    ui.press("\u001b"); // clear the filter (waited for: ESC and a key right after it read as alt-key)
    await ui.until("filter cleared", (fr) => !fr.includes("filter:") && !fr.includes("(enter keep"));
    ui.press("s"); // depth, largest first: depth 96 rows on top (g: the selection follows its row)
    ui.press("g");
    f = await ui.until("sorted by depth", (fr) => fr.includes("sort: depth ▼") && rowOf(fr, name(96)) !== "");
    const first = ui.lines().find((l) => /^topic-\d{5} /.test(l))!;
    expect(first.split(/\s+/)[1]).toBe("96");
    expect(shown()).toBeLessThan(30);
  });
});
