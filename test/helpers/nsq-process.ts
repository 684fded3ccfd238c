/**
 * `bun src/cli.ts <args>` as a child process, the one way tests start real `nsq` programs: run to
 * completion (exit code + output), keep a program running and await lines of its log (stderr),
 * or start daemons on port 0 in a ProcessGroup, their ports read from the "listening on" lines.
 */
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const REPO = join(import.meta.dir, "..", "..");
export const CLI = join(REPO, "src", "cli.ts");

/** The environment of children: plain output (no colour forced, NO_COLOR set), plus `extra`. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "FORCE_COLOR") env[k] = v;
  return { ...env, NO_COLOR: "1", ...extra };
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

export interface RunOptions {
  cwd?: string;
  /** what the program reads on stdin (default: nothing, stdin closed) */
  stdin?: string | Uint8Array;
  /** variables added to the environment */
  env?: Record<string, string>;
  /**
   * A process still running after this long (a daemon that started when it should have refused)
   * is killed: its code is then the signal's. Default 15 s.
   */
  timeoutMs?: number;
}

/** Runs `nsq <args>` (bun src/cli.ts) to completion. */
export function runNsq(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand([process.execPath, CLI, ...args], opts);
}

/** runNsq for any command line (a compiled binary, a multi-call link, `bun build`). */
export async function runCommand(cmd: string[], opts: RunOptions = {}): Promise<RunResult> {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd ?? REPO,
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    env: childEnv(opts.env),
  });
  const killer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 15_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  return { code, stdout, stderr };
}

/**
 * `nsq <args>` with its stdout and stderr left to the caller (to stream or read at the end);
 * stdin is closed, piped ("pipe": write to proc.stdin) or fed from a Blob. The caller kills it.
 */
export function spawnNsq(args: string[], stdin: "ignore" | "pipe" | Blob = "ignore"): Subprocess<"pipe" | "ignore", "pipe", "pipe"> {
  const proc = Bun.spawn([process.execPath, CLI, ...args], { cwd: REPO, stdin: stdin as "pipe", stdout: "pipe", stderr: "pipe", env: childEnv() });
  return proc as Subprocess<"pipe" | "ignore", "pipe", "pipe">;
}

export class NsqProcess {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  log = "";
  stdout = "";
  private ended = false;
  private readonly waiters = new Set<() => void>();

  /**
   * `args` after `bun src/cli.ts`; `program` replaces the bun executable (multi-call symlink).
   * With `viaCli` false, `program args` is run as given (a compiled binary, see exec()).
   */
  constructor(args: string[], program: string = process.execPath, viaCli = true) {
    this.proc = Bun.spawn(viaCli ? [program, CLI, ...args] : [program, ...args], { cwd: REPO, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: childEnv() });
    void this.pump(this.proc.stderr, (t) => (this.log += t));
    void this.pump(this.proc.stdout, (t) => (this.stdout += t));
    void this.proc.exited.then(() => {
      this.ended = true;
      this.wake();
    });
  }

  /** Starts the command line `cmd` as it is (e.g. a compiled `nsq` or one of its links). */
  static exec(cmd: string[]): NsqProcess {
    return new NsqProcess(cmd.slice(1), cmd[0], false);
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

  /** False once the process has exited. */
  get running(): boolean {
    return !this.ended;
  }

  /** Resolves with the exit code once the process has exited. */
  get exited(): Promise<number> {
    return this.proc.exited;
  }

  /** Sends `signal` without waiting (e.g. SIGSTOP / SIGCONT, SIGUSR1). */
  signal(signal: NodeJS.Signals): void {
    if (!this.ended) this.proc.kill(signal);
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

/** A daemon started by a ProcessGroup, with the ports it logged. */
export interface Daemon {
  proc: NsqProcess;
  /** 0 for programs without a TCP listener (nsq admin) */
  tcp: number;
  http: number;
  /** what the daemon wrote to stderr so far */
  log(): string;
  /** Sends `signal` (default SIGKILL) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const TCP_LISTENING = /TCP: listening on [^\n]*:(\d+)/;
const HTTP_LISTENING = /HTTP: listening on [^\n]*:(\d+)/;

/** Daemons (and their data directories) a test file starts; stopAll() SIGKILLs and removes them. */
export class ProcessGroup {
  private readonly children: NsqProcess[] = [];
  private readonly dirs: string[] = [];

  /** Spawns `nsq <args>`; resolves once the listeners it has are logged (rejects if it exits first). */
  async start(args: string[], needsTcp = true): Promise<Daemon> {
    const proc = new NsqProcess(args);
    this.children.push(proc);
    // generous: the machine running the tests may be busy
    const http = Number((await proc.waitFor(HTTP_LISTENING, 30_000))[1]);
    const tcp = needsTcp ? Number((await proc.waitFor(TCP_LISTENING, 30_000))[1]) : 0;
    return {
      proc,
      tcp,
      http,
      log: () => proc.log,
      kill: async (signal = "SIGKILL") => {
        await proc.stop(signal);
      },
    };
  }

  /** A temporary directory removed by stopAll(). */
  dir(prefix = "nsq-proc-"): string {
    const d = tempDir(prefix);
    this.dirs.push(d);
    return d;
  }

  lookupd(extra: string[] = []): Promise<Daemon> {
    return this.start(["lookupd", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--broadcast-address=127.0.0.1", ...extra]);
  }

  /** A broker with a fresh data directory, registered with the given lookupds (their TCP ports). */
  nsqd(lookupdTcpPorts: number[], extra: string[] = []): Promise<Daemon> {
    return this.start([
      "serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--broadcast-address=127.0.0.1",
      `--data-path=${this.dir()}`, ...lookupdTcpPorts.map((p) => `--lookupd-tcp-address=127.0.0.1:${p}`), ...extra,
    ]);
  }

  admin(args: string[]): Promise<Daemon> {
    return this.start(["admin", "--http-address=127.0.0.1:0", ...args], false);
  }

  stopAll(): void {
    for (const c of this.children) c.signal("SIGKILL");
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
