/**
 * nsq_to_http's `--http-client-connect-timeout` on top of Bun's fetch, which has no connect phase
 * of its own to time out (its AbortSignal bounds the whole request). Before the first request to
 * an origin, and again after a request to it failed without an HTTP answer, a plain TCP connect to
 * the origin's host and port is made with the connect timeout; only when it succeeds does the
 * request go out (on fetch's own, kept-alive connection). An unreachable or black-holed
 * destination is so given up after the connect timeout, not the (longer) request timeout.
 * Concurrent requests to one origin share one probe.
 */
import { createConnection } from "node:net";

export class ConnectProbe {
  /** origins that answered since their last network failure */
  private readonly healthy = new Set<string>();
  private readonly probing = new Map<string, Promise<void>>();

  constructor(private readonly timeoutMs: number) {}

  /** Resolves when requests to `url` may go out; rejects when its host cannot be connected to in time. */
  check(url: string): Promise<void> {
    if (this.timeoutMs <= 0) return Promise.resolve();
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return Promise.resolve(); // fetch reports the bad URL itself
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return Promise.resolve();
    const origin = parsed.origin;
    if (this.healthy.has(origin)) return Promise.resolve();
    let probe = this.probing.get(origin);
    if (!probe) {
      const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
      const port = parsed.port !== "" ? Number(parsed.port) : parsed.protocol === "https:" ? 443 : 80;
      probe = tcpConnect(host, port, this.timeoutMs).finally(() => this.probing.delete(origin));
      this.probing.set(origin, probe);
    }
    return probe;
  }

  /** The request got an HTTP answer: no more probes for this origin. */
  answered(url: string): void {
    const origin = originOf(url);
    if (origin !== null) this.healthy.add(origin);
  }

  /** The request failed without an answer: probe again before the next one. */
  failed(url: string): void {
    const origin = originOf(url);
    if (origin !== null) this.healthy.delete(origin);
  }
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`dial tcp ${host}:${port}: i/o timeout (connect timeout ${timeoutMs}ms)`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`dial tcp ${host}:${port}: ${err.message}`));
    });
  });
}
