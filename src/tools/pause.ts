/**
 * `nsq pause` / nsq_pause: pause or unpause a topic or `topic/channel` on every nsqd given with
 * --nsqd-http-address or listed for the topic by --lookupd-http-address, then print a table of
 * node / target / result. Each node's current state is read first, so the table says what changed
 * ("paused" / "unpaused") or that nothing had to ("already paused" / "already unpaused"); nodes that
 * have the topic but not the channel are skipped ("no such channel"). Exit code 1 when any node
 * failed, no node was found, or no node has the channel.
 */
import Table from "cli-table3";
import { connect } from "node:net";
import { baseUrl, endpointUrl, lookupTopic, NSQ_ACCEPT, postAction, producerHttpAddress } from "../client/lookupd.ts";
import { errorText, HttpError } from "../client/errors.ts";
import { isValidChannelName, isValidTopicName, NAME_RULE } from "../protocol/names.ts";
import { UsageError } from "../util/usage-error.ts";

export interface PauseOptions {
  /** `topic` or `topic/channel` (positional), or split via topic + channel */
  target: string;
  channel: string;
  nsqdHttpAddresses: string[];
  lookupdHttpAddresses: string[];
  unpause: boolean;
  /** --http-client-connect-timeout (ms): how long connecting to a node may take */
  connectTimeoutMs: number;
  /** --http-client-request-timeout (ms): whole-request deadline */
  timeoutMs: number;
  /** where the table goes */
  print(text: string): void;
  /** one-line diagnostics */
  report(line: string): void;
}

export interface PauseResult {
  node: string;
  target: string;
  /** false = this node failed (exit code 1) */
  ok: boolean;
  /** the node does not have the channel: nothing to do there */
  skipped?: boolean;
  result: string;
}

export function parseTarget(target: string, channelFlag: string): { topic: string; channel: string } {
  let topic = target;
  let channel = channelFlag;
  const slash = target.indexOf("/");
  if (slash >= 0) {
    if (channelFlag) throw new UsageError("give the channel either as topic/channel or with --channel, not both");
    topic = target.slice(0, slash);
    channel = target.slice(slash + 1);
  }
  if (!topic) throw new UsageError("--topic is required (or a positional topic[/channel])");
  if (!isValidTopicName(topic)) throw new UsageError(`invalid topic name "${topic}" (${NAME_RULE})`);
  if (channel && !isValidChannelName(channel)) throw new UsageError(`invalid channel name "${channel}" (${NAME_RULE})`);
  return { topic, channel };
}

/** nsqd HTTP addresses from the flags plus every producer of the topic known to the lookupds. */
async function discoverNodes(opts: PauseOptions, topic: string): Promise<string[]> {
  const nodes = new Set(opts.nsqdHttpAddresses);
  for (const lookupd of opts.lookupdHttpAddresses) {
    try {
      const found = await lookupTopic(lookupd, topic, { timeoutMs: opts.timeoutMs });
      for (const p of found?.producers ?? []) nodes.add(producerHttpAddress(p));
    } catch (err) {
      opts.report(`nsq_pause: lookupd ${lookupd}: ${errorText(err)}`);
    }
  }
  return [...nodes];
}

/** What one node looks like before the action: the current pause state, or why it is skipped. */
type NodeState = { kind: "found"; paused: boolean } | { kind: "no-topic" } | { kind: "no-channel" };

interface StatsChannel {
  channel_name?: unknown;
  paused?: unknown;
}
interface StatsTopic {
  topic_name?: unknown;
  paused?: unknown;
  channels?: unknown;
}

/**
 * Reads the topic (or channel) pause state from nsqd's `/stats?format=json`. nsqd answers
 * `"topics": null` for an unknown topic and `"topics": []` for a known topic without that channel.
 */
