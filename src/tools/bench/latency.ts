/**
 * `nsq bench latency`: one connection publishes at a fixed `rate` (every millisecond, an MPUB of the
 * messages due by then) while one consumer (RDY `rdy`) FINs them and records, per message,
 *  - broker→consumer latency: now − the message timestamp nsqd set on accept (§1.4), and
 *  - publisher→consumer latency: now − the publish time stamped in the body (payload.ts).
 * Both processes share the machine's clock, so no clock offset is involved.
 */
import { BenchConnection, FRAME_ERROR, frameText, isOk, parseHostPort, type FrameHandler } from "./wire.ts";
import { buildMpubFrame } from "./writer.ts";
import { startReader } from "./reader.ts";
import { LatencyHistogram } from "./histogram.ts";
import { STAMP_SIZE, randomRunId } from "./payload.ts";
import { checkReport, phaseReport, type BenchReport } from "./report.ts";

export interface LatencyOptions {
  address: string;
  topic: string;
  channel: string;
  size: number;
  rate: number;
  rdy: number;
  runforMs: number;
  idleMs: number;
}

const TICK_MS = 1;

class RatePublisher implements FrameHandler {
  conn: BenchConnection | undefined;
  sent = 0;
  batches = 0;
  acked = 0;
  errors: string[] = [];
  private readonly frame: Uint8Array;
  private readonly stamps: Int32Array;
  private readonly view: DataView;
  private readonly headLength: number;
  private readonly maxBatch: number;

  constructor(
    topic: string,
    private readonly size: number,
    private readonly rate: number,
    private readonly runId: number,
  ) {
    // room for 100 ms of messages in one MPUB, in case the event loop stalls
    this.maxBatch = Math.max(1, Math.ceil(rate / 10));
    const built = buildMpubFrame(topic, size, this.maxBatch);
    this.frame = built.frame;
    this.stamps = built.stamps;
    this.view = new DataView(this.frame.buffer);
    this.headLength = `MPUB ${topic}\n`.length;
  }

  /** Publishes what is due at `elapsedMs` since the start. */
  tick(elapsedMs: number): void {
    const due = Math.floor((this.rate * elapsedMs) / 1000) - this.sent;
    if (due <= 0 || this.conn === undefined || this.conn.blocked) return;
    const n = Math.min(due, this.maxBatch);
    const now = performance.timeOrigin + performance.now();
    const view = this.view;
    view.setUint32(this.headLength, 4 + n * (4 + this.size));
    view.setUint32(this.headLength + 4, n);
    if (this.stamps.length > 0) {
      for (let i = 0; i < n; i++) {
        const at = this.stamps[i]!;
        view.setFloat64(at, now);
        view.setUint32(at + 8, this.sent + i);
        view.setUint32(at + 12, this.runId);
      }
    }
    this.sent += n;
    this.batches++;
    this.conn.write(this.frame, this.headLength + 8 + n * (4 + this.size));
  }

  onFrame(buf: Uint8Array, start: number, type: number, dataLength: number): void {
    if (type === FRAME_ERROR) this.errors.push(frameText(buf, start, dataLength));
    else if (isOk(buf, start, dataLength)) this.acked++;
  }
  onChunkEnd(): void {}
  onDrain(): void {}
  onClose(error: Error | undefined): void {
    if (error !== undefined) this.errors.push(error.message);
  }
}

export async function runLatency(options: LatencyOptions): Promise<BenchReport> {
  if (!(options.rate > 0)) throw new Error(`--rate must be positive (got ${options.rate})`);
  if (options.size < STAMP_SIZE) throw new Error(`latency mode needs --size ≥ ${STAMP_SIZE} for its stamps`);
  const runId = randomRunId();
  const brokerLatency = new LatencyHistogram();
  const publishLatency = new LatencyHistogram();
  const reader = await startReader({
    address: options.address,
    topic: options.topic,
    channel: options.channel,
    rdy: options.rdy,
    concurrency: 1,
    runforMs: options.runforMs * 20 + 60_000,
    runId,
    idleMs: options.idleMs,
    brokerLatency,
    publishLatency,
  });
  const publisher = new RatePublisher(options.topic, options.size, options.rate, runId);
  publisher.conn = await BenchConnection.open(parseHostPort(options.address), publisher);
  const startedAt = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - startedAt;
      if (elapsed >= options.runforMs || publisher.errors.length > 0) {
        clearInterval(timer);
        resolve();
        return;
      }
      publisher.tick(elapsed);
    }, TICK_MS);
  });
  // wait for the last acknowledgements, then for the consumer to see everything
  const deadline = performance.now() + 10_000;
  while (publisher.errors.length === 0 && publisher.acked < publisher.batches && performance.now() < deadline) {
    await Bun.sleep(5);
  }
  const published = publisher.sent;
  reader.expect(published);
  const read = await reader.result;
  publisher.conn.close();
  return {
    mode: "latency",
    size: options.size,
    phases: [
      phaseReport("PUB", { messages: published, bytes: published * options.size, durationMs: options.runforMs, errors: publisher.errors }),
      phaseReport("SUB", read),
    ],
    check: checkReport(published, read),
    latency: {
      rate: options.rate,
      samples: brokerLatency.count,
      p50Us: brokerLatency.quantileUs(0.5),
      p99Us: brokerLatency.quantileUs(0.99),
      p999Us: brokerLatency.quantileUs(0.999),
      maxUs: Math.round(brokerLatency.maxUs),
      publishP50Us: publishLatency.quantileUs(0.5),
      publishP99Us: publishLatency.quantileUs(0.99),
      publishP999Us: publishLatency.quantileUs(0.999),
    },
  };
}
