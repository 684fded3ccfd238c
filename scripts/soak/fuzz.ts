/**
 * Item 5 of issue 18: random, mutated (from valid frames) and truncated frames against the TCP
 * port of `nsq serve`, random requests against every HTTP route of `nsq serve` and `nsq lookupd`,
 * while a well-behaved producer and consumer use the same broker. Zero crashes, zero unhandled
 * errors in the logs, no 5xx answers, every acknowledged good message delivered.
 */
import net from "node:net";
import { NsqConnection, type ConnectionEvents } from "../../src/client/connection.ts";
import { resolveClientConfig } from "../../src/client/config.ts";
import { Producer } from "../../src/client/producer.ts";
import { latencyProbe, mib, ms, rssOf, startLookupd, startServe, until, type ScenarioResult } from "./lib.ts";

export interface FuzzOptions {
  /** TCP frames to send in total, and how many connections send at once */
  frames: number;
  parallel: number;
  /** HTTP requests per daemon */
  httpRequests: number;
  seed: number;
}

export const FUZZ_FULL: FuzzOptions = { frames: 1_000_000, parallel: 32, httpRequests: 50_000, seed: 18 };

/** Deterministic PRNG (mulberry32) so a failing run can be replayed with its seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GOOD_TOPIC = "wellbehaved";
const NAMES = ["fz", "fz2", "fz#ephemeral", "a.b_c-d", "", "x".repeat(64), "x".repeat(65), "bad name", "ü", "%", "..", "c#ephemeral"];

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
}

/** A syntactically valid frame of a random command (arguments random within reason). */
export function validFrame(r: () => number): Buffer {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const name = (): string => pick(NAMES.slice(0, 4));
  const body = (): Buffer => Buffer.alloc(Math.floor(r() * 64), 0x62);
  const id = (): string => Array.from({ length: 16 }, () => "0123456789abcdef"[Math.floor(r() * 16)]).join("");
  const num = (): number => pick([0, 1, 5, 100, 2500, 2501, -1, 0x7fffffff, Math.floor(r() * 100000)]);
  switch (Math.floor(r() * 12)) {
    case 0:
      return Buffer.from("NOP\n");
    case 1: {
      const b = body();
      return Buffer.concat([Buffer.from(`PUB ${name()}\n`), int32(b.length), b]);
    }
    case 2: {
      const parts = Array.from({ length: 1 + Math.floor(r() * 4) }, body);
      const inner = Buffer.concat([int32(parts.length), ...parts.flatMap((p) => [int32(p.length), p])]);
      return Buffer.concat([Buffer.from(`MPUB ${name()}\n`), int32(inner.length), inner]);
    }
    case 3: {
      const b = body();
      return Buffer.concat([Buffer.from(`DPUB ${name()} ${num()}\n`), int32(b.length), b]);
    }
    case 4:
      return Buffer.from(`SUB ${name()} ${name()}\n`);
    case 5:
      return Buffer.from(`RDY ${num()}\n`);
    case 6:
      return Buffer.from(`FIN ${id()}\n`);
    case 7:
      return Buffer.from(`REQ ${id()} ${num()}\n`);
    case 8:
      return Buffer.from(`TOUCH ${id()}\n`);
    case 9: {
      const fields: Record<string, unknown> = {};
      for (const k of ["client_id", "hostname", "heartbeat_interval", "output_buffer_size", "output_buffer_timeout", "sample_rate", "msg_timeout", "user_agent", "feature_negotiation"]) {
        if (r() < 0.5) fields[k] = pick([num(), "s", true, null, [], {}, -1]);
      }
      const j = Buffer.from(JSON.stringify(fields));
      return Buffer.concat([Buffer.from("IDENTIFY\n"), int32(j.length), j]);
    }
    case 10: {
      const b = body();
      return Buffer.concat([Buffer.from("AUTH\n"), int32(b.length), b]);
    }
    default:
      return Buffer.from("CLS\n");
  }
}

