#!/usr/bin/env bun
/**
 * The long crash test of issue 20 (docs/reliability.md): `npm run crash-test`.
 *
 *   bun scripts/crash-test.ts [--iterations=20] [--cluster-iterations=5]
 *
 * Each single-broker iteration starts `nsq serve --mem-queue-size=0 --sync-every=1
 * --msg-timeout=1s` on a fresh directory, publishes PUB/MPUB/DPUB while consumers FIN, REQ (with
 * and without delay), hold and ignore messages at random, kills the broker with SIGKILL at a random
 * moment, restarts it and drains it. Each cluster iteration runs three brokers and a lookupd with a
 * lookupd-based consumer and kills one broker mid-load. Exit code 1 when any acknowledged message
 * was never delivered.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clusterIteration, crashIteration, type IterationResult } from "../test/helpers/crash-harness.ts";
import { ProcessGroup } from "../test/helpers/nsq-process.ts";

function flag(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? fallback : Number(arg.slice(name.length + 3));
}

const iterations = flag("iterations", 20);
const clusterIterations = flag("cluster-iterations", 5);
const group = new ProcessGroup();
process.on("exit", () => group.stopAll());

interface Totals {
  runs: number;
  acked: number;
  lost: number;
  duplicates: number;
  redelivered: number;
}

function report(label: string, i: number, r: IterationResult, t: Totals): void {
  t.runs++;
  t.acked += r.acked;
  t.lost += r.lost.length;
  t.duplicates += r.duplicates;
  t.redelivered += r.redeliveredAfterRestart;
  const lost = r.lost.length > 0 ? ` LOST: ${r.lost.slice(0, 10).join(", ")}${r.lost.length > 10 ? ", …" : ""}` : "";
  console.log(
    `${label} ${i + 1}: killed after ${r.killedAfterMs} ms · acknowledged ${r.acked} · lost ${r.lost.length} · duplicates ${r.duplicates} · redelivered (attempts > 1) ${r.redeliveredAfterRestart}${lost}`,
  );
}

function summary(label: string, t: Totals): string {
  return `${label}: ${t.runs} runs · ${t.acked} acknowledged · ${t.lost} lost · ${t.duplicates} duplicates · ${t.redelivered} redelivered`;
}

const single: Totals = { runs: 0, acked: 0, lost: 0, duplicates: 0, redelivered: 0 };
for (let i = 0; i < iterations; i++) {
  const dir = mkdtempSync(join(tmpdir(), "nsq-crash-test-"));
  try {
    report("single broker", i, await crashIteration(dir, 200 + Math.floor(Math.random() * 2800), group), single);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const cluster: Totals = { runs: 0, acked: 0, lost: 0, duplicates: 0, redelivered: 0 };
for (let i = 0; i < clusterIterations; i++) {
  const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), "nsq-crash-cluster-")));
  try {
    report("cluster", i, await clusterIteration(dirs, 500 + Math.floor(Math.random() * 2500), group), cluster);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
console.log(summary("single broker", single));
if (clusterIterations > 0) console.log(summary("3-broker cluster", cluster));
process.exit(single.lost + cluster.lost > 0 ? 1 : 0);
