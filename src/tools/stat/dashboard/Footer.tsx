/**
 * The bottom line: whichever input is open (filter, new name, y/N confirmation), else the last
 * message (cleared by the app after a few seconds) and the short key list.
 */
import { Text } from "ink";
import type { ClusterModel } from "../model.ts";
import { nodesWithTopic, upNodes, type ActionTarget } from "../actions.ts";
import { FOOTER_HELP } from "./help.ts";
import type { UiState } from "./keys.ts";
import type { Confirmation } from "./prompts.ts";

export function describeTarget(t: ActionTarget): string {
  return t.channel === undefined ? `topic ${t.topic}` : `channel ${t.topic}/${t.channel}`;
}

function nodeCount(n: number): string {
  return `${n} node${n === 1 ? "" : "s"}`;
}

/**
 * The question asked before an action runs: what, where, then (y/N), then what is lost, so a
 * narrow terminal cuts the explanation rather than the question.
 */
export function confirmText(c: Confirmation, model: ClusterModel | null, lookupds: number): string {
  const nodes = model?.nodes ?? [];
  const what = describeTarget(c.target);
  const withLookupd = lookupds > 0 ? ` and ${lookupds} lookupd${lookupds === 1 ? "" : "s"}` : "";
  switch (c.action) {
    case "empty":
      return `Empty ${what} on every node? (y/N) Its queued messages are deleted.`;
    case "delete": {
      const n = nodesWithTopic(nodes, c.target.topic).length;
      const lost = c.target.channel === undefined ? "Its channels and queued messages" : "Its queued messages";
      return `Delete ${what} on ${nodeCount(n)}${withLookupd}? (y/N) ${lost} are lost, its consumers disconnected.`;
    }
    case "create": {
      const n = c.target.channel === undefined ? upNodes(nodes).length : nodesWithTopic(nodes, c.target.topic).length;
      return `Create ${what} on ${nodeCount(n)}${withLookupd}? (y/N)`;
    }
    default:
      return `${c.action} ${what}? (y/N)`;
  }
}

export function Footer(props: { ui: UiState; model: ClusterModel | null; lookupds: number }) {
  const { ui } = props;
  if (ui.editingFilter) {
    return <Text wrap="truncate">/{ui.filter}<Text inverse> </Text>  (enter keep, esc clear)</Text>;
  }
  if (ui.namePrompt) {
    const what = ui.namePrompt.topic === null ? "new topic" : `new channel in ${ui.namePrompt.topic}`;
    // a refused name's reason replaces the hint, so it is not cut off on a narrow terminal
    return (
      <Text wrap="truncate" color="yellow">
        {what}: {ui.namePrompt.text}<Text inverse> </Text>  {ui.message ? <Text color="red">{ui.message}</Text> : "(enter ok, esc cancel)"}
      </Text>
    );
  }
  if (ui.confirm) {
    return <Text color="yellow" bold wrap="truncate">{confirmText(ui.confirm, props.model, props.lookupds)}</Text>;
  }
  if (ui.message) return <Text wrap="truncate">{ui.message}  <Text dimColor>{FOOTER_HELP}</Text></Text>;
  return <Text dimColor wrap="truncate">{FOOTER_HELP}</Text>;
}
