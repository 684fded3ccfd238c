/**
 * `nsq to-http` / nsq_to_http as a real process (started under its multi-call name: the Bun
 * executable symlinked as `nsq_to_http`), fed by a broker on a free port, delivering to an HTTP
 * server in this test (Bun.serve) that records every request.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { Producer } from "../src/client/producer.ts";
import { fillGetTemplate, parseCustomHeaders, queryEscape } from "../src/tools/to-http.ts";
import { HostPool } from "../src/tools/host-pool.ts";
import { ConnectProbe } from "../src/tools/connect-probe.ts";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { multiCallBun, NsqProcess } from "./helpers/nsq-process.ts";
import { until } from "./helpers/until.ts";

interface Seen {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: string;
  status: number;
}

let broker: TestBroker;
let server: Server<undefined>;
let seen: Seen[] = [];
/** decides the status of each request (default 200); may delay the answer */
let respond: (req: Seen) => number | Promise<number> = () => 200;
const link = multiCallBun("nsq_to_http");
const running: NsqProcess[] = [];

beforeAll(async () => {
  broker = await startBroker();
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      const rec: Seen = {
        method: req.method,
        path: url.pathname,
        query: url.search.slice(1),
        headers: Object.fromEntries(req.headers.entries()),
        body: await req.text(),
        status: 0,
      };
      rec.status = await respond(rec);
      seen.push(rec);
      return new Response(rec.status === 200 ? "ok" : "nope", { status: rec.status });
    },
  });
});

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop("SIGKILL")));
  server.stop(true);
  await broker.stop();
  link.cleanup();
});

function toHttp(args: string[]): NsqProcess {
  const p = new NsqProcess(["--nsqd-tcp-address", `127.0.0.1:${broker.tcpPort}`, "--status-every=0", ...args], link.path);
  running.push(p);
  return p;
}

async function publish(topic: string, bodies: string[]): Promise<void> {
  const p = new Producer(`127.0.0.1:${broker.tcpPort}`);
  await p.multiPublish(topic, bodies);
  await p.close();
}

interface ChannelStats {
  depth: number;
  in_flight_count: number;
  requeue_count: number;
  message_count: number;
}
async function channelStats(topic: string, channel = "nsq_to_http"): Promise<ChannelStats> {
  const s = (await (await broker.http(`/stats?format=json&topic=${topic}`)).json()) as {
    topics: Array<{ topic_name: string; channels: Array<ChannelStats & { channel_name: string }> }>;
  };
  const c = s.topics.find((t) => t.topic_name === topic)?.channels.find((ch) => ch.channel_name === channel);
  if (!c) throw new Error(`no channel ${topic}/${channel}`);
  return c;
}

