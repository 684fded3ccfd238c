/**
 * Message ID generator, one per topic (spec §1.5): a snowflake-like 64-bit number written as
 * 16 hex digits, `((ts - EPOCH) << 22) | (nodeId << 12) | seq` with ts = unix ns >> 20.
 *
 * Where nsqd sleeps when 4096 IDs are used within one ~1 ms tick (or the clock goes back), this
 * generator moves its own tick forward instead: IDs stay unique and increasing without blocking
 * the event loop, and the tick falls back in step with the clock once the burst is over.
 */
import { writeHex32 } from "../protocol/hex.ts";

const TWEPOCH = 1288834974288;
const NS_PER_MS = 1e6;
const TICK_NS = 1048576; // 1 << 20

export class GuidFactory {
  private lastTick = -1;
  private seq = 0;
  private readonly nodeBits: number;

  constructor(nodeId: number) {
    if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > 1023) {
      throw new Error(`node-id must be 0..1023, got ${nodeId}`);
    }
    this.nodeBits = nodeId << 12;
  }

  /** Writes the next ID as 16 hex digits into `out` at `offset`. */
  writeNext(out: Uint8Array, offset: number, nowMs: number): void {
    let tick = Math.floor((nowMs * NS_PER_MS) / TICK_NS);
    if (tick <= this.lastTick) {
      tick = this.lastTick;
      if (this.seq >= 4095) {
        tick += 1;
        this.seq = 0;
      } else {
        this.seq += 1;
      }
    } else {
      this.seq = 0;
    }
    this.lastTick = tick;
    const t = tick - TWEPOCH; // < 2^40 for centuries
    const hi = Math.floor(t / 1024); // the bits of t above the 10 that share the low word
    const lo = (((t % 1024) << 22) | this.nodeBits | this.seq) >>> 0;
    writeHex32(out, offset, hi >>> 0);
    writeHex32(out, offset + 8, lo);
  }
}
