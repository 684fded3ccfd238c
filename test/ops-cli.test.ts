/**
 * Issue 17 from the command line: `nsq peek`, and replaying dead letters with
 * `nsq tail --topic=T.dead | nsq pub --topic=T`.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { subscriber, type RawClient } from "./helpers/raw-client.ts";
import { runNsq, type RunResult } from "./helpers/nsq-process.ts";

const BUN = join(import.meta.dir, "..", "node_modules", ".bin", "bun");
const CLI = join(import.meta.dir, "..", "src", "cli.ts");
const brokers: TestBroker[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const b of brokers.splice(0)) await b.stop();
});

const nsq = (...args: string[]): Promise<RunResult> => runNsq(args);

test("nsq peek prints the next messages and leaves them", async () => {
  const b = await startBroker();
  brokers.push(b);
  await b.http("/topic/create?topic=pk", { method: "POST" });
  await b.http("/channel/create?topic=pk&channel=c", { method: "POST" });
  await b.http("/mpub?topic=pk", { method: "POST", body: "first\nsecond" });
  const addr = `--nsqd-http-address=127.0.0.1:${b.httpPort}`;
  const r = await nsq("peek", addr, "--topic=pk", "--channel=c", "-n", "5");
  expect(r.code).toBe(0);
  const lines = r.stdout.trimEnd().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^[0-9a-f]{16} attempts=0 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z first$/);
  expect(lines[1]).toEndWith(" second");
  expect((await nsq("peek", addr, "--topic=pk", "--channel=c", "-n", "5", "--body-only")).stdout).toBe("first\nsecond\n");
  // still there
  const depth = (await (await b.http("/stats?format=json&topic=pk")).json()) as { topics: { channels: { depth: number }[] }[] };
  expect(depth.topics[0]!.channels[0]!.depth).toBe(2);
  const missing = await nsq("peek", addr, "--topic=pk", "--channel=nope");
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain("CHANNEL_NOT_FOUND");
  expect((await nsq("peek", addr, "--topic=pk")).code).toBe(2);
});

test("dead letters replay with nsq tail --topic=T.dead | nsq pub --topic=T", async () => {
  const b = await startBroker({ maxAttempts: 1 });
  brokers.push(b);
  await b.http("/topic/create?topic=jobs", { method: "POST" });
  await b.http("/channel/create?topic=jobs&channel=work", { method: "POST" });
  await b.http("/pub?topic=jobs", { method: "POST", body: "replay me" });
  const worker = await subscriber(b.tcpPort, "jobs", "work", 1);
  clients.push(worker);
  const m = await worker.readMessage();
  worker.write(`REQ ${m.id} 0\n`); // the one attempt failed: to jobs.dead

  const tcp = `--nsqd-tcp-address=127.0.0.1:${b.tcpPort}`;
  const tail = Bun.spawn([BUN, CLI, "tail", tcp, "--topic=jobs.dead", "-n", "1"], { stdout: "pipe", stderr: "ignore" });
  const pub = Bun.spawn([BUN, CLI, "pub", tcp, "--topic=jobs"], { stdin: tail.stdout, stdout: "ignore", stderr: "pipe" });
  expect(await tail.exited).toBe(0);
  expect(await pub.exited).toBe(0);
  const again = await worker.readMessage();
  expect(again.body.toString()).toBe("replay me");
  expect(again.attempts).toBe(1); // a fresh message
  expect(again.id).not.toBe(m.id);
});