/** A valid frame changed: bytes flipped, inserted or deleted, its size field replaced, or cut short. */
export function mutatedFrame(r: () => number): { frame: Buffer; truncated: boolean } {
  const f = Buffer.from(validFrame(r));
  const kind = Math.floor(r() * 6);
  if (kind === 0) {
    for (let k = 0; k < 1 + Math.floor(r() * 3); k++) f[Math.floor(r() * f.length)] = Math.floor(r() * 256);
    return { frame: f, truncated: false };
  }
  if (kind === 1) {
    const at = Math.floor(r() * f.length);
    return { frame: Buffer.concat([f.subarray(0, at), Buffer.from([Math.floor(r() * 256)]), f.subarray(at)]), truncated: false };
  }
  if (kind === 2) {
    const at = Math.floor(r() * f.length);
    return { frame: Buffer.concat([f.subarray(0, at), f.subarray(at + 1 + Math.floor(r() * 4))]), truncated: false };
  }
  if (kind === 3) {
    const nl = f.indexOf(10);
    if (nl >= 0 && f.length >= nl + 5) f.writeInt32BE([-1, 0, 1, 0x7fffffff, -0x80000000, 1 << 20, Math.floor(r() * 0x7fffffff)][Math.floor(r() * 7)]! | 0, nl + 1);
    return { frame: f, truncated: false };
  }
  if (kind === 4) return { frame: Buffer.from(f.toString("latin1").toLowerCase(), "latin1"), truncated: false };
  return { frame: f.subarray(0, Math.floor(r() * f.length)), truncated: true };
}

export function randomFrame(r: () => number): Buffer {
  return Buffer.from(Array.from({ length: 1 + Math.floor(r() * 200) }, () => Math.floor(r() * 256)));
}

/** One connection's session: magic (usually right), then frames; ends after a truncated frame. */
function session(r: () => number): { bytes: Buffer; frames: number } {
  const out: Buffer[] = [r() < 0.95 ? Buffer.from("  V2") : randomFrame(r).subarray(0, 4)];
  const n = 1 + Math.floor(r() * 200);
  let frames = 0;
  for (let k = 0; k < n; k++) {
    const x = r();
    frames++;
    if (x < 0.5) out.push(validFrame(r));
    else if (x < 0.9) {
      const m = mutatedFrame(r);
      out.push(m.frame);
      if (m.truncated) break;
    } else out.push(randomFrame(r));
  }
  return { bytes: Buffer.concat(out), frames };
}

function runSession(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.write(bytes);
      s.end();
    });
    // the server closes at the first fatal error; whatever it answered is read and dropped
    s.resume();
    s.setTimeout(5000, () => s.destroy());
    s.on("error", () => {});
    s.on("close", () => resolve());
  });
}

// ---------------------------------------------------------------- HTTP

const METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
const NSQD_ROUTES = ["/", "/ping", "/info", "/stats", "/pub", "/mpub", "/topic/create", "/topic/delete", "/topic/empty", "/topic/pause",
  "/topic/unpause", "/channel/create", "/channel/delete", "/channel/empty", "/channel/pause", "/channel/unpause", "/debug/pprof/",
  "/debug/pprof/cmdline", "/debug/pprof/symbol", "/debug/pprof/heap", "/debug/setblockrate", "/debug/freememory", "/config/log_level",
  "/config/nsqlookupd_tcp_addresses", "/config/x", "/put", "/mput", "/create_topic", "/delete_topic", "/empty_topic", "/pause_topic",
  "/create_channel", "/delete_channel", "/empty_channel", "/pause_channel", "/metrics", "/channel/peek", "/channel/config", "/nope", "//",
  "/stats/", "/%zz"];
const LOOKUPD_ROUTES = ["/", "/ping", "/info", "/debug", "/lookup", "/topics", "/channels", "/nodes", "/topic/create", "/topic/delete",
  "/topic/tombstone", "/channel/create", "/channel/delete", "/create_topic", "/delete_topic", "/tombstone_topic_producer", "/metrics", "/nope", "/%zz"];
const KEYS = ["topic", "channel", "format", "defer", "node", "include_clients", "include_mem", "binary", "rate", "n", "encoding", "max_attempts", "x", ""];
const VALUES = ["fz", "fz2", "fz#ephemeral", "", "json", "text", "true", "1", "-1", "99999999999999999999", "1.5", "%zz", "%00", "ü",
  "x".repeat(70), "127.0.0.1:1", "127.0.0.1:0", ":", "a b", "a&b", "#", "NaN", "default", "base64", "0", "1000000"];
// /config bodies never name a non-loopback address: a fuzzed lookupd address must not leave the machine
const BODIES = ["", "x", "hello", '"debug"', '"fatal"', "[]", '["127.0.0.1:1"]', '[""]', "{", "null", "\x00\x01\x02", "a\nb\n\nc", "\x00\x00\x00\x02"];

