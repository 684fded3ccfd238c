/**
 * Message IDs are 16 ASCII hex digits (spec §1.5). These helpers write and read them straight
 * from bytes so that the hot path never builds an ID string.
 */
const HEX_DIGITS = Buffer.from("0123456789abcdef");

/**
 * nibble value of a lowercase hex digit, or 255 for any other byte. Lowercase only, as IDs are
 * written: then equal keys mean equal bytes, and an ID lookup need not compare those bytes again.
 */
const NIBBLE = new Uint8Array(256).fill(255);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = 10 + i;

/** Writes a uint32 as 8 lowercase hex digits at `offset`. */
export function writeHex32(out: Uint8Array, offset: number, value: number): void {
  for (let i = 7; i >= 0; i--) {
    out[offset + i] = HEX_DIGITS[value & 0xf]!;
    value >>>= 4;
  }
}

/**
 * A number key for an ID: its last 13 hex digits (52 bits, exact in a double). IDs that share
 * those digits are told apart by their first 3 bytes (see InFlightIndex). NaN when any of the
 * 13 bytes is not a lowercase hex digit.
 */
export function idKey(buf: Uint8Array, offset: number): number {
  let hi = 0;
  for (let i = 3; i < 8; i++) {
    const n = NIBBLE[buf[offset + i]!]!;
    if (n === 255) return NaN;
    hi = hi * 16 + n;
  }
  let lo = 0;
  for (let i = 8; i < 16; i++) {
    const n = NIBBLE[buf[offset + i]!]!;
    if (n === 255) return NaN;
    lo = lo * 16 + n;
  }
  return hi * 4294967296 + lo;
}
