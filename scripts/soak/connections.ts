/**
 * Item 1 of issue 18: many concurrent TCP clients (publishers and consumers, some over TLS and
 * some with snappy) plus HTTP keep-alive clients held against one `nsq serve`; memory per idle
 * connection; memory after they all close; and running out of file descriptors under a low
 * `ulimit -n` (a clear log line, refused new clients, the connected ones still served).
 */
import net from "node:net";
import { NsqConnection, type ConnectionEvents } from "../../src/client/connection.ts";
import { resolveClientConfig } from "../../src/client/config.ts";
import { cpuMeter, fdsOf, kib, mib, pct, rssOf, serverCert, startServe, until, type ScenarioResult } from "./lib.ts";

export interface ConnectionsOptions {
  tcp: number;
  http: number;
  holdMs: number;
  /** every n-th TCP client uses TLS / snappy */
  tlsEvery: number;
  snappyEvery: number;
  /** the descriptor-exhaustion part: the child's `ulimit -n` and how many clients try to connect */
  fdLimit: number;
  fdClients: number;
  /** quiet time before the idle memory reading and after everyone left */
  settleMs: number;
}

export const CONNECTIONS_FULL: ConnectionsOptions = { tcp: 5000, http: 500, holdMs: 60_000, tlsEvery: 10, snappyEvery: 7, fdLimit: 1024, fdClients: 1500, settleMs: 5000 };

const TOPIC = "soak-conn";

class Client implements ConnectionEvents {
  readonly conn: NsqConnection;
  closing = false;
  constructor(
    address: string,
    i: number,
    o: ConnectionsOptions,
    private readonly counters: { delivered: number; unexpectedCloses: number },
  ) {
    const config = resolveClientConfig({
      tlsV1: i % o.tlsEvery === 0,
      tlsInsecureSkipVerify: true,
      snappy: i % o.snappyEvery === 0,
      dialTimeout: 10_000,
    });
    this.conn = new NsqConnection(address, config, this);
  }
  onMessageFrame(conn: NsqConnection, frame: Buffer): void {
    this.counters.delivered++;
    conn.finish(Buffer.from(frame.subarray(10, 26)));
    conn.rdy(1);
  }
  onClose(): void {
    if (!this.closing) this.counters.unexpectedCloses++;
  }
}

/** A raw HTTP/1.1 keep-alive client: GET /ping on one socket, counting 200 answers. */
class HttpKeepAlive {
  readonly socket: net.Socket;
  ok = 0;
  bad = 0;
  closed = false;
  closing = false;
  private buf = "";
  constructor(port: number, onReady: (err?: Error) => void) {
    this.socket = net.connect(port, "127.0.0.1", () => onReady());
    this.socket.setEncoding("latin1");
    this.socket.on("data", (d: string) => {
      this.buf += d;
      // each answer to /ping is a short fixed-size response: count status lines, keep the tail
      let i: number;
      while ((i = this.buf.indexOf("HTTP/1.1 ")) >= 0 && this.buf.length >= i + 12) {
        if (this.buf.slice(i + 9, i + 12) === "200") this.ok++;
        else this.bad++;
        this.buf = this.buf.slice(i + 12);
      }
    });
    this.socket.on("error", (err) => onReady(err));
    this.socket.on("close", () => (this.closed = true));
  }
  ping(): void {
    if (!this.closed) this.socket.write("GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  }
}

async function inWaves<T>(n: number, wave: number, make: (i: number) => Promise<T>): Promise<{ ok: T[]; errors: string[] }> {
  const ok: T[] = [];
  const errors: string[] = [];
  for (let start = 0; start < n; start += wave) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(wave, n - start) }, (_, k) => make(start + k)));
    for (const r of batch) {
      if (r.status === "fulfilled") ok.push(r.value);
      else errors.push(String(r.reason instanceof Error ? r.reason.message : r.reason));
    }
  }
  return { ok, errors };
}

