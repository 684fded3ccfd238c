/**
 * AUTH (spec §1.12): a small auth server runs inside the test (Bun.serve on a free port) and
 * records every query; the broker is pointed at it with authHttpAddresses.
 */
import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import net from "node:net";
import tls from "node:tls";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient } from "./helpers/raw-client.ts";
import { makeTestCerts, type TestCerts } from "./helpers/tls-certs.ts";
import { FrameReader, commandWithBody } from "./helpers/frame-reader.ts";
import { nsqjsRoundTrip } from "./helpers/nsqjs-roundtrip.ts";
import { authEndpoint, compileAuthRegex, isAllowed, parseAuthReply } from "../src/server/auth.ts";

interface AuthRequest {
  path: string;
  query: URLSearchParams;
  rawQuery: string;
  accept: string | null;
}

type AuthHandler = (secret: string) => { status?: number; body: unknown };

/** The reply used unless a test installs its own: "alice" may publish to and read topic "allowed". */
function aliceReply(ttl = 3600): unknown {
  return {
    ttl,
    identity: "alice",
    identity_url: "https://example.test/alice",
    authorizations: [{ topic: "^allowed$", channels: [".*"], permissions: ["subscribe", "publish"] }],
  };
}

function defaultHandler(secret: string): { status?: number; body: unknown } {
  if (secret === "good-secret") return { body: aliceReply() };
  return { status: 403, body: { message: "NOT_AUTHORIZED" } };
}

let certs: TestCerts;
let authServer: ReturnType<typeof Bun.serve>;
let requests: AuthRequest[] = [];
let handler: AuthHandler = defaultHandler;
const brokers: TestBroker[] = [];
const clients: RawClient[] = [];

