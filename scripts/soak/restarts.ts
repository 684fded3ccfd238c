/**
 * Item 6 of issue 18, the graceful half (kill -9 is issue 20's crash test): SIGTERM `nsq serve`
 * while a producer publishes (MPUB batches, as fast as it is answered) and a consumer consumes,
 * start it again on the same ports and data directory, many times in a row. Every publish that got
 * OK must be delivered at least once; redeliveries (FINs lost with a closing connection) are counted.
 */
import { Consumer } from "../../src/client/consumer.ts";
import { Producer } from "../../src/client/producer.ts";
import { ms, scratchDir, startServe, until, type ScenarioResult } from "./lib.ts";

export interface RestartsOptions {
  cycles: number;
  /** load time between restarts */
  cycleMs: number;
  /** messages per MPUB */
  batch: number;
}

export const RESTARTS_FULL: RestartsOptions = { cycles: 20, cycleMs: 3000, batch: 50 };

const TOPIC = "soak-restarts";

export async function restarts(o: RestartsOptions): Promise<ScenarioResult> {
  const failures: string[] = [];
  const dataPath = scratchDir("nsq-soak-restarts-");
  let s = await startServe([], { dataPath });
  const ports = { tcp: s.tcp, http: s.http };
  const address = `127.0.0.1:${s.tcp}`;

  // millions of messages: one byte per sequence number, acknowledged ones as ranges
  let seenBits = new Uint8Array(1 << 20);
  let unique = 0;
  const see = (k: number): void => {
    if (k >= seenBits.length) {
      const bigger = new Uint8Array(Math.max(seenBits.length * 2, k + 1));
      bigger.set(seenBits);
      seenBits = bigger;
    }
    if (seenBits[k] === 0) unique++;
    seenBits[k] = 1;
  };
  const isSeen = (k: number): boolean => k < seenBits.length && seenBits[k] === 1;
  let deliveries = 0;
  const consumer = new Consumer({
    topic: TOPIC,
    channel: "c",
    // direct connection: reconnected every lookupd_poll_interval while the broker is down
    config: { lookupdPollInterval: 200, maxInFlight: 500 },
    handler: (m) => {
      deliveries++;
      see(m.body.readUInt32BE(0));
    },
  });
  await consumer.connectToNsqd(address);

  const producer = new Producer(address, { dialTimeout: 500 });
  let next = 0;
  const acked: Array<[number, number]> = [];
  let ackedCount = 0;
  const missing = (): number => {
    let n = 0;
    for (const [a, b] of acked) for (let k = a; k < b; k++) if (!isSeen(k)) n++;
    return n;
  };
  let pubErrors = 0;
  let running = true;
  const pubLoop = (async () => {
    while (running) {
      const first = next;
      const bodies = Array.from({ length: o.batch }, () => {
        const b = Buffer.alloc(32);
        b.writeUInt32BE(next++, 0);
        return b;
      });
      try {
        await producer.multiPublish(TOPIC, bodies);
        acked.push([first, next]);
        ackedCount += next - first;
      } catch {
        pubErrors++; // the broker is stopping or down: not acknowledged, not counted
        await Bun.sleep(50);
      }
    }
  })();

  const exitCodes: number[] = [];
  const downMs: number[] = [];
  for (let c = 0; c < o.cycles; c++) {
    await Bun.sleep(o.cycleMs);
    const t = performance.now();
    exitCodes.push(await s.daemon.stop("SIGTERM", 30_000));
    s = await startServe([], { dataPath, tcpPort: ports.tcp, httpPort: ports.http });
    downMs.push(performance.now() - t);
  }
  await Bun.sleep(o.cycleMs);
  running = false;
  await pubLoop;
  await until(() => unique >= ackedCount && missing() === 0, "every acknowledged message delivered", 60_000).catch((e: Error) => failures.push(e.message));
  const lost = missing();
  const crashLines = s.daemon.crashLines();
  await consumer.stop();
  await producer.close();
  exitCodes.push(await s.daemon.stop());

  const bad = exitCodes.filter((x) => x !== 0);
  if (bad.length > 0) failures.push(`exit codes after SIGTERM: ${exitCodes.join(",")}`);
  if (lost > 0) failures.push(`${lost} acknowledged messages never delivered`);
  if (crashLines.length > 0) failures.push(`error lines: ${crashLines.slice(0, 3).join(" | ")}`);
  const sortedDown = downMs.sort((a, b) => a - b);
  return {
    name: `restarts: SIGTERM and start again ${o.cycles} times, ${o.cycleMs / 1000} s of MPUB (${o.batch}) + consume between`,
    failures,
    figures: {
      "restarts / non-zero exits": `${o.cycles} / ${bad.length}`,
      "stop + start, median / max": `${ms(sortedDown[Math.floor(sortedDown.length / 2)] ?? NaN)} / ${ms(sortedDown.at(-1) ?? NaN)}`,
      "published / acknowledged": `${next} / ${ackedCount}`,
      "MPUBs not acknowledged (broker stopping or down)": pubErrors,
      "delivered (unique) / lost": `${unique} / ${lost}`,
      "deliveries / redeliveries": `${deliveries} / ${deliveries - unique}`,
      crashes: bad.length,
    },
  };
}
