/**
 * Process memory figures that never throw. Bun reads them from /proc/self, which needs a file
 * descriptor: when the process has run out of them (EMFILE, thousands of clients over `ulimit -n`),
 * `process.memoryUsage()` throws "Failed to get memory usage" — and an exception from the broker's
 * scan loop took the whole process down with every connected client.
 */
import { heapStats } from "bun:jsc";

/** Resident set size in bytes, or null when it cannot be read right now. */
export function residentBytes(): number | null {
  try {
    return process.memoryUsage.rss();
  } catch {
    return null;
  }
}

/** heapTotal / heapUsed; from JavaScriptCore's own counters (no file needed) when /proc cannot be read. */
export function heapUsage(): { heapTotal: number; heapUsed: number } {
  try {
    const m = process.memoryUsage();
    return { heapTotal: m.heapTotal, heapUsed: m.heapUsed };
  } catch {
    const h = heapStats();
    return { heapTotal: h.heapCapacity, heapUsed: h.heapSize };
  }
}
