/**
 * Writes a data directory such as nsqd v1.3.0 leaves after a graceful stop with many topics:
 * `nsqd.dat` (the JSON nsqd writes, via encodeMetadata) plus, for every topic and channel, the
 * go-diskqueue metadata file nsqd's close writes (`<queue>.diskqueue.meta.dat`), and data files
 * with a few messages for some channels. Used by scripts/many-topics.ts and test/many-topics.test.ts.
 *
 * Topic i is `t<i, 6 digits>` with one channel `c`; every `withMessagesEvery`-th channel holds
 * `messagesPerQueue` messages (body `<topic>-<n>`) in `<topic>:c.diskqueue.000000.dat`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeMetadata, type TopicMetadata } from "../src/server/metadata.ts";
import { channelQueueName } from "../src/server/backend-queue.ts";

export interface ManyTopicsLayout {
  topics: number;
  /** every n-th topic's channel has messages on disk (0: none) */
  withMessagesEvery: number;
  messagesPerQueue: number;
}

export const DEFAULT_LAYOUT: Omit<ManyTopicsLayout, "topics"> = { withMessagesEvery: 10, messagesPerQueue: 3 };

export function topicName(i: number): string {
  return `t${String(i).padStart(6, "0")}`;
}

export const CHANNEL_NAME = "c";

/** Writes the directory (created if missing); returns how many messages were put on disk. */
export function writeManyTopicsDataDir(dir: string, layout: ManyTopicsLayout): number {
  mkdirSync(dir, { recursive: true });
  const topics: TopicMetadata[] = [];
  let messages = 0;
  const empty = "0\n0,0\n0,0\n";
  for (let i = 0; i < layout.topics; i++) {
    const name = topicName(i);
    topics.push({ name, paused: false, channels: [{ name: CHANNEL_NAME, paused: false }] });
    writeFileSync(join(dir, `${name}.diskqueue.meta.dat`), empty, { mode: 0o600 });
    const queue = channelQueueName(name, CHANNEL_NAME);
    if (layout.withMessagesEvery > 0 && i % layout.withMessagesEvery === 0 && layout.messagesPerQueue > 0) {
      const records: Buffer[] = [];
      for (let n = 0; n < layout.messagesPerQueue; n++) records.push(record(i * 1000 + n, `${name}-${n}`));
      const data = Buffer.concat(records);
      writeFileSync(join(dir, `${queue}.diskqueue.000000.dat`), data, { mode: 0o600 });
      writeFileSync(join(dir, `${queue}.diskqueue.meta.dat`), `${records.length}\n0,0\n0,${data.length}\n`, { mode: 0o600 });
      messages += records.length;
    } else {
      writeFileSync(join(dir, `${queue}.diskqueue.meta.dat`), empty, { mode: 0o600 });
    }
  }
  writeFileSync(join(dir, "nsqd.dat"), encodeMetadata({ topics }), { mode: 0o600 });
  return messages;
}

/** One go-diskqueue record: [int32 BE length][timestamp ns][attempts][16 hex id][body]. */
function record(id: number, body: string): Buffer {
  const bodyBytes = Buffer.from(body);
  const msg = Buffer.alloc(26 + bodyBytes.length);
  msg.writeBigInt64BE(BigInt(Date.now()) * 1_000_000n, 0);
  msg.writeUInt16BE(0, 8);
  msg.write(id.toString(16).padStart(16, "0"), 10, "latin1");
  bodyBytes.copy(msg, 26);
  const out = Buffer.alloc(4 + msg.length);
  out.writeInt32BE(msg.length, 0);
  msg.copy(out, 4);
  return out;
}
