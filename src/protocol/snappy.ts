/**
 * Snappy: the block format (compress / decompress) and the framing format that NSQ uses on a
 * connection after `snappy` was negotiated (spec §1.8, §9 item 4).
 *
 * Framing: the stream starts with the identifier chunk `ff 06 00 00 "sNaPpY"`; every chunk is a
 * 1-byte type, a 3-byte little-endian length and the payload. Type 0x00 carries a masked
 * CRC-32C of the uncompressed data plus a snappy block, 0x01 the checksum plus raw bytes; 0xfe
 * and 0x80–0xfd are skipped, 0x02–0x7f are errors. At most 65536 uncompressed bytes per chunk.
 *
 * Pure code with no I/O, shared by the broker and the client library.
 */
import { maskedCrc32c } from "./crc32c.ts";

export const SNAPPY_STREAM_IDENTIFIER = Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]);
/** the most uncompressed bytes one framing chunk may carry */
export const SNAPPY_MAX_CHUNK = 65536;

const CHUNK_COMPRESSED = 0x00;
const CHUNK_UNCOMPRESSED = 0x01;
const CHUNK_PADDING = 0xfe;
const CHUNK_STREAM_ID = 0xff;
/** a compressed chunk never needs more than this (Go's MaxEncodedLen(65536) + checksum) */
const MAX_COMPRESSED_CHUNK = 4 + 32 + SNAPPY_MAX_CHUNK + Math.floor(SNAPPY_MAX_CHUNK / 6);

export class SnappyError extends Error {
  override name = "SnappyError";
}

// ---------------------------------------------------------------------------------------------
// Block format

/** Upper bound of a compressed block's size for `n` input bytes. */
export function maxCompressedLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

/** Reads the varint uncompressed length at the start of a block: [length, header bytes]. */
function readBlockLength(src: Uint8Array, start: number, end: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (let i = start; i < end && i < start + 5; i++) {
    const b = src[i]!;
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) {
      if (result > 0xffffffff) break;
      return [result, i + 1 - start];
    }
    shift += 7;
  }
  throw new SnappyError("snappy: corrupt input (bad block length)");
}

/**
 * Decompresses the snappy block src[start, end). `maxLength` bounds the declared size so a
 * hostile header cannot make us allocate gigabytes.
 */
export function decompressBlock(src: Uint8Array, start = 0, end = src.length, maxLength = Infinity): Buffer {
  const [n, hdr] = readBlockLength(src, start, end);
  if (n > maxLength) throw new SnappyError(`snappy: decoded block too large (${n} > ${maxLength})`);
  const dst = Buffer.allocUnsafe(n);
  let d = 0;
  let s = start + hdr;
  while (s < end) {
    const tag = src[s]!;
    let length: number;
    let offset: number;
    switch (tag & 3) {
      case 0: {
        // literal
        let x = tag >>> 2;
        if (x < 60) {
          s += 1;
        } else {
          const extra = x - 59; // 1..4 length bytes follow
          if (s + 1 + extra > end) throw new SnappyError("snappy: corrupt input (truncated literal length)");
          x = 0;
          for (let k = extra; k >= 1; k--) x = x * 256 + src[s + k]!;
          s += 1 + extra;
        }
        length = x + 1;
        if (length > n - d || length > end - s) throw new SnappyError("snappy: corrupt input (literal overrun)");
        dst.set(src.subarray(s, s + length), d);
        d += length;
        s += length;
        continue;
      }
      case 1:
        if (s + 2 > end) throw new SnappyError("snappy: corrupt input (truncated copy)");
        length = 4 + ((tag >>> 2) & 7);
        offset = ((tag >>> 5) << 8) | src[s + 1]!;
        s += 2;
        break;
      case 2:
        if (s + 3 > end) throw new SnappyError("snappy: corrupt input (truncated copy)");
        length = 1 + (tag >>> 2);
        offset = src[s + 1]! | (src[s + 2]! << 8);
        s += 3;
        break;
      default:
        if (s + 5 > end) throw new SnappyError("snappy: corrupt input (truncated copy)");
        length = 1 + (tag >>> 2);
        offset = (src[s + 1]! | (src[s + 2]! << 8) | (src[s + 3]! << 16) | (src[s + 4]! << 24)) >>> 0;
        s += 5;
        break;
    }
    if (offset <= 0 || offset > d || length > n - d) throw new SnappyError("snappy: corrupt input (bad copy)");
    if (offset >= length) {
      dst.copyWithin(d, d - offset, d - offset + length);
      d += length;
    } else {
      // overlapping copy: repeats the last `offset` bytes, byte by byte
      for (let k = 0; k < length; k++, d++) dst[d] = dst[d - offset]!;
    }
  }
  if (d !== n) throw new SnappyError("snappy: corrupt input (length mismatch)");
  return dst;
}

