/**
 * Item 2 of issue 18: a consumer that stops reading (RDY high, socket never read again) on a
 * channel with healthy consumers, under steady publishing. The broker must stop writing to it at
 * its socket's backpressure (so its memory is bounded by the in-flight window and the output
 * buffer), time its messages out to the other consumers, and keep answering /ping quickly.
 */
import net from "node:net";
import { NsqConnection, type ConnectionEvents } from "../../src/client/connection.ts";
import { resolveClientConfig } from "../../src/client/config.ts";
import { Producer } from "../../src/client/producer.ts";
import { latencyProbe, mib, ms, peakSampler, pct, rssOf, cpuMeter, startServe, until, type ScenarioResult } from "./lib.ts";

export interface StallOptions {
  /** publishing time without, then with, the stalled consumer */
  phaseMs: number;
  /** messages per second and their size */
  rate: number;
  size: number;
  /** the stalled consumer's RDY (its in-flight window) */
  stalledRdy: number;
  /** the broker's --msg-timeout */
  msgTimeoutMs: number;
}

export const STALL_FULL: StallOptions = { phaseMs: 30_000, rate: 4000, size: 1024, stalledRdy: 2500, msgTimeoutMs: 2000 };

const TOPIC = "soak-stall";

class Healthy implements ConnectionEvents {
  readonly conn: NsqConnection;
  constructor(
    address: string,
    private readonly seen: Set<number>,
    private readonly counts: { deliveries: number; redeliveries: number },
  ) {
    this.conn = new NsqConnection(address, resolveClientConfig({}), this);
  }
  onMessageFrame(conn: NsqConnection, frame: Buffer): void {
    this.counts.deliveries++;
    if (frame.readUInt16BE(8) > 1) this.counts.redeliveries++;
    this.seen.add(frame.readUInt32BE(26));
    conn.finish(Buffer.from(frame.subarray(10, 26)));
  }
  onClose(): void {}
}

export async function stall(o: StallOptions): Promise<ScenarioResult> {
  const failures: string[] = [];
  const s = await startServe([`--msg-timeout=${o.msgTimeoutMs}ms`, `--max-rdy-count=${Math.max(2500, o.stalledRdy)}`]);
  const address = `127.0.0.1:${s.tcp}`;
  const pid = s.daemon.pid;
  const seen = new Set<number>();
  const counts = { deliveries: 0, redeliveries: 0 };
  const healthy = [new Healthy(address, seen, counts), new Healthy(address, seen, counts)];
  for (const h of healthy) {
    await h.conn.connect();
    await h.conn.subscribe(TOPIC, "c");
    h.conn.rdy(200);
  }
  const producer = new Producer(address);
  await producer.connect();
  let published = 0;
  let acked = 0;
  const batch = Math.max(1, Math.floor(o.rate / 20));
  let running = true;
  const pubLoop = (async () => {
    while (running) {
      const t = performance.now();
      const bodies = Array.from({ length: batch }, () => {
        const b = Buffer.alloc(o.size, 0x61);
        b.writeUInt32BE(published++, 0);
        return b;
      });
      await producer.multiPublish(TOPIC, bodies);
      acked += bodies.length;
      await Bun.sleep(Math.max(0, 50 - (performance.now() - t)));
    }
  })();

  // phase A: healthy consumers only
  await Bun.sleep(Math.min(1000, o.phaseMs / 2));
  const peakA = peakSampler(() => rssOf(pid));
  await Bun.sleep(o.phaseMs);
  const rssPeakA = peakA.stop();

  // phase B: a consumer that takes a big window and never reads again
  const stalled = net.connect(s.tcp, "127.0.0.1");
  await new Promise<void>((r) => stalled.once("connect", () => r()));
  stalled.on("error", () => {});
  stalled.write(`  V2SUB ${TOPIC} c\nRDY ${o.stalledRdy}\n`);
  stalled.pause();
  const peakB = peakSampler(() => rssOf(pid));
  const probe = latencyProbe(`http://127.0.0.1:${s.http}/ping`, 20);
  const cpu = cpuMeter(pid);
  let stalledInFlightMax = 0;
  let timeouts = 0;
  const statsEnd = Date.now() + o.phaseMs;
  while (Date.now() < statsEnd) {
    const st = (await (await fetch(`http://127.0.0.1:${s.http}/stats?format=json&topic=${TOPIC}`)).json()) as {
      topics: Array<{ channels: Array<{ timeout_count: number; clients: Array<{ in_flight_count: number; ready_count: number }> }> }>;
    };
    const ch = st.topics[0]?.channels[0];
    if (ch) {
      timeouts = ch.timeout_count;
      for (const c of ch.clients) if (c.ready_count === o.stalledRdy) stalledInFlightMax = Math.max(stalledInFlightMax, c.in_flight_count);
    }
    await Bun.sleep(500);
  }
  running = false;
  await pubLoop;
  const cpuStall = cpu();
  const rssPeakB = peakB.stop();
  const ping = await probe.stop();
  await until(() => seen.size >= acked, "every acknowledged message at the healthy consumers", 30_000).catch((e: Error) => failures.push(e.message));
  // the last read, once everything arrived: a short phase may end before the first timeout
  {
    const st = (await (await fetch(`http://127.0.0.1:${s.http}/stats?format=json&topic=${TOPIC}`)).json()) as {
      topics: Array<{ channels: Array<{ timeout_count: number }> }>;
    };
    timeouts = st.topics[0]?.channels[0]?.timeout_count ?? timeouts;
  }
  const crashes = s.daemon.ended ? 1 : 0;
  stalled.destroy();
  for (const h of healthy) h.conn.close();
  await producer.close();
  await s.daemon.stop();

  const bound = o.stalledRdy * (o.size + 30) + 64 * 1024;
  const growth = rssPeakB - rssPeakA;
  if (growth > bound + 48 * 1048576) failures.push(`server memory grew ${mib(growth)} during the stall, window + output buffer is ${mib(bound)}`);
  if (stalledInFlightMax > o.stalledRdy) failures.push(`stalled client had ${stalledInFlightMax} in flight, RDY ${o.stalledRdy}`);
  if (timeouts === 0) failures.push("no message timed out from the stalled consumer");
  const timing: string[] = [];
  if (!(ping.p99 < 50)) timing.push(`/ping p99 ${ms(ping.p99)} during the stall (≥ 50 ms)`);
  if (ping.failures > 0) failures.push(`${ping.failures} /ping failures during the stall`);
  if (crashes) failures.push("the server died");
  const lost = acked - [...seen].filter((n) => n < acked).length;
  return {
    name: `stalled consumer: ${o.rate} msg/s of ${o.size} B, ${o.phaseMs / 1000} s without then ${o.phaseMs / 1000} s with a stalled RDY ${o.stalledRdy} consumer`,
    failures,
    timing,
    figures: {
      "published / acknowledged": `${published} / ${acked}`,
      "delivered to healthy consumers (unique) / lost": `${seen.size} / ${lost}`,
      "deliveries / redeliveries (attempts > 1)": `${counts.deliveries} / ${counts.redeliveries}`,
      "channel timeout_count": timeouts,
      "stalled client max in flight (server view)": stalledInFlightMax,
      "RSS peak without stall": mib(rssPeakA),
      "RSS peak with stall": mib(rssPeakB),
      "growth vs window + output buffer": `${mib(growth)} vs ${mib(bound)}`,
      "/ping during stall: count / p50 / p99 / max": `${ping.count} / ${ms(ping.p50)} / ${ms(ping.p99)} / ${ms(ping.max)}`,
      "server CPU during stall": pct(cpuStall),
      crashes,
    },
  };
}
