/**
 * `nsq bench writer`: nsq's bench_writer shape. `concurrency` connections each send MPUBs of
 * `batchSize` × `size`-byte messages, pipelined with at most `maxOutstanding` unanswered per
 * connection, for `runforMs`; every OK counts one batch. Each connection owns one pre-built MPUB
 * frame: per batch only the 16-byte stamps (time, sequence, run id) are rewritten in place and the
 * whole frame goes out in one write.
 */
import {
  BenchConnection,
  FRAME_ERROR,
  FRAME_RESPONSE,
  encodeText,
  frameText,
  isOk,
  parseHostPort,
  type FrameHandler,
} from "./wire.ts";
import { STAMP_SIZE, randomRunId } from "./payload.ts";

export interface WriterOptions {
  address: string;
  topic: string;
  size: number;
  batchSize: number;
  runforMs: number;
  concurrency: number;
  /** unanswered MPUBs allowed per connection */
  maxOutstanding: number;
  runId?: number;
  /** stop after this many messages were sent (rounded up to whole batches); 0 = no limit */
  count?: number;
}

export interface WriterResult {
  /** messages acknowledged by the server (OK'd batches × batch size) */
  messages: number;
  bytes: number;
  durationMs: number;
  runId: number;
  errors: string[];
}

/** The sequence counter all connections of one writer share (publish order). */
interface SharedState {
  nextSeq: number;
  runId: number;
  stopping: boolean;
  /** no batch is started once nextSeq reaches this */
  seqLimit: number;
  errors: string[];
  stop(): void;
}

export function validateWriterOptions(o: WriterOptions): void {
  if (!Number.isInteger(o.size) || o.size < 1) throw new Error(`--size must be a positive integer (got ${o.size})`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`--batch-size must be a positive integer (got ${o.batchSize})`);
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new Error(`--concurrency must be a positive integer (got ${o.concurrency})`);
  if (!Number.isInteger(o.maxOutstanding) || o.maxOutstanding < 1) throw new Error(`--max-outstanding must be a positive integer (got ${o.maxOutstanding})`);
  if (!(o.runforMs > 0)) throw new Error(`--runfor must be positive`);
  if (o.topic === "") throw new Error("--topic is required");
}

/** Builds `MPUB <topic>\n` + body size + count + count × (size + zero body); returns stamp offsets. */
export function buildMpubFrame(topic: string, size: number, batchSize: number): { frame: Uint8Array; stamps: Int32Array } {
  const head = encodeText(`MPUB ${topic}\n`);
  const bodySize = 4 + batchSize * (4 + size);
  const frame = new Uint8Array(head.length + 4 + bodySize);
  frame.set(head, 0);
  const view = new DataView(frame.buffer);
  view.setUint32(head.length, bodySize);
  view.setUint32(head.length + 4, batchSize);
  const stamps = new Int32Array(size >= STAMP_SIZE ? batchSize : 0);
  let offset = head.length + 8;
  for (let i = 0; i < batchSize; i++) {
    view.setUint32(offset, size);
    if (stamps.length > 0) stamps[i] = offset + 4;
    offset += 4 + size;
  }
  return { frame, stamps };
}

class WriterConnection implements FrameHandler {
  conn: BenchConnection | undefined;
  outstanding = 0;
  okBatches = 0;
  lastOkAt = 0;
  private readonly view: DataView;
  private done: (() => void) | undefined;

  constructor(
    private readonly shared: SharedState,
    private readonly frame: Uint8Array,
    private readonly stamps: Int32Array,
    private readonly maxOutstanding: number,
    private readonly batchSize: number,
  ) {
    this.view = new DataView(frame.buffer);
  }

  /** Resolves once stopped and every outstanding batch was answered (or the connection closed). */
  finished(): Promise<void> {
    return new Promise((resolve) => {
      this.done = resolve;
      this.checkDone();
    });
  }