describe("nsq_to_http", () => {
  test("POST: body, Content-Type, custom headers and User-Agent; FIN after the 2xx; SIGTERM exits 0", async () => {
    seen = [];
    respond = (r) => (r.path === "/created" ? 201 : 200);
    const bodies = ["one", "two", '{"three":3}'];
    await publish("posts", bodies);
    const p = toHttp([
      "--topic=posts",
      "--post",
      `http://127.0.0.1:${server.port}/created`,
      "--content-type=application/json",
      "--header",
      "X-Trace: abc",
      "-header=Authorization:Bearer t0ken",
    ]);
    await until("3 POSTs", () => seen.length >= 3);
    expect(seen.map((s) => s.body).sort()).toEqual([...bodies].sort());
    for (const s of seen) {
      expect(s.method).toBe("POST");
      expect(s.headers["content-type"]).toBe("application/json");
      expect(s.headers["x-trace"]).toBe("abc");
      expect(s.headers["authorization"]).toBe("Bearer t0ken");
      expect(s.headers["user-agent"]).toBe("nsq_to_http v1.3.0");
    }
    await until("FINs", async () => (await channelStats("posts")).in_flight_count === 0);
    p.proc.kill("SIGUSR1"); // statistics on demand
    await p.waitFor(/nsq_to_http: received 3, finished 3 \(0 not forwarded\), requeued 0/);
    expect(await p.stop("SIGTERM")).toBe(0);
    const c = await channelStats("posts");
    expect([c.depth, c.in_flight_count, c.requeue_count]).toEqual([0, 0, 0]);
    expect(p.log).toContain("nsq_to_http: received 3, finished 3");
  }, 20_000);

  test("GET: the body query-escaped into the template's %s; only 200 counts; status lines", async () => {
    seen = [];
    let first204 = true;
    respond = (r) => {
      // a 204 is success for POST but not for GET (nsq_to_http wants exactly 200): sent again
      if (r.query.endsWith("plain") && first204) {
        first204 = false;
        return 204;
      }
      return 200;
    };
    const bodies = ["a b&c/é", "100%", "plain"];
    await publish("gets", bodies);
    const p = toHttp([
      "--topic=gets",
      "--get",
      `http://127.0.0.1:${server.port}/hook?v=1&msg=%s`,
      "--header=X-Env: test",
      "--status-every=2",
      "--consumer-opt=default_requeue_delay,10ms",
      "--consumer-opt=backoff_multiplier,10ms",
    ]);
    await until("3 GETs answered 200", () => seen.filter((s) => s.status === 200).length >= 3);
    expect(seen.filter((s) => s.status === 200).map((s) => s.query).sort()).toEqual(["v=1&msg=100%25", "v=1&msg=a+b%26c%2F%C3%A9", "v=1&msg=plain"]);
    expect(seen.filter((s) => s.status === 204).map((s) => s.query)).toEqual(["v=1&msg=plain"]);
    for (const s of seen) {
      expect(s.method).toBe("GET");
      expect(s.headers["x-env"]).toBe("test");
      expect(s.headers["content-type"]).toBeUndefined();
    }
    // timer_metrics: a warning for a small window, then a line each time the window of 2 wraps
    await p.waitFor(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[aggregate\]: finished 2 - 99th: [\d.]+ms - 95th: [\d.]+ms - avg: [\d.]+ms$/m);
    expect(p.log).toContain("Warning: use more than 100 status values for accurate percentiles (configured with 2)");
    expect(await p.stop("SIGINT")).toBe(0);
  }, 20_000);

  test("a server answering 500 for a while: every message still arrives exactly once with a 2xx after it recovers", async () => {
    seen = [];
    let failing = true;
    respond = () => (failing ? 500 : 200);
    const bodies = Array.from({ length: 60 }, (_, i) => `m${i}`);
    await publish("flaky", bodies);
    const p = toHttp([
      "--topic=flaky",
      "--post",
      `http://127.0.0.1:${server.port}/flaky`,
      "--n=4",
      "--max-in-flight=20",
      // quick retries so the test is short; max_attempts 0 = never give a message up
      "--consumer-opt=default_requeue_delay,20ms",
      "--consumer-opt=backoff_multiplier,10ms",
      "--consumer-opt=max_backoff_duration,100ms",
      "--consumer-opt=max_attempts,0",
    ]);
    await until("40 failed requests", () => seen.filter((s) => s.status === 500).length >= 40);
    failing = false;
    const ok = (): string[] => seen.filter((s) => s.status === 200).map((s) => s.body);
    await until("every message delivered", () => new Set(ok()).size === bodies.length, 20_000);
    await until("channel drained", async () => {
      const c = await channelStats("flaky");
      return c.depth === 0 && c.in_flight_count === 0;
    });
    expect(ok().sort()).toEqual([...bodies].sort()); // each exactly once
    expect((await channelStats("flaky")).requeue_count).toBeGreaterThan(0);
    expect(p.log).toContain("got status code 500");
    expect(await p.stop("SIGTERM")).toBe(0);
  }, 40_000);

  test("SIGTERM with requests under way: they finish and are FINished, waiting messages are requeued, none lost", async () => {
    seen = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let arrived = 0;
    respond = async () => {
      arrived++;
      await held;
      return 200;
    };
    const bodies = Array.from({ length: 10 }, (_, i) => `s${i}`);
    await publish("stopping", bodies);
    const p = toHttp(["--topic=stopping", "--post", `http://127.0.0.1:${server.port}/slow`, "--n=2", "--max-in-flight=10"]);
    await until("2 requests under way", () => arrived === 2);
    await until("10 in flight", async () => (await channelStats("stopping")).in_flight_count === 10);
    p.proc.kill("SIGTERM");
    // the 8 waiting ones go back at once while the 2 requests are still held
    await until("8 requeued", async () => (await channelStats("stopping")).depth === 8);
    release();
    expect(await p.stop("SIGTERM")).toBe(0);
    const c = await channelStats("stopping");
    expect([c.depth, c.in_flight_count]).toEqual([8, 0]);
    expect(seen.length).toBe(2);
    expect(arrived).toBe(2);
  }, 20_000);

  test("flag checks as nsq_to_http", async () => {
    const cases: Array<[string[], string]> = [
      [["--post=http://x/"], "--topic and --channel are required"],
      [["--topic=t", "--get=http://x/%s", "--content-type=text/plain"], "--content-type only used with --post"],
      [["--topic=t"], "--get or --post required"],
      [["--topic=t", "--get=http://x/%s", "--post=http://x/"], "use --get or --post not both"],
      [["--topic=t", "--get=http://x/"], "invalid GET address - must be a printf string"],
      [["--topic=t", "--post=http://x/", "--header=nocolon"], "--header value format should be 'key=value'"],
      [["--topic=t", "--post=http://x/", "--sample=1.5"], "--sample must be between 0.0 and 1.0"],
    ];
    for (const [args, text] of cases) {
      const p = toHttp(args);
      expect(await p.proc.exited).toBe(2);
      expect(p.log).toContain(text);
      expect(p.log).toContain("nsq_to_http:");
    }
    const v = new NsqProcess(["--version"], link.path);
    expect(await v.proc.exited).toBe(0);
    await until("version output", () => v.stdout.length > 0);
    expect(v.stdout).toBe("nsq_to_http v1.3.0\n");
  }, 30_000);
});

