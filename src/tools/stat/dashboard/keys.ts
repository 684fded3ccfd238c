/**
 * The dashboard's navigation state and what each key does to it, as a pure function. Keeping it
 * out of React means keys typed faster than a render (or pasted) still act on the latest state.
 */
import type { ClusterModel } from "../model.ts";
import type { ActionKind, ActionTarget } from "../actions.ts";
import { buildScreen, isPaused, nextSort, targetFor, type Level, type SortKey } from "./view.ts";

export interface UiState {
  levels: Level[];
  /** selected row per level (by key, with the index as fallback when the key vanished) */
  selection: Record<string, { key: string; index: number }>;
  filter: string;
  editingFilter: boolean;
  sort: SortKey;
  /** an `empty` waiting for y/N */
  confirm: ActionTarget | null;
  message: string;
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
    sort: "name",
    confirm: null,
    message: "",
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

/** Applies one key press; returns the new state and what the app must do (exit, run an action). */
export function handleKey(
  ui: UiState,
  model: ClusterModel | null,
  input: string,
  key: KeyInfo,
): { ui: UiState; effect: Effect } {
  if (ui.editingFilter) {
    if (key.return) return { ui: { ...ui, editingFilter: false }, effect: null };
    if (key.escape) return { ui: { ...ui, filter: "", editingFilter: false }, effect: null };
    if (key.backspace || key.delete) return { ui: { ...ui, filter: ui.filter.slice(0, -1) }, effect: null };
    if (input && !key.ctrl && !key.meta && !/[\x00-\x1f]/.test(input)) {
      return { ui: { ...ui, filter: ui.filter + input }, effect: null };
    }
    return { ui, effect: null };
  }
  if (ui.confirm) {
    const target = ui.confirm;
    if (input === "y" || input === "Y") return { ui: { ...ui, confirm: null }, effect: { kind: "action", action: "empty", target } };
    return { ui: { ...ui, confirm: null, message: "empty cancelled" }, effect: null };
  }
  if (input === "q" || (key.ctrl && input === "c")) return { ui, effect: { kind: "exit" } };

  const rows = rowsOf(ui, model);
  const selected = selectedIndex(ui, rows);
  const level = currentLevel(ui);
  const selectedName = selected >= 0 ? rows[selected]!.name : undefined;

  if (key.upArrow || input === "k") return { ui: withSelection(ui, rows, selected - 1), effect: null };
  if (key.downArrow || input === "j") return { ui: withSelection(ui, rows, selected + 1), effect: null };
  if (key.pageUp) return { ui: withSelection(ui, rows, selected - 10), effect: null };
  if (key.pageDown) return { ui: withSelection(ui, rows, selected + 10), effect: null };
  if (key.home || input === "g") return { ui: withSelection(ui, rows, 0), effect: null };
  if (key.end || input === "G") return { ui: withSelection(ui, rows, rows.length - 1), effect: null };
  if (key.return || key.rightArrow || input === "l") {
    if (selectedName === undefined || level.kind === "clients") return { ui, effect: null };
    const next: Level =
      level.kind === "topics"
        ? { kind: "channels", topic: selectedName }
        : { kind: "clients", topic: level.topic, channel: selectedName };
    return { ui: { ...ui, levels: [...ui.levels, next], filter: "", message: "" }, effect: null };
  }
  if (key.escape || key.backspace || key.delete || key.leftArrow || input === "h") {
    return { ui: { ...goUp(ui), message: "" }, effect: null };
  }
  if (input === "/") return { ui: { ...ui, editingFilter: true }, effect: null };
  if (input === "s") return { ui: { ...ui, sort: nextSort(ui.sort) }, effect: null };
  if (input === "p" || input === "e") {
    const target = model ? targetFor(level, selectedName) : null;
    if (!model || !target) return { ui: { ...ui, message: "nothing selected" }, effect: null };
    if (input === "e") return { ui: { ...ui, confirm: target }, effect: null };
    const action: ActionKind = isPaused(model, target) ? "unpause" : "pause";
    return { ui, effect: { kind: "action", action, target } };
  }
  return { ui, effect: null };
}
