/**
 * Batched writes to a stream (stdout) with message acknowledgement after the data is accepted:
 * everything appended in one tick is written with one `write`, and the messages behind it are
 * FINed in that write's callback — so a slow reader (a pipe) holds back the RDY window instead
 * of letting output pile up in memory. EPIPE (the reader went away) is reported as `closed`.
 */
import type { Message } from "../client/message.ts";

export interface WritableLike {
  write(data: Uint8Array, cb?: (err?: Error | null) => void): boolean;
  on(event: "error", listener: (err: Error) => void): unknown;
}

export class AckingWriter {
  private chunks: Buffer[] = [];
  private messages: Message[] = [];
  private scheduled = false;
  private writesPending = 0;
  private idleWaiters: Array<() => void> = [];
  /** set when the reader closed the pipe */
  closed = false;
  /** set on any other write error */
  error: Error | null = null;

  constructor(
    private readonly stream: WritableLike,
    private readonly onBroken: () => void,
  ) {
    stream.on("error", (err) => this.fail(err));
  }

  append(parts: readonly Buffer[], msg: Message | null): void {
    if (this.closed || this.error) return;
    for (const p of parts) this.chunks.push(p);
    if (msg) this.messages.push(msg);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.chunks.length === 0 || this.closed || this.error) return;
    const data = Buffer.concat(this.chunks);
    const msgs = this.messages;
    this.chunks = [];
    this.messages = [];
    this.writesPending++;
    try {
      this.stream.write(data, (err) => {
        this.writesPending--;
        if (err) this.fail(err);
        else for (const m of msgs) m.finish();
        if (this.writesPending === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    } catch (err) {
      this.writesPending--;
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  };

  /** Flushes what is buffered and resolves when every write completed (or failed). */
  async drain(): Promise<void> {
    this.flush();
    if (this.writesPending === 0 || this.closed || this.error) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private fail(err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EPIPE" || code === "ERR_STREAM_DESTROYED") this.closed = true;
    else this.error ??= err;
    for (const w of this.idleWaiters.splice(0)) w();
    this.onBroken();
  }
}
