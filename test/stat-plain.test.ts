/**
 * Plain nsq_stat output (spec §6.5), column by column, against fake nsqd / nsqlookupd servers whose
 * counters move by known amounts per poll.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { formatHeader, formatRow, runPlain, HEADER_EVERY } from "../src/tools/stat/plain.ts";
import type { SummedChannel } from "../src/tools/stat/cluster.ts";
import { command, invokedAsNsqStat, statSettings } from "../src/commands/stat.ts";
import { UsageError } from "../src/commands/types.ts";
import { parseGoFlags } from "../src/util/goflags.ts";
import { createLogger } from "../src/util/logger.ts";
import { fakeLookupd, fakeNsqd, type FakeNode } from "./stat-fixtures.ts";

const nodes: FakeNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

function channel(overrides: Partial<SummedChannel>): SummedChannel {
  return {
    depth: 0, backendDepth: 0, inFlight: 0, deferred: 0, messages: 0, requeued: 0, timedOut: 0,
    clients: 0, paused: false, nodes: 1, ...overrides,
  };
}

/** Splits a data row into its 11 fields using the spec's widths: %7d %7d | %7d %7d %7d %5d %5d | %7d %7d %12d %7d */
function fields(row: string): string[] {
  const widths = [7, 7, "|", 7, 7, 7, 5, 5, "|", 7, 7, 12, 7] as const;
  const out: string[] = [];
  let pos = 0;
  for (const w of widths) {
    if (w === "|") {
      expect(row.slice(pos, pos + 2)).toBe("| ");
      pos += 2;
      continue;
    }
    out.push(row.slice(pos, pos + w));
    pos += w + 1;
  }
  expect(pos - 1).toBe(row.length);
  return out;
}

function collect(): { write: (t: string) => void; text: () => string } {
  let buf = "";
  return { write: (t) => void (buf += t), text: () => buf };
}

function logSink(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, logger: createLogger("", "info", (l) => void lines.push(l)) };
}

describe("plain format", () => {
  test("header lines are the spec's, byte for byte", () => {
    expect(formatHeader()).toBe(
      "------rate------+----------------depth----------------+--------------metadata---------------\n" +
        "ingress  egress |   total     mem    disk inflt   def |     req     t-o         msgs clients\n",
    );
  });

  test("header names sit right-aligned in %7s %7s | %7s %7s %7s %5s %5s | %7s %7s %12s %7s", () => {
    const names = formatHeader().split("\n")[1]!;
    expect(fields(names).map((f) => f)).toEqual([
      "ingress", " egress", "  total", "    mem", "   disk", "inflt", "  def", "    req", "    t-o", "        msgs", "clients",
    ]);
  });

  test("row: every column has its width, value and right alignment", () => {
    const prev = channel({ messages: 1000, depth: 300 });
    const cur = channel({
      messages: 1500, depth: 400, backendDepth: 150, inFlight: 12, deferred: 3, requeued: 7, timedOut: 2, clients: 4,
    });
    const row = formatRow(prev, cur, 2000);
    expect(row.endsWith("\n")).toBe(true);
    const f = fields(row.slice(0, -1));
    // ingress = 500/2s; egress = (500 - 100)/2s; total, mem = depth - backend, disk, inflt, def, req, t-o, msgs, clients
    expect(f).toEqual([
      "    250", "    200", "    400", "    250", "    150", "   12", "    3", "      7", "      2", "        1500", "      4",
    ]);
  });

  test("rates truncate toward zero like Go int64() and may be negative", () => {
    const row = formatRow(channel({ messages: 0, depth: 10 }), channel({ messages: 5, depth: 0 }), 3000);
    const f = fields(row.slice(0, -1)).map((s) => s.trim());
    expect(f[0]).toBe("1"); // 5/3 = 1.67 → 1
    expect(f[1]).toBe("5"); // (5 - (-10))/3 = 5
    const neg = fields(formatRow(channel({ messages: 10, depth: 0 }), channel({ messages: 10, depth: 7 }), 2000).slice(0, -1));
    expect(neg[1]!.trim()).toBe("-3"); // (0 - 7)/2 = -3.5 → -3
  });

  test("numbers wider than the column push it wider rather than being cut", () => {
    const row = formatRow(channel({}), channel({ messages: 1234567890123 }), 1000);
    expect(row).toContain(" 1234567890123 ");
  });
});

