/**
 * What the dashboard shows for a navigation state: the rows of the current level (filtered and
 * sorted), and the per-node breakdown of the selection. Pure functions of the model, so they are
 * tested without a terminal.
 */
import type { ChannelModel, ClientRow, ClusterModel, StatRow, TopicModel } from "../model.ts";
import type { ActionTarget } from "../actions.ts";
import { sortClientRows, sortStatRows, type SortState } from "./sort.ts";

export type Level =
  | { kind: "topics" }
  | { kind: "channels"; topic: string }
  | { kind: "clients"; topic: string; channel: string };

export type Screen =
  | { kind: "stat"; level: Level; rows: StatRow[]; missing: boolean }
  | { kind: "clients"; level: Level; rows: ClientRow[]; missing: boolean };

function findTopic(model: ClusterModel, topic: string): TopicModel | undefined {
  return model.topics.find((t) => t.row.name === topic);
}

function findChannel(model: ClusterModel, topic: string, channel: string): ChannelModel | undefined {
  return findTopic(model, topic)?.channels.find((c) => c.row.name === channel);
}

function matches(name: string, filter: string): boolean {
  return filter === "" || name.toLowerCase().includes(filter.toLowerCase());
}

/** The rows of `level` after filter and sort; `missing` when the topic/channel no longer exists. */
export function buildScreen(model: ClusterModel, level: Level, filter: string, sort: SortState): Screen {
  // keys and render ask for the same screen between polls: with 10,000 topics, filtering and
  // sorting once per change instead of once per key press keeps the dashboard responsive
  const id = `${JSON.stringify(level)}\u0000${filter}\u0000${sort.key}\u0000${sort.reverse}`;
  if (lastScreen && lastScreen.model === model && lastScreen.id === id) return lastScreen.screen;
  const screen = computeScreen(model, level, filter, sort);
  lastScreen = { model, id, screen };
  return screen;
}

let lastScreen: { model: ClusterModel; id: string; screen: Screen } | null = null;

function computeScreen(model: ClusterModel, level: Level, filter: string, sort: SortState): Screen {
  if (level.kind === "topics") {
    const rows = model.topics.map((t) => t.row).filter((r) => matches(r.name, filter));
    return { kind: "stat", level, rows: sortStatRows(rows, sort), missing: false };
  }
  if (level.kind === "channels") {
    const topic = findTopic(model, level.topic);
    const rows = (topic?.channels ?? []).map((c) => c.row).filter((r) => matches(r.name, filter));
    return { kind: "stat", level, rows: sortStatRows(rows, sort), missing: !topic };
  }
  const channel = findChannel(model, level.topic, level.channel);
  const rows = (channel?.clients ?? []).filter((r) => matches(r.name, filter) || matches(r.clientId, filter));
  return { kind: "clients", level, rows: sortClientRows(rows, sort), missing: !channel };
}

/** Per-node rows for the selection (topic or channel), with a title naming it. */
export function breakdownFor(
  model: ClusterModel,
  level: Level,
  selectedName: string | undefined,
): { title: string; rows: StatRow[] } | null {
  if (level.kind === "topics") {
    if (selectedName === undefined) return null;
    const t = findTopic(model, selectedName);
    return t ? { title: `topic ${t.row.name} by node`, rows: t.perNode } : null;
  }
  if (level.kind === "channels") {
    if (selectedName === undefined) {
      const t = findTopic(model, level.topic);
      return t ? { title: `topic ${t.row.name} by node`, rows: t.perNode } : null;
    }
    const c = findChannel(model, level.topic, selectedName);
    return c ? { title: `channel ${level.topic}/${c.row.name} by node`, rows: c.perNode } : null;
  }
  const c = findChannel(model, level.topic, level.channel);
  return c ? { title: `channel ${level.topic}/${c.row.name} by node`, rows: c.perNode } : null;
}

/** What `p` / `e` act on: the selected topic or channel; on the clients level, its channel. */
export function targetFor(level: Level, selectedName: string | undefined): ActionTarget | null {
  if (level.kind === "topics") return selectedName === undefined ? null : { topic: selectedName };
  if (level.kind === "channels") return selectedName === undefined ? null : { topic: level.topic, channel: selectedName };
  return { topic: level.topic, channel: level.channel };
}

/** Whether the target is currently paused (on any node), to decide between pause and unpause. */
export function isPaused(model: ClusterModel, target: ActionTarget): boolean {
  if (target.channel === undefined) return findTopic(model, target.topic)?.row.paused ?? false;
  return findChannel(model, target.topic, target.channel)?.row.paused ?? false;
}

export function levelPath(level: Level): string {
  if (level.kind === "topics") return "topics";
  if (level.kind === "channels") return `topics › ${level.topic}`;
  return `topics › ${level.topic} › ${level.channel}`;
}
