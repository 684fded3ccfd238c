/**
 * Writing a file so that a crash leaves either the old or the new content, never a torn one:
 * the bytes go to `<target>.<random>.tmp` (mode 0600), are fsynced, and the tmp file is renamed
 * over the target. nsqd.dat, the deferred sidecars (metadata.ts) and the disk queues' .meta.dat
 * files are all written this way.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, constants as fsConstants } from "node:fs";
import { open as openAsync, rename as renameAsync, unlink as unlinkAsync } from "node:fs/promises";

/** Creates (or truncates) `path` with mode 0600, writes all of `bytes` and fsyncs it. */
export function writeFileDurably(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o600);
  try {
    let written = 0;
    while (written < bytes.length) {
      const n = writeSync(fd, bytes, written, bytes.length - written, written);
      if (n <= 0) throw new Error(`write returned ${n}`);
      written += n;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * tmp + write + fsync + rename over `target`. On failure the tmp file is removed and the original
 * error is rethrown (callers add their own context). The directory entry is not synced here:
 * callers that need the rename itself durable follow with `fsyncDirectory`.
 */
export function replaceFileDurably(target: string, bytes: Uint8Array): void {
  const tmp = `${target}.${Math.floor(Math.random() * Number.MAX_SAFE_INTEGER)}.tmp`;
  try {
    writeFileDurably(tmp, bytes);
    renameSync(tmp, target);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // the tmp file may never have been created
    }
    throw err;
  }
}

/**
 * replaceFileDurably + fsyncDirectory off the event loop (node:fs/promises runs on the thread
 * pool): for files large enough that a blocking fsync would stall every connection (nsqd.dat
 * with tens of thousands of topics). The caller must not start another replacement of the same
 * target before this one settles (the renames could land out of order).
 */
export async function replaceFileDurablyAsync(target: string, bytes: Uint8Array, dir: string): Promise<void> {
  const tmp = `${target}.${Math.floor(Math.random() * Number.MAX_SAFE_INTEGER)}.tmp`;
  try {
    const file = await openAsync(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o600);
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await renameAsync(tmp, target);
  } catch (err) {
    await unlinkAsync(tmp).catch(() => {
      // the tmp file may never have been created
    });
    throw err;
  }
  try {
    const handle = await openAsync(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // not every filesystem allows fsync on a directory (as fsyncDirectory)
  }
}

/** fsyncs a directory so renames and new entries in it survive a crash. */
export function fsyncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not every filesystem allows fsync on a directory; the file itself is durable
  }
}
