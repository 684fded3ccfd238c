/**
 * The shell tools as real processes (`bun src/cli.ts pub|tail|to-file|pause ...`) against
 * in-process brokers on port 0: line fan-out and ordering, tail in a pipe, to-file with rotation,
 * gzip, a work dir, lookupd topic discovery and a kill -9 restart, pause/unpause on two nodes,
 * and one-line errors for bad input.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { Subprocess } from "bun";
import { Nsqd } from "../src/server/nsqd.ts";
import { Nsqlookupd } from "../src/lookupd/lookupd.ts";
import { silentLogger } from "../src/util/logger.ts";
import { Consumer, Producer } from "../src/client/index.ts";
import { commandForProgramName } from "../src/cli.ts";
import { strftime } from "../src/tools/strftime.ts";
import { prepareFilenameFormat } from "../src/tools/to-file.ts";
import { DelimitedSplitter } from "../src/tools/splitter.ts";
import { until } from "./helpers/until.ts";
import { runNsq, spawnNsq, type RunResult } from "./helpers/nsq-process.ts";

const BUN = "./node_modules/.bin/bun";
const CLI = "src/cli.ts";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "nsq-tools-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function startNsqd(extra: { memQueueSize?: number; lookupd?: string } = {}): Promise<Nsqd> {
  const n = new Nsqd(
    {
      tcpAddress: "127.0.0.1:0",
      httpAddress: "127.0.0.1:0",
      dataPath: tempDir(),
      broadcastAddress: "127.0.0.1",
      lookupdTcpAddresses: extra.lookupd ? [extra.lookupd] : [],
      ...(extra.memQueueSize ? { memQueueSize: extra.memQueueSize } : {}),
    },
    silentLogger,
  );
  await n.start();
  cleanups.push(() => n.close());
  return n;
}

async function startLookupd(): Promise<Nsqlookupd> {
  const l = new Nsqlookupd({ tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0" }, silentLogger);
  await l.start();
  cleanups.push(() => l.close());
  return l;
}

const tcp = (n: Nsqd) => `127.0.0.1:${n.tcpPort}`;
const http = (n: Nsqd) => `127.0.0.1:${n.httpPort}`;

function spawnCli(args: string[], stdin: "ignore" | "pipe" | Blob = "ignore"): Subprocess<"pipe" | "ignore", "pipe", "pipe"> {
  const proc = spawnNsq(args, stdin);
  cleanups.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  return proc;
}

/** Runs `nsq <args>` to completion with `input` on stdin (the test's timeout bounds it). */
function runCli(args: string[], input?: string | Uint8Array): Promise<RunResult> {
  return runNsq(args, { stdin: input, timeoutMs: 600_000 });
}

function seq(n: number): string {
  let s = "";
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return s;
}

/** Messages of a topic/channel collected in-process (for checking what the tools published). */
async function collector(nodes: Nsqd[], topic: string): Promise<string[]> {
  const got: string[] = [];
  const c = new Consumer({ topic, channel: "check", config: { maxInFlight: 100 }, handler: (m) => void got.push(m.body.toString()) });
  await c.connectToNsqds(nodes.map(tcp));
  cleanups.push(() => c.close());
  return got;
}

function noStackTrace(text: string): void {
  expect(text).not.toMatch(/\n\s+at /);
  expect(text.trim().split("\n").length).toBe(1);
}

