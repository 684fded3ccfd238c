/**
 * nsqlookupd's TCP listener: one LookupV1Session per connection over node:net sockets.
 */
import { createServer, type Server, type Socket } from "node:net";
import { goListenError, listenHost, peerAddress, splitHostPort } from "../protocol/address.ts";
import { LookupV1Session, type LookupContext } from "./tcp-protocol.ts";
import { goListenerAddress } from "../protocol/listener-address.ts";

export class LookupTcpServer {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;
  private host = "";
  /** as the start-up line printed it, for the shutdown line */
  private listenAddress = "";

  constructor(private readonly ctx: LookupContext) {}

  get port(): number {
    return this.boundPort;
  }

  /** Connected peers (nsqd nodes). */
  get connections(): number {
    return this.sockets.size;
  }

  async listen(address: string): Promise<void> {
    const { host, port } = splitHostPort(address);
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      const target = { kind: "tcp" as const, host: listenHost(host), port };
      const onError = (err: Error) => reject(new Error(`listen (${address}) failed - ${goListenError(target, err)}`));
      server.once("error", onError);
      server.listen({ host: listenHost(host), port }, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("error", (err) => this.ctx.logger.error(`TCP: listener error - ${err.message}`));
    const bound = server.address();
    this.boundPort = typeof bound === "object" && bound ? bound.port : port;
    this.host = listenHost(host);
    this.server = server;
    this.listenAddress = goListenerAddress(host, this.boundPort);
    this.ctx.logger.info(`TCP: listening on ${this.listenAddress}`);
  }

  /** Out of file descriptors: stop accepting, keep the connected peers (src/util/fd-guard.ts). */
  pause(): boolean {
    if (this.server === null || !this.server.listening) return false;
    this.server.close();
    return true;
  }

  /** Accept again on the bound port after pause(). */
  resume(): void {
    if (this.server !== null && !this.server.listening) this.server.listen({ host: this.host, port: this.boundPort });
  }

  /** Stops accepting and closes every client connection (their peers are dropped). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (!server) return;
    // paused (out of file descriptors): already closed, nothing to wait for
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.ctx.logger.info(`TCP: closing ${this.listenAddress}`);
  }

  private accept(socket: Socket): void {
    const remoteAddress = peerAddress(socket.remoteAddress, socket.remotePort);
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const session = new LookupV1Session(
      {
        remoteAddress,
        write: (data) => {
          if (!socket.destroyed) socket.write(data);
        },
        // flush the error reply, then drop the connection even if the client keeps its side open
        close: () => socket.end(() => socket.destroy()),
      },
      this.ctx,
    );
    socket.on("data", (chunk: Buffer) => session.receive(chunk));
    socket.on("error", (err) => this.ctx.logger.debug(`TCP: client(${remoteAddress}) - ${err.message}`));
    socket.on("close", () => {
      this.sockets.delete(socket);
      session.disconnected();
    });
  }
}
