#!/usr/bin/env bun
/**
 * A broker with many topics: writes a data directory with N topics of one channel each (nsqd.dat
 * as nsqd writes it, a go-diskqueue metadata file per queue, a few messages on disk in every 10th
 * channel; see scripts/many-topics-data.ts), then for each N measures
 *
 *   start → /ping, resident memory once idle, idle CPU, GET /stats?format=json, SIGTERM → exit,
 *   restart → /ping (from the directory the graceful stop left), and the time per topic+channel
 *   created over HTTP on top of the N (so a slowdown with N shows);
 *
 * then, on a broker started empty, creates the N topics + channels over HTTP (one client,
 * sequential /topic/create + /channel/create) and reports the time per create for the first and
 * the last tenth, and the resident memory per topic+channel created that way (--no-http-create
 * skips this part).
 *
 *   bun scripts/many-topics.ts [--topics=1000,10000,50000] [--program=src/cli.ts|dist/nsq]
 *                              [--idle-seconds=5] [--creates=200] [--keep]
 *
 * Every broker gets free loopback ports and a fresh temporary data directory (removed afterwards
 * unless --keep). The machine is usually shared: trust ratios more than absolute figures.
 */
import { mkdtempSync, rmSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { DEFAULT_LAYOUT, writeManyTopicsDataDir } from "./many-topics-data.ts";
import { commandFor, freePort } from "./startup-time.ts";

const REPO_ROOT = resolve(import.meta.dir, "..");
const PING_DEADLINE_MS = 600_000;
const CLOCK_TICKS_PER_SECOND = 100; // Linux USER_HZ

interface Options {
  topics: number[];
  program: string;
  idleSeconds: number;
  creates: number;
  keep: boolean;
  httpCreate: boolean;
}

interface Row {
  topics: number;
  startMs: number;
  rssMb: number;
  emptyRssMb: number;
  idleCpuPct: number;
  statsMs: number;
  createMs: number;
  stopMs: number;
  restartMs: number;
  restartStopMs: number;
  http: HttpCreated | null;
}

interface HttpCreated {
  firstTenthMs: number;
  lastTenthMs: number;
  rssAboveEmptyMb: number;
}

class Broker {
  readonly httpPort = freePort();
  readonly child: Subprocess<"ignore", "ignore", ReturnType<typeof Bun.file>>;
  /** the broker's log (default level, as an operator runs it), beside the data directory */
  private readonly logFile: string;

  constructor(program: string, dataDir: string) {
    const cmd = commandFor(program);
    this.logFile = `${dataDir}.log`;
    this.child = Bun.spawn(
      [...cmd, "serve", `--tcp-address=127.0.0.1:${freePort()}`, `--http-address=127.0.0.1:${this.httpPort}`, `--data-path=${dataDir}`],
      { stdout: "ignore", stderr: Bun.file(this.logFile) },
    );
  }

  private logTail(): string {
    try {
      return readFileSync(this.logFile, "utf8").trim().split("\n").slice(-5).join("\n");
    } catch {
      return "(no log)";
    }
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.httpPort}${path}`;
  }

  /** ms from `since` until /ping answers 200. */
  async waitForPing(since: number): Promise<number> {
    for (;;) {
      try {
        const res = await fetch(this.url("/ping"));
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - since;
      } catch {
        // not listening yet
      }
      if (this.child.exitCode !== null) {
        throw new Error(`broker exited with ${this.child.exitCode}: ${this.logTail()}`);
      }
      if (performance.now() - since > PING_DEADLINE_MS) throw new Error(`/ping did not answer within ${PING_DEADLINE_MS} ms`);
      await Bun.sleep(5);
    }
  }

  rssMb(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, "utf8");
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m === null ? NaN : Number(m[1]) / 1024;
  }

  cpuTicks(): number {
    const stat = readFileSync(`/proc/${this.child.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  }

  async idleCpuPercent(seconds: number): Promise<number> {
    const before = this.cpuTicks();
    const t0 = performance.now();
    await Bun.sleep(seconds * 1000);
    const ticks = this.cpuTicks() - before;
    return ((ticks / CLOCK_TICKS_PER_SECOND) * 1000 * 100) / (performance.now() - t0);
  }

  /** Median of 3 GET /stats?format=json (after one warm-up). */
  async statsMs(): Promise<number> {
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      const res = await fetch(this.url("/stats?format=json"));
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`/stats answered ${res.status}`);
      if (i > 0) times.push(performance.now() - t0);
    }
    return median(times);
  }

  /** Mean ms per topic + channel created over HTTP, `count` of them from `first` on, one client, sequential. */
  async createMs(count: number, first = 0, prefix = "created"): Promise<number> {
    const t0 = performance.now();
    for (let i = first; i < first + count; i++) {
      const topic = `${prefix}${String(i).padStart(6, "0")}`;
      for (const path of [`/topic/create?topic=${topic}`, `/channel/create?topic=${topic}&channel=c`]) {
        const res = await fetch(this.url(path), { method: "POST" });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
      }
    }
    return (performance.now() - t0) / count;
  }

  /** ms from SIGTERM to exit; throws when the exit is not clean. */
  async stop(): Promise<number> {
    const t0 = performance.now();
    this.child.kill("SIGTERM");
    const code = await this.child.exited;
    const ms = performance.now() - t0;
    if (code !== 0) throw new Error(`broker exited with ${code} on SIGTERM: ${this.logTail()}`);
    rmSync(this.logFile, { force: true });
    return ms;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function emptyBrokerRssMb(opts: Options): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "nsq-many-topics-empty-"));
  const broker = new Broker(opts.program, dir);
  try {
    await broker.waitForPing(performance.now());
    await Bun.sleep(1000);
    return broker.rssMb();
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(n: number, opts: Options, emptyRssMb: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), `nsq-many-topics-${n}-`));
  try {
    const t0 = performance.now();
    writeManyTopicsDataDir(dir, { topics: n, ...DEFAULT_LAYOUT });
    process.stderr.write(`  ${n} topics: data directory written in ${((performance.now() - t0) / 1000).toFixed(1)} s (${dir})\n`);

    let broker = new Broker(opts.program, dir);
    const startMs = await broker.waitForPing(performance.now());
    await Bun.sleep(1000); // let start-up garbage be collected before reading RSS
    const rssMb = broker.rssMb();
    const idleCpuPct = await broker.idleCpuPercent(opts.idleSeconds);
    const statsMs = await broker.statsMs();
    const createMs = opts.creates > 0 ? await broker.createMs(opts.creates) : NaN;
    const stopMs = await broker.stop();

    broker = new Broker(opts.program, dir);
    const restartMs = await broker.waitForPing(performance.now());
    const restartStopMs = await broker.stop();
    const http = opts.httpCreate ? await measureHttpCreated(n, opts, emptyRssMb) : null;
    return { topics: n, startMs, rssMb, emptyRssMb, idleCpuPct, statsMs, createMs, stopMs, restartMs, restartStopMs, http };
  } finally {
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** N topics + channels created over HTTP on an empty broker. */
async function measureHttpCreated(n: number, opts: Options, emptyRssMb: number): Promise<HttpCreated> {
  const dir = mkdtempSync(join(tmpdir(), `nsq-many-topics-http-${n}-`));
  const broker = new Broker(opts.program, dir);
  try {
    await broker.waitForPing(performance.now());
    const tenth = Math.max(1, Math.floor(n / 10));
    const firstTenthMs = await broker.createMs(tenth, 0, "t");
    await broker.createMs(n - 2 * tenth, tenth, "t");
    const lastTenthMs = await broker.createMs(tenth, n - tenth, "t");
    await Bun.sleep(1000);
    const rssAboveEmptyMb = broker.rssMb() - emptyRssMb;
    return { firstTenthMs, lastTenthMs, rssAboveEmptyMb };
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function printTable(rows: Row[], opts: Options): void {
  const header = [
    "topics (+1 channel each)",
    "start → /ping",
    "RSS idle (above empty broker)",
    "per topic+channel",
    "idle CPU",
    "/stats json",
    `HTTP create (${opts.creates} more)`,
    "SIGTERM → exit (2nd run)",
    "restart → /ping",
  ];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---:").join("|")}|`];
  for (const r of rows) {
    const above = r.rssMb - r.emptyRssMb;
    lines.push(
      `| ${r.topics.toLocaleString("en-US")} | ${(r.startMs / 1000).toFixed(2)} s | ${r.rssMb.toFixed(0)} MB (+${above.toFixed(0)} MB) | ` +
        `${((above * 1024) / r.topics).toFixed(1)} KB | ${r.idleCpuPct.toFixed(1)} % | ${r.statsMs.toFixed(0)} ms | ` +
        `${Number.isNaN(r.createMs) ? "—" : `${r.createMs.toFixed(2)} ms each`} | ${(r.stopMs / 1000).toFixed(2)} s (${(r.restartStopMs / 1000).toFixed(2)} s) | ${(r.restartMs / 1000).toFixed(2)} s |`,
    );
  }
  const http = rows.filter((r) => r.http !== null);
  if (http.length > 0) {
    lines.push("", "| topics created over HTTP on an empty broker | ms per topic+channel, first tenth | last tenth | RSS above empty broker | per topic+channel |", "|---:|---:|---:|---:|---:|");
    for (const r of http) {
      const h = r.http!;
      lines.push(
        `| ${r.topics.toLocaleString("en-US")} | ${h.firstTenthMs.toFixed(2)} ms | ${h.lastTenthMs.toFixed(2)} ms | ${h.rssAboveEmptyMb.toFixed(0)} MB | ` +
          `${((h.rssAboveEmptyMb * 1024) / r.topics).toFixed(1)} KB |`,
      );
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

function parseArgs(argv: readonly string[]): Options {
  const opts: Options = { topics: [1000, 10000, 50000], program: join(REPO_ROOT, "src", "cli.ts"), idleSeconds: 5, creates: 200, keep: false, httpCreate: true };
  for (const arg of argv) {
    const [key, value = ""] = arg.split("=", 2) as [string, string | undefined];
    const int = (what: string): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${what} wants a non-negative integer, got "${value}"`);
      return n;
    };
    if (key === "--topics") {
      opts.topics = value.split(",").map((v) => Number(v.replace(/_/g, "")));
      if (opts.topics.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--topics wants positive integers, got "${value}"`);
    } else if (key === "--program") opts.program = resolve(value);
    else if (key === "--idle-seconds") opts.idleSeconds = int("--idle-seconds");
    else if (key === "--creates") opts.creates = int("--creates");
    else if (key === "--keep") opts.keep = true;
    else if (key === "--no-http-create") opts.httpCreate = false;
    else throw new Error(`unknown argument ${arg} (see the comment at the top of scripts/many-topics.ts)`);
  }
  if (!existsSync(opts.program)) throw new Error(`${opts.program} does not exist`);
  return opts;
}

if (import.meta.main) {
  try {
    const opts = parseArgs(process.argv.slice(2));
    const emptyRssMb = await emptyBrokerRssMb(opts);
    process.stderr.write(`empty broker: ${emptyRssMb.toFixed(0)} MB resident\n`);
    const rows: Row[] = [];
    for (const n of opts.topics) {
      rows.push(await measure(n, opts, emptyRssMb));
      process.stderr.write(`  ${n} topics: done\n`);
    }
    printTable(rows, opts);
  } catch (err) {
    process.stderr.write(`many-topics: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