describe("nsq pub / nsq tail", () => {
  test("seq 100000 | nsq pub t; nsq tail t -n 100000 yields every number exactly once", async () => {
    const n = await startNsqd({ memQueueSize: 200_000 }); // the tail channel is ephemeral: it must not overflow
    const pub = await runCli(["pub", "numbers", "--nsqd-tcp-address", tcp(n)], seq(100_000));
    expect(pub.code).toBe(0);
    expect(pub.stderr).toContain("published 100000 messages");
    const tail = await runCli(["tail", "numbers", "-n", "100000", `-nsqd-tcp-address=${tcp(n)}`]);
    expect(tail.code).toBe(0);
    const lines = tail.stdout.split("\n");
    expect(lines.pop()).toBe("");
    expect(lines.length).toBe(100_000);
    const unique = new Set(lines.map(Number));
    expect(unique.size).toBe(100_000);
    for (let i = 1; i <= 100_000; i += 9973) expect(unique.has(i)).toBe(true);
  }, 60_000);

  test("pub fans out to every nsqd, keeps line order, skips empty records, honours --delimiter", async () => {
    const a = await startNsqd();
    const b = await startNsqd();
    const gotA = await collector([a], "fan");
    const gotB = await collector([b], "fan");
    const input = "r1,r2,,r3,r4"; // no trailing delimiter: the last record is kept whole
    const res = await runCli(["pub", "--topic=fan", "--delimiter", ",", "--nsqd-tcp-address", tcp(a), "--nsqd-tcp-address", tcp(b)], input);
    expect(res.code).toBe(0);
    await until("4 messages on each node", () => gotA.length === 4 && gotB.length === 4);
    expect(gotA).toEqual(["r1", "r2", "r3", "r4"]);
    expect(gotB).toEqual(["r1", "r2", "r3", "r4"]);
  });

  test("slow stdin: pub publishes each record as it is read, not when input ends", async () => {
    const n = await startNsqd();
    const arrivals = new Map<string, number>();
    const c = new Consumer({ topic: "slow", channel: "check", config: { maxInFlight: 100 }, handler: (m) => void arrivals.set(m.body.toString(), Date.now()) });
    await c.connectToNsqds([tcp(n)]);
    cleanups.push(() => c.close());
    const proc = spawnCli(["pub", "slow", "--nsqd-tcp-address", tcp(n)], "pipe");
    const stdin = proc.stdin as import("bun").FileSink;
    const written = new Map<string, number>();
    const lines = 8;
    for (let i = 1; i <= lines; i++) {
      written.set(String(i), Date.now());
      stdin.write(`${i}\n`);
      await stdin.flush();
      await Bun.sleep(100); // the producer is slow on purpose: this is the input rate under test
    }
    // every record must be at the consumer before stdin closes
    await until("every record delivered while stdin is still open", () => arrivals.size === lines, 3000);
    for (const [line, at] of written) expect({ line, late: arrivals.get(line)! - at < 1000 }).toEqual({ line, late: true });
    await stdin.end();
    expect(await proc.exited).toBe(0);
  });

  test("slow stdin: a dead nsqd ends pub with exit 1 at the next record, not at end of input", async () => {
    const n = await startNsqd();
    const got = await collector([n], "dies");
    const proc = spawnCli(["pub", "dies", "--nsqd-tcp-address", tcp(n)], "pipe");
    const stdin = proc.stdin as import("bun").FileSink;
    stdin.write("first\n");
    await stdin.flush();
    await until("first record delivered", () => got.length === 1);
    await n.close();
    const stopped = Date.now();
    stdin.write("second\n"); // stdin stays open: the failure alone must end the run
    await stdin.flush();
    const exited = await Promise.race([proc.exited, Bun.sleep(5000).then(() => "still running")]);
    expect(exited).toBe(1);
    expect(Date.now() - stopped).toBeLessThan(5000);
    const stderr = await new Response(proc.stderr).text();
    expect(stderr).toContain("publish failed");
    expect(stderr).toContain("published 1 message ");
  });

  test("pub TOPIC MESSAGE... publishes the arguments; --rate throttles", async () => {
    const n = await startNsqd();
    const got = await collector([n], "args");
    const started = Date.now();
    const res = await runCli(["pub", "args", "hello", "world", "three", "--rate", "10", "--nsqd-tcp-address", tcp(n)]);
    expect(res.code).toBe(0);
    // 3 messages at 10/s: the first token is free, the next two wait ~100 ms each
    expect(Date.now() - started).toBeGreaterThanOrEqual(180);
    await until("3 messages", () => got.length === 3);
    expect(got).toEqual(["hello", "world", "three"]);
  });

  test("tail --print-topic prefixes lines; tail | head ends quietly", async () => {
    const n = await startNsqd();
    const p = new Producer(tcp(n));
    cleanups.push(() => p.close());
    await p.multiPublish("pt", ["x", "y"]);
    const printed = await runCli(["tail", "--topic", "pt", "--print-topic", "-n", "2", "--channel", "c", "--nsqd-tcp-address", tcp(n)]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe("pt | x\npt | y\n");

    await p.multiPublish("piped", Array.from({ length: 5000 }, (_, i) => `line ${i}`));
    const sh = Bun.spawn(["bash", "-c", `set -o pipefail; ${BUN} ${CLI} tail piped --channel=c --nsqd-tcp-address=${tcp(n)} | head -n 3`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    cleanups.push(() => void sh.kill("SIGKILL"));
    const [out, err, code] = await Promise.all([new Response(sh.stdout).text(), new Response(sh.stderr).text(), sh.exited]);
    expect(out).toBe("line 0\nline 1\nline 2\n");
    expect(err).toBe("");
    expect(code).toBe(0);
  }, 20_000);

  test("bad input: one line on stderr, non-zero exit, no stack trace", async () => {
    const cases: Array<[string[], number, string]> = [
      [["pub", "t", "--nsqd-tcp-address", "127.0.0.1:1"], 1, "127.0.0.1:1"],
      [["pub", "--nsqd-tcp-address", "127.0.0.1:1"], 2, "--topic required"],
      [["pub", "t", "--nsqd-tcp-address", "nonsense"], 2, "invalid value \"nonsense\" for flag -nsqd-tcp-address: missing port"],
      [["pub", "t", "--delimiter", "ab", "--nsqd-tcp-address", "127.0.0.1:1"], 2, "single byte"],
      [["tail", "--nsqd-tcp-address", "127.0.0.1:1"], 2, "--topic is required"],
      [["tail", "t"], 2, "--nsqd-tcp-address or --lookupd-http-address required"],
      [["tail", "t", "--nsqd-tcp-address", "127.0.0.1:1"], 1, "cannot connect"],
      [["to-file", "--topic", "t", "--nsqd-tcp-address", "127.0.0.1:1", "--output-dir", "/proc/no/such"], 1, "--output-dir"],
      [["to-file", "--topic", "t", "--nsqd-tcp-address", "127.0.0.1:1", "--gzip", "--filename-format", "<TOPIC>.log"], 2, "<REV>"],
      [["to-file", "--topic-pattern", "x", "--nsqd-tcp-address", "127.0.0.1:1"], 2, "--lookupd-http-address"],
      [["pause", "t"], 2, "--nsqd-http-address or --lookupd-http-address required"],
    ];
    for (const [args, code, text] of cases) {
      const r = await runCli(args, "x\n");
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.stderr).toContain(text);
      noStackTrace(r.stderr);
    }
  }, 30_000);

  test("multi-call names map to the tools", () => {
    expect(commandForProgramName("to_nsq", undefined)?.name).toBe("pub");
    expect(commandForProgramName("nsq_tail", undefined)?.name).toBe("tail");
    expect(commandForProgramName("nsq_to_file", undefined)?.name).toBe("to-file");
    expect(commandForProgramName("nsq_pause", undefined)?.name).toBe("pause");
  });
});

/** True when the broker's channel has nothing queued or in flight and has delivered something. */
async function channelDrained(n: Nsqd, topic: string, channel: string): Promise<boolean> {
  const res = await fetch(`http://${http(n)}/stats?format=json&topic=${topic}`);
  const body = (await res.json()) as {
    topics: Array<{ topic_name: string; depth: number; channels: Array<{ channel_name: string; depth: number; in_flight_count: number; message_count: number }> }> | null;
  };
  const t = body.topics?.find((x) => x.topic_name === topic);
  const c = t?.channels.find((x) => x.channel_name === channel);
  return !!t && !!c && t.depth === 0 && c.depth === 0 && c.in_flight_count === 0 && c.message_count > 0;
}

/** Decompressed (when .gz) lines of every file in `dir`. */
function archivedLines(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const lines: string[] = [];
  for (const f of readdirSync(dir).sort()) {
    let data = readFileSync(join(dir, f));
    if (f.endsWith(".gz")) {
      try {
        data = gunzipSync(data);
      } catch {
        continue; // being written
      }
    }
    for (const l of data.toString().split("\n")) if (l !== "") lines.push(l);
  }
  return lines;
}

describe("to-file and pub helpers", () => {
  test("strftime tokens, unknown tokens kept", () => {
    const d = new Date(2024, 0, 31, 17, 5, 9);
    expect(strftime("%Y-%m-%d_%H", d)).toBe("2024-01-31_17");
    expect(strftime("%y %I:%M:%S %p %b %B %a %A %% %q", d)).toBe("24 05:05:09 PM Jan January Wed Wednesday % %q");
    expect(strftime("%z", d)).toMatch(/^[+-]\d{4}$/);
  });

  test("filename format: <REV> required with gzip/rotation/work dir, removed otherwise, .gz appended", () => {
    const base = { filenameFormat: "<TOPIC>.<HOST><REV>.<DATETIME>.log", gzip: false, rotateSize: 0, rotateInterval: 0, workDir: "/o", outputDir: "/o", hostIdentifier: "h-<SHORT_HOST>" };
    expect(prepareFilenameFormat(base)).toMatch(/^<TOPIC>\.h-[^.]+\.<DATETIME>\.log$/);
    expect(prepareFilenameFormat({ ...base, gzip: true })).toMatch(/<REV>\.<DATETIME>\.log\.gz$/);
    expect(() => prepareFilenameFormat({ ...base, filenameFormat: "<TOPIC>.log", rotateSize: 10 })).toThrow("<REV>");
  });

  test("delimited splitter joins records across chunks", () => {
    const out: string[] = [];
    const s = new DelimitedSplitter(0x0a);
    for (const part of ["ab", "c\nd", "", "\n\nxy", "z"]) s.push(Buffer.from(part), (r) => out.push(r.toString()));
    s.end((r) => out.push(r.toString()));
    expect(out).toEqual(["abc", "d", "", "xyz"]);
  });
});

describe("nsq to-file", () => {
  test("gzip + size rotation + work dir: the decompressed files hold every line once; SIGTERM closes cleanly", async () => {
    const n = await startNsqd();
    const dir = tempDir();
    const out = join(dir, "out");
    const work = join(dir, "work");
    await runCli(["pub", "arch", "--nsqd-tcp-address", tcp(n)], seq(20_000));
    const proc = spawnCli([
      "to-file", "--topic", "arch", "--nsqd-tcp-address", tcp(n), "--output-dir", out, "--work-dir", work,
      "--gzip", "--gzip-level", "1", "--rotate-size", "20000", "--sync-interval", "100ms", "--log-level", "warn",
    ]);
    // every message FINed (so written and synced) before the stop
    await until("all messages archived", () => channelDrained(n, "arch", "nsq_to_file"), 20_000);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(readdirSync(work)).toEqual([]);
    const files = readdirSync(out);
    expect(files.length).toBeGreaterThan(3);
    expect(files.every((f) => /^arch\..+-\d{6}\.\d{4}-\d{2}-\d{2}_\d{2}\.log\.gz$/.test(f))).toBe(true);
    const lines = archivedLines(out);
    expect(lines.length).toBe(20_000);
    expect(new Set(lines).size).toBe(20_000);
  }, 30_000);

  test("kill -9 mid-stream, restart: no line is missing", async () => {
    const n = await startNsqd();
    const out = tempDir();
    const args = [
      "to-file", "--topic", "crash", "--nsqd-tcp-address", tcp(n), "--output-dir", out,
      "--sync-interval", "50ms", "--max-in-flight", "50", "--consumer-opt", "msg_timeout,1s", "--log-level", "warn",
    ];
    await runCli(["pub", "crash", "--nsqd-tcp-address", tcp(n)], seq(30_000));
    const first = spawnCli(args);
    await until("some lines archived", () => archivedLines(out).length > 1000);
    first.kill("SIGKILL");
    await first.exited;
    const afterKill = archivedLines(out).length;
    expect(afterKill).toBeLessThan(30_000 + 1000);
    const second = spawnCli(args);
    await until("every line archived after restart", () => new Set(archivedLines(out)).size === 30_000, 20_000);
    second.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    const unique = new Set(archivedLines(out));
    for (let i = 1; i <= 30_000; i++) if (!unique.has(String(i))) throw new Error(`line ${i} missing`);
  }, 40_000);

  test("a fatal file error (a directory where the file goes) exits 1 at once and requeues the batch", async () => {
    const n = await startNsqd();
    const p = new Producer(tcp(n));
    cleanups.push(() => p.close());
    await p.multiPublish("tg", Array.from({ length: 10 }, (_, i) => `m${i}`));
    const out = tempDir();
    const format = prepareFilenameFormat({ filenameFormat: "<TOPIC>.<HOST><REV>.<DATETIME>.log", gzip: false, rotateSize: 0, rotateInterval: 0, workDir: out, outputDir: out, hostIdentifier: "" });
    const target = join(out, format.replace("<TOPIC>", "tg").replace("<DATETIME>", "fixed"));
    mkdirSync(target, { recursive: true });
    const started = Date.now();
    const r = await runCli(["to-file", "--topic=tg", `--nsqd-tcp-address=${tcp(n)}`, `--output-dir=${out}`, "--datetime-format=fixed"]);
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.stderr).not.toContain("stop timed out");
    const errorLines = r.stderr.split("\n").filter((l) => l.includes("EISDIR"));
    expect(errorLines.length).toBe(1);
    expect(errorLines[0]).toContain(target);
    // the unfinished messages were handed back, not left to time out
    await until("10 messages back in the channel", async () => {
      const res = await fetch(`http://${http(n)}/stats?format=json&topic=tg&channel=nsq_to_file`);
      const body = (await res.json()) as { topics: Array<{ channels: Array<{ depth: number; in_flight_count: number }> }> };
      const c = body.topics[0]?.channels[0];
      return !!c && c.depth === 10 && c.in_flight_count === 0;
    }, 3000);
  }, 40_000);

  test.skipIf(!existsSync("/dev/full"))("a write error while syncing (ENOSPC) exits 1 at once, naming the file", async () => {
    const n = await startNsqd();
    const p = new Producer(tcp(n));
    cleanups.push(() => p.close());
    await p.multiPublish("full", Array.from({ length: 10 }, (_, i) => `m${i}`));
    const out = tempDir();
    symlinkSync("/dev/full", join(out, "full.log")); // every write fails with ENOSPC
    const started = Date.now();
    const r = await runCli(["to-file", "--topic=full", `--nsqd-tcp-address=${tcp(n)}`, `--output-dir=${out}`, "--filename-format=<TOPIC>.log", "--max-in-flight=10"]);
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
    const errorLines = r.stderr.split("\n").filter((l) => l.includes("ENOSPC"));
    expect(errorLines.length).toBe(1);
    expect(errorLines[0]).toContain(join(out, "full.log"));
    await until("10 messages back in the channel", async () => {
      const res = await fetch(`http://${http(n)}/stats?format=json&topic=full&channel=nsq_to_file`);
      const body = (await res.json()) as { topics: Array<{ channels: Array<{ depth: number; in_flight_count: number }> }> };
      const c = body.topics[0]?.channels[0];
      return !!c && c.depth === 10 && c.in_flight_count === 0;
    }, 3000);
  }, 40_000);

  test("--topic-pattern discovers matching topics through lookupd", async () => {
    const lookupd = await startLookupd();
    const n = await startNsqd({ lookupd: `127.0.0.1:${lookupd.tcpPort}` });
    const p = new Producer(tcp(n));
    cleanups.push(() => p.close());
    await p.publish("logs.a", "A");
    await p.publish("logs.b", "B");
    await p.publish("other", "O");
    const out = tempDir();
    const proc = spawnCli([
      "to-file", "--topic-pattern", "^logs\\.", "--lookupd-http-address", `127.0.0.1:${lookupd.httpPort}`,
      "--topic-refresh", "100ms", "--sync-interval", "50ms", "--output-dir", out, "--log-level", "warn",
      "--filename-format", "<TOPIC>.log",
    ]);
    await until("two topic files", () => existsSync(join(out, "logs.a.log")) && existsSync(join(out, "logs.b.log")) && archivedLines(out).length === 2);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["logs.a.log", "logs.b.log"]);
    expect(readFileSync(join(out, "logs.a.log"), "utf8")).toBe("A\n");
  }, 20_000);
});

