/**
 * Bun macros (imported `with { type: "macro" }` by assets.ts): they run when assets.ts is
 * transpiled — by `bun build --compile` for dist/nsq, or by bun when `nsq admin` is started from
 * the checkout — and their results are inlined as string literals. So the browser code is written
 * and type-checked as TypeScript (client/), bundled into one script, and carried inside the
 * executable with no file beside it and no bundling at run time.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** client/main.ts and its imports as one browser script (an IIFE). */
export function bundleClient(): string {
  const entry = join(import.meta.dir, "client", "main.ts");
  // Bun.build cannot run inside a macro (the bundler waits for the macro): a child bun does it
  const r = Bun.spawnSync([process.execPath, "build", entry, "--target=browser", "--format=iife", "--minify"], {
    env: { ...process.env, BUN_BE_BUN: "1" },
  });
  if (r.exitCode !== 0) throw new Error(`bundling the nsqadmin UI failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

export function readStyle(): string {
  return readFileSync(join(import.meta.dir, "style.css"), "utf8");
}
