/**
 * A Bun.serve listener for an NSQ daemon's HTTP API: binds a parsed address (TCP or, for nsqd, a
 * unix socket path) exclusively, hands every request to the daemon with the peer's socket address,
 * and turns a failed bind into nsqd's one-line error naming the address.
 */
import type { Server, SocketAddress, TLSOptions } from "bun";
import { goListenError } from "../protocol/address.ts";

export type ListenTarget = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

export interface HttpListenerOptions {
  /** the address as the user wrote it, for the error message */
  address: string;
  target: ListenTarget;
  /** `peer` is null when Bun cannot tell (unix sockets) */
  handle(req: Request, peer: SocketAddress | null): Response | Promise<Response>;
  /** answers a request whose handler threw (Bun's default page otherwise) */
  onError?: (err: Error) => Response;
  tls?: TLSOptions;
  /** Bun's request body limit; nsqd lifts it to apply its own (413 MSG_TOO_BIG / BODY_TOO_BIG) */
  maxRequestBodySize?: number;
}

export interface HttpListener {
  /** the bound TCP port; -1 on a unix socket */
  readonly port: number;
  stop(): Promise<void>;
  /**
   * Stops accepting connections and keeps serving the open ones (out of file descriptors, Bun's
   * accept would otherwise retry in a busy loop); false when it cannot (unix socket).
   */
  pause(): boolean;
  /** Listens again on the same port after pause(); false when the port could not be bound again. */
  resume(): boolean;
}

/** Binds and serves; throws `listen (<address>) failed - <reason>` when the address cannot be bound. */
export function startHttpListener(opts: HttpListenerOptions): HttpListener {
  const common = {
    fetch: (req: Request, server: Server<undefined>) => opts.handle(req, server.requestIP(req)),
    development: false,
    ...(opts.maxRequestBodySize !== undefined ? { maxRequestBodySize: opts.maxRequestBodySize } : {}),
    ...(opts.onError !== undefined ? { error: opts.onError } : {}),
    ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
  };
  const target = opts.target;
  let server: Server<undefined>;
  try {
    server =
      target.kind === "tcp"
        ? // reusePort: Bun.serve otherwise sets SO_REUSEPORT (with development: false), and a second
          // daemon on the same address would bind too and take a share of the requests
          Bun.serve({ ...common, hostname: target.host, port: target.port, reusePort: false })
        : Bun.serve({ ...common, unix: target.path });
  } catch (err) {
    throw new Error(`listen (${opts.address}) failed - ${goListenError(target, err)}`);
  }
  const port = target.kind === "tcp" ? (server.port ?? -1) : -1;
  let paused = false;
  return {
    port,
    stop: () => server.stop(true),
    pause: () => {
      if (target.kind !== "tcp" || paused) return false;
      paused = true;
      void server.stop(false);
      return true;
    },
    resume: () => {
      if (target.kind !== "tcp" || !paused) return true; // nothing to do
      try {
        server = Bun.serve({ ...common, hostname: target.host, port, reusePort: false });
        paused = false;
        return true;
      } catch {
        return false;
      }
    },
  };
}
