/**
 * Crash safety with real processes (issue 3): `kill -9` during heavy publishing with
 * --mem-queue-size=0 --sync-every=1; every message whose PUB got OK is delivered after restart.
 */
import { afterAll, expect, test } from "bun:test";
import { clusterIteration, crashIteration, serve } from "./helpers/crash-harness.ts";
import { ProcessGroup } from "./helpers/nsq-process.ts";
import { RawClient, subscriber } from "./helpers/raw-client.ts";

const group = new ProcessGroup();
afterAll(() => group.stopAll());

test("kill -9 while publishing loses no acknowledged message", async () => {
  const dataPath = group.dir("nsq-crash-");
  const first = await serve(dataPath, ["--mem-queue-size=0", "--sync-every=1"], group);
  const created = await fetch(`http://127.0.0.1:${first.http}/channel/create?topic=crash&channel=c`, { method: "POST" });
  if (created.status === 404) {
    await fetch(`http://127.0.0.1:${first.http}/topic/create?topic=crash`, { method: "POST" });
    await fetch(`http://127.0.0.1:${first.http}/channel/create?topic=crash&channel=c`, { method: "POST" });
  }

  // four publishers pipelining PUBs; replies come in order, so the k-th OK acknowledges the k-th PUB
  const acked = new Set<string>();
  const publishers = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(first.tcp)));
  let killed = false;
  const running = publishers.map(async (p, n) => {
    let sent = 0;
    let confirmed = 0;
    const window = 20;
    try {
      while (!killed || confirmed < sent) {
        while (!killed && sent - confirmed < window) p.pub("crash", `p${n}-${sent++}`);
        const f = await p.readFrame(2000);
        if (f.type !== 0 || f.data.toString() !== "OK") break;
        acked.add(`p${n}-${confirmed++}`);
      }
    } catch {
      // the server died: the remaining PUBs are unacknowledged
    }
  });
  while (acked.size < 1500) await Bun.sleep(5);
  first.proc.signal("SIGKILL");
  killed = true;
  await Promise.all(running);
  for (const p of publishers) p.close();

  const second = await serve(dataPath, [], group);
  const c = await subscriber(second.tcp, "crash", "c", 500);
  const delivered = new Set<string>();
  for (;;) {
    let f;
    try {
      f = await c.readFrame(1500);
    } catch {
      break; // nothing more within 1.5 s: the queue is drained
    }
    if (f.type !== 2) continue;
    const body = f.data.subarray(26).toString();
    delivered.add(body);
    c.write(`FIN ${f.data.subarray(10, 26).toString("latin1")}\n`);
  }
  const missing = [...acked].filter((m) => !delivered.has(m));
  expect(acked.size).toBeGreaterThanOrEqual(1500);
  expect(missing).toEqual([]);
  c.close();
  second.proc.signal("SIGTERM");
}, 60_000);

test("kill -9 at a random moment under PUB/MPUB/DPUB, FIN/REQ/timeouts: every acknowledged message is delivered after restart (issue 20)", async () => {
  for (let i = 0; i < 3; i++) {
    const dataPath = group.dir("nsq-crash20-");
    const r = await crashIteration(dataPath, 300 + Math.floor(Math.random() * 700), group);
    expect(r.acked).toBeGreaterThan(0);
    expect(r.lost).toEqual([]);
    // the messages in flight at the kill came back with their attempts raised, and the start-up log said so
    expect(r.redeliveredAfterRestart).toBeGreaterThan(0);
    expect(r.startupLog).toMatch(/restoring unacknowledged messages from .*\.diskqueue\.ack\.bin: \d+ in flight/);
  }
}, 90_000);

test("3 brokers, a lookupd and a lookupd-based consumer: one broker killed with SIGKILL mid-load and restarted loses nothing (issue 20)", async () => {
  const dataPaths = [0, 1, 2].map(() => group.dir("nsq-crash20c-"));
  const r = await clusterIteration(dataPaths, 400 + Math.floor(Math.random() * 600), group);
  expect(r.acked).toBeGreaterThan(0);
  expect(r.lost).toEqual([]);
}, 90_000);
