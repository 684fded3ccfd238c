/**
 * `nsq bench reader`: nsq's bench_reader shape. `concurrency` connections SUB to one channel with
 * RDY `rdy`, FIN every message and count them. FINs of one received chunk are written into a
 * reused buffer (21 bytes each, id bytes copied from the frame) and go out in one write.
 *
 * `shape: "go-nsq"` is a consumer as applications run them (go-nsq before v1.1, nsqjs): every FIN
 * is its own write as each message is handled, and `RDY <rdy>` is sent again whenever fewer than a
 * quarter of the last RDY (or at most one) remain of the window.
 *
 * With a `runId`, bodies carrying the load generator's stamps (payload.ts) are checked: duplicates
 * of this run, messages from other runs ("foreign"), and redeliveries (attempts > 1) are counted,
 * and the run can stop as soon as `expect` unique messages of this run arrived.
 */
import {
  BenchConnection,
  FRAME_ERROR,
  FRAME_MESSAGE,
  MESSAGE_BODY_OFFSET,
  encodeText,
  frameText,
  nowNs,
  parseHostPort,
  type FrameHandler,
} from "./wire.ts";
import { STAMP_SIZE, SequenceTracker } from "./payload.ts";
import type { LatencyHistogram } from "./histogram.ts";

/** "batch": the FINs of one received chunk in one write; "go-nsq": one write per FIN, RDY re-sent */
export type ReaderShape = "batch" | "go-nsq";

export interface ReaderOptions {
  address: string;
  shape?: ReaderShape;
  topic: string;
  channel: string;
  rdy: number;
  concurrency: number;
  /** longest the reader runs */
  runforMs: number;
  /** check stamps of this run (payload.ts) */
  runId?: number;
  /** stop once this many unique messages of `runId` arrived */
  expect?: number;
  /** stop when no message arrived for this long after the first one (draining) */
  idleMs?: number;
  /** records broker→consumer latency (message timestamp) per message */
  brokerLatency?: LatencyHistogram;
  /** records publish→consume latency (body stamp) per message */
  publishLatency?: LatencyHistogram;
}

export interface ReaderResult {
  messages: number;
  bytes: number;
  /** from the moment RDY was sent to the last message received */
  durationMs: number;
  /** messages of this run seen for the first time (with runId) */
  unique: number;
  duplicates: number;
  /** stamped messages of other runs, or unstamped messages, while checking */
  foreign: number;
  redelivered: number;
  errors: string[];
}

interface SharedState {
  messages: number;
  bytes: number;
  redelivered: number;
  foreign: number;
  lastMessageAt: number;
  runId: number;
  expect: number;
  tracker: SequenceTracker | undefined;
  brokerLatency: LatencyHistogram | undefined;
  publishLatency: LatencyHistogram | undefined;
  errors: string[];
  stopping: boolean;
  stop(): void;
}

const FIN_SIZE = 21; // "FIN " + 16-byte id + "\n"

export function validateReaderOptions(o: ReaderOptions): void {
  if (!Number.isInteger(o.rdy) || o.rdy < 1) throw new Error(`--rdy must be a positive integer (got ${o.rdy})`);
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new Error(`--concurrency must be a positive integer (got ${o.concurrency})`);
  if (!(o.runforMs > 0)) throw new Error(`--runfor must be positive`);
  if (o.topic === "") throw new Error("--topic is required");
  if (o.channel === "") throw new Error("--channel is required");
}

class ReaderConnection implements FrameHandler {
  conn: BenchConnection | undefined;
  private fins = new Uint8Array(64 * 1024);
  private finLength = 0;
  /** one DataView per received chunk, not per message */
  private viewOf: Uint8Array | undefined;
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

  /** go-nsq shape: messages left of the last RDY window */
  private rdyRemaining: number;
  private readonly rdyCommand: Uint8Array;

  constructor(
    private readonly shared: SharedState,
    private readonly perMessage: boolean,
    private readonly rdy: number,
  ) {
    this.rdyRemaining = rdy;
    this.rdyCommand = encodeText(`RDY ${rdy}\n`);
  }

  onFrame(buf: Uint8Array, start: number, type: number, dataLength: number): void {
    const shared = this.shared;
    if (type === FRAME_MESSAGE) {
      if (dataLength < 26) {
        shared.errors.push(`message frame too short (${dataLength} bytes)`);
        shared.stop();
        return;
      }
      shared.messages++;
      const bodyLength = dataLength - 26;
      shared.bytes += bodyLength;
      const attempts = (buf[start + 16]! << 8) | buf[start + 17]!;
      if (attempts !== 1) shared.redelivered++;
      this.queueFin(buf, start + 18);
      if (this.perMessage) this.finNow();
      if (shared.tracker !== undefined || shared.brokerLatency !== undefined) this.inspect(buf, start, bodyLength);
    } else if (type === FRAME_ERROR) {
      // E_FIN_FAILED etc.: record, keep going; the count check will tell
      if (shared.errors.length < 20) shared.errors.push(frameText(buf, start, dataLength));
    }
  }

