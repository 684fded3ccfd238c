/**
 * Issue 17, beyond nsqd: `--drain-timeout` with a real `nsq serve` process and SIGTERM. While
 * draining nothing new is delivered, FIN still works, publishes are accepted and /ping is 503;
 * after the drain everything left is persisted. A second signal ends the drain at once.
 */
import { afterAll, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RawClient, subscriber } from "./helpers/raw-client.ts";

const BUN = join(import.meta.dir, "..", "node_modules", ".bin", "bun");
const CLI = join(import.meta.dir, "..", "src", "cli.ts");
const dirs: string[] = [];
const procs: ChildProcess[] = [];
const clients: RawClient[] = [];
afterAll(() => {
  for (const c of clients) c.close();
  for (const p of procs) p.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Served {
  proc: ChildProcess;
  tcp: number;
  http: number;
  log: () => string;
  exited: Promise<number | null>;
}

/** Starts `nsq serve` and resolves with its ports, read from its log. */
function serve(dataPath: string, extra: string[]): Promise<Served> {
  const proc = spawn(BUN, [CLI, "serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", `--data-path=${dataPath}`, ...extra], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  procs.push(proc);
  let log = "";
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    proc.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
      const tcp = /TCP: listening on [^\n]*:(\d+)/.exec(log);
      const http = /HTTP: listening on [^\n]*:(\d+)/.exec(log);
      if (tcp && http) resolve({ proc, tcp: Number(tcp[1]), http: Number(http[1]), log: () => log, exited });
    });
    void exited.then((code) => reject(new Error(`nsq serve exited (${code}): ${log}`)));
  });
}

async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

async function setUp(extra: string[]): Promise<{ dataPath: string; first: Served; consumer: RawClient; inFlight: string[] }> {
  const dataPath = mkdtempSync(join(tmpdir(), "nsq-drain-"));
  dirs.push(dataPath);
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
  second.proc.kill("SIGKILL");
  return bodies.sort();
}

test("SIGTERM with --drain-timeout: a slow consumer FINs its last messages, nothing is lost", async () => {
  const { dataPath, first, consumer, inFlight } = await setUp(["--drain-timeout=20s"]);
  const base = `http://127.0.0.1:${first.http}`;
  expect((await fetch(`${base}/ping`)).status).toBe(200);
  first.proc.kill("SIGTERM");
  await until("/ping 503", async () => (await fetch(`${base}/ping`)).status === 503);
  expect(await (await fetch(`${base}/ping`)).text()).toBe("NOK - draining");
  // publishes are still accepted (and persisted)
  expect((await fetch(`${base}/pub?topic=work`, { method: "POST", body: "during-drain" })).status).toBe(200);
  // the RDY window has room for nothing new: as if RDY were 0
  consumer.write("RDY 10\n");
  expect(await consumer.expectNoFrame(200)).toBe(true);
  // the slow consumer finishes its work; the broker then exits by itself
  for (const id of inFlight) consumer.write(`FIN ${id}\n`);
  expect(await first.exited).toBe(0);
  expect(first.log()).toContain("draining: done");
  // m1, m2 were finished; the rest (and the drain-time publish) waits for the next start
  expect(await remaining(dataPath)).toEqual(["during-drain", "m3", "m4", "m5"]);
});

test("a second signal ends the drain at once and in-flight messages are kept", async () => {
  const { dataPath, first } = await setUp(["--drain-timeout=1h"]);
  const base = `http://127.0.0.1:${first.http}`;
  first.proc.kill("SIGTERM");
  await until("/ping 503", async () => (await fetch(`${base}/ping`)).status === 503);
  first.proc.kill("SIGTERM");
  expect(await first.exited).toBe(0);
  expect(first.log()).toContain("interrupted by a second signal");
  expect(await remaining(dataPath)).toEqual(["m1", "m2", "m3", "m4", "m5"]);
});

test("a consumer that disconnects while draining ends the wait; its messages are kept", async () => {
  const { dataPath, first, consumer } = await setUp(["--drain-timeout=1h"]);
  const base = `http://127.0.0.1:${first.http}`;
  first.proc.kill("SIGTERM");
  await until("/ping 503", async () => (await fetch(`${base}/ping`)).status === 503);
  consumer.close();
  expect(await first.exited).toBe(0);
  expect(first.log()).toContain("draining: done");
  expect(await remaining(dataPath)).toEqual(["m1", "m2", "m3", "m4", "m5"]);
});
