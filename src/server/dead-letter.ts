/**
 * Dead letters (beyond nsqd, off by default): a message that has been delivered `max attempts`
 * times and fails again (REQ, or its in-flight timeout) is not requeued but published to the
 * dead-letter topic `<topic><suffix>` (`orders.dead`; for `t#ephemeral`, `t.dead#ephemeral`).
 *
 * The dead-letter message is the same bytes: body, ID, timestamp and attempts as they were, so
 * `nsq tail --topic=T.dead | nsq pub --topic=T` replays bodies exactly, and a consumer of T.dead
 * reads the original ID and timestamp from the header (its attempts field continues to count:
 * on the first delivery from T.dead it shows the original attempts + 1).
 *
 * The limit is `--max-attempts`, or a per-channel override set over HTTP
 * (`POST /channel/config?topic=&channel=&max_attempts=N`) and kept in nsqd.dat. The check runs only
 * when a delivery fails (REQ or timeout), never on the FIN or delivery path.
 */
import type { Channel } from "./channel.ts";
import type { Topic } from "./topic.ts";
import type { Logger } from "../util/logger.ts";
import { MSG_HEADER_SIZE, MSG_ID_OFFSET, readAttempts, readTimestampMs } from "./message.ts";
import { isValidTopicName } from "../protocol/names.ts";

const EPHEMERAL = "#ephemeral";

export interface DeadLetterHost {
  readonly options: { readonly maxAttempts: number; readonly deadLetterTopicSuffix: string };
  readonly logger: Logger;
  getOrCreateTopic(name: string): Topic;
}

interface ChannelEntry {
  /** null: the broker's --max-attempts */
  override: number | null;
  count: number;
}

/** The dead-letter topic of `topic`. */
export function deadLetterTopicName(topic: string, suffix: string): string {
  if (topic.endsWith(EPHEMERAL)) return `${topic.slice(0, -EPHEMERAL.length)}${suffix}${EPHEMERAL}`;
  return `${topic}${suffix}`;
}

export class DeadLetters {
  private readonly channels = new WeakMap<Channel, ChannelEntry>();
  private readonly warnedInvalid = new Set<string>();
  /** a channel ever had its own limit: without one and without --max-attempts, REQ pays one check */
  private anyOverride = false;

  constructor(private readonly host: DeadLetterHost) {}

  private entry(ch: Channel): ChannelEntry {
    let e = this.channels.get(ch);
    if (e === undefined) {
      e = { override: null, count: 0 };
      this.channels.set(ch, e);
    }
    return e;
  }

  /** The channel's own setting, or null when it follows --max-attempts. */
  override(ch: Channel): number | null {
    return this.channels.get(ch)?.override ?? null;
  }

  setOverride(ch: Channel, maxAttempts: number | null): void {
    if (maxAttempts !== null) this.anyOverride = true;
    this.entry(ch).override = maxAttempts;
  }

  /** Deliveries allowed before a failure dead-letters the message; 0 = never. */
  limit(ch: Channel): number {
    return this.channels.get(ch)?.override ?? this.host.options.maxAttempts;
  }

  /** Messages of this channel moved to the dead-letter topic since start. */
  count(ch: Channel): number {
    return this.channels.get(ch)?.count ?? 0;
  }

  topicFor(ch: Channel): string {
    return deadLetterTopicName(ch.topic.name, this.host.options.deadLetterTopicSuffix);
  }

  /**
   * A delivery of `buf` failed. When its attempts have reached the limit, publishes it to the
   * dead-letter topic and returns true (the caller drops it); false: requeue as usual (also when
   * the dead-letter topic cannot take it, so nothing is lost).
   */
  divert(ch: Channel, buf: Uint8Array): boolean {
    if (!this.anyOverride && this.host.options.maxAttempts === 0) return false;
    const limit = this.limit(ch);
    if (limit === 0) return false;
    const attempts = readAttempts(buf);
    if (attempts < limit) return false;
    const name = this.topicFor(ch);
    if (!isValidTopicName(name)) {
      if (!this.warnedInvalid.has(name)) {
        this.warnedInvalid.add(name);
        this.host.logger.warn(`TOPIC(${ch.topic.name}): dead-letter topic name ${name} is not valid, failed messages are requeued`);
      }
      return false;
    }
    const id = Buffer.from(buf.buffer, buf.byteOffset + MSG_ID_OFFSET, 16).toString("latin1");
    try {
      const topic = this.host.getOrCreateTopic(name);
      if (topic.deleted) return false;
      // a copy: the original may be a view pinning a whole received chunk
      topic.publish([Uint8Array.from(buf)], buf.length - MSG_HEADER_SIZE);
    } catch (err) {
      this.host.logger.error(`TOPIC(${ch.topic.name}) CHANNEL(${ch.name}): failed to dead-letter message ${id} to ${name}, requeued - ${String(err)}`);
      return false;
    }
    this.entry(ch).count++;
    const ts = new Date(readTimestampMs(buf)).toISOString();
    this.host.logger.warn(
      `TOPIC(${ch.topic.name}) CHANNEL(${ch.name}): message ${id} (timestamp ${ts}) failed ${attempts} attempts, moved to ${name}`,
    );
    return true;
  }
}