describe("nsq pause", () => {
  test("pauses a channel on two nodes found through lookupd; --unpause resumes delivery", async () => {
    const lookupd = await startLookupd();
    const a = await startNsqd({ lookupd: `127.0.0.1:${lookupd.tcpPort}` });
    const b = await startNsqd({ lookupd: `127.0.0.1:${lookupd.tcpPort}` });
    const got = await collector([a, b], "jobs"); // channel "check" on both nodes
    const lookupdAddr = `127.0.0.1:${lookupd.httpPort}`;
    await until("both nodes registered", async () => {
      const r = await fetch(`http://${lookupdAddr}/lookup?topic=jobs`);
      return r.status === 200 && ((await r.json()) as { producers: unknown[] }).producers.length === 2;
    });

    const paused = await runCli(["pause", "jobs/check", "--lookupd-http-address", lookupdAddr]);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toContain(http(a));
    expect(paused.stdout).toContain(http(b));
    expect(paused.stdout.match(/jobs\/check\s*│\s*paused/g)?.length).toBe(2);

    await new Producer(tcp(a)).publish("jobs", "ja");
    await new Producer(tcp(b)).publish("jobs", "jb");
    await Bun.sleep(300);
    expect(got).toEqual([]); // paused: nothing delivered

    const resumed = await runCli(["pause", "--topic", "jobs", "--channel", "check", "--unpause", "--nsqd-http-address", http(a), "--nsqd-http-address", http(b)]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout.match(/unpaused/g)?.length).toBe(2);
    await until("delivery after unpause", () => got.length === 2);
    expect(got.sort()).toEqual(["ja", "jb"]);
  }, 20_000);

  test("topic/channel: a node without the channel is skipped; the table reports the state change", async () => {
    const a = await startNsqd();
    const b = await startNsqd();
    const p = new Producer(tcp(b));
    cleanups.push(() => p.close());
    await p.publish("work", "x"); // b has the topic but no channel
    expect((await fetch(`http://${http(a)}/topic/create?topic=work`, { method: "POST" })).status).toBe(200);
    expect((await fetch(`http://${http(a)}/channel/create?topic=work&channel=ch`, { method: "POST" })).status).toBe(200);
    const nodes = ["--nsqd-http-address", http(a), "--nsqd-http-address", http(b)];
    const rowFor = (out: string, node: string): string => out.split("\n").find((l) => l.includes(node)) ?? "";

    const first = await runCli(["pause", "work/ch", ...nodes]);
    expect(first.code).toBe(0);
    expect(rowFor(first.stdout, http(a))).toMatch(/│\s*paused\s*│/);
    expect(rowFor(first.stdout, http(b))).toContain("no such channel");
    expect(first.stdout).not.toContain("failed");
    const stats = (await (await fetch(`http://${http(a)}/stats?format=json&topic=work&channel=ch`)).json()) as { topics: Array<{ channels: Array<{ paused: boolean }> }> };
    expect(stats.topics[0]!.channels[0]!.paused).toBe(true);

    const again = await runCli(["pause", "work/ch", ...nodes]);
    expect(again.code).toBe(0);
    expect(rowFor(again.stdout, http(a))).toContain("already paused");

    const resumed = await runCli(["pause", "work/ch", "--unpause", ...nodes]);
    expect(resumed.code).toBe(0);
    expect(rowFor(resumed.stdout, http(a))).toMatch(/│\s*unpaused\s*│/);
    const resumedAgain = await runCli(["pause", "work/ch", "--unpause", ...nodes]);
    expect(rowFor(resumedAgain.stdout, http(a))).toContain("already unpaused");

    // no node has the channel: nothing was paused anywhere, which is worth a non-zero exit
    const nowhere = await runCli(["pause", "work/nosuch", ...nodes]);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stdout.match(/no such channel/g)?.length).toBe(2);
    expect(nowhere.stderr).toContain("not found on any nsqd");
  }, 20_000);

  test("a topic already paused is reported as such and left alone", async () => {
    const n = await startNsqd();
    expect((await fetch(`http://${http(n)}/topic/create?topic=whole`, { method: "POST" })).status).toBe(200);
    const first = await runCli(["pause", "whole", "--nsqd-http-address", http(n)]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/whole\s*│\s*paused/);
    const again = await runCli(["pause", "whole", "--nsqd-http-address", http(n)]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("already paused");
    const unpaused = await runCli(["pause", "whole", "--unpause", "--nsqd-http-address", http(n)]);
    expect(unpaused.stdout).toMatch(/whole\s*│\s*unpaused/);
  });

  test.skipIf(!Bun.which("python3"))("--http-client-connect-timeout bounds connecting to a node that never accepts", async () => {
    // a listener whose accept queue is full: the kernel drops further SYNs, so connect() hangs
    const script = [
      "import socket,sys",
      "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)",
      "cs=[socket.socket() for _ in range(4)]",
      "for c in cs:",
      "  c.setblocking(False)",
      "  try: c.connect(s.getsockname())",
      "  except BlockingIOError: pass",
      "print(s.getsockname()[1], flush=True)",
      "sys.stdin.read()",
    ].join("\n");
    const blackhole = Bun.spawn(["python3", "-c", script], { stdin: "pipe", stdout: "pipe" });
    cleanups.push(() => void blackhole.kill("SIGKILL"));
    const reader = blackhole.stdout.getReader();
    const { value } = await reader.read();
    const port = Number(new TextDecoder().decode(value).trim());
    expect(port).toBeGreaterThan(0);
    const started = Date.now();
    const r = await runCli(["pause", "t", "--nsqd-http-address", `127.0.0.1:${port}`, "--http-client-connect-timeout", "300ms", "--http-client-request-timeout", "20s"]);
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(r.stdout).toContain("connect timed out");
  }, 30_000);

  test("an unknown topic fails on that node: table row and exit 1", async () => {
    const n = await startNsqd();
    const r = await runCli(["pause", "nosuch", "--nsqd-http-address", http(n)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("TOPIC_NOT_FOUND");
  });
});
