/**
 * nsqd's lookupd peers (spec §5.5): exact bytes against a raw fake lookupd, and behaviour against
 * real Nsqlookupd instances (re-register after restart, /channels union).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { Nsqlookupd } from "../src/lookupd/lookupd.ts";
import { LookupPeers, type LookupPeersOptions } from "../src/server/lookup-peers.ts";
import { silentLogger } from "../src/util/logger.ts";
import { waitFor } from "./lookupd-helpers.ts";

/** A raw TCP stand-in for nsqlookupd that records every byte and parsed command. */
class FakeLookupd {
  readonly raw: Buffer[] = [];
  /** per connection: the commands received, e.g. "IDENTIFY {...}", "REGISTER t c" */
  readonly connections: string[][] = [];
  readonly sockets: Socket[] = [];
  /** when false, replies wait until release() */
  autoReply = true;
  identifyReply = '{"broadcast_address":"127.0.0.1","hostname":"fake","http_port":1,"tcp_port":2,"version":"1.3.0"}';
  private held: (() => void)[] = [];
  private server: Server;
  port = 0;

  constructor() {
    this.server = createServer((socket) => this.accept(socket));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen({ host: "127.0.0.1", port: 0 }, resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** All commands across connections. */
  get commands(): string[] {
    return this.connections.flat();
  }

  release(): void {
    const held = this.held;
    this.held = [];
    for (const send of held) send();
  }

  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.push(socket);
    const log: string[] = [];
    this.connections.push(log);
    let buffer = Buffer.alloc(0);
    let magicSeen = false;
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      this.raw.push(Buffer.from(chunk));
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (!magicSeen) {
          if (buffer.length < 4) return;
          log.push(`MAGIC ${JSON.stringify(buffer.subarray(0, 4).toString())}`);
          buffer = buffer.subarray(4);
          magicSeen = true;
          continue;
        }
        const nl = buffer.indexOf(0x0a);
        if (nl < 0) return;
        const line = buffer.subarray(0, nl).toString();
        if (line === "IDENTIFY") {
          if (buffer.length < nl + 5) return;
          const size = buffer.readInt32BE(nl + 1);
          if (buffer.length < nl + 5 + size) return;
          log.push(`IDENTIFY ${buffer.subarray(nl + 5, nl + 5 + size).toString()}`);
          buffer = buffer.subarray(nl + 5 + size);
          this.reply(socket, this.identifyReply);
          continue;
        }
        log.push(line);
        buffer = buffer.subarray(nl + 1);
        this.reply(socket, "OK");
      }
    });
  }

  private reply(socket: Socket, text: string): void {
    const body = Buffer.from(text);
    const frame = Buffer.alloc(4 + body.length);
    frame.writeInt32BE(body.length, 0);
    body.copy(frame, 4);
    const send = () => {
      if (!socket.destroyed) socket.write(frame);
    };
    if (this.autoReply) send();
    else this.held.push(send);
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fakeLookupd(): Promise<FakeLookupd> {
  const fake = new FakeLookupd();
  await fake.start();
  cleanups.push(() => fake.close());
  return fake;
}

async function realLookupd(tcpAddress = "127.0.0.1:0", httpAddress = "127.0.0.1:0"): Promise<Nsqlookupd> {
  const lookupd = new Nsqlookupd({ tcpAddress, httpAddress, broadcastAddress: "127.0.0.1" }, silentLogger);
  await lookupd.start();
  cleanups.push(() => lookupd.close());
  return lookupd;
}

/** The broker's view of its topics, mutable by tests. */
type State = Map<string, string[]>;

function peers(addresses: string[], state: State = new Map(), extra: Partial<LookupPeersOptions> = {}): LookupPeers {
  const lp = new LookupPeers({
    addresses,
    broadcastAddress: "nsqd.example",
    tcpPort: 4150,
    httpPort: 4151,
    httpClientConnectTimeout: 1000,
    httpClientRequestTimeout: 1000,
    logger: silentLogger,
    hostname: "nsqd-host",
    reconnectBackoffInitial: 20,
    reconnectBackoffMax: 200,
    snapshot: () => [...state].map(([topic, channels]) => ({ topic, channels })),
    ...extra,
  });
  cleanups.push(() => lp.close());
  return lp;
}

async function lookupProducers(lookupd: Nsqlookupd, topic: string): Promise<{ channels: string[]; producers: { tcp_port: number }[] } | null> {
  const res = await fetch(`http://127.0.0.1:${lookupd.httpPort}/lookup?topic=${topic}`);
  if (res.status !== 200) return null;
  return (await res.json()) as { channels: string[]; producers: { tcp_port: number }[] };
}

describe("bytes on the wire", () => {
  test("magic, IDENTIFY with sorted fields, then the snapshot as REGISTER lines", async () => {
    const fake = await fakeLookupd();
    const state: State = new Map([
      ["lonely", []],
      ["orders", ["archive", "billing"]],
    ]);
    const lp = peers([fake.address], state);
    lp.start();
    await waitFor("snapshot registration", () => fake.commands.length >= 5);
    expect(fake.connections).toHaveLength(1);
    expect(fake.commands).toEqual([
      'MAGIC "  V1"',
      'IDENTIFY {"broadcast_address":"nsqd.example","hostname":"nsqd-host","http_port":4151,"tcp_port":4150,"version":"1.3.0"}',
      "REGISTER lonely",
      "REGISTER orders archive",
      "REGISTER orders billing",
    ]);
    // the exact opening bytes: magic, "IDENTIFY\n", big-endian int32 body size, body
    const all = Buffer.concat(fake.raw);
    const body = '{"broadcast_address":"nsqd.example","hostname":"nsqd-host","http_port":4151,"tcp_port":4150,"version":"1.3.0"}';
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length, 0);
    expect(all.subarray(0, 4 + 9 + 4 + body.length)).toEqual(Buffer.concat([Buffer.from("  V1IDENTIFY\n"), size, Buffer.from(body)]));
    expect(all.subarray(4 + 9 + 4 + body.length).toString()).toBe("REGISTER lonely\nREGISTER orders archive\nREGISTER orders billing\n");
  });

  test("register/unregister send exact lines, in order", async () => {
    const fake = await fakeLookupd();
    const lp = peers([fake.address]);
    lp.start();
    lp.register("t");
    lp.register("t", "c");
    lp.register("t", "e#ephemeral");
    lp.unregister("t", "c");
    lp.unregister("t");
    await waitFor("commands", () => fake.commands.length >= 7);
    expect(fake.commands.slice(2)).toEqual(["REGISTER t", "REGISTER t c", "REGISTER t e#ephemeral", "UNREGISTER t c", "UNREGISTER t"]);
    expect(Buffer.concat(fake.raw).toString().endsWith("UNREGISTER t c\nUNREGISTER t\n")).toBe(true);
  });

  test("PING is sent on the interval", async () => {
    const fake = await fakeLookupd();
    const lp = peers([fake.address], new Map(), { pingInterval: 50 });
    lp.start();
    await waitFor("two pings", () => fake.commands.filter((c) => c === "PING").length >= 2);
    expect(fake.connections).toHaveLength(1);
  });

  test("commands go one at a time, each waiting for its reply", async () => {
    const fake = await fakeLookupd();
    const lp = peers([fake.address]);
    lp.start();
    await waitFor("IDENTIFY", () => fake.commands.length === 2);
    fake.autoReply = false;
    lp.register("a");
    lp.register("b");
    lp.register("c");
    await waitFor("first command", () => fake.commands.length === 3);
    await Bun.sleep(50); // give a wrong implementation the chance to send more
    expect(fake.commands.slice(2)).toEqual(["REGISTER a"]);
    fake.release();
    await waitFor("second command", () => fake.commands.length === 4);
    await Bun.sleep(50);
    expect(fake.commands.slice(2)).toEqual(["REGISTER a", "REGISTER b"]);
    fake.autoReply = true;
    fake.release();
    await waitFor("third command", () => fake.commands.length === 5);
    expect(fake.commands.slice(2)).toEqual(["REGISTER a", "REGISTER b", "REGISTER c"]);
  });

  test("close() sends no UNREGISTER and closes the connection", async () => {
    const fake = await fakeLookupd();
    const lp = peers([fake.address], new Map([["t", ["c"]]]));
    lp.start();
    await waitFor("registration", () => fake.commands.length === 3);
    const socket = fake.sockets[0]!;
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    lp.close();
    await closed;
    lp.unregister("t", "c"); // after close: ignored, no throw
    expect(fake.commands.some((c) => c.startsWith("UNREGISTER"))).toBe(false);
  });

  test("a rejected IDENTIFY closes and retries with backoff", async () => {
    const fake = await fakeLookupd();
    fake.identifyReply = "E_INVALID cannot IDENTIFY again";
    const lp = peers([fake.address], new Map([["t", []]]));
    lp.start();
    await waitFor("three attempts", () => fake.connections.length >= 3);
    // never registered anything on a rejected connection
    expect(fake.commands.filter((c) => c.startsWith("REGISTER"))).toEqual([]);
    fake.identifyReply = '{"broadcast_address":"127.0.0.1","hostname":"fake","http_port":1,"tcp_port":2,"version":"1.3.0"}';
    await waitFor("registration after recovery", () => fake.commands.includes("REGISTER t"));
  });

  test("a dropped connection reconnects, re-IDENTIFYs and re-registers the current snapshot", async () => {
    const fake = await fakeLookupd();
    const state: State = new Map([["t", ["c"]]]);
    const lp = peers([fake.address], state);
    lp.start();
    await waitFor("first sync", () => fake.connections.length === 1 && fake.connections[0]!.length === 3);
    state.set("u", []);
    fake.dropConnections();
    await waitFor("second sync", () => fake.connections.length === 2 && fake.connections[1]!.length === 4);
    expect(fake.connections[1]!.slice(2)).toEqual(["REGISTER t c", "REGISTER u"]);
    expect(fake.connections[1]![1]!.startsWith("IDENTIFY ")).toBe(true);
  });
});

