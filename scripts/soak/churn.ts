/**
 * Item 3 of issue 18 (nsq#1251 live-locked real nsqd with this): ephemeral channels created and
 * dropped at a high rate — each one a connection that SUBscribes to `<n>#ephemeral` and goes
 * away, so its channel is deleted with its last client — while messages are published to the
 * topic and a durable consumer keeps consuming. No leak (the channels are gone afterwards, memory
 * back), no stall (the durable consumer gets every message), /stats answering throughout, and
 * the broker's lookupd, which follows every registration, lists only the durable channel after.
 */
import net from "node:net";
import { NsqConnection, type ConnectionEvents } from "../../src/client/connection.ts";
import { resolveClientConfig } from "../../src/client/config.ts";
import { Producer } from "../../src/client/producer.ts";
import { cpuMeter, latencyProbe, mib, ms, pct, rssOf, startLookupd, startServe, until, type ScenarioResult } from "./lib.ts";

export interface ChurnOptions {
  /** ephemeral channels per second (target) and for how long */
  perSecond: number;
  durationMs: number;
  /** concurrent subscribe-and-leave workers */
  workers: number;
  /** messages per second published to the topic meanwhile */
  publishRate: number;
}

export const CHURN_FULL: ChurnOptions = { perSecond: 1000, durationMs: 60_000, workers: 40, publishRate: 500 };

const TOPIC = "soak-churn";

class Durable implements ConnectionEvents {
  readonly conn: NsqConnection;
  readonly seen = new Set<number>();
  constructor(address: string) {
    this.conn = new NsqConnection(address, resolveClientConfig({}), this);
  }
  onMessageFrame(conn: NsqConnection, frame: Buffer): void {
    this.seen.add(frame.readUInt32BE(26));
    conn.finish(Buffer.from(frame.subarray(10, 26)));
  }
  onClose(): void {}
}

/** One ephemeral channel's life: connect, SUB, RDY 1, wait for the SUB's OK, drop the connection. */
function subscribeAndLeave(port: number, channel: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(`  V2SUB ${TOPIC} ${channel}\nRDY 1\n`));
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error("no answer to SUB in 5 s")), 5000);
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      // a reset instead of FIN: no TIME_WAIT socket per channel on this side
      if (typeof (s as { resetAndDestroy?: () => void }).resetAndDestroy === "function") (s as unknown as { resetAndDestroy(): void }).resetAndDestroy();
      else s.destroy();
      if (err) reject(err);
      else resolve();
    };
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      // the first frame is the SUB's answer: a response OK, or an error
      if (buf.length >= 8 && buf.length >= 4 + buf.readInt32BE(0)) {
        const type = buf.readInt32BE(4);
        const data = buf.subarray(8, 4 + buf.readInt32BE(0)).toString();
        finish(type === 0 && data === "OK" ? undefined : new Error(`SUB answered ${type} ${data}`));
      }
    });
    s.on("error", (e) => finish(e));
  });
}

