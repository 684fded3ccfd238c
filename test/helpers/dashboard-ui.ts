/**
 * Drives the `nsq stat` dashboard through ink-testing-library: a real ClusterMonitor polling the
 * given nodes (or lookupds), key presses on stdin, and the frame as plain text.
 */
import { createElement } from "react";
import { render } from "ink-testing-library";
import { App } from "../../src/tools/stat/dashboard/App.tsx";
import { ClusterMonitor, type MonitorHandle, type MonitorOptions } from "../../src/tools/stat/monitor.ts";
import type { HttpTimeouts } from "../../src/http-api/api-request.ts";
import type { ClusterSource } from "../../src/tools/stat/cluster.ts";
import { waitFor } from "../stat-fixtures.ts";

export const ESC = "\u001b";
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

export interface DashboardUi {
  frame(): string;
  lines(): string[];
  press(input: string): void;
  /** types each character as its own key press */
  type(text: string): void;
  until(what: string, check: (frame: string) => boolean, timeoutMs?: number): Promise<string>;
  stop(): void;
}

export interface DashboardUiOptions {
  width?: number;
  height?: number;
  intervalMs?: number;
  timeouts?: HttpTimeouts;
  monitorOptions?: MonitorOptions;
  messageTtlMs?: number;
}

/** Renders the app around any monitor (a real one, or a stub holding a fixed model). */
export function renderDashboard(monitor: MonitorHandle, opts: DashboardUiOptions = {}): DashboardUi {
  const r = render(
    createElement(App, { monitor, width: opts.width ?? 100, height: opts.height ?? 24, messageTtlMs: opts.messageTtlMs }),
  );
  const frame = () => (r.lastFrame() ?? "").replace(ANSI, "");
  return {
    frame,
    lines: () => frame().split("\n"),
    press: (input) => r.stdin.write(input),
    type: (text) => {
      for (const ch of text) r.stdin.write(ch);
    },
    async until(what, check, timeoutMs = 5000) {
      let last = "";
      try {
        await waitFor(what, () => check((last = frame())), timeoutMs);
      } catch {
        throw new Error(`timed out waiting for ${what}; last frame:\n${last}`);
      }
      return frame();
    },
    stop: () => r.unmount(),
  };
}

/** A real monitor polling `source` every `intervalMs` (100 ms default), and the app on top. */
export function startDashboard(source: Partial<ClusterSource>, opts: DashboardUiOptions = {}): DashboardUi & { monitor: ClusterMonitor } {
  const monitor = new ClusterMonitor(
    { nsqdHttpAddresses: source.nsqdHttpAddresses ?? [], lookupdHttpAddresses: source.lookupdHttpAddresses ?? [] },
    opts.intervalMs ?? 100,
    opts.timeouts ?? { connectTimeoutMs: 1000, requestTimeoutMs: 1000 },
    opts.monitorOptions,
  );
  monitor.start();
  const ui = renderDashboard(monitor, opts);
  return {
    ...ui,
    monitor,
    stop() {
      ui.stop();
      monitor.stop();
    },
  };
}

/** The line of the row named `name` ("" when not shown). */
export function rowOf(frame: string, name: string): string {
  return frame.split("\n").find((l) => l.startsWith(`${name} `)) ?? "";
}

/** Row names of the table, top to bottom, among `names`. */
export function rowOrder(frame: string, names: string[]): string[] {
  return frame.split("\n").map((l) => l.split(" ")[0]!).filter((n) => names.includes(n));
}

/** The header line of the main table. */
export function headerOf(frame: string): string {
  return frame.split("\n").find((l) => /^(TOPIC|CHANNEL|CLIENT)[▲▼ ]/.test(l)) ?? "";
}

/** The value of a right-aligned column (by its header title) in the row named `name`. */
export function cell(frame: string, name: string, title: string): string {
  const row = rowOf(frame, name);
  const header = headerOf(frame);
  const m = new RegExp(`\\s${title.replace(/[/]/g, "\\/")}[▲▼]?(\\s|$)`).exec(header);
  if (!m || !row) return "";
  const end = m.index + m[0].trimEnd().length;
  return row.slice(0, end).trim().split(/\s+/).pop() ?? "";
}
