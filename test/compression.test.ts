/**
 * Snappy and deflate on the broker (spec §1.8, §9 item 4): the codecs themselves (checked
 * against the native `snappy` module and `snappystream`, which nsqjs uses), the upgrade order on
 * the wire, negotiation errors, corrupt input, and nsqjs interop alone and on top of TLS.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import tls from "node:tls";
import zlib from "node:zlib";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient } from "./helpers/raw-client.ts";
import { makeTestCerts, type TestCerts } from "./helpers/tls-certs.ts";
import { FrameReader, commandWithBody, connectAndIdentify as identifyOn } from "./helpers/frame-reader.ts";
import { nsqjsRoundTrip } from "./helpers/nsqjs-roundtrip.ts";
import { crc32c, maskedCrc32c } from "../src/protocol/crc32c.ts";
import {
  SNAPPY_STREAM_IDENTIFIER,
  SnappyError,
  SnappyFrameDecoder,
  SnappyFrameEncoder,
  compressBlock,
  decompressBlock,
} from "../src/protocol/snappy.ts";

interface NativeSnappy {
  compressSync(b: Buffer): Buffer;
  uncompressSync(b: Buffer): Buffer;
}
interface SnappyStreams {
  SnappyStream: new () => NodeJS.ReadWriteStream;
  UnsnappyStream: new () => NodeJS.ReadWriteStream;
}
const nativeSnappy = require("snappy") as NativeSnappy;
const snappyStreams = require("snappystream") as SnappyStreams;

let certs: TestCerts;
const brokers: TestBroker[] = [];
const sockets: net.Socket[] = [];

beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.cleanup());
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(opts: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const b = await startBroker({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, ...opts });
  brokers.push(b);
  return b;
}

/** Deterministic pseudo-random bytes drawn from `alphabet` symbols (small alphabets compress). */
function bytes(n: number, alphabet: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = (x >>> 16) % alphabet;
  }
  return b;
}

function streamThrough(stream: NodeJS.ReadWriteStream, input: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on("data", (c: Buffer) => parts.push(c));
    stream.on("end", () => resolve(Buffer.concat(parts)));
    stream.on("error", reject);
    stream.end(input);
  });
}

describe("CRC-32C", () => {
  test("known check values and the snappy mask", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from("x123456789"), 1)).toBe(0xe3069283);
    const c = crc32c(Buffer.from("123456789"));
    expect(maskedCrc32c(Buffer.from("123456789"))).toBe(((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0);
  });
});

