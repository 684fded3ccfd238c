/**
 * Real `nsq` processes for tests: `bun src/cli.ts <command>` children on port 0, their ports read
 * from the "TCP/HTTP: listening on" log lines, stopped (SIGKILL) by stopAll().
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BUN = join(import.meta.dir, "..", "..", "node_modules", ".bin", "bun");
const CLI = join(import.meta.dir, "..", "..", "src", "cli.ts");

export interface NsqProcess {
  proc: ChildProcess;
  /** 0 for processes without a TCP listener (nsq admin) */
  tcp: number;
  http: number;
  log(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export class ProcessGroup {
  private readonly children: ChildProcess[] = [];
  private readonly dirs: string[] = [];

  /** Spawns `nsq <args>`; resolves once the listeners it has are logged. */
  start(args: string[], needsTcp = true): Promise<NsqProcess> {
    const proc = spawn(BUN, [CLI, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    this.children.push(proc);
    let log = "";
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    return new Promise((resolve, reject) => {
      proc.stderr!.on("data", (d: Buffer) => {
        // drained for the whole life of the process so it never blocks on a full pipe
        if (log.length < 200_000) log += d.toString();
        const tcp = /TCP: listening on [^\n]*:(\d+)/.exec(log);
        const http = /HTTP: listening on [^\n]*:(\d+)/.exec(log);
        if ((tcp || !needsTcp) && http) {
          resolve({
            proc,
            tcp: tcp ? Number(tcp[1]) : 0,
            http: Number(http[1]),
            log: () => log,
            kill: async (signal = "SIGKILL") => {
              if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
              await exited;
            },
          });
        }
      });
      proc.on("exit", (code, signal) => reject(new Error(`nsq ${args[0]} exited (${code ?? signal}): ${log}`)));
    });
  }

  lookupd(): Promise<NsqProcess> {
    return this.start(["lookupd", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--broadcast-address=127.0.0.1"]);
  }

  /** A broker registered with the given lookupds (their TCP ports). */
  nsqd(lookupdTcpPorts: number[], extra: string[] = []): Promise<NsqProcess> {
    const dataPath = mkdtempSync(join(tmpdir(), "nsq-proc-"));
    this.dirs.push(dataPath);
    return this.start([
      "serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--broadcast-address=127.0.0.1",
      `--data-path=${dataPath}`, ...lookupdTcpPorts.map((p) => `--lookupd-tcp-address=127.0.0.1:${p}`), ...extra,
    ]);
  }

  admin(args: string[]): Promise<NsqProcess> {
    return this.start(["admin", "--http-address=127.0.0.1:0", ...args], false);
  }

  stopAll(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** Polls `check` until it returns a truthy value (or throws after `ms`, with the last value). */
export async function until<T>(what: string, check: () => T | Promise<T>, ms = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      last = await check();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await Bun.sleep(25);
  }
}
