/**
 * `nsq pause` / nsq_pause: pause or unpause a topic or `topic/channel` on every nsqd given with
 * --nsqd-http-address or listed for the topic by --lookupd-http-address, then print a table of
 * node / target / result. Exit code 1 when any node failed or no node was found.
 */
import Table from "cli-table3";
import { lookupTopic, postAction, producerHttpAddress } from "../client/lookupd.ts";
import { errorText, HttpError } from "../client/errors.ts";
import { isValidChannelName, isValidTopicName } from "../protocol/names.ts";
import { UsageError } from "../commands/types.ts";

export interface PauseOptions {
  /** `topic` or `topic/channel` (positional), or split via topic + channel */
  target: string;
  channel: string;
  nsqdHttpAddresses: string[];
  lookupdHttpAddresses: string[];
  unpause: boolean;
  timeoutMs: number;
  /** where the table goes */
  print(text: string): void;
  /** one-line diagnostics */
  report(line: string): void;
}

export interface PauseResult {
  node: string;
  target: string;
  ok: boolean;
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
  if (!isValidTopicName(topic)) throw new UsageError(`invalid topic name "${topic}"`);
  if (channel && !isValidChannelName(channel)) throw new UsageError(`invalid channel name "${channel}"`);
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

export async function runPause(opts: PauseOptions): Promise<number> {
  const { topic, channel } = parseTarget(opts.target, opts.channel);
  if (opts.nsqdHttpAddresses.length === 0 && opts.lookupdHttpAddresses.length === 0) {
    throw new UsageError("--nsqd-http-address or --lookupd-http-address required");
  }
  const nodes = await discoverNodes(opts, topic);
  if (nodes.length === 0) {
    opts.report(`nsq_pause: no nsqd found for topic "${topic}"`);
    return 1;
  }
  const action = opts.unpause ? "unpause" : "pause";
  const path = channel ? `/channel/${action}` : `/topic/${action}`;
  const query: Record<string, string> = channel ? { topic, channel } : { topic };
  const label = channel ? `${topic}/${channel}` : topic;
  const results: PauseResult[] = await Promise.all(
    nodes.map(async (node) => {
      try {
        await postAction(node, path, query, { timeoutMs: opts.timeoutMs });
        return { node, target: label, ok: true, result: opts.unpause ? "unpaused" : "paused" };
      } catch (err) {
        return { node, target: label, ok: false, result: `failed: ${err instanceof HttpError ? err.reason : errorText(err)}` };
      }
    }),
  );
  opts.print(renderTable(results) + "\n");
  return results.every((r) => r.ok) ? 0 : 1;
}

export function renderTable(results: readonly PauseResult[]): string {
  const table = new Table({ head: ["node", "target", "result"], style: { head: [], border: [] } });
  for (const r of results) table.push([r.node, r.target, r.result]);
  return table.toString();
}
