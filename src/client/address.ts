/** `host:port` parsing shared by the producer, consumer and tools. */
import { ConfigError } from "./errors.ts";

export interface HostPort {
  host: string;
  port: number;
}

/** Accepts `host:port` and `[v6addr]:port`; throws ConfigError naming the bad address. */
export function parseHostPort(address: string): HostPort {
  const text = address.trim();
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") throw new ConfigError(`invalid address "${address}": expected host:port`);
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon <= 0) throw new ConfigError(`invalid address "${address}": expected host:port`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) throw new ConfigError(`invalid address "${address}": put IPv6 hosts in brackets`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new ConfigError(`invalid address "${address}": bad port "${portText}"`);
  }
  return { host, port: Number(portText) };
}

/** The canonical `host:port` text (brackets for IPv6), used as a connection identity key. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
