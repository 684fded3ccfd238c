/**
 * Line-by-line review of the V2 protocol against nsqd v1.3.0 (nsqd/protocol_v2.go,
 * nsqd/client_v2.go, nsqd/channel.go). Each `test.failing` shows one observable difference that
 * is not fixed yet: it passes while our broker still differs, and starts failing (so must be
 * turned into a plain `test`) once src/ is fixed. The comment above each names the Go lines.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { parseMessage, RawClient, subscriber } from "./helpers/raw-client.ts";

let b: TestBroker;
const clients: RawClient[] = [];

beforeAll(async () => {
  b = await startBroker();
});
afterAll(async () => {
  await b.stop();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(b.tcpPort);
  clients.push(c);
  return c;
}

async function sub(topic: string, channel: string, rdy: number, identify?: Record<string, unknown>): Promise<RawClient> {
  const c = await subscriber(b.tcpPort, topic, channel, rdy, identify);
  clients.push(c);
  return c;
}

function int32(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeInt32BE(n);
  return out;
}

/** MPUB body parts without the leading body size: [count][size][bytes]... */
function mpubParts(bodies: string[]): Buffer {
  return Buffer.concat([int32(bodies.length), ...bodies.flatMap((s) => [int32(Buffer.byteLength(s)), Buffer.from(s)])]);
}

interface StatsClient {
  client_id: string;
  hostname: string;
  user_agent: string;
}
interface StatsDoc {
  topics: { topic_name: string; channels: { channel_name: string; clients: StatsClient[] }[] }[];
}

async function stats(topic?: string): Promise<StatsDoc> {
  const res = await b.http(`/stats?format=json${topic === undefined ? "" : `&topic=${topic}`}`);
  return (await res.json()) as StatsDoc;
}

/** A message frame within `ms` (shorter than readFrame's default, to keep failing tests fast). */
async function messageWithin(c: RawClient, ms: number): Promise<ReturnType<typeof parseMessage>> {
  const f = await c.readFrame(ms);
  expect(f.type).toBe(2);
  return parseMessage(f.data);
}

async function onlyClientOf(topic: string): Promise<StatsClient> {
  const doc = await stats(topic);
  const clientsOf = doc.topics.find((t) => t.topic_name === topic)!.channels[0]!.clients;
  expect(clientsOf.length).toBe(1);
  return clientsOf[0]!;
}

describe("MPUB body framing", () => {
  // protocol_v2.go MPUB (l.834-853): the declared body size is only range-checked; readMPUB
  // then reads count and parts straight from client.Reader, not from a LimitReader of bodyLen.
  // Ours (protocol-v2.ts mpub) bounds every part by the declared size.
  test("a declared body size smaller than the parts is not an error", async () => {
    const c = await connect();
    const parts = mpubParts(["hello", "world"]);
    c.write(Buffer.concat([Buffer.from("MPUB mpub-short\n"), int32(4), parts]));
    expect(await c.readResponse()).toBe("OK");
  });

  // Same Go lines: nsqd answers as soon as `count` parts have been read; ours waits for the
  // declared number of bytes, so a client that over-declares never gets its OK.
  test("a declared body size larger than the parts does not stall the reply", async () => {
    const c = await connect();
    const parts = mpubParts(["hello"]);
    c.write(Buffer.concat([Buffer.from("MPUB mpub-long\n"), int32(parts.length + 8), parts]));
    expect((await c.readFrame(1000)).data.toString()).toBe("OK");
  });
});

describe("auth comes before creating a topic", () => {
  let authBroker: TestBroker;
  beforeAll(async () => {
    // nothing listens there: without AUTH the check fails with E_AUTH_FIRST before any query
    authBroker = await startBroker({ authHttpAddresses: ["127.0.0.1:1"] });
  });
  afterAll(async () => {
    await authBroker.stop();
  });

  async function topicNames(): Promise<string[]> {
    const doc = (await (await authBroker.http("/stats?format=json")).json()) as StatsDoc;
    return doc.topics.map((t) => t.topic_name);
  }

  // protocol_v2.go PUB l.799-803: CheckAuth, then p.nsqd.GetTopic. Ours (pub → topicFor)
  // creates the topic (and registers it with nsqlookupd) before awaitAuth.
  test("a PUB refused by auth does not create its topic", async () => {
    const c = await RawClient.connect(authBroker.tcpPort);
    clients.push(c);
    c.pub("unauthorized-pub", "x");
    expect(await c.readError()).toBe("E_AUTH_FIRST AUTH required before PUB");
    expect(await topicNames()).not.toContain("unauthorized-pub");
  });

  // protocol_v2.go MPUB l.828-832: CheckAuth, then GetTopic. Ours (mpub → topicFor) first.
  test("an MPUB refused by auth does not create its topic", async () => {
    const c = await RawClient.connect(authBroker.tcpPort);
    clients.push(c);
    c.mpub("unauthorized-mpub", ["x"]);
    expect(await c.readError()).toBe("E_AUTH_FIRST AUTH required before MPUB");
    expect(await topicNames()).not.toContain("unauthorized-mpub");
  });
});

