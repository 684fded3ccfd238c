#!/usr/bin/env bun
/**
 * Delivery with the consumers people run, against `nsq serve` and (with --nsqd-bin) a real nsqd:
 *
 *   bun scripts/bench-consumers.ts [--runs=1] [--prefill=2s] [--runfor=3s] [--nsqd-bin=PATH]
 *                                  [--server-bin=PATH] [--go-tools=DIR] [--queues=memory,disk]
 *                                  [--shapes=bench_reader,go-nsq]
 *
 * For every server × queue mode (`--mem-queue-size=10000000`, everything in memory, and
 * `--mem-queue-size=0`, everything through the disk queue) × consumer shape, a fresh server is
 * started on free ports, topic and channel are created, bench_writer fills the channel for
 * --prefill, then one consumer shape reads for --runfor:
 *  - bench_reader: nsq's bench_reader (2 connections on 2 cores, RDY 2500 once, FINs through a
 *    4096-byte buffer flushed when full or in the last quarter of the window);
 *  - go-nsq: FIN per message in its own write, RDY 2500 re-sent when a quarter of the window is left.
 * Printed: a markdown table of PUB and SUB msg/s, the server's CPU time (user+system from
 * /proc/<pid>/stat) per message of each phase, and its minor page faults per delivered message. The load generator is `nsq bench`'s own
 * implementation of those shapes; --go-tools=DIR runs DIR/bench_writer and DIR/bench_reader
 * (nsq v1.3.0's, built from source) instead for the bench_reader rows.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, join } from "node:path";
import { parseGoFlags } from "../src/util/goflags.ts";
import { parseDuration } from "../src/util/duration.ts";
import { runClassicReader, runClassicWriter, type ClassicResult } from "../src/tools/bench/classic.ts";
import { runReader } from "../src/tools/bench/reader.ts";
import { startServer, type ServerProcess } from "../src/tools/bench/server-process.ts";

const args = parseGoFlags(process.argv.slice(2), [
  { name: "runs", kind: "int", default: 1, describe: "runs per row (median reported)" },
  { name: "prefill", kind: "string", default: "2s", describe: "bench_writer time that fills the channel before each read" },
  { name: "runfor", kind: "string", default: "3s", describe: "reading time per run" },
  { name: "server-bin", kind: "string", default: "", describe: "nsq executable (default: dist/nsq if built, else the source tree)" },
  { name: "nsqd-bin", kind: "string", default: "", describe: "a real nsqd to compare with (optional)" },
  { name: "go-tools", kind: "string", default: "", describe: "directory with nsq's bench_writer and bench_reader binaries (optional)" },
  { name: "queues", kind: "string", default: "memory,disk", describe: "queue modes: memory (--mem-queue-size=10000000), disk (--mem-queue-size=0)" },
  { name: "shapes", kind: "string", default: "bench_reader,go-nsq", describe: "consumer shapes to run" },
]);
const RUNS = Number(args["runs"]);
const PREFILL_MS = parseDuration(String(args["prefill"]));
const RUNFOR_MS = parseDuration(String(args["runfor"]));
const GO_TOOLS = String(args["go-tools"]);
const CONNECTIONS = availableParallelism();
const ALL_SHAPES = ["bench_reader", "go-nsq"] as const;
type Shape = (typeof ALL_SHAPES)[number];
const SHAPES = String(args["shapes"]).split(",").filter((s): s is Shape => (ALL_SHAPES as readonly string[]).includes(s));

interface Server {
  name: string;
  command?: string[];
  serverBin?: string;
}
const servers: Server[] = [{ name: "nsq serve", ...(args["server-bin"] ? { serverBin: String(args["server-bin"]) } : {}) }];
// labelled by the executable's file name ("nsqd"; any program taking nsqd's flags can be compared)
if (args["nsqd-bin"]) servers.push({ name: basename(String(args["nsqd-bin"])), command: [String(args["nsqd-bin"])] });
const queues = String(args["queues"]).split(",").filter((q) => q === "memory" || q === "disk");

function log(text: string): void {
  process.stderr.write(text + "\n");
}

async function http(server: ServerProcess, path: string): Promise<void> {
  const res = await fetch(`http://${server.httpAddress}${path}`, { method: "POST" });
  if (res.status !== 200) throw new Error(`POST ${path}: HTTP ${res.status}`);
}

/** Runs one of nsq's Go tools and reads its final line back into a count. */
async function goTool(name: "bench_writer" | "bench_reader", address: string, runforMs: number): Promise<ClassicResult> {
  const argv = [join(GO_TOOLS, name), `--nsqd-tcp-address=${address}`, `--runfor=${runforMs}ms`];
  const child = Bun.spawn(argv, { stdout: "ignore", stderr: "pipe" });
  const text = await new Response(child.stderr).text();
  await child.exited;
  const m = /duration: (\S+) - [\d.]+mb\/s - ([\d.]+)ops\/s/.exec(text);
  if (m === null) throw new Error(`${name} printed no result: ${text.slice(0, 300)}`);
  const seconds = parseDuration(m[1]!) / 1000;
  return { messages: Math.round(Number(m[2]) * seconds), durationNs: seconds * 1e9, size: 200 };
}

