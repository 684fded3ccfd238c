/**
 * nsqlookupd HTTP API over real sockets: every route, status, header and JSON shape (spec §5.3, §3.1).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Nsqlookupd } from "../src/lookupd/lookupd.ts";
import type { LookupdOptions } from "../src/lookupd/options.ts";
import { silentLogger } from "../src/util/logger.ts";
import { identifiedClient, NSQD_IDENTITY, type RawLookupClient, waitFor } from "./lookupd-helpers.ts";

let lookupd: Nsqlookupd | null = null;
const clients: RawLookupClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await lookupd?.close();
  lookupd = null;
});

async function startLookupd(opts: Partial<LookupdOptions> = {}): Promise<Nsqlookupd> {
  lookupd = new Nsqlookupd({ tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", ...opts }, silentLogger);
  await lookupd.start();
  return lookupd;
}

function url(path: string): string {
  return `http://127.0.0.1:${lookupd!.httpPort}${path}`;
}

async function get(path: string): Promise<Response> {
  return fetch(url(path), { redirect: "manual" });
}

async function post(path: string, body?: string): Promise<Response> {
  return fetch(url(path), { method: "POST", body, redirect: "manual" });
}

/** Asserts a V1 JSON reply: status, both content headers, exact body text; returns the parsed body. */
async function expectJson(res: Response, status: number, exactBody?: string): Promise<unknown> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  expect(res.headers.get("x-nsq-content-type")).toBe("nsq; version=1.0");
  const text = await res.text();
  if (exactBody !== undefined) expect(text).toBe(exactBody);
  return JSON.parse(text);
}

async function expectError(res: Response, status: number, code: string): Promise<void> {
  await expectJson(res, status, `{"message":"${code}"}`);
}

async function expectEmptyOk(res: Response): Promise<void> {
  expect(res.status).toBe(200);
  expect(res.headers.get("x-nsq-content-type")).toBe("nsq; version=1.0");
  expect(await res.text()).toBe("");
}

async function producer(identity: object = NSQD_IDENTITY, commands: string[] = []): Promise<RawLookupClient> {
  const c = await identifiedClient(lookupd!.tcpPort, identity);
  clients.push(c);
  for (const line of commands) {
    await c.write(`${line}\n`);
    expect(await c.readFrame()).toBe("OK");
  }
  return c;
}

const PEER_KEYS = ["remote_address", "hostname", "broadcast_address", "tcp_port", "http_port", "version"];

describe("plain routes", () => {
  test("GET /ping is plain-text OK without the NSQ content header", async () => {
    await startLookupd();
    const res = await get("/ping");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(res.headers.get("x-nsq-content-type")).toBeNull();
    expect(await res.text()).toBe("OK");
  });

  test("GET /info", async () => {
    await startLookupd();
    await expectJson(await get("/info"), 200, `{"version":"1.3.0"}`);
  });

  test("unknown path is 404 NOT_FOUND", async () => {
    await startLookupd();
    await expectError(await get("/nope"), 404, "NOT_FOUND");
    await expectError(await post("/topic/nope"), 404, "NOT_FOUND");
  });

  test("wrong method is 405 METHOD_NOT_ALLOWED with Allow", async () => {
    await startLookupd();
    const res = await get("/topic/create?topic=t");
    expect(res.headers.get("allow")).toContain("POST");
    await expectError(res, 405, "METHOD_NOT_ALLOWED");
    await expectError(await post("/ping"), 405, "METHOD_NOT_ALLOWED");
    await expectError(await post("/lookup?topic=t"), 405, "METHOD_NOT_ALLOWED");
    // and nothing was created by the refused request
    await expectJson(await get("/topics"), 200, `{"topics":[]}`);
  });

  test("OPTIONS answers with the allowed methods", async () => {
    await startLookupd();
    const res = await fetch(url("/ping"), { method: "OPTIONS" });
    expect(res.status).toBe(200);
    expect(res.headers.get("allow")).toBe("GET, OPTIONS");
  });

  test("a failing handler is 500 INTERNAL_ERROR and the server keeps serving", async () => {
    const l = await startLookupd();
    const original = l.db.findRegistrations.bind(l.db);
    l.db.findRegistrations = () => {
      throw new Error("boom");
    };
    await expectError(await get("/topics"), 500, "INTERNAL_ERROR");
    l.db.findRegistrations = original;
    await expectJson(await get("/topics"), 200, `{"topics":[]}`);
  });

  test("a trailing slash redirects to the route", async () => {
    await startLookupd();
    const res = await get("/topics/?x=1");
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe("/topics?x=1");
  });

  test("bad % escape in the query is 400 INVALID_REQUEST", async () => {
    await startLookupd();
    await expectError(await get("/channels?topic=%zz"), 400, "INVALID_REQUEST");
    await expectError(await post("/topic/create?topic=a;b"), 400, "INVALID_REQUEST");
  });
});