describe("snappy block format", () => {
  const sizes = [1, 16, 17, 100, 4097, 65536];
  const alphabets = [2, 7, 256];
  test("our blocks decode with the native snappy library, and its blocks decode with ours", () => {
    for (const n of sizes) {
      for (const a of alphabets) {
        const src = bytes(n, a, n + a);
        const ours = compressBlock(src);
        expect(Buffer.from(nativeSnappy.uncompressSync(ours)).equals(src)).toBe(true);
        expect(decompressBlock(nativeSnappy.compressSync(src)).equals(src)).toBe(true);
        expect(decompressBlock(ours).equals(src)).toBe(true);
      }
    }
  });

  test("repetitive data really compresses", () => {
    const src = Buffer.from("PUB topic\n".repeat(2000).slice(0, 20000));
    expect(compressBlock(src).length).toBeLessThan(src.length / 10);
    expect(compressBlock(Buffer.alloc(0)).equals(Buffer.from([0]))).toBe(true);
  });

  test("corrupt blocks are errors, not crashes", () => {
    const good = compressBlock(Buffer.from("abcdabcdabcdabcdabcdabcdabcd"));
    expect(() => decompressBlock(good.subarray(0, good.length - 1))).toThrow(SnappyError);
    expect(() => decompressBlock(Buffer.from([5, 0x01, 0x00]))).toThrow(SnappyError); // copy with offset 0
    expect(() => decompressBlock(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(SnappyError);
    expect(() => decompressBlock(Buffer.from([0x80, 0x80, 0x10]), 0, 3, 65536)).toThrow(/too large/);
  });
});

describe("snappy framing format", () => {
  test("stream identifier first, then chunks snappystream (nsqjs's codec) decodes", async () => {
    const data = Buffer.concat([bytes(100_000, 4), Buffer.alloc(50_000, 7), bytes(10, 256)]);
    const enc = new SnappyFrameEncoder();
    const first = enc.encode(data.subarray(0, 70_000));
    expect(first.subarray(0, 10).equals(SNAPPY_STREAM_IDENTIFIER)).toBe(true);
    const second = enc.encode(data.subarray(70_000));
    expect(second.subarray(0, 10).equals(SNAPPY_STREAM_IDENTIFIER)).toBe(false);
    const decoded = await streamThrough(new snappyStreams.UnsnappyStream(), Buffer.concat([first, second]));
    expect(decoded.equals(data)).toBe(true);
  });

  test("decodes snappystream's compressed chunks fed in arbitrary splits", async () => {
    const data = Buffer.concat([bytes(80_000, 3), Buffer.from("hello ".repeat(10_000))]);
    const framed = await streamThrough(new snappyStreams.SnappyStream(), data);
    expect(framed.includes(Buffer.from([0x00]), 10)).toBe(true);
    for (const step of [1, 7, 333, 70_000]) {
      const out: Buffer[] = [];
      const dec = new SnappyFrameDecoder((c) => out.push(Buffer.from(c)));
      for (let i = 0; i < framed.length; i += step) dec.push(framed.subarray(i, i + step));
      expect(Buffer.concat(out).equals(data)).toBe(true);
    }
  });

  test("an encoder without compression emits uncompressed chunks only", () => {
    const out = new SnappyFrameEncoder(false).encode(Buffer.alloc(1000, 1));
    expect(out[10]).toBe(0x01);
    const got: Buffer[] = [];
    new SnappyFrameDecoder((c) => got.push(c)).push(out);
    expect(Buffer.concat(got).equals(Buffer.alloc(1000, 1))).toBe(true);
  });

  test("bad checksum, reserved chunk type, missing identifier, skippable chunks", () => {
    const good = new SnappyFrameEncoder().encode(Buffer.from("some payload bytes here!"));
    const badCrc = Buffer.from(good);
    badCrc[14]! ^= 0xff;
    expect(() => new SnappyFrameDecoder(() => {}).push(badCrc)).toThrow(/checksum/);
    const reserved = Buffer.concat([SNAPPY_STREAM_IDENTIFIER, Buffer.from([0x02, 0, 0, 0])]);
    expect(() => new SnappyFrameDecoder(() => {}).push(reserved)).toThrow(/unsupported chunk type/);
    expect(() => new SnappyFrameDecoder(() => {}).push(good.subarray(10))).toThrow(/stream identifier/);
    const skippable = Buffer.concat([good.subarray(0, 10), Buffer.from([0x80, 3, 0, 0, 1, 2, 3, 0xfe, 1, 0, 0, 9]), good.subarray(10)]);
    const got: Buffer[] = [];
    new SnappyFrameDecoder((c) => got.push(c)).push(skippable);
    expect(Buffer.concat(got).toString()).toBe("some payload bytes here!");
  });
});

/** Magic + IDENTIFY over a plain socket; frames before any upgrade go to `plain`. */
const connectAndIdentify = (port: number, identify: Record<string, unknown>) => identifyOn(port, identify, (s) => sockets.push(s));

/** Re-points a byte source at a new reader (for the bytes after an upgrade). */
function takeOver(source: NodeJS.EventEmitter, leftover: Buffer, decode: (c: Buffer) => void): void {
  source.removeAllListeners("data");
  source.on("data", decode);
  if (leftover.length > 0) decode(leftover);
}

describe("upgrade order on the wire", () => {
  test("snappy: JSON in plaintext, then the stream identifier and OK in snappy framing, commands framed too", async () => {
    const b = await broker();
    const { socket, plain } = await connectAndIdentify(b.tcpPort, { feature_negotiation: true, snappy: true });
    const reply = JSON.parse((await plain.next()).data.toString());
    expect([reply.snappy, reply.deflate, reply.tls_v1]).toEqual([true, false, false]);
    const raw: Buffer[] = [];
    const frames = new FrameReader();
    const decoder = new SnappyFrameDecoder((c) => frames.push(c));
    takeOver(socket, plain.partial, (c) => {
      raw.push(c);
      decoder.push(c);
    });
    expect(await frames.nextText()).toBe("OK");
    expect(Buffer.concat(raw).subarray(0, 10).equals(SNAPPY_STREAM_IDENTIFIER)).toBe(true);
    const enc = new SnappyFrameEncoder();
    socket.write(enc.encode(commandWithBody("PUB snappy_t", "x".repeat(5000))));
    expect(await frames.nextText()).toBe("OK");
    socket.write(enc.encode(Buffer.from("SUB snappy_t c\n")));
    expect(await frames.nextText()).toBe("OK");
    socket.write(enc.encode(Buffer.from("RDY 1\n")));
    const msg = await frames.next();
    expect(msg.type).toBe(2);
    expect(msg.data.subarray(26).toString()).toBe("x".repeat(5000));
    const client = [...b.nsqd.clients][0]!;
    expect([client.snappy, client.deflate]).toEqual([true, false]);
  });

  test("bytes pipelined right behind IDENTIFY are read through the new snappy layer", async () => {
    const b = await broker();
    const socket = net.connect(b.tcpPort, "127.0.0.1");
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const plain = new FrameReader(1);
    socket.on("data", (c: Buffer) => plain.push(c));
    const enc = new SnappyFrameEncoder();
    socket.write(
      Buffer.concat([
        Buffer.from("  V2"),
        commandWithBody("IDENTIFY", JSON.stringify({ feature_negotiation: true, snappy: true })),
        enc.encode(commandWithBody("PUB pipelined", "early")),
      ]),
    );
    expect(JSON.parse((await plain.next()).data.toString()).snappy).toBe(true);
    const frames = new FrameReader();
    const decoder = new SnappyFrameDecoder((c) => frames.push(c));
    takeOver(socket, plain.partial, (c) => decoder.push(c));
    expect(await frames.nextText()).toBe("OK"); // the upgrade's OK
    expect(await frames.nextText()).toBe("OK"); // the pipelined PUB's OK
    expect(b.nsqd.getTopic("pipelined")?.name).toBe("pipelined");
  });

  test("deflate: JSON in plaintext, then OK as raw DEFLATE with a sync flush, at the negotiated level", async () => {
    const b = await broker({ maxDeflateLevel: 4 });
    const { socket, plain } = await connectAndIdentify(b.tcpPort, { feature_negotiation: true, deflate: true, deflate_level: 9 });
    const reply = JSON.parse((await plain.next()).data.toString());
    expect([reply.deflate, reply.deflate_level, reply.max_deflate_level]).toEqual([true, 4, 4]);
    const raw: Buffer[] = [];
    const frames = new FrameReader();
    const inflate = zlib.createInflateRaw({ flush: zlib.constants.Z_SYNC_FLUSH });
    inflate.on("data", (c: Buffer) => frames.push(c));
    takeOver(socket, plain.partial, (c) => {
      raw.push(c);
      inflate.write(c);
    });
    expect(await frames.nextText()).toBe("OK");
    // each flushed batch ends with the sync-flush marker 00 00 ff ff
    expect(Buffer.concat(raw).subarray(-4).toString("hex")).toBe("0000ffff");
    const deflate = zlib.createDeflateRaw({ flush: zlib.constants.Z_SYNC_FLUSH });
    deflate.on("data", (c: Buffer) => socket.write(c));
    deflate.write(commandWithBody("PUB deflate_t", "y".repeat(3000)));
    expect(await frames.nextText()).toBe("OK");
    const client = [...b.nsqd.clients][0]!;
    expect([client.deflate, client.deflateLevel, client.snappy]).toEqual([true, 4, false]);
  });

  test("tls + snappy: JSON plain, OK over TLS, then snappy OK inside TLS", async () => {
    const b = await broker();
    const { socket, plain } = await connectAndIdentify(b.tcpPort, { feature_negotiation: true, tls_v1: true, snappy: true });
    const reply = JSON.parse((await plain.next()).data.toString());
    expect([reply.tls_v1, reply.snappy]).toEqual([true, true]);
    socket.removeAllListeners("data");
    const secure = tls.connect({ socket, rejectUnauthorized: false });
    secure.on("error", () => {});
    const tlsFrames = new FrameReader(1);
    secure.on("data", (c: Buffer) => tlsFrames.push(c));
    await new Promise<void>((resolve) => secure.once("secureConnect", () => resolve()));
    // the OK over TLS is a plain frame; whatever follows is snappy-framed
    const ok = await tlsFrames.next();
    expect(ok.data.toString()).toBe("OK");
    const frames = new FrameReader();
    const decoder = new SnappyFrameDecoder((c) => frames.push(c));
    takeOver(secure, tlsFrames.partial, (c) => decoder.push(c));
    expect(await frames.nextText()).toBe("OK");
    secure.write(new SnappyFrameEncoder().encode(commandWithBody("PUB ts_t", "z")));
    expect(await frames.nextText()).toBe("OK");
    const client = [...b.nsqd.clients][0]!;
    expect([client.tls, client.snappy]).toEqual([true, true]);
  });
});

describe("negotiation errors and bad input", () => {
  test("snappy and deflate both: E_IDENTIFY_FAILED, the server stays up", async () => {
    const b = await broker();
    const c = await RawClient.connect(b.tcpPort);
    c.identify({ feature_negotiation: true, snappy: true, deflate: true });
    expect(await c.readError()).toBe("E_IDENTIFY_FAILED cannot enable both deflate and snappy compression");
    await c.waitClosed();
    const d = await RawClient.connect(b.tcpPort);
    d.pub("t", "up");
    expect(await d.readResponse()).toBe("OK");
  });

  test("compression switched off on the server is declined and the connection stays plain", async () => {
    const b = await broker({ snappy: false, deflate: false });
    const c = await RawClient.connect(b.tcpPort);
    c.identify({ feature_negotiation: true, snappy: true });
    expect(JSON.parse(await c.readResponse()).snappy).toBe(false);
    c.pub("t", "plain");
    expect(await c.readResponse()).toBe("OK");
    const d = await RawClient.connect(b.tcpPort);
    d.identify({ feature_negotiation: true, deflate: true });
    expect(JSON.parse(await d.readResponse()).deflate).toBe(false);
    d.pub("t", "plain");
    expect(await d.readResponse()).toBe("OK");
  });

  test("a corrupt snappy stream from the client closes that connection only", async () => {
    const b = await broker();
    const { socket, plain } = await connectAndIdentify(b.tcpPort, { feature_negotiation: true, snappy: true });
    await plain.next();
    const bad = Buffer.concat([SNAPPY_STREAM_IDENTIFIER, Buffer.from([0x01, 8, 0, 0, 1, 2, 3, 4, 65, 66, 67, 10])]);
    socket.write(bad);
    await plain.waitClosed();
    const c = await RawClient.connect(b.tcpPort);
    c.pub("t", "still up");
    expect(await c.readResponse()).toBe("OK");
  });

  test("garbage instead of DEFLATE data closes that connection only", async () => {
    const b = await broker();
    const { socket, plain } = await connectAndIdentify(b.tcpPort, { feature_negotiation: true, deflate: true });
    await plain.next();
    socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    await plain.waitClosed();
    const c = await RawClient.connect(b.tcpPort);
    c.pub("t", "still up");
    expect(await c.readResponse()).toBe("OK");
  });
});

describe("nsqjs interop, 1,000 messages each way", () => {
  const cases: [string, Record<string, unknown>, { tls: boolean; snappy: boolean; deflate: boolean }][] = [
    ["snappy", { snappy: true }, { tls: false, snappy: true, deflate: false }],
    ["deflate", { deflate: true }, { tls: false, snappy: false, deflate: true }],
    ["tls_snappy", { tls: true, tlsVerification: false, snappy: true }, { tls: true, snappy: true, deflate: false }],
    ["tls_deflate", { tls: true, tlsVerification: false, deflate: true }, { tls: true, snappy: false, deflate: true }],
  ];
  for (const [name, options, expected] of cases) {
    test(`${name}: every message arrives and /stats shows the negotiated features`, async () => {
      const b = await broker();
      const r = await nsqjsRoundTrip(b, `interop_${name}`, options);
      expect(r.received.length).toBe(r.sent.length);
      expect(r.received.sort()).toEqual([...r.sent].sort());
      expect(r.consumers.length).toBe(1);
      expect(r.producers.length).toBe(1);
      for (const c of [...r.consumers, ...r.producers]) {
        expect({ tls: c.tls, snappy: c.snappy, deflate: c.deflate }).toEqual(expected);
      }
    }, 20000);
  }
});
