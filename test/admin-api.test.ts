/**
 * `nsq admin` (nsqadmin) over a real cluster: two `nsq lookupd` and two `nsq serve` processes,
 * `nsq admin` as a process over both lookupds (notifications to a server in this file), and
 * in-process admins for the nsqd-list mode, the admin-user ACL and the /config CIDR. Every API
 * route's JSON is checked against the brokers' own /stats and the lookupds' answers; actions are
 * checked on the brokers; a lookupd and a broker are killed mid-test.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { ProcessGroup, type Daemon } from "./helpers/nsq-process.ts";
import { until } from "./helpers/until.ts";
import { subscriber, type RawClient } from "./helpers/raw-client.ts";
import { NsqAdmin } from "../src/admin/nsqadmin.ts";
import { defaultAdminOptions, type AdminOptions } from "../src/admin/options.ts";
import { silentLogger } from "../src/util/logger.ts";

const group = new ProcessGroup();
let lookupds: Daemon[];
let nodes: Daemon[];
let admin: Daemon;
let adminUrl: string;
let hook: Server<undefined>;
const notifications: Array<Record<string, unknown>> = [];
const inProcess: NsqAdmin[] = [];
let sub: RawClient | null = null;

type Json = Record<string, any>;

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, base = adminUrl): Promise<{ status: number; json: Json; headers: Headers }> {
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: Json = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { text };
  }
  return { status: res.status, json, headers: res.headers };
}

async function nodeStats(n: Daemon, topic?: string): Promise<Json> {
  const res = await fetch(`http://127.0.0.1:${n.http}/stats?format=json${topic ? `&topic=${topic}` : ""}`);
  return (await res.json()) as Json;
}

const nodeName = (n: Daemon): string => `127.0.0.1:${n.http}`;

async function post(n: Daemon, path: string, body = ""): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${n.http}${path}`, { method: "POST", body });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

async function startInProcess(opts: Partial<AdminOptions>): Promise<string> {
  const a = new NsqAdmin({ ...defaultAdminOptions(), httpAddress: "127.0.0.1:0", ...opts }, silentLogger);
  await a.start();
  inProcess.push(a);
  return `http://127.0.0.1:${a.httpPort}`;
}

beforeAll(async () => {
  hook = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (req) => {
      notifications.push((await req.json()) as Record<string, unknown>);
      return new Response("ok");
    },
  });
  lookupds = await Promise.all([group.lookupd(), group.lookupd()]);
  nodes = await Promise.all([group.nsqd(lookupds.map((l) => l.tcp)), group.nsqd(lookupds.map((l) => l.tcp))]);
  admin = await group.admin([
    ...lookupds.map((l) => `--lookupd-http-address=127.0.0.1:${l.http}`),
    `--notification-http-endpoint=http://127.0.0.1:${hook.port}/hook`,
    "--http-client-request-timeout=2s",
  ]);
  adminUrl = `http://127.0.0.1:${admin.http}`;
  // "orders" with channel "audit" on both brokers: 3 messages on node 0, 2 on node 1
  for (const [n, count] of [[nodes[0]!, 3], [nodes[1]!, 2]] as const) {
    await post(n, "/channel/create?topic=orders&channel=audit".replace("channel/create", "topic/create"));
    await post(n, "/channel/create?topic=orders&channel=audit");
    await post(n, "/mpub?topic=orders", Array.from({ length: count }, (_, i) => `m${i}`).join("\n"));
  }
  await post(nodes[0]!, "/pub?topic=events", "e");
  sub = await subscriber(nodes[0]!.tcp, "orders", "audit", 1, { client_id: "worker", hostname: "worker-1", user_agent: "test/1.0", feature_negotiation: true });
  // both brokers registered "orders" with both lookupds
  await until("registrations", async () => {
    for (const l of lookupds) {
      const r = (await (await fetch(`http://127.0.0.1:${l.http}/lookup?topic=orders`)).json()) as Json;
      if ((r.producers?.length ?? 0) !== 2 || !(r.channels ?? []).includes("audit")) return false;
    }
    return true;
  });
});

afterAll(async () => {
  sub?.close();
  for (const a of inProcess) await a.close();
  group.stopAll();
  hook?.stop(true);
});

describe("read routes", () => {
  test("GET /ping is plain OK; unknown paths 404, wrong methods 405", async () => {
    const ping = await fetch(`${adminUrl}/ping`);
    expect(await ping.text()).toBe("OK");
    expect(ping.headers.get("content-type")).toStartWith("text/plain");
    const nf = await api("GET", "/api/nope");
    expect([nf.status, nf.json.message]).toEqual([404, "NOT_FOUND"]);
    const na = await api("PUT", "/api/topics");
    expect([na.status, na.json.message]).toEqual([405, "METHOD_NOT_ALLOWED"]);
  });

  test("GET /api/topics: the sorted union of the lookupds' topics, V1 headers", async () => {
    const r = await api("GET", "/api/topics");
    expect(r.status).toBe(200);
    expect(r.headers.get("x-nsq-content-type")).toBe("nsq; version=1.0");
    expect(r.json).toEqual({ topics: ["events", "orders"], message: "" });
  });

  test("GET /api/topics/:topic sums the brokers' /stats and lists each node", async () => {
    const r = await api("GET", "/api/topics/orders");
    expect(r.status).toBe(200);
    const per = await Promise.all(nodes.map((n) => nodeStats(n, "orders")));
    const topics = per.map((s) => s.topics[0]);
    expect(r.json.topic_name).toBe("orders");
    expect(r.json.node).toBe("*");
    expect(r.json.message_count).toBe(topics[0].message_count + topics[1].message_count);
    expect(r.json.message_count).toBe(5);
    expect(r.json.depth).toBe(topics[0].depth + topics[1].depth);
    expect(r.json.memory_depth).toBe(r.json.depth - r.json.backend_depth);
    expect(r.json.nodes.map((n: Json) => n.node).sort()).toEqual(nodes.map(nodeName).sort());
    const audit = r.json.channels.find((c: Json) => c.channel_name === "audit");
    expect(audit.nodes).toHaveLength(2);
    expect(audit.message_count).toBe(5);
    expect(audit.depth + audit.in_flight_count).toBe(5);
    expect(r.json.message).toBe("");
  });

  test("GET /api/topics/:topic/:channel has the clients, each with its node and connected time", async () => {
    const r = await api("GET", "/api/topics/orders/audit");
    expect(r.status).toBe(200);
    expect(r.json.channel_name).toBe("audit");
    expect(r.json.topic_name).toBe("orders");
    expect(r.json.in_flight_count).toBe(1);
    expect(r.json.clients).toHaveLength(1);
    const c = r.json.clients[0];
    expect(c.node).toBe(nodeName(nodes[0]!));
    expect(c.hostname).toBe("worker-1");
    expect(c.user_agent).toBe("test/1.0");
    expect(c.ready_count).toBe(1);
    expect(c.remote_address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(typeof c.connected).toBe("number");
    expect(c.connected % 1e9).toBe(0);
  });

  test("unknown topic or channel: 404 with the NSQ message", async () => {
    const t = await api("GET", "/api/topics/nosuchtopic");
    expect([t.status, t.json.message]).toEqual([404, "TOPIC_NOT_FOUND"]);
    const c = await api("GET", "/api/topics/orders/nosuchchannel");
    expect([c.status, c.json.message]).toEqual([404, "CHANNEL_NOT_FOUND"]);
  });

  test("GET /api/nodes: both brokers, each seen by both lookupds", async () => {
    const r = await api("GET", "/api/nodes");
    expect(r.status).toBe(200);
    expect(r.json.message).toBe("");
    expect(r.json.nodes).toHaveLength(2);
    for (const n of r.json.nodes) {
      expect(n.remote_addresses).toHaveLength(2);
      expect(n.broadcast_address).toBe("127.0.0.1");
      expect(n.version).toBe("1.3.0");
      expect(n.out_of_date).toBe(false);
      expect(n.topics.map((t: Json) => t.topic)).toContain("orders");
      expect(n.topics.every((t: Json) => t.tombstoned === false)).toBe(true);
    }
    expect(r.json.nodes.map((n: Json) => n.http_port).sort()).toEqual(nodes.map((n) => n.http).sort());
  });

  test("GET /api/nodes/:node: that broker's topics and totals; unknown node 404", async () => {
    const r = await api("GET", `/api/nodes/${nodeName(nodes[0]!)}`);
    expect(r.status).toBe(200);
    expect(r.json.node).toBe(nodeName(nodes[0]!));
    expect(r.json.topics.map((t: Json) => t.topic_name).sort()).toEqual(["events", "orders"]);
    expect(r.json.total_messages).toBe(4);
    expect(r.json.total_clients).toBe(1);
    const missing = await api("GET", "/api/nodes/127.0.0.1:1");
    expect([missing.status, missing.json.message]).toEqual([404, "NODE_NOT_FOUND"]);
  });

  test("GET /api/counter: message_count per topic:channel:node", async () => {
    const r = await api("GET", "/api/counter");
    expect(r.status).toBe(200);
    const key0 = `orders:audit:${nodeName(nodes[0]!)}`;
    const key1 = `orders:audit:${nodeName(nodes[1]!)}`;
    // nsqadmin's fields, plus (beyond nsqadmin) the rates nsq serve measures itself
    const { rates, ...fields } = r.json.stats[key0];
    expect(fields).toEqual({ node: nodeName(nodes[0]!), topic_name: "orders", channel_name: "audit", message_count: 3 });
    expect(Object.keys(rates).sort()).toEqual(["message_10s", "message_1m", "message_1s", "out_10s", "out_1m", "out_1s"]);
    expect(r.json.stats[key1].message_count).toBe(2);
  });

  test("GET /api/topics?inactive=true: topics without producers, with their channels", async () => {
    for (const l of lookupds) {
      await post(l, "/topic/create?topic=ghost");
      await post(l, "/channel/create?topic=ghost&channel=c1");
    }
    const r = await api("GET", "/api/topics?inactive=true");
    expect(r.json).toEqual({ topics: { ghost: ["c1"] }, message: "" });
  });

  test("the UI pages answer the HTML shell; its assets are embedded", async () => {
    for (const p of ["/", "/topics", "/topics/orders", "/topics/orders/audit", "/nodes", `/nodes/${nodeName(nodes[0]!)}`, "/counter", "/lookup"]) {
      const res = await fetch(adminUrl + p);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(`<script src="/static/app.js">`);
    }
    const js = await fetch(`${adminUrl}/static/app.js`);
    expect(js.headers.get("content-type")).toStartWith("text/javascript");
    expect(js.headers.get("content-encoding")).toBe("gzip");
    expect((await js.text()).length).toBeGreaterThan(5000);
    expect((await fetch(`${adminUrl}/static/app.css`)).status).toBe(200);
    expect((await fetch(`${adminUrl}/static/nope.js`)).status).toBe(404);
  });
});

describe("actions", () => {
  const audit = async (n: Daemon): Promise<Json> => (await nodeStats(n, "orders")).topics[0].channels.find((c: Json) => c.channel_name === "audit");

  test("pause / unpause a channel on every broker, notified", async () => {
    notifications.length = 0;
    const r = await api("POST", "/api/topics/orders/audit", { action: "pause" }, { "User-Agent": "admin-test", Authorization: `Basic ${btoa("ops:pw")}` });
    expect(r).toMatchObject({ status: 200, json: { message: "" } });
    for (const n of nodes) expect((await audit(n)).paused).toBe(true);
    expect((await api("GET", "/api/topics/orders/audit")).json.paused).toBe(true);
    const note = await until("pause notification", () => notifications.find((x) => x.action === "pause_channel"));
    expect(note).toMatchObject({ topic: "orders", channel: "audit", user: "ops", user_agent: "admin-test", url: `http://127.0.0.1:${admin.http}/api/topics/orders/audit` });
    expect(note.remote_ip).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(typeof note.timestamp).toBe("number");
    expect(typeof note.via).toBe("string");
    expect(note).not.toHaveProperty("node");
    await api("POST", "/api/topics/orders/audit", { action: "unpause" });
    for (const n of nodes) expect((await audit(n)).paused).toBe(false);
  });

  test("pause / unpause a topic", async () => {
    expect((await api("POST", "/api/topics/orders", { action: "pause" })).status).toBe(200);
    for (const n of nodes) expect((await nodeStats(n, "orders")).topics[0].paused).toBe(true);
    expect((await api("GET", "/api/topics/orders")).json.paused).toBe(true);
    await api("POST", "/api/topics/orders", { action: "unpause" });
    for (const n of nodes) expect((await nodeStats(n, "orders")).topics[0].paused).toBe(false);
    await until("notifications", () => notifications.some((x) => x.action === "unpause_topic"));
  });

  test("empty a channel: its depth drops to 0 on every broker", async () => {
    await post(nodes[1]!, "/mpub?topic=orders", "x\ny\nz");
    expect((await audit(nodes[1]!)).depth).toBeGreaterThan(0);
    expect((await api("POST", "/api/topics/orders/audit", { action: "empty" })).json.message).toBe("");
    for (const n of nodes) expect((await audit(n)).depth).toBe(0);
    await until("notification", () => notifications.some((x) => x.action === "empty_channel"));
  });

  test("an action on a topic nobody knows: 404 TOPIC_NOT_FOUND, nothing notified", async () => {
    const before = notifications.length;
    const r = await api("POST", "/api/topics/nosuchtopic", { action: "pause" });
    expect([r.status, r.json.message]).toEqual([404, "TOPIC_NOT_FOUND"]);
    expect(notifications.length).toBe(before);
  });

  test("bad bodies and actions are 400", async () => {
    const notJson = await api("POST", "/api/topics/orders", "{nope");
    expect(notJson.status).toBe(400);
    const bad = await api("POST", "/api/topics/orders", { action: "explode" });
    expect([bad.status, bad.json.message]).toEqual([400, "INVALID_ACTION"]);
    const badTopic = await api("POST", "/api/topics", { topic: "bad topic!" });
    expect([badTopic.status, badTopic.json.message]).toEqual([400, "INVALID_TOPIC"]);
    const badChannel = await api("POST", "/api/topics", { topic: "ok", channel: "bad channel!" });
    expect([badChannel.status, badChannel.json.message]).toEqual([400, "INVALID_CHANNEL"]);
    const tomb = await api("DELETE", `/api/nodes/${nodeName(nodes[0]!)}`, "[");
    expect([tomb.status, tomb.json.message]).toEqual([400, "INVALID_BODY"]);
  });

  test("POST /api/topics creates the topic and channel on every lookupd and the channel on the producers", async () => {
    const r = await api("POST", "/api/topics", { topic: "orders", channel: "billing" });
    expect(r.json.message).toBe("");
    for (const n of nodes) {
      const chans = (await nodeStats(n, "orders")).topics[0].channels.map((c: Json) => c.channel_name);
      expect(chans).toContain("billing");
    }
    const fresh = await api("POST", "/api/topics", { topic: "fresh" });
    expect(fresh.status).toBe(200);
    for (const l of lookupds) {
      const topics = (await (await fetch(`http://127.0.0.1:${l.http}/topics`)).json()) as Json;
      expect(topics.topics).toContain("fresh");
    }
    const actions = await until("create notifications", () => {
      const a = notifications.map((x) => `${x.action}:${x.topic}:${x.channel ?? ""}`);
      return a.includes("create_channel:orders:billing") && a.includes("create_topic:fresh:") ? a : null;
    });
    expect(actions).toContain("create_topic:orders:");
  });

  test("DELETE /api/topics/:topic/:channel deletes the channel on brokers and lookupds", async () => {
    expect((await api("DELETE", "/api/topics/orders/billing")).json.message).toBe("");
    for (const n of nodes) {
      const chans = (await nodeStats(n, "orders")).topics[0].channels.map((c: Json) => c.channel_name);
      expect(chans).not.toContain("billing");
    }
    for (const l of lookupds) {
      const r = (await (await fetch(`http://127.0.0.1:${l.http}/channels?topic=orders`)).json()) as Json;
      expect(r.channels).not.toContain("billing");
    }
  });

  test("DELETE /api/nodes/:node tombstones the node for the topic and deletes it there", async () => {
    const r = await api("DELETE", `/api/nodes/${nodeName(nodes[1]!)}`, { topic: "orders" });
    expect(r.json.message).toBe("");
    expect((await nodeStats(nodes[1]!, "orders")).topics ?? []).toEqual([]);
    for (const l of lookupds) {
      const lookup = (await (await fetch(`http://127.0.0.1:${l.http}/lookup?topic=orders`)).json()) as Json;
      expect(lookup.producers.map((p: Json) => p.http_port)).toEqual([nodes[0]!.http]);
    }
    const note = await until("tombstone notification", () => notifications.find((x) => x.action === "tombstone_topic_producer"));
    expect(note).toMatchObject({ topic: "orders", node: nodeName(nodes[1]!) });
  });

  test("DELETE /api/topics/:topic removes it from lookupds and brokers", async () => {
    await post(nodes[1]!, "/pub?topic=doomed", "x");
    await until("doomed registered", async () => (await api("GET", "/api/topics")).json.topics.includes("doomed"));
    expect((await api("DELETE", "/api/topics/doomed")).json.message).toBe("");
    expect((await nodeStats(nodes[1]!, "doomed")).topics ?? []).toEqual([]);
    expect((await api("GET", "/api/topics")).json.topics).not.toContain("doomed");
    await until("delete notification", () => notifications.some((x) => x.action === "delete_topic" && x.topic === "doomed"));
  });
});

describe("access control and /config", () => {
  test("--admin-user: mutating actions need the ACL header naming an admin", async () => {
    const base = await startInProcess({ lookupdHttpAddresses: lookupds.map((l) => `127.0.0.1:${l.http}`), adminUsers: ["alice"] });
    for (const [method, path, body] of [
      ["POST", "/api/topics/orders", { action: "pause" }],
      ["POST", "/api/topics", { topic: "x" }],
      ["DELETE", "/api/topics/orders"],
      ["DELETE", "/api/topics/orders/audit"],
      ["DELETE", `/api/nodes/${nodeName(nodes[0]!)}`, { topic: "orders" }],
    ] as const) {
      const r = await api(method, path, body, { "X-Forwarded-User": "mallory" }, base);
      expect([path, r.status, r.json.message]).toEqual([path, 403, "FORBIDDEN"]);
    }
    const ok = await api("POST", "/api/topics/orders", { action: "pause" }, { "X-Forwarded-User": "alice" }, base);
    expect(ok.status).toBe(200);
    expect((await nodeStats(nodes[0]!, "orders")).topics[0].paused).toBe(true);
    await api("POST", "/api/topics/orders", { action: "unpause" }, { "X-Forwarded-User": "alice" }, base);
    // reads stay open
    expect((await api("GET", "/api/topics", undefined, {}, base)).status).toBe(200);
    const page = await (await fetch(`${base}/topics`)).text();
    expect(page).toContain(`"isAdmin":false`);
  });

  test("GET/PUT /config/:opt from the allowed CIDR; others 403", async () => {
    const lvl = await api("GET", "/config/log_level");
    expect(lvl.json).toBe(2 as unknown as Json);
    const put = await api("PUT", "/config/log_level", "warn");
    expect([put.status, put.json]).toEqual([200, 3 as unknown as Json]);
    expect((await api("PUT", "/config/log_level", "loud")).json.message).toBe("INVALID_VALUE");
    expect((await api("PUT", "/config/nope", "1")).json.message).toBe("INVALID_OPTION");
    expect((await api("GET", "/config/nsqlookupd_http_addresses")).json).toEqual(lookupds.map((l) => `127.0.0.1:${l.http}`) as unknown as Json);
    expect((await api("GET", "/config/http_client_request_timeout")).json).toBe(2e9 as unknown as Json);
    const denied = await startInProcess({ lookupdHttpAddresses: [`127.0.0.1:${lookupds[0]!.http}`], allowConfigFromCidr: "10.0.0.0/8" });
    const r = await api("GET", "/config/log_level", undefined, {}, denied);
    expect([r.status, r.json.message]).toEqual([403, "FORBIDDEN"]);
  });

  test("GET /api/graphite: nsqadmin's argument checks and the rate per second of the statsd interval", async () => {
    const graphite = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => {
        const u = new URL(req.url);
        // nsqadmin asks for the window one to two statsd intervals ago
        if (u.pathname !== "/render" || u.searchParams.get("from") !== "-20sec" || u.searchParams.get("until") !== "-10sec") return new Response("bad", { status: 400 });
        return Response.json([{ target: u.searchParams.get("target"), datapoints: [[125, 1700000000]] }]);
      },
    });
    try {
      const base = await startInProcess({ nsqdHttpAddresses: [nodeName(nodes[0]!)], graphiteUrl: `http://127.0.0.1:${graphite.port}`, statsdInterval: 10_000 });
      expect((await api("GET", "/api/graphite?metric=depth&target=x", undefined, {}, base)).json.message).toBe("INVALID_ARG_METRIC");
      expect((await api("GET", "/api/graphite?metric=rate", undefined, {}, base)).json.message).toBe("INVALID_ARG_TARGET");
      const r = await api("GET", "/api/graphite?metric=rate&target=sumSeries(nsq.*.topic.orders.message_count)", undefined, {}, base);
      expect(r).toMatchObject({ status: 200, json: { rate: "12.50" } });
      // without graphite, as nsqadmin: the request fails
      const none = await api("GET", "/api/graphite?metric=rate&target=x");
      expect([none.status, none.json.message]).toEqual([500, "INTERNAL_ERROR"]);
    } finally {
      graphite.stop(true);
    }
  });

  test("--base-path: every route under the prefix", async () => {
    const base = await startInProcess({ lookupdHttpAddresses: [`127.0.0.1:${lookupds[0]!.http}`], basePath: "/admin/" });
    expect(await (await fetch(`${base}/admin/ping`)).text()).toBe("OK");
    expect((await api("GET", "/admin/api/topics", undefined, {}, base)).json.topics).toContain("orders");
    const page = await (await fetch(`${base}/admin/topics/orders`)).text();
    expect(page).toContain(`src="/admin/static/app.js"`);
    expect((await fetch(`${base}/admin/static/app.css`)).status).toBe(200);
    expect((await fetch(`${base}/api/topics`)).status).toBe(404);
  });
});

describe("failures", () => {
  test("a hung lookupd: /api/nodes/:node answers from the last node list while a newer one is out", async () => {
    let received = 0;
    let abandoned = 0;
    const hung = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => {
        received++;
        req.signal.addEventListener("abort", () => abandoned++);
        return new Promise<Response>(() => {});
      },
    });
    try {
      const base = await startInProcess({ lookupdHttpAddresses: [`127.0.0.1:${lookupds[0]!.http}`, `127.0.0.1:${hung.port}`], httpClientRequestTimeout: 1000 });
      const path = `/api/nodes/${nodeName(nodes[0]!)}`;
      // the first call has no list yet: it waits for the hung lookupd's timeout, which it names
      const first = await api("GET", path, undefined, {}, base);
      expect(first.status).toBe(200);
      expect(first.json.message).toContain(`127.0.0.1:${hung.port}`);
      await until("the first request abandoned", () => abandoned === 1);
      // later calls start a newer list (the hung lookupd holds it) and answer without waiting for it
      const seen = received;
      const later = await until("a call that started a newer list", async () => {
        const r = await api("GET", path, undefined, {}, base);
        return received > seen || (await Bun.sleep(5), received > seen) ? r : null;
      }, 5000);
      expect(later.status).toBe(200);
      expect(later.json.topics.length).toBeGreaterThan(0);
      // answered while that newer request was still out: it has not been abandoned yet
      expect(abandoned).toBe(1);
    } finally {
      hung.stop(true);
    }
  });

  test("nsqd-list mode: a killed broker is named in message, the other answers and is acted on", async () => {
    const victim = await group.nsqd([]);
    await post(victim, "/channel/create?topic=orders&channel=audit".replace("channel/create", "topic/create"));
    await post(victim, "/channel/create?topic=orders&channel=audit");
    const base = await startInProcess({ nsqdHttpAddresses: [nodeName(nodes[0]!), nodeName(victim)], httpClientRequestTimeout: 2000 });
    const before = await api("GET", "/api/topics/orders", undefined, {}, base);
    expect(before.json.nodes).toHaveLength(2);
    await victim.kill();
    const topics = await api("GET", "/api/topics", undefined, {}, base);
    expect(topics.status).toBe(200);
    expect(topics.json.topics).toContain("orders");
    expect(topics.json.message).toStartWith("WARNING: ");
    expect(topics.json.message).toContain(`127.0.0.1:${victim.http}`);
    const topic = await api("GET", "/api/topics/orders", undefined, {}, base);
    expect(topic.status).toBe(200);
    expect(topic.json.nodes.map((n: Json) => n.node)).toEqual([nodeName(nodes[0]!)]);
    const act = await api("POST", "/api/topics/orders/audit", { action: "pause" }, {}, base);
    expect(act.status).toBe(200);
    expect(act.json.message).toContain(`127.0.0.1:${victim.http}`);
    expect((await nodeStats(nodes[0]!, "orders")).topics[0].channels.find((c: Json) => c.channel_name === "audit").paused).toBe(true);
    await api("POST", "/api/topics/orders/audit", { action: "unpause" }, {}, base);
    const nodesReply = await api("GET", "/api/nodes", undefined, {}, base);
    expect(nodesReply.json.nodes).toHaveLength(1);
    expect(nodesReply.json.message).toContain(`127.0.0.1:${victim.http}`);
  });

  test("a killed lookupd: answers from the other one, the failure in message; a killed broker leaves the node list", async () => {
    await lookupds[1]!.kill();
    const r = await api("GET", "/api/topics");
    expect(r.status).toBe(200);
    expect(r.json.topics).toContain("orders");
    expect(r.json.message).toContain(`127.0.0.1:${lookupds[1]!.http}`);
    const n = await api("GET", "/api/nodes");
    expect(n.json.nodes).toHaveLength(2);
    expect(n.json.message).toStartWith("WARNING: ");
    const act = await api("POST", "/api/topics", { topic: "halfcreated" });
    expect(act.status).toBe(200);
    expect(act.json.message).toContain(`127.0.0.1:${lookupds[1]!.http}`);
    await nodes[1]!.kill();
    await until("broker 1 unregistered", async () => (await api("GET", "/api/nodes")).json.nodes.length === 1);
    const left = await api("GET", "/api/topics/orders");
    expect(left.status).toBe(200);
    expect(left.json.nodes.map((x: Json) => x.node)).toEqual([nodeName(nodes[0]!)]);
  });

  test("no lookupd answering: 502 UPSTREAM_ERROR", async () => {
    await lookupds[0]!.kill();
    const r = await api("GET", "/api/topics");
    expect(r.status).toBe(502);
    expect(r.json.message).toStartWith("UPSTREAM_ERROR: failed to query any nsqlookupd: ");
  });
});
