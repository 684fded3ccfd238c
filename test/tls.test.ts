/**
 * TLS on the broker: the upgrade after IDENTIFY (spec §1.8), TLS settings (§1.13), TLS required
 * (§1.6, §3.1), bad certificates, the HTTPS listener, and nsqjs interop.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import tls from "node:tls";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient } from "./helpers/raw-client.ts";
import { makeTestCerts, type TestCerts } from "./helpers/tls-certs.ts";
import { FrameReader, commandWithBody, connectAndIdentify } from "./helpers/frame-reader.ts";
import { nsqjsRoundTrip } from "./helpers/nsqjs-roundtrip.ts";
import { startHttpsServer } from "../src/server/https.ts";
import { clientTlsDetails } from "../src/server/transport-upgrade.ts";
import { loadTlsConfig, parseTlsMinVersion, statsTlsVersion } from "../src/server/tls-options.ts";
import { defaultNsqdOptions } from "../src/server/options.ts";
import type { HttpServerHandle } from "../src/server/http.ts";

let certs: TestCerts;
const brokers: TestBroker[] = [];
const sockets: net.Socket[] = [];
const servers: HttpServerHandle[] = [];

beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.cleanup());
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.stop();
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(opts: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const b = await startBroker({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, ...opts });
  brokers.push(b);
  return b;
}

/** Plain connection: magic, IDENTIFY; returns the socket and a reader of its plaintext frames. */
const identifyPlain = (port: number, identify: Record<string, unknown>) => connectAndIdentify(port, identify, (s) => sockets.push(s));

/** Runs the client side of the TLS upgrade on `socket` (after the JSON reply was read). */
async function startClientTls(socket: net.Socket, options: tls.ConnectionOptions = {}): Promise<{ secure: tls.TLSSocket; frames: FrameReader }> {
  socket.removeAllListeners("data");
  const frames = new FrameReader();
  const secure = tls.connect({ socket, rejectUnauthorized: false, ...options });
  secure.on("data", (c: Buffer) => frames.push(c));
  secure.on("close", () => frames.close());
  await new Promise<void>((resolve, reject) => {
    secure.once("secureConnect", () => resolve());
    secure.once("error", reject);
  });
  secure.on("error", () => {});
  return { secure, frames };
}

async function pollUntil(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await Bun.sleep(10);
  }
}

describe("TLS upgrade order (raw bytes)", () => {
  test("JSON reply in plaintext, then handshake, then OK over TLS, then commands over TLS", async () => {
    const b = await broker();
    const { socket, plain } = await identifyPlain(b.tcpPort, { feature_negotiation: true, tls_v1: true });
    const reply = await plain.next();
    expect(reply.type).toBe(0);
    const json = JSON.parse(reply.data.toString());
    expect(json.tls_v1).toBe(true);
    expect(plain.partial.length).toBe(0); // nothing but the JSON arrived in plaintext
    const { secure, frames } = await startClientTls(socket, { ca: certs.read(certs.caCert), rejectUnauthorized: true, servername: "localhost" });
    expect(await frames.nextText()).toBe("OK");
    secure.write(commandWithBody("PUB tls_topic", "over tls"));
    expect(await frames.nextText()).toBe("OK");
    const client = [...b.nsqd.clients][0]!;
    expect(client.tls).toBe(true);
    const details = clientTlsDetails(client);
    expect(details.version).toMatch(/^TLS1\.[0-3]$/);
    expect(details.cipherSuite).toMatch(/^TLS_/);
    const stats = (await (await b.http("/stats?format=json")).json()) as { producers: { tls: boolean; tls_version: string; tls_cipher_suite: string }[] };
    expect(stats.producers[0]!.tls).toBe(true);
    expect(stats.producers[0]!.tls_version).toBe(details.version);
    expect(stats.producers[0]!.tls_cipher_suite).toBe(details.cipherSuite);
  });

  test("a heartbeat due during the handshake is held back until after the OK", async () => {
    const b = await broker();
    const { socket, plain } = await identifyPlain(b.tcpPort, { feature_negotiation: true, tls_v1: true });
    await plain.next();
    const client = [...b.nsqd.clients][0]!;
    client.nextHeartbeatAt = 0; // the next scan (≤100 ms) sends one, during our handshake
    await Bun.sleep(150);
    const { frames } = await startClientTls(socket);
    expect(await frames.next().then((f) => f.data.toString())).toBe("OK");
    expect(await frames.next().then((f) => f.data.toString())).toBe("_heartbeat_");
  });

  test("tls_v1 asked of a server without a certificate: declined, the connection stays plaintext", async () => {
    const b = await startBroker();
    brokers.push(b);
    const c = await RawClient.connect(b.tcpPort);
    c.identify({ feature_negotiation: true, tls_v1: true });
    expect(JSON.parse(await c.readResponse()).tls_v1).toBe(false);
    c.pub("t", "plain");
    expect(await c.readResponse()).toBe("OK");
    c.close();
  });
});

