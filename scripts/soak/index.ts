/**
 * `npm run soak [-- <scenario>...]`: the long reliability runs of issue 18, one after another,
 * each bounded in count and time, loopback only; prints a figures table per scenario and exits
 * non-zero when any expectation failed. `--quick` runs the small versions (those of npm test).
 */
import { cleanupDirs, machine, printFigures, type ScenarioResult } from "./lib.ts";
import { SCENARIOS } from "./scenarios.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const names = args.filter((a) => !a.startsWith("--"));
for (const n of names) {
  if (!(n in SCENARIOS)) {
    console.error(`unknown scenario "${n}"; known: ${Object.keys(SCENARIOS).join(", ")}`);
    process.exit(2);
  }
}
const chosen = names.length > 0 ? names : Object.keys(SCENARIOS);
console.log(`machine: ${machine()}`);
let failed = 0;
for (const name of chosen) {
  const s = SCENARIOS[name]!;
  const t0 = performance.now();
  let r: ScenarioResult;
  try {
    r = await s(quick);
  } catch (err) {
    r = { name, figures: {}, failures: [err instanceof Error ? (err.stack ?? err.message) : String(err)] };
  }
  r.figures["wall time"] = `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  printFigures(r);
  if (r.failures.length + (r.timing?.length ?? 0) > 0) failed++;
  cleanupDirs();
}
process.exit(failed > 0 ? 1 : 0);
