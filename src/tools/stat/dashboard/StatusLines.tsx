/**
 * The top of the screen: a title with the cluster's health, and a line naming nodes that are down
 * (or lookupd trouble) so an outage is visible from every level.
 */
import { Text } from "ink";
import type { ClusterModel } from "../model.ts";
import { formatDuration } from "../../../util/duration.ts";
import { sortArrow, type SortState } from "./sort.ts";

export function titleText(model: ClusterModel | null, intervalMs: number, sort: SortState, filter: string): string {
  const parts = ["nsq stat"];
  if (model) {
    const up = model.nodes.filter((n) => n.up).length;
    const down = model.nodes.length - up;
    parts.push(`${model.nodes.length} node${model.nodes.length === 1 ? "" : "s"}: ${up} up${down ? `, ${down} DOWN` : ""}`);
    parts.push(`${model.topics.length} topic${model.topics.length === 1 ? "" : "s"}`);
  } else {
    parts.push("connecting…");
  }
  parts.push(`every ${formatDuration(intervalMs)}`, `sort: ${sort.key} ${sortArrow(sort)}`);
  if (filter) parts.push(`filter: ${filter}`);
  return parts.join(" · ");
}

export function nodesText(model: ClusterModel | null): { text: string; alert: boolean } {
  if (!model) return { text: "", alert: false };
  const down = model.nodes.filter((n) => !n.up);
  if (down.length > 0) {
    const at = model.at;
    const list = down.map((n) => {
      const since = n.downSince === null ? "" : ` ${formatDuration(Math.floor((at - n.downSince) / 1000) * 1000)}`;
      return `${n.address} DOWN${since} (${shortError(n.error)})`;
    });
    return { text: list.join("  "), alert: true };
  }
  if (model.discoveryErrors.length > 0) return { text: `lookupd: ${model.discoveryErrors.join("; ")}`, alert: true };
  // nodes dropped after the grace period are named, so an empty list is never a mystery
  const left = model.left.length > 0 ? `  (left the cluster: ${model.left.join(", ")})` : "";
  if (model.nodes.length === 0) return { text: `no nsqd nodes found${left}`, alert: true };
  return { text: `nodes: ${model.nodes.map((n) => n.address).join(", ")}${left}`, alert: false };
}

function shortError(error: string | null): string {
  if (!error) return "down";
  const i = error.lastIndexOf(": ");
  return i >= 0 ? error.slice(i + 2) : error;
}

export function StatusLines(props: { model: ClusterModel | null; intervalMs: number; sort: SortState; filter: string }) {
  const nodes = nodesText(props.model);
  return (
    <>
      <Text bold color="cyan" wrap="truncate">{titleText(props.model, props.intervalMs, props.sort, props.filter)}</Text>
      <Text color={nodes.alert ? "red" : undefined} dimColor={!nodes.alert} wrap="truncate">{nodes.text || " "}</Text>
    </>
  );
}