describe("IDENTIFY", () => {
  // client_v2.go Identify l.243-247: ClientID, Hostname and UserAgent are assigned from the
  // decoded struct unconditionally, so a missing (or null) key sets "" (spec §1.8 table).
  // Ours (protocol-v2.ts identify l.573-575) keeps the remote address when the key is absent.
  test("IDENTIFY without client_id/hostname clears the remote-address defaults", async () => {
    await sub("ident-empty", "c", 0, {});
    const client = await onlyClientOf("ident-empty");
    expect(client.client_id).toBe("");
    expect(client.hostname).toBe("");
  });

  test("a second IDENTIFY without user_agent clears the first one's values", async () => {
    const c = await connect();
    c.identify({ client_id: "first", hostname: "first.example", user_agent: "agent/1" });
    expect(await c.readResponse()).toBe("OK");
    c.identify({ client_id: null });
    expect(await c.readResponse()).toBe("OK");
    c.write("SUB ident-twice c\n");
    expect(await c.readResponse()).toBe("OK");
    const client = await onlyClientOf("ident-twice");
    expect(client).toMatchObject({ client_id: "", hostname: "", user_agent: "" });
  });

  // client_v2.go SetHeartbeatInterval l.475-492 updates c.HeartbeatInterval on every
  // IDENTIFY; SUB (protocol_v2.go l.572) checks that field. Only the pump's ticker is limited
  // to the first IDENTIFY. Ours applies heartbeat_interval only on the first IDENTIFY.
  test("a second IDENTIFY disabling heartbeats makes SUB fail", async () => {
    const c = await connect();
    c.identify({});
    expect(await c.readResponse()).toBe("OK");
    c.identify({ heartbeat_interval: -1 });
    expect(await c.readResponse()).toBe("OK");
    c.write("SUB ident-hb c\n");
    expect(await c.readError()).toBe("E_INVALID cannot SUB with heartbeats disabled");
  });

  // protocol_v2.go messagePump l.277-297: identifyEventChan is read once, so deliveries use
  // the first IDENTIFY's msg_timeout (and sample_rate, output_buffer_timeout) for the life of
  // the connection. Ours re-applies them on every IDENTIFY.
  test("deliveries use the first IDENTIFY's msg_timeout", async () => {
    const c = await connect();
    c.identify({ msg_timeout: 1000 });
    expect(await c.readResponse()).toBe("OK");
    c.identify({ msg_timeout: 60000 });
    expect(await c.readResponse()).toBe("OK");
    c.write("SUB ident-mt c\n");
    expect(await c.readResponse()).toBe("OK");
    c.write("RDY 1\n");
    const p = await connect();
    p.pub("ident-mt", "m");
    expect(await p.readResponse()).toBe("OK");
    const first = await c.readMessage();
    expect(first.attempts).toBe(1);
    // not FINed: nsqd times it out after 1 s and delivers it again
    const again = await messageWithin(c, 2500);
    expect(again.id).toBe(first.id);
    expect(again.attempts).toBe(2);
  }, 10_000);

  // Go's encoding/json decodes an int field with strconv.ParseInt, so `1e3` or `1000.0` is an
  // UnmarshalTypeError → protocol_v2.go l.379-382. Ours (identify.ts decodeIdentify) accepts
  // any JSON number that is integral.
  test("an exponent or fraction in an int field fails to decode", async () => {
    const c = await connect();
    c.writeWithBody("IDENTIFY", '{"heartbeat_interval":1e3}');
    expect(await c.readError()).toBe("E_BAD_BODY IDENTIFY failed to decode JSON body");
  });

  // sample_rate is an int32 in identifyDataV2 (client_v2.go l.39): 2^31 overflows in the
  // decoder, before SetSampleRate runs. Ours reports the range check instead.
  test("an int32 overflow of sample_rate is a decode failure", async () => {
    const c = await connect();
    c.identify({ sample_rate: 2 ** 31 });
    expect(await c.readError()).toBe("E_BAD_BODY IDENTIFY failed to decode JSON body");
  });
});

