/**
 * Operator actions (pause, unpause, empty) on a topic or channel, applied through the nsqd HTTP
 * API (spec §3.2) of every node that has the topic, like nsqadmin does (§6.6).
 */
import { httpUrl, postAction, DEFAULT_TIMEOUTS, type HttpTimeouts } from "./http.ts";
import type { NodeState } from "./cluster.ts";

export type ActionKind = "pause" | "unpause" | "empty";

export interface ActionTarget {
  topic: string;
  /** absent: the action is on the topic */
  channel?: string;
}

export interface ActionResult {
  ok: string[];
  failed: Array<{ node: string; error: string }>;
}

/** The nsqd path + query for an action. */
export function actionPath(action: ActionKind, target: ActionTarget): string {
  const topic = `topic=${encodeURIComponent(target.topic)}`;
  if (target.channel === undefined) return `/topic/${action}?${topic}`;
  return `/channel/${action}?${topic}&channel=${encodeURIComponent(target.channel)}`;
}

/** Nodes whose latest known /stats list the topic (down nodes included: they will be reported). */
export function nodesWithTopic(nodes: readonly NodeState[], topic: string): string[] {
  return nodes
    .filter((n) => (n.stats?.topics ?? []).some((t) => t.topic_name === topic))
    .map((n) => n.address);
}

export async function applyAction(
  nodes: readonly string[],
  action: ActionKind,
  target: ActionTarget,
  timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
): Promise<ActionResult> {
  const path = actionPath(action, target);
  const replies = await Promise.allSettled(nodes.map((n) => postAction(httpUrl(n, path), timeouts)));
  const result: ActionResult = { ok: [], failed: [] };
  replies.forEach((r, i) => {
    const node = nodes[i]!;
    if (r.status === "fulfilled") result.ok.push(node);
    else result.failed.push({ node, error: String((r.reason as Error)?.message ?? r.reason) });
  });
  return result;
}

/** One line for the status bar, e.g. "paused orders/archive on 2 nodes; 1 failed: ...". */
export function describeResult(action: ActionKind, target: ActionTarget, r: ActionResult): string {
  const what = target.channel === undefined ? `topic ${target.topic}` : `channel ${target.topic}/${target.channel}`;
  const verb = action === "pause" ? "paused" : action === "unpause" ? "unpaused" : "emptied";
  if (r.ok.length === 0 && r.failed.length === 0) return `${what}: no node has it`;
  let line = `${verb} ${what} on ${r.ok.length} node${r.ok.length === 1 ? "" : "s"}`;
  if (r.failed.length > 0) line += `; ${r.failed.length} failed: ${r.failed.map((f) => f.error).join("; ")}`;
  return line;
}
