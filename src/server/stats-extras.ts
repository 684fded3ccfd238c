/**
 * Beyond nsqd: the fields /stats adds to nsqd's document, only when asked for or switched on, so
 * a default broker's /stats stays nsqd's exact shape:
 *   - `rates` on topics and channels with `?rates=true` (src/server/rates.ts);
 *   - `max_attempts`, `dead_letter_topic`, `dead_letter_count` on channels whose dead letters are on
 *     (or that have dead-lettered messages since start; src/server/dead-letter.ts).
 */
import type { Channel } from "./channel.ts";
import type { Topic } from "./topic.ts";
import type { RateSampler } from "./rates.ts";
import type { DeadLetters } from "./dead-letter.ts";
import type { ChannelStats, TopicStats } from "../protocol/stats-types.ts";

export interface StatsExtras {
  topic(topic: Topic): Partial<Pick<TopicStats, "rates">>;
  channel(channel: Channel): Partial<Pick<ChannelStats, "rates" | "max_attempts" | "dead_letter_topic" | "dead_letter_count">>;
}

export interface ExtrasSource {
  readonly rates: RateSampler;
  readonly deadLetters: DeadLetters;
}

export function statsExtras(source: ExtrasSource, withRates: boolean): StatsExtras {
  return {
    topic: (t) => (withRates ? { rates: source.rates.rates(t) } : {}),
    channel: (ch) => {
      const out: ReturnType<StatsExtras["channel"]> = {};
      if (withRates) out.rates = source.rates.rates(ch);
      const dl = source.deadLetters;
      const limit = dl.limit(ch);
      const count = dl.count(ch);
      if (limit > 0 || count > 0) {
        out.max_attempts = limit;
        out.dead_letter_topic = dl.topicFor(ch);
        out.dead_letter_count = count;
      }
      return out;
    },
  };
}
