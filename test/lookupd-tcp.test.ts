/**
 * nsqlookupd V1 TCP protocol over real sockets, checked byte by byte (spec §5.1, §5.2).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { hostname } from "node:os";
import { Nsqlookupd } from "../src/lookupd/lookupd.ts";
import { silentLogger } from "../src/util/logger.ts";
import { identifiedClient, identifyBytes, NSQD_IDENTITY, RawLookupClient, waitFor } from "./lookupd-helpers.ts";

let lookupd: Nsqlookupd;
const clients: RawLookupClient[] = [];

beforeEach(async () => {
  lookupd = new Nsqlookupd(
    { tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", broadcastAddress: "lookupd.example" },
    silentLogger,
  );
  await lookupd.start();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await lookupd.close();
});

async function raw(): Promise<RawLookupClient> {
  const c = await RawLookupClient.connect(lookupd.tcpPort);
  clients.push(c);
  return c;
}

async function identified(identity: object = NSQD_IDENTITY): Promise<RawLookupClient> {
  const c = await identifiedClient(lookupd.tcpPort, identity);
  clients.push(c);
  return c;
}

/** Sends one line and expects a fatal error reply followed by the server closing the socket. */
async function expectFatal(client: RawLookupClient, send: string | Uint8Array, error: string): Promise<void> {
  await client.write(send);
  expect(await client.readFrame()).toBe(error);
  await client.waitClosed();
}

function producerIds(category: "client" | "topic" | "channel", key: string, subKey: string): string[] {
  return lookupd.db.findProducers(category, key, subKey).map((p) => p.peer.id);
}

describe("connection start", () => {
  test("bad magic gets E_BAD_PROTOCOL framed [size][data] and a close", async () => {
    const c = await raw();
    await c.write("  V2");
    const bytes = await c.readFrameBytes();
    expect(bytes.toString()).toBe("E_BAD_PROTOCOL");
    await c.waitClosed();
  });

  test("magic split across packets is accepted", async () => {
    const c = await raw();
    await c.write(" ");
    await c.write(" V");
    await c.write("1");
    await c.write("PING\n");
    expect(await c.readFrame()).toBe("OK");
  });
});

describe("framing", () => {
  test("replies are [int32 size][data] with no frame type", async () => {
    const c = await raw();
    await c.write("  V1PING\n");
    await waitFor("6 bytes", () => c.pending.length >= 6);
    expect([...c.pending]).toEqual([0, 0, 0, 2, 0x4f, 0x4b]);
  });

  test("several commands in one packet get replies in order", async () => {
    const c = await raw();
    await c.write(Buffer.concat([Buffer.from("  V1PING\n"), identifyBytes(NSQD_IDENTITY), Buffer.from("REGISTER t1\nPING\n")]));
    expect(await c.readFrame()).toBe("OK");
    expect(JSON.parse(await c.readFrame()).tcp_port).toBe(lookupd.tcpPort);
    expect(await c.readFrame()).toBe("OK");
    expect(await c.readFrame()).toBe("OK");
    expect(producerIds("topic", "t1", "")).toEqual([c.localAddress]);
  });

  test("a command and an IDENTIFY body split at every byte still work", async () => {
    const c = await raw();
    const all = Buffer.concat([Buffer.from("  V1"), identifyBytes(NSQD_IDENTITY), Buffer.from("REGISTER t2 c2\r\n")]);
    for (let i = 0; i < all.length; i++) {
      await c.write(all.subarray(i, i + 1));
    }
    expect(JSON.parse(await c.readFrame()).version).toBe("1.3.0");
    expect(await c.readFrame()).toBe("OK");
    expect(producerIds("channel", "t2", "c2")).toEqual([c.localAddress]);
  });

  test("an over-long line is refused with an error and a close; the server keeps serving", async () => {
    const c = await raw();
    await c.write("  V1");
    await c.write(Buffer.alloc(70 * 1024, 0x41));
    expect(await c.readFrame()).toBe("E_INVALID command line too long");
    await c.waitClosed();
    const other = await raw();
    await other.write("  V1PING\n");
    expect(await other.readFrame()).toBe("OK");
  });

  test("binary garbage is an invalid command, not a crash", async () => {
    const c = await raw();
    await c.write(Buffer.concat([Buffer.from("  V1"), Buffer.from([0xff, 0x00, 0xfe, 0x0a])]));
    expect((await c.readFrame()).startsWith("E_INVALID invalid command ")).toBe(true);
    await c.waitClosed();
  });
});