describe("pieces", () => {
  test("connect probe: a refused port fails the request before fetch; a listening one passes, then is trusted", async () => {
    const probe = new ConnectProbe(1000);
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const refusedPort = closed.port;
    closed.stop(true);
    await expect(probe.check(`http://127.0.0.1:${refusedPort}/x`)).rejects.toThrow(/dial tcp 127.0.0.1:\d+/);
    await probe.check(`http://127.0.0.1:${server.port}/x`);
    probe.answered(`http://127.0.0.1:${server.port}/y`);
    await expect(probe.check(`http://127.0.0.1:${server.port}/z`)).resolves.toBeUndefined();
  });

  test("Go's url.QueryEscape and Sprintf of the GET template", () => {
    expect(queryEscape(Buffer.from("a b+c~d_e.f-g!*'()"))).toBe("a+b%2Bc~d_e.f-g%21%2A%27%28%29");
    expect(queryEscape(Buffer.from([0xff, 0x00]))).toBe("%FF%00");
    expect(fillGetTemplate("http://h/p?x=%s&pct=100%%", "v")).toBe("http://h/p?x=v&pct=100%");
  });

  test("custom headers: key:value trimmed, later ones win", () => {
    expect(parseCustomHeaders(["A: 1", "b:2", "a:3"])).toEqual([
      ["a", "3"],
      ["b", "2"],
    ]);
    expect(() => parseCustomHeaders(["x:"])).toThrow("key=value");
  });

  test("hostpool: round-robin over live hosts, a failed host skipped for 30 s, all dead → all revived", () => {
    let now = 0;
    const pool = new HostPool(["a", "b", "c"], false, () => now);
    expect([pool.get().host, pool.get().host, pool.get().host, pool.get().host]).toEqual(["a", "b", "c", "a"]);
    pool.get().mark(new Error("down")); // b
    expect([pool.get().host, pool.get().host, pool.get().host]).toEqual(["c", "a", "c"]);
    now += 30_001;
    expect(pool.get().host).toBe("a");
    expect(pool.get().host).toBe("b"); // retried after 30 s
    for (const h of ["c", "a"]) {
      const choice = pool.get();
      expect(choice.host).toBe(h);
      choice.mark(new Error("down"));
    }
    // a, b (retry delay doubled to 60 s) and c are all dead: every host is revived, from the first
    // (go-hostpool resets its index to 0 after returning it, so the first comes twice)
    expect([pool.get().host, pool.get().host, pool.get().host]).toEqual(["a", "a", "b"]);
    pool.close();
  });
});
