/**
 * `nsq to-nsq` / nsq_to_nsq as a real process (started under its multi-call name), copying a
 * topic from one `nsq serve` process to another that is restarted in the middle of the run.
 *
 * The copy count is NSQ_BRIDGE_MESSAGES (default 100,000; `npm run test:bridge-soak` runs
 * 1,000,000). Every 10th source message fails the JSON filter and must not arrive; the others
 * arrive rewritten to the whitelisted fields, each at least once (a publish whose OK was lost in
 * the restart is sent again: NSQ is at-least-once), none lost.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { Consumer } from "../src/client/consumer.ts";
import { Producer } from "../src/client/producer.ts";
import { goJson, JsonFilter } from "../src/tools/json-filter.ts";
import { multiCallBun, NsqProcess, tempDir } from "./helpers/nsq-process.ts";
import { until } from "./helpers/until.ts";

const COPIES = Number(process.env["NSQ_BRIDGE_MESSAGES"] ?? 100_000);
const TOTAL = Math.ceil(COPIES / 9) * 10; // with every 10th filtered out, at least COPIES pass

let source: { tcpPort: number; httpPort: number };
const link = multiCallBun("nsq_to_nsq");
const running: NsqProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  const data = tempDir("nsq-to-nsq-src-");
  dirs.push(data);
  const ports = await serve(data).ports();
  source = { tcpPort: ports.tcp, httpPort: ports.http };
});

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop("SIGKILL")));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  link.cleanup();
});

function serve(dataPath: string, tcp = 0, http = 0): NsqProcess {
  const p = new NsqProcess(["serve", `--tcp-address=127.0.0.1:${tcp}`, `--http-address=127.0.0.1:${http}`, `--data-path=${dataPath}`]);
  running.push(p);
  return p;
}

async function topicStats(httpPort: number, topic: string): Promise<{ message_count: number; channels: Array<{ channel_name: string; depth: number; in_flight_count: number }> } | undefined> {
  const s = (await (await fetch(`http://127.0.0.1:${httpPort}/stats?format=json&topic=${topic}`)).json()) as {
    topics: null | Array<{ topic_name: string; message_count: number; channels: Array<{ channel_name: string; depth: number; in_flight_count: number }> }>;
  };
  return s.topics?.find((t) => t.topic_name === topic); // null while there are none, as nsqd
}

describe("nsq_to_nsq", () => {
  test(`copies ${TOTAL} messages through a JSON filter to an nsqd restarted mid-run: every passing message arrives, none of the others`, async () => {
    const producer = new Producer(`127.0.0.1:${source.tcpPort}`);
    const BATCH = 2000;
    for (let i = 0; i < TOTAL; i += BATCH) {
      const batch: string[] = [];
      for (let j = i; j < Math.min(TOTAL, i + BATCH); j++) {
        batch.push(JSON.stringify({ pad: "x".repeat(40), kind: j % 10 === 9 ? "drop" : "copy", id: j }));
      }
      await producer.multiPublish("orders", batch);
    }
    await producer.close();

    const data = tempDir("nsq-to-nsq-dest-");
    dirs.push(data);
    let dest = serve(data);
    const ports = await dest.ports();
    // a channel on the destination keeps everything that arrives, across the restart
    await fetch(`http://127.0.0.1:${ports.http}/topic/create?topic=copied`, { method: "POST" });
    await fetch(`http://127.0.0.1:${ports.http}/channel/create?topic=copied&channel=check`, { method: "POST" });

    const bridge = new NsqProcess(
      [
        "--topic=orders",
        `--nsqd-tcp-address=127.0.0.1:${source.tcpPort}`,
        `--destination-nsqd-tcp-address=127.0.0.1:${ports.tcp}`,
        "--destination-topic=copied",
        "--require-json-field=kind",
        "--require-json-value=copy",
        "--whitelist-json-field=id",
        "--whitelist-json-field=kind",
        "--status-every=0",
        // quick retries while the destination is down; never give a message up
        "--consumer-opt=default_requeue_delay,50ms",
        "--consumer-opt=backoff_multiplier,20ms",
        "--consumer-opt=max_backoff_duration,200ms",
        "--consumer-opt=max_attempts,0",
      ],
      link.path,
    );
    running.push(bridge);

    // restart the destination (graceful stop, same ports and data) once a third has arrived
    await until("a third copied", async () => ((await topicStats(ports.http, "copied"))?.message_count ?? 0) >= COPIES / 3, 60_000);
    expect(await dest.stop("SIGTERM")).toBe(0);
    dest = serve(data, ports.tcp, ports.http);
    await dest.ports();

    // done when the source channel is drained and every answer is in
    await until("source channel drained", async () => {
      const c = (await topicStats(source.httpPort, "orders"))?.channels.find((ch) => ch.channel_name === "nsq_to_nsq");
      return c !== undefined && c.depth === 0 && c.in_flight_count === 0;
    }, 120_000);
    expect(await bridge.stop("SIGTERM")).toBe(0);
    expect(bridge.log).toMatch(/publish failed/); // the restart was noticed
    expect(bridge.log).toContain(`nsq_to_nsq: received`);

    // read back everything the destination holds
    const counts = new Uint8Array(TOTAL);
    let wrong = 0;
    let received = 0;
    const expectedBody = (id: number): string => `{"id":${id},"kind":"copy"}`;
    const reader = new Consumer({
      topic: "copied",
      channel: "check",
      config: { maxInFlight: 2500 },
      handler: (m) => {
        received++;
        const body = m.body.toString();
        const id = Number(/^\{"id":(\d+),/.exec(body)?.[1] ?? -1);
        if (id < 0 || id >= TOTAL || body !== expectedBody(id) || id % 10 === 9) wrong++;
        else if (counts[id]! < 255) counts[id]!++;
      },
    });
    const destHttp = ports.http;
    await reader.connectToNsqd(`127.0.0.1:${ports.tcp}`);
    await until("destination read back", async () => {
      const c = (await topicStats(destHttp, "copied"))?.channels.find((ch) => ch.channel_name === "check");
      return c !== undefined && c.depth === 0 && c.in_flight_count === 0;
    }, 120_000);
    await reader.stop();

    let missing = 0;
    let duplicated = 0;
    for (let id = 0; id < TOTAL; id++) {
      if (id % 10 === 9) continue;
      if (counts[id] === 0) missing++;
      else if (counts[id]! > 1) duplicated++;
    }
    if (process.env["NSQ_BRIDGE_DEBUG"]) console.log({ received, duplicated, missing, wrong }, bridge.log.split("\n").filter((l) => /publish failed|received|backing off/.test(l)).slice(-6).join("\n"));
    expect({ wrong, missing }).toEqual({ wrong: 0, missing: 0 });
    expect(received).toBeGreaterThanOrEqual(TOTAL - TOTAL / 10);
    // at-least-once: only publishes caught by the restart may arrive twice
    expect(duplicated).toBeLessThan(1000);
  }, 240_000);

  test("SIGTERM mid-copy: exits 0 once every outstanding publish is answered; copied + still queued = published, no duplicates", async () => {
    const N = 20_000;
    const producer = new Producer(`127.0.0.1:${source.tcpPort}`);
    for (let i = 0; i < N; i += 2000) await producer.multiPublish("stopping", Array.from({ length: 2000 }, (_, j) => `m${i + j}`));
    await producer.close();
    const data = tempDir("nsq-to-nsq-stop-");
    dirs.push(data);
    const dest = serve(data);
    const ports = await dest.ports();
    const bridge = new NsqProcess(
      ["--topic=stopping", `--nsqd-tcp-address=127.0.0.1:${source.tcpPort}`, `--destination-nsqd-tcp-address=127.0.0.1:${ports.tcp}`, "--mode=round-robin"],
      link.path,
    );
    running.push(bridge);
    await until("copying under way", async () => ((await topicStats(ports.http, "stopping"))?.message_count ?? 0) >= 2000, 30_000);
    expect(await bridge.stop("SIGTERM")).toBe(0);
    const copied = (await topicStats(ports.http, "stopping"))!.message_count;
    const left = (await topicStats(source.httpPort, "stopping"))!.channels.find((c) => c.channel_name === "nsq_to_nsq")!;
    expect(left.in_flight_count).toBe(0);
    expect(copied + left.depth).toBe(N);
    expect(bridge.log).toMatch(new RegExp(`finished ${copied} \\(0 not forwarded\\), requeued 0`));
  }, 60_000);

  test("flag checks as nsq_to_nsq", async () => {
    const cases: Array<[string[], string]> = [
      [["--nsqd-tcp-address=127.0.0.1:1", "--destination-nsqd-tcp-address=127.0.0.1:2"], "--topic and --channel are required"],
      [["--topic=bad topic", "--nsqd-tcp-address=127.0.0.1:1"], "--topic is invalid"],
      [["--topic=t", "--destination-topic=x/y", "--nsqd-tcp-address=127.0.0.1:1"], "--destination-topic is invalid"],
      [["--topic=t", "--channel=a b", "--nsqd-tcp-address=127.0.0.1:1"], "--channel is invalid"],
      [["--topic=t", "--destination-nsqd-tcp-address=127.0.0.1:2"], "--nsqd-tcp-address or --lookupd-http-address required"],
      [["--topic=t", "--nsqd-tcp-address=127.0.0.1:1"], "--destination-nsqd-tcp-address required"],
    ];
    for (const [args, text] of cases) {
      const p = new NsqProcess(args, link.path);
      running.push(p);
      expect(await p.proc.exited).toBe(2);
      expect(p.log).toContain(text);
    }
  }, 30_000);
});

test("`nsq help` lists to-http and to-nsq; install-links creates nsq_to_http and nsq_to_nsq", async () => {
  const help = new NsqProcess(["help"]);
  expect(await help.proc.exited).toBe(0);
  await until("help output", () => help.stdout.includes("to-nsq"));
  expect(help.stdout).toContain("nsq to-http");
  expect(help.stdout).toContain("nsq to-nsq");
  const dir = tempDir("nsq-links-");
  dirs.push(dir);
  const install = new NsqProcess(["install-links", dir]);
  expect(await install.proc.exited).toBe(0);
  for (const name of ["nsq_to_http", "nsq_to_nsq"]) {
    const version = Bun.spawnSync([`${dir}/${name}`, "--version"]);
    expect(version.stdout.toString()).toBe(`${name} v1.3.0\n`);
  }
}, 20_000);

describe("JSON filter as nsq_to_nsq", () => {
  const filter = (requireField: string, requireValue: string, whitelistFields: string[] = []) =>
    new JsonFilter({ requireField, requireValue, whitelistFields });
  const body = (s: string) => Buffer.from(s);

  test("require field / value: strings compare as text, numbers as float64, other types never match", () => {
    expect(filter("k", "").apply(body('{"k":false}')).action).toBe("publish");
    expect(filter("k", "").apply(body('{"x":1}'))).toEqual({ action: "skip", reason: "filtered" });
    expect(filter("k", "v").apply(body('{"x":1}'))).toEqual({ action: "backoff" });
    expect(filter("k", "v").apply(body('{"k":"v"}')).action).toBe("publish");
    expect(filter("k", "1e3").apply(body('{"k":1000}')).action).toBe("publish");
    expect(filter("k", "1000").apply(body('{"k":"1e3"}')).action).toBe("skip");
    expect(filter("k", "true").apply(body('{"k":true}')).action).toBe("skip");
    expect(filter("k", "v").apply(body("not json"))).toEqual({ action: "skip", reason: "invalid-json" });
    expect(filter("k", "v").apply(body("[1]"))).toEqual({ action: "skip", reason: "invalid-json" });
  });

  test("whitelist: Go's encoding/json output (sorted keys, HTML-safe strings, integers as integers)", () => {
    const r = filter("", "", ["z", "a", "missing", "html"]).apply(body('{"a":1.0,"z":{"y":2,"b":[0.5,"x"]},"html":"<a&b>","drop":1}'));
    expect(r.action).toBe("publish");
    if (r.action === "publish") expect(Buffer.from(r.body).toString()).toBe('{"a":1,"html":"\\u003ca\\u0026b\\u003e","z":{"b":[0.5,"x"],"y":2}}');
    expect(goJson({ big: 1e21, small: 1e-7, s: "line\u2028sep" })).toBe('{"big":1e+21,"s":"line\\u2028sep","small":1e-7}');
  });
});
