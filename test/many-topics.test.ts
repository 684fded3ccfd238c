/**
 * nsq issue 21: a broker with many topics. Start-up lists the data directory once whatever the
 * number of topics, opening and closing an unchanged queue writes nothing, restored messages are
 * delivered after restarts, idle queues hold no buffers, and nsqd.dat rewrites are coalesced.
 * (The timings themselves are measured by `npm run many-topics`, never asserted here.)
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { subscriber } from "./helpers/raw-client.ts";
import { directoryReadCount } from "../src/server/data-dir-index.ts";
import { DiskQueue } from "../src/server/disk-queue.ts";
import { CoalescedWrite } from "../src/server/coalesced-write.ts";
import { CHANNEL_NAME, topicName, writeManyTopicsDataDir } from "../scripts/many-topics-data.ts";

const LAYOUT = { withMessagesEvery: 10, messagesPerQueue: 3 };
const dirs: string[] = [];
const brokers: TestBroker[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "nsq-many-topics-test-"));
  dirs.push(dir);
  return dir;
}

async function start(dataPath: string, opts: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const b = await startBroker({ dataPath, ...opts });
  brokers.push(b);
  return b;
}

async function stop(b: TestBroker): Promise<void> {
  brokers.splice(brokers.indexOf(b), 1);
  await b.stop();
}

afterEach(async () => {
  for (const b of brokers.splice(0)) await b.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** name → inode, size and mtime of every file but nsqd.dat (which nsqd rewrites at start and stop). */
function queueFilesSnapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    if (name === "nsqd.dat" || name.endsWith(".lock")) continue;
    const st = statSync(join(dir, name), { bigint: true });
    out[name] = `${st.ino}/${st.size}/${st.mtimeNs}`;
  }
  return out;
}

describe("start-up with many topics", () => {
  test("the data directory is listed a bounded number of times, whatever the number of topics", async () => {
    const reads: number[] = [];
    for (const topics of [100, 1000]) {
      const dir = tempDir();
      writeManyTopicsDataDir(dir, { topics, ...LAYOUT });
      const before = directoryReadCount();
      const b = await start(dir);
      expect(b.nsqd.topics.size).toBe(topics);
      reads.push(directoryReadCount() - before);
      // creating topics and channels at run time does not list it either
      const atRunTime = directoryReadCount();
      for (let i = 0; i < 50; i++) b.nsqd.getOrCreateTopic(`created_${i}`).getOrCreateChannel("c");
      expect(directoryReadCount()).toBe(atRunTime);
      await stop(b);
    }
    expect(reads[0]).toBeLessThanOrEqual(1);
    expect(reads[1]).toBe(reads[0]!);
  });

  test("queues opened and closed without changes write nothing (no fsync+rename per queue)", async () => {
    const dir = tempDir();
    writeManyTopicsDataDir(dir, { topics: 300, ...LAYOUT });
    const before = queueFilesSnapshot(dir);
    const b = await start(dir);
    expect(b.nsqd.getTopic(topicName(0))!.getChannel(CHANNEL_NAME)!.depth()).toBe(3);
    await stop(b);
    expect(queueFilesSnapshot(dir)).toEqual(before);

    // a queue that did change is still persisted at stop
    const again = await start(dir);
    const res = await again.http(`/pub?topic=${topicName(1)}`, { method: "POST", body: "new" });
    expect(res.status).toBe(200);
    const channel = again.nsqd.getTopic(topicName(1))!.getChannel(CHANNEL_NAME)!;
    expect(channel.depth()).toBe(1);
    await stop(again);
    const after = queueFilesSnapshot(dir);
    const changed = Object.keys(after).filter((name) => after[name] !== before[name]);
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.every((name) => name.startsWith(`${topicName(1)}:${CHANNEL_NAME}.diskqueue.`))).toBe(true);
  });

  test("messages in restored topics are delivered after a restart with 1,000 topics; new ones at once", async () => {
    const dir = tempDir();
    const onDisk = writeManyTopicsDataDir(dir, { topics: 1000, ...LAYOUT });
    expect(onDisk).toBe(300);
    await stop(await start(dir)); // restore, then a graceful stop: the restart below reads what it left
    const b = await start(dir);
    expect(b.nsqd.topics.size).toBe(1000);
    let delivered = 0;
    for (let i = 0; i < 1000; i += LAYOUT.withMessagesEvery) {
      const name = topicName(i);
      const c = await subscriber(b.tcpPort, name, CHANNEL_NAME, LAYOUT.messagesPerQueue);
      const bodies: string[] = [];
      for (let n = 0; n < LAYOUT.messagesPerQueue; n++) {
        const m = await c.readMessage();
        bodies.push(m.body.toString());
        c.write(`FIN ${m.id}\n`);
      }
      expect(bodies).toEqual(Array.from({ length: LAYOUT.messagesPerQueue }, (_, n) => `${name}-${n}`));
      delivered += bodies.length;
      c.close();
    }
    expect(delivered).toBe(onDisk);

    // a restored topic without messages takes a publish and delivers it right away
    const quiet = topicName(1);
    const c = await subscriber(b.tcpPort, quiet, CHANNEL_NAME, 1);
    expect((await b.http(`/pub?topic=${quiet}`, { method: "POST", body: "fresh" })).status).toBe(200);
    expect((await c.readMessage()).body.toString()).toBe("fresh");
    c.close();
  });
});