describe("plain loop against nsqd", () => {
  test("sums the channel across nodes, first poll is a baseline, --count rows then exit 0", async () => {
    // each node advances by +10 messages and +2 depth on every channel-filtered /stats (one per poll)
    const make = (backend: number) => {
      let n = -1;
      return fakeNsqd(() => {
        return [{
          topic_name: "orders",
          channels: [
            { channel_name: "archive", message_count: 100 + 10 * n, depth: 20 + 2 * n, backend_depth: backend, in_flight_count: 3, deferred_count: 1, requeue_count: 5, timeout_count: 1, client_count: 2 },
            { channel_name: "other", message_count: 999999 },
          ],
          message_count: 5000,
        }];
      }, () => n++);
    };
    const a = make(4);
    const b = make(6);
    nodes.push(a, b);
    const out = collect();
    const log = logSink();
    const done = runPlain({
      source: { nsqdHttpAddresses: [a.address, b.address], lookupdHttpAddresses: [] },
      topic: "orders",
      channel: "archive",
      intervalMs: 50,
      count: 3,
      write: out.write,
      logger: log.logger,
    });
    const code = await done;
    expect(code).toBe(0);
    expect(log.lines).toEqual([]);
    const lines = out.text().split("\n").slice(0, -1);
    expect(lines.length).toBe(2 + 3);
    expect(lines[0]).toStartWith("------rate------+");
    for (const row of lines.slice(2)) {
      const f = fields(row).map((s) => Number(s.trim()));
      const [ingress, egress, total, mem, disk, inflt, def, req, to, msgs, clients] = f;
      expect(disk).toBe(10); // 4 + 6
      expect(mem).toBe(total! - 10);
      expect(inflt).toBe(6);
      expect(def).toBe(2);
      expect(req).toBe(10);
      expect(to).toBe(2);
      expect(clients).toBe(4);
      // ingress = 2 nodes × 10 messages / 0.05 s; egress = (20 − 4 depth) / 0.05 s
      expect(ingress).toBe(400);
      expect(egress).toBe(320);
    }
    const msgsColumn = lines.slice(2).map((r) => Number(fields(r)[9]!.trim()));
    const totalColumn = lines.slice(2).map((r) => Number(fields(r)[2]!.trim()));
    expect(msgsColumn).toEqual([220, 240, 260]);
    expect(totalColumn).toEqual([44, 48, 52]);
    // the 999999 of the other channel never leaks into the sum
    expect(out.text()).not.toContain("999999");
    // requests used nsq_stat's query: topic + channel filter, no clients
    expect(a.requests.some((r) => r.includes("/stats?format=json&topic=orders&channel=archive&include_clients=false"))).toBe(true);
  });

  test("header repeats every 25 polls, starting with the first", async () => {
    const n = fakeNsqd(() => [{ topic_name: "t", channels: [{ channel_name: "c", message_count: 1 }] }]);
    nodes.push(n);
    const out = collect();
    const code = await runPlain({
      source: { nsqdHttpAddresses: [n.address], lookupdHttpAddresses: [] },
      topic: "t", channel: "c", intervalMs: 1, count: 30, write: out.write, logger: logSink().logger,
    });
    expect(code).toBe(0);
    const lines = out.text().split("\n").slice(0, -1);
    const headerAt = lines.map((l, i) => (l.startsWith("------rate") ? i : -1)).filter((i) => i >= 0);
    // poll 0: header only; polls 1..24: rows; poll 25: header + row; polls 26..30 rows
    expect(headerAt).toEqual([0, 2 + (HEADER_EVERY - 1)]);
    expect(lines.length).toBe(2 * 2 + 30);
  });

  test("via nsqlookupd: producers from /lookup, stats from each producer", async () => {
    let step = 0;
    const n1 = fakeNsqd(() => [{ topic_name: "t", channels: [{ channel_name: "c", message_count: 10 * step, client_count: 1 }] }]);
    const n2 = fakeNsqd(() => [{ topic_name: "t", channels: [{ channel_name: "c", message_count: 10 * step, client_count: 2 }] }]);
    const unrelated = fakeNsqd(() => [{ topic_name: "x", channels: [{ channel_name: "c", client_count: 50 }] }]);
    nodes.push(n1, n2, unrelated);
    const lookupd = fakeLookupd(() => [
      { port: n1.port, topics: ["t"] },
      { port: n2.port, topics: ["t"] },
      { port: unrelated.port, topics: ["x"] },
    ]);
    nodes.push(lookupd);
    const out = collect();
    const ticker = setInterval(() => step++, 20);
    const code = await runPlain({
      source: { nsqdHttpAddresses: [], lookupdHttpAddresses: [lookupd.address] },
      topic: "t", channel: "c", intervalMs: 100, count: 1, write: out.write, logger: logSink().logger,
    });
    clearInterval(ticker);
    expect(code).toBe(0);
    const row = out.text().split("\n")[2]!;
    expect(fields(row)[10]!.trim()).toBe("3");
    expect(lookupd.requests).toContain("GET /lookup?topic=t");
    expect(unrelated.requests).toEqual([]);
    expect(Number(fields(row)[0]!.trim())).toBeGreaterThan(0);
  });

  test("unknown channel: one ERROR line, exit 1", async () => {
    const n = fakeNsqd(() => [{ topic_name: "t", channels: [{ channel_name: "c" }] }]);
    nodes.push(n);
    const log = logSink();
    const out = collect();
    const code = await runPlain({
      source: { nsqdHttpAddresses: [n.address], lookupdHttpAddresses: [] },
      topic: "t", channel: "nope", intervalMs: 10, count: 1, write: out.write, logger: log.logger,
    });
    expect(code).toBe(1);
    expect(out.text()).toBe("");
    expect(log.lines.length).toBe(1);
    expect(log.lines[0]).toMatch(/ ERROR: channel "nope" of topic "t" not found/);
  });

  test("no nsqd answering: one ERROR line naming the address, exit 1", async () => {
    const n = fakeNsqd(() => []);
    const address = n.address;
    await n.stop();
    const log = logSink();
    const code = await runPlain({
      source: { nsqdHttpAddresses: [address], lookupdHttpAddresses: [] },
      topic: "t", channel: "c", intervalMs: 10, count: 1, write: () => {}, logger: log.logger,
    });
    expect(code).toBe(1);
    expect(log.lines.length).toBe(1);
    expect(log.lines[0]).toContain(address);
  });

  test("a node down among several: warning, rows continue from the rest", async () => {
    const up = fakeNsqd(() => [{ topic_name: "t", channels: [{ channel_name: "c", client_count: 1 }] }]);
    nodes.push(up);
    const gone = fakeNsqd(() => []);
    const goneAddress = gone.address;
    await gone.stop();
    const log = logSink();
    const out = collect();
    const code = await runPlain({
      source: { nsqdHttpAddresses: [up.address, goneAddress], lookupdHttpAddresses: [] },
      topic: "t", channel: "c", intervalMs: 10, count: 1, write: out.write, logger: log.logger,
    });
    expect(code).toBe(0);
    expect(out.text().split("\n").length).toBe(4);
    expect(log.lines.some((l) => l.includes("WARNING") && l.includes(goneAddress))).toBe(true);
  });

  test("abort signal (SIGINT/SIGTERM) ends the loop with exit 0", async () => {
    const n = fakeNsqd(() => [{ topic_name: "t", channels: [{ channel_name: "c" }] }]);
    nodes.push(n);
    const stop = new AbortController();
    const out = collect();
    const run = runPlain({
      source: { nsqdHttpAddresses: [n.address], lookupdHttpAddresses: [] },
      topic: "t", channel: "c", intervalMs: 60_000, count: null, write: out.write, logger: logSink().logger, signal: stop.signal,
    });
    while (!out.text().includes("clients")) await Bun.sleep(5);
    stop.abort();
    expect(await run).toBe(0);
  });
});

