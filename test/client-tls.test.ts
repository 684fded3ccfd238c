/**
 * TLS, snappy, deflate and AUTH in the client library (spec §1.8, §1.12, §7.1) and the tools'
 * flags (§6.1): our Producer/Consumer against in-process brokers, 1,000 messages each way per
 * feature, with the broker's /stats proving the feature was really negotiated.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import type { Subprocess } from "bun";
import { makeTestCerts, type TestCerts } from "./helpers/tls-certs.ts";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import {
  applyClientOptionFlags,
  ConfigError,
  ConnectionError,
  Consumer,
  defaultClientConfig,
  FrameParser,
  NsqConnection,
  NsqError,
  Producer,
  resolveClientConfig,
  type ClientConfig,
} from "../src/client/index.ts";
import { until } from "./helpers/until.ts";
import { runNsq, spawnNsq, type RunResult } from "./helpers/nsq-process.ts";

const N = 1000;

let certs: TestCerts;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.cleanup());
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(opts: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const b = await startBroker({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, ...opts });
  cleanups.push(() => b.stop());
  return b;
}

interface ClientFlags {
  tls: boolean;
  snappy: boolean;
  deflate: boolean;
  tls_version: string;
  user_agent: string;
  authed?: boolean;
  auth_identity?: string;
}
interface Stats {
  topics: Array<{ topic_name: string; channels: Array<{ channel_name: string; clients: ClientFlags[] }> }>;
  producers: ClientFlags[] | null;
}

async function stats(b: TestBroker): Promise<Stats> {
  return (await (await b.http("/stats?format=json")).json()) as Stats;
}

/** Publishes N messages (pipelined, then a final MPUB), consumes them all, returns the broker's view of both clients. */
async function roundTrip(b: TestBroker, topic: string, config: Partial<ClientConfig>): Promise<{ producer: ClientFlags; consumer: ClientFlags }> {
  const address = `127.0.0.1:${b.tcpPort}`;
  const producer = new Producer(address, config);
  cleanups.push(() => producer.close());
  const bodies = Array.from({ length: N }, (_, i) => `${topic}-${i}-${"x".repeat(i % 300)}`);
  // pipelined publishes in one tick exercise the batched write path through every layer
  await Promise.all(bodies.slice(0, N - 100).map((body) => producer.publish(topic, body)));
  await producer.multiPublish(topic, bodies.slice(N - 100));

  const got = new Set<string>();
  const consumer = new Consumer({
    topic,
    channel: "c",
    config: { ...config, maxInFlight: 50 },
    handler: (m) => void got.add(m.body.toString()),
  });
  cleanups.push(() => consumer.close());
  await consumer.connectToNsqd(address);
  await until(`${N} messages (have ${got.size})`, () => got.size === N);
  expect([...got].sort()).toEqual([...bodies].sort());

  const s = await stats(b);
  const channel = s.topics.find((t) => t.topic_name === topic)!.channels[0]!;
  return { producer: s.producers![0]!, consumer: channel.clients[0]! };
}

describe("client transport upgrades: 1,000 messages published and consumed", () => {
  test("TLS verified against the CA (tls_root_ca_file)", async () => {
    const b = await broker();
    const r = await roundTrip(b, "tls_only", { tlsV1: true, tlsRootCaFile: certs.caCert });
    for (const c of [r.producer, r.consumer]) {
      expect(c.tls).toBe(true);
      expect(c.tls_version).toMatch(/^TLS1\.[23]$/);
      expect(c.snappy).toBe(false);
      expect(c.deflate).toBe(false);
    }
  });

  test("snappy", async () => {
    const b = await broker();
    const r = await roundTrip(b, "snappy_only", { snappy: true });
    for (const c of [r.producer, r.consumer]) expect([c.tls, c.snappy, c.deflate]).toEqual([false, true, false]);
  });

  test("deflate at level 3", async () => {
    const b = await broker();
    const r = await roundTrip(b, "deflate_only", { deflate: true, deflateLevel: 3 });
    for (const c of [r.producer, r.consumer]) expect([c.tls, c.snappy, c.deflate]).toEqual([false, false, true]);
    // /stats has no deflate_level (as in nsqd); the broker's client objects do
    expect([...b.nsqd.clients].map((c) => c.deflateLevel)).toEqual([3, 3]);
  });

  test("TLS + snappy (insecure skip verify)", async () => {
    const b = await broker();
    const r = await roundTrip(b, "tls_snappy", { tlsV1: true, tlsInsecureSkipVerify: true, snappy: true });
    for (const c of [r.producer, r.consumer]) expect([c.tls, c.snappy, c.deflate]).toEqual([true, true, false]);
  });

  test("TLS + deflate with a client certificate on a require-verify broker", async () => {
    const b = await broker({ tlsClientAuthPolicy: "require-verify", tlsRootCaFile: certs.caCert });
    const r = await roundTrip(b, "tls_deflate", {
      tlsV1: true,
      tlsRootCaFile: certs.caCert,
      tlsCert: certs.clientCert,
      tlsKey: certs.clientKey,
      deflate: true,
    });
    for (const c of [r.producer, r.consumer]) expect([c.tls, c.snappy, c.deflate]).toEqual([true, false, true]);
    expect([...b.nsqd.clients].map((c) => c.deflateLevel)).toEqual([6, 6]);
  });
});