describe("topics and channels", () => {
  test("GET /topics is [] when empty, then lists producer-less registrations", async () => {
    await startLookupd();
    await expectJson(await get("/topics"), 200, `{"topics":[]}`);
    await expectEmptyOk(await post("/topic/create?topic=alpha"));
    await expectEmptyOk(await post("/channel/create?topic=beta&channel=c1"));
    const body = (await expectJson(await get("/topics"), 200)) as { topics: string[] };
    expect(body.topics.sort()).toEqual(["alpha", "beta"]);
  });

  test("POST /topic/create validation", async () => {
    await startLookupd();
    await expectError(await post("/topic/create"), 400, "MISSING_ARG_TOPIC");
    await expectError(await post("/topic/create?topic=bad!"), 400, "INVALID_ARG_TOPIC");
    await expectError(await post("/topic/create?topic="), 400, "INVALID_ARG_TOPIC");
    await expectJson(await get("/topics"), 200, `{"topics":[]}`);
  });

  test("GET /channels", async () => {
    await startLookupd();
    await expectError(await get("/channels"), 400, "MISSING_ARG_TOPIC");
    await expectJson(await get("/channels?topic=unknown"), 200, `{"channels":[]}`);
    await post("/channel/create?topic=t&channel=a");
    await post("/channel/create?topic=t&channel=b");
    await post("/channel/create?topic=other&channel=z");
    const body = (await expectJson(await get("/channels?topic=t"), 200)) as { channels: string[] };
    expect(body.channels.sort()).toEqual(["a", "b"]);
  });

  test("only the first value of a repeated parameter counts; + is a space", async () => {
    await startLookupd();
    await expectEmptyOk(await post("/topic/create?topic=first&topic=second"));
    await expectJson(await get("/topics"), 200, `{"topics":["first"]}`);
    await expectError(await post("/topic/create?topic=a+b"), 400, "INVALID_ARG_TOPIC");
  });

  test("POST /channel/create validation, in order", async () => {
    await startLookupd();
    await expectError(await post("/channel/create"), 400, "MISSING_ARG_TOPIC");
    await expectError(await post("/channel/create?topic=b@d&channel=c"), 400, "INVALID_ARG_TOPIC");
    await expectError(await post("/channel/create?topic=t"), 400, "MISSING_ARG_CHANNEL");
    await expectError(await post("/channel/create?topic=t&channel=b@d"), 400, "INVALID_ARG_CHANNEL");
    await expectJson(await get("/topics"), 200, `{"topics":[]}`);
  });

  test("POST /channel/delete", async () => {
    await startLookupd();
    await expectError(await post("/channel/delete?topic=t"), 400, "MISSING_ARG_CHANNEL");
    await expectError(await post("/channel/delete?topic=t&channel=c"), 404, "CHANNEL_NOT_FOUND");
    await post("/channel/create?topic=t&channel=c");
    await post("/channel/create?topic=t&channel=d");
    await expectEmptyOk(await post("/channel/delete?topic=t&channel=c"));
    await expectJson(await get("/channels?topic=t"), 200, `{"channels":["d"]}`);
    await expectJson(await get("/topics"), 200, `{"topics":["t"]}`);
  });

  test("POST /topic/delete removes the topic and its channels, 200 even when absent", async () => {
    await startLookupd();
    await expectError(await post("/topic/delete"), 400, "MISSING_ARG_TOPIC");
    await expectEmptyOk(await post("/topic/delete?topic=never"));
    await post("/channel/create?topic=t&channel=c");
    await post("/channel/create?topic=keep&channel=c");
    await expectEmptyOk(await post("/topic/delete?topic=t"));
    await expectJson(await get("/channels?topic=t"), 200, `{"channels":[]}`);
    await expectJson(await get("/topics"), 200, `{"topics":["keep"]}`);
    await expectError(await get("/lookup?topic=t"), 404, "TOPIC_NOT_FOUND");
  });

  test("request bodies of POST routes are read and ignored", async () => {
    await startLookupd();
    await expectEmptyOk(await post("/topic/create?topic=t", "ignored body"));
    await expectJson(await get("/topics"), 200, `{"topics":["t"]}`);
  });
});

