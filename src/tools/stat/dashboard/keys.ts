/**
 * The dashboard's navigation state and what each key does to it, as a pure function. Keeping it
 * out of React means keys typed faster than a render (or pasted) still act on the latest state.
 * help.ts lists the keys; prompts.ts handles the filter, name and confirmation inputs.
 */
import type { ClusterModel } from "../model.ts";
import type { ActionKind, ActionTarget } from "../actions.ts";
import { buildScreen, isPaused, targetFor, type Level } from "./view.ts";
import { nextSort, type SortState } from "./sort.ts";
import { confirmKey, filterKey, nameKey, withMessage, type Confirmation, type NamePrompt } from "./prompts.ts";

export interface UiState {
  levels: Level[];
  /** selected row per level (by key, with the index as fallback when the key vanished) */
  selection: Record<string, { key: string; index: number }>;
  filter: string;
  editingFilter: boolean;
  sort: SortState;
  /** an empty, create or delete waiting for y/N */
  confirm: Confirmation | null;
  /** a name being typed for `n` */
  namePrompt: NamePrompt | null;
  /** the `?` overlay is open */
  help: boolean;
  message: string;
  /** changes with every message, so the app clears the right one after a while */
  messageId: number;
}

/** The subset of ink's Key the dashboard reads. */
export interface KeyInfo {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
  meta?: boolean;
}

export type Effect = { kind: "exit" } | { kind: "action"; action: ActionKind; target: ActionTarget } | null;

export function initialUi(levels?: Level[]): UiState {
  return {
    levels: levels && levels.length > 0 ? levels : [{ kind: "topics" }],
    selection: {},
    filter: "",
    editingFilter: false,
    sort: { key: "name", reverse: false },
    confirm: null,
    namePrompt: null,
    help: false,
    message: "",
    messageId: 0,
  };
}

export function currentLevel(ui: UiState): Level {
  return ui.levels[ui.levels.length - 1]!;
}

function levelId(level: Level): string {
  return JSON.stringify(level);
}

/** Index of the selected row among `rows` (-1 when there are none). */
export function selectedIndex(ui: UiState, rows: ReadonlyArray<{ key: string }>): number {
  if (rows.length === 0) return -1;
  const remembered = ui.selection[levelId(currentLevel(ui))];
  if (!remembered) return 0;
  const byKey = rows.findIndex((r) => r.key === remembered.key);
  return byKey >= 0 ? byKey : Math.min(remembered.index, rows.length - 1);
}

function rowsOf(ui: UiState, model: ClusterModel | null): Array<{ key: string; name: string }> {
  return model ? buildScreen(model, currentLevel(ui), ui.filter, ui.sort).rows : [];
}

function withSelection(ui: UiState, rows: ReadonlyArray<{ key: string }>, index: number): UiState {
  if (rows.length === 0) return ui;
  const i = Math.max(0, Math.min(rows.length - 1, index));
  return { ...ui, selection: { ...ui.selection, [levelId(currentLevel(ui))]: { key: rows[i]!.key, index: i } } };
}

function goUp(ui: UiState): UiState {
  const level = currentLevel(ui);
  if (ui.levels.length > 1) return { ...ui, levels: ui.levels.slice(0, -1), filter: "" };
  if (level.kind === "topics") return ui;
  // started deep (--topic/--channel): going up continues to the parent level
  const parent: Level = level.kind === "clients" ? { kind: "channels", topic: level.topic } : { kind: "topics" };
  return { ...ui, levels: [parent], filter: "" };
}

/**
 * Applies one key press; returns the new state and what the app must do (exit, run an action).
 * `pageSize`: rows PgUp/PgDn move (the table's visible height).
 */
export function handleKey(
  ui: UiState,
  model: ClusterModel | null,
  input: string,
  key: KeyInfo,
  pageSize = 10,
): { ui: UiState; effect: Effect } {
  if (ui.help) return { ui: { ...ui, help: false }, effect: null };
  if (ui.editingFilter) return { ui: filterKey(ui, input, key), effect: null };
  if (ui.namePrompt) return { ui: nameKey(ui, ui.namePrompt, input, key), effect: null };
  if (ui.confirm) return confirmKey(ui, ui.confirm, input);
  if (input === "q" || (key.ctrl && input === "c")) return { ui, effect: { kind: "exit" } };

  const rows = rowsOf(ui, model);
  const selected = selectedIndex(ui, rows);
  const level = currentLevel(ui);
  const selectedName = selected >= 0 ? rows[selected]!.name : undefined;
  const page = Math.max(1, pageSize);
  const none = (next: UiState) => ({ ui: next, effect: null });

  if (key.upArrow || input === "k") return none(withSelection(ui, rows, selected - 1));
  if (key.downArrow || input === "j") return none(withSelection(ui, rows, selected + 1));
  if (key.pageUp) return none(withSelection(ui, rows, selected - page));
  if (key.pageDown) return none(withSelection(ui, rows, selected + page));
  if (key.home || input === "g") return none(withSelection(ui, rows, 0));
  if (key.end || input === "G") return none(withSelection(ui, rows, rows.length - 1));
  if (key.return || key.rightArrow || input === "l") {
    if (selectedName === undefined || level.kind === "clients") return none(ui);
    const next: Level =
      level.kind === "topics"
        ? { kind: "channels", topic: selectedName }
        : { kind: "clients", topic: level.topic, channel: selectedName };
    return none({ ...ui, levels: [...ui.levels, next], filter: "", message: "" });
  }
  if (key.escape || key.backspace || key.delete || key.leftArrow || input === "h") {
    return none({ ...goUp(ui), message: "" });
  }
  if (input === "?") return none({ ...ui, help: true });
  if (input === "/") return none({ ...ui, editingFilter: true });
  const table = level.kind === "clients" ? "clients" : "stat";
  if (input === "s") return none({ ...ui, sort: nextSort(table, ui.sort) });
  if (input === "S") return none({ ...ui, sort: { ...ui.sort, reverse: !ui.sort.reverse } });
  if (input === "n") return none({ ...ui, namePrompt: { topic: level.kind === "topics" ? null : level.topic, text: "" } });
  if (input === "p" || input === "e" || input === "d") {
    const target = model ? targetFor(level, selectedName) : null;
    if (!model || !target) return none(withMessage(ui, "nothing selected"));
    if (input === "e") return none({ ...ui, confirm: { action: "empty", target } });
    if (input === "d") return none({ ...ui, confirm: { action: "delete", target } });
    const action: ActionKind = isPaused(model, target) ? "unpause" : "pause";
    return { ui, effect: { kind: "action", action, target } };
  }
  return none(ui);
}