beforeAll(() => {
  certs = makeTestCerts();
  authServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      requests.push({ path: url.pathname, query: url.searchParams, rawQuery: url.search.slice(1), accept: req.headers.get("accept") });
      const r = handler(url.searchParams.get("secret") ?? "");
      return new Response(JSON.stringify(r.body), { status: r.status ?? 200, headers: { "Content-Type": "application/json" } });
    },
  });
});
afterAll(() => {
  authServer.stop(true);
  certs.cleanup();
});
afterEach(async () => {
  setSystemTime();
  requests = [];
  handler = defaultHandler;
  for (const c of clients.splice(0)) c.close();
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(opts: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const b = await startBroker({ authHttpAddresses: [`127.0.0.1:${authServer.port}`], ...opts });
  brokers.push(b);
  return b;
}

async function connect(b: TestBroker): Promise<RawClient> {
  const c = await RawClient.connect(b.tcpPort);
  clients.push(c);
  return c;
}

async function authed(b: TestBroker, secret = "good-secret"): Promise<RawClient> {
  const c = await connect(b);
  c.writeWithBody("AUTH", secret);
  const reply = await c.readResponse();
  expect(JSON.parse(reply).identity).toBe("alice");
  return c;
}

/** Moves the clock past a TTL; the broker's read deadline is reset so the jump does not drop clients. */
function jumpClock(b: TestBroker, ms: number): void {
  setSystemTime(new Date(Date.now() + ms));
  for (const cl of b.nsqd.clients) cl.lastReadAt = Date.now();
}

describe("AUTH command", () => {
  test("IDENTIFY reports auth_required; the query carries the documented parameters and Accept header", async () => {
    const b = await broker();
    const c = await connect(b);
    c.identify({ feature_negotiation: true });
    expect(JSON.parse(await c.readResponse()).auth_required).toBe(true);
    c.writeWithBody("AUTH", "good-secret");
    expect(await c.readResponse()).toBe('{"identity":"alice","identity_url":"https://example.test/alice","permission_count":1}');
    expect(requests.length).toBe(1);
    const q = requests[0]!;
    expect(q.path).toBe("/auth");
    expect(q.accept).toBe("application/vnd.nsq; version=1.0");
    expect(q.rawQuery).toBe("common_name=&remote_ip=127.0.0.1&secret=good-secret&tls=false");
    const client = [...b.nsqd.clients][0]!;
    expect([client.authed, client.authIdentity, client.authIdentityUrl]).toEqual([true, "alice", "https://example.test/alice"]);
  });

  test("allowed topic works; another topic is E_UNAUTHORIZED with nsqd's text", async () => {
    const b = await broker();
    const pub = await authed(b);
    pub.pub("allowed", "hello");
    expect(await pub.readResponse()).toBe("OK");
    pub.mpub("allowed", ["a", "b"]);
    expect(await pub.readResponse()).toBe("OK");
    pub.writeWithBody("DPUB allowed 10", "later");
    expect(await pub.readResponse()).toBe("OK");
    pub.pub("secret_topic", "nope");
    expect(await pub.readError()).toBe('E_UNAUTHORIZED AUTH failed for PUB on "secret_topic" ""');
    await pub.waitClosed();

    const sub = await authed(b);
    sub.write("SUB allowed ch\n");
    expect(await sub.readResponse()).toBe("OK");
    sub.write("RDY 5\n");
    expect((await sub.readMessage()).body.toString()).toBe("hello");

    const other = await authed(b);
    other.write("SUB other ch\n");
    expect(await other.readError()).toBe('E_UNAUTHORIZED AUTH failed for SUB on "other" "ch"');
    const mpub = await authed(b);
    mpub.mpub("other", ["x"]);
    expect(await mpub.readError()).toBe('E_UNAUTHORIZED AUTH failed for MPUB on "other" ""');
    const dpub = await authed(b);
    dpub.writeWithBody("DPUB other 0", "x");
    expect(await dpub.readError()).toBe('E_UNAUTHORIZED AUTH failed for DPUB on "other" ""');
  });

  test("commands before AUTH: E_AUTH_FIRST", async () => {
    const b = await broker();
    const cases: [(c: RawClient) => void, string][] = [
      [(c) => c.pub("allowed", "x"), "PUB"],
      [(c) => c.write("SUB allowed c\n"), "SUB"],
      [(c) => c.mpub("allowed", ["x"]), "MPUB"],
      [(c) => c.writeWithBody("DPUB allowed 0", "x"), "DPUB"],
    ];
    for (const [send, cmd] of cases) {
      const c = await connect(b);
      send(c);
      expect(await c.readError()).toBe(`E_AUTH_FIRST AUTH required before ${cmd}`);
      await c.waitClosed();
    }
    expect(requests.length).toBe(0);
  });

  test("bad secret: E_AUTH_FAILED; the server stays up", async () => {
    const b = await broker();
    const c = await connect(b);
    c.writeWithBody("AUTH", "wrong");
    expect(await c.readError()).toBe("E_AUTH_FAILED AUTH failed");
    await c.waitClosed();
    await authed(b);
  });

  test("AUTH twice is E_INVALID AUTH already set; AUTH with params is refused", async () => {
    const b = await broker();
    const c = await authed(b);
    c.writeWithBody("AUTH", "good-secret");
    expect(await c.readError()).toBe("E_INVALID AUTH already set");
    const d = await connect(b);
    d.writeWithBody("AUTH extra", "good-secret");
    expect(await d.readError()).toBe("E_INVALID AUTH invalid number of parameters");
  });

  test("no authorizations: E_UNAUTHORIZED AUTH no authorizations found", async () => {
    const b = await broker();
    handler = () => ({ body: { ttl: 60, identity: "nobody", authorizations: [] } });
    const c = await connect(b);
    c.writeWithBody("AUTH", "whatever");
    expect(await c.readError()).toBe("E_UNAUTHORIZED AUTH no authorizations found");
  });

  test("invalid replies (ttl ≤ 0, unknown permission, bad regex, not an object) are E_AUTH_FAILED", async () => {
    const b = await broker();
    const bad: unknown[] = [
      { ttl: 0, authorizations: [{ topic: ".*", channels: [".*"], permissions: ["publish"] }] },
      { ttl: 60, authorizations: [{ topic: ".*", channels: [".*"], permissions: ["admin"] }] },
      { ttl: 60, authorizations: [{ topic: "(", channels: [".*"], permissions: ["publish"] }] },
      { ttl: 60, authorizations: [{ topic: ".*", channels: ["[z-a]"], permissions: ["publish"] }] },
      "not an object",
    ];
    for (const body of bad) {
      handler = () => ({ body });
      const c = await connect(b);
      c.writeWithBody("AUTH", "s");
      expect(await c.readError()).toBe("E_AUTH_FAILED AUTH failed");
    }
    expect(requests.length).toBe(bad.length);
  });

  test("AUTH when no auth server is configured: E_AUTH_DISABLED", async () => {
    const b = await startBroker();
    brokers.push(b);
    const c = await RawClient.connect(b.tcpPort);
    clients.push(c);
    c.writeWithBody("AUTH", "x");
    expect(await c.readError()).toBe("E_AUTH_DISABLED AUTH disabled");
  });
});

describe("expiry", () => {
  test("after the TTL the next check asks the server again and applies the new answer", async () => {
    const b = await broker();
    handler = () => ({ body: aliceReply(60) });
    const c = await connect(b);
    c.writeWithBody("AUTH", "rotating");
    expect(JSON.parse(await c.readResponse()).identity).toBe("alice");
    c.pub("allowed", "1");
    expect(await c.readResponse()).toBe("OK");
    // within the TTL: answered from the cache
    c.pub("allowed", "2");
    expect(await c.readResponse()).toBe("OK");
    expect(requests.length).toBe(1);
    // 61 s later the authorization has expired; the server now only allows "elsewhere"
    handler = () => ({
      body: { ttl: 60, identity: "alice2", authorizations: [{ topic: "elsewhere", channels: [".*"], permissions: ["publish"] }] },
    });
    jumpClock(b, 61_000);
    c.pub("elsewhere", "3");
    expect(await c.readResponse()).toBe("OK");
    expect(requests.length).toBe(2);
    expect(requests[1]!.query.get("secret")).toBe("rotating");
    expect([...b.nsqd.clients][0]!.authIdentity).toBe("alice2");
    c.pub("allowed", "4");
    expect(await c.readError()).toBe('E_UNAUTHORIZED AUTH failed for PUB on "allowed" ""');
  });

  test("a re-check the auth server fails is E_AUTH_FAILED", async () => {
    const b = await broker();
    const c = await authed(b);
    handler = () => ({ status: 500, body: { message: "down" } });
    jumpClock(b, 3_601_000);
    c.pub("allowed", "x");
    expect(await c.readError()).toBe("E_AUTH_FAILED AUTH failed");
    expect(requests.length).toBe(2);
  });
});

describe("auth servers", () => {
  test("an unreachable server is skipped: each configured server is tried once", async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const b = await broker({ authHttpAddresses: [`127.0.0.1:${deadPort}`, `127.0.0.1:${authServer.port}`] });
    for (let i = 0; i < 4; i++) await authed(b); // whichever server is tried first, AUTH succeeds
    expect(requests.length).toBe(4);
    const only = await broker({ authHttpAddresses: [`127.0.0.1:${deadPort}`] });
    const c = await connect(only);
    c.writeWithBody("AUTH", "good-secret");
    expect(await c.readError()).toBe("E_AUTH_FAILED AUTH failed");
  });

  test("a full URL is used as-is", async () => {
    const b = await broker({ authHttpAddresses: [`http://127.0.0.1:${authServer.port}/custom/check`] });
    await authed(b);
    expect(requests[0]!.path).toBe("/custom/check");
  });

  test("over TLS the query says tls=true and carries the client certificate's common name", async () => {
    const b = await broker({
      tlsCert: certs.serverCert,
      tlsKey: certs.serverKey,
      tlsClientAuthPolicy: "require-verify",
      tlsRootCaFile: certs.caCert,
    });
    const socket = net.connect(b.tcpPort, "127.0.0.1");
    await new Promise<void>((r) => socket.once("connect", () => r()));
    socket.on("error", () => {});
    const plain = new FrameReader(1);
    socket.on("data", (d: Buffer) => plain.push(d));
    socket.write(Buffer.concat([Buffer.from("  V2"), commandWithBody("IDENTIFY", JSON.stringify({ feature_negotiation: true, tls_v1: true }))]));
    expect(JSON.parse((await plain.next()).data.toString()).auth_required).toBe(true);
    socket.removeAllListeners("data");
    const secure = tls.connect({ socket, rejectUnauthorized: false, cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) });
    secure.on("error", () => {});
    const frames = new FrameReader();
    secure.on("data", (d: Buffer) => frames.push(d));
    try {
      expect(await frames.nextText()).toBe("OK");
      secure.write(commandWithBody("AUTH", "good-secret"));
      expect(JSON.parse(await frames.nextText()).identity).toBe("alice");
      expect(requests[0]!.query.get("tls")).toBe("true");
      expect(requests[0]!.query.get("common_name")).toBe("test-client");
    } finally {
      secure.destroy();
    }
  });
});