describe("lookup and nodes", () => {
  test("GET /lookup errors", async () => {
    await startLookupd();
    await expectError(await get("/lookup"), 400, "MISSING_ARG_TOPIC");
    await expectError(await get("/lookup?topic=missing"), 404, "TOPIC_NOT_FOUND");
  });

  test("GET /lookup of a producer-less topic", async () => {
    await startLookupd();
    await post("/topic/create?topic=t");
    await expectJson(await get("/lookup?topic=t"), 200, `{"channels":[],"producers":[]}`);
  });

  test("GET /lookup lists PEERs field by field, and the topic's channels", async () => {
    await startLookupd();
    const c = await producer(NSQD_IDENTITY, ["REGISTER orders archive", "REGISTER other"]);
    const res = await get("/lookup?topic=orders");
    const text = await res.clone().text();
    const body = (await expectJson(res, 200)) as { channels: string[]; producers: Record<string, unknown>[] };
    expect(Object.keys(body)).toEqual(["channels", "producers"]);
    expect(body.channels).toEqual(["archive"]);
    expect(body.producers).toHaveLength(1);
    expect(Object.keys(body.producers[0]!)).toEqual(PEER_KEYS);
    expect(body.producers[0]).toEqual({
      remote_address: c.localAddress,
      hostname: "nsqd1",
      broadcast_address: "nsqd1.example",
      tcp_port: 4150,
      http_port: 4151,
      version: "1.3.0",
    });
    expect(text).toContain(`"producers":[{"remote_address":"${c.localAddress}","hostname":"nsqd1"`);
  });

  test("GET /nodes lists identified peers with topics and tombstones", async () => {
    await startLookupd();
    await expectJson(await get("/nodes"), 200, `{"producers":[]}`);
    const a = await producer(NSQD_IDENTITY, ["REGISTER t1 c", "REGISTER t2"]);
    const b = await producer({ ...NSQD_IDENTITY, broadcast_address: "nsqd2.example", tcp_port: 5150, http_port: 5151 });
    const body = (await expectJson(await get("/nodes"), 200)) as { producers: Record<string, unknown>[] };
    expect(Object.keys(body)).toEqual(["producers"]);
    const byAddr = new Map(body.producers.map((p) => [p.remote_address as string, p]));
    const na = byAddr.get(a.localAddress)!;
    expect(Object.keys(na)).toEqual([...PEER_KEYS, "tombstones", "topics"]);
    const sortedTopics: Record<string, unknown> = { ...na, topics: (na.topics as string[]).sort() };
    expect(sortedTopics).toEqual({
      remote_address: a.localAddress,
      hostname: "nsqd1",
      broadcast_address: "nsqd1.example",
      tcp_port: 4150,
      http_port: 4151,
      version: "1.3.0",
      tombstones: [false, false],
      topics: ["t1", "t2"],
    });
    expect(byAddr.get(b.localAddress)).toMatchObject({ broadcast_address: "nsqd2.example", tcp_port: 5150, tombstones: [], topics: [] });
  });

  test("GET /debug shows registrations with producers, exact fields and ns timestamps", async () => {
    await startLookupd();
    await post("/topic/create?topic=empty");
    const before = BigInt(Date.now()) * 1_000_000n;
    const c = await producer(NSQD_IDENTITY, ["REGISTER orders archive"]);
    const res = await get("/debug");
    const text = await res.clone().text();
    const body = (await expectJson(res, 200)) as Record<string, Record<string, unknown>[]>;
    expect(Object.keys(body)).toEqual(["channel:orders:archive", "client::", "topic:orders:"]);
    const entry = body["topic:orders:"]![0]!;
    expect(Object.keys(entry)).toEqual([
      "broadcast_address",
      "hostname",
      "http_port",
      "id",
      "last_update",
      "tcp_port",
      "tombstoned",
      "tombstoned_at",
      "version",
    ]);
    expect(entry).toMatchObject({
      broadcast_address: "nsqd1.example",
      hostname: "nsqd1",
      http_port: 4151,
      id: c.localAddress,
      tcp_port: 4150,
      tombstoned: false,
      version: "1.3.0",
    });
    // nanosecond integers must be exact (beyond 2^53): check the raw text
    expect(text).toContain(`"tombstoned_at":-6795364578871345152`);
    const lastUpdate = BigInt(/"last_update":(\d+)/.exec(text)![1]!);
    expect(lastUpdate >= before - 1_000_000n).toBe(true);
    expect(lastUpdate % 1_000_000n).toBe(0n);
  });
});