async function readState(node: string, topic: string, channel: string, timeoutMs: number): Promise<NodeState> {
  const query: Record<string, string> = { format: "json", topic, include_clients: "false", include_mem: "false" };
  if (channel) query["channel"] = channel;
  const url = endpointUrl(node, "/stats", query);
  let res: Response;
  try {
    res = await fetch(url, { headers: { Accept: NSQ_ACCEPT }, signal: AbortSignal.timeout(timeoutMs), keepalive: false });
  } catch (err) {
    const reason = err instanceof Error && err.name === "TimeoutError" ? "request timed out" : errorText(err);
    throw new HttpError(reason, url, 0);
  }
  const text = await res.text();
  if (res.status !== 200) throw new HttpError(`HTTP ${res.status} ${text.trim().slice(0, 200)}`, url, res.status);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError("invalid JSON in /stats reply", url, res.status);
  }
  // pre-1.0 envelope: {"status_code":200,"status_txt":"OK","data":{...}}
  if (body && typeof body === "object" && "data" in body && !("topics" in body)) body = (body as { data: unknown }).data;
  const topics = (body as { topics?: unknown } | null)?.topics;
  if (!Array.isArray(topics)) return { kind: "no-topic" };
  const t = (topics as StatsTopic[]).find((x) => x && x.topic_name === topic);
  if (!t) return channel ? { kind: "no-channel" } : { kind: "no-topic" };
  if (!channel) return { kind: "found", paused: t.paused === true };
  const c = Array.isArray(t.channels) ? (t.channels as StatsChannel[]).find((x) => x && x.channel_name === channel) : undefined;
  if (!c) return { kind: "no-channel" };
  return { kind: "found", paused: c.paused === true };
}

/**
 * Connects to the node within --http-client-connect-timeout and closes again. Bun's fetch has only
 * a whole-request deadline, so this is how an unreachable node is given up on after the connect
 * timeout rather than the (longer) request timeout.
 */
function checkConnect(node: string, connectTimeoutMs: number): Promise<void> {
  const url = baseUrl(node);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new HttpError(`connect timed out after ${connectTimeoutMs}ms`, url.origin, 0));
    }, connectTimeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new HttpError(err.code === "ECONNREFUSED" ? "connection refused" : errorText(err), url.origin, 0));
    });
  });
}

function failureText(err: unknown): string {
  return `failed: ${err instanceof HttpError ? err.reason : errorText(err)}`;
}

/** Reads the node's state, then pauses/unpauses only when that changes something. */
async function applyToNode(opts: PauseOptions, node: string, topic: string, channel: string): Promise<PauseResult> {
  const target = channel ? `${topic}/${channel}` : topic;
  const done = opts.unpause ? "unpaused" : "paused";
  try {
    await checkConnect(node, opts.connectTimeoutMs);
    const state = await readState(node, topic, channel, opts.timeoutMs);
    if (state.kind === "no-topic") return { node, target, ok: false, result: "failed: TOPIC_NOT_FOUND" };
    if (state.kind === "no-channel") return { node, target, ok: true, skipped: true, result: "no such channel" };
    if (state.paused === !opts.unpause) return { node, target, ok: true, result: `already ${done}` };
    const action = opts.unpause ? "unpause" : "pause";
    const path = channel ? `/channel/${action}` : `/topic/${action}`;
    await postAction(node, path, channel ? { topic, channel } : { topic }, { timeoutMs: opts.timeoutMs });
    return { node, target, ok: true, result: done };
  } catch (err) {
    // the channel was deleted between the state read and the action
    if (channel && err instanceof HttpError && err.status === 404 && err.reason.includes("CHANNEL_NOT_FOUND")) {
      return { node, target, ok: true, skipped: true, result: "no such channel" };
    }
    return { node, target, ok: false, result: failureText(err) };
  }
}

export async function runPause(opts: PauseOptions): Promise<number> {
  const { topic, channel } = parseTarget(opts.target, opts.channel);
  if (opts.nsqdHttpAddresses.length === 0 && opts.lookupdHttpAddresses.length === 0) {
    throw new UsageError("--nsqd-http-address or --lookupd-http-address required");
  }
  if (!(opts.connectTimeoutMs > 0)) throw new UsageError("--http-client-connect-timeout must be positive");
  if (!(opts.timeoutMs > 0)) throw new UsageError("--http-client-request-timeout must be positive");
  const nodes = await discoverNodes(opts, topic);
  if (nodes.length === 0) {
    opts.report(`nsq_pause: no nsqd found for topic "${topic}"`);
    return 1;
  }
  const results = await Promise.all(nodes.map((node) => applyToNode(opts, node, topic, channel)));
  opts.print(renderTable(results) + "\n");
  if (!results.every((r) => r.ok)) return 1;
  if (results.every((r) => r.skipped)) {
    opts.report(`nsq_pause: channel "${channel}" not found on any nsqd for topic "${topic}"`);
    return 1;
  }
  return 0;
}

export function renderTable(results: readonly PauseResult[]): string {
  const table = new Table({ head: ["node", "target", "result"], style: { head: [], border: [] } });
  for (const r of results) table.push([r.node, r.target, r.result]);
  return table.toString();
}
