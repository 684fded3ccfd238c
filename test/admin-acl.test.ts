/**
 * nsq admin's access checks: --allow-config-from-cidr matching (IPv4, IPv6, IPv4-mapped peers),
 * the --admin-user / --acl-http-header rule, and the basic-auth user the notifications carry.
 */
import { describe, expect, test } from "bun:test";
import { basicAuthUser, cidrContains, isAuthorizedAdmin, parseCidr } from "../src/admin/acl.ts";
import { normalizeBasePath } from "../src/admin/options.ts";

describe("CIDR", () => {
  test("parses as net.ParseCIDR and rejects what it rejects", () => {
    expect(parseCidr("127.0.0.1/8")).toEqual({ bytes: new Uint8Array([127, 0, 0, 1]), prefix: 8 });
    expect(parseCidr("::1/128")?.prefix).toBe(128);
    for (const bad of ["127.0.0.1", "127.0.0.1/33", "256.0.0.1/8", "10.0.0/8", "::1/129", "nope/8", "1.2.3.4/x"]) {
      expect([bad, parseCidr(bad)]).toEqual([bad, null]);
    }
  });

  test("contains", () => {
    const loopback = parseCidr("127.0.0.1/8")!;
    expect(cidrContains(loopback, "127.0.0.1")).toBe(true);
    expect(cidrContains(loopback, "127.255.1.2")).toBe(true);
    expect(cidrContains(loopback, "::ffff:127.0.0.1")).toBe(true); // Bun reports IPv4 peers of a dual-stack socket this way
    expect(cidrContains(loopback, "128.0.0.1")).toBe(false);
    expect(cidrContains(loopback, "::1")).toBe(false);
    const net10 = parseCidr("10.1.0.0/16")!;
    expect(cidrContains(net10, "10.1.200.3")).toBe(true);
    expect(cidrContains(net10, "10.2.0.1")).toBe(false);
    const v6 = parseCidr("fd00::/8")!;
    expect(cidrContains(v6, "fd12:3456::1")).toBe(true);
    expect(cidrContains(v6, "fe80::1")).toBe(false);
    expect(cidrContains(parseCidr("0.0.0.0/0")!, "8.8.8.8")).toBe(true);
  });
});

describe("admin users", () => {
  test("no --admin-user: everyone may act; otherwise the header must name one", () => {
    const h = (v?: string) => new Headers(v === undefined ? {} : { "X-Forwarded-User": v });
    expect(isAuthorizedAdmin(h(), [], "X-Forwarded-User")).toBe(true);
    expect(isAuthorizedAdmin(h("bob"), ["alice"], "X-Forwarded-User")).toBe(false);
    expect(isAuthorizedAdmin(h(), ["alice"], "X-Forwarded-User")).toBe(false);
    expect(isAuthorizedAdmin(h("alice"), ["alice", "carol"], "X-Forwarded-User")).toBe(true);
    expect(isAuthorizedAdmin(new Headers({ "X-Auth": "alice" }), ["alice"], "x-auth")).toBe(true);
  });

  test("the basic-auth user of a request", () => {
    const basic = (s: string) => new Headers({ Authorization: `Basic ${Buffer.from(s).toString("base64")}` });
    expect(basicAuthUser(basic("alice:secret"))).toBe("alice");
    expect(basicAuthUser(basic("nopassword"))).toBe("");
    expect(basicAuthUser(new Headers({ Authorization: "Bearer x" }))).toBe("");
    expect(basicAuthUser(new Headers())).toBe("");
  });
});

test("--base-path is normalized as nsqadmin does (leading /, cleaned)", () => {
  expect(normalizeBasePath("")).toBe("/");
  expect(normalizeBasePath("/")).toBe("/");
  expect(normalizeBasePath("admin/")).toBe("/admin");
  expect(normalizeBasePath("/a//b/../c/.")).toBe("/a/c");
});
