/**
 * The live cluster dashboard: topics → channels → clients with a per-node breakdown of the
 * selection (the selected client's details on the clients level). help.ts lists the keys,
 * keys.ts decides what each does; this component only draws and runs the effects.
 */
import { useEffect, useRef, useState } from "react";
import { Box, Text, useApp, useInput, useStdout } from "ink";
import type { ClusterModel } from "../model.ts";
import type { MonitorHandle } from "../monitor.ts";
import type { ActionKind, ActionTarget } from "../actions.ts";
import { DEFAULT_HISTORY_LENGTH } from "../rates.ts";
import { Table } from "./Table.tsx";
import { StatusLines } from "./StatusLines.tsx";
import { Footer, describeTarget } from "./Footer.tsx";
import { HelpOverlay } from "./HelpOverlay.tsx";
import { ClientDetails, CLIENT_DETAIL_LINES } from "./ClientDetails.tsx";
import { clientColumns, statColumns } from "./columns.ts";
import { breakdownFor, buildScreen, levelPath, type Level } from "./view.ts";
import { effectiveSort, sortArrow, sortColumn } from "./sort.ts";
import { trendLegend } from "./help.ts";
import { withMessage } from "./prompts.ts";
import { currentLevel, handleKey, initialUi, selectedIndex, type UiState } from "./keys.ts";

export interface AppProps {
  monitor: MonitorHandle;
  /** where navigation starts (e.g. --topic / --channel given) */
  initialLevels?: Level[];
  /** fixed size (tests); otherwise the terminal's, following resizes */
  width?: number;
  height?: number;
  /** how long a footer message stays (default 5 s) */
  messageTtlMs?: number;
}

/** How long a footer message stays before the key list comes back. */
export const MESSAGE_TTL_MS = 5000;

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
  const say = (message: string) => update(withMessage(uiRef.current, message));

  // a message stays a few seconds; a newer one restarts the clock, input prompts are unaffected
  const ttl = props.messageTtlMs ?? MESSAGE_TTL_MS;
  useEffect(() => {
    if (!ui.message) return;
    const id = ui.messageId;
    const timer = setTimeout(() => {
      if (uiRef.current.messageId === id && uiRef.current.message) update({ ...uiRef.current, message: "" });
    }, ttl);
    return () => clearTimeout(timer);
  }, [ui.messageId, ui.message, ttl]);

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

  const level = currentLevel(ui);
  const screen = model ? buildScreen(model, level, ui.filter, ui.sort) : null;
  const rows: ReadonlyArray<{ key: string; name: string }> = screen ? screen.rows : [];
  const selected = selectedIndex(ui, rows);
  const selectedName = selected >= 0 ? rows[selected]!.name : undefined;
  const selectedClient = screen?.kind === "clients" && selected >= 0 ? screen.rows[selected] : undefined;

  // Vertical budget: title, nodes, path, table header and footer take 5 lines. One terminal line
  // stays free: an app as tall as the terminal makes ink clear the whole screen on every frame.
  const height = Math.max(8, termHeight - 1);
  const breakdown = model && !selectedClient ? breakdownFor(model, level, selectedName) : null;
  const detailRows = breakdown
    ? Math.min(breakdown.rows.length, Math.max(1, Math.floor((height - 7) / 3)))
    : selectedClient ? Math.min(CLIENT_DETAIL_LINES, Math.max(1, height - 9)) : 0;
  const detailHeight = breakdown ? detailRows + 2 : selectedClient ? detailRows : 0;
  const tableHeight = Math.max(1, height - 5 - detailHeight);

  useInput((input, key) => {
    const { ui: next, effect } = handleKey(uiRef.current, modelRef.current, input, key, tableHeight);
    if (next !== uiRef.current) update(next);
    if (effect?.kind === "exit") exit();
    else if (effect?.kind === "action") runAction(effect.action, effect.target);
  });

  const emptyText = !model
    ? "waiting for the first poll…"
    : screen?.missing
      ? `${level.kind === "clients" ? "channel" : "topic"} not found on any node (esc to go back)`
      : ui.filter
        ? `nothing matches "${ui.filter}"`
        : level.kind === "clients" ? "no clients connected" : level.kind === "channels" ? "no channels (n creates one)" : "no topics (n creates one)";
  const table = level.kind === "clients" ? "clients" : "stat";
  const sort = effectiveSort(table, ui.sort);
  const sortMark = { column: sortColumn(table, sort), arrow: sortArrow(sort) };
  const legend = trendLegend(level.kind, monitor.historyLength ?? DEFAULT_HISTORY_LENGTH);
  const path = levelPath(level);
  const pathGap = Math.max(2, width - [...path].length - [...legend].length);

  return (
    <Box flexDirection="column" width={width} height={height}>
      <StatusLines model={model} intervalMs={monitor.intervalMs} sort={sort} filter={ui.filter} />
      <Text wrap="truncate"><Text bold>{path}</Text>{" ".repeat(pathGap)}<Text dimColor>{legend}</Text></Text>
      {ui.help ? (
        <HelpOverlay width={width} height={height - 4} legend={legend} />
      ) : (
        <>
          {/* columns follow the level, not the screen: before the first poll there is no screen yet */}
          {level.kind === "clients" ? (
            <Table
              columns={COLUMNS.clients}
              rows={screen?.kind === "clients" ? screen.rows : []}
              width={width}
              height={tableHeight}
              selected={selected}
              emptyText={emptyText}
              sortMark={sortMark}
            />
          ) : (
            <Table
              columns={level.kind === "topics" ? COLUMNS.topics : COLUMNS.channels}
              rows={screen?.kind === "stat" ? screen.rows : []}
              width={width}
              height={tableHeight}
              selected={selected}
              emptyText={emptyText}
              sortMark={sortMark}
            />
          )}
          {breakdown ? (
            <>
              <Text wrap="truncate" color="cyan">{breakdown.title}</Text>
              <Table columns={COLUMNS.nodes} rows={breakdown.rows} width={width} height={detailRows} selected={-1} emptyText="" />
            </>
          ) : selectedClient ? (
            <ClientDetails client={selectedClient} width={width} height={detailRows} />
          ) : null}
        </>
      )}
      <Footer ui={ui} model={model} lookupds={monitor.lookupdCount ?? 0} />
    </Box>
  );
}