describe("backpressure through the layers", () => {
  for (const [name, config] of [
    ["TLS + deflate", { tlsV1: true, tlsInsecureSkipVerify: true, deflate: true, deflateLevel: 1 }],
    ["snappy", { snappy: true }],
  ] as const) {
    test(`${name}: 32 MiB published over 4 ticks all arrive in order (batches queue while the transport is backed up)`, async () => {
      const b = await broker();
      const producer = new Producer(`127.0.0.1:${b.tcpPort}`, config);
      cleanups.push(() => producer.close());
      await producer.connect();
      // incompressible bodies so the compressed stream is as large as the input
      const bodies = Array.from({ length: 128 }, (_, i) => {
        const body = crypto.getRandomValues(new Uint8Array(256 * 1024));
        body[0] = i;
        return body;
      });
      const sent: Array<Promise<void>> = [];
      for (let round = 0; round < 4; round++) {
        // each round is one batch; later rounds are written while the first is still draining
        for (const body of bodies.slice(round * 32, round * 32 + 32)) sent.push(producer.publish("big", body));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(sent);
      const order: number[] = [];
      const consumer = new Consumer({ topic: "big", channel: "c", config: { maxInFlight: 16 }, handler: (m) => void order.push(m.body[0]!) });
      cleanups.push(() => consumer.close());
      await consumer.connectToNsqd(`127.0.0.1:${b.tcpPort}`);
      await until("128 big messages", () => order.length === 128);
      expect(order).toEqual(bodies.map((_, i) => i));
    });
  }
});

describe("client TLS failures are clear errors", () => {
  test("an untrusted server certificate fails the handshake; TLS asked of a broker without a cert fails", async () => {
    const b = await broker();
    const p = new Producer(`127.0.0.1:${b.tcpPort}`, { tlsV1: true });
    const err = await p.publish("t", "x").then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toContain("TLS handshake failed");

    const plain = await startBroker();
    cleanups.push(() => plain.stop());
    const p2 = new Producer(`127.0.0.1:${plain.tcpPort}`, { tlsV1: true, tlsInsecureSkipVerify: true });
    const err2 = await p2.publish("t", "x").then(() => null, (e: unknown) => e);
    expect((err2 as Error).message).toContain("nsqd did not enable it");
  });

  test("frame parser: stopAfterCurrentFrame hands over the bytes after the switch point", () => {
    const seen: string[] = [];
    const frame = (text: string): Buffer => {
      const out = Buffer.alloc(8 + text.length);
      out.writeInt32BE(4 + text.length, 0);
      out.write(text, 8);
      return out;
    };
    const parser: FrameParser = new FrameParser({
      onFrame: (_t, data) => {
        seen.push(data.toString());
        if (data.toString() === "{json}") parser.stopAfterCurrentFrame();
      },
    });
    parser.push(Buffer.concat([frame("{json}"), Buffer.from("compressed-bytes")]));
    expect(seen).toEqual(["{json}"]);
    expect(parser.stopped).toBe(true);
    expect(parser.takeRemainder().toString()).toBe("compressed-bytes");
    expect(parser.stopped).toBe(false);
    parser.push(frame("OK"));
    expect(seen).toEqual(["{json}", "OK"]);
  });

  test("config validation: bad CA path, cert without key, snappy+deflate, bad tls_min_version", () => {
    expect(() => resolveClientConfig({ tlsV1: true, tlsRootCaFile: "/nonexistent/ca.pem" })).toThrow(/tls_root_ca_file.*ENOENT/);
    expect(() => resolveClientConfig({ tlsV1: true, tlsCert: certs.clientCert })).toThrow(ConfigError);
    expect(() => resolveClientConfig({ snappy: true, deflate: true })).toThrow(/both deflate and snappy/);
    const c = defaultClientConfig();
    expect(() => applyClientOptionFlags(c, ["tls_min_version,ssl2"])).toThrow(/tls_min_version/);
    applyClientOptionFlags(c, ["tls_v1", "tls-insecure-skip-verify,true", "tls_min_version,TLS1.2", "snappy,true", "auth_secret,s"]);
    expect([c.tlsV1, c.tlsInsecureSkipVerify, c.tlsMinVersion, c.snappy, c.authSecret]).toEqual([true, true, "tls1.2", true, "s"]);
  });

  test("the compressed OK arriving in the same read as the JSON reply is still decoded", async () => {
    // on loopback the broker's JSON reply and its compressed OK arrive in one read: the parser must stop
    // at the JSON frame and hand the rest to the decompressor (checked below on the parser directly)
    const b = await broker();
    for (let i = 0; i < 20; i++) {
      const conn = new NsqConnection(`127.0.0.1:${b.tcpPort}`, resolveClientConfig({ snappy: i % 2 === 0, deflate: i % 2 === 1 }), {
        onMessageFrame: () => {},
        onClose: () => {},
      });
      const settings = await conn.connect();
      expect(settings.snappy || settings.deflate).toBe(true);
      await conn.publish("same_read", Buffer.from(`m${i}`));
      conn.close();
    }
  });
});

describe("AUTH", () => {
  let authServer: ReturnType<typeof Bun.serve>;
  const secrets: string[] = [];
  beforeAll(() => {
    authServer = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const secret = new URL(req.url).searchParams.get("secret") ?? "";
        secrets.push(secret);
        if (secret !== "good-secret") return Response.json({ message: "NOT_AUTHORIZED" }, { status: 403 });
        return Response.json({
          ttl: 3600,
          identity: "alice",
          identity_url: "https://example.test/alice",
          authorizations: [{ topic: "^allowed$", channels: [".*"], permissions: ["subscribe", "publish"] }],
        });
      },
    });
  });
  afterAll(() => authServer.stop(true));

  test("auth_secret over TLS + snappy: publish and consume 1,000 messages as alice", async () => {
    const b = await broker({ authHttpAddresses: [`127.0.0.1:${authServer.port}`] });
    const r = await roundTrip(b, "allowed", { authSecret: "good-secret", tlsV1: true, tlsRootCaFile: certs.caCert, snappy: true });
    for (const c of [r.producer, r.consumer]) {
      expect(c.authed).toBe(true);
      expect(c.auth_identity).toBe("alice");
      expect([c.tls, c.snappy]).toEqual([true, true]);
    }
    expect(secrets).toContain("good-secret");
  });

  test("AUTH reply is exposed; no secret, a wrong secret and a forbidden topic are clear errors", async () => {
    const b = await broker({ authHttpAddresses: [`127.0.0.1:${authServer.port}`] });
    const address = `127.0.0.1:${b.tcpPort}`;
    const conn = new NsqConnection(address, resolveClientConfig({ authSecret: "good-secret" }), { onMessageFrame: () => {}, onClose: () => {} });
    cleanups.push(() => conn.close());
    const settings = await conn.connect();
    expect(settings.auth_required).toBe(true);
    expect(conn.authResponse).toEqual({ identity: "alice", identity_url: "https://example.test/alice", permission_count: 1 });

    const none = await new Producer(address).publish("allowed", "x").then(() => null, (e: unknown) => e);
    expect((none as Error).message).toContain("requires AUTH but no auth_secret");

    const wrong = await new Producer(address, { authSecret: "bad" }).publish("allowed", "x").then(() => null, (e: unknown) => e);
    expect(wrong).toBeInstanceOf(NsqError);
    expect((wrong as NsqError).code).toBe("E_AUTH_FAILED");

    const forbidden = new Producer(address, { authSecret: "good-secret" });
    const denied = await forbidden.publish("other", "x").then(() => null, (e: unknown) => e);
    expect((denied as NsqError).code).toBe("E_UNAUTHORIZED");
  });
});

