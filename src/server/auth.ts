/**
 * AUTH against the configured auth servers (spec §1.12).
 *
 * AUTH sends the client's secret to an auth server (random start, each tried once); the reply
 * lists what the identity may do and for how long. The result is kept per client until
 * `now + ttl`; the first permission check after that asks the server again with the same
 * secret. Details of auth-server failures are logged, never sent to the client (as nsqd).
 */
import { ProtocolError } from "../protocol/errors.ts";
import { goQuoteLatin1 } from "../protocol/go-quote.ts";
import type { ClientV2 } from "./client.ts";
import type { NsqdOptions } from "./options.ts";
import type { Logger } from "../util/logger.ts";
import { clientTlsDetails } from "./transport-upgrade.ts";
import { outgoingCa } from "./tls-options.ts";

/** One entry of the auth server's `authorizations`, regexes compiled. */
export interface Authorization {
  topic: RegExp;
  channels: RegExp[];
  subscribe: boolean;
  publish: boolean;
}

/** A validated auth server reply. */
export interface AuthReply {
  ttlSeconds: number;
  identity: string;
  identityUrl: string;
  authorizations: Authorization[];
}

interface ClientAuthState {
  secret: string;
  reply: AuthReply;
  /** ms timestamp after which the server must be asked again */
  expiresAt: number;
}

/** What the auth server is told about the connection. */
export interface AuthQuery {
  remoteIp: string;
  tls: boolean;
  commonName: string;
  secret: string;
}

export const AUTH_ACCEPT_HEADER = "application/vnd.nsq; version=1.0";

/** Go's url.QueryEscape: unreserved bytes kept, space as '+', everything else %XX. */
function queryEscape(s: string): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (byte === 0x20) out += "+";
    else out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** The request URL: `host:port` → `http://host:port/auth`, a URL as-is; keys sorted as Go encodes them. */
export function authEndpoint(address: string, q: AuthQuery): string {
  const base = address.includes("://") ? address : `http://${address}/auth`;
  const params: [string, string][] = [
    ["common_name", q.commonName],
    ["remote_ip", q.remoteIp],
    ["secret", q.secret],
    ["tls", q.tls ? "true" : "false"],
  ];
  return `${base}?${params.map(([k, v]) => `${k}=${queryEscape(v)}`).join("&")}`;
}

/**
 * Compiles an auth server regex (Go RE2 syntax) as an unanchored JS RegExp. A leading flag
 * group such as `(?i)` becomes JS flags; `\A` / `\z` become `^` / `$`.
 */
export function compileAuthRegex(source: string): RegExp {
  let pattern = source;
  let flags = "";
  const m = /^\(\?([imsU]+)\)/.exec(pattern);
  if (m !== null) {
    pattern = pattern.slice(m[0].length);
    for (const f of m[1]!) if (f !== "U" && !flags.includes(f)) flags += f;
  }
  pattern = pattern.replace(/\\A/g, "^").replace(/\\z/g, "$");
  return new RegExp(pattern, flags);
}

function fieldString(obj: Record<string, unknown>, key: string): string {
  const v = obj[key];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new Error(`invalid ${key} in auth response`);
  return v;
}

/** Validates a decoded auth server reply as nsqd does. */
export function parseAuthReply(body: unknown): AuthReply {
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw new Error("auth response is not a JSON object");
  const obj = body as Record<string, unknown>;
  const ttl = obj.ttl ?? 0;
  if (typeof ttl !== "number" || !Number.isInteger(ttl)) throw new Error("invalid ttl in auth response");
  const list = obj.authorizations ?? [];
  if (!Array.isArray(list)) throw new Error("invalid authorizations in auth response");
  const authorizations: Authorization[] = list.map((entry: unknown) => {
    if (entry === null || typeof entry !== "object") throw new Error("invalid authorization in auth response");
    const e = entry as Record<string, unknown>;
    const perms = e.permissions ?? [];
    const chans = e.channels ?? [];
    if (!Array.isArray(perms) || !Array.isArray(chans)) throw new Error("invalid authorization in auth response");
    let subscribe = false;
    let publish = false;
    for (const p of perms) {
      if (p === "subscribe") subscribe = true;
      else if (p === "publish") publish = true;
      else throw new Error(`unknown permission ${String(p)}`);
    }
    const topicSrc = fieldString(e, "topic");
    let topic: RegExp;
    try {
      topic = compileAuthRegex(topicSrc);
    } catch (err) {
      throw new Error(`unable to compile topic ${JSON.stringify(topicSrc)} ${errorText(err)}`);
    }
    const channels = chans.map((c: unknown) => {
      if (typeof c !== "string") throw new Error("invalid channel in auth response");
      try {
        return compileAuthRegex(c);
      } catch (err) {
        throw new Error(`unable to compile channel ${JSON.stringify(c)} ${errorText(err)}`);
      }
    });
    return { topic, channels, subscribe, publish };
  });
  if (ttl <= 0) throw new Error(`invalid TTL ${ttl} (must be >0)`);
  return {
    ttlSeconds: ttl,
    identity: fieldString(obj, "identity"),
    identityUrl: fieldString(obj, "identity_url"),
    authorizations,
  };
}