const HASH_BITS = 14;
const hashTable = new Int32Array(1 << HASH_BITS);

function load32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

function emitLiteral(dst: Uint8Array, d: number, src: Uint8Array, from: number, to: number): number {
  const n = to - from - 1;
  if (n < 60) {
    dst[d++] = n << 2;
  } else if (n < 0x100) {
    dst[d++] = 60 << 2;
    dst[d++] = n;
  } else if (n < 0x10000) {
    dst[d++] = 61 << 2;
    dst[d++] = n & 0xff;
    dst[d++] = n >>> 8;
  } else {
    dst[d++] = 62 << 2;
    dst[d++] = n & 0xff;
    dst[d++] = (n >>> 8) & 0xff;
    dst[d++] = n >>> 16;
  }
  dst.set(src.subarray(from, to), d);
  return d + (to - from);
}

/** Copy elements for a match; offsets here are < 65536 (one framing chunk at most). */
function emitCopy(dst: Uint8Array, d: number, offset: number, length: number): number {
  while (length >= 68) {
    dst[d++] = (63 << 2) | 2;
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
    length -= 64;
  }
  if (length > 64) {
    dst[d++] = (59 << 2) | 2;
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
    length -= 60;
  }
  if (length >= 12 || offset >= 2048) {
    dst[d++] = ((length - 1) << 2) | 2;
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
  } else {
    dst[d++] = ((offset >>> 8) << 5) | ((length - 4) << 2) | 1;
    dst[d++] = offset & 0xff;
  }
  return d;
}

/**
 * Compresses src[start, end) (at most 65536 bytes: one framing chunk) into a snappy block
 * written at dst[at]; returns the offset after it. dst needs maxCompressedLength(n) bytes.
 * Greedy single-pass matcher with a 4-byte hash: fast, and good enough for NSQ frames.
 */
