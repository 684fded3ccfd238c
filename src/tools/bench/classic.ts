/**
 * NSQ's own load generators, byte for byte: nsq v1.3.0's `bench/bench_reader` and
 * `bench/bench_writer` (built with go-nsq v1.1.0). `nsq bench reader` / `nsq bench writer` run
 * these by default, so `nsq serve` and any nsqd can be compared with the tool people already use.
 *
 * What they do on the wire (per connection; there are GOMAXPROCS = number of cores of them):
 *  - the V2 magic, written on its own as soon as the connection is up;
 *  - IDENTIFY with only client_id, hostname and user_agent (no feature_negotiation: the server
 *    keeps its defaults — 16 KiB output buffer, 250 ms output buffer timeout, no compression),
 *    held in a 4096-byte buffered writer (Go's bufio.Writer) until every connection is ready;
 *  - reader: SUB and, at the start signal, `RDY <rdy>` once, flushed together; then for every
 *    message `FIN <id>` into the buffered writer, which goes out when it is full (a 4096-byte
 *    write, FIN lines split across writes as they fall) and after every message while
 *    `count % rdy > rdy * 0.75`. Responses (heartbeats too) are skipped without an answer; an
 *    error frame ends the program as Go's panic does. Each connection closes `runfor` after its
 *    first two responses (IDENTIFY's and SUB's OK) were read;
 *  - writer: at the start signal IDENTIFY goes out; then MPUB of `batch-size` zero-filled
 *    `size`-byte messages, one at a time (the next only after the previous one's response),
 *    until `runfor` has passed after a response.
 * Both end with Go's log line: `[bench_reader] 2006/01/02 15:04:05 duration: … - …mb/s - …ops/s - …us/op`.
 */
import { BenchConnection, FRAME_ERROR, FRAME_MESSAGE, encodeText, frameText, parseHostPort, type FrameHandler } from "./wire.ts";
import { formatDuration } from "../../util/duration.ts";

/** go-nsq v1.1.0's VERSION, part of the user_agent the tools send */
export const GO_NSQ_VERSION = "1.1.0";
/** bufio.NewWriter's default size */
const GO_BUFIO_SIZE = 4096;

export interface ClassicReaderOptions {
  address: string;
  topic: string;
  channel: string;
  /** only for the mb/s figure, as in bench_reader */
  size: number;
  rdy: number;
  runforMs: number;
  /** connections; bench_reader uses GOMAXPROCS (the number of cores) */
  connections: number;
  /** "2006-01-02 15:04:05" (UTC, as Go's time.Parse): wait until then before starting */
  deadline: string;
}

export interface ClassicWriterOptions {
  address: string;
  topic: string;
  size: number;
  batchSize: number;
  runforMs: number;
  connections: number;
  deadline: string;
}

export interface ClassicResult {
  messages: number;
  /** from the start signal until every connection finished, ns */
  durationNs: number;
  /** bytes per message, for mb/s */
  size: number;
}

/** A program-ending error, as Go's panic in the original tools (exit status 2). */
export class BenchPanic extends Error {}

/**
 * Go's bufio.Writer over a BenchConnection: bytes collect in a 4096-byte buffer; a write that
 * does not fit fills the buffer, sends exactly those 4096 bytes, and carries on; `flush` sends
 * whatever is buffered. Every send is one socket write.
 */
export class GoBufferedWriter {
  private readonly buf = new Uint8Array(GO_BUFIO_SIZE);
  private n = 0;
  /** number of socket writes made (for tests and diagnostics) */
  writes = 0;

  constructor(private readonly send: (bytes: Uint8Array, length: number) => void) {}

  get buffered(): number {
    return this.n;
  }

  write(src: Uint8Array, from = 0, to = src.length): void {
    let p = from;
    while (to - p > GO_BUFIO_SIZE - this.n) {
      if (this.n === 0) {
        // an empty buffer and a write at least as large: Go writes it straight through
        this.writes++;
        this.send(src.subarray(p, to), to - p);
        return;
      }
      const fit = GO_BUFIO_SIZE - this.n;
      this.buf.set(src.subarray(p, p + fit), this.n);
      this.n += fit;
      p += fit;
      this.flush();
    }
    this.buf.set(src.subarray(p, to), this.n);
    this.n += to - p;
  }

  flush(): void {
    if (this.n === 0) return;
    this.writes++;
    this.send(this.buf, this.n);
    this.n = 0;
  }
}

