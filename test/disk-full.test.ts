/**
 * Disk full (issue 3): PUB gets E_PUB_FAILED, HTTP /pub 503 EXITING, /ping reports NOK, nothing that was
 * acknowledged is lost and consumers keep being served. Uses a small tmpfs (we run as root).
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker } from "./helpers/broker.ts";
import { RawClient, subscriber } from "./helpers/raw-client.ts";

function mountTmpfs(size: string): string | null {
  const dir = mkdtempSync(join(tmpdir(), "nsq-full-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return dir;
}

const dir = mountTmpfs("256k");
if (dir === null) console.warn("disk-full.test: cannot mount a tmpfs (not root?); skipping");
afterAll(() => {
  if (dir !== null) {
    spawnSync("umount", [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A fresh, empty data directory on the small filesystem for each test. */
function freshDataDir(name: string): string {
  for (const f of readdirSync(dir!)) rmSync(join(dir!, f), { recursive: true, force: true });
  const d = join(dir!, name);
  mkdirSync(d);
  return d;
}

test.skipIf(dir === null)("a full disk fails publishes cleanly and loses nothing acknowledged", async () => {
  const b = await startBroker({ dataPath: freshDataDir("direct"), memQueueSize: 0 });
  const consumer = await subscriber(b.tcpPort, "full", "c", 0);
  const body = "x".repeat(1000);
  let acked = 0;
  let failure = "";
  for (let i = 0; i < 1000 && failure === ""; i++) {
    const p = await RawClient.connect(b.tcpPort);
    p.pub("full", `${i}:${body}`);
    const f = await p.readFrame();
    if (f.type === 0) acked++;
    else failure = f.data.toString();
    p.close();
  }
  expect(failure).toMatch(/^E_PUB_FAILED PUB failed /);
  expect(acked).toBeGreaterThan(10);
  const ping = await b.http("/ping");
  expect(ping.status).toBe(500);
  expect(await ping.text()).toMatch(/^NOK - /);
  const httpPub = await b.http("/pub?topic=full", { method: "POST", body: "y".repeat(1000) });
  // nsqd answers any PutMessage error on /pub as 503 EXITING
  expect(httpPub.status).toBe(503);
  expect(await httpPub.text()).toBe('{"message":"EXITING"}');

  // the consumer drains everything that was acknowledged, then publishing works again
  consumer.write("RDY 100\n");
  const got = new Set<string>();
  while (got.size < acked) {
    const m = await consumer.readMessage();
    got.add(m.body.toString().split(":")[0]!);
    consumer.write(`FIN ${m.id}\n`);
  }
  expect(got.size).toBe(acked);
  const p = await RawClient.connect(b.tcpPort);
  p.pub("full", "after");
  expect(await p.readResponse()).toBe("OK");
  expect(await (await b.http("/ping")).text()).toBe("OK");
  p.close();
  consumer.close();
  await b.stop();
});

test.skipIf(dir === null)("a topic backlog drained onto a full disk keeps every acknowledged message", async () => {
  const b = await startBroker({ dataPath: freshDataDir("backlog"), memQueueSize: 0 });
  try {
  expect((await b.http("/topic/create?topic=bk", { method: "POST" })).status).toBe(200);
  expect((await b.http("/channel/create?topic=bk&channel=c", { method: "POST" })).status).toBe(200);
  expect((await b.http("/topic/pause?topic=bk", { method: "POST" })).status).toBe(200);
  // fill the topic's disk queue: every 200 is an acknowledged message
  let acked = 0;
  for (let i = 0; i < 400; i++) {
    const r = await b.http("/pub?topic=bk", { method: "POST", body: `${i}:${"z".repeat(1000)}` });
    if (r.status !== 200) break;
    acked++;
  }
  expect(acked).toBeGreaterThan(10);
  // unpausing hands the backlog to channel c, whose disk queue has no room left
  expect((await b.http("/topic/unpause?topic=bk", { method: "POST" })).status).toBe(200);
  // the channel could not write them to disk: the broker says so, and keeps them in memory
  const deadline = Date.now() + 3000;
  while ((await b.http("/ping")).status !== 500 && Date.now() < deadline) await Bun.sleep(10);
  expect(await (await b.http("/ping")).text()).toMatch(/^NOK - /);
  const c = await subscriber(b.tcpPort, "bk", "c", 50);
  const got = new Set<string>();
  while (got.size < acked) {
    const m = await c.readMessage();
    got.add(m.body.toString().split(":")[0]!);
    c.write(`FIN ${m.id}\n`);
  }
  expect(got.size).toBe(acked);
  c.close();
  } finally {
    await b.stop();
  }
});