describe("tombstones", () => {
  test("POST /topic/tombstone validation", async () => {
    await startLookupd();
    await expectError(await post("/topic/tombstone"), 400, "MISSING_ARG_TOPIC");
    await expectError(await post("/topic/tombstone?topic=t"), 400, "MISSING_ARG_NODE");
    await expectEmptyOk(await post("/topic/tombstone?topic=unknown&node=x:1"));
  });

  test("hides the producer from /lookup for this topic only, /nodes flags it, then it expires", async () => {
    await startLookupd({ tombstoneLifetime: 400 });
    const other = { ...NSQD_IDENTITY, broadcast_address: "nsqd2.example" };
    const a = await producer(NSQD_IDENTITY, ["REGISTER t", "REGISTER u"]);
    const b = await producer(other, ["REGISTER t"]);
    await expectEmptyOk(await post("/topic/tombstone?topic=t&node=nsqd1.example:4151"));

    const lookup = (await expectJson(await get("/lookup?topic=t"), 200)) as { producers: { remote_address: string }[] };
    expect(lookup.producers.map((p) => p.remote_address)).toEqual([b.localAddress]);
    const lookupU = (await expectJson(await get("/lookup?topic=u"), 200)) as { producers: { remote_address: string }[] };
    expect(lookupU.producers.map((p) => p.remote_address)).toEqual([a.localAddress]);

    const nodes = (await expectJson(await get("/nodes"), 200)) as {
      producers: { remote_address: string; topics: string[]; tombstones: boolean[] }[];
    };
    const na = nodes.producers.find((p) => p.remote_address === a.localAddress)!;
    expect(na.tombstones[na.topics.indexOf("t")]).toBe(true);
    expect(na.tombstones[na.topics.indexOf("u")]).toBe(false);

    const debug = (await expectJson(await get("/debug"), 200)) as Record<string, { id: string; tombstoned: boolean; tombstoned_at: number }[]>;
    const tombstoned = debug["topic:t:"]!.find((p) => p.id === a.localAddress)!;
    expect(tombstoned.tombstoned).toBe(true);
    expect(tombstoned.tombstoned_at).toBeGreaterThan(0);

    // the tombstone expires by time alone; the producer reappears
    await waitFor("tombstone expiry", async () => {
      const body = (await (await get("/lookup?topic=t")).json()) as { producers: unknown[] };
      return body.producers.length === 2;
    });
    const after = (await (await get("/nodes")).json()) as { producers: { remote_address: string; tombstones: boolean[] }[] };
    expect(after.producers.find((p) => p.remote_address === a.localAddress)!.tombstones).toEqual([false, false]);
  });

  test("a node string that does not match exactly tombstones nothing", async () => {
    await startLookupd();
    await producer(NSQD_IDENTITY, ["REGISTER t"]);
    await expectEmptyOk(await post("/topic/tombstone?topic=t&node=nsqd1.example:4150"));
    const body = (await (await get("/lookup?topic=t")).json()) as { producers: unknown[] };
    expect(body.producers).toHaveLength(1);
  });
});

