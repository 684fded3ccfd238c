/**
 * `GET /metrics` of `nsq lookupd` (beyond nsqlookupd): Prometheus text exposition 0.0.4 through
 * prom-client, read from the registration database at scrape time (nothing is recorded as
 * registrations change). Producers are counted as /nodes and /lookup list them (inactive ones
 * hidden; /lookup also hides tombstoned ones). Set up at the first scrape. Names in README.md.
 */
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { NSQ_VERSION } from "../protocol/version.ts";
import { filterActive, type RegistrationDB } from "./registration-db.ts";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface LookupdMetricsSource {
  db: RegistrationDB;
  inactiveProducerTimeout: number;
  tombstoneLifetime: number;
}

export class LookupdMetrics {
  readonly registry = new Registry();
  private readonly startedAt = Date.now();

  constructor(src: LookupdMetricsSource) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const db = src.db;
    const startedAt = this.startedAt;
    new Gauge({
      name: "nsqlookupd_info",
      help: "Always 1; the labels say which nsqlookupd version this node speaks",
      labelNames: ["version"] as const,
      registers,
      collect() {
        this.set({ version: NSQ_VERSION }, 1);
      },
    });
    new Gauge({
      name: "nsqlookupd_uptime_seconds",
      help: "Seconds since this lookupd's metrics were first scraped or it started",
      registers,
      collect() {
        this.set((Date.now() - startedAt) / 1000);
      },
    });
    new Gauge({
      name: "nsqlookupd_producers",
      help: "nsqd nodes registered and heard from within --inactive-producer-timeout (as /nodes)",
      registers,
      collect: () => void this.setOne("nsqlookupd_producers", filterActive(db.findProducers("client", "", ""), src.inactiveProducerTimeout, 0).length),
    });
    new Gauge({
      name: "nsqlookupd_topics",
      help: "Topics registered (as /topics)",
      registers,
      collect: () => void this.setOne("nsqlookupd_topics", db.findRegistrations("topic", "*", "").length),
    });
    new Gauge({
      name: "nsqlookupd_channels",
      help: "Channels registered, over all topics",
      registers,
      collect: () => void this.setOne("nsqlookupd_channels", db.findRegistrations("channel", "*", "*").length),
    });
    new Gauge<"topic">({
      name: "nsqlookupd_topic_producers",
      help: "Active producers of the topic (as /lookup)",
      labelNames: ["topic"] as const,
      registers,
      collect() {
        this.reset();
        for (const r of db.findRegistrations("topic", "*", "")) {
          const active = filterActive(db.findProducers("topic", r.key, ""), src.inactiveProducerTimeout, src.tombstoneLifetime);
          this.set({ topic: r.key }, active.length);
        }
      },
    });
    new Gauge<"topic">({
      name: "nsqlookupd_topic_tombstones",
      help: "Producers of the topic tombstoned less than --tombstone-lifetime ago",
      labelNames: ["topic"] as const,
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const r of db.findRegistrations("topic", "*", "")) {
          const n = db.findProducers("topic", r.key, "").filter((p) => p.isTombstoned(src.tombstoneLifetime, now)).length;
          this.set({ topic: r.key }, n);
        }
      },
    });
  }

  private setOne(name: string, value: number): void {
    (this.registry.getSingleMetric(name) as Gauge | undefined)?.set(value);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
