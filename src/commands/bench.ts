/**
 * `nsq bench writer|reader|run|latency|sink`: NSQ's own benchmark shape (bench_writer,
 * bench_reader, bench.sh), a fixed-rate latency probe, and a discarding sink that shows the load
 * generator's own ceiling. The logic lives in src/tools/bench/.
 */
import { availableParallelism } from "node:os";
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { UsageError } from "./types.ts";
import { runWriter } from "../tools/bench/writer.ts";
import { runReader } from "../tools/bench/reader.ts";
import { runBench } from "../tools/bench/run.ts";
import { runLatency } from "../tools/bench/latency.ts";
import { startSink } from "../tools/bench/sink.ts";
import { formatReport, phaseReport, type BenchReport } from "../tools/bench/report.ts";
import { startServer } from "../tools/bench/server-process.ts";
import { untilShutdownSignal } from "../util/shutdown-signal.ts";

const MODES = ["writer", "reader", "run", "latency", "sink"] as const;
type Mode = (typeof MODES)[number];

export const command: NsqCommand = {
  name: "bench",
  describe: "benchmark nsqd: writer (MPUB), reader (SUB), run (both, as nsq's bench.sh), latency, sink",
  positional: "<writer|reader|run|latency|sink>",
  flags: [
    { name: "nsqd-tcp-address", kind: "string", address: "client", default: "127.0.0.1:4150", describe: "<addr>:<port> of nsqd to benchmark" },
    { name: "topic", kind: "string", default: "sub_bench", describe: "topic to publish to / read from" },
    { name: "channel", kind: "string", default: "ch", describe: "channel to read from" },
    { name: "size", kind: "int", default: 200, describe: "message body size in bytes" },
    { name: "batch-size", kind: "int", default: 200, describe: "messages per MPUB" },
    { name: "runfor", kind: "duration", default: 10_000, describe: "duration of the publishing phase" },
    { name: "concurrency", kind: "int", default: 0, describe: "connections per phase (0 = number of cores)" },
    { name: "count", kind: "int", default: 0, describe: "writer/run: stop publishing after this many messages (0 = run for --runfor)" },
    { name: "max-outstanding", kind: "int", default: 4, describe: "unanswered MPUBs allowed per writer connection" },
    { name: "rdy", kind: "int", default: 2500, describe: "RDY count of each reader connection" },
    { name: "concurrent", kind: "bool", default: false, describe: "run: publish and consume at the same time" },
    { name: "start-server", kind: "bool", default: false, describe: "run/latency: start `nsq serve` as a child process on free ports and report its CPU per message" },
    { name: "mem-queue-size", kind: "int", default: 1_000_000, describe: "--mem-queue-size of the started server" },
    { name: "server-flag", kind: "strings", default: [], describe: "extra flag for the started server (may be given multiple times)" },
    { name: "server-bin", kind: "string", default: "", describe: "executable to start as the server (default dist/nsq if built, else this source tree)" },
    { name: "rate", kind: "int", default: 50_000, describe: "latency: messages per second" },
    { name: "idle-timeout", kind: "duration", default: 5_000, describe: "reader: stop after this long without a message (0 = never)" },
    { name: "tcp-address", kind: "string", address: "listen", default: "127.0.0.1:4150", describe: "sink: <addr>:<port> to listen on" },
    { name: "json", kind: "bool", default: false, describe: "print the report as JSON" },
  ],
  async run(args: ParsedArgs): Promise<number> {
    const mode = args._[0] as Mode | undefined;
    if (mode === undefined || !MODES.includes(mode)) {
      throw new UsageError(`bench needs a mode: ${MODES.join(", ")}${mode === undefined ? "" : ` (got "${mode}")`}`);
    }
    if (mode === "sink") return runSinkUntilSignal(args);
    const report = await runMode(mode, args);
    process.stdout.write(args["json"] === true ? JSON.stringify(report) + "\n" : formatReport(report));
    const failed = report.phases.some((p) => p.errors.length > 0) || report.check?.ok === false;
    return failed ? 1 : 0;
  },
};

function intFlag(args: ParsedArgs, name: string): number {
  return Number(args[name]);
}

function common(args: ParsedArgs) {
  const concurrency = intFlag(args, "concurrency");
  return {
    address: String(args["nsqd-tcp-address"]),
    topic: String(args["topic"]),
    channel: String(args["channel"]),
    size: intFlag(args, "size"),
    batchSize: intFlag(args, "batch-size"),
    runforMs: intFlag(args, "runfor"),
    concurrency: concurrency > 0 ? concurrency : availableParallelism(),
    maxOutstanding: intFlag(args, "max-outstanding"),
    count: intFlag(args, "count"),
    rdy: intFlag(args, "rdy"),
    idleMs: intFlag(args, "idle-timeout"),
  };
}

function serverFlags(args: ParsedArgs): string[] {
  return [`--mem-queue-size=${intFlag(args, "mem-queue-size")}`, ...((args["server-flag"] as string[] | undefined) ?? [])];
}

function serverBin(args: ParsedArgs): string | undefined {
  const bin = String(args["server-bin"] ?? "");
  return bin === "" ? undefined : bin;
}

async function runMode(mode: Exclude<Mode, "sink">, args: ParsedArgs): Promise<BenchReport> {
  const c = common(args);
  try {
    if (mode === "writer") {
      const w = await runWriter(c);
      return { mode, size: c.size, phases: [phaseReport("PUB", w)] };
    }
    if (mode === "reader") {
      const r = await runReader({ ...c, idleMs: c.idleMs });
      return { mode, size: c.size, phases: [phaseReport("SUB", r)] };
    }
    if (mode === "run") {
      const bin = serverBin(args);
      return await runBench({
        ...c,
        concurrent: args["concurrent"] === true,
        startServer: args["start-server"] === true,
        serverFlags: serverFlags(args),
        ...(bin === undefined ? {} : { serverBin: bin }),
      });
    }
    // latency
    if (args["start-server"] !== true) return await runLatency({ ...c, rate: intFlag(args, "rate") });
    const bin = serverBin(args);
    const server = await startServer(bin === undefined ? { flags: serverFlags(args) } : { flags: serverFlags(args), serverBin: bin });
    try {
      const report = await runLatency({ ...c, address: server.tcpAddress, rate: intFlag(args, "rate") });
      report.server = { command: server.command };
      return report;
    } finally {
      await server.stop();
    }
  } catch (err) {
    if (err instanceof Error && /must be|is required|needs/.test(err.message)) throw new UsageError(err.message);
    throw err;
  }
}

async function runSinkUntilSignal(args: ParsedArgs): Promise<number> {
  const sink = startSink({ address: String(args["tcp-address"]), size: intFlag(args, "size") });
  process.stderr.write(`bench sink: listening on port ${sink.port}\n`);
  const signalled = untilShutdownSignal();
  await signalled.promise;
  const stats = sink.stats();
  sink.stop();
  process.stderr.write(`bench sink: ${stats.published} published, ${stats.delivered} delivered\n`);
  return 0;
}