export function compressBlockInto(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): number {
  const n = end - start;
  if (n > SNAPPY_MAX_CHUNK) throw new SnappyError(`snappy: block too large (${n})`);
  let d = at;
  let v = n;
  while (v >= 0x80) {
    dst[d++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  dst[d++] = v;
  if (n < 17) return n === 0 ? d : emitLiteral(dst, d, src, start, end);

  hashTable.fill(-1);
  const shift = 32 - HASH_BITS;
  const limit = end - 4;
  let lit = start;
  let i = start;
  while (i <= limit) {
    const word = load32(src, i);
    const h = Math.imul(word, 0x1e35a7bd) >>> shift;
    const cand = hashTable[h]!;
    hashTable[h] = i;
    if (cand >= 0 && load32(src, cand) === word) {
      if (lit < i) d = emitLiteral(dst, d, src, lit, i);
      let m = 4;
      while (i + m < end && src[cand + m] === src[i + m]) m++;
      d = emitCopy(dst, d, i - cand, m);
      i += m;
      lit = i;
    } else {
      // skip faster through data that does not compress
      i += 1 + ((i - lit) >>> 5);
    }
  }
  if (lit < end) d = emitLiteral(dst, d, src, lit, end);
  return d;
}

/** Compresses a whole buffer (≤ 65536 bytes) into a new snappy block. */
export function compressBlock(src: Uint8Array, start = 0, end = src.length): Buffer {
  const out = Buffer.allocUnsafe(maxCompressedLength(end - start));
  const len = compressBlockInto(src, start, end, out, 0);
  return out.subarray(0, len);
}

// ---------------------------------------------------------------------------------------------
// Framing format

function writeChunkHeader(dst: Uint8Array, at: number, type: number, length: number, crc: number): void {
  dst[at] = type;
  dst[at + 1] = length & 0xff;
  dst[at + 2] = (length >>> 8) & 0xff;
  dst[at + 3] = length >>> 16;
  dst[at + 4] = crc & 0xff;
  dst[at + 5] = (crc >>> 8) & 0xff;
  dst[at + 6] = (crc >>> 16) & 0xff;
  dst[at + 7] = crc >>> 24;
}

/**
 * Turns a byte stream into snappy framing chunks. The first `encode` also emits the stream
 * identifier. Each chunk is compressed unless that saves less than 1/8 (then stored raw, as the
 * Go writer does).
 */
export class SnappyFrameEncoder {
  private started = false;
  constructor(private readonly compress = true) {}

  encode(data: Uint8Array): Buffer {
    const n = data.length;
    const chunks = Math.max(1, Math.ceil(n / SNAPPY_MAX_CHUNK));
    const header = this.started ? 0 : SNAPPY_STREAM_IDENTIFIER.length;
    const out = Buffer.allocUnsafe(header + chunks * 8 + (this.compress ? maxCompressedLength(n) + chunks * 32 : n));
    let o = 0;
    if (!this.started) {
      out.set(SNAPPY_STREAM_IDENTIFIER, 0);
      o = header;
      this.started = true;
    }
    for (let from = 0; from < n; from += SNAPPY_MAX_CHUNK) {
      const to = Math.min(n, from + SNAPPY_MAX_CHUNK);
      const len = to - from;
      const crc = maskedCrc32c(data, from, to);
      if (this.compress && len >= 17) {
        const end = compressBlockInto(data, from, to, out, o + 8);
        const clen = end - (o + 8);
        if (clen < len - (len >>> 3)) {
          writeChunkHeader(out, o, CHUNK_COMPRESSED, clen + 4, crc);
          o = end;
          continue;
        }
      }
      writeChunkHeader(out, o, CHUNK_UNCOMPRESSED, len + 4, crc);
      out.set(data.subarray(from, to), o + 8);
      o += 8 + len;
    }
    return out.subarray(0, o);
  }
}

/**
 * Incremental decoder of the framing format: `push` raw bytes as they arrive, decoded bytes go
 * to `onData`. Throws SnappyError on a corrupt stream (bad checksum, reserved chunk type, data
 * before the stream identifier, oversized chunk).
 */
export class SnappyFrameDecoder {
  private pending: Buffer | null = null;
  private sawIdentifier = false;

  constructor(private readonly onData: (chunk: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let p = 0;
    const len = buf.length;
    while (len - p >= 4) {
      const type = buf[p]!;
      const clen = buf[p + 1]! | (buf[p + 2]! << 8) | (buf[p + 3]! << 16);
      if (type === CHUNK_COMPRESSED || type === CHUNK_UNCOMPRESSED) {
        const max = type === CHUNK_COMPRESSED ? MAX_COMPRESSED_CHUNK : SNAPPY_MAX_CHUNK + 4;
        if (clen < 4 || clen > max) throw new SnappyError(`snappy: corrupt input (chunk length ${clen})`);
      } else if (type === CHUNK_STREAM_ID) {
        if (clen !== 6) throw new SnappyError("snappy: corrupt input (bad stream identifier)");
      } else if (type < 0x80) {
        throw new SnappyError(`snappy: unsupported chunk type 0x${type.toString(16)}`);
      }
      if (len - p < 4 + clen) break;
      const body = p + 4;
      const next = body + clen;
      p = next;
      if (type === CHUNK_STREAM_ID) {
        if (buf.compare(SNAPPY_STREAM_IDENTIFIER, 4, 10, body, next) !== 0) {
          throw new SnappyError("snappy: corrupt input (bad stream identifier)");
        }
        this.sawIdentifier = true;
        continue;
      }
      if (!this.sawIdentifier) throw new SnappyError("snappy: corrupt input (missing stream identifier)");
      if (type === CHUNK_PADDING || type >= 0x80) continue; // padding and skippable chunks
      const crc = (buf[body]! | (buf[body + 1]! << 8) | (buf[body + 2]! << 16) | (buf[body + 3]! << 24)) >>> 0;
      const data =
        type === CHUNK_COMPRESSED
          ? decompressBlock(buf, body + 4, next, SNAPPY_MAX_CHUNK)
          : buf.subarray(body + 4, next);
      if (maskedCrc32c(data) !== crc) throw new SnappyError("snappy: corrupt input (checksum mismatch)");
      if (data.length > 0) this.onData(data);
    }
    if (p < len) this.pending = Buffer.from(buf.subarray(p));
  }
}