export async function churn(o: ChurnOptions): Promise<ScenarioResult> {
  const failures: string[] = [];
  // a lookupd attached: every channel is a REGISTER and an UNREGISTER for it to follow
  const lookupd = await startLookupd();
  const s = await startServe([`--lookupd-tcp-address=127.0.0.1:${lookupd.tcp}`]);
  const pid = s.daemon.pid;
  const address = `127.0.0.1:${s.tcp}`;
  const durable = new Durable(address);
  await durable.conn.connect();
  await durable.conn.subscribe(TOPIC, "durable");
  durable.conn.rdy(500);
  const producer = new Producer(address);
  await producer.connect();
  await Bun.sleep(500);
  const rssBase = rssOf(pid);

  let published = 0;
  let acked = 0;
  let running = true;
  const pubLoop = (async () => {
    const batch = Math.max(1, Math.floor(o.publishRate / 10));
    while (running) {
      const t = performance.now();
      const bodies = Array.from({ length: batch }, () => {
        const b = Buffer.alloc(64);
        b.writeUInt32BE(published++, 0);
        return b;
      });
      await producer.multiPublish(TOPIC, bodies);
      acked += batch;
      await Bun.sleep(Math.max(0, 100 - (performance.now() - t)));
    }
  })();

  const probe = latencyProbe(`http://127.0.0.1:${s.http}/stats?format=json`, 50);
  const cpu = cpuMeter(pid);
  let created = 0;
  const errors: string[] = [];
  let next = 0;
  const t0 = performance.now();
  const end = Date.now() + o.durationMs;
  const workers = Array.from({ length: o.workers }, async () => {
    while (Date.now() < end) {
      // pace: channel n may start at t0 + n / perSecond
      const n = next++;
      const due = t0 + (n * 1000) / o.perSecond - performance.now();
      if (due > 0) await Bun.sleep(due);
      try {
        await subscribeAndLeave(s.tcp, `e${n}#ephemeral`);
        created++;
      } catch (e) {
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
  });
  await Promise.all(workers);
  const seconds = (performance.now() - t0) / 1000;
  running = false;
  await pubLoop;
  const cpuChurn = cpu();
  const stats = await probe.stop();

  // afterwards: only the durable channel is left, the durable consumer has everything
  let channelsLeft = -1;
  await until(async () => {
    const st = (await (await fetch(`http://127.0.0.1:${s.http}/stats?format=json&topic=${TOPIC}`)).json()) as { topics: Array<{ channels: unknown[] }> };
    channelsLeft = st.topics[0]?.channels.length ?? 0;
    return channelsLeft === 1;
  }, "ephemeral channels to be gone", 15_000).catch((e: Error) => failures.push(`${e.message} (${channelsLeft} channels left)`));
  await until(() => durable.seen.size >= acked, "the durable consumer to get every message", 30_000).catch((e: Error) => failures.push(e.message));
  let lookupdChannels: string[] = [];
  await until(async () => {
    const r = await fetch(`http://127.0.0.1:${lookupd.http}/channels?topic=${TOPIC}`);
    lookupdChannels = r.ok ? ((await r.json()) as { channels: string[] }).channels : [];
    return lookupdChannels.length === 1 && lookupdChannels[0] === "durable";
  }, "lookupd to list only the durable channel", 15_000).catch((e: Error) => failures.push(`${e.message} (${lookupdChannels.length} listed)`));
  await Bun.sleep(2000);
  const rssAfter = rssOf(pid);
  const crashes = s.daemon.ended ? 1 : 0;
  durable.conn.close();
  await producer.close();
  await s.daemon.stop();
  const lookupdCrashed = lookupd.daemon.ended;
  await lookupd.daemon.stop();
  if (lookupdCrashed) failures.push("lookupd died");

  if (errors.length > 0) failures.push(`${errors.length} subscribe-and-leave failures, e.g. ${errors[0]}`);
  if (stats.failures > 0) failures.push(`${stats.failures} /stats requests failed or took over 2 s`);
  if (crashes) failures.push("the server died");
  return {
    name: `churn: ${o.perSecond} ephemeral channels/s for ${o.durationMs / 1000} s, ${o.publishRate} msg/s published meanwhile`,
    failures,
    figures: {
      "ephemeral channels created and dropped": created,
      "achieved rate": `${(created / seconds).toFixed(0)} /s`,
      "subscribe failures": errors.length,
      "channels left afterwards (durable only = 1)": channelsLeft,
      "channels lookupd lists afterwards": lookupdChannels.length,
      "published / acknowledged / delivered to durable / lost": `${published} / ${acked} / ${durable.seen.size} / ${Math.max(0, acked - durable.seen.size)}`,
      "/stats during churn: count / p50 / p99 / max": `${stats.count} / ${ms(stats.p50)} / ${ms(stats.p99)} / ${ms(stats.max)}`,
      "/stats failures": stats.failures,
      "server CPU during churn": pct(cpuChurn),
      "RSS before / after": `${mib(rssBase)} / ${mib(rssAfter)}`,
      crashes,
    },
  };
}