/** go-nsq's Identify(map): json.Marshal sorts the keys; the body is length-prefixed. */
export function identifyCommand(role: "reader" | "writer"): Uint8Array {
  const body = encodeText(JSON.stringify({ client_id: role, hostname: role, user_agent: `bench_${role}/${GO_NSQ_VERSION}` }));
  const head = encodeText("IDENTIFY\n");
  const out = new Uint8Array(head.length + 4 + body.length);
  out.set(head, 0);
  new DataView(out.buffer).setUint32(head.length, body.length);
  out.set(body, head.length + 4);
  return out;
}

/** go-nsq's MultiPublish(topic, batch of `batchSize` zero-filled `size`-byte bodies). */
export function mpubCommand(topic: string, size: number, batchSize: number): Uint8Array {
  const head = encodeText(`MPUB ${topic}\n`);
  const bodySize = 4 + batchSize * (4 + size);
  const out = new Uint8Array(head.length + 4 + bodySize);
  const view = new DataView(out.buffer);
  out.set(head, 0);
  view.setUint32(head.length, bodySize);
  view.setUint32(head.length + 4, batchSize);
  let at = head.length + 8;
  for (let i = 0; i < batchSize; i++) {
    view.setUint32(at, size);
    at += 4 + size;
  }
  return out;
}