function randomRequest(r: () => number, routes: readonly string[]): { method: string; path: string; body: string | Uint8Array | null } {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const method = pick(METHODS);
  let path = pick(routes);
  if (r() < 0.05) path = path.slice(0, Math.floor(r() * path.length)) || "/";
  const q: string[] = [];
  for (let k = Math.floor(r() * 4); k > 0; k--) q.push(r() < 0.1 ? pick(VALUES) : `${pick(KEYS)}=${pick(VALUES)}`);
  if (q.length > 0 || r() < 0.1) path += `?${q.join(r() < 0.9 ? "&" : ";")}`;
  let body: string | Uint8Array | null = null;
  if (method !== "GET" && method !== "HEAD") {
    const x = r();
    body = x < 0.6 ? pick(BODIES) : x < 0.9 ? Buffer.from(Array.from({ length: Math.floor(r() * 2000) }, () => Math.floor(r() * 256))) : "m\n".repeat(Math.floor(r() * 5000));
  }
  return { method, path, body };
}

/** Sends random requests with `parallel` workers; counts answers by status class, keeps the 5xx ones. */
async function fuzzHttp(port: number, routes: readonly string[], n: number, r: () => number, parallel = 8) {
  const byClass: Record<string, number> = {};
  const serverErrors: string[] = [];
  let failures = 0;
  let sent = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (sent < n) {
        sent++;
        const req = randomRequest(r, routes);
        try {
          const res = await fetch(`http://127.0.0.1:${port}${req.path}`, {
            method: req.method,
            ...(req.body !== null ? { body: req.body } : {}),
            signal: AbortSignal.timeout(5000),
          });
          await res.arrayBuffer();
          const cls = `${Math.floor(res.status / 100)}xx`;
          byClass[cls] = (byClass[cls] ?? 0) + 1;
          // 501 is the documented answer of the Go-only profiles (/debug/pprof/heap, ...)
          if (res.status >= 500 && !(res.status === 501 && req.path.startsWith("/debug/pprof/"))) serverErrors.push(`${req.method} ${req.path} → ${res.status}`);
        } catch {
          failures++;
        }
      }
    }),
  );
  return { byClass, serverErrors, failures };
}

// ---------------------------------------------------------------- the well-behaved pair

class GoodConsumer implements ConnectionEvents {
  readonly conn: NsqConnection;
  readonly seen = new Set<number>();
  closedUnexpectedly = 0;
  closing = false;
  constructor(address: string) {
    this.conn = new NsqConnection(address, resolveClientConfig({}), this);
  }
  onMessageFrame(conn: NsqConnection, frame: Buffer): void {
    if (frame.length >= 30) this.seen.add(frame.readUInt32BE(26));
    conn.finish(Buffer.from(frame.subarray(10, 26)));
  }
  onClose(): void {
    if (!this.closing) this.closedUnexpectedly++;
  }
}

