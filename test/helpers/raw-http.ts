/**
 * A raw HTTP/1.1 connection for tests that need control fetch() does not give: bodies sent in
 * pieces (chunked) at chosen moments, exact bytes on the wire, non-HTTP bytes to an HTTP port.
 */
import net from "node:net";

export interface RawHttpResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

export class RawHttp {
  private data = Buffer.alloc(0);
  private closed = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static async connect(port: number): Promise<RawHttp> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawHttp(socket);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(bytes: string | Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Starts a chunked request; send the body with `chunk()` and finish with `end()`. */
  startChunked(method: string, target: string): void {
    this.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
  }

  chunk(bytes: string | Uint8Array): void {
    const b = Buffer.from(bytes);
    this.write(Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from("\r\n")]));
  }

  end(): void {
    this.write("0\r\n\r\n");
  }

  /** Everything received once the server closes the connection (or the deadline passes). */
  async readAll(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.data.toString("latin1");
  }

  /** Reads one complete response (Content-Length or chunked body). */
  async readResponse(timeoutMs = 5000): Promise<RawHttpResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseResponse(this.data);
      if (parsed !== null) return parsed;
      if (this.closed) throw new Error(`connection closed; got ${JSON.stringify(this.data.toString("latin1"))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.data.toString("latin1"))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

function parseResponse(data: Buffer): RawHttpResponse | null {
  const headEnd = data.indexOf("\r\n\r\n");
  if (headEnd < 0) return null;
  const lines = data.subarray(0, headEnd).toString("latin1").split("\r\n");
  const status = Number(lines[0]!.split(" ")[1]);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const rest = data.subarray(headEnd + 4);
  const length = headers.get("content-length");
  if (length !== undefined) {
    const n = Number(length);
    return rest.length >= n ? { status, headers, body: rest.subarray(0, n).toString("utf8") } : null;
  }
  if (headers.get("transfer-encoding") === "chunked") {
    let at = 0;
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf("\r\n", at);
      if (lineEnd < 0) return null;
      const size = parseInt(rest.subarray(at, lineEnd).toString("latin1"), 16);
      if (size === 0) return { status, headers, body: Buffer.concat(parts).toString("utf8") };
      if (rest.length < lineEnd + 2 + size + 2) return null;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  return { status, headers, body: "" };
}
