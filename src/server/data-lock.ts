/**
 * Exclusive lock on nsqd's --data-path, like nsqd's dirlock: `flock(fd, LOCK_EX|LOCK_NB)` on the directory
 * itself, so a real nsqd and ours exclude each other. node:fs has no flock; we call libc's through bun:ffi
 * (works in `bun build --compile` executables too). Where FFI or flock is unavailable we fall back to an O_EXCL
 * lock file `<dir>/.nsqd.lock` holding our pid, treated as stale when that pid no longer exists.
 *
 * flock locks belong to the open file description and vanish when the process dies, so a crash never leaves
 * the directory locked; the fallback file is reclaimed by the pid check.
 */
import { closeSync, constants as fsConstants, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

export interface DataPathLock {
  release(): void;
}

export interface LockOptions {
  /** "auto" (default): flock when available, else the lock file. Tests force one mechanism. */
  mechanism?: "auto" | "flock" | "lockfile";
}

export const FALLBACK_LOCK_FILE = ".nsqd.lock";

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

type FlockFn = (fd: number, operation: number) => number;

let flockFn: FlockFn | null | undefined;

/** libc's flock, or null where it cannot be loaded (non-Linux/macOS, FFI unavailable). */
function loadFlock(): FlockFn | null {
  if (flockFn !== undefined) return flockFn;
  flockFn = null;
  if (process.platform === "win32") return flockFn;
  const candidates = process.platform === "darwin" ? ["libSystem.B.dylib", "libc.dylib"] : ["libc.so.6", "libc.so"];
  try {
    // Imported lazily so a platform without bun:ffi support still gets the fallback.
    const ffi = require("bun:ffi") as typeof import("bun:ffi");
    for (const name of candidates) {
      try {
        const lib = ffi.dlopen(name, { flock: { args: [ffi.FFIType.i32, ffi.FFIType.i32], returns: ffi.FFIType.i32 } });
        const fn = lib.symbols.flock;
        flockFn = (fd, op) => fn(fd, op);
        break;
      } catch {
        // try the next library name
      }
    }
  } catch {
    flockFn = null;
  }
  return flockFn;
}

/** dirlock's words, with the EWOULDBLOCK text Go prints (the lock-file fallback says the same). */
function inUseError(dir: string): Error {
  return new Error(`cannot flock directory ${dir} - resource temporarily unavailable (possibly in use by another instance of nsqd)`);
}

/** strerror texts as Go prints them, for what opening the data directory can meet. */
const OPEN_ERRORS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  ENOTDIR: "not a directory",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "file name too long",
  EMFILE: "too many open files",
};

/** Go's *PathError text for a failed os.Open: `open /var/lib/nsq: no such file or directory`. */
function openErrorText(dir: string, err: unknown): string {
  const text = OPEN_ERRORS[errnoCode(err) ?? ""];
  return text !== undefined ? `open ${dir}: ${text}` : `open ${dir}: ${errorText(err)}`;
}

/**
 * nsqd's data-path lock, failing with nsqd.New's words: `failed to lock data-path: cannot flock
 * directory X - resource temporarily unavailable (possibly in use by another instance of nsqd)`.
 */
export function lockNsqdDataPath(dir: string, options: LockOptions = {}): DataPathLock {
  try {
    return lockDataPath(dir, options);
  } catch (err) {
    throw new Error(`failed to lock data-path: ${errorText(err)}`, { cause: err });
  }
}

/** Locks `dir` exclusively without blocking; throws if another process (or another lock here) holds it. */
export function lockDataPath(dir: string, options: LockOptions = {}): DataPathLock {
  const mechanism = options.mechanism ?? "auto";
  const flock = mechanism === "lockfile" ? null : loadFlock();
  if (flock !== null) return lockWithFlock(dir, flock);
  if (mechanism === "flock") throw new Error(`cannot flock directory ${dir} - flock is not available on this platform`);
  return lockWithFile(dir);
}

function lockWithFlock(dir: string, flock: FlockFn): DataPathLock {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch (err) {
    throw new Error(openErrorText(dir, err), { cause: err });
  }
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    closeSync(fd);
    throw inUseError(dir);
  }
  let held = true;
  return {
    release(): void {
      if (!held) return;
      held = false;
      flock(fd, LOCK_UN);
      closeSync(fd);
    },
  };
}

function lockWithFile(dir: string): DataPathLock {
  const path = join(dir, FALLBACK_LOCK_FILE);
  const token = `${process.pid}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw new Error(`cannot lock data directory ${dir} - ${errorText(err)}`, { cause: err });
      if (attempt === 0 && isStale(path)) {
        try {
          unlinkSync(path);
        } catch {
          // someone else reclaimed it first; the retry decides
        }
        continue;
      }
      throw inUseError(dir);
    }
    try {
      writeSync(fd, token);
    } finally {
      closeSync(fd);
    }
    let held = true;
    return {
      release(): void {
        if (!held) return;
        held = false;
        try {
          if (readFileSync(path, "utf8") === token) unlinkSync(path);
        } catch {
          // already gone
        }
      },
    };
  }
  throw inUseError(dir);
}

/** A lock file is stale when its pid is unreadable or names a process that no longer exists. */
function isStale(path: string): boolean {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
  } catch {
    return false; // vanished or unreadable right now: let the retry decide
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return errnoCode(err) === "ESRCH";
  }
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
