/**
 * `bun src/cli.ts <args>` as a child process: run to completion (exit code + output), or keep a
 * program running and await lines of its log (stderr).
 */
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const REPO = join(import.meta.dir, "..", "..");
export const CLI = join(REPO, "src", "cli.ts");

function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "FORCE_COLOR") env[k] = v;
  return env;
}

/**
 * The Bun executable under a real NSQ program's name (a symlink in a temp dir): started as
 * `<dir>/nsq_to_http src/cli.ts ...`, argv0 is that name and the CLI runs the multi-call command.
 */
export function multiCallBun(name: string): { path: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "nsq-multicall-"));
  const path = join(dir, name);
  symlinkSync(process.execPath, path);
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `nsq <args>` to completion; stdin is empty. A process still running after `timeoutMs` (a
 * daemon that started when it should have refused) is killed: its code is then the signal's.
 */
export async function runNsq(args: string[], cwd = REPO, timeoutMs = 15_000): Promise<RunResult> {
  const proc = Bun.spawn([process.execPath, CLI, ...args], { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: childEnv() });
  const killer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  return { code, stdout, stderr };
}

export class NsqProcess {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  log = "";
  stdout = "";
  private ended = false;
  private readonly waiters = new Set<() => void>();

  /** `args` after `bun src/cli.ts`; `program` replaces the bun executable (multi-call symlink). */
  constructor(args: string[], program: string = process.execPath) {
    this.proc = Bun.spawn([program, CLI, ...args], { cwd: REPO, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: childEnv() });
    void this.pump(this.proc.stderr, (t) => (this.log += t));
    void this.pump(this.proc.stdout, (t) => (this.stdout += t));
    void this.proc.exited.then(() => {
      this.ended = true;
      this.wake();
    });
  }

  private async pump(stream: ReadableStream<Uint8Array>, add: (text: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      // keep a bounded tail: a long run's log must not grow without limit
      add(decoder.decode(chunk, { stream: true }));
      if (this.log.length > 400_000) this.log = this.log.slice(-200_000);
      this.wake();
    }
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  /** Resolves with the first match of `re` in stderr; rejects at the deadline or when the process ends first. */
  waitFor(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const m = this.log.match(re);
        if (m) return done(() => resolve(m));
        if (this.ended) return done(() => reject(new Error(`process ended before ${re}; log:\n${this.log.slice(-3000)}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${re}; log:\n${this.log.slice(-3000)}`))), timeoutMs);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** TCP and HTTP ports from the daemons' "listening on" lines. */
  async ports(): Promise<{ tcp: number; http: number }> {
    const tcp = await this.waitFor(/TCP: listening on [^\n]*:(\d+)/);
    const http = await this.waitFor(/HTTP: listening on [^\n]*:(\d+)/);
    return { tcp: Number(tcp[1]), http: Number(http[1]) };
  }

  /** Sends `signal` and resolves with the exit code (SIGKILL after `graceMs`). */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 15_000): Promise<number> {
    if (!this.ended) this.proc.kill(signal);
    const killer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    const code = await this.proc.exited;
    clearTimeout(killer);
    return code;
  }
}

/** Polls `cond` every 20 ms until true; throws naming `what` after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