export async function connections(o: ConnectionsOptions): Promise<ScenarioResult> {
  const failures: string[] = [];
  const tls = serverCert();
  const s = await startServe([`--tls-cert=${tls.cert}`, `--tls-key=${tls.key}`]);
  const pid = s.daemon.pid;
  const address = `127.0.0.1:${s.tcp}`;
  await Bun.sleep(1000);
  const rssBase = rssOf(pid);

  const counters = { delivered: 0, unexpectedCloses: 0 };
  const t0 = performance.now();
  const tcp = await inWaves(o.tcp, 100, async (i) => {
    const c = new Client(address, i, o, counters);
    await c.conn.connect();
    if (i % 2 === 0) {
      await c.conn.subscribe(TOPIC, "c");
      c.conn.rdy(1);
    }
    return { c, i };
  });
  const http = await inWaves(
    o.http,
    100,
    () =>
      new Promise<HttpKeepAlive>((resolve, reject) => {
        const h: HttpKeepAlive = new HttpKeepAlive(s.http, (err) => (err ? reject(err) : resolve(h)));
      }),
  );
  const connectSeconds = (performance.now() - t0) / 1000;
  for (const h of http.ok) h.ping();
  await until(() => http.ok.every((h) => h.ok >= 1 || h.closed), "first HTTP answers", 30_000);

  // idle: nothing moves for a moment, then memory per connection
  await Bun.sleep(Math.min(3000, o.settleMs));
  const rssHeld = rssOf(pid);
  const clientStats = ((await (await fetch(`http://127.0.0.1:${s.http}/stats?format=json&include_clients=true`)).json()) as { topics: Array<{ channels: Array<{ clients: Array<{ tls: boolean; snappy: boolean }> }> }>; producers?: Array<{ tls: boolean; snappy: boolean }> });
  const allClients = [...clientStats.topics.flatMap((t) => t.channels.flatMap((c) => c.clients)), ...(clientStats.producers ?? [])];
  const tlsSeen = allClients.filter((c) => c.tls).length;
  const snappySeen = allClients.filter((c) => c.snappy).length;
  const fdsHeld = fdsOf(pid);
  const held = tcp.ok.length + http.ok.length;

  // hold: publishers publish one message every 5 s each (staggered), HTTP clients ping every 2 s
  const producers = tcp.ok.filter((x) => x.i % 2 === 1);
  let published = 0;
  let acked = 0;
  let pubErrors = 0;
  const cpu = cpuMeter(pid);
  const holdEnd = Date.now() + o.holdMs;
  const pubTimer = setInterval(() => {
    // 1/50 of the producers every 100 ms: each publishes every 5 s
    const slot = Math.floor(Date.now() / 100) % 50;
    for (let k = slot; k < producers.length; k += 50) {
      published++;
      producers[k]!.c.conn.publish(TOPIC, Buffer.from(`m${published}`)).then(
        () => acked++,
        () => pubErrors++,
      );
    }
  }, 100);
  const pingTimer = setInterval(() => {
    for (const h of http.ok) h.ping();
  }, 2000);
  while (Date.now() < holdEnd) await Bun.sleep(200);
  clearInterval(pubTimer);
  clearInterval(pingTimer);
  const cpuHold = cpu();
  await until(() => acked + pubErrors >= published && counters.delivered >= acked, "every acknowledged message delivered", 30_000).catch(
    (e: Error) => failures.push(e.message),
  );
  const httpOk = http.ok.reduce((a, h) => a + h.ok, 0);
  const httpBad = http.ok.reduce((a, h) => a + h.bad, 0);
  const httpClosed = http.ok.filter((h) => h.closed).length;
  const unexpected = counters.unexpectedCloses;

  // everyone leaves; memory afterwards
  for (const { c } of tcp.ok) {
    c.closing = true;
    c.conn.close();
  }
  for (const h of http.ok) {
    h.closing = true;
    h.socket.end();
  }
  await until(() => fdsOf(pid) < fdsHeld - held + 20, "the server to close every connection", 30_000).catch((e: Error) => failures.push(e.message));
  await Bun.sleep(o.settleMs);
  const rssAfter = rssOf(pid);
  await until(async () => (await fetch(`http://127.0.0.1:${s.http}/ping`)).ok, "/ping after").catch((e: Error) => failures.push(e.message));
  const crashes = s.daemon.ended ? 1 : 0;
  await s.daemon.stop();

  const fd = await fdExhaustion(o);
  failures.push(...fd.failures);

  if (tcp.errors.length > 0) failures.push(`${tcp.errors.length} TCP clients failed to connect: ${tcp.errors.slice(0, 3).join("; ")}`);
  if (http.errors.length > 0) failures.push(`${http.errors.length} HTTP clients failed to connect: ${http.errors[0]}`);
  if (unexpected > 0) failures.push(`${unexpected} TCP connections closed by the server during the hold`);
  if (httpClosed > 0 || httpBad > 0) failures.push(`${httpClosed} HTTP keep-alive connections closed, ${httpBad} non-200 answers`);
  if (pubErrors > 0) failures.push(`${pubErrors} publishes failed`);
  if (crashes > 0) failures.push("the server died");

  return {
    name: `connections: ${o.tcp} TCP + ${o.http} HTTP keep-alive held ${o.holdMs / 1000} s`,
    failures,
    figures: {
      "TCP clients connected / failed": `${tcp.ok.length} / ${tcp.errors.length}`,
      "subscribers with TLS / snappy (server /stats)": `${tlsSeen} / ${snappySeen}`,
      "HTTP keep-alive clients connected / failed": `${http.ok.length} / ${http.errors.length}`,
      "time to connect all": `${connectSeconds.toFixed(1)} s`,
      "server fds held": fdsHeld,
      "RSS baseline": mib(rssBase),
      "RSS all connected (idle)": mib(rssHeld),
      "memory per idle connection": kib((rssHeld - rssBase) / Math.max(1, held)),
      "server CPU during hold": pct(cpuHold),
      "published / acknowledged / delivered": `${published} / ${acked} / ${counters.delivered}`,
      "HTTP /ping answered (200) / other": `${httpOk} / ${httpBad}`,
      "connections dropped by server during hold": unexpected + httpClosed,
      [`RSS ${o.settleMs / 1000} s after all closed`]: `${mib(rssAfter)} (baseline + ${mib(rssAfter - rssBase)})`,
      "fd limit: ulimit -n / clients tried": `${o.fdLimit} / ${o.fdClients}`,
      "fd limit: connected / refused": `${fd.connected} / ${fd.refused}`,
      "fd limit: log line": fd.logLine,
      "fd limit: old clients served / recovered": `${fd.servedDuring ? "yes" : "NO"} / ${fd.recovered ? "yes" : "NO"}`,
      crashes: crashes + fd.crashes,
    },
  };
}

