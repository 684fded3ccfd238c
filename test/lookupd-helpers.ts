/**
 * Test helpers for nsqlookupd: a raw TCP client speaking V1 bytes (and waitFor, helpers/until.ts).
 */
import { connect, type Socket } from "node:net";

/** Polling with a deadline (the tests' one helper, under the name these tests use). */
export { until as waitFor } from "./helpers/until.ts";

/** A raw V1 client: write bytes, read `[int32 size][data]` frames, observe the close. */
export class RawLookupClient {
  private buffer: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private closedFlag = false;
  /** "ip:port" of our side: the peer id lookupd assigns (kept after the socket closes). */
  readonly localAddress: string;

  private constructor(private readonly socket: Socket) {
    this.localAddress = `${socket.localAddress}:${socket.localPort}`;
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.notify();
    });
    socket.on("close", () => {
      this.closedFlag = true;
      this.notify();
    });
    socket.on("error", () => {});
  }

  static connect(port: number): Promise<RawLookupClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.setNoDelay(true);
        resolve(new RawLookupClient(socket));
      });
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => this.socket.write(data, () => resolve()));
  }

  /** All bytes received and not yet consumed. */
  get pending(): Buffer {
    return this.buffer;
  }

  /** Reads one frame's data as a string. */
  async readFrame(timeoutMs = 2000): Promise<string> {
    return (await this.readFrameBytes(timeoutMs)).toString("utf8");
  }

  async readFrameBytes(timeoutMs = 2000): Promise<Buffer> {
    await this.until(() => this.buffer.length >= 4 && this.buffer.length >= 4 + this.buffer.readInt32BE(0), timeoutMs, "a frame");
    const size = this.buffer.readInt32BE(0);
    const data = this.buffer.subarray(4, 4 + size);
    this.buffer = this.buffer.subarray(4 + size);
    return Buffer.from(data);
  }

  /** Resolves when the server has closed the connection. */
  waitClosed(timeoutMs = 2000): Promise<void> {
    return this.until(() => this.closedFlag, timeoutMs, "the connection to close");
  }

  close(): void {
    this.socket.destroy();
  }

  private until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}; have ${this.buffer.length} bytes, closed=${this.closedFlag}`));
      }, timeoutMs);
      const check = () => {
        if (!condition()) {
          if (this.closedFlag) {
            clearTimeout(timer);
            this.waiters = this.waiters.filter((w) => w !== check);
            reject(new Error(`connection closed while waiting for ${what}`));
          }
          return;
        }
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** `IDENTIFY\n[int32 size][json]` */
export function identifyBytes(body: string | object): Buffer {
  const json = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
  const size = Buffer.alloc(4);
  size.writeInt32BE(json.length, 0);
  return Buffer.concat([Buffer.from("IDENTIFY\n"), size, json]);
}

export const NSQD_IDENTITY = {
  broadcast_address: "nsqd1.example",
  hostname: "nsqd1",
  http_port: 4151,
  tcp_port: 4150,
  version: "1.3.0",
};

/** Connects, sends the magic and an IDENTIFY, and consumes the reply. */
export async function identifiedClient(port: number, identity: object = NSQD_IDENTITY): Promise<RawLookupClient> {
  const client = await RawLookupClient.connect(port);
  await client.write(Buffer.concat([Buffer.from("  V1"), identifyBytes(identity)]));
  const reply = await client.readFrame();
  if (!reply.startsWith("{")) throw new Error(`IDENTIFY failed: ${reply}`);
  return client;
}
