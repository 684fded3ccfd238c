/**
 * A raw V2 protocol client for tests: sends exact bytes and reads frames, so every assertion is
 * about what is on the wire.
 */
import net from "node:net";
import { commandWithBody, FrameReader, type Frame } from "./frame-reader.ts";

export type { Frame };

export interface WireMessage {
  timestampNs: bigint;
  attempts: number;
  id: string;
  body: Buffer;
}

export function parseMessage(data: Buffer): WireMessage {
  return {
    timestampNs: data.readBigInt64BE(0),
    attempts: data.readUInt16BE(8),
    id: data.subarray(10, 26).toString("latin1"),
    body: data.subarray(26),
  };
}

export class RawClient {
  /** frames as they arrive; heartbeats are answered here (when autoNop) and never queued */
  private readonly reader = new FrameReader({ intercept: (frame) => this.keepFrame(frame) });
  /** answer heartbeats with NOP automatically */
  autoNop = true;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.reader.push(chunk));
    socket.on("close", () => this.reader.close());
    socket.on("error", () => {});
  }

  /** True once the server closed the connection. */
  get closed(): boolean {
    return this.reader.closed;
  }

  private keepFrame(frame: Frame): boolean {
    if (this.autoNop && frame.type === 0 && frame.data.toString() === "_heartbeat_") {
      this.socket.write("NOP\n");
      return false;
    }
    return true;
  }

  static async connect(port: number, magic = true): Promise<RawClient> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const c = new RawClient(socket);
    if (magic) socket.write("  V2");
    return c;
  }

  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** A command with a size-prefixed body. */
  writeWithBody(line: string, body: string | Uint8Array): void {
    this.socket.write(commandWithBody(line, body));
  }

  identify(data: Record<string, unknown>): void {
    this.writeWithBody("IDENTIFY", JSON.stringify(data));
  }

  pub(topic: string, body: string | Uint8Array): void {
    this.writeWithBody(`PUB ${topic}`, body);
  }

  mpub(topic: string, bodies: (string | Uint8Array)[]): void {
    const parts: Buffer[] = [Buffer.alloc(4)];
    parts[0]!.writeInt32BE(bodies.length);
    for (const b of bodies) {
      const bb = Buffer.from(b);
      const s = Buffer.alloc(4);
      s.writeInt32BE(bb.length);
      parts.push(s, bb);
    }
    this.writeWithBody(`MPUB ${topic}`, Buffer.concat(parts));
  }

  readFrame(timeoutMs = 5000): Promise<Frame> {
    return this.reader.next(timeoutMs);
  }

  /** Reads a response frame and returns its text; throws on an error frame. */
  async readResponse(): Promise<string> {
    const f = await this.readFrame();
    if (f.type !== 0) throw new Error(`expected response, got type ${f.type}: ${f.data.toString()}`);
    return f.data.toString();
  }

  async readError(): Promise<string> {
    const f = await this.readFrame();
    if (f.type !== 1) throw new Error(`expected error, got type ${f.type}: ${f.data.toString()}`);
    return f.data.toString();
  }

  async readMessage(): Promise<WireMessage> {
    const f = await this.readFrame();
    if (f.type !== 2) throw new Error(`expected message, got type ${f.type}: ${f.data.toString()}`);
    return parseMessage(f.data);
  }

  /** Resolves when the server closes the connection. */
  waitClosed(timeoutMs = 5000): Promise<void> {
    return this.reader.waitClosed(timeoutMs);
  }

  /** True when no frame arrives within `ms` (used only to assert the absence of a delivery). */
  async expectNoFrame(ms: number): Promise<boolean> {
    try {
      const f = await this.readFrame(ms);
      this.reader.unshift(f);
      return false;
    } catch {
      return true;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Subscribes a fresh connection: magic, SUB, RDY. */
export async function subscriber(port: number, topic: string, channel: string, rdy = 1, identify?: Record<string, unknown>): Promise<RawClient> {
  const c = await RawClient.connect(port);
  if (identify) {
    c.identify(identify);
    await c.readResponse();
  }
  c.write(`SUB ${topic} ${channel}\n`);
  const ok = await c.readResponse();
  if (ok !== "OK") throw new Error(`SUB failed: ${ok}`);
  if (rdy > 0) c.write(`RDY ${rdy}\n`);
  return c;
}
