#!/usr/bin/env bun
/**
 * Start-up time of the broker: from spawning `<program> serve` to the first `200 OK` from
 * GET /ping, in milliseconds.
 *
 *   bun scripts/startup-time.ts [PROGRAM] [--runs N]
 *
 * PROGRAM defaults to dist/nsq (build it with `npm run build`); a `.ts` file is run with bun, so
 * `bun scripts/startup-time.ts src/cli.ts` measures the uncompiled script for comparison.
 * Each run uses free loopback ports and a fresh temporary data directory.
 */
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO_ROOT = resolve(import.meta.dir, "..");
const POLL_EVERY_MS = 2;
const DEADLINE_MS = 15_000;

/** A loopback port nothing listens on right now (the OS picks it). Also used by many-topics.ts. */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

/** How to run `program`: a .ts entry point through this Bun, anything else (dist/nsq) as is. */
export function commandFor(program: string): string[] {
  return program.endsWith(".ts") ? [process.execPath, program] : [program];
}

async function pingOnce(url: string): Promise<boolean> {
  try {
    const res = await fetch(url);
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** One measurement: spawn, poll /ping until it answers, stop the broker. */
export async function measureStartup(program: string): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), "nsq-startup-"));
  const httpPort = freePort();
  const url = `http://127.0.0.1:${httpPort}/ping`;
  const started = performance.now();
  const child = Bun.spawn(
    [...commandFor(program), "serve", `--tcp-address=127.0.0.1:${freePort()}`, `--http-address=127.0.0.1:${httpPort}`, `--data-path=${dataDir}`],
    { stdout: "ignore", stderr: "pipe" },
  );
  try {
    while (!(await pingOnce(url))) {
      if (child.exitCode !== null) {
        const stderr = await new Response(child.stderr).text();
        throw new Error(`${program} serve exited with ${child.exitCode} before /ping answered: ${stderr.trim()}`);
      }
      if (performance.now() - started > DEADLINE_MS) throw new Error(`/ping did not answer within ${DEADLINE_MS} ms`);
      await Bun.sleep(POLL_EVERY_MS);
    }
    return performance.now() - started;
  } finally {
    child.kill("SIGTERM");
    await child.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function parseArgs(argv: readonly string[]): { program: string; runs: number } {
  let program = join(REPO_ROOT, "dist", process.platform === "win32" ? "nsq.exe" : "nsq");
  let runs = 5;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--runs" || arg.startsWith("--runs=")) {
      const text = arg.includes("=") ? arg.slice("--runs=".length) : argv[++i];
      runs = Number(text);
      if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs wants a positive integer, got "${text}"`);
    } else if (arg.startsWith("-")) {
      throw new Error(`unknown flag ${arg} (usage: startup-time.ts [PROGRAM] [--runs N])`);
    } else {
      program = resolve(arg);
    }
  }
  if (!existsSync(program)) throw new Error(`${program} does not exist (run "npm run build" first)`);
  return { program, runs };
}

if (import.meta.main) {
  try {
    const { program, runs } = parseArgs(process.argv.slice(2));
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const ms = await measureStartup(program);
      times.push(ms);
      process.stdout.write(`run ${i + 1}: ${ms.toFixed(1)} ms to /ping\n`);
    }
    process.stdout.write(
      `${program}: start-up to /ping median ${median(times).toFixed(1)} ms, min ${Math.min(...times).toFixed(1)} ms over ${runs} runs\n`,
    );
  } catch (err) {
    process.stderr.write(`startup-time: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
