/**
 * Every key of the dashboard, once: the `?` overlay lists them, the footer shows the short form.
 * keys.ts implements them; a test checks each listed key does what it says.
 */

export interface KeyHelp {
  keys: string;
  does: string;
}

export const KEY_HELP: readonly KeyHelp[] = [
  { keys: "↑ ↓  j k", does: "move the selection" },
  { keys: "PgUp PgDn", does: "move a page" },
  { keys: "Home End  g G", does: "first / last row" },
  { keys: "⏎ →  l", does: "open: topic → channels → clients" },
  { keys: "esc ← ⌫  h", does: "back up a level" },
  { keys: "/", does: "filter by name (⏎ keep, esc clear)" },
  { keys: "s", does: "sort by the next column (▲ ascending, ▼ descending)" },
  { keys: "S", does: "reverse the sort direction" },
  { keys: "p", does: "pause / unpause the selected topic or channel on every node" },
  { keys: "e", does: "empty the selected topic or channel (asks to confirm)" },
  { keys: "n", does: "new topic (topics) or channel (in a topic): name, then confirm" },
  { keys: "d", does: "delete the selected topic or channel (asks to confirm)" },
  { keys: "?", does: "this help (any key closes it)" },
  { keys: "q  ctrl-c", does: "quit" },
];

/** Fits 80 columns; moving and opening are in the help (and what anyone tries first). */
export const FOOTER_HELP = "? help  / filter  s/S sort  p pause  e empty  n new  d delete  q quit";

/** What the TREND column draws, for the legend line. */
export function trendLegend(level: "topics" | "channels" | "clients", historyLength: number): string {
  const what = level === "clients" ? "messages/s sent to the client" : "messages in/s";
  return `TREND: ${what}, last ${historyLength} polls, ▁ none … █ the row's peak`;
}
