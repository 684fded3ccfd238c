/**
 * `nsq bench`: functional checks only (no timing assertions). Short runs against an in-process
 * broker and against the discarding sink; every count is checked against the other side.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { runBench } from "../src/tools/bench/run.ts";
import { runWriter } from "../src/tools/bench/writer.ts";
import { runReader } from "../src/tools/bench/reader.ts";
import { runLatency } from "../src/tools/bench/latency.ts";
import { startSink, type Sink } from "../src/tools/bench/sink.ts";
import { formatReport, type BenchReport } from "../src/tools/bench/report.ts";
import { command } from "../src/commands/bench.ts";
import { parseGoFlags } from "../src/util/goflags.ts";
import { UsageError } from "../src/commands/types.ts";
import { LatencyHistogram } from "../src/tools/bench/histogram.ts";

let broker: TestBroker | undefined;
let sink: Sink | undefined;

afterEach(async () => {
  await broker?.stop();
  broker = undefined;
  sink?.stop();
  sink = undefined;
});

const base = { size: 200, batchSize: 50, runforMs: 400, concurrency: 2, maxOutstanding: 2, rdy: 500, channel: "ch", idleMs: 3000 };

function expectWellFormed(report: BenchReport): void {
  const text = formatReport(report);
  const lines = text.trimEnd().split("\n");
  for (const phase of report.phases) {
    expect(phase.msgsPerSec).toBeGreaterThan(0);
    expect(phase.mbPerSec).toBeGreaterThan(0);
    expect(phase.bytes).toBe(phase.messages * report.size);
    expect(lines.some((l) => new RegExp(`^${phase.name}: [\\d,]+ msgs/s - [\\d.]+ MB/s - [\\d,]+ msgs in [\\d.]+s`).test(l))).toBe(true);
  }
}

describe("bench run against a broker", () => {
  test("writer then reader: every acknowledged message read exactly once", async () => {
    broker = await startBroker({ memQueueSize: 1_000_000 });
    const report = await runBench({
      ...base,
      address: `127.0.0.1:${broker.tcpPort}`,
      topic: "bench_seq",
      concurrent: false,
      startServer: false,
      serverFlags: [],
    });
    expectWellFormed(report);
    const [pub, sub] = report.phases;
    expect(pub!.name).toBe("PUB");
    expect(pub!.messages).toBeGreaterThan(0);
    expect(pub!.messages % base.batchSize).toBe(0);
    expect(sub!.name).toBe("SUB");
    expect(sub!.messages).toBe(pub!.messages);
    expect(report.check).toMatchObject({ ok: true, lost: 0, duplicates: 0, foreign: 0, unique: pub!.messages });
    expect(formatReport(report)).toContain("check: ok");
  });

  test("--concurrent: publishing and consuming at once, nothing lost", async () => {
    broker = await startBroker({ memQueueSize: 10_000 });
    const report = await runBench({
      ...base,
      address: `127.0.0.1:${broker.tcpPort}`,
      topic: "bench_conc",
      concurrent: true,
      startServer: false,
      serverFlags: [],
    });
    expectWellFormed(report);
    expect(report.mode).toBe("run --concurrent");
    expect(report.check!.ok).toBe(true);
    expect(report.check!.unique).toBe(report.phases[0]!.messages);
  });

  test("the reader tells messages of other runs apart", async () => {
    broker = await startBroker();
    const address = `127.0.0.1:${broker.tcpPort}`;
    // leftovers from an earlier run, then a checked run on the same topic and channel
    const earlier = await runWriter({ ...base, address, topic: "bench_mixed", runforMs: 100, runId: 7 });
    await broker.http("/channel/create?topic=bench_mixed&channel=ch", { method: "POST" });
    const report = await runBench({ ...base, address, topic: "bench_mixed", concurrent: false, startServer: false, serverFlags: [], idleMs: 500 });
    expect(report.check!.foreign).toBeGreaterThan(0);
    expect(report.check!.foreign).toBeLessThanOrEqual(earlier.messages);
    expect(report.check!.ok).toBe(true);
  });

  test("latency: every published message sampled, percentiles ordered", async () => {
    broker = await startBroker();
    const report = await runLatency({
      address: `127.0.0.1:${broker.tcpPort}`,
      topic: "bench_lat",
      channel: "ch",
      size: 200,
      rate: 5000,
      rdy: 100,
      runforMs: 400,
      idleMs: 3000,
    });
    const l = report.latency!;
    expect(report.check!.ok).toBe(true);
    expect(l.samples).toBe(report.check!.published);
    expect(l.samples).toBeGreaterThan(0);
    expect(l.p50Us).toBeLessThanOrEqual(l.p99Us);
    expect(l.p99Us).toBeLessThanOrEqual(l.p999Us);
    expect(formatReport(report)).toMatch(/^latency @ 5,000 msgs\/s .* p50 \S+ - p99 \S+ - p99\.9 \S+/m);
  });
});

describe("bench run --start-server", () => {
  test("starts nsq serve as a child process, reports its CPU per message and RSS, stops it", async () => {
    const report = await runBench({
      ...base,
      address: "127.0.0.1:1",
      topic: "bench_child",
      runforMs: 300,
      concurrent: false,
      startServer: true,
      serverFlags: ["--mem-queue-size=100000"],
    });
    expectWellFormed(report);
    expect(report.check!.ok).toBe(true);
    // CPU ticks are 10 ms: a short phase may read 0, but the figure must be there
    for (const phase of report.phases) expect(phase.serverCpuUsPerMsg).toBeGreaterThanOrEqual(0);
    expect(report.server!.rssKb).toBeGreaterThan(0);
    expect(report.server!.command).toContain("--mem-queue-size=100000");
    expect(formatReport(report)).toMatch(/server CPU [\d.]+ µs\/msg/);
  }, 30_000);
});

describe("bench against the sink", () => {
  test("writer: the sink saw every acknowledged message", async () => {
    sink = startSink({ address: "127.0.0.1:0", size: 200 });
    const result = await runWriter({ ...base, address: `127.0.0.1:${sink.port}`, topic: "t" });
    expect(result.messages).toBeGreaterThan(0);
    expect(result.errors).toEqual([]);
    // the sink counts what arrived; acknowledged batches arrived
    expect(sink.stats().published).toBeGreaterThanOrEqual(result.messages);
  });

  test("reader: counts what the sink fed and FINs it", async () => {
    sink = startSink({ address: "127.0.0.1:0", size: 64 });
    const result = await runReader({ address: `127.0.0.1:${sink.port}`, topic: "t", channel: "c", rdy: 300, concurrency: 2, runforMs: 300 });
    expect(result.messages).toBeGreaterThan(300);
    expect(result.bytes).toBe(result.messages * 64);
    expect(result.redelivered).toBe(0);
    // the sink only feeds more once FINs come back, so far more than RDY × connections proves FINs
    expect(sink.stats().delivered).toBeGreaterThanOrEqual(result.messages);
  });

  test("sink answers a bad protocol magic with E_BAD_PROTOCOL and closes", async () => {
    sink = startSink({ address: "127.0.0.1:0", size: 10 });
    const chunks: Uint8Array[] = [];
    const closed = Promise.withResolvers<void>();
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: sink.port,
      socket: { data: (_s, d) => void chunks.push(new Uint8Array(d)), close: () => closed.resolve(), error: () => closed.resolve() },
    });
    socket.write("  V1");
    await closed.promise;
    const text = Buffer.concat(chunks).subarray(8).toString();
    expect(text).toBe("E_BAD_PROTOCOL");
  });
});

describe("bench command", () => {
  test("a missing or unknown mode is a usage error", async () => {
    await expect(command.run(parseGoFlags([], command.flags))).rejects.toBeInstanceOf(UsageError);
    await expect(command.run(parseGoFlags(["fly"], command.flags))).rejects.toThrow(/writer, reader, run, latency, sink/);
  });

  test("bad numbers are usage errors, not crashes", async () => {
    await expect(command.run(parseGoFlags(["writer", "--size=0"], command.flags))).rejects.toBeInstanceOf(UsageError);
    await expect(command.run(parseGoFlags(["reader", "--rdy=0"], command.flags))).rejects.toBeInstanceOf(UsageError);
  });

  test("an unreachable nsqd is one clear error", async () => {
    sink = startSink({ address: "127.0.0.1:0", size: 10 });
    const port = sink.port;
    sink.stop();
    sink = undefined;
    await expect(runWriter({ ...base, address: `127.0.0.1:${port}`, topic: "t" })).rejects.toThrow(`connect to 127.0.0.1:${port} failed`);
  });
});

describe("latency histogram", () => {
  test("quantiles from 1 µs buckets", () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.recordUs(i);
    expect(h.quantileUs(0.5)).toBe(500);
    expect(h.quantileUs(0.99)).toBe(990);
    expect(h.quantileUs(0.999)).toBe(999);
    h.recordUs(250_000);
    expect(h.quantileUs(1)).toBe(250_000);
  });
});
