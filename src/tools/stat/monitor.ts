/**
 * Drives the dashboard's data: polls the cluster every interval (never two rounds at once), folds
 * each round into a ClusterModel with rates, and applies operator actions to the right nodes.
 *
 * A round never waits for the slowest node: it publishes after the fast answers (at most most of
 * an interval), a node whose request is out longer than an interval is shown down ("not
 * answering"), and requests are cut off a little later, so a hung node costs at most one socket.
 */
import { ClusterPoller, type ClusterSource } from "./cluster.ts";
import { DEFAULT_TIMEOUTS, type HttpTimeouts } from "../../http-api/api-request.ts";

/** Share of the interval a round waits for answers before publishing what it has. */
const ROUND_WAIT_SHARE = 0.8;
/** Poll requests are cut off after this many intervals (at least MIN_POLL_DEADLINE_MS). */
const POLL_DEADLINE_INTERVALS = 2;
const MIN_POLL_DEADLINE_MS = 500;

/**
 * The timeouts for the dashboard's polling: the configured ones, capped near the interval so a
 * hung node's request does not outlive a couple of refreshes. Actions keep the configured ones.
 */
export function pollTimeouts(timeouts: HttpTimeouts, intervalMs: number): HttpTimeouts {
  const cap = Math.max(MIN_POLL_DEADLINE_MS, POLL_DEADLINE_INTERVALS * intervalMs);
  return {
    ...timeouts,
    connectTimeoutMs: Math.min(timeouts.connectTimeoutMs, cap),
    requestTimeoutMs: Math.min(timeouts.requestTimeoutMs, cap),
  };
}
import { buildModel, type ClusterModel } from "./model.ts";
import { RateTracker } from "./rates.ts";
import { applyAction, describeResult, nodesWithTopic, upNodes, type ActionKind, type ActionTarget } from "./actions.ts";

export interface MonitorOptions {
  /** drop nodes down longer than this (see PollerOptions.downGraceMs); default never */
  downGraceMs?: number;
  /** rates are averaged over this window (RateTracker); default 5 s */
  rateWindowMs?: number;
}

/** What the UI needs from a monitor; tests may provide their own. */
export interface MonitorHandle {
  readonly latest: ClusterModel | null;
  readonly intervalMs: number;
  /** polls the TREND column spans (default DEFAULT_HISTORY_LENGTH) */
  readonly historyLength?: number;
  /** lookupds that create/delete also go to (named in the confirmation) */
  readonly lookupdCount?: number;
  subscribe(listener: (model: ClusterModel) => void): () => void;
  /** applies the action on every node that has the topic; resolves with a one-line summary */
  act(kind: ActionKind, target: ActionTarget): Promise<string>;
}

export class ClusterMonitor implements MonitorHandle {
  private readonly poller: ClusterPoller;
  private readonly tracker: RateTracker;
  private readonly listeners = new Set<(model: ClusterModel) => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<void> | null = null;
  private stopped = true;
  latest: ClusterModel | null = null;

  constructor(
    source: ClusterSource,
    readonly intervalMs: number,
    private readonly timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
    options: MonitorOptions = {},
  ) {
    this.poller = new ClusterPoller(source, pollTimeouts(timeouts, intervalMs), Date.now, {
      hungAfterMs: intervalMs,
      downGraceMs: options.downGraceMs,
    });
    this.tracker = new RateTracker(undefined, options.rateWindowMs);
    this.lookupds = source.lookupdHttpAddresses;
  }

  private readonly lookupds: readonly string[];

  get lookupdCount(): number {
    return this.lookupds.length;
  }

  /** How many polls the TREND column spans. */
  get historyLength(): number {
    return this.tracker.historyLength;
  }

  subscribe(listener: (model: ClusterModel) => void): () => void {
    this.listeners.add(listener);
    if (this.latest) listener(this.latest);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Polls now (after any poll already running) so an action's effect shows without waiting. */
  async refresh(): Promise<void> {
    if (this.inFlight) await this.inFlight;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.tick();
  }

  private async tick(): Promise<void> {
    const started = Date.now();
    this.inFlight = this.pollOnce();
    await this.inFlight;
    this.inFlight = null;
    if (this.stopped || this.timer) return;
    const wait = Math.max(0, this.intervalMs - (Date.now() - started));
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick();
    }, wait);
  }

  private async pollOnce(): Promise<void> {
    const snapshot = await this.poller.poll(this.intervalMs * ROUND_WAIT_SHARE);
    if (this.stopped && this.latest) return;
    const model = buildModel(snapshot, this.tracker);
    this.latest = model;
    for (const l of this.listeners) l(model);
  }

  async act(kind: ActionKind, target: ActionTarget): Promise<string> {
    const known = this.latest?.nodes ?? [];
    // a new topic goes to every node that answers; everything else to the nodes that have the topic
    const nodes = kind === "create" && target.channel === undefined ? upNodes(known) : nodesWithTopic(known, target.topic);
    const result = await applyAction(nodes, kind, target, this.timeouts, this.lookupds);
    if (!this.stopped) await this.refresh();
    return describeResult(kind, target, result);
  }
}
