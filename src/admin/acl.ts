/**
 * Who may do what: `--admin-user` + `--acl-http-header` guard the mutating API actions (403
 * FORBIDDEN otherwise), `--allow-config-from-cidr` guards /config/:opt — as nsqadmin's
 * isAuthorizedAdminRequest and doConfig check them.
 */

/** A parsed CIDR: network bytes (4 or 16) and prefix length. */
export interface Cidr {
  bytes: Uint8Array;
  prefix: number;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  let t = text;
  let tail: Uint8Array | null = null;
  const lastColon = t.lastIndexOf(":");
  if (t.includes(".")) {
    tail = parseIpv4(t.slice(lastColon + 1));
    if (!tail) return null;
    t = t.slice(0, lastColon + 1) + "0:0";
  }
  const halves = t.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = all[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** An IP as 4 bytes (IPv4 and IPv4-mapped IPv6) or 16 bytes; null when it is not an IP. */
export function parseIp(text: string): Uint8Array | null {
  const v4 = parseIpv4(text);
  if (v4) return v4;
  const v6 = parseIpv6(text);
  if (!v6) return null;
  const mapped = v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? v6.slice(12) : v6;
}

/** net.ParseCIDR: "a.b.c.d/n" or "v6/n"; null when malformed. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  if (slash < 0) return null;
  const ip = text.includes(":") ? parseIpv6(text.slice(0, slash)) : parseIpv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^\d+$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  if (prefix > ip.length * 8) return null;
  return { bytes: ip, prefix };
}

export function cidrContains(cidr: Cidr, ipText: string): boolean {
  const ip = parseIp(ipText);
  if (!ip || ip.length !== cidr.bytes.length) return false;
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const mask = 0x80 >> bit % 8;
    if ((ip[bit >> 3]! & mask) !== (cidr.bytes[bit >> 3]! & mask)) return false;
  }
  return true;
}

/** True when no admin users are configured, or the ACL header names one of them. */
export function isAuthorizedAdmin(headers: Headers, adminUsers: readonly string[], aclHttpHeader: string): boolean {
  if (adminUsers.length === 0) return true;
  const user = headers.get(aclHttpHeader) ?? "";
  return adminUsers.includes(user);
}

/** The user name of an HTTP basic-auth header ("" when absent), as the notifications carry it. */
export function basicAuthUser(headers: Headers): string {
  const [scheme, encoded] = (headers.get("authorization") ?? "").split(" ", 2);
  if (scheme !== "Basic" || !encoded) return "";
  let decoded: string;
  try {
    decoded = Buffer.from(encoded, "base64").toString("utf8");
  } catch {
    return "";
  }
  const colon = decoded.indexOf(":");
  return colon < 0 ? "" : decoded.slice(0, colon);
}
