/**
 * Listener addresses as Go's `listener.Addr()` prints them in nsqd's and nsqlookupd's
 * `TCP: listening on …` / `TCP: closing …` lines.
 */
import { joinHostPort } from "./address.ts";

/**
 * A bound listener's address as Go's `listener.Addr()` prints it: a wildcard host is Go's
 * dual-stack `[::]` (nsqd's default 0.0.0.0:4150 logs `[::]:4150`), `localhost` its resolved
 * 127.0.0.1.
 */
export function goListenerAddress(host: string, port: number): string {
  const h = host.replace(/^\[|\]$/g, "");
  if (h === "" || h === "0.0.0.0" || h === "::") return `[::]:${port}`;
  if (h === "localhost") return `127.0.0.1:${port}`;
  return joinHostPort(h, port);
}

/** goListenerAddress of a `host:port` text (a unix socket path is printed as is). */
export function goListenerAddressText(address: string): string {
  if (address.includes("/")) return address;
  const colon = address.lastIndexOf(":");
  if (colon < 0) return address;
  const port = Number(address.slice(colon + 1));
  return Number.isInteger(port) ? goListenerAddress(address.slice(0, colon), port) : address;
}
