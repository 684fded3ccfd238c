/**
 * `nsq install-links DIR`: makes the single executable answer to the classic NSQ program names
 * (nsqd, nsqlookupd, nsq_tail, …) by creating symlinks to it in DIR (multi-call, like busybox).
 *
 * When running as a script under bun (not a compiled executable) a symlink cannot carry the name
 * (bun resolves the script's symlink), so small shell wrappers that run `nsq <command>` are written
 * instead.
 */
import { chmodSync, copyFileSync, lstatSync, readlinkSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { NsqCommand, ParsedArgs } from "./types.ts";
import { UsageError } from "./types.ts";

/** True inside a `bun build --compile` executable (its modules live in Bun's embedded filesystem). */
export function isCompiledExecutable(): boolean {
  return Bun.main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/i.test(Bun.main);
}

export interface LinkTarget {
  /** program name, e.g. "nsqd" */
  name: string;
  /** subcommand it runs, e.g. "serve" */
  command: string;
}

/** Every program name the registered commands answer to. */
export async function programLinks(): Promise<LinkTarget[]> {
  // imported lazily: index.ts imports this module
  const { COMMANDS } = await import("./index.ts");
  return COMMANDS.flatMap((c) => (c.programNames ?? []).map((name) => ({ name, command: c.name })));
}

function existingKind(path: string): "none" | "symlink" | "file" {
  try {
    return lstatSync(path).isSymbolicLink() ? "symlink" : "file";
  } catch {
    return "none";
  }
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Creates one link (or wrapper); returns a line describing what was done. */
function installOne(dir: string, link: LinkTarget, force: boolean): string {
  const path = join(dir, link.name);
  const kind = existingKind(path);
  const compiled = isCompiledExecutable();
  if (kind === "file" && !force) {
    throw new Error(`${path} exists and is not a symlink (use --force to replace it)`);
  }
  if (compiled && kind === "symlink" && readlinkSync(path) === process.execPath) return `${path} -> ${process.execPath} (unchanged)`;
  if (kind !== "none") unlinkSync(path);
  if (compiled) {
    try {
      symlinkSync(process.execPath, path);
      return `${path} -> ${process.execPath}`;
    } catch (err) {
      // where symlinks are not allowed (Windows without the privilege, some filesystems) a copy serves
      if ((err as NodeJS.ErrnoException).code !== "EPERM" && (err as NodeJS.ErrnoException).code !== "ENOTSUP") throw err;
      copyFileSync(process.execPath, path);
      chmodSync(path, 0o755);
      return `${path}: copy of ${process.execPath} (symlinks not permitted here)`;
    }
  }
  const script = `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(Bun.main)} ${link.command} "$@"\n`;
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return `${path}: wrapper running '${Bun.main} ${link.command}'`;
}

export const command: NsqCommand = {
  name: "install-links",
  describe: "create nsqd, nsqlookupd, nsq_tail, … links to this executable in a directory",
  positional: "<dir>",
  flags: [{ name: "force", kind: "bool", default: false, describe: "replace existing files of the same names" }],
  async run(args: ParsedArgs): Promise<number> {
    const [dirArg, ...extra] = args._;
    if (!dirArg || extra.length > 0) throw new UsageError("expected exactly one argument: the directory for the links");
    const dir = resolve(dirArg);
    // a mistyped directory is refused, not created: links in the wrong place would go unnoticed
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      throw new Error(`${dir} does not exist (create it first, e.g. mkdir -p ${shellQuote(dir)})`);
    }
    if (!isDir) throw new Error(`${dir} is not a directory`);
    for (const link of await programLinks()) {
      process.stdout.write(installOne(dir, link, args["force"] === true) + "\n");
    }
    return 0;
  },
};
