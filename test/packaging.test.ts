/**
 * The files an operator deploys with (issue 16): docs/nsq.service starts a working broker with
 * its own ExecStart line and passes `systemd-analyze verify`; the Dockerfile builds dist/nsq in a
 * Node stage and runs it on debian-slim with flags `nsq serve` accepts; LICENSE is MIT.
 * (No container runtime is assumed: the image itself is not built here.)
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NsqProcess, REPO, runNsq } from "./helpers/nsq-process.ts";

const tmp = mkdtempSync(join(tmpdir(), "nsq-packaging-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const unit = readFileSync(join(REPO, "docs", "nsq.service"), "utf8");
const dockerfile = readFileSync(join(REPO, "Dockerfile"), "utf8");

function execStart(): string[] {
  const line = unit.split("\n").find((l) => l.startsWith("ExecStart="));
  expect(line).toBeDefined();
  return line!.slice("ExecStart=".length).trim().split(/\s+/);
}

test("the systemd unit's ExecStart starts a broker that stops cleanly on SIGTERM", async () => {
  const [binary, ...args] = execStart();
  expect(binary).toBe("/usr/local/bin/nsq");
  expect(args[0]).toBe("serve");
  expect(unit).toMatch(/^StateDirectory=nsq$/m);
  // the unit's flags, with a temporary data path and free loopback ports
  const dataPath = mkdtempSync(join(tmp, "data-"));
  const flags = args.slice(1).map((a) => (a.startsWith("--data-path=") ? `--data-path=${dataPath}` : a));
  const proc = new NsqProcess(["serve", ...flags, "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"]);
  const { http: port } = await proc.ports();
  expect(await (await fetch(`http://127.0.0.1:${port}/ping`)).text()).toBe("OK");
  expect(await proc.stop(unit.match(/^KillSignal=(\S+)$/m)![1] as NodeJS.Signals)).toBe(0);
});

test.skipIf(Bun.which("systemd-analyze") === null)("systemd-analyze verify accepts the unit", () => {
  // verify wants the ExecStart binary to exist: point it at a stand-in
  const stand = join(tmp, "nsq");
  writeFileSync(stand, "#!/bin/sh\n");
  chmodSync(stand, 0o755);
  const copy = join(tmp, "nsq.service");
  writeFileSync(copy, unit.replace(/^ExecStart=\/usr\/local\/bin\/nsq/m, `ExecStart=${stand}`));
  const r = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8" });
  expect(r.stderr.trim()).toBe("");
  expect(r.status).toBe(0);
});

test("the Dockerfile builds dist/nsq with npm ci + npm run build and runs it on debian-slim", async () => {
  const stages = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)];
  expect(stages.length).toBe(2);
  expect(stages[0]![1]).toMatch(/^node:/);
  expect(stages[1]![1]).toMatch(/^debian:[a-z]+-slim$/);
  expect(dockerfile).toMatch(/^RUN npm ci$/m);
  expect(dockerfile).toMatch(/^RUN npm run build\b/m);
  expect(dockerfile).toContain(`COPY --from=${stages[0]![2]} /src/dist/nsq /usr/local/bin/nsq`);
  expect(dockerfile).toMatch(/^ENTRYPOINT \["nsq"\]$/m);
  // the default command's flags are ones nsq serve accepts
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
  expect(cmd[0]).toBe("serve");
  const r = await runNsq([...cmd, "--version"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toStartWith("nsqd v1.3.0");
  // node_modules, dist and data stay out of the build context
  const ignore = readFileSync(join(REPO, ".dockerignore"), "utf8").split("\n");
  for (const entry of ["node_modules", "dist", "data"]) expect(ignore).toContain(entry);
});

test("LICENSE is MIT, copyright the nsq authors, as package.json says", () => {
  const license = readFileSync(join(REPO, "LICENSE"), "utf8");
  expect(license).toStartWith("MIT License\n");
  expect(license).toMatch(/^Copyright \(c\) \d{4} the nsq authors$/m);
  expect((JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { license: string }).license).toBe("MIT");
});

test("CHANGELOG.md has an entry for the package's version", () => {
  const { version } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
  expect(readFileSync(join(REPO, "CHANGELOG.md"), "utf8")).toContain(`## [${version}]`);
});