describe("TLS required", () => {
  test("plaintext client: every command but IDENTIFY is E_INVALID (TLS required); the server stays up", async () => {
    const b = await broker({ tlsRequired: "true" });
    for (const cmd of ["SUB t c\n", "NOP\n", "RDY 1\n"]) {
      const c = await RawClient.connect(b.tcpPort);
      c.write(cmd);
      const name = cmd.split(/[ \n]/)[0];
      expect(await c.readError()).toBe(`E_INVALID cannot ${name} in current state (TLS required)`);
      await c.waitClosed();
    }
    const c = await RawClient.connect(b.tcpPort);
    c.identify({ feature_negotiation: true });
    expect(JSON.parse(await c.readResponse()).tls_v1).toBe(false);
    c.pub("t", "x");
    expect(await c.readError()).toBe("E_INVALID cannot PUB in current state (TLS required)");
    await c.waitClosed();
    // a TLS client is served
    const { socket, plain } = await identifyPlain(b.tcpPort, { feature_negotiation: true, tls_v1: true });
    await plain.next();
    const { secure, frames } = await startClientTls(socket);
    expect(await frames.nextText()).toBe("OK");
    secure.write("SUB t c\n");
    expect(await frames.nextText()).toBe("OK");
  });

  test("tcp-https also requires TLS on TCP", async () => {
    const b = await broker({ tlsRequired: "tcp-https" });
    const c = await RawClient.connect(b.tcpPort);
    c.write("SUB t c\n");
    expect(await c.readError()).toBe("E_INVALID cannot SUB in current state (TLS required)");
  });

  test("plain HTTP answers 403 TLS_REQUIRED with the HTTPS port when tls-required=true", async () => {
    const b = await broker({ tlsRequired: "true", httpsAddress: "127.0.0.1:0" });
    const res = await b.http("/ping");
    expect(res.status).toBe(403);
    expect(b.nsqd.httpsPort).toBeGreaterThan(0);
    expect(await res.text()).toBe(`{"message": "TLS_REQUIRED", "https_port": ${b.nsqd.httpsPort}}`);
    const ca = certs.read(certs.caCert);
    const secure = await fetch(`https://127.0.0.1:${b.nsqd.httpsPort}/ping`, { tls: { ca } });
    expect(await secure.text()).toBe("OK");
  });
});

describe("bad certificates", () => {
  test("a client that does not trust the server certificate fails its handshake; the server stays up", async () => {
    const b = await broker();
    const { socket, plain } = await identifyPlain(b.tcpPort, { feature_negotiation: true, tls_v1: true });
    await plain.next();
    await expect(startClientTls(socket, { rejectUnauthorized: true, servername: "localhost" })).rejects.toThrow();
    await pollUntil("server drops the failed connection", () => b.nsqd.clients.size === 0);
    const c = await RawClient.connect(b.tcpPort);
    c.pub("t", "still up");
    expect(await c.readResponse()).toBe("OK");
  });

  test("garbage instead of a ClientHello: connection closed, server stays up", async () => {
    const b = await broker();
    const { socket, plain } = await identifyPlain(b.tcpPort, { feature_negotiation: true, tls_v1: true });
    await plain.next();
    socket.write(Buffer.from("this is not a TLS record at all\n".repeat(4)));
    await plain.waitClosed();
    await pollUntil("client removed", () => b.nsqd.clients.size === 0);
    const c = await RawClient.connect(b.tcpPort);
    c.pub("t", "still up");
    expect(await c.readResponse()).toBe("OK");
  });

  test("require-verify: a client certificate signed by the CA is accepted, a stranger's is refused", async () => {
    const b = await broker({ tlsClientAuthPolicy: "require-verify", tlsRootCaFile: certs.caCert, tlsRequired: "true" });
    const good = await identifyPlain(b.tcpPort, { feature_negotiation: true, tls_v1: true });
    await good.plain.next();
    const ok = await startClientTls(good.socket, { cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) });
    expect(await ok.frames.nextText()).toBe("OK");
    const client = [...b.nsqd.clients].find((c) => c.tls)!;
    expect(clientTlsDetails(client).commonName).toBe("test-client");

    const bad = await identifyPlain(b.tcpPort, { feature_negotiation: true, tls_v1: true });
    await bad.plain.next();
    const attempt = startClientTls(bad.socket, { cert: certs.read(certs.strangerCert), key: certs.read(certs.strangerKey) })
      .then(async ({ frames }) => frames.next(2000))
      .then(
        () => "served",
        () => "refused",
      );
    expect(await attempt).toBe("refused");
    await pollUntil("refused client removed", () => b.nsqd.clients.size === 1);
  });

  test("require: a client without any certificate is refused", async () => {
    const b = await broker({ tlsClientAuthPolicy: "require" });
    const { socket, plain } = await identifyPlain(b.tcpPort, { feature_negotiation: true, tls_v1: true });
    await plain.next();
    const outcome = await startClientTls(socket)
      .then(({ frames }) => frames.next(2000))
      .then(
        () => "served",
        () => "refused",
      );
    expect(outcome).toBe("refused");
    await pollUntil("refused client removed", () => b.nsqd.clients.size === 0);
  });

  test("tls-min-version tls1.3 refuses a TLS 1.2 client", async () => {
    const b = await broker({ tlsMinVersion: "tls1.3" });
    const { socket, plain } = await identifyPlain(b.tcpPort, { feature_negotiation: true, tls_v1: true });
    await plain.next();
    await expect(startClientTls(socket, { maxVersion: "TLSv1.2" })).rejects.toThrow();
    await pollUntil("client removed", () => b.nsqd.clients.size === 0);
  });
});

