/**
 * The kill -9 crash test of issue 20 with real processes, shared by test/crash.test.ts (a few
 * iterations) and scripts/crash-test.ts (`npm run crash-test`, many).
 *
 * One iteration: start `nsq serve --mem-queue-size=0 --sync-every=1` on a fresh data directory;
 * a producer publishes PUB, MPUB and DPUB on three pipelined connections and counts the OKs;
 * two consumers FIN, REQ (with and without delay), hold (FIN later) or ignore (time out) each
 * message at random; at a random moment the broker is killed with SIGKILL, restarted on the
 * same directory, and drained by consumers that FIN everything until /stats shows nothing left
 * (no depth, in flight or deferred). Every body whose publish got OK must have been FINished at
 * least once (before or after the crash); bodies FINished more than once are the duplicates.
 */
import net from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ProcessGroup, type Daemon } from "./nsq-process.ts";
import { FrameReader, type Frame } from "./frame-reader.ts";
import { Consumer as ClientConsumer } from "../../src/client/consumer.ts";

export type Server = Daemon;

/** Starts `nsq serve` on free ports; resolves once both listeners are up (read from its log). */
export function serve(dataPath: string, extra: string[], group: ProcessGroup): Promise<Server> {
  return group.start(["serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${dataPath}`, ...extra]);
}

/** Starts `nsq lookupd` on free ports. */
export function lookupd(group: ProcessGroup): Promise<Server> {
  return group.start(["lookupd", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"]);
}

/** A V2 connection that hands every frame to a callback and answers heartbeats. */
class Conn {
  private readonly reader: FrameReader;
  closed = false;
  constructor(
    readonly socket: net.Socket,
    onFrame: (f: Frame) => void,
  ) {
    this.reader = new FrameReader({
      intercept: (f) => {
        if (f.type === 0 && f.data.toString() === "_heartbeat_") socket.write("NOP\n");
        else onFrame(f);
        return false;
      },
    });
    socket.on("data", (c: Buffer) => this.reader.push(c));
    socket.on("close", () => {
      this.closed = true;
      this.onClose?.();
    });
    socket.on("error", () => {});
  }
  onClose: (() => void) | null = null;

  static open(port: number, onFrame: (f: Frame) => void): Promise<Conn> {
    const socket = net.connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    return new Promise((resolve, reject) => {
      socket.once("connect", () => {
        socket.write("  V2");
        resolve(new Conn(socket, onFrame));
      });
      socket.once("error", reject);
    });
  }

  write(data: string | Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}

function withBody(line: string, body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([Buffer.from(`${line}\n`), size, body]);
}

function mpubBody(bodies: string[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4)];
  parts[0]!.writeInt32BE(bodies.length);
  for (const b of bodies) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(Buffer.byteLength(b));
    parts.push(len, Buffer.from(b));
  }
  return Buffer.concat(parts);
}

/**
 * Publishes on three connections (PUB, MPUB of 10, DPUB with 50–800 ms) until stop(); replies come
 * in order, so the k-th OK on a connection acknowledges its k-th command. `acked` collects bodies.
 */
export class Producer {
  readonly acked = new Set<string>();
  private conns: Conn[] = [];
  private stopped = false;
  private readonly done: Promise<void>[] = [];

  constructor(
    private readonly topic: string,
    private readonly tag: string,
  ) {}

  async start(port: number): Promise<void> {
    const kinds = ["pub", "mpub", "dpub"] as const;
    for (const kind of kinds) {
      const pending: string[][] = [];
      let n = 0;
      const window = kind === "mpub" ? 4 : 16;
      let conn: Conn;
      const send = () => {
        while (!this.stopped && !conn.closed && pending.length < window) {
          if (kind === "mpub") {
            const bodies = Array.from({ length: 10 }, (_, k) => `${this.tag}-mpub-${n}-${k}`);
            n++;
            pending.push(bodies);
            conn.write(withBody(`MPUB ${this.topic}`, mpubBody(bodies)));
          } else if (kind === "dpub") {
            const body = `${this.tag}-dpub-${n++}`;
            pending.push([body]);
            conn.write(withBody(`DPUB ${this.topic} ${50 + Math.floor(Math.random() * 750)}`, Buffer.from(body)));
          } else {
            const body = `${this.tag}-pub-${n++}`;
            pending.push([body]);
            conn.write(withBody(`PUB ${this.topic}`, Buffer.from(body)));
          }
        }
      };
      let finished!: () => void;
      this.done.push(new Promise((r) => (finished = r)));
      conn = await Conn.open(port, (f) => {
        const bodies = pending.shift();
        if (bodies !== undefined && f.type === 0 && f.data.toString() === "OK") for (const b of bodies) this.acked.add(b);
        if (this.stopped && pending.length === 0) {
          conn.close();
          finished();
        } else send();
      });
      conn.onClose = () => finished();
      this.conns.push(conn);
      send();
    }
  }

  /** Stops sending; resolves when every command was answered or its connection is gone. */
  async stop(): Promise<void> {
    this.stopped = true;
    const timeout = new Promise<void>((r) => setTimeout(r, 3000));
    await Promise.race([Promise.all(this.done), timeout]);
    for (const c of this.conns) c.close();
  }
}

export type Behaviour = "random" | "finish";

/** A consumer that FINs, REQs, holds or ignores each message (`random`), or FINs all (`finish`). */
export class Consumer {
  /** body → how many times it was FINished */
  readonly finished = new Map<string, number>();
  received = 0;
  redelivered = 0;
  private conns: Conn[] = [];
  private timers = new Set<ReturnType<typeof setTimeout>>();
  lastMessageAt = 0;

  constructor(
    private readonly behaviour: Behaviour,
    readonly into = new Map<string, number>(),
  ) {
    this.finished = into;
  }

  async start(port: number, topic: string, channel: string, connections = 2, rdy = 50): Promise<void> {
    for (let i = 0; i < connections; i++) {
      let conn!: Conn;
      conn = await Conn.open(port, (f) => this.onFrame(conn, f));
      conn.write(`SUB ${topic} ${channel}\nRDY ${rdy}\n`);
      this.conns.push(conn);
    }
  }

  private onFrame(conn: Conn, f: Frame): void {
    if (f.type !== 2) return;
    this.received++;
    this.lastMessageAt = Date.now();
    const attempts = f.data.readUInt16BE(8);
    if (attempts > 1) this.redelivered++;
    const id = f.data.subarray(10, 26).toString("latin1");
    const body = f.data.subarray(26).toString();
    const fin = () => {
      this.finished.set(body, (this.finished.get(body) ?? 0) + 1);
      conn.write(`FIN ${id}\n`);
    };
    if (this.behaviour === "finish") return fin();
    const r = Math.random();
    if (r < 0.5) fin();
    else if (r < 0.62) conn.write(`REQ ${id} 0\n`);
    else if (r < 0.74) conn.write(`REQ ${id} ${100 + Math.floor(Math.random() * 500)}\n`);
    else if (r < 0.84) {
      // held: FIN later (in flight at the kill, maybe)
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!conn.closed) fin();
      }, Math.floor(Math.random() * 400));
      this.timers.add(t);
    }
    // else: ignored, times out (--msg-timeout) and comes back
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    for (const c of this.conns) c.close();
  }
}

