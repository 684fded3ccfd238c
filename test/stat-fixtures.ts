/**
 * Test support for the stat tool: /stats JSON fixtures shaped exactly as spec §3.6, and fake
 * nsqd / nsqlookupd HTTP servers on 127.0.0.1:0 whose replies the test controls.
 */
import type { Server } from "bun";

export interface ChannelFixture {
  channel_name: string;
  depth?: number;
  backend_depth?: number;
  in_flight_count?: number;
  deferred_count?: number;
  message_count?: number;
  requeue_count?: number;
  timeout_count?: number;
  client_count?: number;
  clients?: unknown[] | null;
  paused?: boolean;
}

export interface TopicFixture {
  topic_name: string;
  channels: ChannelFixture[];
  depth?: number;
  backend_depth?: number;
  message_count?: number;
  message_bytes?: number;
  paused?: boolean;
}

const E2E = { count: 0, percentiles: null };

/** A full /stats?format=json document in 1.3.0 field order. */
export function statsDocument(topics: TopicFixture[] | null): unknown {
  return {
    version: "1.3.0",
    health: "OK",
    start_time: 1703577600,
    topics:
      topics === null
        ? null
        : topics.map((t) => ({
            topic_name: t.topic_name,
            channels: t.channels.map((c) => ({
              channel_name: c.channel_name,
              depth: c.depth ?? 0,
              backend_depth: c.backend_depth ?? 0,
              in_flight_count: c.in_flight_count ?? 0,
              deferred_count: c.deferred_count ?? 0,
              message_count: c.message_count ?? 0,
              requeue_count: c.requeue_count ?? 0,
              timeout_count: c.timeout_count ?? 0,
              client_count: c.client_count ?? 0,
              clients: c.clients === undefined ? [] : c.clients,
              paused: c.paused ?? false,
              e2e_processing_latency: E2E,
            })),
            depth: t.depth ?? 0,
            backend_depth: t.backend_depth ?? 0,
            message_count: t.message_count ?? 0,
            message_bytes: t.message_bytes ?? 0,
            paused: t.paused ?? false,
            e2e_processing_latency: E2E,
          })),
    producers: null,
  };
}

/** Applies nsqd's topic/channel filter rules (§3.6) to a fixture list. */
export function filterTopics(topics: TopicFixture[], topic: string | null, channel: string | null): TopicFixture[] | null {
  if (topic === null) return topics;
  const t = topics.find((x) => x.topic_name === topic);
  if (!t) return null;
  if (channel === null) return [t];
  const c = t.channels.filter((x) => x.channel_name === channel);
  return c.length === 0 ? [] : [{ ...t, channels: c }];
}

export interface FakeNode {
  server: Server<undefined>;
  address: string;
  port: number;
  requests: string[];
  stop(): Promise<void>;
}

const NSQ_HEADERS = { "Content-Type": "application/json; charset=utf-8", "X-NSQ-Content-Type": "nsq; version=1.0" };

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: NSQ_HEADERS });
}

/** A fake HTTP node; `handle` gets every request (path + query recorded in `requests`). */
export function fakeNode(handle: (url: URL, req: Request) => Response | Promise<Response>): FakeNode {
  const requests: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      requests.push(`${req.method} ${url.pathname}${url.search}`);
      return handle(url, req);
    },
  });
  const port = server.port!;
  return { server, address: `127.0.0.1:${port}`, port, requests, stop: () => server.stop(true) };
}

/**
 * A fake nsqd whose /stats come from `topics()` (called per request, so counters can move);
 * `onChannelPoll` runs first for each channel-filtered request (one per nsq_stat poll).
 */
export function fakeNsqd(topics: () => TopicFixture[], onChannelPoll?: () => void): FakeNode {
  return fakeNode((url) => {
    if (url.pathname === "/stats") {
      if (url.searchParams.has("channel")) onChannelPoll?.();
      const filtered = filterTopics(topics(), url.searchParams.get("topic"), url.searchParams.get("channel"));
      return json(statsDocument(filtered));
    }
    if (url.pathname === "/ping") return new Response("OK");
    return json({ message: "NOT_FOUND" }, 404);
  });
}

