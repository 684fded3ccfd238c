/**
 * Item 7 of issue 18: cluster faults with real processes — three `nsq serve` (--mem-queue-size=0
 * --sync-every=1: every acknowledged message is on disk) and two `nsq lookupd`, a src/client
 * Consumer that finds the brokers through both lookupds, and one Producer per broker publishing
 * throughout. In turn: kill -9 a broker under load and restart it; kill one lookupd and restart
 * it; kill both, start a fourth broker meanwhile, restart them; SIGSTOP a broker past lookupd's
 * inactive timeout and resume it. At the end every acknowledged message must have been delivered.
 */
import { Consumer } from "../../src/client/consumer.ts";
import { Producer } from "../../src/client/producer.ts";
import { Daemon, ms, startLookupd, startServe, scratchDir, until, type ScenarioResult } from "./lib.ts";

export interface ClusterOptions {
  /** load time of each phase */
  phaseMs: number;
  /** messages per second per producer */
  rate: number;
  /** the consumer's lookupd poll interval */
  pollMs: number;
  /** lookupd's --inactive-producer-timeout; nsqd PINGs every 15 s, so above that */
  inactiveMs: number;
  /** SIGSTOP length (above inactiveMs); 0 skips the partition phase */
  stopMs: number;
}

export const CLUSTER_FULL: ClusterOptions = { phaseMs: 10_000, rate: 100, pollMs: 2000, inactiveMs: 20_000, stopMs: 25_000 };

const TOPIC = "orders";
const MAX_IN_FLIGHT = 60;

interface Broker {
  daemon: Daemon;
  tcp: number;
  http: number;
  dataPath: string;
}

interface Lookupd {
  daemon: Daemon;
  tcp: number;
  http: number;
}