interface ChannelStats {
  depth: number;
  in_flight_count: number;
  deferred_count: number;
}

async function channelLeft(http: number, topic: string, channel: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${http}/stats?format=json&topic=${topic}&channel=${channel}`);
  const stats = (await res.json()) as { topics: { depth: number; channels: (ChannelStats & { channel_name: string })[] }[] };
  const t = stats.topics[0];
  if (t === undefined) return 0;
  const c = t.channels.find((x) => x.channel_name === channel);
  return t.depth + (c === undefined ? 0 : c.depth + c.in_flight_count + c.deferred_count);
}

/** Waits until the broker holds nothing for the channel and no message arrived for a moment. */
export async function drained(http: number, topic: string, channel: string, consumer: Consumer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`not drained within ${timeoutMs} ms`);
    await Bun.sleep(150);
    if (Date.now() - consumer.lastMessageAt < 300) continue;
    if ((await channelLeft(http, topic, channel)) === 0) return;
  }
}

/** Waits until nsqd.dat (written off the event loop) lists the channel, so a restart recreates it. */
async function channelPersisted(dataPath: string, channel: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    try {
      if (readFileSync(join(dataPath, "nsqd.dat"), "utf8").includes(`"name":"${channel}"`)) return;
    } catch {
      // not written yet
    }
    await Bun.sleep(10);
  }
  throw new Error(`nsqd.dat in ${dataPath} never listed channel ${channel}`);
}

export interface IterationResult {
  acked: number;
  lost: string[];
  duplicates: number;
  redeliveredAfterRestart: number;
  killedAfterMs: number;
  startupLog: string;
}

export const SERVE_FLAGS = ["--mem-queue-size=0", "--sync-every=1", "--msg-timeout=1s"];

/** One kill -9 iteration on `dataPath` (fresh directory). */
export async function crashIteration(dataPath: string, killAfterMs: number, group = new ProcessGroup()): Promise<IterationResult> {
  const topic = "crash";
  const channel = "c";
  const first = await serve(dataPath, SERVE_FLAGS, group);
  await fetch(`http://127.0.0.1:${first.http}/topic/create?topic=${topic}`, { method: "POST" });
  await fetch(`http://127.0.0.1:${first.http}/channel/create?topic=${topic}&channel=${channel}`, { method: "POST" });
  await channelPersisted(dataPath, channel);

  const finished = new Map<string, number>();
  const producer = new Producer(topic, "m");
  const consumer = new Consumer("random", finished);
  await consumer.start(first.tcp, topic, channel);
  await producer.start(first.tcp);
  await Bun.sleep(killAfterMs);
  await first.kill();
  await producer.stop();
  consumer.close();

  const second = await serve(dataPath, SERVE_FLAGS, group);
  const drainer = new Consumer("finish", finished);
  await drainer.start(second.tcp, topic, channel, 2, 200);
  await drained(second.http, topic, channel, drainer, 30_000);
  drainer.close();
  const startupLog = second.log();
  await second.kill();

  const lost = [...producer.acked].filter((b) => !finished.has(b));
  let duplicates = 0;
  for (const n of finished.values()) duplicates += n - 1;
  return { acked: producer.acked.size, lost, duplicates, redeliveredAfterRestart: drainer.redelivered, killedAfterMs: killAfterMs, startupLog };
}

