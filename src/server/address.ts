/**
 * Listen addresses as nsqd takes them: `host:port`, `[ipv6]:port`, `:port`, or — when the value
 * does not parse as host:port — a filesystem path for a unix socket.
 */
export type ListenAddress = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

export function parseListenAddress(value: string): ListenAddress {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(value);
  if (m) {
    const port = Number(m[3]);
    if (port > 65535) throw new Error(`invalid port in address "${value}"`);
    const host = m[1] ?? m[2] ?? "";
    return { kind: "tcp", host: host === "" ? "0.0.0.0" : host, port };
  }
  return { kind: "unix", path: value };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
