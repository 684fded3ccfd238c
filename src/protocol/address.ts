/**
 * Addresses, one module for every program: "host:port" handled the way Go's net.SplitHostPort /
 * net.JoinHostPort do it (so "127.0.0.1:4160", ":4160" and "[::1]:4160" behave as for the real
 * daemons), and listen addresses that may also be unix socket paths.
 */
export interface HostPort {
  host: string;
  port: number;
}

/** Splits "host:port"; throws an Error naming the address when it is not of that form. */
export function splitHostPort(address: string): HostPort {
  let host: string;
  let portText: string;
  if (address.startsWith("[")) {
    const close = address.indexOf("]");
    if (close < 0 || address[close + 1] !== ":") throw new Error(`invalid address "${address}": missing port`);
    host = address.slice(1, close);
    portText = address.slice(close + 2);
  } else {
    const colon = address.lastIndexOf(":");
    if (colon < 0) throw new Error(`invalid address "${address}": missing port`);
    host = address.slice(0, colon);
    if (host.includes(":")) throw new Error(`invalid address "${address}": too many colons`);
    portText = address.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new Error(`invalid address "${address}": bad port "${portText}"`);
  }
  return { host, port: Number(portText) };
}

/** "host:port", bracketing IPv6 literals ("[::1]:4161"). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The host to bind: Go treats an empty host as "every interface". */
export function listenHost(host: string): string {
  return host === "" ? "0.0.0.0" : host;
}

/** A socket peer address as Go prints it: IPv4-mapped IPv6 shown as plain IPv4. */
export function peerAddress(ip: string | undefined, port: number | undefined): string {
  const plain = (ip ?? "").startsWith("::ffff:") && (ip ?? "").includes(".") ? ip!.slice(7) : (ip ?? "");
  return joinHostPort(plain, port ?? 0);
}

/**
 * Listen addresses as nsqd takes them: `host:port`, `[ipv6]:port`, `:port`, or — when the value
 * does not parse as host:port — a filesystem path for a unix socket.
 */
export type ListenAddress = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

export function parseListenAddress(value: string): ListenAddress {
  // host:port in form (a bad port number is an error, not a file name)
  if (!/^(\[[^\]]*\]|[^:]*):\d+$/.test(value)) return { kind: "unix", path: value };
  const hp = splitHostPort(value);
  return { kind: "tcp", host: listenHost(hp.host), port: hp.port };
}
