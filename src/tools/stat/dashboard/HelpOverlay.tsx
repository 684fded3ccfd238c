/** The `?` overlay: every key and what it does, in place of the tables until a key is pressed. */
import { Box, Text } from "ink";
import { KEY_HELP } from "./help.ts";

export function HelpOverlay(props: { width: number; height: number; legend: string }) {
  const keyWidth = Math.max(...KEY_HELP.map((k) => [...k.keys].length)) + 2;
  const lines = KEY_HELP.slice(0, Math.max(0, props.height - 3));
  return (
    <Box flexDirection="column" width={props.width} height={props.height}>
      <Text bold color="cyan" wrap="truncate">Keys (any key closes this help)</Text>
      {lines.map((k) => (
        <Text key={k.keys} wrap="truncate">
          <Text bold>{k.keys.padEnd(keyWidth)}</Text>{k.does}
        </Text>
      ))}
      <Text wrap="truncate" dimColor>{props.legend}</Text>
      <Text wrap="truncate" dimColor>STATE: paused, degr. (some nodes down), DOWN; clients: init, subscribed, closing</Text>
    </Box>
  );
}