  fill(): void {
    const conn = this.conn;
    if (conn === undefined) return;
    while (!this.shared.stopping && this.outstanding < this.maxOutstanding && !conn.blocked && !conn.isClosed) {
      if (this.shared.nextSeq >= this.shared.seqLimit) {
        this.shared.stop();
        break;
      }
      this.stamp();
      this.outstanding++;
      conn.write(this.frame);
    }
  }

  private stamp(): void {
    const stamps = this.stamps;
    if (stamps.length === 0) {
      this.shared.nextSeq += this.batchSize; // too small to stamp; still counts for --count
      return;
    }
    const now = performance.timeOrigin + performance.now();
    const view = this.view;
    const runId = this.shared.runId;
    let seq = this.shared.nextSeq;
    for (let i = 0; i < stamps.length; i++) {
      const at = stamps[i]!;
      view.setFloat64(at, now);
      view.setUint32(at + 8, seq++);
      view.setUint32(at + 12, runId);
    }
    this.shared.nextSeq = seq;
  }

  onFrame(buf: Uint8Array, start: number, type: number, dataLength: number): void {
    if (type === FRAME_RESPONSE && isOk(buf, start, dataLength)) {
      this.outstanding--;
      this.okBatches++;
      this.lastOkAt = performance.now();
    } else if (type === FRAME_ERROR) {
      this.shared.errors.push(frameText(buf, start, dataLength));
      this.outstanding--;
      this.shared.stop();
    }
  }

  onChunkEnd(): void {
    this.fill();
    this.checkDone();
  }

  onDrain(): void {
    this.fill();
  }

  onClose(error: Error | undefined): void {
    if (error !== undefined) this.shared.errors.push(error.message);
    else if (!this.shared.stopping) this.shared.errors.push("server closed the connection");
    this.outstanding = 0;
    this.shared.stop();
    this.checkDone();
  }

  private checkDone(): void {
    if (this.done !== undefined && (this.outstanding === 0 || this.conn?.isClosed)) {
      const done = this.done;
      this.done = undefined;
      done();
    }
  }
}

export async function runWriter(options: WriterOptions): Promise<WriterResult> {
  validateWriterOptions(options);
  const address = parseHostPort(options.address);
  let stopped!: () => void;
  const stoppedPromise = new Promise<void>((resolve) => (stopped = resolve));
  const shared: SharedState = {
    nextSeq: 0,
    runId: options.runId ?? randomRunId(),
    stopping: false,
    seqLimit: options.count !== undefined && options.count > 0 ? options.count : Number.POSITIVE_INFINITY,
    errors: [],
    stop() {
      this.stopping = true;
      stopped();
    },
  };
  const workers: WriterConnection[] = [];
  for (let i = 0; i < options.concurrency; i++) {
    const { frame, stamps } = buildMpubFrame(options.topic, options.size, options.batchSize);
    workers.push(new WriterConnection(shared, frame, stamps, options.maxOutstanding, options.batchSize));
  }
  await Promise.all(
    workers.map(async (w) => {
      w.conn = await BenchConnection.open(address, w);
    }),
  );
  const startedAt = performance.now();
  for (const w of workers) w.fill();
  const timer = setTimeout(() => shared.stop(), options.runforMs);
  // all connections finish once stopping is set and their last batches are answered
  await stoppedPromise;
  clearTimeout(timer);
  await Promise.all(workers.map((w) => w.finished()));
  let okBatches = 0;
  let lastOkAt = startedAt;
  for (const w of workers) {
    okBatches += w.okBatches;
    if (w.lastOkAt > lastOkAt) lastOkAt = w.lastOkAt;
    w.conn?.close();
  }
  const messages = okBatches * options.batchSize;
  return {
    messages,
    bytes: messages * options.size,
    durationMs: Math.max(lastOkAt - startedAt, 0.001),
    runId: shared.runId,
    errors: shared.errors,
  };
}