describe("inactive producers", () => {
  test("a producer without PING for longer than the timeout is hidden from /lookup and /nodes; PING revives it", async () => {
    await startLookupd({ inactiveProducerTimeout: 300 });
    const c = await producer(NSQD_IDENTITY, ["REGISTER t"]);
    const lookupCount = async () => ((await (await get("/lookup?topic=t")).json()) as { producers: unknown[] }).producers.length;
    const nodesCount = async () => ((await (await get("/nodes")).json()) as { producers: unknown[] }).producers.length;
    expect(await lookupCount()).toBe(1);
    expect(await nodesCount()).toBe(1);
    await waitFor("producer to go inactive", async () => (await lookupCount()) === 0);
    expect(await nodesCount()).toBe(0);
    // still registered: /debug shows it
    const debug = (await (await get("/debug")).json()) as Record<string, unknown[]>;
    expect(debug["topic:t:"]).toHaveLength(1);
    await c.write("PING\n");
    expect(await c.readFrame()).toBe("OK");
    expect(await lookupCount()).toBe(1);
    expect(await nodesCount()).toBe(1);
  });

  test("a disconnected producer vanishes from /lookup but the topic stays", async () => {
    await startLookupd();
    const c = await producer(NSQD_IDENTITY, ["REGISTER t c"]);
    c.close();
    await waitFor("producer removal", async () => {
      const body = (await (await get("/lookup?topic=t")).json()) as { producers: unknown[] };
      return body.producers.length === 0;
    });
    await expectJson(await get("/lookup?topic=t"), 200, `{"channels":["c"],"producers":[]}`);
    await expectJson(await get("/nodes"), 200, `{"producers":[]}`);
  });
});

describe("listener setup", () => {
  test("ports are the bound ones and an address in use rejects start()", async () => {
    const first = await startLookupd();
    expect(first.tcpPort).toBeGreaterThan(0);
    expect(first.httpPort).toBeGreaterThan(0);
    const clash = new Nsqlookupd({ tcpAddress: `127.0.0.1:${first.tcpPort}`, httpAddress: "127.0.0.1:0" }, silentLogger);
    await expect(clash.start()).rejects.toThrow(/listen/);
    await clash.close();
  });

  test("defaults match nsqlookupd v1.3.0", async () => {
    const { defaultLookupdOptions } = await import("../src/lookupd/options.ts");
    const { hostname } = await import("node:os");
    expect(defaultLookupdOptions()).toEqual({
      logLevel: "info",
      logPrefix: "[nsqlookupd] ",
      tcpAddress: "0.0.0.0:4160",
      httpAddress: "0.0.0.0:4161",
      broadcastAddress: hostname(),
      inactiveProducerTimeout: 300_000,
      tombstoneLifetime: 45_000,
    });
  });
});