describe("flags", () => {
  const parse = (argv: string[]) => parseGoFlags(argv, command.flags);

  test("plain mode needs --topic and --channel", () => {
    expect(() => statSettings(parse(["--nsqd-http-address=127.0.0.1:4151", "--topic=t"]), false)).toThrow(UsageError);
  });
  test("exactly one kind of address, no scheme, host:port", () => {
    expect(() => statSettings(parse(["--topic=t", "--channel=c"]), false)).toThrow(/required/);
    expect(() =>
      statSettings(parse(["--topic=t", "--channel=c", "--nsqd-http-address=a:1", "--lookupd-http-address=b:2"]), false),
    ).toThrow(/not both/);
    expect(() => statSettings(parse(["--topic=t", "--channel=c", "--nsqd-http-address=http://a:1"]), false)).toThrow(/scheme/);
    expect(() => statSettings(parse(["--topic=t", "--channel=c", "--nsqd-http-address=nowhere"]), false)).toThrow(/host:port/);
  });
  test("--count and --interval must be positive; invalid names rejected", () => {
    const base = ["--topic=t", "--channel=c", "--nsqd-http-address=127.0.0.1:1"];
    expect(() => statSettings(parse([...base, "--count=0"]), false)).toThrow(/count/);
    expect(() => statSettings(parse([...base, "--interval=0s"]), false)).toThrow(/interval/);
    expect(() => statSettings(parse(["--topic=bad topic", "--channel=c", "--nsqd-http-address=127.0.0.1:1"]), false)).toThrow(/topic/);
  });
  test("mode: plain off a TTY, with --count or --plain; dashboard on a TTY; defaults", () => {
    const base = ["--topic=t", "--channel=c", "-nsqd-http-address", "127.0.0.1:1"];
    const offTty = statSettings(parse(base), false);
    expect(offTty.mode).toBe("plain");
    expect(offTty.intervalMs).toBe(2000);
    expect(offTty.count).toBeNull();
    expect(offTty.timeouts).toEqual({ connectTimeoutMs: 2000, requestTimeoutMs: 5000 });
    expect(statSettings(parse([...base, "-count", "3"]), true).mode).toBe("plain");
    expect(statSettings(parse([...base, "--plain"]), true).mode).toBe("plain");
    const tty = statSettings(parse(["--lookupd-http-address=127.0.0.1:4161"]), true);
    expect(tty.mode).toBe("dashboard");
    expect(tty.intervalMs).toBe(1000);
    expect(statSettings(parse(["--lookupd-http-address=127.0.0.1:4161", "--interval=250ms"]), true).intervalMs).toBe(250);
  });
});

