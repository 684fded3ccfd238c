/**
 * `nsq stat` / `nsq_stat`: nsq_stat's plain rows (spec §6.5) when invoked as `nsq_stat`, when
 * stdout is not a terminal, or with --count / --plain; otherwise a live dashboard of the whole
 * cluster (src/tools/stat/dashboard).
 */
import type { NsqCommand, ParsedArgs, CommandContext } from "./types.ts";
import { UsageError } from "./types.ts";
import { flagSource } from "../util/goflags.ts";
import { untilShutdownSignal } from "../util/shutdown-signal.ts";
import { runPlain } from "../tools/stat/plain.ts";
import type { ClusterSource } from "../tools/stat/cluster.ts";
import type { HttpTimeouts, HttpTlsOptions } from "../http-api/api-request.ts";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Level } from "../tools/stat/dashboard/view.ts";
import { isValidChannelName, isValidTopicName, NAME_RULE } from "../protocol/names.ts";

const PLAIN_INTERVAL_MS = 2000;
/** The multi-call name under which the program is nsq_stat itself: rows only, never the dashboard. */
const NSQ_STAT_PROGRAM = "nsq_stat";
const DASHBOARD_INTERVAL_MS = 1000;
const DEFAULT_NODE_GRACE_MS = 60_000;
const DEFAULT_RATE_WINDOW_MS = 5000;

export interface StatSettings {
  mode: "plain" | "dashboard";
  source: ClusterSource;
  topic: string;
  channel: string;
  intervalMs: number;
  count: number | null;
  timeouts: HttpTimeouts;
  /** dashboard: a node down this long (and unlisted by lookupd) drops out; 0 = never */
  nodeGraceMs: number;
  /** dashboard: rates are averaged over this window; 0 = since the last poll */
  rateWindowMs: number;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String).filter((s) => s !== "") : [];
}

/**
 * Whether the process runs under the program name nsq_stat: argv[0] of a compiled executable
 * (a symlink's name included) or the script bun runs, path and extension stripped — the same
 * names src/cli.ts matches for multi-call. Read here because NsqCommand.run() is only given the
 * flags, not the name the command was invoked under.
 */
export function invokedAsNsqStat(argv0: string | undefined = process.argv0, script: string | undefined = process.argv[1]): boolean {
  return [argv0, script].some((p) => p !== undefined && basename(p).replace(/\.(exe|ts|js|mjs)$/i, "") === NSQ_STAT_PROGRAM);
}

/**
 * Validates flags the way nsq_stat does; throws UsageError with a one-line reason. Under the
 * program name nsq_stat the output is always nsq_stat's rows, whatever stdout is.
 */
export function statSettings(args: ParsedArgs, stdoutIsTTY: boolean, programName?: string): StatSettings {
  const topic = typeof args["topic"] === "string" ? args["topic"] : "";
  const channel = typeof args["channel"] === "string" ? args["channel"] : "";
  const nsqd = strings(args["nsqd-http-address"]);
  const lookupd = strings(args["lookupd-http-address"]);
  const countGiven = typeof args["count"] === "number";
  const asNsqStat = programName === NSQ_STAT_PROGRAM;
  const mode = asNsqStat || args["plain"] === true || countGiven || !stdoutIsTTY ? "plain" : "dashboard";

  if (mode === "plain" && (topic === "" || channel === "")) {
    throw new UsageError("--topic and --channel are required (plain mode)");
  }
  if (channel !== "" && topic === "") throw new UsageError("--channel needs --topic");
  if (topic !== "" && !isValidTopicName(topic)) throw new UsageError(`invalid --topic "${topic}" (${NAME_RULE})`);
  if (channel !== "" && !isValidChannelName(channel)) throw new UsageError(`invalid --channel "${channel}" (${NAME_RULE})`);
  if (nsqd.length === 0 && lookupd.length === 0) {
    throw new UsageError("--nsqd-http-address or --lookupd-http-address required");
  }
  if (nsqd.length > 0 && lookupd.length > 0) {
    throw new UsageError("use --nsqd-http-address or --lookupd-http-address, not both");
  }
  for (const [flag, list] of [["nsqd-http-address", nsqd], ["lookupd-http-address", lookupd]] as const) {
    for (const a of list) {
      // nsq_stat takes host:port only; https:// is our addition for TLS-only nodes
      const hostPort = a.startsWith("https://") ? a.slice("https://".length).replace(/\/+$/, "") : a;
      if (hostPort.startsWith("http")) throw new UsageError(`--${flag} must not include a scheme other than https:// ("${a}")`);
      if (!/^(\[[^\]]+\]|[^:\s/]+):\d+$/.test(hostPort)) throw new UsageError(`--${flag} "${a}" is not host:port`);
    }
  }
  const intervalGiven = flagSource(args, "interval") !== undefined;
  const intervalMs = intervalGiven
    ? Number(args["interval"])
    : mode === "plain" ? PLAIN_INTERVAL_MS : DASHBOARD_INTERVAL_MS;
  if (!(intervalMs > 0)) throw new UsageError("--interval must be positive");
  const connectTimeoutMs = Number(args["http-client-connect-timeout"] ?? 2000);
  const requestTimeoutMs = Number(args["http-client-request-timeout"] ?? 5000);
  if (!(connectTimeoutMs > 0)) throw new UsageError("--http-client-connect-timeout must be positive");
  if (!(requestTimeoutMs > 0)) throw new UsageError("--http-client-request-timeout must be positive");
  const count = countGiven ? Number(args["count"]) : null;
  if (count !== null && !(count > 0)) throw new UsageError("--count must be positive");
  const nodeGraceMs = Number(args["node-grace"] ?? DEFAULT_NODE_GRACE_MS);
  const rateWindowMs = Number(args["rate-window"] ?? DEFAULT_RATE_WINDOW_MS);
  if (!(nodeGraceMs >= 0)) throw new UsageError("--node-grace must not be negative");
  if (!(rateWindowMs >= 0)) throw new UsageError("--rate-window must not be negative");
  return {
    mode,
    source: { nsqdHttpAddresses: nsqd, lookupdHttpAddresses: lookupd },
    topic,
    channel,
    intervalMs,
    count,
    timeouts: { connectTimeoutMs, requestTimeoutMs, tls: httpTlsOptions(args) },
    nodeGraceMs,
    rateWindowMs,
  };
}

