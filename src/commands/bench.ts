/**
 * `nsq bench writer|reader|run|latency|sink`: NSQ's own load generators (writer and reader are
 * nsq v1.3.0's bench_writer / bench_reader byte for byte unless `--shape` picks one of ours),
 * bench.sh (`run`), a fixed-rate latency probe, and a discarding sink that shows the load
 * generator's own ceiling. The logic lives in src/tools/bench/.
 */
import { availableParallelism } from "node:os";
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { UsageError } from "./types.ts";
import { runWriter } from "../tools/bench/writer.ts";
import { runReader, type ReaderShape } from "../tools/bench/reader.ts";
import { BenchPanic, formatClassicResult, goLogPrefix, runClassicReader, runClassicWriter, type ClassicResult } from "../tools/bench/classic.ts";
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
    { name: "count", kind: "int", default: 0, describe: "run, writer --shape=pipelined: stop publishing after this many messages (0 = run for --runfor)" },
    { name: "max-outstanding", kind: "int", default: 4, describe: "unanswered MPUBs allowed per writer connection (--shape=pipelined, run)" },
    { name: "rdy", kind: "int", default: 2500, describe: "RDY count of each reader connection" },
    {
      name: "shape",
      kind: "string",
      default: "",
      describe:
        "reader: bench_reader (default: nsq's tool exactly), go-nsq (FIN per message in its own write, RDY re-sent when a quarter of the window is left), batch (the FINs of a received chunk in one write; default of run); writer: bench_writer (default: nsq's tool exactly, one MPUB at a time), pipelined (--max-outstanding MPUBs in flight)",
    },
    { name: "deadline", kind: "string", default: "", describe: "reader/writer (nsq's shapes): deadline to start the benchmark run, \"2006-01-02 15:04:05\" UTC" },
    { name: "concurrent", kind: "bool", default: false, describe: "run: publish and consume at the same time" },
    { name: "start-server", kind: "bool", default: false, describe: "run/latency: start `nsq serve` as a child process on free ports and report its CPU per message" },
    { name: "mem-queue-size", kind: "int", default: 1_000_000, describe: "--mem-queue-size of the started server" },
    { name: "server-flag", kind: "strings", default: [], describe: "extra flag for the started server (may be given multiple times)" },
    { name: "server-bin", kind: "string", default: "", describe: "executable to start as the server (default dist/nsq if built, else this source tree)" },
    { name: "rate", kind: "int", default: 50_000, describe: "latency: messages per second" },
    { name: "idle-timeout", kind: "duration", default: 5_000, describe: "reader (--shape=batch|go-nsq): stop after this long without a message (0 = never)" },
    { name: "tcp-address", kind: "string", address: "listen", default: "127.0.0.1:4150", describe: "sink: <addr>:<port> to listen on" },
    { name: "json", kind: "bool", default: false, describe: "print the report as JSON" },
  ],
  async run(args: ParsedArgs): Promise<number> {
    const mode = args._[0] as Mode | undefined;
    if (mode === undefined || !MODES.includes(mode)) {
      throw new UsageError(`bench needs a mode: ${MODES.join(", ")}${mode === undefined ? "" : ` (got "${mode}")`}`);
    }
    if (mode === "sink") return runSinkUntilSignal(args);
    if ((mode === "reader" || mode === "writer") && isClassicShape(mode, args)) return runClassic(mode, args);
    const report = await runMode(mode, args);
    process.stdout.write(args["json"] === true ? JSON.stringify(report) + "\n" : formatReport(report));
    const failed = report.phases.some((p) => p.errors.length > 0) || report.check?.ok === false;
    return failed ? 1 : 0;
  },
};

const READER_SHAPES = ["bench_reader", "go-nsq", "batch"] as const;
const WRITER_SHAPES = ["bench_writer", "pipelined"] as const;

/** true for nsq's own bench_reader / bench_writer (the default of `reader` and `writer`) */
function isClassicShape(mode: "reader" | "writer", args: ParsedArgs): boolean {
  const shape = String(args["shape"] ?? "");
  const allowed: readonly string[] = mode === "reader" ? READER_SHAPES : WRITER_SHAPES;
  if (shape !== "" && !allowed.includes(shape)) throw new UsageError(`--shape for ${mode} must be one of ${allowed.join(", ")} (got "${shape}")`);
  return shape === "" || shape === allowed[0];
}

function readerShape(args: ParsedArgs): ReaderShape {
  const shape = String(args["shape"] ?? "");
  if (shape === "" || shape === "batch") return "batch";
  if (shape === "go-nsq") return "go-nsq";
  throw new UsageError(`--shape for run/latency must be batch or go-nsq (got "${shape}")`);
}

/** nsq's bench_reader / bench_writer: their final log line on stderr, or our report with --json. */
async function runClassic(mode: "reader" | "writer", args: ParsedArgs): Promise<number> {
  const c = common(args);
  const deadline = String(args["deadline"] ?? "");
  const name = mode === "reader" ? "bench_reader" : "bench_writer";
  for (const [flag, value] of [["size", c.size], ["batch-size", c.batchSize], ["rdy", c.rdy]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${flag} must be a positive integer (got ${value})`);
  }
  if (!(c.runforMs > 0)) throw new UsageError("--runfor must be positive");
  const log = (line: string): void => void process.stderr.write(line + "\n");
  let result: ClassicResult;
  try {
    result =
      mode === "reader"
        ? await runClassicReader({ ...c, connections: c.concurrency, deadline }, log)
        : await runClassicWriter({ ...c, connections: c.concurrency, deadline }, log);
  } catch (err) {
    // the Go tools panic on a server error or a lost connection: exit status 2
    if (err instanceof BenchPanic) {
      process.stderr.write(`panic: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (args["json"] === true) {
    const phase = phaseReport(mode === "reader" ? "SUB" : "PUB", {
      messages: result.messages,
      bytes: result.messages * result.size,
      durationMs: result.durationNs / 1e6,
      errors: [],
    });
    const report: BenchReport = { mode, size: result.size, phases: [phase] };
    process.stdout.write(JSON.stringify(report) + "\n");
  } else {
    log(goLogPrefix(name) + formatClassicResult(result));
  }
  return 0;
}

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
      const w = await runWriter(c); // --shape=pipelined
      return { mode, size: c.size, phases: [phaseReport("PUB", w)] };
    }
    if (mode === "reader") {
      const r = await runReader({ ...c, idleMs: c.idleMs, shape: readerShape(args) });
      return { mode, size: c.size, phases: [phaseReport("SUB", r)] };
    }
    if (mode === "run") {
      const bin = serverBin(args);
      return await runBench({
        ...c,
        shape: readerShape(args),
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
