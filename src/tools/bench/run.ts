/**
 * `nsq bench run`: nsq's bench.sh — the writer for `runfor`, then the reader draining the channel
 * (or, with `concurrent`, both at once) — and the check that every acknowledged message arrived
 * exactly once. With `startServer` the broker is a child process whose CPU time is read before and
 * after each phase.
 */
import { runWriter, type WriterOptions, type WriterResult } from "./writer.ts";
import { startReader, type ReaderResult, type ReaderShape } from "./reader.ts";
import { randomRunId } from "./payload.ts";
import { checkReport, phaseReport, type BenchReport } from "./report.ts";
import { startServer, type ServerProcess } from "./server-process.ts";

export interface RunOptions extends Omit<WriterOptions, "runId"> {
  channel: string;
  rdy: number;
  concurrent: boolean;
  startServer: boolean;
  /** nsqd flags for the started server */
  serverFlags: string[];
  serverBin?: string;
  /** how long the reader waits without a message before it declares the rest lost */
  idleMs: number;
  /** the reader's consumer shape (default batch) */
  shape?: ReaderShape;
}

function clientCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Measures server and own CPU around `work`. */
async function measured<T>(server: ServerProcess | undefined, work: () => Promise<T>): Promise<{ value: T; serverUs?: number; clientUs: number }> {
  const serverBefore = server?.cpuUs();
  const clientBefore = clientCpuUs();
  const value = await work();
  const clientUs = clientCpuUs() - clientBefore;
  const serverUs = server !== undefined && serverBefore !== undefined ? server.cpuUs() - serverBefore : undefined;
  return serverUs === undefined ? { value, clientUs } : { value, serverUs, clientUs };
}

export async function runBench(options: RunOptions): Promise<BenchReport> {
  const server = options.startServer
    ? await startServer(options.serverBin === undefined ? { flags: options.serverFlags } : { flags: options.serverFlags, serverBin: options.serverBin })
    : undefined;
  try {
    const address = server?.tcpAddress ?? options.address;
    const runId = randomRunId();
    const writerOptions: WriterOptions = { ...options, address, runId };
    const readerOptions = {
      address,
      topic: options.topic,
      channel: options.channel,
      rdy: options.rdy,
      concurrency: options.concurrency,
      runforMs: Math.max(options.runforMs * 20, 120_000),
      runId,
      idleMs: options.idleMs,
      shape: options.shape ?? "batch",
    };
    const report: BenchReport = { mode: options.concurrent ? "run --concurrent" : "run", size: options.size, phases: [] };
    if (server !== undefined) report.server = { command: server.command };

    let written: WriterResult;
    let read: ReaderResult;
    if (options.concurrent) {
      const both = await measured(server, async () => {
        const reader = await startReader(readerOptions);
        const w = await runWriter(writerOptions);
        reader.expect(w.messages);
        return { w, r: await reader.result };
      });
      written = both.value.w;
      read = both.value.r;
      report.phases.push(phaseReport("PUB", written), phaseReport("SUB", read));
      if (both.serverUs !== undefined && written.messages > 0) {
        report.combinedServerCpuUsPerMsg = Math.round((both.serverUs / written.messages) * 1000) / 1000;
      }
    } else {
      const pub = await measured(server, () => runWriter(writerOptions));
      written = pub.value;
      report.phases.push(phaseReport("PUB", written, pub));
      if (server !== undefined) report.server!.rssKb = server.rssKb();
      const sub = await measured(server, async () => {
        const reader = await startReader(readerOptions);
        reader.expect(written.messages);
        return reader.result;
      });
      read = sub.value;
      report.phases.push(phaseReport("SUB", read, sub));
    }
    report.check = checkReport(written.messages, read);
    return report;
  } finally {
    await server?.stop();
  }
}
