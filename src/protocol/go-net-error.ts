/**
 * Socket errors as Go's net package words them (`dial tcp 127.0.0.1:4160: connect: connection
 * refused`, `read tcp L->R: i/o timeout`, `EOF`), for log lines that must read as nsqd's.
 */
import { joinHostPort, peerAddress } from "./address.ts";

/** strerror texts as Go prints them, for the errno codes a connection can meet. */
const ERRNO_TEXT: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network is unreachable",
  EADDRNOTAVAIL: "cannot assign requested address",
  EACCES: "permission denied",
  EPIPE: "broken pipe",
  ETIMEDOUT: "i/o timeout",
};

function errno(err: unknown): string {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" ? err.code : "";
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A failed net.DialTimeout("tcp", host:port): `dial tcp <ip:port>: connect: <strerror>`. */
export function goDialError(host: string, port: number, err: unknown): string {
  const code = errno(err);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return `dial tcp: lookup ${host}: no such host`;
  const e = err as { address?: unknown; port?: unknown };
  const where = typeof e.address === "string" ? peerAddress(e.address, typeof e.port === "number" ? e.port : port) : joinHostPort(host, port);
  if (code === "ETIMEDOUT") return `dial tcp ${where}: i/o timeout`;
  const text = ERRNO_TEXT[code];
  return text !== undefined ? `dial tcp ${where}: connect: ${text}` : `dial tcp ${where}: ${message(err)}`;
}

/** The dial deadline passed (Go's DialTimeout): `dial tcp <host:port>: i/o timeout`. */
export function goDialTimeout(host: string, port: number): string {
  return `dial tcp ${joinHostPort(host, port)}: i/o timeout`;
}

/** A connected socket's `L->R` pair, as Go prints a *net.OpError's addresses; take it while connected. */
export function socketEnds(socket: { localAddress?: string; localPort?: number; remoteAddress?: string; remotePort?: number }): string {
  return `${peerAddress(socket.localAddress, socket.localPort)}->${peerAddress(socket.remoteAddress, socket.remotePort)}`;
}

/** A read deadline that passed: `read tcp L->R: i/o timeout`. */
export function goReadTimeout(ends: string): string {
  return `read tcp ${ends}: i/o timeout`;
}

/** A socket error on an open connection: `read tcp L->R: connection reset by peer`, … */
export function goConnError(ends: string, err: unknown): string {
  const code = errno(err);
  const text = ERRNO_TEXT[code];
  if (text === undefined) return message(err);
  return `${code === "EPIPE" ? "write" : "read"} tcp ${ends}: ${text}`;
}
