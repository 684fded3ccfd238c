/**
 * `GET /metrics` of `nsq serve` (beyond nsqd): Prometheus text exposition 0.0.4 through prom-client
 * (it runs under Bun and inside the `bun build --compile` executable; it escapes label values as
 * the format requires, so topic names with `#`, `.`, `-` are safe).
 *
 * Every broker figure is read from the same document /stats produces (collectStats with rates and
 * dead-letter extras), built once per scrape, so /metrics and /stats cannot disagree. Nothing is
 * recorded per message. The registry, and prom-client's process metrics (resident memory, CPU
 * seconds, open file descriptors, event-loop lag), are set up at the first scrape: a broker that
 * is never scraped runs none of it.
 *
 * Names, types and labels are listed in README.md ("Prometheus metrics").
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Nsqd } from "./nsqd.ts";
import { collectStats, type ChannelStats, type StatsDocument, type TopicStats } from "./stats.ts";
import { statsExtras } from "./stats-extras.ts";
import { RATE_WINDOWS } from "./rates.ts";
import { NSQ_VERSION } from "../protocol/version.ts";
import type { RateStats } from "../protocol/stats-types.ts";

/** The exposition format's content type, as Prometheus expects it. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type TopicLabels = "topic";
type ChannelLabels = "topic" | "channel";

const RATE_KEYS: Record<string, { message: keyof RateStats; out: keyof RateStats }> = {
  "1s": { message: "message_1s", out: "out_1s" },
  "10s": { message: "message_10s", out: "out_10s" },
  "1m": { message: "message_1m", out: "out_1m" },
};

export class NsqdMetrics {
  readonly registry = new Registry();
  /** the /stats document of the scrape in progress */
  private doc: StatsDocument | null = null;

  constructor(private readonly nsqd: Nsqd) {
    collectDefaultMetrics({ register: this.registry });
    this.nodeMetrics();
    this.topicMetrics();
    this.channelMetrics();
  }

  /** One scrape: the exposition text. */
  async text(): Promise<string> {
    this.doc = collectStats(this.nsqd, {
      topic: "",
      channel: "",
      includeClients: false,
      includeMem: false,
      extras: statsExtras(this.nsqd, true),
    });
    try {
      return await this.registry.metrics();
    } finally {
      this.doc = null;
    }
  }

  private topics(): TopicStats[] {
    return this.doc?.topics ?? [];
  }

  private *channels(): Generator<[TopicStats, ChannelStats]> {
    for (const t of this.topics()) for (const c of t.channels) yield [t, c];
  }

  private nodeMetrics(): void {
    const nsqd = this.nsqd;
    const registers = [this.registry];
    new Gauge({
      name: "nsq_info",
      help: "Always 1; the labels say which nsqd version this broker speaks",
      labelNames: ["version"] as const,
      registers,
      collect() {
        this.set({ version: NSQ_VERSION }, 1);
      },
    });
    const doc = (): StatsDocument | null => this.doc;
    new Gauge({
      name: "nsq_health",
      help: "1 while /ping answers OK, 0 after a disk error (see /stats health)",
      registers,
      collect() {
        this.set(doc()?.health === "OK" ? 1 : 0);
      },
    });
    new Gauge({
      name: "nsq_draining",
      help: "1 while a --drain-timeout shutdown drain runs",
      registers,
      collect() {
        this.set(nsqd.draining ? 1 : 0);
      },
    });
    new Gauge({
      name: "nsq_uptime_seconds",
      help: "Seconds since the broker started",
      registers,
      collect() {
        this.set((Date.now() - nsqd.startTimeMs) / 1000);
      },
    });
    new Gauge({
      name: "nsq_tcp_connections",
      help: "Open TCP protocol connections (consumers and producers)",
      registers,
      collect() {
        this.set(nsqd.clients.size);
      },
    });
    new Gauge({
      name: "nsq_topics",
      help: "Topics on this broker",
      registers,
      collect() {
        this.set(nsqd.topics.size);
      },
    });
  }

  private topicMetrics(): void {
    const topic = (name: string, help: string, kind: "gauge" | "counter", value: (t: TopicStats) => number): void => {
      const topics = (): TopicStats[] => this.topics();
      const config = { name, help, labelNames: ["topic"] as const, registers: [this.registry] };
      if (kind === "gauge") {
        new Gauge<TopicLabels>({
          ...config,
          collect() {
            this.reset();
            for (const t of topics()) this.set({ topic: t.topic_name }, value(t));
          },
        });
      } else {
        new Counter<TopicLabels>({
          ...config,
          collect() {
            this.reset();
            for (const t of topics()) this.inc({ topic: t.topic_name }, value(t));
          },
        });
      }
    };
    topic("nsq_topic_depth", "Messages queued in the topic (memory and disk) waiting for its channels", "gauge", (t) => t.depth);
    topic("nsq_topic_backend_depth", "Messages of the topic's queue on disk", "gauge", (t) => t.backend_depth);
    topic("nsq_topic_messages_total", "Messages published to the topic", "counter", (t) => t.message_count);
    topic("nsq_topic_message_bytes_total", "Body bytes published to the topic", "counter", (t) => t.message_bytes);
    topic("nsq_topic_paused", "1 while the topic is paused", "gauge", (t) => (t.paused ? 1 : 0));
    topic("nsq_topic_channels", "Channels of the topic", "gauge", (t) => t.channels.length);

    const topics = (): TopicStats[] => this.topics();
    const rate = (name: string, help: string, which: "message" | "out"): void => {
      new Gauge<TopicLabels | "window">({
        name,
        help,
        labelNames: ["topic", "window"] as const,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const t of topics()) {
            if (t.rates === undefined) continue;
            for (const w of RATE_WINDOWS) this.set({ topic: t.topic_name, window: w.name }, t.rates[RATE_KEYS[w.name]![which]]);
          }
        },
      });
    };
    rate("nsq_topic_message_rate", "Messages per second published to the topic over the window", "message");
    rate("nsq_topic_out_rate", "Messages per second the topic handed to its channels over the window", "out");
    new Gauge<TopicLabels | "quantile">({
      name: "nsq_topic_e2e_processing_latency_seconds",
      help: "End-to-end processing latency quantiles of the topic's channels (--e2e-processing-latency-percentile)",
      labelNames: ["topic", "quantile"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const t of topics()) {
          for (const p of t.e2e_processing_latency.percentiles ?? []) {
            this.set({ topic: t.topic_name, quantile: String(p.quantile) }, p.value / 1e9);
          }
        }
      },
    });
  }

  private channelMetrics(): void {
    const all = (): Generator<[TopicStats, ChannelStats]> => this.channels();
    const labels = (t: TopicStats, c: ChannelStats): Record<ChannelLabels, string> => ({ topic: t.topic_name, channel: c.channel_name });
    const channel = (name: string, help: string, kind: "gauge" | "counter", value: (c: ChannelStats) => number): void => {
      const config = { name, help, labelNames: ["topic", "channel"] as const, registers: [this.registry] };
      if (kind === "gauge") {
        new Gauge<ChannelLabels>({
          ...config,
          collect() {
            this.reset();
            for (const [t, c] of all()) this.set(labels(t, c), value(c));
          },
        });
      } else {
        new Counter<ChannelLabels>({
          ...config,
          collect() {
            this.reset();
            for (const [t, c] of all()) this.inc(labels(t, c), value(c));
          },
        });
      }
    };
    channel("nsq_channel_depth", "Messages queued in the channel (memory and disk), not in flight or deferred", "gauge", (c) => c.depth);
    channel("nsq_channel_backend_depth", "Messages of the channel's queue on disk", "gauge", (c) => c.backend_depth);
    channel("nsq_channel_in_flight", "Messages delivered and not yet finished, requeued or timed out", "gauge", (c) => c.in_flight_count);
    channel("nsq_channel_deferred", "Messages waiting for their delay (DPUB, REQ with a delay)", "gauge", (c) => c.deferred_count);
    channel("nsq_channel_messages_total", "Messages the channel received from its topic", "counter", (c) => c.message_count);
    channel("nsq_channel_requeued_total", "Messages requeued by consumers (REQ)", "counter", (c) => c.requeue_count);
    channel("nsq_channel_timed_out_total", "In-flight messages that timed out", "counter", (c) => c.timeout_count);
    channel("nsq_channel_clients", "Consumers subscribed to the channel", "gauge", (c) => c.client_count);
    channel("nsq_channel_paused", "1 while the channel is paused", "gauge", (c) => (c.paused ? 1 : 0));
    channel("nsq_channel_max_attempts", "Deliveries before a failing message is dead-lettered (0: never)", "gauge", (c) => c.max_attempts ?? 0);
    channel("nsq_channel_dead_lettered_total", "Messages moved to the dead-letter topic", "counter", (c) => c.dead_letter_count ?? 0);

    const rate = (name: string, help: string, which: "message" | "out"): void => {
      new Gauge<ChannelLabels | "window">({
        name,
        help,
        labelNames: ["topic", "channel", "window"] as const,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [t, c] of all()) {
            if (c.rates === undefined) continue;
            for (const w of RATE_WINDOWS) this.set({ ...labels(t, c), window: w.name }, c.rates[RATE_KEYS[w.name]![which]]);
          }
        },
      });
    };
    rate("nsq_channel_message_rate", "Messages per second the channel received over the window", "message");
    rate("nsq_channel_out_rate", "Messages per second that left the channel (finished, dead-lettered) over the window", "out");
    new Gauge<ChannelLabels | "quantile">({
      name: "nsq_channel_e2e_processing_latency_seconds",
      help: "End-to-end processing latency quantiles, publish to FIN (--e2e-processing-latency-percentile)",
      labelNames: ["topic", "channel", "quantile"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [t, c] of all()) {
          for (const p of c.e2e_processing_latency.percentiles ?? []) {
            this.set({ ...labels(t, c), quantile: String(p.quantile) }, p.value / 1e9);
          }
        }
      },
    });
  }
}

const perBroker = new WeakMap<Nsqd, NsqdMetrics>();

/** The broker's metrics, created at its first scrape. */
export function metricsFor(nsqd: Nsqd): NsqdMetrics {
  let m = perBroker.get(nsqd);
  if (m === undefined) {
    m = new NsqdMetrics(nsqd);
    perBroker.set(nsqd, m);
  }
  return m;
}
