/**
 * `--start-server`: runs `nsq serve` as a child process on free loopback ports with a temporary
 * data directory, and reads its CPU time and resident memory from /proc (Linux).
 *
 * Which executable: `--server-bin` if given; else dist/nsq when it exists; else this Bun running
 * the source tree's src/cli.ts. A compiled `nsq` running the bench starts itself (`<execPath> serve`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createServer } from "node:net";
import type { Subprocess } from "bun";

export interface ServerProcess {
  pid: number;
  tcpAddress: string;
  httpAddress: string;
  /** the command line, for the report */
  command: string;
  /** ms from spawn to the first successful /ping */
  startupMs: number;
  /** user+system CPU time in µs (from /proc/<pid>/stat) */
  cpuUs(): number;
  /** VmRSS in kB (from /proc/<pid>/status) */
  rssKb(): number | undefined;
  stop(): Promise<void>;
}

export interface StartServerOptions {
  /** extra nsqd flags, e.g. ["--mem-queue-size=1000000"] */
  flags: string[];
  serverBin?: string;
  /** the whole command instead of `<serverBin> serve`, e.g. ["/path/to/nsqd"] for a real nsqd */
  command?: string[];
  /** ms to wait for /ping */
  timeoutMs?: number;
}

const REPO_ROOT = resolve(import.meta.dir, "../../..");

/** A free loopback port (bind to 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function isCompiledExecutable(): boolean {
  // a compiled Bun executable's modules live under the virtual /$bunfs root
  return import.meta.dir.startsWith("/$bunfs") || import.meta.dir.startsWith("B:\\~BUN");
}

/** The argv that runs `nsq serve`. */
export function serveCommand(serverBin: string | undefined): string[] {
  if (serverBin !== undefined && serverBin !== "") return [serverBin, "serve"];
  if (isCompiledExecutable()) return [process.execPath, "serve"];
  const dist = join(REPO_ROOT, "dist", "nsq");
  if (existsSync(dist)) return [dist, "serve"];
  return sourceTreeServe();
}

/** `bun src/cli.ts serve` from this checkout. */
function sourceTreeServe(): string[] {
  return [process.execPath, join(import.meta.dir, "..", "..", "cli.ts"), "serve"];
}

const CLOCK_TICKS_PER_SEC = 100; // Linux USER_HZ

/** utime + stime of a process in µs. */
export function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  // fields after the command name, which is in parentheses and may contain spaces
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1_000_000) / CLOCK_TICKS_PER_SEC;
}

export function processRssKb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "latin1");
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function waitForPing(httpAddress: string, child: Subprocess, deadline: number): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before answering /ping`);
    try {
      const res = await fetch(`http://${httpAddress}/ping`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`server did not answer /ping on ${httpAddress} in time`);
    await Bun.sleep(2);
  }
}

export async function startServer(options: StartServerOptions): Promise<ServerProcess> {
  if (options.command !== undefined) return startServerWith(options.command, options);
  const argv = serveCommand(options.serverBin);
  try {
    return await startServerWith(argv, options);
  } catch (err) {
    // an automatically chosen dist/nsq may predate `serve`: fall back to this source tree once
    const fallback = sourceTreeServe();
    if (options.serverBin || isCompiledExecutable() || argv[0] === fallback[0]) throw err;
    process.stderr.write(`bench: ${argv.join(" ")} failed (${err instanceof Error ? err.message : String(err)}); using the source tree\n`);
    return startServerWith(fallback, options);
  }
}

async function startServerWith(command: string[], options: StartServerOptions): Promise<ServerProcess> {
  const dataPath = mkdtempSync(join(tmpdir(), "nsq-bench-"));
  const tcpPort = await freePort();
  const httpPort = await freePort();
  const tcpAddress = `127.0.0.1:${tcpPort}`;
  const httpAddress = `127.0.0.1:${httpPort}`;
  const argv = [
    ...command,
    `--tcp-address=${tcpAddress}`,
    `--http-address=${httpAddress}`,
    `--data-path=${dataPath}`,
    "--log-level=warn",
    ...options.flags,
  ];
  const spawnedAt = performance.now();
  const child = Bun.spawn(argv, { stdout: "ignore", stderr: "inherit", stdin: "ignore" });
  const cleanup = () => rmSync(dataPath, { recursive: true, force: true });
  try {
    await waitForPing(httpAddress, child, spawnedAt + (options.timeoutMs ?? 15_000));
  } catch (err) {
    child.kill("SIGKILL");
    await child.exited;
    cleanup();
    throw err;
  }
  const startupMs = performance.now() - spawnedAt;
  return {
    pid: child.pid,
    tcpAddress,
    httpAddress,
    command: argv.map((a) => (a.startsWith(REPO_ROOT) ? a.slice(REPO_ROOT.length + 1) : a)).join(" "),
    startupMs,
    cpuUs: () => processCpuUs(child.pid),
    rssKb: () => processRssKb(child.pid),
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child.exited;
      clearTimeout(timer);
      cleanup();
    },
  };
}
