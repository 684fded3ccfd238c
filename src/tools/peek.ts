/**
 * `nsq peek`: prints the next messages of a channel without consuming them, from nsqd's
 * GET /channel/peek (beyond nsqd; src/server/peek.ts). One line per message:
 *   <id> attempts=<n> <timestamp, ISO 8601 UTC> <body>
 * or, with `bodyOnly`, the raw bodies one per line (pipeable into `nsq pub`).
 */
import { DEFAULT_TIMEOUTS, getJson, httpUrl, type HttpTimeouts } from "../http-api/api-request.ts";

export interface PeekOptions {
  nsqdHttpAddress: string;
  topic: string;
  channel: string;
  count: number;
  bodyOnly: boolean;
  timeouts?: HttpTimeouts;
  write(bytes: Uint8Array | string): void;
  report(line: string): void;
}

interface PeekReplyJson {
  depth?: number;
  backend_depth?: number;
  messages?: { id: string; timestamp: string; attempts: number; body?: string; body_base64?: string }[];
}

export async function runPeek(opts: PeekOptions): Promise<number> {
  const q = new URLSearchParams({ topic: opts.topic, channel: opts.channel, n: String(opts.count) });
  const reply = (await getJson(httpUrl(opts.nsqdHttpAddress, `/channel/peek?${q}`), opts.timeouts ?? DEFAULT_TIMEOUTS)) as PeekReplyJson;
  const messages = reply.messages ?? [];
  for (const m of messages) {
    const body = m.body !== undefined ? Buffer.from(m.body, "utf8") : Buffer.from(m.body_base64 ?? "", "base64");
    if (opts.bodyOnly) {
      opts.write(Buffer.concat([body, Buffer.from("\n")]));
      continue;
    }
    const ms = Number(BigInt(m.timestamp) / 1_000_000n);
    opts.write(`${m.id} attempts=${m.attempts} ${new Date(ms).toISOString()} `);
    opts.write(Buffer.concat([body, Buffer.from("\n")]));
  }
  const onDisk = reply.backend_depth ?? 0;
  if (messages.length < opts.count && onDisk > 0) {
    opts.report(`${onDisk} message(s) on disk and fewer than ${opts.count} shown (one peek reads at most 4 MiB from disk; deferred ones are not next)`);
  }
  return 0;
}
