/**
 * Publishes messages with an nsqjs Writer and consumes them with an nsqjs Reader, both using the
 * given connection options (tls, snappy, deflate, authSecret…), then reports what /stats says
 * about the two connections while they are still open.
 */
import type { EventEmitter } from "node:events";
import type { TestBroker } from "./broker.ts";

/** The part of nsqjs used here (it ships no type declarations). */
interface NsqjsMessage {
  body: Buffer;
  finish(): void;
}
interface NsqjsWriter extends EventEmitter {
  connect(): void;
  publish(topic: string, msgs: string[], cb: (err?: Error) => void): void;
  close(): void;
}
interface NsqjsReader extends EventEmitter {
  connect(): void;
  close(): void;
}
interface Nsqjs {
  Writer: new (host: string, port: number, options: Record<string, unknown>) => NsqjsWriter;
  Reader: new (topic: string, channel: string, options: Record<string, unknown>) => NsqjsReader;
}
const nsq = require("nsqjs") as Nsqjs;

export interface StatsClient {
  client_id: string;
  user_agent: string;
  tls: boolean;
  tls_version: string;
  tls_cipher_suite: string;
  snappy: boolean;
  deflate: boolean;
  authed?: boolean;
  auth_identity?: string;
}

export interface RoundTripResult {
  received: string[];
  sent: string[];
  /** clients of the channel (the Reader) and producers of the topic (the Writer) from /stats */
  consumers: StatsClient[];
  producers: StatsClient[];
}

interface StatsJson {
  topics: { topic_name: string; channels: { channel_name: string; clients: StatsClient[] }[] }[] | null;
  producers: StatsClient[] | null;
}

/**
 * nsqjs writes its final `CLS` straight to the socket, bypassing its deflater, and pipes the
 * connection into its inflater, which then reports "unexpected end of file" with no listener
 * (a client bug that real nsqd triggers too). Swallow those errors so closing stays quiet.
 */
function quietInflaters(reader: unknown, writer: unknown): void {
  const r = reader as { readerRdy?: { connections?: { conn?: { inflater?: EventEmitter } }[] } };
  for (const c of r.readerRdy?.connections ?? []) c.conn?.inflater?.on("error", () => {});
  const w = writer as { conn?: { inflater?: EventEmitter } };
  w.conn?.inflater?.on("error", () => {});
}

export async function nsqjsRoundTrip(
  broker: TestBroker,
  topic: string,
  options: Record<string, unknown>,
  count = 1000,
): Promise<RoundTripResult> {
  const writer = new nsq.Writer("127.0.0.1", broker.tcpPort, options);
  const reader = new nsq.Reader(topic, "ch", {
    ...options,
    nsqdTCPAddresses: [`127.0.0.1:${broker.tcpPort}`],
    maxInFlight: 200,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      writer.once("ready", () => resolve());
      writer.once("error", reject);
      writer.connect();
    });
    const sent = Array.from({ length: count }, (_, i) => `msg-${i}-${"abc".repeat(i % 40)}`);
    for (let i = 0; i < count; i += 100) {
      await new Promise<void>((resolve, reject) =>
        writer.publish(topic, sent.slice(i, i + 100), (err?: Error) => (err ? reject(err) : resolve())),
      );
    }
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received.length}/${count} messages arrived`)), 15000);
      reader.on("message", (m: NsqjsMessage) => {
        received.push(m.body.toString());
        m.finish();
        if (received.length === count) {
          clearTimeout(timer);
          resolve();
        }
      });
      reader.on("error", (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      reader.connect();
    });
    const res = await broker.http(`/stats?format=json&topic=${topic}`);
    const stats = (await res.json()) as StatsJson;
    const consumers = stats.topics?.find((t) => t.topic_name === topic)?.channels[0]?.clients ?? [];
    return { received, sent, consumers, producers: stats.producers ?? [] };
  } finally {
    quietInflaters(reader, writer);
    reader.close();
    writer.close();
  }
}