  /** Checking and latency: only when asked for, so plain throughput runs skip it. */
  private inspect(buf: Uint8Array, start: number, bodyLength: number): void {
    const shared = this.shared;
    const body = start + MESSAGE_BODY_OFFSET;
    if (buf !== this.viewOf) {
      this.viewOf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const view = this.view;
    if (shared.brokerLatency !== undefined) {
      const tsNs = view.getUint32(start + 8) * 4294967296 + view.getUint32(start + 12);
      const now = nowNs();
      shared.brokerLatency.recordUs((now - tsNs) / 1000);
      if (shared.publishLatency !== undefined && bodyLength >= STAMP_SIZE) {
        shared.publishLatency.recordUs((now / 1e6 - view.getFloat64(body)) * 1000);
      }
    }
    const tracker = shared.tracker;
    if (tracker === undefined) return;
    if (bodyLength < STAMP_SIZE || view.getUint32(body + 12) !== shared.runId) {
      shared.foreign++;
      return;
    }
    tracker.record(view.getUint32(body + 8));
    if (shared.expect > 0 && tracker.unique >= shared.expect) shared.stop();
  }

  private queueFin(buf: Uint8Array, idAt: number): void {
    if (this.finLength + FIN_SIZE > this.fins.length) {
      const grown = new Uint8Array(this.fins.length * 2);
      grown.set(this.fins.subarray(0, this.finLength));
      this.fins = grown;
    }
    const fins = this.fins;
    let o = this.finLength;
    fins[o] = 0x46; // F
    fins[o + 1] = 0x49; // I
    fins[o + 2] = 0x4e; // N
    fins[o + 3] = 0x20;
    for (let i = 0; i < 16; i++) fins[o + 4 + i] = buf[idAt + i]!;
    fins[o + 20] = 0x0a;
    this.finLength = o + FIN_SIZE;
  }

  /** go-nsq shape: the FIN goes out at once; RDY again when the window runs low. */
  private finNow(): void {
    this.conn?.write(this.fins, this.finLength);
    this.finLength = 0;
    this.shared.lastMessageAt = performance.now();
    this.rdyRemaining--;
    if (this.rdyRemaining <= 1 || this.rdyRemaining < this.rdy / 4) {
      this.conn?.write(this.rdyCommand);
      this.rdyRemaining = this.rdy;
    }
  }

  onChunkEnd(): void {
    if (this.finLength > 0) {
      this.conn?.write(this.fins, this.finLength);
      this.finLength = 0;
      this.shared.lastMessageAt = performance.now();
    }
    this.viewOf = undefined;
  }

  onDrain(): void {}

  onClose(error: Error | undefined): void {
    if (error !== undefined) this.shared.errors.push(error.message);
    else if (!this.shared.stopping) this.shared.errors.push("server closed the connection");
    this.shared.stop();
  }
}

export async function runReader(options: ReaderOptions): Promise<ReaderResult> {
  return (await startReader(options)).result;
}

/** A reader that is already subscribed; `expect` can be set once the writer knows its count. */
export interface RunningReader {
  /** stop once this many unique messages of the run arrived (immediately if already there) */
  expect(count: number): void;
  stop(): void;
  result: Promise<ReaderResult>;
}

/** Connects and subscribes every connection, then returns while messages flow. */
export async function startReader(options: ReaderOptions): Promise<RunningReader> {
  validateReaderOptions(options);
  const address = parseHostPort(options.address);
  let stopped!: () => void;
  const stoppedPromise = new Promise<void>((resolve) => (stopped = resolve));
  const shared: SharedState = {
    messages: 0,
    bytes: 0,
    redelivered: 0,
    foreign: 0,
    lastMessageAt: 0,
    runId: options.runId ?? 0,
    expect: options.expect ?? 0,
    tracker: options.runId !== undefined ? new SequenceTracker() : undefined,
    brokerLatency: options.brokerLatency,
    publishLatency: options.publishLatency,
    errors: [],
    stopping: false,
    stop() {
      this.stopping = true;
      stopped();
    },
  };
  if (shared.expect > 0 && shared.tracker === undefined) throw new Error("expect needs a runId");
  const workers: ReaderConnection[] = [];
  const perMessage = options.shape === "go-nsq";
  for (let i = 0; i < options.concurrency; i++) workers.push(new ReaderConnection(shared, perMessage, options.rdy));
  await Promise.all(
    workers.map(async (w) => {
      w.conn = await BenchConnection.open(address, w);
    }),
  );
  const sub = encodeText(`SUB ${options.topic} ${options.channel}\nRDY ${options.rdy}\n`);
  const startedAt = performance.now();
  shared.lastMessageAt = startedAt;
  for (const w of workers) w.conn?.write(sub);
  const timer = setTimeout(() => shared.stop(), options.runforMs);
  // one shared check for draining: stop when messages stopped coming
  const idleMs = options.idleMs ?? 0;
  const idleCheck =
    idleMs > 0
      ? setInterval(() => {
          if (shared.messages > 0 && performance.now() - shared.lastMessageAt >= idleMs) shared.stop();
        }, Math.min(100, idleMs))
      : undefined;
  const finish = async (): Promise<ReaderResult> => {
  await stoppedPromise;
  clearTimeout(timer);
  if (idleCheck !== undefined) clearInterval(idleCheck);
  for (const w of workers) w.conn?.close();
  const lastAt = shared.messages > 0 ? shared.lastMessageAt : performance.now();
  return {
    messages: shared.messages,
    bytes: shared.bytes,
    durationMs: Math.max(lastAt - startedAt, 0.001),
    unique: shared.tracker?.unique ?? 0,
    duplicates: shared.tracker?.duplicates ?? 0,
    foreign: shared.foreign,
    redelivered: shared.redelivered,
    errors: shared.errors,
  };
  };
  return {
    expect(count: number) {
      if (shared.tracker === undefined) throw new Error("expect needs a runId");
      shared.expect = count;
      if (shared.tracker.unique >= count) shared.stop();
    },
    stop: () => shared.stop(),
    result: finish(),
  };
}