export async function fuzz(o: FuzzOptions): Promise<ScenarioResult> {
  const failures: string[] = [];
  const lookupd = await startLookupd();
  // a short msg timeout: fuzzers that SUB may take good messages with them
  const s = await startServe(["--msg-timeout=1s", `--lookupd-tcp-address=127.0.0.1:${lookupd.tcp}`, "--max-msg-size=65536", "--max-body-size=262144"]);
  const address = `127.0.0.1:${s.tcp}`;
  const rssBase = rssOf(s.daemon.pid);
  const consumer = new GoodConsumer(address);
  await consumer.conn.connect();
  await consumer.conn.subscribe(GOOD_TOPIC, "c");
  consumer.conn.rdy(100);
  const producer = new Producer(address);
  await producer.connect();
  let acked = 0;
  let pubErrors = 0;
  const pubLat: number[] = [];
  let running = true;
  const goodLoop = (async () => {
    while (running) {
      const t = performance.now();
      const b = Buffer.alloc(8);
      b.writeUInt32BE(acked, 0);
      try {
        await producer.publish(GOOD_TOPIC, b);
        acked++;
        pubLat.push(performance.now() - t);
      } catch {
        pubErrors++;
      }
      await Bun.sleep(5);
    }
  })();
  const ping = latencyProbe(`http://127.0.0.1:${s.http}/ping`, 50);

  // TCP: sessions until the frame budget is spent
  const r = rng(o.seed);
  let frames = 0;
  let sessions = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.parallel }, async () => {
      while (frames < o.frames) {
        const sess = session(r);
        frames += sess.frames;
        sessions++;
        await runSession(s.tcp, sess.bytes);
      }
    }),
  );
  const tcpSeconds = (performance.now() - t0) / 1000;
  const rssAfterTcp = rssOf(s.daemon.pid);
  // what the fuzzers' own valid PUB/MPUB/DPUB left behind (topics nobody consumes) explains the RSS
  const st = (await (await fetch(`http://127.0.0.1:${s.http}/stats?format=json`)).json()) as {
    topics: Array<{ topic_name: string; depth: number; channels: Array<{ depth: number; deferred_count: number; in_flight_count: number }> }>;
  };
  const fuzzTopics = st.topics.filter((t) => t.topic_name !== GOOD_TOPIC);
  const leftQueued = fuzzTopics.reduce((a, t) => a + t.depth + t.channels.reduce((b, c) => b + c.depth + c.deferred_count + c.in_flight_count, 0), 0);

  // HTTP: every route of both daemons
  const hn = await fuzzHttp(s.http, NSQD_ROUTES, o.httpRequests, r);
  const hl = await fuzzHttp(lookupd.http, LOOKUPD_ROUTES, o.httpRequests, r);

  running = false;
  await goodLoop;
  const pingRes = await ping.stop();
  await until(() => consumer.seen.size >= acked, "the good consumer to get every acknowledged message", 30_000).catch((e: Error) => failures.push(e.message));
  const alive = !s.daemon.ended && !lookupd.daemon.ended;
  const crashLines = [...s.daemon.crashLines(), ...lookupd.daemon.crashLines()];
  consumer.closing = true;
  consumer.conn.close();
  await producer.close();
  const codes = [await s.daemon.stop(), await lookupd.daemon.stop()];

  if (!alive) failures.push("a daemon died during the fuzzing");
  if (codes.some((c) => c !== 0)) failures.push(`exit codes after SIGTERM: ${codes.join(", ")}`);
  if (crashLines.length > 0) failures.push(`error lines in the logs: ${crashLines.slice(0, 5).join(" | ")}`);
  const fivexx = [...hn.serverErrors, ...hl.serverErrors];
  if (fivexx.length > 0) failures.push(`5xx answers: ${[...new Set(fivexx)].slice(0, 5).join("; ")}`);
  if (hn.failures + hl.failures > 0) failures.push(`${hn.failures + hl.failures} HTTP requests got no answer`);
  if (pubErrors > 0) failures.push(`${pubErrors} good publishes failed`);
  if (consumer.closedUnexpectedly > 0) failures.push("the good consumer was disconnected");
  if (pingRes.failures > 0) failures.push(`${pingRes.failures} /ping probes failed`);
  const sorted = pubLat.sort((a, b) => a - b);
  const fmt = (c: Record<string, number>): string => Object.entries(c).sort().map(([k, v]) => `${k} ${v}`).join(", ");
  return {
    name: `fuzz: ${o.frames} TCP frames, ${o.httpRequests} HTTP requests per daemon (seed ${o.seed})`,
    failures,
    figures: {
      "TCP frames sent / connections": `${frames} / ${sessions}`,
      "TCP frames per second": (frames / tcpSeconds).toFixed(0),
      "HTTP requests nsq serve": fmt(hn.byClass),
      "HTTP requests nsq lookupd": fmt(hl.byClass),
      "5xx answers / unanswered": `${fivexx.length} / ${hn.failures + hl.failures}`,
      "good publishes acknowledged / delivered / lost": `${acked} / ${consumer.seen.size} / ${Math.max(0, acked - consumer.seen.size)}`,
      "good PUB latency p50 / p99": `${ms(sorted[Math.floor(sorted.length / 2)] ?? NaN)} / ${ms(sorted[Math.floor(sorted.length * 0.99)] ?? NaN)}`,
      "/ping during fuzzing p99 / failures": `${ms(pingRes.p99)} / ${pingRes.failures}`,
      "RSS before / after TCP fuzzing": `${mib(rssBase)} / ${mib(rssAfterTcp)}`,
      "fuzzers' topics / messages they left queued": `${fuzzTopics.length} / ${leftQueued}`,
      "unhandled errors in logs": crashLines.length,
      crashes: alive ? 0 : 1,
    },
  };
}
