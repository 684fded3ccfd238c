import { afterEach, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FALLBACK_LOCK_FILE, lockDataPath, type DataPathLock } from "../src/server/data-lock.ts";

const BUN = resolve("node_modules/.bin/bun");
const MODULE = resolve("src/server/data-lock.ts");

let dirs: string[] = [];
let locks: DataPathLock[] = [];
afterEach(() => {
  for (const l of locks) l.release();
  locks = [];
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "nsq-lock-"));
  dirs.push(d);
  return d;
}

/** Tries to lock `dir` in a separate process; resolves with its one-line result. */
function lockInChild(dir: string, mechanism: "flock" | "lockfile"): Promise<string> {
  const script =
    `import { lockDataPath } from ${JSON.stringify(MODULE)};` +
    `try { const l = lockDataPath(${JSON.stringify(dir)}, { mechanism: ${JSON.stringify(mechanism)} }); l.release(); console.log("LOCKED"); }` +
    `catch (e) { console.log("ERR " + e.message); }`;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(BUN, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", () => (out.trim() ? resolvePromise(out.trim()) : reject(new Error(`child produced no output: ${err}`))));
  });
}

for (const mechanism of ["flock", "lockfile"] as const) {
  describe(`data path lock (${mechanism})`, () => {
    test("a second instance in another process is refused with nsqd's message, and can lock after release", async () => {
      const dir = tempDir();
      const lock = lockDataPath(dir, { mechanism });
      locks.push(lock);
      expect(await lockInChild(dir, mechanism)).toBe(
        `ERR cannot flock directory ${dir} - resource temporarily unavailable (possibly in use by another instance of nsqd)`,
      );
      lock.release();
      expect(await lockInChild(dir, mechanism)).toBe("LOCKED");
    });

    test("a second lock in the same process is refused too; release is idempotent", () => {
      const dir = tempDir();
      const lock = lockDataPath(dir, { mechanism });
      locks.push(lock);
      expect(() => lockDataPath(dir, { mechanism })).toThrow(
        `cannot flock directory ${dir} - resource temporarily unavailable (possibly in use by another instance of nsqd)`,
      );
      lock.release();
      lock.release();
      const again = lockDataPath(dir, { mechanism });
      locks.push(again);
    });
  });
}

test("flock leaves no file in the data directory; a missing directory is a clear error", () => {
  const dir = tempDir();
  const lock = lockDataPath(dir, { mechanism: "flock" });
  locks.push(lock);
  expect(existsSync(join(dir, FALLBACK_LOCK_FILE))).toBe(false);
  expect(() => lockDataPath(join(dir, "missing"))).toThrow(`open ${join(dir, "missing")}: no such file or directory`);
});

test("lock file fallback: holds our pid, a stale file from a dead process is reclaimed", async () => {
  const dir = tempDir();
  const lock = lockDataPath(dir, { mechanism: "lockfile" });
  expect(readFileSync(join(dir, FALLBACK_LOCK_FILE), "utf8")).toBe(`${process.pid}\n`);
  lock.release();
  expect(existsSync(join(dir, FALLBACK_LOCK_FILE))).toBe(false);

  // a pid that cannot exist (beyond pid_max) marks the file stale
  writeFileSync(join(dir, FALLBACK_LOCK_FILE), "999999999\n");
  expect(await lockInChild(dir, "lockfile")).toBe("LOCKED");
});

test("flock works inside a `bun build --compile` executable", async () => {
  const dir = tempDir();
  const entry = join(dir, "entry.ts");
  writeFileSync(
    entry,
    `import { lockDataPath } from ${JSON.stringify(MODULE)};\n` +
      `try { lockDataPath(process.argv[2], { mechanism: "flock" }); console.log("LOCKED"); } catch (e) { console.log("ERR " + (e as Error).message); }\n`,
  );
  const exe = join(dir, "locker");
  const build = Bun.spawnSync([BUN, "build", "--compile", entry, "--outfile", exe], { stdout: "pipe", stderr: "pipe" });
  expect(build.exitCode).toBe(0);
  const target = mkdtempSync(join(tmpdir(), "nsq-lock-target-"));
  dirs.push(target);
  const held = lockDataPath(target, { mechanism: "flock" });
  locks.push(held);
  const run = Bun.spawnSync([exe, target], { stdout: "pipe", stderr: "pipe" });
  expect(run.stdout.toString().trim()).toBe(`ERR cannot flock directory ${target} - resource temporarily unavailable (possibly in use by another instance of nsqd)`);
  held.release();
  const again = Bun.spawnSync([exe, target], { stdout: "pipe", stderr: "pipe" });
  expect(again.stdout.toString().trim()).toBe("LOCKED");
}, 30_000);
