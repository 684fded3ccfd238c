/** Restart: memory, disk, in-flight and deferred messages and paused state survive a graceful stop (issue 3). */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker } from "./helpers/broker.ts";
import { RawClient, subscriber } from "./helpers/raw-client.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("100,000 messages in memory, on disk, in flight and deferred all come back after a restart", async () => {
  const dataPath = mkdtempSync(join(tmpdir(), "nsq-durable-"));
  dirs.push(dataPath);
  const opts = { dataPath, memQueueSize: 5000, maxBytesPerFile: 1024 * 1024 };
  let b = await startBroker(opts);
  const holder = await subscriber(b.tcpPort, "d", "c", 100); // will hold 100 in flight
  const p = await RawClient.connect(b.tcpPort);
  const total = 100_000;
  for (let i = 0; i < total; i += 1000) {
    p.mpub("d", Array.from({ length: 1000 }, (_, k) => `m${i + k}`));
    expect(await p.readResponse()).toBe("OK");
  }
  for (let i = 0; i < 10; i++) {
    p.writeWithBody("DPUB d 3000", `deferred${i}`);
    expect(await p.readResponse()).toBe("OK");
  }
  const inFlight = [];
  for (let i = 0; i < 100; i++) inFlight.push(await holder.readMessage());
  const ch = b.nsqd.getTopic("d")!.getChannel("c")!;
  expect(ch.inFlight.size).toBe(100);
  expect(ch.deferred.size).toBe(10);
  expect(ch.backendDepth()).toBeGreaterThan(0);
  b.nsqd.setChannelPaused(b.nsqd.getTopic("d")!.getChannel("c")!, true);
  const stoppedAt = Date.now();
  holder.close();
  p.close();
  await b.stop();

  const meta = JSON.parse(readFileSync(join(dataPath, "nsqd.dat"), "utf8"));
  expect(meta).toEqual({ topics: [{ name: "d", paused: false, channels: [{ name: "c", paused: true }] }], version: "1.3.0" });

  b = await startBroker(opts);
  const ch2 = b.nsqd.getTopic("d")!.getChannel("c")!;
  expect(ch2.paused).toBe(true);
  b.nsqd.setChannelPaused(ch2, false);
  const c = await subscriber(b.tcpPort, "d", "c", 2500);
  const seen = new Set<string>();
  const deferredAt: number[] = [];
  let redelivered = 0;
  while (seen.size < total + 10) {
    const m = await c.readMessage();
    const body = m.body.toString();
    if (body.startsWith("deferred")) deferredAt.push(Date.now());
    if (m.attempts > 1) redelivered++;
    seen.add(body);
    c.write(`FIN ${m.id}\n`);
  }
  expect(seen.size).toBe(total + 10);
  expect(redelivered).toBe(100); // the in-flight ones, attempts kept
  for (const t of deferredAt) expect(t - stoppedAt).toBeGreaterThanOrEqual(2900);
  c.close();
  await b.stop();
}, 60_000);

test("a second server on the same data path exits with a clear error", async () => {
  const dataPath = mkdtempSync(join(tmpdir(), "nsq-lock-"));
  dirs.push(dataPath);
  const b = await startBroker({ dataPath });
  await expect(startBroker({ dataPath })).rejects.toThrow(/cannot flock directory/);
  await b.stop();
});
