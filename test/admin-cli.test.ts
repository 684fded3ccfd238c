/**
 * `nsq admin` as a command: nsqadmin's start-up checks (exit 2 with one line), --version, a TOML
 * config with nsqadmin's keys, SIGTERM, and the README documenting every flag.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_FLAGS } from "../src/admin/options.ts";
import { ProcessGroup, runNsq, type RunResult } from "./helpers/nsq-process.ts";

const group = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), "nsq-admin-cli-"));

afterAll(() => {
  group.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[]): Promise<RunResult> => runNsq(args);

test("nsqadmin's start-up checks are usage errors (exit 2, one line)", async () => {
  for (const [args, message] of [
    [[], "--nsqd-http-address or --lookupd-http-address required"],
    [["--nsqd-http-address=127.0.0.1:4151", "--lookupd-http-address=127.0.0.1:4161"], "use --nsqd-http-address or --lookupd-http-address not both"],
    [["--nsqd-http-address=127.0.0.1:4151", "--http-client-tls-cert=c.pem"], "--http-client-tls-key must be specified with --http-client-tls-cert"],
    [["--nsqd-http-address=127.0.0.1:4151", "--allow-config-from-cidr=nope"], "failed to parse --allow-config-from-cidr (nope)"],
    [["--nsqd-http-address=127.0.0.1:4151", "--http-address=127.0.0.1:abc"], 'invalid value "127.0.0.1:abc" for flag -http-address: '],
    [["--lookupd-http-address=127.0.0.1:70000"], 'invalid value "127.0.0.1:70000" for flag -lookupd-http-address: '],
  ] as const) {
    const r = await run(["admin", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  }
});

test("--version names nsqadmin", async () => {
  const r = await run(["admin", "--version"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^nsqadmin v1\.3\.0 \(built w\/go1\.19\.8\)\n$/);
});

test("a TOML config with nsqadmin's keys; SIGTERM stops it with exit 0", async () => {
  const config = join(dir, "nsqadmin.toml");
  writeFileSync(config, `nsqd_http_addresses = ["127.0.0.1:1"]\nbase_path = "/ops"\nadmin_users = ["root"]\n`);
  const admin = await group.admin([`--config=${config}`]);
  const page = await (await fetch(`http://127.0.0.1:${admin.http}/ops/topics`)).text();
  expect(page).toContain(`"basePath":"/ops"`);
  expect(page).toContain(`"nsqd":["127.0.0.1:1"]`);
  expect(page).toContain(`"isAdmin":false`);
  expect(await admin.proc.stop("SIGTERM")).toBe(0);
});

test("the README documents every flag of nsq admin", () => {
  const readme = readFileSync(join(import.meta.dir, "..", "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## The web admin: `nsq admin`"), readme.indexOf("## Compared with real NSQ"));
  for (const flag of ADMIN_FLAGS) expect(section).toContain(`\`--${flag.name}\``);
});
