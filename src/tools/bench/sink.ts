/**
 * `nsq bench sink`: a V2 server that does no work, to show the load generator's own ceiling.
 * It answers IDENTIFY/PUB/MPUB/DPUB/SUB with OK (bodies skipped, not read), CLS with CLOSE_WAIT,
 * and after SUB feeds pre-built message frames as fast as RDY allows (in flight = sent − FIN/REQ),
 * one write per pump. Anything else gets `E_INVALID` and the connection is closed.
 */
import type { Socket, TCPSocketListener } from "bun";
import { BufferedWriter, ByteQueue, readUint32BE } from "./byte-queue.ts";
import { parseHostPort } from "./wire.ts";

export interface SinkOptions {
  address: string;
  /** body size of the messages fed to readers */
  size: number;
}

export interface Sink {
  port: number;
  /** messages fed to readers and messages received from writers, so far */
  stats(): { delivered: number; published: number; connections: number };
  stop(): void;
}

const encoder = new TextEncoder();

function responseFrame(text: string, type = 0): Uint8Array {
  const data = encoder.encode(text);
  const frame = new Uint8Array(8 + data.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, 4 + data.length);
  view.setUint32(4, type);
  frame.set(data, 8);
  return frame;
}

const OK = responseFrame("OK");
const CLOSE_WAIT = responseFrame("CLOSE_WAIT");
const FEED_FRAMES = 2500;

/** FEED_FRAMES message frames (ids 0…, attempts 1, zero bodies); re-stamped with the time per pump. */
function buildFeed(size: number): { feed: Uint8Array; frameSize: number } {
  const frameSize = 8 + 26 + size;
  const feed = new Uint8Array(frameSize * FEED_FRAMES);
  const view = new DataView(feed.buffer);
  for (let i = 0; i < FEED_FRAMES; i++) {
    const at = i * frameSize;
    view.setUint32(at, 4 + 26 + size);
    view.setUint32(at + 4, 2);
    view.setUint16(at + 16, 1);
    const id = i.toString(16).padStart(16, "0");
    for (let j = 0; j < 16; j++) feed[at + 18 + j] = id.charCodeAt(j);
  }
  return { feed, frameSize };
}

interface Counters {
  delivered: number;
  published: number;
  connections: number;
}

class SinkConnection {
  /** commands split across chunks, until their rest arrives */
  private readonly carry = new ByteQueue(64 * 1024);
  private out = new Uint8Array(16 * 1024);
  private outLength = 0;
  private readonly writer: BufferedWriter;
  private gotMagic = false;
  private subscribed = false;
  private rdy = 0;
  private inFlight = 0;
  /** body bytes of a PUB/MPUB still to skip (bodies span chunks) */
  private skip = 0;
  private closing = false;

  constructor(
    private readonly socket: Socket<SinkConnection>,
    private readonly feed: Uint8Array,
    private readonly frameSize: number,
    private readonly counters: Counters,
  ) {
    this.writer = new BufferedWriter(socket);
  }

  receive(chunk: Uint8Array): void {
    let start = 0;
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      start = n;
    }
    const carry = this.carry;
    if (carry.length === 0) {
      const used = this.parse(chunk, start, chunk.length);
      if (used < chunk.length && !this.closing) carry.append(chunk, used, chunk.length);
    } else {
      carry.append(chunk, start, chunk.length);
      carry.consume(this.parse(carry.bytes, 0, carry.length));
    }
    this.flush();
    this.pump();
  }

  drain(): void {
    if (!this.writer.flushPending()) return;
    this.pump();
  }

  /** Handles every complete command in buf[from..to); returns where the unparsed rest starts. */
  private parse(buf: Uint8Array, from: number, to: number): number {
    let at = from;
    if (!this.gotMagic) {
      if (to - at < 4) return at;
      if (buf[at] !== 0x20 || buf[at + 1] !== 0x20 || buf[at + 2] !== 0x56 || buf[at + 3] !== 0x32) {
        this.fail("E_BAD_PROTOCOL");
        return to;
      }
      this.gotMagic = true;
      at += 4;
    }
    while (at < to && !this.closing) {
      const nl = buf.indexOf(0x0a, at);
      if (nl === -1 || nl >= to) {
        if (to - at > 16 * 1024) this.fail("E_INVALID line too long");
        return at;
      }
      const c0 = buf[at]!;
      const c1 = buf[at + 1]!;
      let next = nl + 1;
      if (c0 === 0x46 /* F */ || (c0 === 0x52 && c1 === 0x45) /* RE(Q) */) {
        if (this.inFlight > 0) this.inFlight--;
      } else if (c0 === 0x52 /* RDY */) {
        let n = 0;
        for (let i = at + 4; i < nl; i++) n = n * 10 + (buf[i]! - 0x30);
        this.rdy = n;
      } else if (c0 === 0x4e || c0 === 0x54 /* NOP, TOUCH */) {
        // nothing
      } else if (c0 === 0x53 /* SUB */) {
        this.subscribed = true;
        this.respond(OK);
      } else if (c0 === 0x43 /* CLS */) {
        this.rdy = 0;
        this.respond(CLOSE_WAIT);
      } else if (c0 === 0x49 || c0 === 0x50 || c0 === 0x4d || c0 === 0x44 /* IDENTIFY PUB MPUB DPUB */) {
        if (to - next < 4) return at; // size not here yet
        const size = readUint32BE(buf, next);
        next += 4;
        if (c0 === 0x4d) {
          if (to - next < 4) return at;
          this.counters.published += readUint32BE(buf, next);
        } else if (c0 !== 0x49) {
          this.counters.published++;
        }
        this.respond(OK);
        if (to - next < size) {
          this.skip = size - (to - next);
          return to;
        }
        next += size;
      } else {
        this.fail("E_INVALID invalid command");
        return to;
      }
      at = next;
    }
    return at;
  }

  private respond(frame: Uint8Array): void {
    if (this.outLength + frame.length > this.out.length) this.flush();
    this.out.set(frame, this.outLength);
    this.outLength += frame.length;
  }

  private flush(): void {
    if (this.outLength === 0) return;
    this.writer.write(this.out, this.outLength);
    this.outLength = 0;
  }

  /** Sends up to RDY − in-flight frames of the feed in one write. */
  private pump(): void {
    if (!this.subscribed || this.closing || this.writer.blocked) return;
    const room = Math.min(this.rdy - this.inFlight, FEED_FRAMES);
    if (room <= 0) return;
    this.inFlight += room;
    this.counters.delivered += room;
    this.writer.write(this.feed, room * this.frameSize);
  }

  private fail(text: string): void {
    this.closing = true;
    this.respond(responseFrame(text, 1));
    this.flush();
    this.socket.end();
  }
}

export function startSink(options: SinkOptions): Sink {
  const { host, port } = parseHostPort(options.address.replace(/:0$/, ":1"));
  const { feed, frameSize } = buildFeed(options.size);
  const counters: Counters = { delivered: 0, published: 0, connections: 0 };
  const listener: TCPSocketListener<SinkConnection> = Bun.listen<SinkConnection>({
    hostname: host,
    port: options.address.endsWith(":0") ? 0 : port,
    socket: {
      open(socket) {
        counters.connections++;
        socket.setNoDelay(true);
        socket.data = new SinkConnection(socket, feed, frameSize, counters);
      },
      data(socket, chunk) {
        socket.data.receive(chunk);
      },
      drain(socket) {
        socket.data.drain();
      },
      close() {
        counters.connections--;
      },
      error() {},
    },
  });
  return {
    port: listener.port,
    stats: () => ({ ...counters }),
    stop: () => listener.stop(true),
  };
}