describe("against a real nsqlookupd", () => {
  test("registrations appear in /lookup; unregister removes them", async () => {
    const lookupd = await realLookupd();
    const state: State = new Map([["t", ["c"]]]);
    const lp = peers([`127.0.0.1:${lookupd.tcpPort}`], state);
    lp.start();
    await waitFor("producer", async () => (await lookupProducers(lookupd, "t"))?.producers.length === 1);
    expect((await lookupProducers(lookupd, "t"))!.channels).toEqual(["c"]);
    const nodes = (await (await fetch(`http://127.0.0.1:${lookupd.httpPort}/nodes`)).json()) as {
      producers: { broadcast_address: string; hostname: string; tcp_port: number; http_port: number; version: string }[];
    };
    expect(nodes.producers[0]).toMatchObject({ broadcast_address: "nsqd.example", hostname: "nsqd-host", tcp_port: 4150, http_port: 4151, version: "1.3.0" });
    state.set("x#ephemeral", ["e#ephemeral"]);
    lp.register("x#ephemeral", "e#ephemeral");
    await waitFor("ephemeral", async () => (await lookupProducers(lookupd, "x%23ephemeral"))?.channels.length === 1);
    state.delete("x#ephemeral");
    lp.unregister("x#ephemeral", "e#ephemeral");
    lp.unregister("x#ephemeral");
    await waitFor("ephemeral topic gone", async () => (await lookupProducers(lookupd, "x%23ephemeral")) === null);
  });

  test("after the lookupd restarts, the peer reconnects and re-registers everything", async () => {
    const first = await realLookupd();
    const tcpPort = first.tcpPort;
    const httpPort = first.httpPort;
    const state: State = new Map([
      ["t", ["c1", "c2"]],
      ["bare", []],
    ]);
    const lp = peers([`127.0.0.1:${tcpPort}`], state);
    lp.start();
    await waitFor("registered", async () => (await lookupProducers(first, "t"))?.producers.length === 1);
    await first.close();
    // events while the lookupd is down must not throw; the snapshot brings them over later
    state.set("late", ["lc"]);
    lp.register("late", "lc");
    const second = await realLookupd(`127.0.0.1:${tcpPort}`, `127.0.0.1:${httpPort}`);
    await waitFor(
      "re-registration",
      async () => (await lookupProducers(second, "t"))?.producers.length === 1 && (await lookupProducers(second, "late"))?.producers.length === 1,
    );
    expect(((await lookupProducers(second, "t"))!.channels).sort()).toEqual(["c1", "c2"]);
    expect((await lookupProducers(second, "bare"))!.producers).toHaveLength(1);
    expect((await lookupProducers(second, "late"))!.channels).toEqual(["lc"]);
  });

  test("channelsForTopic is the sorted union over every lookupd; failures are skipped", async () => {
    const a = await realLookupd();
    const b = await realLookupd();
    const dead = await realLookupd();
    const deadAddress = `127.0.0.1:${dead.tcpPort}`;
    for (const [lookupd, channels] of [
      [a, ["zeta", "alpha"]],
      [b, ["alpha", "mid"]],
    ] as const) {
      for (const channel of channels) {
        const res = await fetch(`http://127.0.0.1:${lookupd.httpPort}/channel/create?topic=t&channel=${channel}`, { method: "POST" });
        expect(res.status).toBe(200);
      }
    }
    const lp = peers([`127.0.0.1:${a.tcpPort}`, `127.0.0.1:${b.tcpPort}`, deadAddress]);
    expect(await lp.channelsForTopic("t")).toEqual([]); // not started: no lookupd known yet
    lp.start();
    await waitFor("union", async () => (await lp.channelsForTopic("t")).length === 3);
    expect(await lp.channelsForTopic("t")).toEqual(["alpha", "mid", "zeta"]);
    expect(await lp.channelsForTopic("unknown")).toEqual([]);
    // a lookupd that goes away after IDENTIFY: its query fails, the others still answer
    await b.close();
    expect(await lp.channelsForTopic("t")).toEqual(["alpha", "zeta"]);
  });

  test("setAddresses adds and removes peers; addresses() reports them", async () => {
    const a = await realLookupd();
    const b = await realLookupd();
    const addrA = `127.0.0.1:${a.tcpPort}`;
    const addrB = `127.0.0.1:${b.tcpPort}`;
    const lp = peers([addrA], new Map([["t", []]]));
    lp.start();
    await waitFor("a registered", async () => (await lookupProducers(a, "t"))?.producers.length === 1);
    lp.setAddresses([addrA, addrB, addrB]);
    expect(lp.addresses()).toEqual([addrA, addrB]);
    await waitFor("b registered", async () => (await lookupProducers(b, "t"))?.producers.length === 1);
    lp.setAddresses([addrB]);
    expect(lp.addresses()).toEqual([addrB]);
    await waitFor("a dropped", async () => (await lookupProducers(a, "t"))?.producers.length === 0);
    expect((await lookupProducers(b, "t"))!.producers).toHaveLength(1);
  });

  test("an unreachable or malformed address never throws", async () => {
    const lp = peers(["127.0.0.1:1", "not-an-address"]);
    lp.start();
    lp.register("t");
    lp.unregister("t");
    expect(await lp.channelsForTopic("t")).toEqual([]);
    lp.close();
  });
});