describe("TLS settings", () => {
  test("min version names map to node:tls names; unknown ones are refused", () => {
    expect(parseTlsMinVersion("tls1.0")).toBe("TLSv1");
    expect(parseTlsMinVersion("tls1.1")).toBe("TLSv1.1");
    expect(parseTlsMinVersion("TLS1.2")).toBe("TLSv1.2");
    expect(parseTlsMinVersion("tls1.3")).toBe("TLSv1.3");
    expect(() => parseTlsMinVersion("ssl3")).toThrow(/tls-min-version/);
    expect(statsTlsVersion("TLSv1")).toBe("TLS1.0");
    expect(statsTlsVersion("TLSv1.3")).toBe("TLS1.3");
  });

  test("policies, files read once, missing files named in the error", () => {
    const opts = { ...defaultNsqdOptions(), tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientAuthPolicy: "require-verify", tlsRootCaFile: certs.caCert };
    const cfg = loadTlsConfig(opts)!;
    expect(cfg.requestCert).toBe(true);
    expect(cfg.rejectUnauthorized).toBe(true);
    expect(cfg.ca?.toString()).toContain("BEGIN CERTIFICATE");
    expect(loadTlsConfig(opts)).toBe(cfg);
    const require = loadTlsConfig({ ...opts, tlsClientAuthPolicy: "require" })!;
    expect([require.requestCert, require.rejectUnauthorized]).toEqual([true, false]);
    expect(loadTlsConfig({ ...defaultNsqdOptions() })).toBeNull();
    expect(() => loadTlsConfig({ ...opts, tlsKey: "/nonexistent/key.pem" })).toThrow(/tls-key "\/nonexistent\/key.pem"/);
  });
});

describe("HTTPS listener", () => {
  test("serves the HTTP API over TLS", async () => {
    const b = await broker({ tlsRequired: "true" });
    const https = startHttpsServer(b.nsqd, "127.0.0.1:0");
    servers.push(https);
    const ca = certs.read(certs.caCert);
    const ping = await fetch(`https://127.0.0.1:${https.port}/ping`, { tls: { ca } });
    expect(ping.status).toBe(200);
    expect(await ping.text()).toBe("OK");
    const pub = await fetch(`https://127.0.0.1:${https.port}/pub?topic=secure`, { method: "POST", body: "hi", tls: { ca } });
    expect(await pub.text()).toBe("OK");
    expect(b.nsqd.getTopic("secure")?.name).toBe("secure");
  });

  test("require-verify applies to HTTPS clients too", async () => {
    const b = await broker({ tlsClientAuthPolicy: "require-verify", tlsRootCaFile: certs.caCert });
    const https = startHttpsServer(b.nsqd, "127.0.0.1:0");
    servers.push(https);
    const ca = certs.read(certs.caCert);
    const withCert = await fetch(`https://127.0.0.1:${https.port}/ping`, {
      tls: { ca, cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) },
    });
    expect(await withCert.text()).toBe("OK");
    await expect(fetch(`https://127.0.0.1:${https.port}/ping`, { tls: { ca } })).rejects.toThrow();
  });
});

describe("nsqjs interop", () => {
  test("tls: 1,000 messages published and consumed, /stats shows TLS on both connections", async () => {
    const b = await broker();
    const r = await nsqjsRoundTrip(b, "interop_tls", { tls: true, tlsVerification: false });
    expect(r.received.sort()).toEqual([...r.sent].sort());
    expect(r.consumers.length).toBe(1);
    expect(r.producers.length).toBe(1);
    for (const c of [...r.consumers, ...r.producers]) {
      expect(c.tls).toBe(true);
      expect(c.tls_version).toMatch(/^TLS1\.[0-3]$/);
      expect([c.snappy, c.deflate]).toEqual([false, false]);
    }
  }, 20000);
});