describe("command lines", () => {
  // protocol_v2.go IOLoop l.64: ReadSlice on a 16384-byte bufio.Reader (client_v2.go l.18,196)
  // fails with ErrBufferFull when 16384 bytes hold no '\n', so the longest accepted line is
  // 16383 bytes plus '\n'. Ours (protocol-v2.ts parse, MAX_LINE) accepts 16384 + '\n'.
  test("a 16384-byte line (plus newline) drops the connection", async () => {
    const c = await connect();
    c.write("NOP " + "x".repeat(16384 - 4) + "\n");
    await c.waitClosed(1000);
  });

  // Error texts echo the client's bytes as they were (fmt %s of a []byte): protocol_v2.go
  // l.200 (invalid command), also l.660 RDY, l.721 REQ, l.883 DPUB, l.696/743/953 FIN/REQ/TOUCH
  // ids. Ours decodes as latin1/UTF-8 and re-encodes as UTF-8, so a 0xff byte comes back as
  // c3 bf (or as U+FFFD).
  test("the invalid-command error echoes the command's bytes unchanged", async () => {
    const c = await connect();
    c.write(Buffer.from([0x46, 0xff, 0x0a])); // "F\xff\n"
    const f = await c.readFrame();
    expect(f.type).toBe(1);
    expect(f.data).toEqual(Buffer.concat([Buffer.from("E_INVALID invalid command F"), Buffer.from([0xff])]));
  });

  // Names in E_BAD_TOPIC / E_BAD_CHANNEL are formatted with Go's %q (protocol_v2.go l.775, 825,
  // 878, 588, 594): control bytes are \xNN (or \a \v ...), DEL is \x7f, invalid UTF-8 bytes
  // are \xNN. Ours uses JSON.stringify (\u0001, raw DEL, U+FFFD). auth.ts unauthorized() too.
  test("invalid topic names are quoted as Go's %q does", async () => {
    const c = await connect();
    c.pub("a\x01b", "x");
    expect(await c.readError()).toBe('E_BAD_TOPIC PUB topic name "a\\x01b" is not valid');
  });

  test("invalid channel names are quoted as Go's %q does (DEL)", async () => {
    const c = await connect();
    c.write("SUB t a\x7fb\n");
    expect(await c.readError()).toBe('E_BAD_CHANNEL SUB channel name "a\\x7fb" is not valid');
  });
});

describe("number parsing wraps as nsqd's uint64 / time.Duration do", () => {
  // protocol_v2.go RDY l.658-671: ByteToBase10 wraps modulo 2^64, so 2^64+1 parses as 1 and
  // is in range. Ours compares the unwrapped value and fails the connection.
  test("RDY 18446744073709551617 is RDY 1", async () => {
    const c = await sub("rdy-wrap", "c", 0);
    c.write("RDY 18446744073709551617\n");
    const p = await connect();
    p.pub("rdy-wrap", "m");
    expect(await p.readResponse()).toBe("OK");
    expect((await c.readMessage()).body.toString()).toBe("m");
  });

  // protocol_v2.go REQ l.724-738: time.Duration(ms) * time.Millisecond overflows int64 for
  // 1e13 ms, turns negative and is clamped to 0: an immediate requeue. Ours clamps to
  // --max-req-timeout (1 h) and defers it.
  test("REQ with an overflowing timeout requeues at once", async () => {
    const c = await sub("req-wrap", "c", 1);
    const p = await connect();
    p.pub("req-wrap", "m");
    expect(await p.readResponse()).toBe("OK");
    const m = await c.readMessage();
    c.write(`REQ ${m.id} 10000000000000\n`);
    const again = await messageWithin(c, 1500);
    expect(again.id).toBe(m.id);
    expect(again.attempts).toBe(2);
  }, 10_000);
});
