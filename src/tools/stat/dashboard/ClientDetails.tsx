/**
 * Everything nsqd reports about the selected client, in the space the per-node breakdown takes on
 * the other levels: what the client columns drop on a narrow terminal is still readable here.
 */
import { Box, Text } from "ink";
import type { ClientRow } from "../model.ts";
import { clientStateName, fmtRate, tlsText } from "./columns.ts";
import { formatDuration } from "../../../util/duration.ts";

export function clientDetailLines(c: ClientRow): string[] {
  return [
    `client ${c.name} (id ${c.clientId || "-"}, ${c.remoteAddress}) on ${c.node}`,
    `state ${clientStateName(c.state)} · connected ${formatDuration(c.connectedSec * 1000)} · TLS ${c.tls ? tlsText(c) : "no"} · compression ${c.compression || "none"} · protocol ${c.version || "-"}`,
    `RDY ${c.ready} · in flight ${c.inFlight} · messages ${c.messages} · finished ${c.finished} · requeued ${c.requeued} · ${fmtRate(c.rate, 9)} msg/s`,
    `user agent ${c.userAgent || "-"}`,
  ];
}

export const CLIENT_DETAIL_LINES = 4;

export function ClientDetails(props: { client: ClientRow; width: number; height: number }) {
  const lines = clientDetailLines(props.client).slice(0, props.height);
  return (
    <Box flexDirection="column" width={props.width}>
      {lines.map((l, i) => (
        <Text key={i} wrap="truncate" color={i === 0 ? "cyan" : undefined}>{l}</Text>
      ))}
    </Box>
  );
}
