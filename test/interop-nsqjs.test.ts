/**
 * Interoperability with nsqjs, the Node client NSQ users install from npm: an independent
 * implementation of the client side of the protocol.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import nsq from "nsqjs";
import { startBroker, type TestBroker } from "./helpers/broker.ts";

type Reader = InstanceType<typeof nsq.Reader>;
type Writer = InstanceType<typeof nsq.Writer>;
type Msg = Parameters<Parameters<Reader["on"]>[1]>[0] & {
  body: Buffer;
  id: string;
  attempts: number;
  finish(): void;
  requeue(delay?: number, backoff?: boolean): void;
  touch(): void;
};

let b: TestBroker;
const cleanups: (() => void)[] = [];
beforeEach(async () => {
  b = await startBroker({ msgTimeout: 1500 });
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await b.stop();
});

async function writer(): Promise<Writer> {
  const w = new nsq.Writer("127.0.0.1", b.tcpPort);
  cleanups.push(() => w.close());
  await new Promise<void>((resolve, reject) => {
    w.on("ready", () => resolve());
    w.on("error", reject);
    w.connect();
  });
  return w;
}

function reader(topic: string, channel: string, opts: Record<string, unknown> = {}): Reader {
  const r = new nsq.Reader(topic, channel, { nsqdTCPAddresses: [`127.0.0.1:${b.tcpPort}`], maxInFlight: 100, ...opts });
  cleanups.push(() => r.close());
  r.on("error", () => {});
  return r;
}

/** Waits until the Reader's SUB has created the channel on the broker. */
async function channelOf(topic: string, channel: string) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const ch = b.nsqd.getTopic(topic)?.getChannel(channel);
    if (ch !== undefined && ch.clients.length > 0) return ch;
    if (Date.now() > deadline) throw new Error(`no subscriber on ${topic}/${channel}`);
    await Bun.sleep(5);
  }
}

function publish(w: Writer, topic: string, msgs: string | string[]): Promise<void> {
  return new Promise((resolve, reject) => w.publish(topic, msgs, (err?: Error) => (err ? reject(err) : resolve())));
}

describe("nsqjs", () => {
  test("10,000 messages published by Writer reach a Reader exactly once", async () => {
    const w = await writer();
    const total = 10_000;
    for (let i = 0; i < total; i += 500) {
      await publish(w, "interop", Array.from({ length: 500 }, (_, k) => `msg-${i + k}`));
    }
    const seen = new Map<string, number>();
    const r = reader("interop", "c", { maxInFlight: 200 });
    await new Promise<void>((resolve) => {
      r.on("message", (m: Msg) => {
        const body = m.body.toString();
        seen.set(body, (seen.get(body) ?? 0) + 1);
        m.finish();
        if (seen.size === total) resolve();
      });
      r.connect();
    });
    expect(seen.size).toBe(total);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    const ch = b.nsqd.getTopic("interop")!.getChannel("c")!;
    expect(ch.requeueCount).toBe(0);
    expect(ch.timeoutCount).toBe(0);
  });

  test("requeue redelivers with attempts+1", async () => {
    const w = await writer();
    await publish(w, "req", "again");
    const r = reader("req", "c");
    const attempts: number[] = [];
    await new Promise<void>((resolve) => {
      r.on("message", (m: Msg) => {
        attempts.push(m.attempts);
        if (m.attempts === 1) m.requeue(0, false);
        else {
          m.finish();
          resolve();
        }
      });
      r.connect();
    });
    expect(attempts).toEqual([1, 2]);
    expect(b.nsqd.getTopic("req")!.getChannel("c")!.requeueCount).toBe(1);
  });

  test("an unfinished message times out and is redelivered", async () => {
    const w = await writer();
    await publish(w, "timeout", "slow");
    const r = reader("timeout", "c");
    const attempts: number[] = [];
    await new Promise<void>((resolve) => {
      r.on("message", (m: Msg) => {
        attempts.push(m.attempts);
        if (m.attempts === 2) {
          m.finish();
          resolve();
        }
      });
      r.connect();
    });
    expect(attempts).toEqual([1, 2]);
    expect(b.nsqd.getTopic("timeout")!.getChannel("c")!.timeoutCount).toBe(1);
  });

  test("touch keeps a message in flight past its timeout", async () => {
    const w = await writer();
    await publish(w, "touch", "held");
    const r = reader("touch", "c");
    const started = Date.now();
    let deliveries = 0;
    await new Promise<void>((resolve) => {
      r.on("message", (m: Msg) => {
        deliveries++;
        const timer = setInterval(() => m.touch(), 500);
        setTimeout(() => {
          clearInterval(timer);
          m.finish();
          resolve();
        }, 2500);
      });
      r.connect();
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
    expect(deliveries).toBe(1);
    expect(b.nsqd.getTopic("touch")!.getChannel("c")!.timeoutCount).toBe(0);
  });

  test("deferred publish arrives after its delay", async () => {
    const w = await writer();
    const r = reader("defer", "c");
    const connected = new Promise<void>((resolve) => r.on("nsqd_connected", () => resolve()));
    r.connect();
    await connected;
    await channelOf("defer", "c");
    let arrived = 0;
    const got = new Promise<void>((resolve) =>
      r.on("message", (m: Msg) => {
        arrived = Date.now();
        m.finish();
        resolve();
      }),
    );
    const sent = Date.now();
    await new Promise<void>((resolve, reject) => w.deferPublish("defer", ["later"], 700, (err?: Error) => (err ? reject(err) : resolve())));
    await got;
    expect(arrived - sent).toBeGreaterThanOrEqual(650);
  });

  test("a paused channel delivers nothing to nsqjs until unpaused", async () => {
    const w = await writer();
    const r = reader("paused", "c");
    const connected = new Promise<void>((resolve) => r.on("nsqd_connected", () => resolve()));
    let received = 0;
    r.on("message", (m: Msg) => {
      received++;
      m.finish();
    });
    r.connect();
    await connected;
    const ch = await channelOf("paused", "c");
    b.nsqd.setChannelPaused(ch, true);
    await publish(w, "paused", ["1", "2", "3"]);
    await Bun.sleep(300);
    expect(received).toBe(0);
    expect(ch.depth()).toBe(3);
    b.nsqd.setChannelPaused(ch, false);
    const deadline = Date.now() + 3000;
    while (received < 3 && Date.now() < deadline) await Bun.sleep(10);
    expect(received).toBe(3);
  });
});