/** Whether the reply allows SUB on (topic, channel), or a publish when channel is "". */
export function isAllowed(reply: AuthReply, topic: string, channel: string): boolean {
  const subscribing = channel !== "";
  for (const a of reply.authorizations) {
    if (subscribing ? !a.subscribe : !a.publish) continue;
    if (!a.topic.test(topic)) continue;
    // a publish must match "" with one of the channel regexes (so `.*` works, `^x$` does not)
    for (const c of a.channels) if (c.test(channel)) return true;
  }
  return false;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The IP part of "ip:port" / "[v6]:port"; "" for unix-socket clients. */
function remoteIp(remoteAddress: string): string {
  const m = /^\[?([^\]]*?)\]?:\d+$/.exec(remoteAddress);
  return m === null ? "" : m[1]!;
}

export class AuthManager {
  private readonly states = new WeakMap<ClientV2, ClientAuthState>();

  constructor(
    private readonly options: NsqdOptions,
    private readonly logger: Logger,
  ) {}

  /** One GET to one auth server; throws with the reason on any failure. */
  private async queryOne(address: string, q: AuthQuery): Promise<AuthReply> {
    const url = authEndpoint(address, q);
    const ca = url.startsWith("https:") ? outgoingCa(this.options) : undefined;
    const signal = AbortSignal.timeout(Math.max(1, this.options.httpClientRequestTimeout));
    const res = await fetch(url, {
      method: "GET",
      headers: { Accept: AUTH_ACCEPT_HEADER },
      signal,
      ...(ca !== undefined ? { tls: { ca } } : {}),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`got response ${res.status} ${JSON.stringify(text)}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error("auth response is not JSON");
    }
    return parseAuthReply(body);
  }

  /** Tries each configured server once from a random start; the last error if all fail. */
  async query(q: AuthQuery): Promise<AuthReply> {
    const servers = this.options.authHttpAddresses;
    const start = Math.floor(Math.random() * servers.length);
    let lastErr: unknown = new Error("no auth servers configured");
    for (let i = 0; i < servers.length; i++) {
      const address = servers[(start + i) % servers.length]!;
      try {
        return await this.queryOne(address, q);
      } catch (err) {
        this.logger.warn(`failed to auth against ${address} - ${errorText(err)}`);
        lastErr = err;
      }
    }
    throw lastErr;
  }

  private queryFor(client: ClientV2, secret: string): Promise<AuthReply> {
    return this.query({
      remoteIp: remoteIp(client.remoteAddress),
      tls: client.tls,
      commonName: clientTlsDetails(client).commonName,
      secret,
    });
  }

  private store(client: ClientV2, secret: string, reply: AuthReply): void {
    this.states.set(client, { secret, reply, expiresAt: Date.now() + reply.ttlSeconds * 1000 });
    client.authIdentity = reply.identity;
    client.authIdentityUrl = reply.identityUrl;
  }

  /**
   * The AUTH command: queries the auth server with the client's secret. Resolves with the JSON
   * text of the reply frame; rejects with a ProtocolError (E_AUTH_FAILED, E_UNAUTHORIZED…).
   */
  async authenticate(client: ClientV2, secret: string): Promise<string> {
    const reply = await this.queryAndStore(client, secret);
    if (reply.authorizations.length === 0) {
      throw new ProtocolError("E_UNAUTHORIZED", "AUTH no authorizations found");
    }
    return JSON.stringify({
      identity: reply.identity,
      identity_url: reply.identityUrl,
      permission_count: reply.authorizations.length,
    });
  }

  /**
   * SUB/PUB/MPUB/DPUB permission check (channel "" for publishes). Returns when allowed, throws
   * a ProtocolError when not, or returns a Promise when the cached authorization has expired
   * and the server must be asked again (the connection waits for it, then retries the check).
   */
  check(client: ClientV2, cmd: string, topic: string, channel: string): void | Promise<void> {
    const state = this.states.get(client);
    if (state === undefined || state.reply.authorizations.length === 0) {
      throw new ProtocolError("E_AUTH_FIRST", `AUTH required before ${cmd}`);
    }
    if (Date.now() >= state.expiresAt) return this.refreshAndCheck(client, state.secret, cmd, topic, channel);
    if (!isAllowed(state.reply, topic, channel)) throw unauthorized(cmd, topic, channel);
  }

  /** Asks the auth server and keeps its answer; a failed query is E_AUTH_FAILED (logged at WARN). */
  private async queryAndStore(client: ClientV2, secret: string): Promise<AuthReply> {
    let reply: AuthReply;
    try {
      reply = await this.queryFor(client, secret);
    } catch (err) {
      this.logger.warn(`PROTOCOL(V2): [${client.remoteAddress}] AUTH failed ${errorText(err)}`);
      throw new ProtocolError("E_AUTH_FAILED", "AUTH failed");
    }
    this.store(client, secret, reply);
    return reply;
  }

  private async refreshAndCheck(client: ClientV2, secret: string, cmd: string, topic: string, channel: string): Promise<void> {
    const reply = await this.queryAndStore(client, secret);
    if (!isAllowed(reply, topic, channel)) throw unauthorized(cmd, topic, channel);
  }
}

/** nsqd formats the names with Go's %q. */
function unauthorized(cmd: string, topic: string, channel: string): ProtocolError {
  return new ProtocolError("E_UNAUTHORIZED", `AUTH failed for ${cmd} on ${goQuoteLatin1(topic)} ${goQuoteLatin1(channel)}`);
}