describe("HTTP and clients", () => {
  test("HTTP publish stays unauthenticated", async () => {
    const b = await broker();
    const res = await b.http("/pub?topic=anything", { method: "POST", body: "via http" });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("OK");
    expect(requests.length).toBe(0);
  });

  test("nsqjs with authSecret publishes and consumes; /stats shows the identity", async () => {
    const b = await broker();
    const r = await nsqjsRoundTrip(b, "allowed", { authSecret: "good-secret" });
    expect(r.received.sort()).toEqual([...r.sent].sort());
    expect(r.consumers.length + r.producers.length).toBe(2);
    for (const c of [...r.consumers, ...r.producers]) {
      expect(c.authed).toBe(true);
      expect(c.auth_identity).toBe("alice");
    }
  }, 20000);
});

describe("auth helpers", () => {
  test("endpoint URL and Go-style query escaping", () => {
    expect(authEndpoint("h:1", { commonName: "a b", remoteIp: "::1", secret: "x*~/+&", tls: true })).toBe(
      "http://h:1/auth?common_name=a+b&remote_ip=%3A%3A1&secret=x%2A~%2F%2B%26&tls=true",
    );
    expect(authEndpoint("https://auth.test/x", { commonName: "", remoteIp: "1.2.3.4", secret: "s", tls: false })).toBe(
      "https://auth.test/x?common_name=&remote_ip=1.2.3.4&secret=s&tls=false",
    );
  });

  test("matching: subscribe needs a channel regex to match; publish matches the empty channel", () => {
    const reply = parseAuthReply({
      ttl: 1,
      authorizations: [
        { topic: "^orders", channels: ["^archive$"], permissions: ["subscribe"] },
        { topic: "(?i)^LOGS$", channels: [".*"], permissions: ["publish"] },
        { topic: "strict", channels: ["^x$"], permissions: ["publish"] },
      ],
    });
    expect(isAllowed(reply, "orders_eu", "archive")).toBe(true);
    expect(isAllowed(reply, "orders_eu", "archive2")).toBe(false);
    expect(isAllowed(reply, "orders_eu", "")).toBe(false); // no publish permission
    expect(isAllowed(reply, "logs", "")).toBe(true);
    expect(isAllowed(reply, "logs", "c")).toBe(false); // no subscribe permission
    expect(isAllowed(reply, "strict", "")).toBe(false); // ^x$ does not match ""
    expect(compileAuthRegex("\\Afoo\\z").test("foo")).toBe(true);
    expect(compileAuthRegex("\\Afoo\\z").test("foox")).toBe(false);
  });
});