/**
 * The cluster variant: one lookupd, three brokers (each with its own producer), a consumer of the
 * client library that finds the brokers through lookupd (max-in-flight 300, FIN each message). One
 * broker is killed with SIGKILL mid-load and restarted a second later; the others keep going.
 */
export async function clusterIteration(dataPaths: string[], killAfterMs: number, group = new ProcessGroup()): Promise<IterationResult> {
  const topic = "crash";
  const channel = "c";
  const lookup = await lookupd(group);
  const flags = [...SERVE_FLAGS, `--lookupd-tcp-address=127.0.0.1:${lookup.tcp}`, "--broadcast-address=127.0.0.1"];
  const brokers = await Promise.all(dataPaths.map((d) => serve(d, flags, group)));
  for (const b of brokers) {
    await fetch(`http://127.0.0.1:${b.http}/topic/create?topic=${topic}`, { method: "POST" });
    await fetch(`http://127.0.0.1:${b.http}/channel/create?topic=${topic}&channel=${channel}`, { method: "POST" });
  }
  for (const d of dataPaths) await channelPersisted(d, channel);
  const finished = new Map<string, number>();
  let redelivered = 0;
  let lastMessageAt = 0;
  const consumer = new ClientConsumer({
    topic,
    channel,
    config: { maxInFlight: 300, lookupdPollInterval: 300, lookupdPollJitter: 0 },
    handler: (m) => {
      lastMessageAt = Date.now();
      if (m.attempts > 1) redelivered++;
      const body = m.body.toString();
      finished.set(body, (finished.get(body) ?? 0) + 1);
    },
  });
  await consumer.connectToLookupd(`127.0.0.1:${lookup.http}`);
  const producers = brokers.map((_, i) => new Producer(topic, `b${i}`));
  for (let i = 0; i < brokers.length; i++) await producers[i]!.start(brokers[i]!.tcp);
  await Bun.sleep(killAfterMs);
  const victim = Math.floor(Math.random() * brokers.length);
  await brokers[victim]!.kill();
  await producers[victim]!.stop();
  await Bun.sleep(1000);
  const restarted = await serve(dataPaths[victim]!, flags, group);
  brokers[victim] = restarted;
  await Bun.sleep(300);
  for (const p of producers) await p.stop();

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error("cluster not drained within 30 s");
    await Bun.sleep(200);
    if (Date.now() - lastMessageAt < 500) continue;
    let left = 0;
    for (const b of brokers) left += await channelLeft(b.http, topic, channel);
    if (left === 0) break;
  }
  await consumer.stop();
  const startupLog = restarted.log();
  for (const b of brokers) await b.kill();
  await lookup.kill();

  const acked = new Set<string>();
  for (const p of producers) for (const b of p.acked) acked.add(b);
  const lost = [...acked].filter((b) => !finished.has(b));
  let duplicates = 0;
  for (const n of finished.values()) duplicates += n - 1;
  return { acked: acked.size, lost, duplicates, redeliveredAfterRestart: redelivered, killedAfterMs: killAfterMs, startupLog };
}
