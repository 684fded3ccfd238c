/**
 * Go's `%q` (strconv.Quote) of a byte string: nsqd formats invalid topic and channel names with
 * it, so error texts match byte for byte. Printable runes stay as they are; `"` and `\` are
 * escaped; control characters become \a \b \f \n \r \t \v or \xNN; DEL and invalid UTF-8 bytes
 * become \xNN; other non-printable runes \uNNNN or \UNNNNNNNN.
 *
 * The result is a byte string (one char per byte, as latin1): printable runes keep their UTF-8
 * bytes, so error frames, which are written as latin1, carry exactly Go's bytes.
 */
const PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;
const SHORT_ESCAPES: Record<number, string> = { 7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v" };

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** Decodes one UTF-8 rune at `i`: [codepoint, length], or null when the bytes are not valid UTF-8. */
function decodeRune(b: Uint8Array, i: number): [number, number] | null {
  const c = b[i]!;
  const extra = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
  if (extra < 0 || i + extra >= b.length) return null;
  let cp = extra === 1 ? c & 0x1f : extra === 2 ? c & 0x0f : c & 0x07;
  for (let k = 1; k <= extra; k++) {
    const cc = b[i + k]!;
    if ((cc & 0xc0) !== 0x80) return null;
    cp = (cp << 6) | (cc & 0x3f);
  }
  const min = extra === 1 ? 0x80 : extra === 2 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
  return [cp, extra + 1];
}

export function goQuote(bytes: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i]!;
    if (c < 0x80) {
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += "\\\\";
      else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
      else out += SHORT_ESCAPES[c] ?? `\\x${hex(c, 2)}`;
      i++;
      continue;
    }
    const rune = decodeRune(bytes, i);
    if (rune === null) {
      out += `\\x${hex(c, 2)}`;
      i++;
      continue;
    }
    const [cp, len] = rune;
    if (PRINTABLE.test(String.fromCodePoint(cp))) out += Buffer.from(bytes.subarray(i, i + len)).toString("latin1");
    else out += cp < 0x10000 ? `\\u${hex(cp, 4)}` : `\\U${hex(cp, 8)}`;
    i += len;
  }
  return out + '"';
}

/** %q of a string whose characters are bytes (latin1-decoded wire data). */
export function goQuoteLatin1(text: string): string {
  return goQuote(Buffer.from(text, "latin1"));
}