// ------------------------------------------------------------------ tools

function spawnCli(args: string[], stdin: "ignore" | "pipe" | Blob = "ignore"): Subprocess<"pipe" | "ignore", "pipe", "pipe"> {
  const proc = spawnNsq(args, stdin);
  cleanups.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  return proc;
}

/** Runs `nsq <args>` to completion with `input` on stdin (the test's timeout bounds it). */
function runCli(args: string[], input?: string): Promise<RunResult> {
  return runNsq(args, { stdin: input, timeoutMs: 600_000 });
}

function lines(n: number, prefix: string): string {
  let s = "";
  for (let i = 1; i <= n; i++) s += `${prefix}${i}\n`;
  return s;
}

describe("tools", () => {
  test("nsq pub --tls --tls-insecure-skip-verify, nsq tail --tls --tls-root-ca-file through a TLS-required broker", async () => {
    const b = await broker({ tlsRequired: "true" });
    const address = `127.0.0.1:${b.tcpPort}`;
    const pub = await runCli(["pub", "--tls", "--tls-insecure-skip-verify", "--nsqd-tcp-address", address, "--topic", "secure"], lines(300, "s"));
    expect(pub.stderr).toContain("published");
    expect(pub.code).toBe(0);
    const tail = await runCli(["tail", "--tls", "--tls-root-ca-file", certs.caCert, "--nsqd-tcp-address", address, "--topic", "secure", "-n", "300"]);
    expect(tail.code).toBe(0);
    expect(tail.stdout).toBe(lines(300, "s"));

    // without --tls the broker refuses the publish: one clear line, exit 1
    const refused = await runCli(["pub", "--nsqd-tcp-address", address, "--topic", "secure"], "x\n");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("TLS required");
  });

  test("nsq tail --snappy, nsq pub --deflate --deflate-level 9, --consumer-opt=tls_v1,true still works", async () => {
    const b = await broker();
    const address = `127.0.0.1:${b.tcpPort}`;
    // consumers first: while they wait for messages the broker's /stats shows what they negotiated
    const tail = spawnCli(["tail", "--snappy", "--nsqd-tcp-address", address, "--topic", "zipped", "-n", "500"]);
    const viaOpt = spawnCli([
      "tail",
      "--consumer-opt=tls_v1,true",
      `--consumer-opt=tls_root_ca_file,${certs.caCert}`,
      "--consumer-opt=deflate",
      "--channel",
      "second",
      "--nsqd-tcp-address",
      address,
      "--topic",
      "zipped",
      "-n",
      "500",
    ]);
    const tailOut = new Response(tail.stdout).text();
    const optOut = new Response(viaOpt.stdout).text();
    let clients: ClientFlags[] = [];
    const deadline = Date.now() + 10_000;
    while (clients.length < 2) {
      if (Date.now() > deadline) throw new Error("timed out waiting for both tails to subscribe");
      await Bun.sleep(20);
      clients = ((await stats(b)).topics.find((t) => t.topic_name === "zipped")?.channels ?? []).flatMap((c) => c.clients);
    }
    expect(clients.filter((c) => c.snappy && !c.tls && !c.deflate).length).toBe(1);
    expect(clients.filter((c) => c.tls && c.deflate && !c.snappy).length).toBe(1);

    const pub = await runCli(["pub", "--deflate", "--deflate-level", "9", "--nsqd-tcp-address", address, "--topic", "zipped"], lines(500, "z"));
    expect(pub.stderr).toContain("published");
    expect(pub.code).toBe(0);
    expect(await tail.exited).toBe(0);
    expect(await viaOpt.exited).toBe(0);
    expect(await tailOut).toBe(lines(500, "z"));
    expect(await optOut).toBe(lines(500, "z"));
  });

  test("nsq to-file --tls --tls-cert --tls-key --snappy archives from a require-verify broker", async () => {
    const b = await broker({ tlsClientAuthPolicy: "require-verify", tlsRootCaFile: certs.caCert });
    const address = `127.0.0.1:${b.tcpPort}`;
    const producer = new Producer(address, { tlsV1: true, tlsRootCaFile: certs.caCert, tlsCert: certs.clientCert, tlsKey: certs.clientKey });
    cleanups.push(() => producer.close());
    await producer.multiPublish("archive", Array.from({ length: 200 }, (_, i) => `a${i + 1}`));
    const out = mkdtempSync(join(tmpdir(), "nsq-tls-to-file-"));
    cleanups.push(() => rmSync(out, { recursive: true, force: true }));
    const proc = spawnCli([
      "to-file", "--topic", "archive", "--nsqd-tcp-address", address, "--output-dir", out, "--sync-interval", "50ms",
      "--tls-root-ca-file", certs.caCert, "--tls-cert", certs.clientCert, "--tls-key", certs.clientKey, "--snappy", "--log-level", "warn",
    ]);
    const deadline = Date.now() + 10_000;
    const archived = (): string => readdirSync(out).map((f) => readFileSync(join(out, f), "utf8")).join("");
    while (archived() !== lines(200, "a")) {
      if (Date.now() > deadline) throw new Error(`timed out: archive has ${archived().split("\n").length - 1} lines`);
      await Bun.sleep(20);
    }
    const s = await stats(b);
    const client = s.topics.find((t) => t.topic_name === "archive")!.channels[0]!.clients[0]!;
    expect([client.tls, client.snappy]).toEqual([true, true]);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  });

  test("bad TLS flags: one line on stderr, exit 1", async () => {
    const r = await runCli(["tail", "--tls-root-ca-file", "/nonexistent/ca.pem", "--nsqd-tcp-address", "127.0.0.1:1", "--topic", "t"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("tls_root_ca_file");
    expect(r.stderr.trim().split("\n").length).toBe(1);
    const both = await runCli(["pub", "--snappy", "--deflate", "--nsqd-tcp-address", "127.0.0.1:1", "--topic", "t"], "x\n");
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("both deflate and snappy");
  });
});

describe("nsq stat over HTTPS", () => {
  test("https:// nsqd with --tls-root-ca-file or --tls-insecure-skip-verify; http:// is still refused", async () => {
    const b = await broker({ httpsAddress: "127.0.0.1:0", tlsRequired: "true" });
    const base = `https://127.0.0.1:${b.nsqd.httpsPort}`;
    const tlsInit = { method: "POST", tls: { ca: certs.read(certs.caCert).toString() } };
    expect((await fetch(`${base}/topic/create?topic=secure_stat`, tlsInit)).status).toBe(200);
    expect((await fetch(`${base}/channel/create?topic=secure_stat&channel=c`, tlsInit)).status).toBe(200);
    expect((await b.http("/stats")).status).toBe(403); // plain HTTP is closed: only HTTPS can work

    const common = ["stat", "--nsqd-http-address", base, "--topic", "secure_stat", "--channel", "c", "--count", "1", "--interval", "50ms"];
    const verified = await runCli([...common, "--tls-root-ca-file", certs.caCert]);
    expect(verified.stderr).toBe("");
    expect(verified.code).toBe(0);
    const rows = verified.stdout.trim().split("\n");
    expect(rows[0]).toContain("rate");
    expect(rows[2]).toMatch(/^\s+0\s+0 \|\s+0\s+0\s+0\s+0\s+0 \|\s+0\s+0\s+0\s+0$/);

    // without a CA the self-signed chain does not verify: one error line, exit 1
    const unverified = await runCli(common);
    expect(unverified.code).toBe(1);
    expect(unverified.stdout).toBe("");
    expect(unverified.stderr.trim().split("\n").length).toBe(1);

    const insecure = await runCli([...common, "--tls-insecure-skip-verify"]);
    expect(insecure.code).toBe(0);
    expect(insecure.stdout.trim().split("\n").length).toBe(3);

    const plainScheme = await runCli(["stat", "--nsqd-http-address", `http://127.0.0.1:${b.httpPort}`, "--topic", "t", "--channel", "c", "--count", "1"]);
    expect(plainScheme.code).toBe(2);
    expect(plainScheme.stderr).toContain("must not include a scheme other than https://");
  });
});
