/**
 * A fixed-height table: header line, a window of rows that scrolls to keep the selection visible,
 * and blank filler lines so the screen height never changes between refreshes (no jumping).
 */
import type { ReactNode } from "react";
import { Box, Text } from "ink";
import { layoutColumns, renderHeader, renderRow, type Column, type SortMark } from "./columns.ts";

export interface TableProps<R extends { key: string; up?: boolean; paused?: boolean }> {
  columns: Column<R>[];
  rows: R[];
  width: number;
  /** lines for rows (the header is extra) */
  height: number;
  /** index of the highlighted row, -1 for none */
  selected: number;
  /** shown instead of rows when there are none */
  emptyText: string;
  /** the sorted column, marked with its direction on the header */
  sortMark?: SortMark;
}

/** First row index of the visible window so that `selected` is inside it. */
export function scrollOffset(selected: number, count: number, height: number): number {
  if (count <= height || selected < 0) return 0;
  const ideal = selected - Math.floor(height / 2);
  return Math.max(0, Math.min(ideal, count - height));
}

export function Table<R extends { key: string; up?: boolean; paused?: boolean }>(props: TableProps<R>) {
  const { columns, rows, width, height, selected, emptyText, sortMark } = props;
  const layout = layoutColumns(columns, width);
  const offset = scrollOffset(selected, rows.length, height);
  // only the visible window is formatted and rendered: 10,000 rows cost what a screenful costs
  const visible = rows.slice(offset, offset + height);
  const lines: ReactNode[] = visible.map((row, i) => {
    const index = offset + i;
    const text = renderRow(layout, row);
    const color = row.up === false ? "red" : row.paused ? "yellow" : undefined;
    return (
      <Text key={row.key} wrap="truncate" inverse={index === selected} color={color}>
        {text}
      </Text>
    );
  });
  if (rows.length === 0 && height > 0) {
    lines.push(<Text key="empty" dimColor wrap="truncate">{emptyText}</Text>);
  }
  for (let i = lines.length; i < height; i++) lines.push(<Text key={`fill${i}`}> </Text>);
  const more = rows.length > height ? ` ${offset + 1}-${offset + visible.length}/${rows.length}` : "";
  const header = renderHeader(layout, sortMark);
  return (
    <Box flexDirection="column" width={width}>
      <Text bold wrap="truncate">
        {more ? header.slice(0, Math.max(0, width - more.length)).padEnd(width - more.length) + more : header}
      </Text>
      {lines}
    </Box>
  );
}
