/**
 * Message rates per topic and channel over the last 1 s, 10 s and 1 min (beyond nsqd: the extra
 * `rates` object of `/stats?format=json&rates=true` and the `*_rate` series of `/metrics`).
 *
 * Nothing is counted per message: once a second the broker's scan loop hands the existing
 * counters to `sample()`, which keeps the last 61 readings per topic and channel in a ring; a
 * rate is the difference between the newest reading and the one a window earlier, divided by the
 * time between them. A queue whose counters have not moved for a whole ring keeps only its last
 * reading (an `Idle` entry of a few numbers) until they move again: with thousands of idle topics,
 * three 61-slot arrays each would be most of their memory. Two counters are read:
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
  /** consecutive readings equal to the one before */
  unchanged = 0;

  add(now: number, message: number, out: number): void {
    const same = this.count > 0 && this.message[this.head] === message && this.out[this.head] === out;
    this.unchanged = same ? this.unchanged + 1 : 0;
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

/** The last reading of a queue whose counters stood still for a whole ring: all its rates are 0. */
interface Idle {
  idle: true;
  at: number;
  message: number;
  out: number;
  round: number;
}

export class RateSampler {
  private readonly rings = new Map<Topic | Channel, Ring | Idle>();
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
      this.record(t, round, now, t.messageCount, t.messageCount - t.depth());
      for (const ch of t.channels.values()) {
        const held = ch.depth() + ch.inFlight.size + ch.deferredCount();
        this.record(ch, round, now, ch.messageCount, ch.messageCount - held);
      }
    }
    // deleted topics and channels were not seen this round
    for (const [key, ring] of this.rings) if (ring.round !== round) this.rings.delete(key);
  }

  private record(key: Topic | Channel, round: number, now: number, message: number, out: number): void {
    const entry = this.rings.get(key);
    if (entry !== undefined && "idle" in entry) {
      entry.round = round;
      if (entry.message === message && entry.out === out) {
        entry.at = now;
        return;
      }
      // moving again: the counters stood at the idle reading for at least a whole ring, so the
      // new ring starts full of it (the 1 min rate then spreads this movement over the minute)
      const ring = new Ring();
      for (let back = SLOTS - 2; back >= 0; back--) ring.add(entry.at - back * RATE_SAMPLE_INTERVAL_MS, entry.message, entry.out);
      ring.add(now, message, out);
      ring.round = round;
      this.rings.set(key, ring);
      return;
    }
    const ring = entry ?? new Ring();
    if (entry === undefined) this.rings.set(key, ring);
    ring.round = round;
    ring.add(now, message, out);
    if (ring.unchanged >= SLOTS) this.rings.set(key, { idle: true, at: now, message, out, round });
  }

  /** The rates of a topic or channel (zeros until it has been sampled twice). */
  rates(key: Topic | Channel): RateStats {
    const r = this.rings.get(key);
    if (r === undefined || "idle" in r) return { message_1s: 0, message_10s: 0, message_1m: 0, out_1s: 0, out_10s: 0, out_1m: 0 };
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