/** Connects more plain clients than `ulimit -n` allows; the server must say so and keep serving. */
export async function fdExhaustion(o: Pick<ConnectionsOptions, "fdLimit" | "fdClients">) {
  const failures: string[] = [];
  const s = await startServe([], { nofile: o.fdLimit });
  const address = `127.0.0.1:${s.tcp}`;
  const counters = { delivered: 0, unexpectedCloses: 0 };
  const opts: ConnectionsOptions = { ...CONNECTIONS_FULL, tlsEvery: 1e9, snappyEvery: 1e9 };
  const conns: Client[] = [];
  const res = await inWaves(o.fdClients, 100, async (i) => {
    const c = new Client(address, i + 1, opts, counters);
    conns.push(c);
    await c.conn.connect();
    return c;
  });
  let logLine = "";
  try {
    logLine = (await s.daemon.waitFor(/ERROR: (out of file descriptors[^\n]*)/, 5000))[1]!;
  } catch {
    failures.push(`no "out of file descriptors" log line with ulimit -n ${o.fdLimit} and ${o.fdClients} clients`);
  }
  // a client connected before the limit still publishes
  let servedDuring = false;
  try {
    await res.ok[0]!.conn.publish("soak-fd", Buffer.from("still served"));
    servedDuring = true;
  } catch (e) {
    failures.push(`a connected client was not served at the fd limit: ${String(e)}`);
  }
  for (const c of conns) {
    c.closing = true;
    c.conn.destroy();
  }
  let recovered = false;
  try {
    await s.daemon.waitFor(/file descriptors available again/, 10_000);
    const late = new Client(address, 1, opts, counters);
    await late.conn.connect();
    await late.conn.publish("soak-fd", Buffer.from("after"));
    late.closing = true;
    late.conn.close();
    recovered = true;
  } catch (e) {
    failures.push(`no recovery after the clients left: ${String(e)}`);
  }
  const crashes = s.daemon.ended ? 1 : 0;
  if (crashes) failures.push(`the server died at the fd limit:\n${s.daemon.log.slice(-1500)}`);
  await s.daemon.stop();
  return { failures, connected: res.ok.length, refused: res.errors.length, logLine: logLine.replace(/\|/g, "/"), servedDuring, recovered, crashes };
}
