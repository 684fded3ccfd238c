/**
 * Issue 17, beyond nsqd: `--drain-timeout` with a real `nsq serve` process and SIGTERM. While
 * draining nothing new is delivered, FIN still works, publishes are accepted and /ping is 503;
 * after the drain everything left is persisted. A second signal ends the drain at once.
 */
import { afterAll, expect, test } from "bun:test";
import { ProcessGroup, type Daemon } from "./helpers/nsq-process.ts";
import { RawClient, subscriber } from "./helpers/raw-client.ts";
import { until } from "./helpers/until.ts";

const group = new ProcessGroup();
const clients: RawClient[] = [];
afterAll(() => {
  for (const c of clients) c.close();
  group.stopAll();
});

type Served = Daemon;

/** Starts `nsq serve` and resolves with its ports, read from its log. */
function serve(dataPath: string, extra: string[]): Promise<Served> {
  return group.start(["serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${dataPath}`, ...extra]);
}

async function setUp(extra: string[]): Promise<{ dataPath: string; first: Served; consumer: RawClient; inFlight: string[] }> {
  const dataPath = group.dir("nsq-drain-");
  const first = await serve(dataPath, extra);
  const base = `http://127.0.0.1:${first.http}`;
  await fetch(`${base}/topic/create?topic=work`, { method: "POST" });
  await fetch(`${base}/channel/create?topic=work&channel=c`, { method: "POST" });
  await fetch(`${base}/mpub?topic=work`, { method: "POST", body: "m1\nm2\nm3\nm4\nm5" });
  const consumer = await subscriber(first.tcp, "work", "c", 2);
  clients.push(consumer);
  const a = await consumer.readMessage();
  const b = await consumer.readMessage();
  return { dataPath, first, consumer, inFlight: [a.id, b.id] };
}

/** Everything the restarted broker delivers on work/c. */
async function remaining(dataPath: string): Promise<string[]> {
  const second = await serve(dataPath, []);
  const c = await subscriber(second.tcp, "work", "c", 100);
  clients.push(c);
  const bodies: string[] = [];
  const depth = async (): Promise<number> => {
    const doc = (await (await fetch(`http://127.0.0.1:${second.http}/stats?format=json&topic=work`)).json()) as {
      topics: { channels: { depth: number; in_flight_count: number }[] }[];
    };
    return doc.topics[0]!.channels[0]!.in_flight_count;
  };
  for (;;) {
    if ((await c.expectNoFrame(200)) && bodies.length === (await depth())) break;
    const m = await c.readMessage();
    bodies.push(m.body.toString());
  }
  second.proc.signal("SIGKILL");
  return bodies.sort();
}

test("SIGTERM with --drain-timeout: a slow consumer FINs its last messages, nothing is lost", async () => {
  const { dataPath, first, consumer, inFlight } = await setUp(["--drain-timeout=20s"]);
  const base = `http://127.0.0.1:${first.http}`;
  expect((await fetch(`${base}/ping`)).status).toBe(200);
  first.proc.signal("SIGTERM");
  await until("/ping 503", async () => (await fetch(`${base}/ping`)).status === 503);
  expect(await (await fetch(`${base}/ping`)).text()).toBe("NOK - draining");
  // publishes are still accepted (and persisted)
  expect((await fetch(`${base}/pub?topic=work`, { method: "POST", body: "during-drain" })).status).toBe(200);
  // the RDY window has room for nothing new: as if RDY were 0
  consumer.write("RDY 10\n");
  expect(await consumer.expectNoFrame(200)).toBe(true);
  // the slow consumer finishes its work; the broker then exits by itself
  for (const id of inFlight) consumer.write(`FIN ${id}\n`);
  expect(await first.proc.exited).toBe(0);
  expect(first.log()).toContain("draining: done");
  // m1, m2 were finished; the rest (and the drain-time publish) waits for the next start
  expect(await remaining(dataPath)).toEqual(["during-drain", "m3", "m4", "m5"]);
});

test("a second signal ends the drain at once and in-flight messages are kept", async () => {
  const { dataPath, first } = await setUp(["--drain-timeout=1h"]);
  const base = `http://127.0.0.1:${first.http}`;
  first.proc.signal("SIGTERM");
  await until("/ping 503", async () => (await fetch(`${base}/ping`)).status === 503);
  first.proc.signal("SIGTERM");
  expect(await first.proc.exited).toBe(0);
  expect(first.log()).toContain("interrupted by a second signal");
  expect(await remaining(dataPath)).toEqual(["m1", "m2", "m3", "m4", "m5"]);
});

test("a consumer that disconnects while draining ends the wait; its messages are kept", async () => {
  const { dataPath, first, consumer } = await setUp(["--drain-timeout=1h"]);
  const base = `http://127.0.0.1:${first.http}`;
  first.proc.signal("SIGTERM");
  await until("/ping 503", async () => (await fetch(`${base}/ping`)).status === 503);
  consumer.close();
  expect(await first.proc.exited).toBe(0);
  expect(first.log()).toContain("draining: done");
  expect(await remaining(dataPath)).toEqual(["m1", "m2", "m3", "m4", "m5"]);
});
