/**
 * Puts the dashboard on the terminal: alternate screen (the shell's scrollback is left intact),
 * a frame one line shorter than the terminal (ink clears the whole screen otherwise),
 * and the monitor stopped and the screen restored however the app ends.
 */
import { render } from "ink";
import { App } from "./App.tsx";
import { ClusterMonitor } from "../monitor.ts";
import type { ClusterSource } from "../cluster.ts";
import type { HttpTimeouts } from "../../../http-api/api-request.ts";
import type { Level } from "./view.ts";

export interface DashboardOptions {
  source: ClusterSource;
  intervalMs: number;
  timeouts: HttpTimeouts;
  initialLevels?: Level[];
  downGraceMs?: number;
  rateWindowMs?: number;
}

const ENTER_ALT_SCREEN = "\x1b[?1049h\x1b[H";
const LEAVE_ALT_SCREEN = "\x1b[?1049l";

export async function runDashboard(opts: DashboardOptions): Promise<number> {
  const monitor = new ClusterMonitor(opts.source, opts.intervalMs, opts.timeouts, {
    downGraceMs: opts.downGraceMs,
    rateWindowMs: opts.rateWindowMs,
  });
  monitor.start();
  process.stdout.write(ENTER_ALT_SCREEN);
  const restore = () => process.stdout.write(LEAVE_ALT_SCREEN);
  process.once("exit", restore);
  const instance = render(<App monitor={monitor} initialLevels={opts.initialLevels} />, {
    // ink 6.8's incrementalRendering leaves stale lines behind in real terminals (seen in tmux);
    // full redraws are wrapped in synchronized-output escapes where supported, and ink only
    // writes when the frame changed (once per refresh), so they do not flicker
    incrementalRendering: false,
    maxFps: 20,
    patchConsole: true,
  });
  const onSignal = () => instance.unmount();
  for (const s of ["SIGTERM", "SIGHUP"] as const) process.once(s, onSignal);
  try {
    await instance.waitUntilExit();
  } finally {
    monitor.stop();
    for (const s of ["SIGTERM", "SIGHUP"] as const) process.off(s, onSignal);
    process.off("exit", restore);
    restore();
  }
  return 0;
}