/** A fake nsqlookupd answering /lookup and /nodes with the given nsqd ports. */
export function fakeLookupd(nsqdPorts: () => Array<{ port: number; topics: string[] }>): FakeNode {
  const peer = (port: number) => ({
    remote_address: `127.0.0.1:${40000 + (port % 1000)}`,
    hostname: `node${port}`,
    broadcast_address: "127.0.0.1",
    tcp_port: port + 1,
    http_port: port,
    version: "1.3.0",
  });
  return fakeNode((url) => {
    if (url.pathname === "/lookup") {
      const topic = url.searchParams.get("topic");
      if (!topic) return json({ message: "MISSING_ARG_TOPIC" }, 400);
      const producers = nsqdPorts().filter((n) => n.topics.includes(topic));
      if (producers.length === 0) return json({ message: "TOPIC_NOT_FOUND" }, 404);
      return json({ channels: [], producers: producers.map((n) => peer(n.port)) });
    }
    if (url.pathname === "/nodes") {
      return json({
        producers: nsqdPorts().map((n) => ({ ...peer(n.port), tombstones: n.topics.map(() => false), topics: n.topics })),
      });
    }
    return json({ message: "NOT_FOUND" }, 404);
  });
}

/** Polls `check` until it returns true or the deadline passes (then throws with `what`). */
/** Polling with a deadline (the tests' one helper, under the name these tests use). */
export { until as waitFor } from "./helpers/until.ts";

export interface SimulatedNsqd extends FakeNode {
  topics: TopicFixture[];
  /** POSTed actions, e.g. "POST /channel/pause?topic=t&channel=c" */
  actions: string[];
}

/**
 * A fake nsqd that keeps state: `traffic()` runs before every /stats (move counters there), and
 * the pause/unpause/empty routes of spec §3.2 change `topics` as nsqd would.
 */
export function simulatedNsqd(topics: TopicFixture[], traffic: (topics: TopicFixture[]) => void = () => {}): SimulatedNsqd {
  const actions: string[] = [];
  const node = fakeNode((url, req) => {
    if (url.pathname === "/stats" && req.method === "GET") {
      traffic(topics);
      return json(statsDocument(filterTopics(topics, url.searchParams.get("topic"), url.searchParams.get("channel"))));
    }
    const m = /^\/(topic|channel)\/(pause|unpause|empty)$/.exec(url.pathname);
    if (m && req.method === "POST") {
      actions.push(`POST ${url.pathname}${url.search}`);
      const t = topics.find((x) => x.topic_name === url.searchParams.get("topic"));
      if (!t) return json({ message: "TOPIC_NOT_FOUND" }, 404);
      let target: TopicFixture | ChannelFixture = t;
      if (m[1] === "channel") {
        const c = t.channels.find((x) => x.channel_name === url.searchParams.get("channel"));
        if (!c) return json({ message: "CHANNEL_NOT_FOUND" }, 404);
        target = c;
      }
      if (m[2] === "empty") {
        target.depth = 0;
        target.backend_depth = 0;
        if ("in_flight_count" in target || m[1] === "channel") {
          (target as ChannelFixture).in_flight_count = 0;
          (target as ChannelFixture).deferred_count = 0;
        }
      } else target.paused = m[2] === "pause";
      return new Response(null, { status: 200 });
    }
    return json({ message: "NOT_FOUND" }, 404);
  });
  return { ...node, topics, actions };
}

export interface SilentListener {
  address: string;
  /** connections accepted so far */
  accepted(): number;
  stop(): void;
}

/**
 * A TCP listener that accepts connections and never writes a byte: what a SIGSTOPped nsqd looks
 * like from outside (the kernel still completes the handshake, nothing answers).
 */
export function silentListener(): SilentListener {
  let accepted = 0;
  const sockets = new Set<{ end(): void }>();
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        accepted++;
        sockets.add(s);
      },
      close(s) {
        sockets.delete(s);
      },
      data() {},
    },
  });
  return {
    address: `127.0.0.1:${listener.port}`,
    accepted: () => accepted,
    stop() {
      for (const s of sockets) s.end();
      listener.stop(true);
    },
  };
}