describe("invoked as nsq_stat (issue 6)", () => {
  const parse = (argv: string[]) => parseGoFlags(argv, command.flags);
  const base = ["--topic=t", "--channel=c", "--nsqd-http-address=127.0.0.1:1"];

  test("the program name nsq_stat always means plain rows, even on a terminal; `nsq stat` keeps the dashboard", () => {
    expect(statSettings(parse(base), true, "nsq_stat").mode).toBe("plain");
    expect(statSettings(parse(base), true, "nsq_stat").intervalMs).toBe(2000);
    expect(statSettings(parse(base), true, "nsq").mode).toBe("dashboard");
    expect(statSettings(parse(base), true).mode).toBe("dashboard");
    // nsq_stat's own rule: --topic and --channel are required
    expect(() => statSettings(parse(["--nsqd-http-address=127.0.0.1:1"]), true, "nsq_stat")).toThrow(/required/);
  });

  test("the name comes from argv[0] (symlink / compiled executable) or the script, path and extension stripped", () => {
    expect(invokedAsNsqStat("/usr/local/bin/nsq_stat", undefined)).toBe(true);
    expect(invokedAsNsqStat("nsq_stat.exe", undefined)).toBe(true);
    expect(invokedAsNsqStat("/usr/local/bin/nsq", "/usr/local/bin/nsq")).toBe(false);
    expect(invokedAsNsqStat("bun", "/work/src/cli.ts")).toBe(false);
    expect(invokedAsNsqStat("bun", "/opt/nsq_stat.ts")).toBe(true);
  });

  // A real terminal (script(1) gives the process a pty) and argv[0] = nsq_stat (bash's exec -a):
  // the multi-call name must print nsq_stat's rows where `nsq stat` would draw the dashboard.
  test.skipIf(!Bun.which("script"))("on a pty, argv[0] nsq_stat prints rows, not the dashboard", async () => {
    let step = 0;
    const n = fakeNsqd(() => [{ topic_name: "t", channels: [{ channel_name: "c", message_count: step++ * 7 }] }]);
    nodes.push(n);
    const root = `${import.meta.dir}/..`;
    const bun = `${root}/node_modules/.bin/bun`;
    const inner = `exec -a nsq_stat ${bun} ${root}/src/cli.ts -topic t -channel c -nsqd-http-address ${n.address} -interval 20ms`;
    const proc = Bun.spawn(["script", "-qfec", `bash -c '${inner}'`, "/dev/null"], {
      cwd: root, stdin: "pipe", stdout: "pipe", stderr: "pipe",
    });
    let out = "";
    const reader = proc.stdout.getReader();
    const decoder = new TextDecoder();
    // a read that never returns (no output at all) must not outlive the test
    const killer = setTimeout(() => proc.kill(), 10_000);
    try {
      while ((out.match(/\|/g) ?? []).length < 8) {
        const { value, done } = await reader.read();
        if (done) break;
        out += decoder.decode(value);
      }
    } finally {
      clearTimeout(killer);
      proc.kill();
      await proc.exited;
    }
    const header = "----------------depth----------------+--------------metadata---------------";
    // on failure show the start of what was printed instead of megabytes of dashboard frames
    expect(out.includes(header) ? "nsq_stat rows" : out.slice(0, 300)).toBe("nsq_stat rows");
    expect(out).not.toContain("\x1b[?1049h"); // the dashboard's alternate screen
    expect(out).not.toContain("nsq stat ·");
  }, 15_000);
});

describe("as a process", () => {
  test("nsq_stat flags through the command's run(): rows on stdout, exit 0", async () => {
    let step = 0;
    const n = fakeNsqd(() => [{ topic_name: "t", channels: [{ channel_name: "c", message_count: step++ * 7 }] }]);
    nodes.push(n);
    const script = `
      import { command } from "./src/commands/stat.ts";
      import { parseGoFlags } from "./src/util/goflags.ts";
      process.exit(await command.run(parseGoFlags(process.argv.slice(process.argv.indexOf("--") + 1), command.flags)) ?? 0);
    `;
    const proc = Bun.spawn(
      ["./node_modules/.bin/bun", "-e", script, "--", "-topic", "t", "-channel", "c", "-nsqd-http-address", n.address, "-interval", "20ms", "-count", "2"],
      { cwd: `${import.meta.dir}/..`, stdout: "pipe", stderr: "pipe" },
    );
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = stdout.split("\n");
    expect(lines.length).toBe(2 + 2 + 1);
    expect(fields(lines[2]!)[9]!.trim()).not.toBe("");
  });
});
