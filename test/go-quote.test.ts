/** Go's %q, as nsqd uses it to quote invalid names in error texts. */
import { expect, test } from "bun:test";
import { goQuote as goQuoteBytes } from "../src/protocol/go-quote.ts";

/** the quoted bytes read as UTF-8 */
const goQuote = (b: Uint8Array): string => Buffer.from(goQuoteBytes(b), "latin1").toString("utf8");

test("strconv.Quote's escapes", () => {
  expect(goQuote(Buffer.from("orders"))).toBe('"orders"');
  expect(goQuote(Buffer.from('a"b\\c'))).toBe('"a\\"b\\\\c"');
  expect(goQuote(Buffer.from("a\x01b\x7f"))).toBe('"a\\x01b\\x7f"');
  expect(goQuote(Buffer.from("\n\t\r\x07\x0b"))).toBe('"\\n\\t\\r\\a\\v"');
  expect(goQuote(Buffer.from("héllo/日本"))).toBe('"héllo/日本"');
  expect(goQuote(Buffer.from([0x61, 0xff, 0xc3]))).toBe('"a\\xff\\xc3"');
  expect(goQuote(Buffer.from("\u200b"))).toBe('"\\u200b"');
  expect(goQuote(Buffer.from("x y"))).toBe('"x y"');
});
