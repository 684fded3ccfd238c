#!/usr/bin/env bun
/**
 * Builds the single-file `nsq` executable with `bun build --compile`.
 *
 *   bun scripts/build-binaries.ts          dist/nsq for this machine            (npm run build)
 *   bun scripts/build-binaries.ts --all    + linux/darwin x64/arm64, windows x64 (npm run build:all)
 *   … --dist DIR                            write into DIR instead of dist/
 *
 * Every executable is minified, carries precompiled bytecode (faster start-up), has a source map
 * beside it (dist/<file>.map) and is built with NODE_ENV=production (ink/react pick their production code paths and skip the devtools hook).
 * Everything, ink included, is embedded: the file runs with no node_modules beside it.
 *
 * Cross targets need Bun's runtime for that platform, which `bun build` downloads (from the npm
 * registry) on first use. A target whose runtime cannot be fetched is reported and skipped; only a
 * failure of the host build is fatal (exit 1).
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "..");
export const DIST_DIR = join(REPO_ROOT, "dist");
const ENTRY = join(REPO_ROOT, "src", "cli.ts");
const BUN = process.execPath;

export interface BuildTarget {
  /** short name used in the file name, e.g. "linux-arm64" */
  name: string;
  /** bun's --target value; undefined = this machine */
  bunTarget?: string;
  /** output path */
  outfile: string;
}

const CROSS_TARGETS = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "windows-x64"] as const;

/** dist/nsq (dist/nsq.exe on Windows): the executable for the machine running the build. */
export function hostTarget(dist: string = DIST_DIR): BuildTarget {
  return { name: "host", outfile: join(dist, process.platform === "win32" ? "nsq.exe" : "nsq") };
}

export function crossTargets(dist: string = DIST_DIR): BuildTarget[] {
  return CROSS_TARGETS.map((name) => ({
    name,
    bunTarget: `bun-${name}`,
    outfile: join(dist, `nsq-${name}${name.startsWith("windows") ? ".exe" : ""}`),
  }));
}

export type BuildOutcome =
  | { target: BuildTarget; status: "built"; bytes: number; ms: number }
  | { target: BuildTarget; status: "skipped"; reason: string };

/** The `bun build` arguments for one target. */
export function buildArgs(target: BuildTarget): string[] {
  const args = [
    "build",
    ENTRY,
    "--compile",
    // precompiled JavaScriptCore bytecode: start-up to /ping drops from ~70 ms to ~25 ms for ~10 MiB
    // more file; bytecode needs the ESM output format because src/cli.ts uses top-level await
    "--bytecode",
    "--format=esm",
    "--minify",
    "--sourcemap",
    // ink and react read NODE_ENV at run time; fixing it here drops their development paths
    "--define",
    'process.env.NODE_ENV="production"',
    "--outfile",
    target.outfile,
  ];
  if (target.bunTarget) args.push(`--target=${target.bunTarget}`);
  return args;
}

/**
 * ink imports `react-devtools-core` (only used in development, behind NODE_ENV); the bundler still
 * has to resolve it, so it is a devDependency. Fail early with a clear message if it is missing.
 */
function checkBuildDependencies(): void {
  const require = createRequire(join(REPO_ROOT, "package.json"));
  for (const name of ["ink", "react", "react-devtools-core"]) {
    try {
      require.resolve(name);
    } catch {
      throw new Error(`cannot resolve "${name}" - run "npm install" first (it is needed to bundle ink)`);
    }
  }
}

/** First meaningful line of bun's error output, for the report. */
function firstErrorLine(output: string): string {
  const lines = output.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines.find((l) => /error/i.test(l)) ?? lines[0] ?? "unknown error";
}

/**
 * Builds one target; throws with bun's error text when `bun build` fails.
 *
 * bun writes into a private staging directory and the result is renamed into place, so a build
 * never leaves a half-written or missing dist/nsq for a process (a benchmark, a test) using it.
 */
export function buildTarget(target: BuildTarget): BuildOutcome {
  const started = performance.now();
  const staging = join(dirname(target.outfile), `.building-${process.pid}-${target.name}`);
  const staged = join(staging, basename(target.outfile));
  try {
    mkdirSync(staging, { recursive: true });
    const result = Bun.spawnSync([BUN, ...buildArgs({ ...target, outfile: staged })], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
    const output = result.stdout.toString() + result.stderr.toString();
    if (result.exitCode !== 0 || !existsSync(staged)) {
      throw new Error(`bun build for ${target.name} failed (exit ${result.exitCode}): ${firstErrorLine(output)}`);
    }
    for (const file of readdirSync(staging)) renameSync(join(staging, file), join(dirname(target.outfile), file));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { target, status: "built", bytes: statSync(target.outfile).size, ms: Math.round(performance.now() - started) };
}

/** Runs the freshly built host executable once: a file that cannot even print its version is a failed build. */
function checkRuns(outfile: string): void {
  const result = Bun.spawnSync([outfile, "--version"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const out = result.stdout.toString().trim();
  if (result.exitCode !== 0 || !out.startsWith("nsq ") || !out.includes("NSQ v")) {
    throw new Error(`${outfile} --version failed (exit ${result.exitCode}): ${out || result.stderr.toString().trim()}`);
  }
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatReport(outcomes: readonly BuildOutcome[]): string {
  const lines = outcomes.map((o) => {
    const file = relative(REPO_ROOT, o.target.outfile);
    const name = o.target.name.padEnd(13);
    return o.status === "built"
      ? `  ${name} built    ${file.padEnd(28)} ${formatMiB(o.bytes).padStart(10)}  (${o.ms} ms)`
      : `  ${name} SKIPPED  ${file.padEnd(28)} ${o.reason}`;
  });
  return lines.join("\n") + "\n";
}

/** Builds the host executable and, with `all`, every cross target. Host failure throws. */
export function buildBinaries(options: { all: boolean; dist?: string }): BuildOutcome[] {
  checkBuildDependencies();
  const dist = options.dist ?? DIST_DIR;
  mkdirSync(dist, { recursive: true });
  const host = hostTarget(dist);
  const outcomes: BuildOutcome[] = [buildTarget(host)];
  checkRuns(host.outfile);
  if (!options.all) return outcomes;
  return outcomes.concat(buildOrSkip(crossTargets(dist)));
}

/** Builds each target; one that fails (most often: its runtime cannot be downloaded) is skipped. */
export function buildOrSkip(targets: readonly BuildTarget[]): BuildOutcome[] {
  return targets.map((target): BuildOutcome => {
    try {
      return buildTarget(target);
    } catch (err) {
      return { target, status: "skipped", reason: err instanceof Error ? err.message : String(err) };
    }
  });
}

if (import.meta.main) {
  const usage = "usage: build-binaries.ts [--all] [--dist DIR]";
  let all = false;
  let dist = DIST_DIR;
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--all") all = true;
    else if (arg === "--dist" && args[i + 1] !== undefined) dist = resolve(args[++i]!);
    else if (arg.startsWith("--dist=")) dist = resolve(arg.slice("--dist=".length));
    else {
      process.stderr.write(`build-binaries: unknown argument ${arg} (${usage})\n`);
      process.exit(2);
    }
  }
  try {
    const outcomes = buildBinaries({ all, dist });
    process.stdout.write(formatReport(outcomes));
    const skipped = outcomes.filter((o) => o.status === "skipped").length;
    if (skipped > 0) process.stdout.write(`${skipped} target(s) skipped (see above); the others are in dist/\n`);
  } catch (err) {
    process.stderr.write(`build-binaries: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
