/**
 * What a bench run reports, as data (for --json and the bench script) and as text lines in the
 * spirit of nsq's bench_writer/bench_reader output.
 */
export interface PhaseReport {
  /** "PUB" or "SUB" */
  name: string;
  messages: number;
  bytes: number;
  durationMs: number;
  msgsPerSec: number;
  /** MiB/s, as nsq's bench tools compute "mb/s" */
  mbPerSec: number;
  /** server CPU time (user+system) per message in µs, when the bench runs the server itself */
  serverCpuUsPerMsg?: number;
  /** the load generator's own CPU per message in µs */
  clientCpuUsPerMsg?: number;
  errors: string[];
}

export interface CheckReport {
  published: number;
  received: number;
  unique: number;
  lost: number;
  duplicates: number;
  redelivered: number;
  foreign: number;
  ok: boolean;
}

export interface LatencyReport {
  rate: number;
  samples: number;
  /** broker accept → consumer receive, from the message timestamp; µs */
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  /** publisher send → consumer receive, from the body stamp; µs */
  publishP50Us: number;
  publishP99Us: number;
  publishP999Us: number;
}

export interface BenchReport {
  mode: string;
  size: number;
  phases: PhaseReport[];
  check?: CheckReport;
  latency?: LatencyReport;
  /** --concurrent with a started server: server CPU for PUB+SUB divided by messages published */
  combinedServerCpuUsPerMsg?: number;
  /** the started server: its command line and VmRSS (kB) right after the PUB phase */
  server?: { command: string; rssKb?: number | undefined };
}

export function phaseReport(
  name: string,
  result: { messages: number; bytes: number; durationMs: number; errors: string[] },
  cpu?: { serverUs?: number; clientUs?: number },
): PhaseReport {
  const seconds = result.durationMs / 1000;
  const report: PhaseReport = {
    name,
    messages: result.messages,
    bytes: result.bytes,
    durationMs: Math.round(result.durationMs * 1000) / 1000,
    msgsPerSec: Math.round(result.messages / seconds),
    mbPerSec: Math.round((result.bytes / 1024 / 1024 / seconds) * 1000) / 1000,
    errors: result.errors,
  };
  if (cpu?.serverUs !== undefined && result.messages > 0) report.serverCpuUsPerMsg = round3(cpu.serverUs / result.messages);
  if (cpu?.clientUs !== undefined && result.messages > 0) report.clientCpuUsPerMsg = round3(cpu.clientUs / result.messages);
  return report;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

function us(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)}ms` : `${value.toFixed(0)}µs`;
}

/** One line per phase, then the check and latency lines. */
export function formatReport(report: BenchReport): string {
  const lines: string[] = [];
  for (const p of report.phases) {
    let line =
      `${p.name}: ${int.format(p.msgsPerSec)} msgs/s - ${p.mbPerSec.toFixed(3)} MB/s - ` +
      `${int.format(p.messages)} msgs in ${(p.durationMs / 1000).toFixed(3)}s`;
    if (p.serverCpuUsPerMsg !== undefined) line += ` - server CPU ${p.serverCpuUsPerMsg.toFixed(3)} µs/msg`;
    if (p.clientCpuUsPerMsg !== undefined) line += ` - bench CPU ${p.clientCpuUsPerMsg.toFixed(3)} µs/msg`;
    lines.push(line);
    for (const e of p.errors) lines.push(`${p.name} error: ${e}`);
  }
  if (report.combinedServerCpuUsPerMsg !== undefined) {
    lines.push(`server CPU (PUB+SUB): ${report.combinedServerCpuUsPerMsg.toFixed(3)} µs/msg`);
  }
  const c = report.check;
  if (c !== undefined) {
    lines.push(
      `check: ${c.ok ? "ok" : "FAILED"} - published ${int.format(c.published)}, received ${int.format(c.unique)} unique ` +
        `(${int.format(c.received)} total), lost ${int.format(c.lost)}, duplicates ${int.format(c.duplicates)}, ` +
        `redelivered ${int.format(c.redelivered)}, other runs ${int.format(c.foreign)}`,
    );
  }
  const l = report.latency;
  if (l !== undefined) {
    lines.push(
      `latency @ ${int.format(l.rate)} msgs/s (${int.format(l.samples)} samples), broker→consumer: ` +
        `p50 ${us(l.p50Us)} - p99 ${us(l.p99Us)} - p99.9 ${us(l.p999Us)} - max ${us(l.maxUs)}`,
    );
    lines.push(
      `latency publisher→consumer: p50 ${us(l.publishP50Us)} - p99 ${us(l.publishP99Us)} - p99.9 ${us(l.publishP999Us)}`,
    );
  }
  if (report.server?.rssKb !== undefined) lines.push(`server RSS: ${int.format(report.server.rssKb)} kB`);
  return lines.join("\n") + "\n";
}

export function checkReport(published: number, reader: { messages: number; unique: number; duplicates: number; redelivered: number; foreign: number }): CheckReport {
  const lost = Math.max(published - reader.unique, 0);
  return {
    published,
    received: reader.messages,
    unique: reader.unique,
    lost,
    duplicates: reader.duplicates,
    redelivered: reader.redelivered,
    foreign: reader.foreign,
    ok: lost === 0 && reader.duplicates === 0 && reader.unique === published,
  };
}