interface Measured {
  msgsPerSec: number;
  cpuUsPerMsg: number;
  /** minor page faults of the server per message (kernel time that shows as system CPU) */
  faultsPerMsg: number;
}

/** minflt of a process (/proc/<pid>/stat field 10) */
function minorFaults(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
}

async function measure(server: ServerProcess, work: () => Promise<{ messages: number; seconds: number }>): Promise<Measured> {
  const before = server.cpuUs();
  const faultsBefore = minorFaults(server.pid);
  const r = await work();
  const cpu = server.cpuUs() - before;
  const faults = minorFaults(server.pid) - faultsBefore;
  const n = r.messages > 0 ? r.messages : NaN;
  return { msgsPerSec: r.messages / r.seconds, cpuUsPerMsg: cpu / n, faultsPerMsg: faults / n };
}

async function oneRun(srv: Server, queue: string, shape: Shape): Promise<{ pub: Measured; sub: Measured }> {
  const flags = [`--mem-queue-size=${queue === "memory" ? 10_000_000 : 0}`];
  const server = await startServer({ flags, ...(srv.command ? { command: srv.command } : {}), ...(srv.serverBin ? { serverBin: srv.serverBin } : {}) });
  try {
    await http(server, "/topic/create?topic=sub_bench");
    await http(server, "/channel/create?topic=sub_bench&channel=ch");
    const address = server.tcpAddress;
    const quiet = (): void => {};
    const useGo = GO_TOOLS !== "" && shape === "bench_reader";
    const pub = await measure(server, async () => {
      const r = useGo
        ? await goTool("bench_writer", address, PREFILL_MS)
        : await runClassicWriter({ address, topic: "sub_bench", size: 200, batchSize: 200, runforMs: PREFILL_MS, connections: CONNECTIONS, deadline: "" }, quiet);
      return { messages: r.messages, seconds: r.durationNs / 1e9 };
    });
    const sub = await measure(server, async () => {
      if (shape === "bench_reader") {
        const r = useGo
          ? await goTool("bench_reader", address, RUNFOR_MS)
          : await runClassicReader({ address, topic: "sub_bench", channel: "ch", size: 200, rdy: 2500, runforMs: RUNFOR_MS, connections: CONNECTIONS, deadline: "" }, quiet);
        return { messages: r.messages, seconds: r.durationNs / 1e9 };
      }
      const r = await runReader({ address, topic: "sub_bench", channel: "ch", rdy: 2500, concurrency: CONNECTIONS, runforMs: RUNFOR_MS, shape: "go-nsq" });
      if (r.errors.length > 0) throw new Error(`go-nsq reader: ${r.errors.join("; ")}`);
      return { messages: r.messages, seconds: RUNFOR_MS / 1000 };
    });
    return { pub, sub };
  } finally {
    await server.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const rows: string[] = [];
for (const queue of queues) {
  for (const shape of SHAPES) {
    // servers alternate run by run, so a change in the machine's load hits both alike
    const runs = new Map<Server, { pub: Measured; sub: Measured }[]>(servers.map((s) => [s, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const srv of servers) {
        log(`$ ${srv.name} --mem-queue-size=${queue === "memory" ? 10_000_000 : 0}: bench_writer ${PREFILL_MS}ms, then ${shape} ${RUNFOR_MS}ms (run ${i + 1}/${RUNS})`);
        const r = await oneRun(srv, queue, shape);
        log(`  PUB ${int.format(r.pub.msgsPerSec)} msg/s ${r.pub.cpuUsPerMsg.toFixed(2)} µs/msg · SUB ${int.format(r.sub.msgsPerSec)} msg/s ${r.sub.cpuUsPerMsg.toFixed(2)} µs/msg`);
        runs.get(srv)!.push(r);
      }
    }
    for (const srv of servers) {
      const all = runs.get(srv)!;
      const f = (get: (r: { pub: Measured; sub: Measured }) => number) => median(all.map(get));
      rows.push(
        `| ${srv.name} | ${queue === "memory" ? "memory (10,000,000)" : "disk (0)"} | ${shape} | ` +
          `${int.format(f((r) => r.pub.msgsPerSec))} | ${f((r) => r.pub.cpuUsPerMsg).toFixed(2)} | ` +
          `${int.format(f((r) => r.sub.msgsPerSec))} | ${f((r) => r.sub.cpuUsPerMsg).toFixed(2)} | ${f((r) => r.sub.faultsPerMsg).toFixed(3)} |`,
      );
    }
  }
}
console.log(`${RUNS} run(s) per row (median) · prefill ${PREFILL_MS} ms · read ${RUNFOR_MS} ms · ${CONNECTIONS} connections · ${new Date().toISOString()}`);
console.log("");
console.log("| server | queue (--mem-queue-size) | consumer | PUB msg/s | PUB server µs/msg | SUB msg/s | SUB server µs/msg | SUB server page faults/msg |");
console.log("|---|---|---|---:|---:|---:|---:|---:|");
for (const row of rows) console.log(row);
