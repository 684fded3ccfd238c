/**
 * The broker's rate sampler (src/server/rates.ts): rates from counter readings, and idle queues
 * collapsing to one reading without losing the rate when they move again.
 */
import { describe, expect, test } from "bun:test";
import { RateSampler } from "../src/server/rates.ts";
import type { Topic } from "../src/server/topic.ts";

/** Just the counters the sampler reads. */
function fakeTopic(): { topic: Topic; counters: { messageCount: number; depth: number } } {
  const counters = { messageCount: 0, depth: 0 };
  const topic = {
    get messageCount() {
      return counters.messageCount;
    },
    depth: () => counters.depth,
    channels: new Map(),
  } as unknown as Topic;
  return { topic, counters };
}

describe("RateSampler", () => {
  test("rates are the counters' movement per second over each window", () => {
    const sampler = new RateSampler();
    const { topic, counters } = fakeTopic();
    for (let s = 0; s <= 60; s++) {
      counters.messageCount = s * 100;
      sampler.sample([topic], s * 1000);
    }
    const r = sampler.rates(topic);
    expect(r.message_1s).toBe(100);
    expect(r.message_10s).toBe(100);
    expect(r.message_1m).toBe(100);
    expect(r.out_1s).toBe(100); // depth 0: everything went on to channels
  });

  test("an idle queue keeps one reading, and its first second of movement is measured exactly", () => {
    const sampler = new RateSampler();
    const { topic, counters } = fakeTopic();
    counters.messageCount = 5;
    let now = 0;
    for (let s = 0; s < 200; s++) sampler.sample([topic], (now += 1000));
    const entry = (sampler as unknown as { rings: Map<Topic, object> }).rings.get(topic);
    expect(entry && "idle" in entry).toBe(true);
    expect(sampler.rates(topic).message_1s).toBe(0);

    counters.messageCount += 42;
    sampler.sample([topic], (now += 1000));
    const after = sampler.rates(topic);
    expect(after.message_1s).toBe(42);
    expect(after.message_10s).toBe(4.2);
    expect(after.message_1m).toBe(0.7); // 42 over the last minute, as if it had never been collapsed
  });

  test("a deleted queue is forgotten at the next sample", () => {
    const sampler = new RateSampler();
    const { topic } = fakeTopic();
    sampler.sample([topic], 1000);
    sampler.sample([], 2000);
    expect((sampler as unknown as { rings: Map<Topic, object> }).rings.size).toBe(0);
  });
});
