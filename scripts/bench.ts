#!/usr/bin/env bun
/**
 * The standard benchmark matrix (docs/benchmarks.md), printed as a markdown table on stdout;
 * progress and the exact command of every run go to stderr.
 *
 *   bun scripts/bench.ts [--runs=3] [--runfor=10s] [--server-bin=PATH]
 *   bun scripts/bench.ts nsq bench <mode> [flags]     same as `nsq bench …` (runs the command module)
 *
 * Every figure is the median of --runs runs, each in a fresh process against a freshly started
 * server (`nsq bench … --start-server`): PUB and SUB (as nsq's bench.sh), PUB+SUB at once,
 * --mem-queue-size=0, latency at 50k msgs/s, RSS with 1,000,000 × 200-byte messages queued,
 * start-up time of dist/nsq to its first /ping, and the load generator's ceiling against the sink.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { command } from "../src/commands/bench.ts";
import { parseGoFlags } from "../src/util/goflags.ts";
import type { BenchReport } from "../src/tools/bench/report.ts";
import { freePort, processRssKb, startServer } from "../src/tools/bench/server-process.ts";

const ROOT = resolve(import.meta.dir, "..");
const SELF = join(ROOT, "scripts", "bench.ts");

if (process.argv[2] === "nsq" && process.argv[3] === "bench") {
  const code = await command.run(parseGoFlags(process.argv.slice(4), command.flags));
  process.exit(code ?? 0);
}

const matrixArgs = parseGoFlags(process.argv.slice(2), [
  { name: "runs", kind: "int", default: 3, describe: "runs per row (median reported)" },
  { name: "runfor", kind: "string", default: "10s", describe: "publishing time per run" },
  { name: "server-bin", kind: "string", default: "", describe: "server executable (default: dist/nsq if built, else source)" },
]);
const RUNS = Number(matrixArgs["runs"]);
const RUNFOR = String(matrixArgs["runfor"]);
const SERVER_BIN = String(matrixArgs["server-bin"]);
const serverBinFlag = SERVER_BIN ? [`--server-bin=${SERVER_BIN}`] : [];

function log(text: string): void {
  process.stderr.write(text + "\n");
}

/** Runs `nsq bench <args> --json` in a fresh process; returns the report. */
async function bench(args: string[]): Promise<BenchReport> {
  const argv = [process.execPath, SELF, "nsq", "bench", ...args, ...serverBinFlag, "--json"];
  log(`$ nsq bench ${[...args, ...serverBinFlag].join(" ")}`);
  const child = Bun.spawn(argv, { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(child.stdout).text();
  await child.exited;
  const line = out.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as BenchReport;
  } catch {
    throw new Error(`nsq bench ${args.join(" ")} printed no report (exit ${child.exitCode}): ${out.slice(0, 200)}`);
  }
}

function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const k = (n: number) => (Number.isFinite(n) ? fmt.format(n) : "n/a");
const us = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)} µs` : "—");
const ms = (n: number) => (Number.isFinite(n) ? `${(n / 1000).toFixed(2)} ms` : "n/a");

interface Row {
  what: string;
  command: string;
  result: string;
  target: string;
}
const rows: Row[] = [];

async function throughputRow(what: string, args: string[], target: string): Promise<void> {
  const reports: BenchReport[] = [];
  for (let i = 0; i < RUNS; i++) reports.push(await bench(args));
  const phase = (r: BenchReport, name: string) => r.phases.find((p) => p.name === name);
  const pub = median(reports.map((r) => phase(r, "PUB")?.msgsPerSec ?? NaN));
  const sub = median(reports.map((r) => phase(r, "SUB")?.msgsPerSec ?? NaN));
  const pubCpu = median(reports.map((r) => phase(r, "PUB")?.serverCpuUsPerMsg ?? NaN));
  const subCpu = median(reports.map((r) => phase(r, "SUB")?.serverCpuUsPerMsg ?? NaN));
  const checks = reports.every((r) => r.check?.ok !== false) ? "no loss/dup" : "CHECK FAILED";
  const runs = reports.map((r) => r.phases.map((p) => `${p.name} ${k(p.msgsPerSec)}`).join(" / ")).join("; ");
  log(`  runs: ${runs}`);
  let result = `PUB ${k(pub)} · SUB ${k(sub)} msgs/s`;
  if (Number.isFinite(pubCpu)) result += ` · server CPU ${us(pubCpu)} / ${us(subCpu)} per msg`;
  rows.push({ what, command: `nsq bench ${args.join(" ")}`, result: `${result} · ${checks}`, target });
}

async function latencyRow(): Promise<void> {
  const args = ["latency", "--start-server", "--rate=50000", `--runfor=${RUNFOR}`];
  const reports: BenchReport[] = [];
  for (let i = 0; i < RUNS; i++) reports.push(await bench(args));
  const p = (f: (r: BenchReport) => number | undefined) => median(reports.map((r) => f(r) ?? NaN));
  rows.push({
    what: "end-to-end latency, 50k msgs/s, 1 consumer",
    command: `nsq bench ${args.join(" ")}`,
    result:
      `broker→consumer p50 ${ms(p((r) => r.latency?.p50Us))} · p99 ${ms(p((r) => r.latency?.p99Us))} · ` +
      `p99.9 ${ms(p((r) => r.latency?.p999Us))} (publisher→consumer p99 ${ms(p((r) => r.latency?.publishP99Us))})`,
    target: "p99 ≤ 5 ms",
  });
}

/** Publishes exactly 1,000,000 × 200 bytes into a started server and reads its VmRSS. */
async function rssRow(): Promise<void> {
  const values: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const server = await startServer(SERVER_BIN ? { flags: ["--mem-queue-size=1000000"], serverBin: SERVER_BIN } : { flags: ["--mem-queue-size=1000000"] });
    try {
      const args = ["writer", "--shape=pipelined", `--nsqd-tcp-address=${server.tcpAddress}`, "--count=1000000", "--runfor=120s"];
      const report = await bench(args);
      if ((report.phases[0]?.messages ?? 0) < 1_000_000) throw new Error("writer published fewer than 1,000,000 messages");
      await Bun.sleep(1000); // let the server settle (GC) before reading its RSS
      values.push(processRssKb(server.pid) ?? NaN);
    } finally {
      await server.stop();
    }
  }
  log(`  RSS kB: ${values.join(", ")}`);
  rows.push({
    what: "server RSS, 1,000,000 × 200 B queued",
    command: "nsq serve --mem-queue-size=1000000 & nsq bench writer --shape=pipelined --count=1000000; VmRSS",
    result: `${k(median(values) / 1024)} MB`,
    target: "≤ 400 MB",
  });
}

async function startupRow(): Promise<void> {
  const dist = SERVER_BIN || join(ROOT, "dist", "nsq");
  if (!existsSync(dist)) {
    rows.push({ what: "start-up to first /ping", command: "dist/nsq serve", result: "n/a (dist/nsq not built)", target: "≤ 150 ms" });
    return;
  }
  const values: number[] = [];
  for (let i = 0; i < Math.max(RUNS, 5); i++) {
    const server = await startServer({ flags: [], serverBin: dist, timeoutMs: 10_000 });
    values.push(server.startupMs);
    await server.stop();
  }
  log(`  start-up ms: ${values.map((v) => v.toFixed(1)).join(", ")}`);
  rows.push({ what: "start-up to first /ping", command: `${dist.replace(ROOT + "/", "")} serve (spawn → HTTP 200)`, result: `${median(values).toFixed(1)} ms`, target: "≤ 150 ms" });
}

/** The load generator against the discarding sink (its own ceiling). */
async function sinkRow(): Promise<void> {
  const port = await freePort();
  const sink = Bun.spawn([process.execPath, SELF, "nsq", "bench", "sink", `--tcp-address=127.0.0.1:${port}`], { stdout: "ignore", stderr: "ignore" });
  try {
    const deadline = performance.now() + 10_000;
    for (;;) {
      const ok = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
        (s) => (s.end(), true),
        () => false,
      );
      if (ok) break;
      if (performance.now() > deadline) throw new Error("sink did not start");
      await Bun.sleep(20);
    }
    const addr = `--nsqd-tcp-address=127.0.0.1:${port}`;
    const pub: number[] = [];
    const sub: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      pub.push((await bench(["writer", "--shape=pipelined", addr, "--runfor=3s"])).phases[0]!.msgsPerSec);
      sub.push((await bench(["reader", "--shape=batch", addr, "--runfor=3s"])).phases[0]!.msgsPerSec);
    }
    rows.push({
      what: "load generator ceiling (sink discards)",
      command: `nsq bench sink & nsq bench writer --shape=pipelined (then reader --shape=batch) ${addr.replace(String(port), "PORT")} --runfor=3s`,
      result: `PUB ${k(median(pub))} · SUB ${k(median(sub))} msgs/s`,
      target: "well above the targets",
    });
  } finally {
    sink.kill("SIGTERM");
    await sink.exited;
  }
}

const started = Date.now();
await sinkRow();
await throughputRow("PUB, then SUB draining (bench.sh)", ["run", "--start-server", `--runfor=${RUNFOR}`], "PUB ≥ 1,050,000 · SUB ≥ 600,000");
await throughputRow("PUB and SUB at the same time", ["run", "--start-server", "--concurrent", `--runfor=${RUNFOR}`], "each ≥ 600,000");
await throughputRow("--mem-queue-size=0 (all through disk)", ["run", "--start-server", "--mem-queue-size=0", `--runfor=${RUNFOR}`], "PUB ≥ 480,000 · SUB ≥ 175,000");
await latencyRow();
await rssRow();
await startupRow();

const out: string[] = [];
out.push(`Medians of ${RUNS} runs · 200-byte messages · MPUB batches of 200 · RDY 2500 · connections = cores · ${new Date(started).toISOString()}`);
out.push("");
out.push("| what | command | result | target |");
out.push("|---|---|---|---|");
for (const r of rows) out.push(`| ${r.what} | \`${r.command}\` | ${r.result} | ${r.target} |`);
process.stdout.write(out.join("\n") + "\n");