/** Parses `--deadline` as Go's time.Parse("2006-01-02 15:04:05") (UTC); ms since the epoch. */
export function parseDeadline(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (m === null) throw new BenchPanic(`parsing time "${text}" as "2006-01-02 15:04:05": cannot parse`);
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Go's log prefix with LstdFlags: "[name] 2006/01/02 15:04:05 " in local time. */
export function goLogPrefix(name: string, at = new Date()): string {
  return (
    `[${name}] ${at.getFullYear()}/${pad2(at.getMonth() + 1)}/${pad2(at.getDate())} ` +
    `${pad2(at.getHours())}:${pad2(at.getMinutes())}:${pad2(at.getSeconds())} `
  );
}

/** Go's %.03f, which prints infinities as +Inf / -Inf and NaN as NaN. */
function goFixed3(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return v.toFixed(3);
}

/** The tools' final figures: `duration: 10.0012s - 95.367mb/s - 500000.000ops/s - 2.000us/op`. */
export function formatClassicResult(r: ClassicResult): string {
  const seconds = r.durationNs / 1e9;
  const wholeUs = Math.floor(r.durationNs / 1000);
  return (
    `duration: ${formatDuration(r.durationNs / 1e6)} - ` +
    `${goFixed3((r.messages * r.size) / seconds / 1024 / 1024)}mb/s - ` +
    `${goFixed3(r.messages / seconds)}ops/s - ` +
    `${goFixed3(wholeUs / r.messages)}us/op`
  );
}

async function waitForDeadline(deadline: string, name: string, log: (line: string) => void): Promise<void> {
  if (deadline === "") return;
  const at = parseDeadline(deadline);
  const waitMs = at - Date.now();
  const shown = new Date(at).toISOString().replace("T", " ").replace(/\.\d+Z$/, " +0000 UTC");
  log(`${goLogPrefix(name)}sleeping until ${shown} (${formatDuration(waitMs)})`);
  if (waitMs > 0) await Bun.sleep(waitMs);
}

/** A connection of the classic tools: frames in order, replies through a Go-style buffered writer. */
class ClassicConnection implements FrameHandler {
  conn!: BenchConnection;
  readonly out: GoBufferedWriter;
  /** responses still to be read before the run starts (IDENTIFY / SUB) */
  waitResponses = 0;
  private responsesRead: (() => void) | undefined;
  private closed: ((error: Error | undefined) => void) | undefined;
  readonly finished: Promise<Error | undefined>;
  failure: Error | undefined;
  /** closed by the run's own timer (Go's conn.Close after runfor), not by the server */
  closedByUs = false;
  onMessage: (buf: Uint8Array, start: number) => void = () => {};
  onResponse: () => void = () => {};

  constructor() {
    this.out = new GoBufferedWriter((bytes, length) => this.conn.write(bytes, length));
    this.finished = new Promise((resolve) => (this.closed = resolve));
  }

  /** Resolves once `count` frames of any kind have been read (go-nsq's ReadResponse × count). */
  readResponses(count: number): Promise<void> {
    this.waitResponses = count;
    return new Promise((resolve) => (this.responsesRead = resolve));
  }

  onFrame(buf: Uint8Array, start: number, type: number, dataLength: number): void {
    if (this.waitResponses > 0) {
      if (--this.waitResponses === 0) this.responsesRead?.();
      return;
    }
    if (type === FRAME_ERROR) {
      this.failure ??= new BenchPanic(frameText(buf, start, dataLength));
      this.conn.close();
    } else if (type === FRAME_MESSAGE) {
      this.onMessage(buf, start);
    } else {
      this.onResponse();
    }
  }

  /** Go's conn.Close(): what is still buffered or arriving is not read any more. */
  closeNow(): void {
    this.closedByUs = true;
    this.onMessage = () => {};
    this.conn.close();
  }

  onChunkEnd(): void {}
  onDrain(): void {}

  onClose(error: Error | undefined): void {
    this.failure ??= error;
    this.responsesRead?.();
    this.closed?.(this.failure);
  }
}

const FIN_PREFIX = encodeText("FIN ");
const NEWLINE = encodeText("\n");

/**
 * The tools' connections, opened one after another (each Go worker is ready before the next
 * starts), each with `commands` buffered for its first flush.
 */
async function openWorkers(address: ReturnType<typeof parseHostPort>, count: number, commands: Uint8Array[]): Promise<ClassicConnection[]> {
  const workers: ClassicConnection[] = [];
  for (let i = 0; i < count; i++) {
    const w = new ClassicConnection();
    w.conn = await BenchConnection.open(address, w, { answerHeartbeats: false });
    for (const c of commands) w.out.write(c);
    workers.push(w);
  }
  return workers;
}

/** nsq v1.3.0's bench_reader. */
export async function runClassicReader(o: ClassicReaderOptions, log: (line: string) => void): Promise<ClassicResult> {
  const address = parseHostPort(o.address);
  const identify = identifyCommand("reader");
  const sub = encodeText(`SUB ${o.topic} ${o.channel}\n`);
  const rdy = encodeText(`RDY ${o.rdy}\n`);
  const flushAbove = o.rdy * 0.75;
  let total = 0;
  const workers = await openWorkers(address, o.connections, [identify, sub]);
  await waitForDeadline(o.deadline, "bench_reader", log);
  const started = Bun.nanoseconds();
  await Promise.all(
    workers.map(async (w) => {
      let count = 0;
      w.onMessage = (buf, start) => {
        // FIN <16-byte id>: the id sits after the frame header, timestamp and attempts
        w.out.write(FIN_PREFIX);
        w.out.write(buf, start + 18, start + 34);
        w.out.write(NEWLINE);
        count++;
        if (count % o.rdy > flushAbove) w.out.flush();
      };
      w.out.write(rdy);
      w.out.flush();
      await w.readResponses(2);
      const timer = setTimeout(() => w.closeNow(), o.runforMs);
      const failure = await w.finished;
      clearTimeout(timer);
      if (failure instanceof BenchPanic) throw failure;
      // bench_reader panics on any read error but that of its own Close
      if (!w.closedByUs) throw new BenchPanic(failure?.message ?? "EOF");
      total += count;
    }),
  );
  return { messages: total, durationNs: Bun.nanoseconds() - started, size: o.size };
}

/** nsq v1.3.0's bench_writer. */
export async function runClassicWriter(o: ClassicWriterOptions, log: (line: string) => void): Promise<ClassicResult> {
  const address = parseHostPort(o.address);
  const identify = identifyCommand("writer");
  const mpub = mpubCommand(o.topic, o.size, o.batchSize);
  let total = 0;
  const workers = await openWorkers(address, o.connections, [identify]);
  await waitForDeadline(o.deadline, "bench_writer", log);
  const started = Bun.nanoseconds();
  await Promise.all(
    workers.map(async (w) => {
      w.out.flush();
      await w.readResponses(1);
      if (w.failure !== undefined) throw new BenchPanic(w.failure.message);
      const endAt = performance.now() + o.runforMs;
      let count = 0;
      await new Promise<void>((resolve, reject) => {
        const send = (): void => {
          w.out.write(mpub);
          w.out.flush();
        };
        w.onResponse = () => {
          count += o.batchSize;
          if (performance.now() > endAt) resolve();
          else send();
        };
        void w.finished.then((failure) => reject(new BenchPanic(failure?.message ?? "connection closed")));
        send();
      });
      total += count;
      w.closeNow();
    }),
  );
  return { messages: total, durationNs: Bun.nanoseconds() - started, size: o.size };
}
