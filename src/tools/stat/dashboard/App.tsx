/**
 * The live cluster dashboard: topics → channels → clients with per-node breakdown of the
 * selection. Keys: ↑/↓ j/k move, enter drills down, esc/backspace goes up, p pause/unpause,
 * e empty (confirm), / filter, s sort, q quit.
 */
import { useEffect, useState, type ReactNode } from "react";
import { Box, Text, useApp, useInput, useStdout } from "ink";
import type { ClusterModel } from "../model.ts";
import type { MonitorHandle } from "../monitor.ts";
import type { ActionTarget } from "../actions.ts";
import { Table } from "./Table.tsx";
import { StatusLines } from "./StatusLines.tsx";
import { clientColumns, statColumns } from "./columns.ts";
import {
  breakdownFor, buildScreen, isPaused, levelPath, nextSort, targetFor, type Level, type SortKey,
} from "./view.ts";

export interface AppProps {
  monitor: MonitorHandle;
  /** where navigation starts (e.g. --topic / --channel given) */
  initialLevels?: Level[];
  /** fixed size (tests); otherwise the terminal's, following resizes */
  width?: number;
  height?: number;
}

function useTerminalSize(fixedWidth?: number, fixedHeight?: number): { width: number; height: number } {
  const { stdout } = useStdout();
  const read = () => ({
    width: fixedWidth ?? (stdout.columns || 80),
    height: fixedHeight ?? (stdout.rows || 24),
  });
  const [size, setSize] = useState(read);
  useEffect(() => {
    if (fixedWidth !== undefined && fixedHeight !== undefined) return;
    const onResize = () => setSize(read());
    stdout.on("resize", onResize);
    return () => void stdout.off("resize", onResize);
  }, [stdout]);
  return size;
}

function levelId(level: Level): string {
  return JSON.stringify(level);
}

interface Confirm {
  target: ActionTarget;
}

const HELP = "↑↓/jk move  ⏎ open  esc back  p pause  e empty  / filter  s sort  q quit";
const COLUMNS = {
  topics: statColumns("topics"),
  channels: statColumns("channels"),
  nodes: statColumns("nodes"),
  clients: clientColumns(),
};