export async function cluster(o: ClusterOptions): Promise<ScenarioResult> {
  const failures: string[] = [];
  const timing: string[] = [];
  const note = (e: Error): void => void failures.push(e.message);
  const figures: Record<string, string | number> = {};
  const daemons: Daemon[] = [];
  const lookupdArgs = [`--inactive-producer-timeout=${o.inactiveMs}ms`];
  const startL = async (ports = { tcp: 0, http: 0 }): Promise<Lookupd> => {
    const l = await startLookupd(lookupdArgs, ports);
    daemons.push(l.daemon);
    return l;
  };
  let l1 = await startL();
  let l2 = await startL();
  const brokerArgs = (): string[] => ["--mem-queue-size=0", "--sync-every=1", `--lookupd-tcp-address=127.0.0.1:${l1.tcp}`, `--lookupd-tcp-address=127.0.0.1:${l2.tcp}`];
  const startB = async (ports?: Broker): Promise<Broker> => {
    const b = await startServe(brokerArgs(), ports ? { dataPath: ports.dataPath, tcpPort: ports.tcp, httpPort: ports.http } : { dataPath: scratchDir("nsq-soak-cluster-") });
    daemons.push(b.daemon);
    return b;
  };
  const brokers = [await startB(), await startB(), await startB()];

  // the consumer: every distinct message, every delivery, and the longest silence
  const seen = new Set<string>();
  let deliveries = 0;
  let lastAt = performance.now();
  let maxGap = 0;
  let gapWatch = false;
  const consumer = new Consumer({
    topic: TOPIC,
    channel: "c",
    config: { lookupdPollInterval: o.pollMs, lookupdPollJitter: 0.1, maxInFlight: MAX_IN_FLIGHT },
    handler: (m) => {
      const now = performance.now();
      if (gapWatch) maxGap = Math.max(maxGap, now - lastAt);
      lastAt = now;
      deliveries++;
      seen.add(m.body.toString());
    },
  });

  // one producer per broker; a publish that fails (its broker down) is retried with the next body
  const acked = new Set<string>();
  let pubErrors = 0;
  let running = true;
  const producers: Producer[] = [];
  const loops: Promise<void>[] = [];
  const produce = (i: number, b: Broker): void => {
    const p = new Producer(`127.0.0.1:${b.tcp}`, { dialTimeout: 500 });
    producers.push(p);
    loops.push(
      (async () => {
        let seq = 0;
        while (running) {
          const t = performance.now();
          const body = `b${i}:${seq++}`;
          try {
            await p.publish(TOPIC, body);
            acked.add(body);
          } catch {
            pubErrors++;
            await Bun.sleep(100);
          }
          await Bun.sleep(Math.max(0, 1000 / o.rate - (performance.now() - t)));
        }
      })(),
    );
  };
  brokers.forEach((b, i) => produce(i, b));
  await until(async () => {
    const r = await fetch(`http://127.0.0.1:${l1.http}/lookup?topic=${TOPIC}`);
    return r.ok && ((await r.json()) as { producers: unknown[] }).producers.length === 3;
  }, "the topic registered by all three brokers");
  await consumer.connectToLookupds([`127.0.0.1:${l1.http}`, `127.0.0.1:${l2.http}`]);
  await until(() => consumer.stats().connections === 3, "the consumer connected to three brokers");
  await Bun.sleep(1000);

  const lookupCount = async (l: Lookupd): Promise<number> => {
    try {
      const r = await fetch(`http://127.0.0.1:${l.http}/lookup?topic=${TOPIC}`, { signal: AbortSignal.timeout(1000) });
      if (!r.ok) return 0;
      const j = (await r.json()) as { producers: unknown[]; channels: string[] };
      return j.channels.includes("c") ? j.producers.length : 0;
    } catch {
      return -1;
    }
  };

  // 1. kill -9 a broker under load, later restart it on the same ports and data
  gapWatch = true;
  lastAt = performance.now();
  const b0 = brokers[0]!;
  b0.daemon.signal("SIGKILL");
  await b0.daemon.proc.exited;
  // with crash-safe delivery (issue 20) even what was in flight to the consumer is on disk
  const ackedAtKill = [...acked].filter((x) => x.startsWith("b0:"));
  const notSeenAtKill = ackedAtKill.filter((x) => !seen.has(x)).length;
  await Bun.sleep(o.phaseMs / 2);
  figures["kill -9 broker: longest pause at the consumer"] = ms(maxGap);
  if (maxGap > o.pollMs) timing.push(`consumer paused ${ms(maxGap)} after a broker was killed (poll interval ${o.pollMs} ms)`);
  gapWatch = false;
  const t1 = performance.now();
  brokers[0] = await startB(b0);
  await until(() => consumer.stats().connections === 3, "the consumer back on the restarted broker", 3 * o.pollMs + 10_000).catch(note);
  figures["kill -9 broker: consumer reconnected after restart in"] = ms(performance.now() - t1);
  await until(() => ackedAtKill.every((x) => seen.has(x)), "every message acknowledged by the killed broker", 15_000).catch(note);
  figures["kill -9 broker: acknowledged before the kill / not yet delivered at the kill / delivered in the end"] =
    `${ackedAtKill.length} / ${notSeenAtKill} / ${ackedAtKill.filter((x) => seen.has(x)).length}`;
  await Bun.sleep(o.phaseMs / 2);

  // 2. kill one lookupd: the other answers; restarted, the brokers register again
  const l1Ports = { tcp: l1.tcp, http: l1.http };
  l1.daemon.signal("SIGKILL");
  await l1.daemon.proc.exited;
  const before2 = seen.size;
  await Bun.sleep(o.phaseMs / 2);
  const l2Count = await lookupCount(l2);
  figures["one lookupd down: the other lists producers"] = l2Count;
  if (l2Count !== 3) failures.push(`lookupd 2 lists ${l2Count} producers while lookupd 1 is down`);
  figures["one lookupd down: messages delivered meanwhile"] = seen.size - before2;
  const t2 = performance.now();
  l1 = await startL(l1Ports);
  await until(async () => (await lookupCount(l1)) === 3, "all three brokers and the channel back in the restarted lookupd", 15_000).catch(note);
  figures["one lookupd down: registrations back after restart in"] = ms(performance.now() - t2);

  // 3. both lookupds down: consuming and publishing go on; a broker started meanwhile is found later
  const l2Ports = { tcp: l2.tcp, http: l2.http };
  l1.daemon.signal("SIGKILL");
  l2.daemon.signal("SIGKILL");
  await Promise.all([l1.daemon.proc.exited, l2.daemon.proc.exited]);
  const before3 = seen.size;
  const errs3 = pubErrors;
  const b3 = await startB();
  brokers.push(b3);
  produce(3, b3);
  await Bun.sleep(o.phaseMs / 2);
  figures["no lookupd: messages delivered meanwhile / publish errors"] = `${seen.size - before3} / ${pubErrors - errs3}`;
  if (seen.size - before3 === 0) failures.push("nothing delivered while both lookupds were down");
  if (pubErrors > errs3) failures.push(`${pubErrors - errs3} publishes failed while both lookupds were down`);
  const t3 = performance.now();
  l1 = await startL(l1Ports);
  l2 = await startL(l2Ports);
  await until(() => [...seen].some((x) => x.startsWith("b3:")), "the consumer to discover the broker started while lookupd was down", 3 * o.pollMs + 15_000).catch(note);
  figures["no lookupd: new broker's messages reach the consumer after lookupd restart in"] = ms(performance.now() - t3);

  // 4. partition: SIGSTOP a broker past the inactive timeout, then resume it
  if (o.stopMs > 0) {
    const b1 = brokers[1]!;
    await until(async () => (await lookupCount(l1)) === 4, "four brokers in lookupd before the partition", 20_000).catch(note);
    b1.daemon.signal("SIGSTOP");
    const t4 = performance.now();
    await until(async () => (await lookupCount(l1)) === 3, "lookupd to drop the stopped broker as inactive", o.inactiveMs + 10_000).catch(note);
    figures["SIGSTOP broker: dropped from lookupd as inactive after"] = ms(performance.now() - t4);
    await Bun.sleep(Math.max(0, o.stopMs - (performance.now() - t4)));
    b1.daemon.signal("SIGCONT");
    const t5 = performance.now();
    await until(async () => (await lookupCount(l1)) === 4, "lookupd to take the resumed broker back", 20_000).catch(note);
    figures["SIGSTOP broker: back in lookupd after resume in"] = ms(performance.now() - t5);
    const seenB1 = [...seen].filter((x) => x.startsWith("b1:")).length;
    await until(() => [...seen].filter((x) => x.startsWith("b1:")).length > seenB1 + 10, "messages from the resumed broker", 15_000).catch(note);
  }

  // the end: stop publishing, everything acknowledged must be delivered
  running = false;
  await Promise.all(loops);
  await until(() => [...acked].every((x) => seen.has(x)), "every acknowledged message delivered", 30_000).catch(note);
  const lost = [...acked].filter((x) => !seen.has(x)).length;
  const crashed = daemons.filter((d) => d.ended && d.exitCode !== null && d.exitCode !== 0 && d.exitCode !== 137 && d.proc.signalCode !== "SIGKILL").length;
  const crashLines = daemons.flatMap((d) => d.crashLines());
  await consumer.stop();
  for (const p of producers) await p.close().catch(() => {});
  for (const d of daemons) if (!d.ended) await d.stop();
  if (lost > 0) failures.push(`${lost} acknowledged messages never delivered`);
  if (crashed > 0 || crashLines.length > 0) failures.push(`crashes: ${crashed}, ${crashLines.slice(0, 3).join(" | ")}`);
  return {
    name: `cluster faults: 3 brokers (--mem-queue-size=0 --sync-every=1) + 2 lookupds, ${o.rate} msg/s per producer, poll ${o.pollMs} ms`,
    failures,
    timing,
    figures: {
      "published (acknowledged) / delivered (unique) / lost": `${acked.size} / ${seen.size} / ${lost}`,
      "deliveries / redeliveries": `${deliveries} / ${deliveries - seen.size}`,
      "publish errors (to a broker that was down)": pubErrors,
      ...figures,
      crashes: crashed,
    },
  };
}
