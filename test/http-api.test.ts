/**
 * nsqd's HTTP API (spec §3): every route, every error status and body, the response headers,
 * and the effects of each route observed where they matter: on the TCP wire and in /stats.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, hostname } from "node:os";
import { join } from "node:path";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient, subscriber } from "./helpers/raw-client.ts";
import { RawHttp } from "./helpers/raw-http.ts";
import { silentLogger } from "../src/util/logger.ts";
import { eventually } from "./helpers/until.ts";

const JSON_TYPE = "application/json; charset=utf-8";
const NSQ_HEADER = "nsq; version=1.0";

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

async function call(b: TestBroker, path: string, init?: RequestInit): Promise<Reply> {
  const res = await b.http(path, { redirect: "manual", ...init });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const post = (b: TestBroker, path: string, body?: RequestInit["body"]) => call(b, path, { method: "POST", body });

function expectError(r: Reply, status: number, code: string): void {
  expect({ status: r.status, text: r.text }).toEqual({ status, text: JSON.stringify({ message: code }) });
  expect(r.headers.get("content-type")).toBe(JSON_TYPE);
  expect(r.headers.get("x-nsq-content-type")).toBe(NSQ_HEADER);
}

function expectEmptyOk(r: Reply): void {
  expect({ status: r.status, text: r.text }).toEqual({ status: 200, text: "" });
  expect(r.headers.get("x-nsq-content-type")).toBe(NSQ_HEADER);
}

function expectOk(r: Reply): void {
  expect({ status: r.status, text: r.text }).toEqual({ status: 200, text: "OK" });
  expect(r.headers.get("x-nsq-content-type")).toBe(NSQ_HEADER);
}

interface JsonStats {
  topics: {
    topic_name: string;
    depth: number;
    message_count: number;
    paused: boolean;
    channels: { channel_name: string; depth: number; in_flight_count: number; deferred_count: number; message_count: number; paused: boolean; client_count: number }[];
  }[] | null;
}

async function stats(b: TestBroker, query = ""): Promise<JsonStats> {
  const r = await call(b, `/stats?format=json${query}`);
  expect(r.status).toBe(200);
  return JSON.parse(r.text) as JsonStats;
}

async function topicStats(b: TestBroker, topic: string) {
  const s = await stats(b, `&topic=${topic}`);
  return s.topics?.[0];
}

function binaryMpub(bodies: (string | Uint8Array)[], countOverride?: number): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4)];
  parts[0]!.writeInt32BE(countOverride ?? bodies.length);
  for (const b of bodies) {
    const bb = Buffer.from(b);
    const s = Buffer.alloc(4);
    s.writeInt32BE(bb.length);
    parts.push(s, bb);
  }
  return Buffer.concat(parts);
}

const clients: RawClient[] = [];
async function sub(b: TestBroker, topic: string, channel: string, rdy = 10): Promise<RawClient> {
  const c = await subscriber(b.tcpPort, topic, channel, rdy);
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

let topicSeq = 0;
const freshTopic = (prefix = "t") => `${prefix}${++topicSeq}_${Date.now() % 100000}`;

describe("nsqd HTTP API", () => {
  let b: TestBroker;
  beforeAll(async () => {
    b = await startBroker({ maxMsgSize: 100, maxBodySize: 1000, maxReqTimeout: 5000, broadcastAddress: "bcast.example" });
  });
  afterAll(async () => {
    await b.stop();
  });

  describe("conventions", () => {
    test("/ping answers plain OK (PlainText route: no X-NSQ-Content-Type)", async () => {
      const r = await call(b, "/ping");
      expect({ status: r.status, text: r.text }).toEqual({ status: 200, text: "OK" });
      expect(r.headers.get("x-nsq-content-type")).toBeNull();
      expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    });

    test("/info reports version, actual ports and durations in nanoseconds, in nsqd's key order", async () => {
      const r = await call(b, "/info");
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe(JSON_TYPE);
      expect(r.headers.get("x-nsq-content-type")).toBe(NSQ_HEADER);
      const info = JSON.parse(r.text) as Record<string, unknown>;
      expect(Object.keys(info)).toEqual([
        "version",
        "broadcast_address",
        "hostname",
        "http_port",
        "tcp_port",
        "start_time",
        "max_heartbeat_interval",
        "max_output_buffer_size",
        "max_output_buffer_timeout",
        "max_deflate_level",
        "nsq_version",
        "runtime",
      ]);
      expect(info).toEqual({
        version: "1.3.0",
        broadcast_address: "bcast.example",
        hostname: hostname(),
        http_port: b.httpPort,
        tcp_port: b.tcpPort,
        start_time: b.nsqd.startTime,
        max_heartbeat_interval: 60_000_000_000,
        max_output_buffer_size: 65536,
        max_output_buffer_timeout: 30_000_000_000,
        max_deflate_level: 6,
        // beyond nsqd: this implementation's own version and runtime (clients ignore the fields)
        nsq_version: (await Bun.file(join(import.meta.dir, "..", "package.json")).json()).version,
        runtime: `bun ${Bun.version}`,
      });
    });

    test("unknown path → 404 NOT_FOUND; wrong method → 405 METHOD_NOT_ALLOWED with Allow", async () => {
      expectError(await call(b, "/nope"), 404, "NOT_FOUND");
      expectError(await call(b, "/dpub", { method: "POST", body: "x" }), 404, "NOT_FOUND");
      expectError(await call(b, "/put", { method: "POST", body: "x" }), 404, "NOT_FOUND");
      const r = await call(b, "/pub?topic=x");
      expectError(r, 405, "METHOD_NOT_ALLOWED");
      expect(r.headers.get("allow")).toBe("OPTIONS, POST");
      expectError(await post(b, "/stats"), 405, "METHOD_NOT_ALLOWED");
      expectError(await call(b, "/topic/create?topic=x"), 405, "METHOD_NOT_ALLOWED");
      expectError(await call(b, "/config/log_level", { method: "POST" }), 405, "METHOD_NOT_ALLOWED");
      const opts = await call(b, "/topic/pause", { method: "OPTIONS" });
      expect(opts.status).toBe(200);
      expect(opts.headers.get("allow")).toBe("OPTIONS, POST");
    });

    test("a path differing only by a trailing slash is redirected like httprouter does", async () => {
      const r = await call(b, "/stats/?format=json");
      expect(r.status).toBe(301);
      expect(r.headers.get("location")).toBe("/stats?format=json");
      const p = await call(b, "/debug/pprof");
      expect(p.status).toBe(301);
      expect(p.headers.get("location")).toBe("/debug/pprof/");
    });

    test("a bad % escape or a ';' in the query → 400 INVALID_REQUEST", async () => {
      expectError(await call(b, "/stats?topic=%zz"), 400, "INVALID_REQUEST");
      expectError(await call(b, "/stats?format=json;topic=x"), 400, "INVALID_REQUEST");
      expectError(await post(b, "/topic/create?topic=%4"), 400, "INVALID_REQUEST");
      expectError(await post(b, "/pub?topic=%g1", "body"), 400, "INVALID_REQUEST");
      expectError(await post(b, "/channel/create?topic=a&channel=%"), 400, "INVALID_REQUEST");
      // the body checks of /pub come first, as in nsqd
      expectError(await post(b, "/pub?topic=%g1", ""), 400, "MSG_EMPTY");
    });

    test("only the first value of a repeated parameter counts; '+' is a space", async () => {
      const t = freshTopic();
      expectEmptyOk(await post(b, `/topic/create?topic=${t}&topic=other_${t}`));
      expect(b.nsqd.getTopic(t)).toBeDefined();
      expect(b.nsqd.getTopic(`other_${t}`)).toBeUndefined();
      expectError(await post(b, "/topic/create?topic=a+b"), 400, "INVALID_TOPIC");
    });

    test("a client speaking the TCP protocol to the HTTP port gets 400 and is disconnected", async () => {
      for (const bytes of ["  V2", "  V2PUB t\n\x00\x00\x00\x01a", "  V2IDENTIFY\n"]) {
        const c = await RawHttp.connect(b.httpPort);
        c.write(bytes);
        const all = await c.readAll(3000);
        c.close();
        expect(all.startsWith("HTTP/1.1 400")).toBe(true);
      }
    });
  });

  describe("POST /pub", () => {
    test("publishes the whole body (newlines included) as one message, delivered over TCP", async () => {
      const t = freshTopic();
      const c = await sub(b, t, "ch");
      const before = Date.now() * 1e6;
      expectOk(await post(b, `/pub?topic=${t}`, "hello\nworld\r\n"));
      const m = await c.readMessage();
      expect(m.body.toString()).toBe("hello\nworld\r\n");
      expect(m.attempts).toBe(1);
      expect(m.id).toMatch(/^[0-9a-f]{16}$/);
      expect(Number(m.timestampNs)).toBeGreaterThanOrEqual(before - 1e6);
      const ts = await topicStats(b, t);
      expect(ts?.message_count).toBe(1);
      // HTTP publishers are not connections: never listed as producers
      const full = JSON.parse((await call(b, "/stats?format=json")).text) as { producers: unknown };
      expect(full.producers).toBeNull();
    });

    test("PUT is not an alias of POST", async () => {
      expectError(await call(b, "/pub?topic=x", { method: "PUT", body: "a" }), 405, "METHOD_NOT_ALLOWED");
    });

    test("body size: exactly max-msg-size is accepted, one more byte is 413 MSG_TOO_BIG", async () => {
      const t = freshTopic();
      expectOk(await post(b, `/pub?topic=${t}`, "x".repeat(100)));
      expectError(await post(b, `/pub?topic=${t}`, "x".repeat(101)), 413, "MSG_TOO_BIG");
      expect((await topicStats(b, t))?.message_count).toBe(1);
    });

    test("Content-Length above the limit is refused before the body is read", async () => {
      const c = await RawHttp.connect(b.httpPort);
      // declares 10 MB but sends nothing: nsqd answers from the header alone
      c.write(`POST /pub?topic=big HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n`);
      const r = await c.readResponse();
      c.close();
      expect(r.status).toBe(413);
      expect(r.body).toBe('{"message":"MSG_TOO_BIG"}');
      expect(b.nsqd.getTopic("big")).toBeUndefined();
    });

    test("a chunked body longer than the limit → 413 MSG_TOO_BIG, and nothing is published", async () => {
      const t = freshTopic();
      const c = await RawHttp.connect(b.httpPort);
      c.startChunked("POST", `/pub?topic=${t}`);
      c.chunk("y".repeat(60));
      c.chunk("y".repeat(60));
      c.end();
      const r = await c.readResponse();
      c.close();
      expect(r.status).toBe(413);
      expect(r.body).toBe('{"message":"MSG_TOO_BIG"}');
      expect(b.nsqd.getTopic(t)).toBeUndefined();
    });

    test("a chunked body within the limit is published", async () => {
      const t = freshTopic();
      const consumer = await sub(b, t, "ch");
      const c = await RawHttp.connect(b.httpPort);
      c.startChunked("POST", `/pub?topic=${t}`);
      c.chunk("part1-");
      c.chunk("part2");
      c.end();
      const r = await c.readResponse();
      c.close();
      expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: "OK" });
      expect((await consumer.readMessage()).body.toString()).toBe("part1-part2");
    });

    test("errors in nsqd's order: MSG_EMPTY, MISSING_ARG_TOPIC, INVALID_TOPIC", async () => {
      expectError(await post(b, "/pub"), 400, "MSG_EMPTY");
      expectError(await post(b, "/pub?topic=bad!name"), 400, "MSG_EMPTY");
      expectError(await post(b, "/pub", "x"), 400, "MISSING_ARG_TOPIC");
      expectError(await post(b, "/pub?topic=bad!name", "x"), 400, "INVALID_TOPIC");
      expectError(await post(b, `/pub?topic=${"a".repeat(65)}`, "x"), 400, "INVALID_TOPIC");
    });

    test("defer must be 0..max-req-timeout ms; the topic is created even when defer is rejected", async () => {
      for (const bad of ["-1", "abc", "1.5", "5001", "", "99999999999999999999", "0x10"]) {
        const t = freshTopic();
        expectError(await post(b, `/pub?topic=${t}&defer=${bad}`, "x"), 400, "INVALID_DEFER");
        expect(b.nsqd.getTopic(t)).toBeDefined();
        expect((await topicStats(b, t))?.message_count).toBe(0);
      }
      const t = freshTopic();
      expectOk(await post(b, `/pub?topic=${t}&defer=5000`, "x"));
      expectOk(await post(b, `/pub?topic=${t}&defer=%2B0`, "y"));
      expect((await topicStats(b, t))?.message_count).toBe(2);
    });

    test("defer=N holds the message in the channel's deferred set for N ms", async () => {
      const t = freshTopic();
      const c = await sub(b, t, "ch");
      const sent = Date.now();
      expectOk(await post(b, `/pub?topic=${t}&defer=400`, "later"));
      expectOk(await post(b, `/pub?topic=${t}&defer=0`, "now"));
      expect((await c.readMessage()).body.toString()).toBe("now");
      const ch = (await topicStats(b, t))?.channels[0];
      expect(ch?.deferred_count).toBe(1);
      expect(ch?.message_count).toBe(2);
      const m = await c.readMessage();
      expect(m.body.toString()).toBe("later");
      expect(Date.now() - sent).toBeGreaterThanOrEqual(390);
    });
  });

  describe("POST /mpub", () => {
    test("text mode: split on \\n, \\r kept, empty lines skipped, order preserved", async () => {
      const t = freshTopic();
      const c = await sub(b, t, "ch");
      expectOk(await post(b, `/mpub?topic=${t}`, "one\ntwo\r\n\n\nthree"));
      const got = [await c.readMessage(), await c.readMessage(), await c.readMessage()].map((m) => m.body.toString());
      expect(got).toEqual(["one", "two\r", "three"]);
      const ts = await topicStats(b, t);
      expect(ts?.message_count).toBe(3);
      expect(ts?.channels[0]?.message_count).toBe(3);
    });

    test("text mode: an empty body publishes nothing and still answers OK (topic created)", async () => {
      const t = freshTopic();
      expectOk(await post(b, `/mpub?topic=${t}`, ""));
      expectOk(await post(b, `/mpub?topic=${t}&binary=false`, "\n\n"));
      expect((await topicStats(b, t))?.message_count).toBe(0);
    });

    test("text mode limits: a line over max-msg-size → 413 MSG_TOO_BIG; body over max-body-size → 413 BODY_TOO_BIG", async () => {
      const t = freshTopic();
      expectError(await post(b, `/mpub?topic=${t}`, `ok\n${"z".repeat(101)}\nok`), 413, "MSG_TOO_BIG");
      expectError(await post(b, `/mpub?topic=${t}`, "a\n".repeat(501)), 413, "BODY_TOO_BIG");
      // a body of exactly max-body-size is fine
      expectOk(await post(b, `/mpub?topic=${t}`, "a\n".repeat(500)));
      expect((await topicStats(b, t))?.message_count).toBe(500);
      // chunked (no Content-Length): the limit is found while reading
      const c = await RawHttp.connect(b.httpPort);
      c.startChunked("POST", `/mpub?topic=${t}`);
      for (let i = 0; i < 11; i++) c.chunk("b\n".repeat(50));
      c.end();
      const r = await c.readResponse();
      c.close();
      expect({ status: r.status, body: r.body }).toEqual({ status: 413, body: '{"message":"BODY_TOO_BIG"}' });
      expect((await topicStats(b, t))?.message_count).toBe(500);
    });

    test("binary mode: true/1 and any unrecognised value are binary; false/0 are text", async () => {
      const t = freshTopic();
      const c = await sub(b, t, "ch");
      expectOk(await post(b, `/mpub?topic=${t}&binary=true`, binaryMpub(["b1", "line\nwith newline"])));
      expectOk(await post(b, `/mpub?topic=${t}&binary=1`, binaryMpub(["b2"])));
      expectOk(await post(b, `/mpub?topic=${t}&binary=yes`, binaryMpub(["b3"])));
      expectOk(await post(b, `/mpub?topic=${t}&binary=0`, "t1\nt2"));
      const got: string[] = [];
      for (let i = 0; i < 6; i++) got.push((await c.readMessage()).body.toString());
      expect(got).toEqual(["b1", "line\nwith newline", "b2", "b3", "t1", "t2"]);
      const ts = await topicStats(b, t);
      expect(ts?.message_count).toBe(6);
    });

    test("binary mode errors are 413 BAD_BODY / BAD_MESSAGE and publish nothing", async () => {
      const t = freshTopic();
      const bin = `/mpub?topic=${t}&binary=true`;
      expectError(await post(b, bin, ""), 413, "BAD_BODY");
      expectError(await post(b, bin, Buffer.from([0, 0])), 413, "BAD_BODY");
      expectError(await post(b, bin, binaryMpub([], 0)), 413, "BAD_BODY");
      expectError(await post(b, bin, binaryMpub([], -1)), 413, "BAD_BODY");
      expectError(await post(b, bin, binaryMpub(["a"], 200)), 413, "BAD_BODY"); // > (1000-4)/5
      expectError(await post(b, bin, binaryMpub(["a", "b"], 3)), 413, "BAD_MESSAGE");
      expectError(await post(b, bin, binaryMpub(["a", ""])), 413, "BAD_MESSAGE");
      expectError(await post(b, bin, binaryMpub(["a", "x".repeat(101)])), 413, "BAD_MESSAGE");
      const truncated = binaryMpub(["abcdef"]).subarray(0, 8);
      expectError(await post(b, bin, truncated), 413, "BAD_MESSAGE");
      expect((await topicStats(b, t))?.message_count).toBe(0);
      // bytes after the declared messages are ignored
      expectOk(await post(b, bin, Buffer.concat([binaryMpub(["ok"]), Buffer.from("trailing")])));
      expect((await topicStats(b, t))?.message_count).toBe(1);
    });

    test("Content-Length above max-body-size → 413 BODY_TOO_BIG before the topic is looked at", async () => {
      const c = await RawHttp.connect(b.httpPort);
      c.write(`POST /mpub?topic=bad!topic HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n`);
      const r = await c.readResponse();
      c.close();
      expect({ status: r.status, body: r.body }).toEqual({ status: 413, body: '{"message":"BODY_TOO_BIG"}' });
    });

    test("topic errors and creation", async () => {
      expectError(await post(b, "/mpub", "a"), 400, "MISSING_ARG_TOPIC");
      expectError(await post(b, "/mpub?topic=no/slash", "a"), 400, "INVALID_TOPIC");
      const t = freshTopic();
      expectError(await post(b, `/mpub?topic=${t}&binary=1`, "zz"), 413, "BAD_BODY");
      expect(b.nsqd.getTopic(t)).toBeDefined();
    });

    test("a topic deleted while a binary body is still arriving → 503 EXITING", async () => {
      const t = freshTopic();
      expectEmptyOk(await post(b, `/topic/create?topic=${t}`));
      const c = await RawHttp.connect(b.httpPort);
      c.startChunked("POST", `/mpub?topic=${t}&binary=true`);
      const body = binaryMpub(["first", "second"]);
      c.chunk(body.subarray(0, 12));
      // the handler is now waiting for the rest of the body; delete the topic meanwhile
      await eventually(async () => expect(b.nsqd.getTopic(t)).toBeDefined());
      expectEmptyOk(await post(b, `/topic/delete?topic=${t}`));
      c.chunk(body.subarray(12));
      c.end();
      const r = await c.readResponse();
      c.close();
      expect({ status: r.status, body: r.body }).toEqual({ status: 503, body: '{"message":"EXITING"}' });
    });
  });

  describe("topics", () => {
    test("/topic/create: argument errors, creation, idempotence", async () => {
      expectError(await post(b, "/topic/create"), 400, "MISSING_ARG_TOPIC");
      expectError(await post(b, "/topic/create?topic="), 400, "INVALID_TOPIC");
      expectError(await post(b, "/topic/create?topic=bad*"), 400, "INVALID_TOPIC");
      const t = freshTopic();
      expectEmptyOk(await post(b, `/topic/create?topic=${t}`));
      expectEmptyOk(await post(b, `/topic/create?topic=${t}`));
      const ts = await topicStats(b, t);
      expect(ts?.topic_name).toBe(t);
      expect(ts?.channels).toEqual([]);
    });

    test("/topic/delete: 404 for unknown and for invalid names (no validation); closes subscribers", async () => {
      expectError(await post(b, "/topic/delete"), 400, "MISSING_ARG_TOPIC");
      expectError(await post(b, "/topic/delete?topic=nope_missing"), 404, "TOPIC_NOT_FOUND");
      expectError(await post(b, "/topic/delete?topic=bad!"), 404, "TOPIC_NOT_FOUND");
      const t = freshTopic();
      const c = await sub(b, t, "ch");
      expectEmptyOk(await post(b, `/topic/delete?topic=${t}`));
      await c.waitClosed();
      expect((await stats(b, `&topic=${t}`)).topics).toBeNull();
      expectError(await post(b, `/topic/delete?topic=${t}`), 404, "TOPIC_NOT_FOUND");
    });

    test("/topic/empty drops the topic's queued messages and leaves channels alone", async () => {
      expectError(await post(b, "/topic/empty"), 400, "MISSING_ARG_TOPIC");
      expectError(await post(b, "/topic/empty?topic=bad!"), 400, "INVALID_TOPIC");
      expectError(await post(b, "/topic/empty?topic=nope_missing"), 404, "TOPIC_NOT_FOUND");
      const t = freshTopic();
      // no channel yet: messages wait in the topic
      expectOk(await post(b, `/mpub?topic=${t}`, "1\n2\n3"));
      expect((await topicStats(b, t))?.depth).toBe(3);
      expectEmptyOk(await post(b, `/topic/empty?topic=${t}`));
      const after = await topicStats(b, t);
      expect(after?.depth).toBe(0);
      expect(after?.message_count).toBe(3);
      // with a channel holding messages: the channel keeps them
      expectEmptyOk(await post(b, `/channel/create?topic=${t}&channel=keep`));
      expectOk(await post(b, `/pub?topic=${t}`, "kept"));
      await eventually(async () => expect((await topicStats(b, t))?.channels[0]?.depth).toBe(1));
      expectEmptyOk(await post(b, `/topic/empty?topic=${t}`));
      expect((await topicStats(b, t))?.channels[0]?.depth).toBe(1);
    });

    test("/topic/pause holds messages in the topic; /topic/unpause delivers them", async () => {
      expectError(await post(b, "/topic/pause"), 400, "MISSING_ARG_TOPIC");
      expectError(await post(b, "/topic/pause?topic=nope_missing"), 404, "TOPIC_NOT_FOUND");
      expectError(await post(b, "/topic/unpause?topic=bad!"), 404, "TOPIC_NOT_FOUND");
      const t = freshTopic();
      const c = await sub(b, t, "ch");
      expectEmptyOk(await post(b, `/topic/pause?topic=${t}`));
      expectOk(await post(b, `/pub?topic=${t}`, "held"));
      const paused = await topicStats(b, t);
      expect(paused?.paused).toBe(true);
      expect(paused?.depth).toBe(1);
      expect(paused?.channels[0]?.message_count).toBe(0);
      expect(await c.expectNoFrame(150)).toBe(true);
      expectEmptyOk(await post(b, `/topic/unpause?topic=${t}`));
      expect((await c.readMessage()).body.toString()).toBe("held");
      const resumed = await topicStats(b, t);
      expect(resumed?.paused).toBe(false);
      expect(resumed?.depth).toBe(0);
    });
  });

  test("pause and unpause are written to nsqd.dat right away", async () => {
    const t = freshTopic();
    expectEmptyOk(await post(b, `/topic/create?topic=${t}`));
    expectEmptyOk(await post(b, `/channel/create?topic=${t}&channel=c`));
    const saved = () => {
      const meta = JSON.parse(readFileSync(join(b.dataPath, "nsqd.dat"), "utf8")) as {
        topics: { name: string; paused: boolean; channels: { name: string; paused: boolean }[] | null }[];
      };
      const topic = meta.topics.find((x) => x.name === t);
      return [topic?.paused, topic?.channels?.find((x) => x.name === "c")?.paused];
    };
    expectEmptyOk(await post(b, `/topic/pause?topic=${t}`));
    expectEmptyOk(await post(b, `/channel/pause?topic=${t}&channel=c`));
    await eventually(async () => expect(saved()).toEqual([true, true]));
    expectEmptyOk(await post(b, `/topic/unpause?topic=${t}`));
    expectEmptyOk(await post(b, `/channel/unpause?topic=${t}&channel=c`));
    await eventually(async () => expect(saved()).toEqual([false, false]));
  });

  describe("channels", () => {
    test("argument checks in nsqd's order; the topic must already exist", async () => {
      for (const route of ["create", "delete", "empty", "pause", "unpause"]) {
        const p = `/channel/${route}`;
        expectError(await post(b, p), 400, "MISSING_ARG_TOPIC");
        expectError(await post(b, `${p}?topic=bad!&channel=c`), 400, "INVALID_ARG_TOPIC");
        expectError(await post(b, `${p}?topic=t`), 400, "MISSING_ARG_CHANNEL");
        expectError(await post(b, `${p}?topic=t&channel=bad!`), 400, "INVALID_ARG_CHANNEL");
        expectError(await post(b, `${p}?topic=never_created_x&channel=c`), 404, "TOPIC_NOT_FOUND");
      }
      expect(b.nsqd.getTopic("never_created_x")).toBeUndefined();
      const t = freshTopic();
      expectEmptyOk(await post(b, `/topic/create?topic=${t}`));
      for (const route of ["delete", "empty", "pause", "unpause"]) {
        expectError(await post(b, `/channel/${route}?topic=${t}&channel=missing`), 404, "CHANNEL_NOT_FOUND");
      }
    });

    test("/channel/create makes a channel that receives later publishes", async () => {
      const t = freshTopic();
      expectEmptyOk(await post(b, `/topic/create?topic=${t}`));
      expectEmptyOk(await post(b, `/channel/create?topic=${t}&channel=a`));
      expectEmptyOk(await post(b, `/channel/create?topic=${t}&channel=a`));
      expectEmptyOk(await post(b, `/channel/create?topic=${t}&channel=b#ephemeral`.replace("#", "%23")));
      expectOk(await post(b, `/pub?topic=${t}`, "m"));
      await eventually(async () => {
        const ts = await topicStats(b, t);
        expect(ts?.channels.map((c) => [c.channel_name, c.depth])).toEqual([
          ["a", 1],
          ["b#ephemeral", 1],
        ]);
      });
      const c = await sub(b, t, "a");
      expect((await c.readMessage()).body.toString()).toBe("m");
    });

    test("/channel/delete closes the channel's subscribers and removes it", async () => {
      const t = freshTopic();
      const c = await sub(b, t, "gone");
      const other = await sub(b, t, "stays");
      expectEmptyOk(await post(b, `/channel/delete?topic=${t}&channel=gone`));
      await c.waitClosed();
      expect((await topicStats(b, t))?.channels.map((ch) => ch.channel_name)).toEqual(["stays"]);
      expectOk(await post(b, `/pub?topic=${t}`, "still flowing"));
      expect((await other.readMessage()).body.toString()).toBe("still flowing");
    });

    test("/channel/empty drops queued and in-flight messages; a later FIN for them fails", async () => {
      const t = freshTopic();
      const c = await sub(b, t, "ch", 1);
      expectOk(await post(b, `/mpub?topic=${t}`, "a\nb\nc"));
      const first = await c.readMessage();
      await eventually(async () => {
        const ch = (await topicStats(b, t))?.channels[0];
        expect([ch?.depth, ch?.in_flight_count]).toEqual([2, 1]);
      });
      expectEmptyOk(await post(b, `/channel/empty?topic=${t}&channel=ch`));
      const ch = (await topicStats(b, t))?.channels[0];
      expect([ch?.depth, ch?.in_flight_count, ch?.deferred_count]).toEqual([0, 0, 0]);
      c.write(`FIN ${first.id}\n`);
      expect(await c.readError()).toBe(`E_FIN_FAILED FIN ${first.id} failed ID not in flight`);
      // the client's window is free again: a new message flows
      expectOk(await post(b, `/pub?topic=${t}`, "fresh"));
      expect((await c.readMessage()).body.toString()).toBe("fresh");
    });

    test("/channel/pause stops delivery to that channel only; /channel/unpause resumes it", async () => {
      const t = freshTopic();
      const paused = await sub(b, t, "p");
      const running = await sub(b, t, "r");
      expectEmptyOk(await post(b, `/channel/pause?topic=${t}&channel=p`));
      expectOk(await post(b, `/pub?topic=${t}`, "x"));
      expect((await running.readMessage()).body.toString()).toBe("x");
      expect(await paused.expectNoFrame(150)).toBe(true);
      const ts = await topicStats(b, t);
      expect(ts?.channels.map((c) => [c.channel_name, c.paused, c.depth])).toEqual([
        ["p", true, 1],
        ["r", false, 0],
      ]);
      expectEmptyOk(await post(b, `/channel/unpause?topic=${t}&channel=p`));
      expect((await paused.readMessage()).body.toString()).toBe("x");
      expect((await topicStats(b, t))?.channels[0]?.paused).toBe(false);
    });
  });

  describe("/config/:opt", () => {
    afterAll(() => {
      silentLogger.level = "fatal";
    });

    test("GET shows options by config name: durations in ns, log level and TLS settings as integers", async () => {
      const get = async (opt: string) => {
        const r = await call(b, `/config/${opt}`);
        expect(r.status).toBe(200);
        expect(r.headers.get("content-type")).toBe(JSON_TYPE);
        expect(r.headers.get("x-nsq-content-type")).toBe(NSQ_HEADER);
        return JSON.parse(r.text) as unknown;
      };
      expect(await get("msg_timeout")).toBe(60_000_000_000);
      expect(await get("max_req_timeout")).toBe(5_000_000_000);
      expect(await get("max_msg_size")).toBe(100);
      expect(await get("mem_queue_size")).toBe(10000);
      expect(await get("id")).toBe(1);
      expect(await get("broadcast_address")).toBe("bcast.example");
      expect(await get("log_prefix")).toBe("[nsqd] ");
      expect(await get("nsqlookupd_tcp_addresses")).toEqual([]);
      expect(await get("e2e_processing_latency_percentiles")).toEqual([]);
      expect(await get("tls_required")).toBe(0);
      expect(await get("tls_min_version")).toBe(0x0301);
      expect(await get("deflate")).toBe(true);
      expect(await get("log_level")).toBe(5); // the test broker's logger is at "fatal"
      expectError(await call(b, "/config/no_such_option"), 400, "INVALID_OPTION");
      expectError(await call(b, "/config/lookupd_tcp_address"), 400, "INVALID_OPTION");
      expectError(await call(b, "/config/node_id"), 400, "INVALID_OPTION");
    });

    test("PUT log_level changes the live logger and answers with the new value", async () => {
      const r = await call(b, "/config/log_level", { method: "PUT", body: "debug" });
      expect({ status: r.status, text: r.text }).toEqual({ status: 200, text: "1" });
      expect(b.nsqd.logger.level).toBe("debug");
      expect(JSON.parse((await call(b, "/config/log_level")).text)).toBe(1);
      expect((await call(b, "/config/log_level", { method: "PUT", body: "FATAL" })).text).toBe("5");
      expectError(await call(b, "/config/log_level", { method: "PUT", body: "loud" }), 400, "INVALID_VALUE");
      expect(b.nsqd.logger.level).toBe("fatal");
    });

    test("PUT nsqlookupd_tcp_addresses takes a JSON array of strings", async () => {
      const body = JSON.stringify(["127.0.0.1:1", "127.0.0.1:2"]);
      const r = await call(b, "/config/nsqlookupd_tcp_addresses", { method: "PUT", body });
      expect({ status: r.status, text: r.text }).toEqual({ status: 200, text: body });
      expect(b.nsqd.options.lookupdTcpAddresses).toEqual(["127.0.0.1:1", "127.0.0.1:2"]);
      for (const bad of ["not json", '"a"', "[1]", '{"a":1}']) {
        expectError(await call(b, "/config/nsqlookupd_tcp_addresses", { method: "PUT", body: bad }), 400, "INVALID_VALUE");
      }
      expect((await call(b, "/config/nsqlookupd_tcp_addresses", { method: "PUT", body: "[]" })).text).toBe("[]");
      expect(b.nsqd.options.lookupdTcpAddresses).toEqual([]);
    });

    test("PUT checks: empty or oversized body → 413 INVALID_VALUE first, then unsupported option → 400 INVALID_OPTION", async () => {
      expectError(await call(b, "/config/log_level", { method: "PUT" }), 413, "INVALID_VALUE");
      expectError(await call(b, "/config/log_level", { method: "PUT", body: "x".repeat(101) }), 413, "INVALID_VALUE");
      expectError(await call(b, "/config/msg_timeout", { method: "PUT", body: "1000" }), 400, "INVALID_OPTION");
      expectError(await call(b, "/config/nonsense", { method: "PUT", body: "1" }), 400, "INVALID_OPTION");
      expectError(await call(b, "/config/nonsense", { method: "PUT" }), 413, "INVALID_VALUE");
    });
  });

  describe("/debug", () => {
    test("pprof routes exist (stubs); setblockrate validates like Go's Atoi; freememory", async () => {
      const idx = await call(b, "/debug/pprof/");
      expect(idx.status).toBe(200);
      expect((await call(b, "/debug/pprof/heap")).status).toBe(501);
      expect((await call(b, "/debug/pprof/cmdline")).status).toBe(200);
      expect((await post(b, "/debug/pprof/symbol")).status).toBe(200);
      expectError(await post(b, "/debug/pprof/heap"), 405, "METHOD_NOT_ALLOWED");

      const bad = await call(b, "/debug/setblockrate?rate=fast", { method: "PUT" });
      expect({ status: bad.status, text: bad.text }).toEqual({
        status: 400,
        text: 'invalid block rate : strconv.Atoi: parsing "fast": invalid syntax',
      });
      const missing = await call(b, "/debug/setblockrate", { method: "PUT" });
      expect(missing.text).toBe('invalid block rate : strconv.Atoi: parsing "": invalid syntax');
      const form = await call(b, "/debug/setblockrate?rate=x", {
        method: "PUT",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: "rate=5",
      });
      expect(form.status).toBe(200);
      expect((await call(b, "/debug/setblockrate?rate=1", { method: "PUT" })).status).toBe(200);
      expectError(await call(b, "/debug/setblockrate?rate=1"), 405, "METHOD_NOT_ALLOWED");

      const free = await post(b, "/debug/freememory");
      expect({ status: free.status, text: free.text }).toEqual({ status: 200, text: "" });
      expectError(await call(b, "/debug/freememory"), 405, "METHOD_NOT_ALLOWED");
    });
  });
});

describe("nsqd HTTP API: broker states", () => {
  let b: TestBroker | null = null;
  let dir: string | null = null;
  afterEach(async () => {
    await b?.stop();
    b = null;
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  test("--tls-required=true: the plain listener answers every request 403 TLS_REQUIRED with the HTTPS port", async () => {
    b = await startBroker({ tlsRequired: "true", httpsAddress: "127.0.0.1:4999" });
    for (const path of ["/ping", "/stats", "/nope", "/pub?topic=x"]) {
      const r = await call(b, path);
      expect(r.status).toBe(403);
      expect(r.text).toBe('{"message": "TLS_REQUIRED", "https_port": 4999}');
      expect(r.headers.get("x-nsq-content-type")).toBe(NSQ_HEADER);
      expect(r.headers.get("content-type")).toBe(JSON_TYPE);
    }
  });

  test("a message that cannot be stored → 503 EXITING (as nsqd maps every PutMessage error), and /ping and /stats report the health error", async () => {
    b = await startBroker();
    expectEmptyOk(await post(b, "/topic/create?topic=lost"));
    const topic = b.nsqd.getTopic("lost")!;
    // the storage layer refusing a message, as a full disk does (test/disk-full.test.ts does it for real)
    const refuse = (): never => {
      throw new Error("write nsqd.diskqueue: no space left on device");
    };
    topic.publish = refuse;
    topic.publishDeferred = refuse;
    expectError(await post(b, "/pub?topic=lost", "x"), 503, "EXITING");
    expectError(await post(b, "/pub?topic=lost&defer=10", "x"), 503, "EXITING");
    expectError(await post(b, "/mpub?topic=lost", "x\ny"), 503, "EXITING");
    const ping = await call(b, "/ping");
    expect({ status: ping.status, text: ping.text }).toEqual({ status: 500, text: "NOK - write nsqd.diskqueue: no space left on device" });
    expect(ping.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const s = JSON.parse((await call(b, "/stats?format=json")).text) as { health: string };
    expect(s.health).toBe(ping.text);
  });

  test("unix socket listeners report port -1 in /info", async () => {
    dir = mkdtempSync(join(tmpdir(), "nsq-http-"));
    b = await startBroker({ httpAddress: join(dir, "http.sock") });
    const res = await fetch("http://localhost/info", { unix: join(dir, "http.sock") });
    const info = (await res.json()) as { http_port: number; tcp_port: number };
    expect(info.http_port).toBe(-1);
    expect(info.tcp_port).toBe(b.tcpPort);
  });
});
