/**
 * The live cluster dashboard: topics → channels → clients with a per-node breakdown of the
 * selection. Keys: ↑/↓ j/k move, enter drills down, esc/backspace goes up, p pause/unpause,
 * e empty (confirm), / filter, s sort, q quit (keys.ts decides what each does).
 */
import { useEffect, useRef, useState, type ReactNode } from "react";
import { Box, Text, useApp, useInput, useStdout } from "ink";
import type { ClusterModel } from "../model.ts";
import type { MonitorHandle } from "../monitor.ts";
import type { ActionKind, ActionTarget } from "../actions.ts";
import { Table } from "./Table.tsx";
import { StatusLines } from "./StatusLines.tsx";
import { clientColumns, statColumns } from "./columns.ts";
import { breakdownFor, buildScreen, levelPath, type Level } from "./view.ts";
import { currentLevel, handleKey, initialUi, selectedIndex, type UiState } from "./keys.ts";

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
    const onResize = () => setSize(read());
    stdout.on("resize", onResize);
    return () => void stdout.off("resize", onResize);
  }, [stdout, fixedWidth, fixedHeight]);
  return size;
}

const HELP = "↑↓/jk move  ⏎ open  esc back  p pause  e empty  / filter  s sort  q quit";
const COLUMNS = {
  topics: statColumns("topics"),
  channels: statColumns("channels"),
  nodes: statColumns("nodes"),
  clients: clientColumns(),
};

function describeTarget(t: ActionTarget): string {
  return t.channel === undefined ? `topic ${t.topic}` : `channel ${t.topic}/${t.channel}`;
}

export function App(props: AppProps) {
  const { monitor } = props;
  const { exit } = useApp();
  const { width, height: termHeight } = useTerminalSize(props.width, props.height);
  const [model, setModel] = useState<ClusterModel | null>(monitor.latest);
  const modelRef = useRef(model);
  const uiRef = useRef<UiState>(initialUi(props.initialLevels));
  const [ui, setUi] = useState<UiState>(uiRef.current);
  const busy = useRef(false);

  useEffect(
    () =>
      monitor.subscribe((m) => {
        modelRef.current = m;
        setModel(m);
      }),
    [monitor],
  );

  const update = (next: UiState) => {
    uiRef.current = next;
    setUi(next);
  };
  const say = (message: string) => update({ ...uiRef.current, message });

  const runAction = (action: ActionKind, target: ActionTarget) => {
    if (busy.current) {
      say("an action is still running");
      return;
    }
    busy.current = true;
    say(`${action} ${describeTarget(target)}…`);
    monitor.act(action, target).then(
      (line) => say(line),
      (err: unknown) => say(`${action} failed: ${(err as Error).message}`),
    ).finally(() => {
      busy.current = false;
    });
  };

  useInput((input, key) => {
    const { ui: next, effect } = handleKey(uiRef.current, modelRef.current, input, key);
    if (next !== uiRef.current) update(next);
    if (effect?.kind === "exit") exit();
    else if (effect?.kind === "action") runAction(effect.action, effect.target);
  });

  const level = currentLevel(ui);
  const screen = model ? buildScreen(model, level, ui.filter, ui.sort) : null;
  const rows: ReadonlyArray<{ key: string; name: string }> = screen ? screen.rows : [];
  const selected = selectedIndex(ui, rows);
  const selectedName = selected >= 0 ? rows[selected]!.name : undefined;

  // Vertical budget: title, nodes, path, table header and footer take 5 lines. One terminal line
  // stays free: an app as tall as the terminal makes ink clear the whole screen on every frame.
  const height = Math.max(8, termHeight - 1);
  const breakdown = model ? breakdownFor(model, level, selectedName) : null;
  const breakdownRows = breakdown ? Math.min(breakdown.rows.length, Math.max(1, Math.floor((height - 7) / 3))) : 0;
  const breakdownHeight = breakdown ? breakdownRows + 2 : 0;
  const tableHeight = Math.max(1, height - 5 - breakdownHeight);

  let footer: ReactNode;
  if (ui.editingFilter) {
    footer = <Text wrap="truncate">/{ui.filter}<Text inverse> </Text>  (enter keep, esc clear)</Text>;
  } else if (ui.confirm) {
    footer = (
      <Text color="yellow" bold wrap="truncate">
        Empty {describeTarget(ui.confirm)} on every node? Its queued messages are deleted. (y/N)
      </Text>
    );
  } else if (ui.message) {
    footer = <Text wrap="truncate">{ui.message}  <Text dimColor>{HELP}</Text></Text>;
  } else {
    footer = <Text dimColor wrap="truncate">{HELP}</Text>;
  }

  const emptyText = !model
    ? "waiting for the first poll…"
    : screen?.missing
      ? `${level.kind === "clients" ? "channel" : "topic"} not found on any node (esc to go back)`
      : ui.filter
        ? `nothing matches "${ui.filter}"`
        : level.kind === "clients" ? "no clients connected" : level.kind === "channels" ? "no channels" : "no topics";

  return (
    <Box flexDirection="column" width={width} height={height}>
      <StatusLines model={model} intervalMs={monitor.intervalMs} sort={ui.sort} filter={ui.filter} />
      <Text wrap="truncate" bold>{levelPath(level)}</Text>
      {/* columns follow the level, not the screen: before the first poll there is no screen yet */}
      {level.kind === "clients" ? (
        <Table
          columns={COLUMNS.clients}
          rows={screen?.kind === "clients" ? screen.rows : []}
          width={width}
          height={tableHeight}
          selected={selected}
          emptyText={emptyText}
        />
      ) : (
        <Table
          columns={level.kind === "topics" ? COLUMNS.topics : COLUMNS.channels}
          rows={screen?.kind === "stat" ? screen.rows : []}
          width={width}
          height={tableHeight}
          selected={selected}
          emptyText={emptyText}
        />
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
