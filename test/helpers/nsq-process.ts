/**
 * `bun src/cli.ts <args>` as a child process: run to completion (exit code + output), or keep a
 * daemon running and await lines of its log (stderr).
 */
import type { Subprocess } from "bun";
import { join } from "node:path";

export const REPO = join(import.meta.dir, "..", "..");
const CLI = join(REPO, "src", "cli.ts");

/** The environment for children: no colour forcing, so output is plain. */
function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "FORCE_COLOR") env[k] = v;
  return env;
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

/** A long-running `nsq serve` / `nsq lookupd` whose log can be awaited. */
export class NsqProcess {
  readonly proc: Subprocess<"ignore", "ignore", "pipe">;
  log = "";
  private ended = false;
  private readonly waiters = new Set<() => void>();

  constructor(args: string[]) {
    this.proc = Bun.spawn([process.execPath, CLI, ...args], { cwd: REPO, stdin: "ignore", stdout: "ignore", stderr: "pipe", env: childEnv() });
    void this.pump();
  }

  private async pump(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stderr) {
      this.log += decoder.decode(chunk, { stream: true });
      for (const wake of this.waiters) wake();
    }
    this.ended = true;
    for (const wake of this.waiters) wake();
  }

  /** The first match of `re` in the log; rejects if the process ends first or at the deadline. */
  waitFor(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out waiting for ${re}; log:\n${this.log}`))), timeoutMs);
      const finish = (settle: () => void): true => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
        return true;
      };
      const check = (): boolean => {
        const m = this.log.match(re);
        if (m) return finish(() => resolve(m));
        if (this.ended) return finish(() => reject(new Error(`process ended before ${re}; log:\n${this.log}`)));
        return false;
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The TCP and HTTP ports it logged (`TCP: listening on 127.0.0.1:N`). */
  async ports(): Promise<{ tcp: number; http: number }> {
    const tcp = await this.waitFor(/TCP: listening on 127\.0\.0\.1:(\d+)/);
    const http = await this.waitFor(/HTTP: listening on 127\.0\.0\.1:(\d+)/);
    return { tcp: Number(tcp[1]), http: Number(http[1]) };
  }

  /** Stops it (SIGTERM) and resolves with the exit code; SIGKILL if it is still running after 5 s. */
  async stop(): Promise<number> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode ?? -1;
    this.proc.kill("SIGTERM");
    const killer = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    const code = await this.proc.exited;
    clearTimeout(killer);
    return code;
  }
}
