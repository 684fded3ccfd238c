/** `host:port` parsing for the producer, consumer and tools: the shared Go-style rules, stricter. */
import { splitHostPort, joinHostPort, type HostPort } from "../protocol/address.ts";
import { ConfigError } from "./errors.ts";

export { joinHostPort, type HostPort };

/** Accepts `host:port` and `[v6addr]:port` with a host and a port of 1..65535; throws ConfigError naming the bad address. */
export function parseHostPort(address: string): HostPort {
  const text = address.trim();
  let hp: HostPort;
  try {
    hp = splitHostPort(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : "";
    const why = /too many colons/.test(message)
      ? "put IPv6 hosts in brackets"
      : /bad port/.test(message)
        ? message.slice(message.indexOf("bad port"))
        : "expected host:port";
    throw new ConfigError(`invalid address "${address}": ${why}`);
  }
  if (hp.host === "") throw new ConfigError(`invalid address "${address}": expected host:port`);
  if (hp.port < 1) throw new ConfigError(`invalid address "${address}": bad port "${hp.port}"`);
  return hp;
}