export function App(props: AppProps) {
  const { monitor } = props;
  const { exit } = useApp();
  const { width, height: termHeight } = useTerminalSize(props.width, props.height);
  const [model, setModel] = useState<ClusterModel | null>(monitor.latest);
  const [levels, setLevels] = useState<Level[]>(props.initialLevels ?? [{ kind: "topics" }]);
  const [selection, setSelection] = useState<Record<string, { key: string; index: number }>>({});
  const [filter, setFilter] = useState("");
  const [editingFilter, setEditingFilter] = useState(false);
  const [sort, setSort] = useState<SortKey>("name");
  const [confirm, setConfirm] = useState<Confirm | null>(null);
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => monitor.subscribe(setModel), [monitor]);

  const level = levels[levels.length - 1]!;
  const screen = model ? buildScreen(model, level, filter, sort) : null;
  const rows: Array<{ key: string; name: string }> = screen ? screen.rows : [];
  const remembered = selection[levelId(level)];
  let selected = rows.length === 0 ? -1 : 0;
  if (remembered) {
    const byKey = rows.findIndex((r) => r.key === remembered.key);
    selected = byKey >= 0 ? byKey : Math.min(remembered.index, rows.length - 1);
  }
  const selectedName = selected >= 0 ? rows[selected]!.name : undefined;

  const select = (index: number) => {
    if (rows.length === 0) return;
    const i = Math.max(0, Math.min(rows.length - 1, index));
    setSelection((s) => ({ ...s, [levelId(level)]: { key: rows[i]!.key, index: i } }));
  };

  const runAction = (kind: "pause" | "unpause" | "empty", target: ActionTarget) => {
    setBusy(true);
    setMessage(`${kind} ${target.channel === undefined ? target.topic : `${target.topic}/${target.channel}`}…`);
    monitor.act(kind, target).then(
      (line) => setMessage(line),
      (err: unknown) => setMessage(`${kind} failed: ${(err as Error).message}`),
    ).finally(() => setBusy(false));
  };

  useInput((input, key) => {
    if (editingFilter) {
      if (key.return) setEditingFilter(false);
      else if (key.escape) {
        setFilter("");
        setEditingFilter(false);
      } else if (key.backspace || key.delete) setFilter((f) => f.slice(0, -1));
      else if (input && !key.ctrl && !key.meta) setFilter((f) => f + input);
      return;
    }
    if (confirm) {
      if (input === "y" || input === "Y") runAction("empty", confirm.target);
      else setMessage("empty cancelled");
      setConfirm(null);
      return;
    }
    if (input === "q" || (key.ctrl && input === "c")) {
      exit();
      return;
    }
    if (key.upArrow || input === "k") select(selected - 1);
    else if (key.downArrow || input === "j") select(selected + 1);
    else if (key.pageUp) select(selected - 10);
    else if (key.pageDown) select(selected + 10);
    else if (key.home || input === "g") select(0);
    else if (key.end || input === "G") select(rows.length - 1);
    else if (key.return || key.rightArrow || input === "l") {
      if (selectedName === undefined || level.kind === "clients") return;
      const next: Level =
        level.kind === "topics"
          ? { kind: "channels", topic: selectedName }
          : { kind: "clients", topic: level.topic, channel: selectedName };
      setLevels((l) => [...l, next]);
      setFilter("");
    } else if (key.escape || key.backspace || key.delete || key.leftArrow || input === "h") {
      if (levels.length > 1) {
        setLevels((l) => l.slice(0, -1));
        setFilter("");
      } else if (level.kind !== "topics") {
        // started deep (--topic/--channel): going up continues to the parent level
        setLevels([level.kind === "clients" ? { kind: "channels", topic: level.topic } : { kind: "topics" }]);
        setFilter("");
      }
    } else if (input === "/") {
      setEditingFilter(true);
    } else if (input === "s") {
      setSort((s) => nextSort(s));
    } else if (input === "p" || input === "e") {
      if (busy || !model) return;
      const target = targetFor(level, selectedName);
      if (!target) {
        setMessage("nothing selected");
        return;
      }
      if (input === "p") runAction(isPaused(model, target) ? "unpause" : "pause", target);
      else setConfirm({ target });
    }
  });

  // vertical budget: title, nodes, path, table header, footer = 5 lines; keep one line free so
  // ink never takes its clear-the-screen path (which flickers)
  const height = Math.max(8, termHeight - 1);
  const breakdown = model ? breakdownFor(model, level, selectedName) : null;
  const breakdownRows = breakdown
    ? Math.min(breakdown.rows.length, Math.max(1, Math.floor((height - 7) / 3)))
    : 0;
  const breakdownHeight = breakdown ? breakdownRows + 2 : 0;
  const tableHeight = Math.max(1, height - 5 - breakdownHeight);

  let footer: ReactNode;
  if (editingFilter) footer = <Text wrap="truncate">/{filter}<Text inverse> </Text>  (enter keep, esc clear)</Text>;
  else if (confirm) {
    const what = confirm.target.channel === undefined ? `topic ${confirm.target.topic}` : `channel ${confirm.target.topic}/${confirm.target.channel}`;
    footer = <Text color="yellow" bold wrap="truncate">Empty {what} on every node? All its queued messages are deleted. (y/N)</Text>;
  } else if (message) footer = <Text wrap="truncate">{message}  <Text dimColor>{HELP}</Text></Text>;
  else footer = <Text dimColor wrap="truncate">{HELP}</Text>;

  const missingText = screen?.missing
    ? `${level.kind === "clients" ? "channel" : "topic"} no longer exists (esc to go back)`
    : model ? (filter ? `nothing matches "${filter}"` : level.kind === "clients" ? "no clients connected" : level.kind === "channels" ? "no channels" : "no topics") : "waiting for the first poll…";

  return (
    <Box flexDirection="column" width={width} height={height}>
      <StatusLines model={model} intervalMs={monitor.intervalMs} sort={sort} filter={filter} width={width} />
      <Text wrap="truncate" bold>{levelPath(level)}</Text>
      {screen?.kind === "clients" ? (
        <Table columns={COLUMNS.clients} rows={screen.rows} width={width} height={tableHeight} selected={selected} emptyText={missingText} />
      ) : (
        <Table columns={level.kind === "topics" ? COLUMNS.topics : COLUMNS.channels} rows={screen?.rows ?? []} width={width} height={tableHeight} selected={selected} emptyText={missingText} />
      )}
      {breakdown ? (
        <>
          <Text wrap="truncate" color="cyan">{breakdown.title}</Text>
          <Table columns={COLUMNS.nodes} rows={breakdown.rows} width={width} height={breakdownRows} selected={-1} emptyText="" />
        </>
      ) : null}
      {footer}
    </Box>
  );
}
