/**
 * Operator actions (pause, unpause, empty, create, delete) on a topic or channel, applied through
 * the nsqd HTTP API (spec §3.2) of every node that has the topic, like nsqadmin does (§6.6).
 * Create and delete also go to every nsqlookupd (§5.3), as nsqadmin's do: lookupd keeps a topic
 * or channel registration after the last nsqd drops it, so consumers would keep finding it.
 */
import { httpUrl, postAction, DEFAULT_TIMEOUTS, type HttpTimeouts } from "../../http-api/api-request.ts";
import type { NodeState } from "./cluster.ts";

export type ActionKind = "pause" | "unpause" | "empty" | "create" | "delete";

export interface ActionTarget {
  topic: string;
  /** absent: the action is on the topic */
  channel?: string;
}

export interface ActionResult {
  ok: string[];
  failed: Array<{ node: string; error: string }>;
  /** create/delete with lookupd: how the lookupds answered */
  lookupd?: { ok: string[]; failed: Array<{ node: string; error: string }> };
}

/** The nsqd path + query for an action. */
export function actionPath(action: ActionKind, target: ActionTarget): string {
  const topic = `topic=${encodeURIComponent(target.topic)}`;
  if (target.channel === undefined) return `/topic/${action}?${topic}`;
  return `/channel/${action}?${topic}&channel=${encodeURIComponent(target.channel)}`;
}

/** The nodes that answer now: a new topic goes to each of them. */
export function upNodes(nodes: readonly NodeState[]): string[] {
  return nodes.filter((n) => n.up).map((n) => n.address);
}

/** Nodes whose latest known /stats list the topic (down nodes included: they will be reported). */
export function nodesWithTopic(nodes: readonly NodeState[], topic: string): string[] {
  return nodes
    .filter((n) => (n.stats?.topics ?? []).some((t) => t.topic_name === topic))
    .map((n) => n.address);
}

async function postAll(
  addresses: readonly string[],
  path: string,
  timeouts: HttpTimeouts,
): Promise<{ ok: string[]; failed: Array<{ node: string; error: string }> }> {
  const replies = await Promise.allSettled(addresses.map((n) => postAction(httpUrl(n, path), timeouts)));
  const result: ActionResult = { ok: [], failed: [] };
  replies.forEach((r, i) => {
    const node = addresses[i]!;
    if (r.status === "fulfilled") result.ok.push(node);
    else result.failed.push({ node, error: String((r.reason as Error)?.message ?? r.reason) });
  });
  return result;
}

/**
 * Applies the action on `nodes`; create and delete first on every lookupd in `lookupds`
 * (nsqadmin's order: lookupd, then the nodes).
 */
export async function applyAction(
  nodes: readonly string[],
  action: ActionKind,
  target: ActionTarget,
  timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
  lookupds: readonly string[] = [],
): Promise<ActionResult> {
  let lookupd: ActionResult["lookupd"];
  if ((action === "create" || action === "delete") && lookupds.length > 0) {
    lookupd = await postAll(lookupds, actionPath(action, target), timeouts);
  }
  const result: ActionResult = await postAll(nodes, actionPath(action, target), timeouts);
  if (lookupd) result.lookupd = lookupd;
  return result;
}

const VERBS: Record<ActionKind, string> = {
  pause: "paused", unpause: "unpaused", empty: "emptied", create: "created", delete: "deleted",
};

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/** One line for the status bar, e.g. "paused orders/archive on 2 nodes; 1 failed: ...". */
export function describeResult(action: ActionKind, target: ActionTarget, r: ActionResult): string {
  const what = target.channel === undefined ? `topic ${target.topic}` : `channel ${target.topic}/${target.channel}`;
  const failed = [...r.failed, ...(r.lookupd?.failed ?? [])];
  if (r.ok.length === 0 && r.failed.length === 0 && !r.lookupd) {
    return action === "create" && target.channel === undefined ? `${what}: no node answers` : `${what}: no node has it`;
  }
  let line = `${VERBS[action]} ${what} on ${plural(r.ok.length, "node")}`;
  if (r.lookupd && r.lookupd.ok.length > 0) line += ` and ${plural(r.lookupd.ok.length, "lookupd")}`;
  if (failed.length > 0) line += `; ${failed.length} failed: ${failed.map((f) => f.error).join("; ")}`;
  return line;
}
