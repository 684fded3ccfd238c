/** The V2 protocol on the wire: every command, its replies and its exact error texts (spec §1). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient, subscriber } from "./helpers/raw-client.ts";

let b: TestBroker;
beforeAll(async () => {
  b = await startBroker({ maxMsgSize: 1024, maxBodySize: 4096, maxRdyCount: 100, maxReqTimeout: 10_000 });
});
afterAll(async () => {
  await b.stop();
});

async function fatal(setup: (c: RawClient) => void | Promise<void>, expected: string): Promise<void> {
  const c = await RawClient.connect(b.tcpPort);
  await setup(c);
  expect(await c.readError()).toBe(expected);
  await c.waitClosed();
}

describe("connection start", () => {
  test("bad magic gets E_BAD_PROTOCOL and is closed", async () => {
    const c = await RawClient.connect(b.tcpPort, false);
    c.write("  V1");
    expect(await c.readError()).toBe("E_BAD_PROTOCOL");
    await c.waitClosed();
  });

  test("unknown command is fatal E_INVALID", async () => {
    await fatal((c) => c.write("HELLO world\n"), "E_INVALID invalid command HELLO");
  });

  test("commands are case-sensitive", async () => {
    await fatal((c) => c.write("nop\n"), "E_INVALID invalid command nop");
  });

  test("a line longer than 16 KiB drops the connection without an error frame", async () => {
    const c = await RawClient.connect(b.tcpPort);
    c.write("PUB " + "a".repeat(17000));
    await c.waitClosed();
  });

  test("heartbeats reach a connection that never subscribed", async () => {
    const c = await RawClient.connect(b.tcpPort);
    c.autoNop = false;
    c.identify({ heartbeat_interval: 1000 });
    expect(await c.readResponse()).toBe("OK");
    expect(await c.readResponse()).toBe("_heartbeat_");
    c.close();
  });

  test("a client that misses two heartbeats is disconnected", async () => {
    const c = await RawClient.connect(b.tcpPort);
    c.autoNop = false;
    c.identify({ heartbeat_interval: 1000 });
    expect(await c.readResponse()).toBe("OK");
    await c.waitClosed(4000);
  });

  test("CRLF line endings are accepted and split commands are reassembled", async () => {
    const c = await RawClient.connect(b.tcpPort);
    const cmd = Buffer.concat([Buffer.from("PUB crlf\r\n"), Buffer.from([0, 0, 0, 5]), Buffer.from("hello")]);
    for (const byte of cmd) c.write(Buffer.from([byte]));
    expect(await c.readResponse()).toBe("OK");
    c.close();
  });
});

describe("IDENTIFY", () => {
  test("feature negotiation reply has nsqd's keys in order", async () => {
    const c = await RawClient.connect(b.tcpPort);
    c.identify({ feature_negotiation: true, client_id: "x", heartbeat_interval: 5000, msg_timeout: 2000 });
    const reply = await c.readResponse();
    const json = JSON.parse(reply);
    expect(Object.keys(json)).toEqual([
      "max_rdy_count",
      "version",
      "max_msg_timeout",
      "msg_timeout",
      "tls_v1",
      "deflate",
      "deflate_level",
      "max_deflate_level",
      "snappy",
      "sample_rate",
      "auth_required",
      "output_buffer_size",
      "output_buffer_timeout",
    ]);
    expect(json).toMatchObject({ max_rdy_count: 100, version: "1.3.0", msg_timeout: 2000, deflate_level: 6, output_buffer_size: 16384, output_buffer_timeout: 250 });
    c.close();
  });

  test("without feature_negotiation the reply is OK", async () => {
    const c = await RawClient.connect(b.tcpPort);
    c.identify({ client_id: "x" });
    expect(await c.readResponse()).toBe("OK");
    c.close();
  });

  test("output_buffer_size -1 reports 1 and timeout 0", async () => {
    const c = await RawClient.connect(b.tcpPort);
    c.identify({ feature_negotiation: true, output_buffer_size: -1 });
    const json = JSON.parse(await c.readResponse());
    expect(json.output_buffer_size).toBe(1);
    expect(json.output_buffer_timeout).toBe(0);
    c.close();
  });

  const bounds: [Record<string, unknown>, string][] = [
    [{ heartbeat_interval: 100 }, "E_BAD_BODY IDENTIFY heartbeat interval (100) is invalid"],
    [{ heartbeat_interval: 60001 }, "E_BAD_BODY IDENTIFY heartbeat interval (60001) is invalid"],
    [{ output_buffer_timeout: 10 }, "E_BAD_BODY IDENTIFY output buffer timeout (10) is invalid"],
    [{ output_buffer_size: 10 }, "E_BAD_BODY IDENTIFY output buffer size (10) is invalid"],
    [{ sample_rate: 100 }, "E_BAD_BODY IDENTIFY sample rate (100) is invalid"],
    [{ msg_timeout: 999 }, "E_BAD_BODY IDENTIFY msg timeout (999) is invalid"],
    [{ heartbeat_interval: "x" }, "E_BAD_BODY IDENTIFY failed to decode JSON body"],
    [{ feature_negotiation: true, snappy: true, deflate: true }, "E_IDENTIFY_FAILED cannot enable both deflate and snappy compression"],
  ];
  for (const [body, err] of bounds) {
    test(`rejects ${JSON.stringify(body)}`, async () => {
      await fatal((c) => c.identify(body), err);
    });
  }

  test("bad JSON and bad sizes", async () => {
    await fatal((c) => c.writeWithBody("IDENTIFY", "{nope"), "E_BAD_BODY IDENTIFY failed to decode JSON body");
    await fatal((c) => c.writeWithBody("IDENTIFY", ""), "E_BAD_BODY IDENTIFY invalid body size 0");
    await fatal((c) => c.writeWithBody("IDENTIFY", "x".repeat(5000)), "E_BAD_BODY IDENTIFY body too big 5000 > 4096");
  });

  test("keys match case-insensitively and unknown keys are ignored", async () => {
    const c = await RawClient.connect(b.tcpPort);
    c.identify({ Feature_Negotiation: true, MSG_TIMEOUT: 3000, whatever: [1, 2] });
    expect(JSON.parse(await c.readResponse()).msg_timeout).toBe(3000);
    c.close();
  });
});

describe("publishing", () => {
  test("PUB errors", async () => {
    await fatal((c) => c.write("PUB\n"), "E_INVALID PUB insufficient number of parameters");
    await fatal((c) => c.pub("bad!topic", "x"), 'E_BAD_TOPIC PUB topic name "bad!topic" is not valid');
    await fatal((c) => c.pub("t", ""), "E_BAD_MESSAGE PUB invalid message body size 0");
    await fatal((c) => c.pub("t", "x".repeat(1025)), "E_BAD_MESSAGE PUB message too big 1025 > 1024");
  });

  test("MPUB errors", async () => {
    await fatal((c) => c.write("MPUB\n"), "E_INVALID MPUB insufficient number of parameters");
    await fatal((c) => c.mpub("a/b", ["x"]), 'E_BAD_TOPIC E_BAD_TOPIC MPUB topic name "a/b" is not valid');
    await fatal((c) => c.writeWithBody("MPUB t", ""), "E_BAD_BODY MPUB invalid body size 0");
    await fatal((c) => c.writeWithBody("MPUB t", Buffer.alloc(5000)), "E_BAD_BODY MPUB body too big 5000 > 4096");
    await fatal((c) => c.writeWithBody("MPUB t", Buffer.from([0, 0, 0, 0])), "E_BAD_BODY MPUB invalid message count 0");
    await fatal((c) => c.mpub("t", ["ok", ""]), "E_BAD_MESSAGE MPUB invalid message(1) body size 0");
    await fatal((c) => c.mpub("t", ["x".repeat(1025)]), "E_BAD_MESSAGE MPUB message too big 1025 > 1024");
  });

  test("MPUB parts are read by their own lengths, as nsqd reads them from the stream", async () => {
    // declared body of 10 bytes, but the one part says 10 bytes of its own: nsqd keeps reading
    const c = await RawClient.connect(b.tcpPort);
    c.writeWithBody("MPUB stream", Buffer.from([0, 0, 0, 1, 0, 0, 0, 10, 49, 50]));
    expect(await c.expectNoFrame(200)).toBe(true);
    c.write("34567890");
    expect(await c.readResponse()).toBe("OK");
    c.close();
  });

  test("a failed MPUB queues nothing", async () => {
    const c = await RawClient.connect(b.tcpPort);
    c.mpub("mpub-atomic", ["a", "b", ""]);
    await c.readError();
    const res = await b.http("/stats?format=json&topic=mpub-atomic");
    void res;
    const topic = b.nsqd.getTopic("mpub-atomic");
    expect(topic === undefined || topic.depth() === 0).toBe(true);
  });

  test("DPUB errors", async () => {
    await fatal((c) => c.write("DPUB t\n"), "E_INVALID DPUB insufficient number of parameters");
    await fatal((c) => c.writeWithBody("DPUB t -1", "x"), "E_INVALID DPUB could not parse timeout -1");
    await fatal((c) => c.writeWithBody("DPUB t 10001", "x"), "E_INVALID DPUB timeout 10001 out of range 0-10000");
    await fatal((c) => c.writeWithBody("DPUB t 10", ""), "E_BAD_MESSAGE DPUB invalid message body size 0");
  });

  test("a publisher may publish to several topics and gets one OK per command", async () => {
    const c = await RawClient.connect(b.tcpPort);
    c.pub("multi-a", "1");
    c.pub("multi-b", "2");
    c.mpub("multi-a", ["3", "4"]);
    for (let i = 0; i < 3; i++) expect(await c.readResponse()).toBe("OK");
    expect(b.nsqd.getTopic("multi-a")!.messageCount).toBe(3);
    expect(b.nsqd.getTopic("multi-b")!.messageCount).toBe(1);
    c.close();
  });
});

describe("subscribing and flow control", () => {
  test("state machine errors", async () => {
    await fatal((c) => c.write("RDY 1\n"), "E_INVALID cannot RDY in current state");
    await fatal((c) => c.write("FIN 0123456789abcdef\n"), "E_INVALID cannot FIN in current state");
    await fatal((c) => c.write("REQ 0123456789abcdef 0\n"), "E_INVALID cannot REQ in current state");
    await fatal((c) => c.write("TOUCH 0123456789abcdef\n"), "E_INVALID cannot TOUCH in current state");
    await fatal((c) => c.write("CLS\n"), "E_INVALID cannot CLS in current state");
    await fatal((c) => c.write("SUB t\n"), "E_INVALID SUB insufficient number of parameters");
    await fatal((c) => c.write("SUB t bad/ch\n"), 'E_BAD_CHANNEL SUB channel name "bad/ch" is not valid');
    await fatal((c) => c.write(`SUB ${"x".repeat(65)} c\n`), `E_BAD_TOPIC SUB topic name "${"x".repeat(65)}" is not valid`);
    await fatal(async (c) => {
      c.identify({ heartbeat_interval: -1 });
      await c.readResponse();
      c.write("SUB t c\n");
    }, "E_INVALID cannot SUB with heartbeats disabled");
  });

  test("second SUB and IDENTIFY after SUB are fatal", async () => {
    const c = await subscriber(b.tcpPort, "sm", "c", 0);
    c.write("SUB sm c\n");
    expect(await c.readError()).toBe("E_INVALID cannot SUB in current state");
    await c.waitClosed();
    const d = await subscriber(b.tcpPort, "sm", "c", 0);
    d.identify({});
    expect(await d.readError()).toBe("E_INVALID cannot IDENTIFY in current state");
  });

  test("RDY errors", async () => {
    const c = await subscriber(b.tcpPort, "rdy", "c", 0);
    c.write("RDY 101\n");
    expect(await c.readError()).toBe("E_INVALID RDY count 101 out of range 0-100");
    const d = await subscriber(b.tcpPort, "rdy", "c", 0);
    d.write("RDY -1\n");
    expect(await d.readError()).toBe("E_INVALID RDY could not parse count -1");
    // Go parses into a wrapping uint64, then reads it as int64
    const e = await subscriber(b.tcpPort, "rdy", "c", 0);
    e.write("RDY 99999999999999999999\n");
    expect(await e.readError()).toBe("E_INVALID RDY count 7766279631452241919 out of range 0-100");
  });

  test("FIN/REQ/TOUCH failures are non-fatal; bad IDs are fatal", async () => {
    const c = await subscriber(b.tcpPort, "fin", "c", 1);
    c.write("FIN 0123456789abcdef\n");
    expect(await c.readError()).toBe("E_FIN_FAILED FIN 0123456789abcdef failed ID not in flight");
    c.write("REQ 0123456789abcdef 0\n");
    expect(await c.readError()).toBe("E_REQ_FAILED REQ 0123456789abcdef failed ID not in flight");
    c.write("TOUCH 0123456789abcdef\n");
    expect(await c.readError()).toBe("E_TOUCH_FAILED TOUCH 0123456789abcdef failed ID not in flight");
    c.write("NOP\n");
    c.write("REQ 0123456789abcdef x\n");
    expect(await c.readError()).toBe("E_INVALID REQ could not parse timeout x");
    await c.waitClosed();
    const d = await subscriber(b.tcpPort, "fin", "c", 1);
    d.write("FIN abc\n");
    expect(await d.readError()).toBe("E_INVALID invalid message ID");
  });

  test("a message owned by another client cannot be FINed by this one", async () => {
    const p = await RawClient.connect(b.tcpPort);
    const a = await subscriber(b.tcpPort, "own", "c", 1);
    const other = await subscriber(b.tcpPort, "own", "c", 0);
    p.pub("own", "m");
    await p.readResponse();
    const m = await a.readMessage();
    other.write(`FIN ${m.id}\n`);
    expect(await other.readError()).toBe(`E_FIN_FAILED FIN ${m.id} failed client does not own message`);
    a.write(`FIN ${m.id}\n`);
    p.close();
    a.close();
    other.close();
  });

  test("CLS answers CLOSE_WAIT, stops deliveries, still accepts FIN", async () => {
    const p = await RawClient.connect(b.tcpPort);
    const c = await subscriber(b.tcpPort, "cls", "c", 5);
    p.pub("cls", "1");
    await p.readResponse();
    const m = await c.readMessage();
    c.write("CLS\n");
    expect(await c.readResponse()).toBe("CLOSE_WAIT");
    c.write("RDY 5\n"); // ignored after CLS
    p.pub("cls", "2");
    await p.readResponse();
    c.write(`FIN ${m.id}\n`);
    expect(await c.expectNoFrame(300)).toBe(true);
    expect(b.nsqd.getTopic("cls")!.getChannel("c")!.depth()).toBe(1);
    p.close();
    c.close();
  });
});
