/**
 * statsd output (spec §3.9): a UDP socket in the test receives what a broker's StatsdReporter
 * sends, and the lines, deltas, packing, spreading and options are checked byte for byte.
 */
import { afterEach, describe, expect, test } from "bun:test";
import dgram from "node:dgram";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient, subscriber } from "./helpers/raw-client.ts";
import { StatsdReporter, packLines, percentileSuffix, spreadSpacingMs, statsdPrefix } from "../src/server/statsd.ts";
import type { NsqdOptions } from "../src/server/options.ts";
import { createLogger } from "../src/util/logger.ts";

interface Datagram {
  text: string;
  bytes: number;
  at: number;
}

/** A statsd server stand-in: records every datagram with its arrival time. */
class UdpSink {
  readonly datagrams: Datagram[] = [];
  private waiters: (() => void)[] = [];
  private constructor(
    private readonly socket: dgram.Socket,
    readonly port: number,
  ) {
    socket.on("message", (msg) => {
      this.datagrams.push({ text: msg.toString("utf8"), bytes: msg.length, at: performance.now() });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(): Promise<UdpSink> {
    const socket = dgram.createSocket("udp4");
    return new Promise((resolve) => socket.bind(0, "127.0.0.1", () => resolve(new UdpSink(socket, socket.address().port))));
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Every line received so far, in order (the "\n" terminators removed). */
  lines(): string[] {
    return this.datagrams.flatMap((d) => d.text.split("\n").filter((l) => l !== ""));
  }

  /** Resolves once `ready()` holds, re-checked on every datagram; rejects at the deadline. */
  async until(ready: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`statsd sink: condition not met in ${timeoutMs}ms (${this.datagrams.length} datagrams)`);
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
    this.socket.close();
  }
}

/** Polls a condition on broker state (no event exists for "the topic pump has moved N messages"). */
async function pollUntil(ready: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ready()) {
    if (performance.now() > deadline) throw new Error(`condition not met in ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: Partial<NsqdOptions>): Promise<{ sink: UdpSink; broker: TestBroker }> {
  const sink = await UdpSink.open();
  cleanups.push(() => sink.close());
  // the broker starts without its own reporter; each test drives a StatsdReporter of its own
  const broker = await startBroker({
    broadcastAddress: "127.0.0.1",
    statsdInterval: 200,
    statsdMemStats: false,
    ...opts,
    statsdAddress: "",
  });
  broker.nsqd.options.statsdAddress = opts.statsdAddress ?? sink.address;
  cleanups.push(() => broker.stop());
  return { sink, broker };
}

function startReporter(broker: TestBroker): StatsdReporter {
  const reporter = new StatsdReporter(broker.nsqd);
  cleanups.push(() => reporter.stop());
  reporter.start();
  return reporter;
}

async function createChannel(broker: TestBroker, topic: string, channel: string): Promise<void> {
  const made = await broker.http(`/topic/create?topic=${encodeURIComponent(topic)}`, { method: "POST" });
  expect(made.status).toBe(200);
  const res = await broker.http(`/channel/create?topic=${encodeURIComponent(topic)}&channel=${encodeURIComponent(channel)}`, { method: "POST" });
  expect(res.status).toBe(200);
}

async function publish(broker: TestBroker, topic: string, bodies: string[]): Promise<void> {
  const c = await RawClient.connect(broker.tcpPort);
  try {
    if (bodies.length === 1) c.pub(topic, bodies[0]!);
    else c.mpub(topic, bodies);
    expect(await c.readResponse()).toBe("OK");
  } finally {
    c.close();
  }
}

/** Splits the received lines into rounds of `perRound` lines (every round has the same stat set). */
function rounds(sink: UdpSink, perRound: number): string[][] {
  const lines = sink.lines();
  const out: string[][] = [];
  for (let i = 0; i + perRound <= lines.length; i += perRound) out.push(lines.slice(i, i + perRound));
  return out;
}

describe("statsd prefix, percentile names, packing (units)", () => {
  test("prefix: %s is <broadcast-address>_<http-port> with dots and colons as _, trailing dot added", () => {
    expect(statsdPrefix("nsq.%s", "127.0.0.1", 4151)).toBe("nsq.127_0_0_1_4151.");
    expect(statsdPrefix("nsq.%s.", "host.example.com", 80)).toBe("nsq.host_example_com_80.");
    expect(statsdPrefix("a.%s.b.%s", "h", 1)).toBe("a.h_1.b.h_1.");
    expect(statsdPrefix("::1 %s", "::1", 4151)).toBe("::1 [__1]_4151.");
    expect(statsdPrefix("plain", "h", 1)).toBe("plain.");
    expect(statsdPrefix("", "h", 1)).toBe("");
  });

  test("percentile suffix is Go's %.0f of quantile×100", () => {
    expect(percentileSuffix(0.5)).toBe("50");
    expect(percentileSuffix(0.99)).toBe("99");
    expect(percentileSuffix(0.999)).toBe("100");
    expect(percentileSuffix(1)).toBe("100");
    expect(percentileSuffix(0.125)).toBe("12"); // exact half → even
    expect(percentileSuffix(0.135)).toBe("14");
  });

  test("packing: whole lines, greedy, each datagram at most the limit; an oversized line goes alone", () => {
    const lines = ["aaaa:1|c\n", "bbbb:2|g\n", "cccc:3|c\n", `${"x".repeat(30)}:1|g\n`, "d:4|g\n"];
    const packets = packLines(lines, 20).map((b) => b.toString());
    expect(packets).toEqual(["aaaa:1|c\nbbbb:2|g\n", "cccc:3|c\n", `${"x".repeat(30)}:1|g\n`, "d:4|g\n"]);
    expect(packLines([], 508)).toEqual([]);
  });

  test("spreading: (interval − 1s) / datagrams apart, no wait for intervals of a second or less", () => {
    expect(spreadSpacingMs(60_000, 59)).toBe(1000);
    expect(spreadSpacingMs(1500, 5)).toBe(100);
    expect(spreadSpacingMs(200, 3)).toBe(0);
    expect(spreadSpacingMs(1000, 0)).toBe(0);
  });
});

describe("statsd output from a broker", () => {
  test("exact lines for a known state; counters are deltas in later rounds, gauges are levels", async () => {
    const { sink, broker } = await setup({});
    await createChannel(broker, "orders", "billing");
    await publish(broker, "orders", ["hello", "world", "again"]);
    const ch = broker.nsqd.topics.get("orders")!.channels.get("billing")!;
    await pollUntil(() => ch.depth() === 3);

    startReporter(broker);
    const p = `nsq.127_0_0_1_${broker.httpPort}.`;
    const first = [
      `${p}topic.orders.message_count:3|c`,
      `${p}topic.orders.message_bytes:15|c`,
      `${p}topic.orders.depth:0|g`,
      `${p}topic.orders.backend_depth:0|g`,
      `${p}topic.orders.channel.billing.message_count:3|c`,
      `${p}topic.orders.channel.billing.depth:3|g`,
      `${p}topic.orders.channel.billing.backend_depth:0|g`,
      `${p}topic.orders.channel.billing.in_flight_count:0|g`,
      `${p}topic.orders.channel.billing.deferred_count:0|g`,
      `${p}topic.orders.channel.billing.requeue_count:0|c`,
      `${p}topic.orders.channel.billing.timeout_count:0|c`,
      `${p}topic.orders.channel.billing.clients:0|g`,
    ];
    await sink.until(() => rounds(sink, first.length).length >= 1);
    expect(rounds(sink, first.length)[0]).toEqual(first);
    // every datagram is whole lines, each "\n"-terminated, within the default 508 bytes
    for (const d of sink.datagrams) {
      expect(d.bytes).toBeLessThanOrEqual(508);
      expect(d.text.endsWith("\n")).toBe(true);
    }

    // an atomic MPUB of two after the first round: exactly one round carries +2 / +10, the rest 0
    await publish(broker, "orders", ["12345", "67890"]);
    await pollUntil(() => ch.depth() === 5);
    const seenAfterPublish = rounds(sink, first.length).length;
    await sink.until(() => rounds(sink, first.length).length >= seenAfterPublish + 2);
    const all = rounds(sink, first.length);
    const topicDeltas = all.map((r) => r[0]);
    const nonZero = topicDeltas.slice(1).filter((l) => l !== `${p}topic.orders.message_count:0|c`);
    expect(nonZero).toEqual([`${p}topic.orders.message_count:2|c`]);
    const bytesDeltas = all.slice(1).map((r) => r[1]).filter((l) => l !== `${p}topic.orders.message_bytes:0|c`);
    expect(bytesDeltas).toEqual([`${p}topic.orders.message_bytes:10|c`]);
    // the last round is entirely after the publish settled: zero deltas, gauges at their level
    const last = all[all.length - 1]!;
    expect(last).toContain(`${p}topic.orders.message_count:0|c`);
    expect(last).toContain(`${p}topic.orders.channel.billing.message_count:0|c`);
    expect(last).toContain(`${p}topic.orders.channel.billing.depth:5|g`);
  });

  test("requeue and in-flight show up as counter deltas and gauges", async () => {
    const { sink, broker } = await setup({});
    await createChannel(broker, "jobs", "work");
    await publish(broker, "jobs", ["a", "b"]);
    const sub = await subscriber(broker.tcpPort, "jobs", "work", 2);
    cleanups.push(() => sub.close());
    const m1 = await sub.readMessage();
    await sub.readMessage();
    sub.write(`REQ ${m1.id} 0\n`);
    const ch = broker.nsqd.topics.get("jobs")!.channels.get("work")!;
    await pollUntil(() => ch.requeueCount === 1);

    startReporter(broker);
    const p = `nsq.127_0_0_1_${broker.httpPort}.topic.jobs.channel.work`;
    await sink.until(() => rounds(sink, 12).length >= 2);
    const [r1, r2] = rounds(sink, 12) as [string[], string[]];
    expect(r1).toContain(`${p}.requeue_count:1|c`);
    expect(r1).toContain(`${p}.clients:1|g`);
    expect(r1.some((l) => /\.in_flight_count:[12]\|g$/.test(l))).toBe(true);
    expect(r2).toContain(`${p}.requeue_count:0|c`);
    expect(r2).toContain(`${p}.clients:1|g`);
  });

  test("small --statsd-udp-packet-size: several datagrams per round, none over the limit, no split line", async () => {
    const { sink, broker } = await setup({ statsdUdpPacketSize: 120 });
    for (const t of ["alpha", "beta", "gamma"]) await createChannel(broker, t, "ch");
    await publish(broker, "alpha", ["x"]);
    startReporter(broker);
    const perRound = 3 * 12;
    await sink.until(() => rounds(sink, perRound).length >= 1);
    expect(sink.datagrams.length).toBeGreaterThan(3);
    for (const d of sink.datagrams) {
      expect(d.bytes).toBeLessThanOrEqual(120);
      expect(d.text.endsWith("\n")).toBe(true);
      for (const line of d.text.split("\n").filter((l) => l !== "")) expect(line).toMatch(/^nsq\.127_0_0_1_\d+\.[a-z_.]+:-?\d+\|[cg]$/);
    }
    // topics in name order, as /stats lists them
    const firstRound = rounds(sink, perRound)[0]!;
    const topicOrder = [...new Set(firstRound.map((l) => l.split(".")[3]))];
    expect(topicOrder).toEqual(["alpha", "beta", "gamma"]);
  });

  test("--statsd-exclude-ephemeral skips #ephemeral topics and channels; without it they are sent", async () => {
    for (const exclude of [true, false]) {
      const { sink, broker } = await setup({ statsdExcludeEphemeral: exclude });
      await createChannel(broker, "keep", "c");
      await createChannel(broker, "keep", "tmp#ephemeral");
      await createChannel(broker, "gone#ephemeral", "c");
      startReporter(broker);
      const perRound = exclude ? 4 + 8 : 4 + 8 + 8 + 4 + 8;
      await sink.until(() => rounds(sink, perRound).length >= 2);
      const lines = sink.lines();
      expect(lines.some((l) => l.includes("#ephemeral"))).toBe(!exclude);
      expect(lines.some((l) => l.includes("topic.keep.channel.c.depth:0|g"))).toBe(true);
      for (const c of cleanups.splice(0).reverse()) await c();
    }
  });

  test("--statsd-mem-stats adds the mem.* gauges and the gc_runs counter; off sends none", async () => {
    const on = await setup({ statsdMemStats: true });
    startReporter(on.broker);
    const names = [
      "mem.heap_objects",
      "mem.heap_idle_bytes",
      "mem.heap_in_use_bytes",
      "mem.heap_released_bytes",
      "mem.gc_pause_usec_100",
      "mem.gc_pause_usec_99",
      "mem.gc_pause_usec_95",
      "mem.next_gc_bytes",
      "mem.gc_runs",
    ];
    await on.sink.until(() => on.sink.lines().length >= names.length);
    const p = `nsq.127_0_0_1_${on.broker.httpPort}.`;
    const got = on.sink.lines().slice(0, names.length);
    expect(got.map((l) => l.slice(0, l.indexOf(":")))).toEqual(names.map((n) => p + n));
    for (const l of got.slice(0, 8)) expect(l).toMatch(/:\d+\|g$/);
    expect(got[8]).toMatch(/:\d+\|c$/);
    expect(Number(/heap_in_use_bytes:(\d+)/.exec(got[2]!)![1])).toBeGreaterThan(0);

    const off = await setup({ statsdMemStats: false });
    await createChannel(off.broker, "t", "c");
    startReporter(off.broker);
    await off.sink.until(() => rounds(off.sink, 12).length >= 2);
    expect(off.sink.lines().some((l) => l.includes(".mem."))).toBe(false);
  });

  test("e2e percentiles become e2e_processing_latency_<pct> gauges for topic and channel", async () => {
    const { sink, broker } = await setup({ e2eProcessingLatencyPercentiles: [0.5, 0.99] });
    await createChannel(broker, "lat", "c");
    await publish(broker, "lat", ["m"]);
    const sub = await subscriber(broker.tcpPort, "lat", "c", 1);
    cleanups.push(() => sub.close());
    const m = await sub.readMessage();
    sub.write(`FIN ${m.id}\n`);
    const ch = broker.nsqd.topics.get("lat")!.channels.get("c")!;
    await pollUntil(() => ch.inFlight.size === 0);
    startReporter(broker);
    const p = `nsq.127_0_0_1_${broker.httpPort}.topic.lat`;
    await sink.until(() => sink.lines().some((l) => l.startsWith(`${p}.channel.c.e2e_processing_latency_99:`)));
    const lines = sink.lines();
    for (const name of [`${p}.e2e_processing_latency_50`, `${p}.e2e_processing_latency_99`, `${p}.channel.c.e2e_processing_latency_50`]) {
      expect(lines.some((l) => new RegExp(`^${name.replace(/\./g, "\\.")}:\\d+\\|g$`).test(l))).toBe(true);
    }
  });

  test("custom prefix and --broadcast-http-port name the node", async () => {
    const { sink, broker } = await setup({ statsdPrefix: "svc-%s", broadcastAddress: "node.a", broadcastHttpPort: 9999 });
    await createChannel(broker, "t", "c");
    const reporter = startReporter(broker);
    expect(reporter.statPrefix).toBe("svc-node_a_9999.");
    await sink.until(() => sink.lines().length >= 1);
    expect(sink.lines()[0]).toBe("svc-node_a_9999.topic.t.message_count:0|c");
  });

  test("sends are spread over the interval minus a second", async () => {
    // 1.5 s interval → 0.5 s window; 12 lines at ~60 bytes in ≤ 70-byte datagrams → 12 datagrams 41.7 ms apart
    const { sink, broker } = await setup({ statsdInterval: 1500, statsdUdpPacketSize: 70 });
    await createChannel(broker, "spread", "c");
    startReporter(broker);
    await sink.until(() => sink.datagrams.length >= 12, 5000);
    const ds = sink.datagrams.slice(0, 12);
    expect(ds.every((d) => d.text.split("\n").length === 2)).toBe(true);
    const span = ds[11]!.at - ds[0]!.at;
    expect(span).toBeGreaterThan(11 * (500 / 12) * 0.8);
    expect(span).toBeLessThan(1500);
  });

  test("stop() sends the rest of a round at once and ends reporting", async () => {
    const { sink, broker } = await setup({ statsdInterval: 1500, statsdUdpPacketSize: 70 });
    await createChannel(broker, "spread", "c");
    const reporter = startReporter(broker);
    await sink.until(() => sink.datagrams.length >= 1, 5000);
    reporter.stop();
    await sink.until(() => sink.datagrams.length >= 12, 1000);
    const span = sink.datagrams[11]!.at - sink.datagrams[0]!.at;
    expect(span).toBeLessThan(400); // spread out, the 12 would span ~458 ms
  });

  test("unreachable or invalid addresses are logged, never thrown, and reporting goes on", async () => {
    const closed = dgram.createSocket("udp4");
    const closedPort = await new Promise<number>((resolve) => closed.bind(0, "127.0.0.1", () => resolve(closed.address().port)));
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    for (const address of ["garbage", "no-such-host.invalid:8125", `127.0.0.1:${closedPort}`]) {
      const logged: string[] = [];
      const logger = createLogger("", "info", (line) => logged.push(line));
      const broker = await startBroker({ statsdAddress: address, statsdInterval: 100, statsdUdpPacketSize: 60, statsdMemStats: true });
      cleanups.push(() => broker.stop());
      await createChannel(broker, "t", "c");
      const reporter = new StatsdReporter(broker.nsqd, logger);
      cleanups.push(() => reporter.stop());
      reporter.start();
      await pollUntil(() => logged.filter((l) => l.includes("STATSD: pushing stats")).length >= 3);
      if (address === "garbage") expect(logged.some((l) => l.includes("ERROR: failed to create UDP socket to statsd(garbage)"))).toBe(true);
      if (address.startsWith("no-such-host")) expect(logged.some((l) => l.includes("failed to create UDP socket to statsd(no-such-host.invalid:8125)"))).toBe(true);
      reporter.stop();
    }
  });

  test("no --statsd-address: start() does nothing", async () => {
    const broker = await startBroker({ statsdInterval: 20 });
    cleanups.push(() => broker.stop());
    const logged: string[] = [];
    const reporter = new StatsdReporter(broker.nsqd, createLogger("", "debug", (l) => logged.push(l)));
    reporter.start();
    // asserting an absence: five intervals' worth of silence
    await new Promise((r) => setTimeout(r, 100));
    reporter.stop();
    expect(logged).toEqual([]);
  });
});

test("a broker started with --statsd-address reports by itself", async () => {
  const sink = await UdpSink.open();
  cleanups.push(() => sink.close());
  const broker = await startBroker({ broadcastAddress: "127.0.0.1", statsdAddress: sink.address, statsdInterval: 200, statsdMemStats: false });
  cleanups.push(() => broker.stop());
  await publish(broker, "selfreport", ["a"]);
  await sink.until(() => sink.lines().some((l) => l.endsWith(".topic.selfreport.message_count:1|c")));
});