/** --tls-insecure-skip-verify / --tls-root-ca-file → how https:// nodes are verified. */
function httpTlsOptions(args: ParsedArgs): HttpTlsOptions | undefined {
  const caFile = typeof args["tls-root-ca-file"] === "string" ? args["tls-root-ca-file"] : "";
  const insecure = args["tls-insecure-skip-verify"] === true;
  if (caFile === "" && !insecure) return undefined;
  const options: HttpTlsOptions = { rejectUnauthorized: !insecure };
  if (caFile !== "") {
    try {
      options.ca = readFileSync(caFile, "utf8");
    } catch (err) {
      throw new UsageError(`cannot read --tls-root-ca-file "${caFile}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return options;
}

function initialLevels(s: StatSettings): Level[] | undefined {
  if (s.topic === "") return undefined;
  const levels: Level[] = [{ kind: "topics" }, { kind: "channels", topic: s.topic }];
  if (s.channel !== "") levels.push({ kind: "clients", topic: s.topic, channel: s.channel });
  return levels;
}

export const command: NsqCommand = {
  name: "stat",
  programNames: ["nsq_stat"],
  describe: "show cluster stats: a live dashboard on a terminal, nsq_stat's rows otherwise (always as nsq_stat)",
  flags: [
    { name: "topic", kind: "string", describe: "nsqd topic (required in plain mode; dashboard: start on it)" },
    { name: "channel", kind: "string", describe: "nsqd channel (required in plain mode; dashboard: start on it)" },
    { name: "nsqd-http-address", kind: "strings", address: "http", describe: "nsqd HTTP address (may be given multiple times)" },
    { name: "lookupd-http-address", kind: "strings", address: "http", describe: "lookupd HTTP address (may be given multiple times)" },
    { name: "interval", kind: "duration", default: PLAIN_INTERVAL_MS, describe: "duration of time between polling/printing output (dashboard: 1s unless given)" },
    { name: "count", kind: "int", describe: "number of reports (plain mode)" },
    { name: "plain", kind: "bool", default: false, describe: "print nsq_stat rows even on a terminal" },
    { name: "http-client-connect-timeout", kind: "duration", default: 2000, describe: "timeout for HTTP connect" },
    { name: "http-client-request-timeout", kind: "duration", default: 5000, describe: "timeout for HTTP request" },
    { name: "tls-insecure-skip-verify", kind: "bool", default: false, describe: "https:// nodes: accept any certificate" },
    { name: "tls-root-ca-file", kind: "string", default: "", describe: "https:// nodes: PEM file of CAs that sign their certificates" },
    { name: "node-grace", kind: "duration", default: DEFAULT_NODE_GRACE_MS, describe: "dashboard: drop a node down this long (with lookupd: and no longer listed); 0 = never" },
    { name: "rate-window", kind: "duration", default: DEFAULT_RATE_WINDOW_MS, describe: "dashboard: average rates over this window (0 = since the last poll)" },
  ],
  async run(args: ParsedArgs, context?: CommandContext): Promise<number> {
    const asNsqStat = context?.invokedAs === NSQ_STAT_PROGRAM || invokedAsNsqStat();
    const settings = statSettings(
      args,
      process.stdout.isTTY === true && process.stdin.isTTY === true,
      asNsqStat ? NSQ_STAT_PROGRAM : undefined,
    );
    if (settings.mode === "dashboard") {
      // loaded only here so plain mode never pulls React/ink into memory
      const { runDashboard } = await import("../tools/stat/dashboard/run.tsx");
      return runDashboard({
        source: settings.source,
        intervalMs: settings.intervalMs,
        timeouts: settings.timeouts,
        initialLevels: initialLevels(settings),
        // 0 means never: the poller takes Infinity for that
        downGraceMs: settings.nodeGraceMs > 0 ? settings.nodeGraceMs : Infinity,
        rateWindowMs: settings.rateWindowMs,
      });
    }
    const stop = new AbortController();
    const signals = untilShutdownSignal(["SIGINT", "SIGTERM", "SIGHUP"]);
    void signals.promise.then(() => stop.abort());
    try {
      return await runPlain({
        source: settings.source,
        topic: settings.topic,
        channel: settings.channel,
        intervalMs: settings.intervalMs,
        count: settings.count,
        timeouts: settings.timeouts,
        signal: stop.signal,
      });
    } finally {
      signals.cancel();
    }
  },
};