describe("IDENTIFY", () => {
  test("reply carries lookupd's broadcast address, hostname, real ports and version (sorted keys)", async () => {
    const c = await raw();
    await c.write(Buffer.concat([Buffer.from("  V1"), identifyBytes(NSQD_IDENTITY)]));
    const reply = await c.readFrame();
    expect(reply).toBe(
      `{"broadcast_address":"lookupd.example","hostname":${JSON.stringify(hostname())},` +
        `"http_port":${lookupd.httpPort},"tcp_port":${lookupd.tcpPort},"version":"1.3.0"}`,
    );
  });

  test("registers the peer under client:: with remote_address = connection address", async () => {
    const c = await identified();
    const [producer] = lookupd.db.findProducers("client", "", "");
    expect(producer!.peer.id).toBe(c.localAddress);
    expect(producer!.peer.remoteAddress).toBe(c.localAddress);
    expect(producer!.peer.broadcastAddress).toBe("nsqd1.example");
    expect(producer!.peer.hostname).toBe("nsqd1");
    expect(producer!.peer.tcpPort).toBe(4150);
    expect(producer!.peer.httpPort).toBe(4151);
    expect(producer!.peer.version).toBe("1.3.0");
  });

  test("a second IDENTIFY is refused", async () => {
    const c = await identified();
    await expectFatal(c, identifyBytes(NSQD_IDENTITY), "E_INVALID cannot IDENTIFY again");
  });

  test("undecodable JSON", async () => {
    const c = await raw();
    await expectFatal(c, Buffer.concat([Buffer.from("  V1"), identifyBytes("{nope")]), "E_BAD_BODY IDENTIFY failed to decode JSON body");
  });

  test("a field of the wrong type is a decode error", async () => {
    const c = await raw();
    await expectFatal(
      c,
      Buffer.concat([Buffer.from("  V1"), identifyBytes({ ...NSQD_IDENTITY, tcp_port: "4150" })]),
      "E_BAD_BODY IDENTIFY failed to decode JSON body",
    );
  });

  for (const missing of ["broadcast_address", "tcp_port", "http_port", "version"]) {
    test(`missing ${missing}`, async () => {
      const c = await raw();
      const identity: Record<string, unknown> = { ...NSQD_IDENTITY };
      delete identity[missing];
      await expectFatal(c, Buffer.concat([Buffer.from("  V1"), identifyBytes(identity)]), "E_BAD_BODY IDENTIFY missing fields");
    });
  }

  test("hostname is optional", async () => {
    const c = await identified({ ...NSQD_IDENTITY, hostname: undefined });
    expect(producerIds("client", "", "")).toEqual([c.localAddress]);
  });

  test("negative body size", async () => {
    const c = await raw();
    const size = Buffer.alloc(4);
    size.writeInt32BE(-5, 0);
    await expectFatal(c, Buffer.concat([Buffer.from("  V1IDENTIFY\n"), size]), "E_BAD_BODY IDENTIFY failed to read body");
  });

  test("huge body size is refused without waiting for the body", async () => {
    const c = await raw();
    const size = Buffer.alloc(4);
    size.writeInt32BE(0x7fffffff, 0);
    await expectFatal(c, Buffer.concat([Buffer.from("  V1IDENTIFY\n"), size]), "E_BAD_BODY IDENTIFY failed to read body");
  });
});

