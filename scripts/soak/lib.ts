/**
 * Shared pieces of the soak scenarios (scripts/soak/*.ts): `nsq` daemons as child processes,
 * their memory and CPU read from /proc, a /ping latency probe, and the figures table.
 * Everything binds 127.0.0.1 with port 0 (or the port a restarted daemon had) and temp dirs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const REPO = join(import.meta.dir, "..", "..");
const CLI = join(REPO, "src", "cli.ts");

/** One row of the figures table: a name and its value (already formatted, or a number). */
export type Figures = Record<string, string | number>;

export interface ScenarioResult {
  name: string;
  figures: Figures;
  /** what was expected and did not hold; empty when the run passed */
  failures: string[];
  /** expectations on timing (p99, pauses) that did not hold: failures for the soak, not asserted by npm test */
  timing?: string[];
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const dirs: string[] = [];
/** A temp dir removed by cleanupDirs(). */
export function scratchDir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}
export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** `nsq <args>` as a child, optionally under `ulimit -n <nofile>`; its stderr log kept (bounded tail). */
export class Daemon {
  readonly proc: Subprocess<"ignore", "ignore", "pipe">;
  log = "";
  ended = false;
  exitCode: number | null = null;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly args: string[],
    opts: { nofile?: number } = {},
  ) {
    const cmd =
      opts.nofile !== undefined
        ? ["sh", "-c", `ulimit -n ${opts.nofile} && exec "$0" "$@"`, process.execPath, CLI, ...args]
        : [process.execPath, CLI, ...args];
    this.proc = Bun.spawn(cmd, { cwd: REPO, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    void this.pump();
    void this.proc.exited.then((code) => {
      this.ended = true;
      this.exitCode = code;
      this.wake();
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  private async pump(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stderr) {
      this.log += decoder.decode(chunk, { stream: true });
      if (this.log.length > 2_000_000) this.log = this.log.slice(-1_000_000);
      this.wake();
    }
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  waitFor(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      const check = (): void => {
        const m = this.log.match(re);
        if (m) return done(() => resolve(m));
        if (this.ended) return done(() => reject(new Error(`nsq ${this.args[0]} ended before ${re}:\n${this.log.slice(-2000)}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${re}:\n${this.log.slice(-2000)}`))), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  async ports(): Promise<{ tcp: number; http: number }> {
    const tcp = await this.waitFor(/TCP: listening on [^\n]*:(\d+)/);
    const http = await this.waitFor(/HTTP: listening on [^\n]*:(\d+)/);
    return { tcp: Number(tcp[1]), http: Number(http[1]) };
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.ended) this.proc.kill(sig);
  }

  /** Sends `sig` and waits for the exit (SIGKILL after `graceMs`); resolves with the exit code. */
  async stop(sig: NodeJS.Signals = "SIGTERM", graceMs = 15_000): Promise<number> {
    this.signal(sig);
    const killer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    const code = await this.proc.exited;
    clearTimeout(killer);
    return code;
  }

  /** Lines that would mean a crash or an unhandled error inside the daemon. */
  crashLines(): string[] {
    return this.log.split("\n").filter((l) => /unhandled|uncaught|panic|TypeError|RangeError|ReferenceError|SyntaxError|^\s+at /i.test(l));
  }
}

export async function startServe(extra: string[] = [], opts: { nofile?: number; dataPath?: string; tcpPort?: number; httpPort?: number } = {}) {
  const dataPath = opts.dataPath ?? scratchDir("nsq-soak-");
  const d = new Daemon(
    [
      "serve",
      `--tcp-address=127.0.0.1:${opts.tcpPort ?? 0}`,
      `--http-address=127.0.0.1:${opts.httpPort ?? 0}`,
      "--broadcast-address=127.0.0.1",
      `--data-path=${dataPath}`,
      ...extra,
    ],
    opts,
  );
  const ports = await d.ports();
  return { daemon: d, dataPath, ...ports };
}

export async function startLookupd(extra: string[] = [], ports = { tcp: 0, http: 0 }) {
  const d = new Daemon([
    "lookupd",
    `--tcp-address=127.0.0.1:${ports.tcp}`,
    `--http-address=127.0.0.1:${ports.http}`,
    "--broadcast-address=127.0.0.1",
    ...extra,
  ]);
  const p = await d.ports();
  return { daemon: d, ...p };
}

const PAGE = 4096;
const TICKS = 100; // USER_HZ on Linux

/** Resident set size of `pid` in bytes (from /proc/<pid>/statm). */
export function rssOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/statm`, "utf8").split(" ");
  return Number(f[1]) * PAGE;
}

/** CPU seconds (user + system) used by `pid` so far. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / TICKS;
}

/** Measures CPU use of `pid` between start and the returned function's call, as % of one core. */
export function cpuMeter(pid: number): () => number {
  const c0 = cpuSecondsOf(pid);
  const t0 = performance.now();
  return () => (100 * (cpuSecondsOf(pid) - c0)) / ((performance.now() - t0) / 1000);
}

/** Peak of a sampled value (e.g. RSS every 100 ms) until stopped. */
export function peakSampler(sample: () => number, everyMs = 100): { peak(): number; stop(): number } {
  let peak = 0;
  const take = (): void => {
    try {
      peak = Math.max(peak, sample());
    } catch {
      /* the process just ended */
    }
  };
  take();
  const t = setInterval(take, everyMs);
  return {
    peak: () => peak,
    stop: () => {
      clearInterval(t);
      take();
      return peak;
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** GETs `url` every `everyMs` until stopped; latency percentiles and failures (no answer within 2 s, not 200). */
export function latencyProbe(url: string, everyMs = 20) {
  const lat: number[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        if (r.status !== 200) failures++;
        else lat.push(performance.now() - t0);
      } catch {
        failures++;
      }
      await Bun.sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const s = [...lat].sort((a, b) => a - b);
      return { count: s.length, failures, p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) ?? NaN };
    },
  };
}

export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

export const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
export const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
export const ms = (v: number): string => `${v.toFixed(1)} ms`;
export const pct = (v: number): string => `${v.toFixed(1)} %`;

/** Prints one scenario's figures as a two-column markdown table (pasteable into docs/reliability.md). */
export function printFigures(r: ScenarioResult): void {
  const rows = Object.entries(r.figures);
  const w = Math.max(6, ...rows.map(([k]) => k.length));
  const failed = r.failures.length + (r.timing?.length ?? 0);
  console.log(`\n### ${r.name} — ${failed === 0 ? "PASS" : "FAIL"}\n`);
  console.log(`| ${"figure".padEnd(w)} | value |`);
  console.log(`|${"-".repeat(w + 2)}|------:|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
  for (const f of [...r.failures, ...(r.timing ?? [])]) console.log(`\nFAILED: ${f}`);
}

/** Reads the machine line for the docs: CPU model, cores, load. */
export function machine(): string {
  let model = "unknown CPU";
  try {
    model = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? model;
  } catch {
    /* not Linux */
  }
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  return `${navigator.hardwareConcurrency} × ${model}, Bun ${Bun.version}, load average at start ${load}`;
}

/** A self-signed certificate for 127.0.0.1 made with the system openssl (clients skip verification). */
export function serverCert(): { cert: string; key: string } {
  const dir = scratchDir("nsq-soak-tls-");
  const r = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
    { cwd: dir, stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`);
  return { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
}

/** Open descriptors of `pid`. */
export function fdsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