describe("queue files found through the start-up listing", () => {
  test("leftover metadata tmp files go, files of topics missing from nsqd.dat and files written after start are still found", async () => {
    const dir = tempDir();
    writeManyTopicsDataDir(dir, { topics: 20, ...LAYOUT });
    const queue = `${topicName(0)}:${CHANNEL_NAME}`;
    writeFileSync(join(dir, `${queue}.diskqueue.meta.dat.4242.tmp`), "garbage");
    // a topic with messages on disk that nsqd.dat does not list (created later over HTTP)
    copyQueueFiles(dir, queue, "orphan");
    const b = await start(dir);
    expect(existsSync(join(dir, `${queue}.diskqueue.meta.dat.4242.tmp`))).toBe(false);
    expect(b.nsqd.getTopic("orphan")).toBeUndefined();
    expect((await b.http("/topic/create?topic=orphan", { method: "POST" })).status).toBe(200);
    expect(b.nsqd.getTopic("orphan")!.depth()).toBe(LAYOUT.messagesPerQueue);

    // files that appear after start (e.g. a delete that could not remove them) are not overlooked either
    copyQueueFiles(dir, queue, "late");
    expect((await b.http("/topic/create?topic=late", { method: "POST" })).status).toBe(200);
    expect(b.nsqd.getTopic("late")!.depth()).toBe(LAYOUT.messagesPerQueue);
  });
});

/** Copies queue `from`'s data and metadata files to queue name `to`. */
function copyQueueFiles(dir: string, from: string, to: string): void {
  for (const suffix of ["diskqueue.meta.dat", "diskqueue.000000.dat"]) {
    writeFileSync(join(dir, `${to}.${suffix}`), readFileSync(join(dir, `${from}.${suffix}`)));
  }
}

describe("memory per queue", () => {
  test("a topic and channel created over HTTP hold no disk-queue buffers until messages reach the disk", async () => {
    const b = await start(tempDir(), { memQueueSize: 0 });
    expect((await b.http("/topic/create?topic=idle", { method: "POST" })).status).toBe(200);
    expect((await b.http("/channel/create?topic=idle&channel=c", { method: "POST" })).status).toBe(200);
    const topic = b.nsqd.getTopic("idle")!;
    const channel = topic.getChannel("c")!;
    expect(topic.backend).toBeInstanceOf(DiskQueue);
    expect((topic.backend as DiskQueue).bufferBytes()).toBe(0);
    expect((channel.backend as DiskQueue).bufferBytes()).toBe(0);

    // the accessor does see buffers once the channel carries messages through its disk queue
    expect((await b.http("/pub?topic=idle", { method: "POST", body: "m" })).status).toBe(200);
    expect(channel.backendDepth()).toBe(1);
    expect((channel.backend as DiskQueue).bufferBytes()).toBeGreaterThan(0);
    expect((topic.backend as DiskQueue).bufferBytes()).toBe(0);
  });
});

describe("nsqd.dat rewrites", () => {
  test("changes that keep coming are coalesced; the last one is always written", async () => {
    let writes = 0;
    let written = 0;
    let state = 0;
    const w = new CoalescedWrite(() => {
      writes++;
      written = state;
    }, { minGapMs: 50, maxShare: 0.5 });
    const burstEnd = performance.now() + 300;
    let changes = 0;
    while (performance.now() < burstEnd) {
      state++;
      changes++;
      w.request();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(changes).toBeGreaterThan(20);
    // at most one write per 50 ms gap over the burst, plus the first and the last
    expect(writes).toBeLessThanOrEqual(300 / 50 + 2);
    while (written !== state) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(written).toBe(state);
    await w.stop();
  });

  test("topics created close together all reach nsqd.dat, and a graceful stop writes it", async () => {
    const dir = tempDir();
    const b = await start(dir);
    for (let i = 0; i < 200; i++) {
      expect((await b.http(`/topic/create?topic=burst_${i}`, { method: "POST" })).status).toBe(200);
    }
    await stop(b);
    const again = await start(dir);
    expect(again.nsqd.topics.size).toBe(200);
  });
});
