/**
 * Query-string parsing as strict as Go's url.ParseQuery, which every NSQ HTTP handler uses:
 * a bad "%" escape or a ";" separator is an error (→ 400 INVALID_REQUEST), "+" means space,
 * and only the first value of a repeated parameter counts.
 */
import { HttpError } from "./response.ts";

export class QueryError extends Error {}

export type QueryParams = Map<string, string[]>;

export function parseQuery(raw: string): QueryParams {
  const params: QueryParams = new Map();
  let firstError: QueryError | null = null;
  for (const part of raw.split("&")) {
    if (part === "") continue;
    if (part.includes(";")) {
      firstError ??= new QueryError("invalid semicolon separator in query");
      continue;
    }
    const eq = part.indexOf("=");
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? "" : part.slice(eq + 1);
    let key: string;
    let value: string;
    try {
      key = unescapeQueryComponent(rawKey);
      value = unescapeQueryComponent(rawValue);
    } catch (err) {
      firstError ??= err instanceof QueryError ? err : new QueryError(String(err));
      continue;
    }
    const list = params.get(key);
    if (list) list.push(value);
    else params.set(key, [value]);
  }
  if (firstError) throw firstError;
  return params;
}

/**
 * The request's query for a handler: a query Go would reject is 400 INVALID_REQUEST
 * (`onInvalid` sees the parse error first, e.g. to log it as nsqd does).
 */
export function parseRequestQuery(raw: string, onInvalid?: (err: QueryError) => void): QueryParams {
  try {
    return parseQuery(raw);
  } catch (err) {
    if (err instanceof QueryError) {
      onInvalid?.(err);
      throw new HttpError(400, "INVALID_REQUEST");
    }
    throw err;
  }
}

/** The first value of a parameter, or undefined when it is absent (present but empty is ""). */
export function firstValue(params: QueryParams, key: string): string | undefined {
  return params.get(key)?.[0];
}

const HEX = /^[0-9a-fA-F]{2}$/;

function unescapeQueryComponent(text: string): string {
  if (!text.includes("%") && !text.includes("+")) return text;
  const parts: Buffer[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "%") {
      const hex = text.slice(i + 1, i + 3);
      if (!HEX.test(hex)) throw new QueryError(`invalid URL escape "%${hex}"`);
      parts.push(Buffer.from([parseInt(hex, 16)]));
      i += 3;
    } else if (ch === "+") {
      parts.push(Buffer.from(" "));
      i += 1;
    } else {
      // copy the literal run up to the next escape as a whole (keeps surrogate pairs intact)
      let end = i + 1;
      while (end < text.length && text[end] !== "%" && text[end] !== "+") end++;
      parts.push(Buffer.from(text.slice(i, end), "utf8"));
      i = end;
    }
  }
  return Buffer.concat(parts).toString("utf8");
}
