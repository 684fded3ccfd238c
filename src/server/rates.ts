/**
 * Message rates per topic and channel over the last 1 s, 10 s and 1 min (beyond nsqd: the extra
 * `rates` object of `/stats?format=json&rates=true` and the `*_rate` series of `/metrics`).
 *
 * Nothing is counted per message: once a second the broker's scan loop hands the existing
 * counters to `sample()`, which keeps the last 61 readings per topic and channel in a ring; a
 * rate is the difference between the newest reading and the one a window earlier, divided by the
 * time between them. Two counters are read:
 *   - `message`: message_count (messages in)
 *   - `out`: messages that left — for a topic, handed to its channels (message_count − depth); for
 *     a channel, finished, dead-lettered or emptied (message_count − depth − in flight − deferred)
 */
import type { Channel } from "./channel.ts";
import type { Topic } from "./topic.ts";
import type { RateStats } from "../protocol/stats-types.ts";

/** The windows, in seconds, and their names in JSON and in the metrics' `window` label. */
export const RATE_WINDOWS: readonly { seconds: number; name: string }[] = [
  { seconds: 1, name: "1s" },
  { seconds: 10, name: "10s" },
  { seconds: 60, name: "1m" },
];

/** How often the counters are read. */
export const RATE_SAMPLE_INTERVAL_MS = 1000;
const SLOTS = 61;

export type { RateStats };

class Ring {
  readonly at = new Float64Array(SLOTS);
  readonly message = new Float64Array(SLOTS);
  readonly out = new Float64Array(SLOTS);
  /** index of the newest reading */
  head = -1;
  count = 0;
  round = 0;

  add(now: number, message: number, out: number): void {
    this.head = (this.head + 1) % SLOTS;
    this.at[this.head] = now;
    this.message[this.head] = message;
    this.out[this.head] = out;
    if (this.count < SLOTS) this.count++;
  }

  /** per second over `seconds` (or over what is known, when younger); 0 before two readings */
  rate(series: Float64Array, seconds: number): number {
    if (this.count < 2) return 0;
    const back = Math.min(seconds, this.count - 1);
    const then = (this.head - back + SLOTS) % SLOTS;
    const dt = (this.at[this.head]! - this.at[then]!) / 1000;
    const d = series[this.head]! - series[then]!;
    // a counter that went back (topic deleted and re-created under the same object never happens,
    // but emptying can make `out` jump) is reported as no movement rather than a negative rate
    return dt > 0 && d > 0 ? d / dt : 0;
  }
}

export class RateSampler {
  private readonly rings = new Map<Topic | Channel, Ring>();
  private round = 0;
  private nextSampleAt = 0;

  /** Called from the scan loop; reads the counters when a second has passed. */
  maybeSample(topics: Iterable<Topic>, now: number): void {
    if (now < this.nextSampleAt) return;
    this.nextSampleAt = now + RATE_SAMPLE_INTERVAL_MS;
    this.sample(topics, now);
  }

  sample(topics: Iterable<Topic>, now: number): void {
    const round = ++this.round;
    for (const t of topics) {
      this.ring(t, round).add(now, t.messageCount, t.messageCount - t.depth());
      for (const ch of t.channels.values()) {
        const held = ch.depth() + ch.inFlight.size + ch.deferred.size;
        this.ring(ch, round).add(now, ch.messageCount, ch.messageCount - held);
      }
    }
    // deleted topics and channels were not seen this round
    for (const [key, ring] of this.rings) if (ring.round !== round) this.rings.delete(key);
  }

  private ring(key: Topic | Channel, round: number): Ring {
    let r = this.rings.get(key);
    if (r === undefined) {
      r = new Ring();
      this.rings.set(key, r);
    }
    r.round = round;
    return r;
  }

  /** The rates of a topic or channel (zeros until it has been sampled twice). */
  rates(key: Topic | Channel): RateStats {
    const r = this.rings.get(key);
    if (r === undefined) return { message_1s: 0, message_10s: 0, message_1m: 0, out_1s: 0, out_10s: 0, out_1m: 0 };
    return {
      message_1s: round3(r.rate(r.message, 1)),
      message_10s: round3(r.rate(r.message, 10)),
      message_1m: round3(r.rate(r.message, 60)),
      out_1s: round3(r.rate(r.out, 1)),
      out_10s: round3(r.rate(r.out, 10)),
      out_1m: round3(r.rate(r.out, 60)),
    };
  }
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