describe("REGISTER / UNREGISTER", () => {
  test("before IDENTIFY", async () => {
    const c = await raw();
    await expectFatal(c, "  V1REGISTER t\n", "E_INVALID client must IDENTIFY");
    const d = await raw();
    await expectFatal(d, "  V1UNREGISTER t\n", "E_INVALID client must IDENTIFY");
  });

  test("without params", async () => {
    const c = await identified();
    await expectFatal(c, "REGISTER\n", "E_INVALID REGISTER insufficient number of params");
    const d = await identified();
    await expectFatal(d, "UNREGISTER\n", "E_INVALID UNREGISTER insufficient number of params");
  });

  test("bad topic and channel names", async () => {
    await expectFatal(await identified(), "REGISTER bad!topic\n", "E_BAD_TOPIC REGISTER topic name 'bad!topic' is not valid");
    await expectFatal(await identified(), "REGISTER t bad*ch\n", "E_BAD_CHANNEL REGISTER channel name 'bad*ch' is not valid");
    await expectFatal(await identified(), "UNREGISTER bad!topic\n", "E_BAD_TOPIC UNREGISTER topic name 'bad!topic' is not valid");
    await expectFatal(await identified(), "UNREGISTER t bad*ch\n", "E_BAD_CHANNEL UNREGISTER channel name 'bad*ch' is not valid");
    await expectFatal(await identified(), `REGISTER ${"x".repeat(65)}\n`, `E_BAD_TOPIC REGISTER topic name '${"x".repeat(65)}' is not valid`);
  });

  test("REGISTER topic channel registers both; REGISTER topic only the topic", async () => {
    const c = await identified();
    await c.write("REGISTER orders\nREGISTER clicks archive\n");
    expect(await c.readFrame()).toBe("OK");
    expect(await c.readFrame()).toBe("OK");
    expect(producerIds("topic", "orders", "")).toEqual([c.localAddress]);
    expect(lookupd.db.findRegistrations("channel", "orders", "*")).toEqual([]);
    expect(producerIds("topic", "clicks", "")).toEqual([c.localAddress]);
    expect(producerIds("channel", "clicks", "archive")).toEqual([c.localAddress]);
  });

  test("UNREGISTER channel keeps a non-ephemeral registration, deletes an empty ephemeral one", async () => {
    const c = await identified();
    await c.write("REGISTER t a\nREGISTER t b#ephemeral\nUNREGISTER t a\nUNREGISTER t b#ephemeral\n");
    for (let i = 0; i < 4; i++) expect(await c.readFrame()).toBe("OK");
    expect(lookupd.db.findRegistrations("channel", "t", "a")).toHaveLength(1);
    expect(producerIds("channel", "t", "a")).toEqual([]);
    expect(lookupd.db.findRegistrations("channel", "t", "b#ephemeral")).toEqual([]);
    expect(producerIds("topic", "t", "")).toEqual([c.localAddress]);
  });

  test("an ephemeral channel stays while another producer still has it", async () => {
    const a = await identified();
    const b = await identified();
    await a.write("REGISTER t e#ephemeral\n");
    await b.write("REGISTER t e#ephemeral\n");
    expect(await a.readFrame()).toBe("OK");
    expect(await b.readFrame()).toBe("OK");
    await a.write("UNREGISTER t e#ephemeral\n");
    expect(await a.readFrame()).toBe("OK");
    expect(producerIds("channel", "t", "e#ephemeral")).toEqual([b.localAddress]);
  });

  test("UNREGISTER topic removes the peer from its channels and the topic", async () => {
    const c = await identified();
    await c.write("REGISTER t a\nREGISTER t b\nREGISTER x#ephemeral\nUNREGISTER t\nUNREGISTER x#ephemeral\n");
    for (let i = 0; i < 5; i++) expect(await c.readFrame()).toBe("OK");
    expect(producerIds("channel", "t", "a")).toEqual([]);
    expect(producerIds("channel", "t", "b")).toEqual([]);
    expect(lookupd.db.findRegistrations("topic", "t", "")).toHaveLength(1);
    expect(producerIds("topic", "t", "")).toEqual([]);
    expect(lookupd.db.findRegistrations("topic", "x#ephemeral", "")).toEqual([]);
  });

  test("registering twice is idempotent", async () => {
    const c = await identified();
    await c.write("REGISTER t\nREGISTER t\n");
    expect(await c.readFrame()).toBe("OK");
    expect(await c.readFrame()).toBe("OK");
    expect(producerIds("topic", "t", "")).toEqual([c.localAddress]);
  });
});

describe("PING and other commands", () => {
  test("PING before IDENTIFY is OK", async () => {
    const c = await raw();
    await c.write("  V1PING\n");
    expect(await c.readFrame()).toBe("OK");
  });

  test("PING refreshes lastUpdate", async () => {
    const c = await identified();
    const [producer] = lookupd.db.findProducers("client", "", "");
    producer!.peer.lastUpdate = 1000;
    await c.write("PING\n");
    expect(await c.readFrame()).toBe("OK");
    expect(producer!.peer.lastUpdate).toBeGreaterThan(Date.now() - 5000);
  });

  test("unknown command", async () => {
    await expectFatal(await raw(), "  V1FOO bar\n", "E_INVALID invalid command FOO");
  });

  test("empty line is an invalid (empty) command", async () => {
    await expectFatal(await raw(), "  V1\n", "E_INVALID invalid command ");
  });

  test("commands are case-sensitive", async () => {
    await expectFatal(await raw(), "  V1ping\n", "E_INVALID invalid command ping");
  });
});

describe("disconnect", () => {
  test("removes the producer from every registration; registrations stay", async () => {
    const c = await identified();
    const other = await identified();
    await c.write("REGISTER t a\nREGISTER u\nREGISTER e#ephemeral\n");
    for (let i = 0; i < 3; i++) expect(await c.readFrame()).toBe("OK");
    c.close();
    await waitFor("producer removal", () => lookupd.db.lookupRegistrations(c.localAddress).length === 0);
    expect(producerIds("client", "", "")).toEqual([other.localAddress]);
    expect(lookupd.db.findRegistrations("topic", "t", "")).toHaveLength(1);
    expect(lookupd.db.findRegistrations("channel", "t", "a")).toHaveLength(1);
    expect(lookupd.db.findRegistrations("topic", "u", "")).toHaveLength(1);
    expect(lookupd.db.findRegistrations("topic", "e#ephemeral", "")).toHaveLength(1);
  });

  test("a fatal error drops the peer too", async () => {
    const c = await identified();
    await c.write("REGISTER t\n");
    expect(await c.readFrame()).toBe("OK");
    await expectFatal(c, "BOGUS\n", "E_INVALID invalid command BOGUS");
    await waitFor("producer removal", () => producerIds("topic", "t", "").length === 0);
    expect(producerIds("client", "", "")).toEqual([]);
  });

  test("lookupd close() closes client connections", async () => {
    const c = await identified();
    await lookupd.close();
    await c.waitClosed();
  });
});
