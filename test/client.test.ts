/**
 * The client library (src/client): frame parser and encoders as units, then Producer/Consumer
 * against in-process brokers on port 0 — publish/consume, the RDY budget across nodes, requeue and
 * backoff, max_attempts, reconnection after a broker restart, lookupd discovery, draining stop.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Nsqd } from "../src/server/nsqd.ts";
import { Nsqlookupd } from "../src/lookupd/lookupd.ts";
import { silentLogger } from "../src/util/logger.ts";
import {
  applyClientOption,
  ConfigError,
  Consumer,
  defaultClientConfig,
  FrameParser,
  NsqError,
  ProtocolError,
  Producer,
  type Message,
} from "../src/client/index.ts";
import * as cmd from "../src/client/commands.ts";
import { until } from "./helpers/until.ts";

// ------------------------------------------------------------------ helpers

function frame(type: number, data: Buffer): Buffer {
  const out = Buffer.alloc(8 + data.length);
  out.writeInt32BE(4 + data.length, 0);
  out.writeInt32BE(type, 4);
  data.copy(out, 8);
  return out;
}

function messageData(id: string, attempts: number, body: string): Buffer {
  const out = Buffer.alloc(26 + Buffer.byteLength(body));
  out.writeBigInt64BE(1_700_000_000_000_000_000n, 0);
  out.writeUInt16BE(attempts, 8);
  out.write(id, 10, "latin1");
  out.write(body, 26);
  return out;
}

function collect(): { frames: Array<[number, string]>; parser: FrameParser } {
  const frames: Array<[number, string]> = [];
  const parser = new FrameParser({ onFrame: (type, data) => frames.push([type, data.toString("latin1")]) });
  return { frames, parser };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startNsqd(opts: { tcpAddress?: string; dataPath?: string; lookupd?: string } = {}): Promise<Nsqd> {
  const dataPath = opts.dataPath ?? mkdtempSync(join(tmpdir(), "nsq-client-"));
  const n = new Nsqd({
    tcpAddress: opts.tcpAddress ?? "127.0.0.1:0",
    httpAddress: "127.0.0.1:0",
    dataPath,
    lookupdTcpAddresses: opts.lookupd ? [opts.lookupd] : [],
    broadcastAddress: "127.0.0.1",
  }, silentLogger);
  await n.start();
  let closed = false;
  cleanups.push(async () => {
    if (!closed) await n.close();
    closed = true;
    if (!opts.dataPath) rmSync(dataPath, { recursive: true, force: true });
  });
  const close = n.close.bind(n);
  n.close = async () => {
    if (closed) return;
    closed = true;
    await close();
  };
  return n;
}

const tcp = (n: Nsqd) => `127.0.0.1:${n.tcpPort}`;

function track<T extends { close(): Promise<void> } | { stop(): Promise<void> }>(x: T): T {
  cleanups.push(async () => {
    if ("close" in x) await x.close();
    else await x.stop();
  });
  return x;
}

interface ClientStats {
  ready_count: number;
  in_flight_count: number;
  finish_count: number;
}
interface ChannelStats {
  channel_name: string;
  in_flight_count: number;
  depth: number;
  clients: ClientStats[];
}
async function channelStats(n: Nsqd, topic: string, channel: string): Promise<ChannelStats | undefined> {
  const res = await fetch(`http://127.0.0.1:${n.httpPort}/stats?format=json&topic=${topic}`);
  const body = (await res.json()) as { topics: Array<{ topic_name: string; channels: ChannelStats[] }> | null };
  return body.topics?.find((t) => t.topic_name === topic)?.channels.find((c) => c.channel_name === channel);
}

// ------------------------------------------------------------------ units

describe("FrameParser", () => {
  const stream = Buffer.concat([
    frame(0, Buffer.from("OK")),
    frame(2, messageData("0123456789abcdef", 1, "hello")),
    frame(1, Buffer.from("E_FIN_FAILED FIN x failed")),
    frame(0, Buffer.from("_heartbeat_")),
  ]);
  const expected: Array<[number, string]> = [
    [0, "OK"],
    [2, messageData("0123456789abcdef", 1, "hello").toString("latin1")],
    [1, "E_FIN_FAILED FIN x failed"],
    [0, "_heartbeat_"],
  ];

  test("many frames in one chunk", () => {
    const { frames, parser } = collect();
    parser.push(stream);
    expect(frames).toEqual(expected);
    expect(parser.buffered).toBe(0);
  });

  test("every split point of the stream gives the same frames", () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const { frames, parser } = collect();
      parser.push(stream.subarray(0, cut));
      parser.push(stream.subarray(cut));
      expect(frames).toEqual(expected);
    }
  });

  test("one byte at a time", () => {
    const { frames, parser } = collect();
    for (let i = 0; i < stream.length; i++) parser.push(stream.subarray(i, i + 1));
    expect(frames).toEqual(expected);
  });

  test("a bad size or type is a ProtocolError", () => {
    const bad = Buffer.alloc(8);
    bad.writeInt32BE(2, 0);
    expect(() => collect().parser.push(bad)).toThrow(ProtocolError);
    expect(() => collect().parser.push(frame(7, Buffer.from("x")))).toThrow(ProtocolError);
  });
});

describe("encoders, errors, options", () => {
  test("MPUB body layout", () => {
    const out = cmd.mpub("t", [Buffer.from("ab"), Buffer.from("c")]);
    const head = Buffer.from("MPUB t\n");
    expect(out.subarray(0, head.length).equals(head)).toBe(true);
    const body = out.subarray(head.length);
    expect(body.readInt32BE(0)).toBe(4 + 4 + 2 + 4 + 1);
    expect(body.readInt32BE(4)).toBe(2);
    expect(body.readInt32BE(8)).toBe(2);
    expect(body.subarray(12, 14).toString()).toBe("ab");
    expect(body.readInt32BE(14)).toBe(1);
    expect(body.subarray(18).toString()).toBe("c");
  });

  test("FIN / REQ / RDY lines", () => {
    const id = Buffer.from("0123456789abcdef");
    expect(cmd.fin(id).toString()).toBe("FIN 0123456789abcdef\n");
    expect(cmd.req(id, 1500).toString()).toBe("REQ 0123456789abcdef 1500\n");
    expect(cmd.rdy(7).toString()).toBe("RDY 7\n");
  });

  test("only FIN/REQ/TOUCH failures are non-fatal", () => {
    expect(NsqError.fromFrame(Buffer.from("E_FIN_FAILED FIN x failed"), "a:1").fatal).toBe(false);
    const e = NsqError.fromFrame(Buffer.from("E_BAD_TOPIC PUB topic name \"x y\" is not valid"), "a:1");
    expect(e.fatal).toBe(true);
    expect(e.code).toBe("E_BAD_TOPIC");
    expect(e.description).toBe('PUB topic name "x y" is not valid');
  });

  test("go-nsq option names, durations, ranges", () => {
    const c = defaultClientConfig();
    applyClientOption(c, "max-attempts", "10");
    applyClientOption(c, "lookupd_poll_interval", "1m30s");
    applyClientOption(c, "backoff_strategy", "full_jitter");
    expect(c.maxAttempts).toBe(10);
    expect(c.lookupdPollInterval).toBe(90_000);
    expect(c.backoffStrategy).toBe("full_jitter");
    expect(() => applyClientOption(c, "sample_rate", "100")).toThrow(ConfigError);
    expect(() => applyClientOption(c, "no_such_option", "1")).toThrow(ConfigError);
    expect(() => applyClientOption(c, "max_attempts", "abc")).toThrow(ConfigError);
  });
});

// ------------------------------------------------------------------ against a broker

describe("Producer and Consumer against nsqd", () => {
  test("PUB, MPUB and DPUB are delivered in order with their bodies", async () => {
    const n = await startNsqd();
    const p = track(new Producer(tcp(n)));
    await p.publish("orders", "one");
    await p.multiPublish("orders", ["two", "three"]);
    const deferredAt = Date.now();
    await p.deferredPublish("orders", 150, "later");
    const got: Array<{ body: string; attempts: number; at: number }> = [];
    const c = track(
      new Consumer({
        topic: "orders",
        channel: "c",
        config: { maxInFlight: 10 },
        handler: (m) => void got.push({ body: m.body.toString(), attempts: m.attempts, at: Date.now() }),
      }),
    );
    await c.connectToNsqd(tcp(n));
    await until("4 messages", () => got.length === 4);
    expect(got.map((g) => g.body)).toEqual(["one", "two", "three", "later"]);
    expect(got.every((g) => g.attempts === 1)).toBe(true);
    expect(got[3]!.at - deferredAt).toBeGreaterThanOrEqual(140);
    await until("FINs", () => c.stats().messagesFinished === 4);
  });

  test("a fatal error rejects the publish with the broker's code; the producer reconnects", async () => {
    const n = await startNsqd();
    const p = track(new Producer(tcp(n), { maxInFlight: 1 }));
    // a body over max-msg-size is a fatal E_BAD_MESSAGE that closes the connection
    const huge = Buffer.alloc(1024 * 1024 + 10, 97);
    const err = await p.publish("t", huge).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsqError);
    expect((err as NsqError).code).toBe("E_BAD_MESSAGE");
    await p.publish("t", "after"); // lazily reconnected
    await expect(p.publish("bad topic", "x")).rejects.toThrow(ConfigError);
  });

  test("an unreachable nsqd rejects connect with the address", async () => {
    const p = new Producer("127.0.0.1:1");
    await expect(p.connect()).rejects.toThrow("127.0.0.1:1");
    await p.close();
  });

  test("total RDY never exceeds max_in_flight across two nodes", async () => {
    const a = await startNsqd();
    const b = await startNsqd();
    const pa = track(new Producer(tcp(a)));
    const pb = track(new Producer(tcp(b)));
    await pa.multiPublish("spread", Array.from({ length: 30 }, (_, i) => `a${i}`));
    await pb.multiPublish("spread", Array.from({ length: 30 }, (_, i) => `b${i}`));
    let concurrent = 0;
    let maxConcurrent = 0;
    let maxRdy = 0;
    const seen = new Set<string>();
    const c: Consumer = track(
      new Consumer({
        topic: "spread",
        channel: "c",
        config: { maxInFlight: 3 },
        handler: async (m) => {
          seen.add(m.body.toString());
          concurrent++;
          maxConcurrent = Math.max(maxConcurrent, concurrent);
          maxRdy = Math.max(maxRdy, c.stats().totalRdy);
          await Bun.sleep(10);
          concurrent--;
        },
      }),
    );
    await c.connectToNsqds([tcp(a), tcp(b)]);
    // what the brokers believe: the sum of both connections' RDY
    const ca = await channelStats(a, "spread", "c");
    const cb = await channelStats(b, "spread", "c");
    const brokerRdy = (ca?.clients[0]?.ready_count ?? 0) + (cb?.clients[0]?.ready_count ?? 0);
    expect(brokerRdy).toBeLessThanOrEqual(3);
    expect(brokerRdy).toBeGreaterThan(0);
    await until("60 messages", () => seen.size === 60, 10_000);
    expect(maxConcurrent).toBeLessThanOrEqual(3);
    expect(maxRdy).toBeLessThanOrEqual(3);
    expect([...c.rdyByConnection().values()].reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(3);
  });

  test("a failing handler requeues and backs off: RDY 0, then RDY 1, then back to max_in_flight", async () => {
    const n = await startNsqd();
    const p = track(new Producer(tcp(n)));
    await p.publish("flaky", "m");
    const attempts: number[] = [];
    const c: Consumer = track(
      new Consumer({
        topic: "flaky",
        channel: "c",
        config: { maxInFlight: 5, backoffMultiplier: 100, defaultRequeueDelay: 0 },
        handler: (m) => {
          attempts.push(m.attempts);
          if (m.attempts === 1) throw new Error("first try fails");
        },
      }),
    );
    await c.connectToNsqd(tcp(n));
    await until("backoff level 1", () => c.stats().backoffLevel === 1);
    const during = c.stats();
    expect(during.inBackoffTimeout).toBe(true);
    expect(during.totalRdy).toBe(0);
    expect(during.messagesRequeued).toBe(1);
    // nsqd sees RDY 0 while the backoff timer runs
    expect((await channelStats(n, "flaky", "c"))?.clients[0]?.ready_count).toBe(0);
    // after 2 × 100 ms one message is let through; it succeeds and the level drops to 0
    await until("redelivery", () => attempts.length === 2);
    expect(attempts).toEqual([1, 2]);
    await until("backoff exit", () => c.stats().backoffLevel === 0 && c.stats().totalRdy === 5);
  });

  test("messages over max_attempts are FINed without calling the handler", async () => {
    const n = await startNsqd();
    const p = track(new Producer(tcp(n)));
    await p.publish("poison", "x");
    let calls = 0;
    const failed: number[] = [];
    const c = track(
      new Consumer({
        topic: "poison",
        channel: "c",
        config: { maxInFlight: 1, maxAttempts: 2, backoffMultiplier: 5, defaultRequeueDelay: 0 },
        handler: () => {
          calls++;
          throw new Error("always");
        },
        onFailedMessage: (m: Message) => void failed.push(m.attempts),
      }),
    );
    await c.connectToNsqd(tcp(n));
    await until("failed-message hook", () => failed.length === 1);
    expect(calls).toBe(2);
    expect(failed).toEqual([3]);
    await until("FIN of the poison message", () => c.stats().messagesFinished === 1);
  });

  test("reconnects to a direct nsqd after it restarts", async () => {
    const dataPath = mkdtempSync(join(tmpdir(), "nsq-client-restart-"));
    cleanups.push(() => rmSync(dataPath, { recursive: true, force: true }));
    const first = await startNsqd({ dataPath });
    const address = tcp(first);
    const got: string[] = [];
    const c = track(
      new Consumer({
        topic: "r",
        channel: "c",
        config: { maxInFlight: 2, lookupdPollInterval: 50 },
        handler: (m) => void got.push(m.body.toString()),
      }),
    );
    await c.connectToNsqd(address);
    await first.close();
    await until("disconnect noticed", () => c.stats().connections === 0);
    const second = await startNsqd({ dataPath, tcpAddress: address });
    await until("reconnected", () => c.stats().connections === 1);
    await track(new Producer(tcp(second))).publish("r", "after restart");
    await until("message after restart", () => got.length === 1);
    expect(got).toEqual(["after restart"]);
  });

  test("discovers producers through lookupd and connects to each", async () => {
    const lookupd = new Nsqlookupd({ tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0" }, silentLogger);
    await lookupd.start();
    cleanups.push(() => lookupd.close());
    const a = await startNsqd({ lookupd: `127.0.0.1:${lookupd.tcpPort}` });
    const b = await startNsqd({ lookupd: `127.0.0.1:${lookupd.tcpPort}` });
    await track(new Producer(tcp(a))).publish("disc", "from-a");
    await track(new Producer(tcp(b))).publish("disc", "from-b");
    // wait until both registrations reached lookupd
    const lookupUrl = `http://127.0.0.1:${lookupd.httpPort}/lookup?topic=disc`;
    const deadline = Date.now() + 5000;
    for (;;) {
      const res = await fetch(lookupUrl);
      if (res.status === 200 && ((await res.json()) as { producers: unknown[] }).producers.length === 2) break;
      if (Date.now() > deadline) throw new Error("registrations did not reach lookupd");
      await Bun.sleep(20);
    }
    const got = new Set<string>();
    const c = track(
      new Consumer({
        topic: "disc",
        channel: "c",
        config: { maxInFlight: 4, lookupdPollInterval: 100 },
        handler: (m) => void got.add(m.body.toString()),
      }),
    );
    await c.connectToLookupd(`127.0.0.1:${lookupd.httpPort}`);
    await until("messages from both nodes", () => got.size === 2);
    expect([...got].sort()).toEqual(["from-a", "from-b"]);
    expect(c.stats().connections).toBe(2);
  });

  test("stop() sends CLS, waits for in-flight handlers, FINs them, then closes", async () => {
    const n = await startNsqd();
    await track(new Producer(tcp(n))).multiPublish("drain", Array.from({ length: 5 }, (_, i) => `m${i}`));
    let started = 0;
    let completed = 0;
    const c = new Consumer({
      topic: "drain",
      channel: "c",
      config: { maxInFlight: 5 },
      handler: async () => {
        started++;
        await Bun.sleep(150);
        completed++;
      },
    });
    await c.connectToNsqd(tcp(n));
    await until("5 messages in flight", () => started === 5);
    expect(completed).toBe(0);
    await c.stop();
    expect(completed).toBe(5);
    expect(c.stats().messagesFinished).toBe(5);
    expect(c.stats().connections).toBe(0);
    // the broker got every FIN: nothing left in flight or queued
    const stats = await channelStats(n, "drain", "c");
    expect(stats?.in_flight_count).toBe(0);
    expect(stats?.depth).toBe(0);
  });
});
