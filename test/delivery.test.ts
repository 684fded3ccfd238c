/** Delivery semantics (spec §1.9, §2.1–2.7): fan-out, RDY window, timeouts, REQ, TOUCH, DPUB, ephemeral. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient, parseMessage, subscriber, type WireMessage } from "./helpers/raw-client.ts";

let b: TestBroker;
let open: RawClient[] = [];
beforeEach(async () => {
  b = await startBroker({ msgTimeout: 1000, maxMsgTimeout: 3000 });
  open = [];
});
afterEach(async () => {
  for (const c of open) c.close();
  await b.stop();
});

async function publisher(): Promise<RawClient> {
  const p = await RawClient.connect(b.tcpPort);
  open.push(p);
  return p;
}
async function sub(topic: string, channel: string, rdy: number, identify?: Record<string, unknown>): Promise<RawClient> {
  const c = await subscriber(b.tcpPort, topic, channel, rdy, identify);
  open.push(c);
  return c;
}
async function publish(p: RawClient, topic: string, bodies: string[]): Promise<void> {
  p.mpub(topic, bodies);
  expect(await p.readResponse()).toBe("OK");
}

describe("fan-out", () => {
  test("every channel gets a copy with the same ID", async () => {
    const a = await sub("fan", "a", 10);
    const c = await sub("fan", "b", 10);
    const p = await publisher();
    await publish(p, "fan", ["x"]);
    const ma = await a.readMessage();
    const mb = await c.readMessage();
    expect(ma.body.toString()).toBe("x");
    expect(mb.body.toString()).toBe("x");
    expect(ma.id).toBe(mb.id);
    expect(ma.timestampNs).toBe(mb.timestampNs);
  });

  test("a topic with no channel keeps its messages until one exists", async () => {
    const p = await publisher();
    await publish(p, "wait", ["1", "2", "3"]);
    expect(b.nsqd.getTopic("wait")!.depth()).toBe(3);
    const c = await sub("wait", "late", 10);
    const got = [(await c.readMessage()).body.toString(), (await c.readMessage()).body.toString(), (await c.readMessage()).body.toString()];
    expect(got.sort()).toEqual(["1", "2", "3"]);
    expect(b.nsqd.getTopic("wait")!.depth()).toBe(0);
  });

  test("consumers of one channel share its messages: each message exactly once", async () => {
    const c1 = await sub("share", "c", 50);
    const c2 = await sub("share", "c", 50);
    const p = await publisher();
    const bodies = Array.from({ length: 100 }, (_, i) => String(i));
    await publish(p, "share", bodies);
    const seen: string[] = [];
    const drain = async (c: RawClient) => {
      const mine: string[] = [];
      while (seen.length < 100) {
        let m: WireMessage;
        try {
          const f = await c.readFrame(500);
          m = parseMessage(f.data);
        } catch {
          continue;
        }
        seen.push(m.body.toString());
        mine.push(m.body.toString());
        c.write(`FIN ${m.id}\n`);
        if (seen.length === 100) break;
      }
      return mine;
    };
    const [m1, m2] = await Promise.all([drain(c1), drain(c2)]);
    expect(seen.length).toBe(100);
    expect(new Set(seen).size).toBe(100);
    expect(m1.length).toBeGreaterThan(0);
    expect(m2.length).toBeGreaterThan(0);
  });
});

describe("RDY window", () => {
  test("never more in flight than RDY; FIN opens a slot without a new RDY", async () => {
    const c = await sub("win", "c", 2);
    const p = await publisher();
    await publish(p, "win", ["1", "2", "3", "4"]);
    const m1 = await c.readMessage();
    await c.readMessage();
    expect(await c.expectNoFrame(200)).toBe(true);
    c.write(`FIN ${m1.id}\n`);
    expect((await c.readMessage()).body.toString()).toBe("3");
    expect(await c.expectNoFrame(200)).toBe(true);
  });

  test("RDY 0 stops deliveries", async () => {
    const c = await sub("rdy0", "c", 0);
    const p = await publisher();
    await publish(p, "rdy0", ["1"]);
    expect(await c.expectNoFrame(200)).toBe(true);
    c.write("RDY 1\n");
    expect((await c.readMessage()).body.toString()).toBe("1");
  });
});

describe("at-least-once", () => {
  test("an unfinished message times out and comes back with attempts+1", async () => {
    const c = await sub("to", "c", 1);
    const p = await publisher();
    await publish(p, "to", ["x"]);
    const first = await c.readMessage();
    expect(first.attempts).toBe(1);
    const again = await c.readMessage();
    expect(again.id).toBe(first.id);
    expect(again.attempts).toBe(2);
    const ch = b.nsqd.getTopic("to")!.getChannel("c")!;
    expect(ch.timeoutCount).toBe(1);
    expect(ch.requeueCount).toBe(0);
  });

  test("per-client msg_timeout is used", async () => {
    const c = await sub("to2", "c", 1, { msg_timeout: 1500 });
    const p = await publisher();
    await publish(p, "to2", ["x"]);
    const t0 = Date.now();
    await c.readMessage();
    await c.readMessage();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
  });

  test("REQ 0 requeues now; REQ with delay defers", async () => {
    const c = await sub("req", "c", 1);
    const p = await publisher();
    await publish(p, "req", ["x"]);
    const m = await c.readMessage();
    c.write(`REQ ${m.id} 0\n`);
    const m2 = await c.readMessage();
    expect(m2.attempts).toBe(2);
    const t0 = Date.now();
    c.write(`REQ ${m2.id} 400\n`);
    const m3 = await c.readMessage();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    expect(m3.attempts).toBe(3);
    const ch = b.nsqd.getTopic("req")!.getChannel("c")!;
    expect(ch.requeueCount).toBe(2);
    expect(ch.timeoutCount).toBe(0);
  });

  test("TOUCH extends the deadline but not past max-msg-timeout", async () => {
    const c = await sub("touch", "c", 1);
    const p = await publisher();
    await publish(p, "touch", ["x"]);
    const m = await c.readMessage();
    const t0 = Date.now();
    // keep touching every 500 ms: without the cap it would never time out
    const timer = setInterval(() => c.write(`TOUCH ${m.id}\n`), 500);
    const again = await c.readMessage();
    clearInterval(timer);
    const held = Date.now() - t0;
    expect(again.id).toBe(m.id);
    expect(held).toBeGreaterThanOrEqual(2800); // max-msg-timeout 3 s
    expect(held).toBeLessThan(4500);
  });

  test("a disconnected consumer's messages wait for their timeout", async () => {
    const c = await sub("gone", "c", 1);
    const p = await publisher();
    await publish(p, "gone", ["x"]);
    const m = await c.readMessage();
    c.close();
    const d = await sub("gone", "c", 1);
    expect(await d.expectNoFrame(500)).toBe(true);
    const again = await d.readMessage();
    expect(again.id).toBe(m.id);
    expect(again.attempts).toBe(2);
  });
});

describe("deferred publish", () => {
  test("DPUB is delivered after its delay", async () => {
    const c = await sub("dpub", "c", 1);
    const p = await publisher();
    const t0 = Date.now();
    p.writeWithBody("DPUB dpub 500", "later");
    expect(await p.readResponse()).toBe("OK");
    const ch = b.nsqd.getTopic("dpub")!.getChannel("c")!;
    expect(ch.deferred.size).toBe(1);
    const m = await c.readMessage();
    expect(m.body.toString()).toBe("later");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
  });

  test("a deferred message published before any channel keeps its delay", async () => {
    const p = await publisher();
    const t0 = Date.now();
    p.writeWithBody("DPUB dpub2 600", "later");
    expect(await p.readResponse()).toBe("OK");
    const c = await sub("dpub2", "c", 1);
    await c.readMessage();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
  });
});

describe("deferred messages held by the topic", () => {
  test("count in depth, spill to disk past --mem-queue-size, and keep their delay", async () => {
    await b.stop();
    b = await startBroker({ memQueueSize: 5 });
    const p = await publisher();
    const t0 = Date.now();
    for (let i = 0; i < 50; i++) {
      p.writeWithBody("DPUB dheld 800", `d${i}`);
      expect(await p.readResponse()).toBe("OK");
    }
    const topic = b.nsqd.getTopic("dheld")!;
    expect(topic.depth()).toBe(50);
    expect(topic.backendDepth()).toBe(45);
    const c = await sub("dheld", "c", 100);
    const got = new Set<string>();
    while (got.size < 50) {
      const m = await c.readMessage();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(750);
      got.add(m.body.toString());
      c.write(`FIN ${m.id}\n`);
    }
    expect(got.size).toBe(50);
  });
});

describe("ephemeral", () => {
  test("an ephemeral channel goes with its last client, the ephemeral topic with its last channel", async () => {
    const c = await sub("e#ephemeral", "c#ephemeral", 1);
    expect(b.nsqd.getTopic("e#ephemeral")!.getChannel("c#ephemeral")).toBeDefined();
    c.close();
    const deadline = Date.now() + 2000;
    while (b.nsqd.getTopic("e#ephemeral") !== undefined && Date.now() < deadline) await Bun.sleep(10);
    expect(b.nsqd.getTopic("e#ephemeral")).toBeUndefined();
  });

  test("ephemeral overflow beyond mem-queue-size is dropped, not an error", async () => {
    await b.stop();
    b = await startBroker({ memQueueSize: 2 });
    const p = await publisher();
    await publish(p, "drop#ephemeral", ["1", "2", "3", "4"]);
    expect(b.nsqd.getTopic("drop#ephemeral")!.depth()).toBe(2);
  });
});

describe("pause and sample rate", () => {
  test("a paused channel holds its messages; unpause delivers them", async () => {
    const c = await sub("pause", "c", 5);
    const ch = b.nsqd.getTopic("pause")!.getChannel("c")!;
    b.nsqd.setChannelPaused(ch, true);
    const p = await publisher();
    await publish(p, "pause", ["1"]);
    expect(await c.expectNoFrame(200)).toBe(true);
    b.nsqd.setChannelPaused(ch, false);
    expect((await c.readMessage()).body.toString()).toBe("1");
  });

  test("a paused topic holds messages in the topic", async () => {
    const c = await sub("tpause", "c", 5);
    const topic = b.nsqd.getTopic("tpause")!;
    b.nsqd.setTopicPaused(topic, true);
    const p = await publisher();
    await publish(p, "tpause", ["1"]);
    expect(topic.depth()).toBe(1);
    expect(await c.expectNoFrame(200)).toBe(true);
    b.nsqd.setTopicPaused(topic, false);
    expect((await c.readMessage()).body.toString()).toBe("1");
  });

  test("sample_rate delivers roughly that share and drops the rest", async () => {
    const c = await sub("sample", "c", 2500, { sample_rate: 10 });
    const p = await publisher();
    await publish(p, "sample", Array.from({ length: 2000 }, (_, i) => String(i)));
    let n = 0;
    while (!(await c.expectNoFrame(300))) {
      await c.readMessage();
      n++;
    }
    // (N+1)% effective rate: ~220 of 2000
    expect(n).toBeGreaterThan(120);
    expect(n).toBeLessThan(340);
    expect(b.nsqd.getTopic("sample")!.getChannel("c")!.depth()).toBe(0);
  });
});

describe("a tail on a topic with a backlog", () => {
  test("an ephemeral-only topic hands its backlog no faster than the channel takes it: nothing dropped", async () => {
    await b.stop();
    b = await startBroker({ memQueueSize: 100 });
    const p = await publisher();
    for (let i = 0; i < 50; i++) await publish(p, "backlog", Array.from({ length: 100 }, (_, k) => `${i * 100 + k}`));
    expect(b.nsqd.getTopic("backlog")!.depth()).toBe(5000); // 100 in memory, the rest on disk
    const c = await sub("backlog", "tail#ephemeral", 50);
    const seen = new Set<string>();
    while (seen.size < 5000) {
      const m = await c.readMessage();
      seen.add(m.body.toString());
      c.write(`FIN ${m.id}\n`);
    }
    // live publishing while the tail is slow is paced the same way
    c.write("RDY 0\n");
    await publish(p, "backlog", Array.from({ length: 300 }, (_, k) => `live${k}`));
    c.write("RDY 50\n");
    const live = new Set<string>();
    while (live.size < 300) {
      const m = await c.readMessage();
      live.add(m.body.toString());
      c.write(`FIN ${m.id}\n`);
    }
    expect(seen.size).toBe(5000);
  });

  test("with a durable channel too, ephemeral overflow is dropped as in nsqd", async () => {
    await b.stop();
    b = await startBroker({ memQueueSize: 100 });
    await sub("mixed", "durable", 0);
    const tail = await sub("mixed", "tail#ephemeral", 0);
    const p = await publisher();
    await publish(p, "mixed", Array.from({ length: 300 }, (_, k) => `${k}`));
    const topic = b.nsqd.getTopic("mixed")!;
    expect(topic.getChannel("durable")!.depth()).toBe(300);
    expect(topic.getChannel("tail#ephemeral")!.depth()).toBe(100);
    tail.close();
  });
});

describe("the write path", () => {
  test("a consumer that stops reading gets no more messages until its socket drains", async () => {
    await b.stop();
    b = await startBroker({ maxMsgSize: 2 * 1024 * 1024, maxBodySize: 64 * 1024 * 1024 });
    const c = await sub("slow", "c", 2500);
    c.socket.pause(); // the kernel buffers fill, then node:net's, then the broker must hold back
    const p = await publisher();
    const body = "x".repeat(256 * 1024);
    for (let i = 0; i < 8; i++) await publish(p, "slow", Array.from({ length: 16 }, () => body));
    const ch = b.nsqd.getTopic("slow")!.getChannel("c")!;
    const client = ch.clients[0]!;
    const deadline = Date.now() + 5000;
    while (client.writable && Date.now() < deadline) await Bun.sleep(10);
    expect(client.writable).toBe(false);
    expect(ch.inFlight.size).toBeLessThan(128);
    expect(ch.depth()).toBeGreaterThan(0);
    c.socket.resume();
    let got = 0;
    while (got < 128) {
      const m = await c.readMessage();
      expect(m.body.length).toBe(body.length);
      c.write(`FIN ${m.id}\n`);
      got++;
    }
    expect(client.writable).toBe(true);
  });
});

describe("output buffering (output_buffer_size / output_buffer_timeout)", () => {
  test("a ready client's messages wait for its output_buffer_timeout", async () => {
    const c = await sub("obt", "c", 100, { output_buffer_timeout: 600 });
    const p = await publisher();
    const t0 = Date.now();
    await publish(p, "obt", ["1"]);
    await c.readMessage();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
  });

  test("a client that is no longer ready (in flight = RDY) gets its messages at once", async () => {
    const c = await sub("obt1", "c", 1, { output_buffer_timeout: 5000 });
    const p = await publisher();
    const t0 = Date.now();
    await publish(p, "obt1", ["1"]);
    await c.readMessage();
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  test("a full output buffer is written at once; output_buffer_size -1 writes every message", async () => {
    const big = await sub("obs", "c", 100, { output_buffer_timeout: 5000, output_buffer_size: 64 });
    const none = await sub("obs", "d", 100, { output_buffer_size: -1 });
    const p = await publisher();
    const t0 = Date.now();
    await publish(p, "obs", ["x".repeat(100)]);
    await big.readMessage();
    await none.readMessage();
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
