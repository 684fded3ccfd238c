/**
 * Parses Prometheus text exposition with a real parser from npm (parse-prometheus-text-format),
 * and looks samples up by name and labels.
 */
// @ts-expect-error the package ships no type declarations
import parsePrometheusTextFormat from "parse-prometheus-text-format";

export interface MetricFamily {
  name: string;
  help: string;
  type: "GAUGE" | "COUNTER" | "SUMMARY" | "HISTOGRAM" | "UNTYPED";
  metrics: { value: string; labels?: Record<string, string> }[];
}

export class Scrape {
  readonly families: Map<string, MetricFamily>;

  constructor(readonly text: string) {
    const parsed = (parsePrometheusTextFormat as (t: string) => MetricFamily[])(text);
    this.families = new Map(parsed.map((f) => [f.name, f]));
  }

  /** The value of the sample of `name` whose labels include `labels`; undefined when absent. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const fam = this.families.get(name);
    if (fam === undefined) return undefined;
    const m = fam.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
    return m === undefined ? undefined : Number(m.value);
  }

  type(name: string): string | undefined {
    return this.families.get(name)?.type;
  }
}

export async function scrape(baseUrl: string): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${await res.text()}`);
  return new Scrape(await res.text());
}
