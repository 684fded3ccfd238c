/**
 * Encoders for the client → nsqd commands (spec §1.2, §1.7). Each returns one Buffer ready to
 * write. Names are validated by the caller; bodies are sent as given.
 */
const NL = 0x0a;

function line(text: string): Buffer {
  return Buffer.from(`${text}\n`, "utf8");
}

function withBody(header: string, body: Uint8Array): Buffer {
  const head = Buffer.from(`${header}\n`, "utf8");
  const out = Buffer.allocUnsafe(head.length + 4 + body.length);
  head.copy(out, 0);
  out.writeInt32BE(body.length, head.length);
  out.set(body, head.length + 4);
  return out;
}

export const MAGIC_V2 = Buffer.from("  V2", "ascii");
export const NOP = line("NOP");
export const CLS = line("CLS");

export function identify(body: object): Buffer {
  return withBody("IDENTIFY", Buffer.from(JSON.stringify(body), "utf8"));
}

export function auth(secret: string): Buffer {
  return withBody("AUTH", Buffer.from(secret, "utf8"));
}

export function sub(topic: string, channel: string): Buffer {
  return line(`SUB ${topic} ${channel}`);
}

export function pub(topic: string, body: Uint8Array): Buffer {
  return withBody(`PUB ${topic}`, body);
}

export function dpub(topic: string, deferMs: number, body: Uint8Array): Buffer {
  return withBody(`DPUB ${topic} ${Math.max(0, Math.floor(deferMs))}`, body);
}

/** MPUB: `[int32 body size][int32 count]([int32 size][bytes])*` after the command line. */
export function mpub(topic: string, bodies: readonly Uint8Array[]): Buffer {
  const head = Buffer.from(`MPUB ${topic}\n`, "utf8");
  let payload = 4;
  for (const b of bodies) payload += 4 + b.length;
  const out = Buffer.allocUnsafe(head.length + 4 + payload);
  head.copy(out, 0);
  let off = head.length;
  out.writeInt32BE(payload, off);
  out.writeInt32BE(bodies.length, off + 4);
  off += 8;
  for (const b of bodies) {
    out.writeInt32BE(b.length, off);
    out.set(b, off + 4);
    off += 4 + b.length;
  }
  return out;
}

export function rdy(count: number): Buffer {
  return line(`RDY ${count}`);
}

const FIN_PREFIX = Buffer.from("FIN ", "ascii");
const TOUCH_PREFIX = Buffer.from("TOUCH ", "ascii");

/** `FIN <16-byte id>\n` built from the id bytes without making a string. */
export function fin(id: Uint8Array): Buffer {
  return idCommand(FIN_PREFIX, id);
}

export function touch(id: Uint8Array): Buffer {
  return idCommand(TOUCH_PREFIX, id);
}

export function req(id: Uint8Array, delayMs: number): Buffer {
  const tail = Buffer.from(` ${Math.max(0, Math.floor(delayMs))}\n`, "ascii");
  const out = Buffer.allocUnsafe(4 + id.length + tail.length);
  out.write("REQ ", 0, "ascii");
  out.set(id, 4);
  tail.copy(out, 4 + id.length);
  return out;
}

function idCommand(prefix: Buffer, id: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + id.length + 1);
  prefix.copy(out, 0);
  out.set(id, prefix.length);
  out[prefix.length + id.length] = NL;
  return out;
}
