/**
 * The dashboard's modal inputs: the filter line, the name of a topic or channel to create, and
 * the y/N confirmation every destructive or cluster-changing action goes through. Each takes
 * the keys while it is open; keys.ts hands them over.
 */
import type { ActionKind, ActionTarget } from "../actions.ts";
import { isValidChannelName, isValidTopicName } from "../../../protocol/names.ts";
import type { Effect, KeyInfo, UiState } from "./keys.ts";

/** An action waiting for y/N. */
export interface Confirmation {
  action: ActionKind;
  target: ActionTarget;
}

/** A name being typed for `n`: a topic, or a channel of `topic`. */
export interface NamePrompt {
  topic: string | null;
  text: string;
}

export const NAME_RULE = "1-64 chars of [.a-zA-Z0-9_-], optional #ephemeral suffix";

function printable(input: string, key: KeyInfo): boolean {
  return input !== "" && !key.ctrl && !key.meta && !/[\x00-\x1f\x7f]/.test(input);
}

/** Sets the footer message; the id lets the app clear exactly this message after a while. */
export function withMessage(ui: UiState, message: string): UiState {
  return { ...ui, message, messageId: ui.messageId + 1 };
}

export function filterKey(ui: UiState, input: string, key: KeyInfo): UiState {
  if (key.return) return { ...ui, editingFilter: false };
  if (key.escape) return { ...ui, filter: "", editingFilter: false };
  if (key.backspace || key.delete) return { ...ui, filter: ui.filter.slice(0, -1) };
  if (printable(input, key)) return { ...ui, filter: ui.filter + input };
  return ui;
}

export function nameKey(ui: UiState, prompt: NamePrompt, input: string, key: KeyInfo): UiState {
  if (key.escape) return withMessage({ ...ui, namePrompt: null }, "create cancelled");
  // the name is typed first, then confirmed: enter on a valid name opens the y/N question
  if (key.backspace || key.delete) return { ...ui, namePrompt: { ...prompt, text: prompt.text.slice(0, -1) }, message: "" };
  if (key.return) {
    const name = prompt.text;
    const valid = prompt.topic === null ? isValidTopicName(name) : isValidChannelName(name);
    if (!valid) return withMessage(ui, `invalid name: ${NAME_RULE}`);
    const target: ActionTarget = prompt.topic === null ? { topic: name } : { topic: prompt.topic, channel: name };
    return { ...ui, namePrompt: null, confirm: { action: "create", target } };
  }
  if (printable(input, key)) return { ...ui, namePrompt: { ...prompt, text: prompt.text + input }, message: "" };
  return ui;
}

export function confirmKey(ui: UiState, c: Confirmation, input: string): { ui: UiState; effect: Effect } {
  if (input === "y" || input === "Y") {
    return { ui: { ...ui, confirm: null }, effect: { kind: "action", action: c.action, target: c.target } };
  }
  return { ui: withMessage({ ...ui, confirm: null }, `${c.action} cancelled`), effect: null };
}
