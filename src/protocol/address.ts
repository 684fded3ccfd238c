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
 * Listen addresses as nsqd takes them: `host:port`, `[ipv6]:port`, `:port`, or a unix socket path.
 * nsqd (util.TypeOfAddr) treats anything net.SplitHostPort rejects as a path, so a typo such as
 * `127.0.0.1;4150` or `localhost` silently became a socket file; here only a value that is clearly
 * a path (it contains a `/`, e.g. `/var/run/nsqd.sock` or `./nsqd.sock`) is one, and every other
 * value must be a valid host:port (port 0-65535; 0 picks a free port).
 */
export type ListenAddress = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

export function parseListenAddress(value: string): ListenAddress {
  if (value.includes("/")) return { kind: "unix", path: value };
  let hp: HostPort;
  try {
    hp = splitHostPort(value);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`${why} (want <host>:<port>, or a unix socket path containing "/")`);
  }
  return { kind: "tcp", host: listenHost(hp.host), port: hp.port };
}

/**
 * What an address flag holds, so every program checks its addresses the same way before it starts:
 * - `listen-or-unix`: nsqd's --tcp-address / --http-address (host:port, port 0-65535, or a socket path)
 * - `listen`: a TCP listener only (nsqd's --https-address, nsqlookupd's listeners); port 0-65535
 * - `connect`: a peer to dial (host may be empty = this machine, as Go dials it); port 1-65535
 * - `client`: a peer the tools dial; host required, port 1-65535
 * - `http`: a peer's HTTP API: `client` form or an `http(s)://` URL
 */
export type AddressKind = "listen-or-unix" | "listen" | "connect" | "client" | "http";

/** Why `value` is not a valid address of `kind` (one line), or null when it is. */
export function addressProblem(kind: AddressKind, value: string): string | null {
  try {
    switch (kind) {
      case "listen-or-unix":
        parseListenAddress(value);
        return null;
      case "http":
        if (/^https?:\/\//i.test(value)) return urlProblem(value);
        return addressProblem("client", value);
      default: {
        const hp = splitHostPort(value);
        if (kind === "listen") return null;
        if (kind === "client" && hp.host === "") return `invalid address "${value}": missing host`;
        if (hp.port === 0) return `invalid address "${value}": bad port "0"`;
        return null;
      }
    }
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function urlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `invalid URL "${value}"`;
  }
  return url.hostname === "" ? `invalid URL "${value}": missing host` : null;
}

/** strerror texts as Go prints them in a failed bind, for the errno codes a listen can meet. */
const BIND_ERRORS: Record<string, string> = {
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "cannot assign requested address",
  EACCES: "permission denied",
  ENOENT: "no such file or directory",
  ENOTDIR: "not a directory",
  EROFS: "read-only file system",
};

/**
 * A failed listen as Go's net.Listen reports it, e.g. `listen tcp 127.0.0.1:4151: bind: address
 * already in use` (nsqd prefixes `listen (<address>) failed - `), whichever of node:net and
 * Bun.serve produced the error; unknown failures keep the runtime's own text.
 */
export function goListenError(target: ListenAddress, err: unknown): string {
  const network = target.kind === "tcp" ? "tcp" : "unix";
  const where = target.kind === "tcp" ? joinHostPort(target.host, target.port) : target.path;
  const code = typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" ? err.code : "";
  const text = BIND_ERRORS[code];
  if (text !== undefined) return `listen ${network} ${where}: bind: ${text}`;
  if (target.kind === "tcp" && (code === "EINVAL" || code === "ENOTFOUND")) return `listen tcp: lookup ${target.host}: no such host`;
  return `listen ${network} ${where}: ${err instanceof Error ? err.message : String(err)}`;
}
