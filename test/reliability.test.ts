/**
 * Issue 18, the short versions of `npm run soak` (scripts/soak/): the same scenario code with small
 * counts, real `nsq serve` / `nsq lookupd` processes on loopback. Each asserts the scenario's
 * expectations except those on timing (p99 of /ping, pauses), which only the soak run checks.
 */
import { afterAll, expect, test } from "bun:test";
import { cleanupDirs, type ScenarioResult } from "../scripts/soak/lib.ts";
import { CHURN_QUICK, CLUSTER_QUICK, CONNECTIONS_QUICK, FUZZ_QUICK, RESTARTS_QUICK, STALL_QUICK } from "../scripts/soak/scenarios.ts";
import { restarts } from "../scripts/soak/restarts.ts";
import { connections } from "../scripts/soak/connections.ts";
import { stall } from "../scripts/soak/stall.ts";
import { churn } from "../scripts/soak/churn.ts";
import { fuzz } from "../scripts/soak/fuzz.ts";
import { cluster } from "../scripts/soak/cluster.ts";

afterAll(() => cleanupDirs());

function passed(r: ScenarioResult): void {
  // the figures make a failure readable
  expect({ failures: r.failures, figures: r.figures }).toEqual({ failures: [], figures: r.figures });
  expect(r.figures.crashes).toBe(0);
}

test("connections: 500 TCP (TLS, snappy) + 50 HTTP keep-alive held; over `ulimit -n` the broker logs it, keeps serving and recovers", async () => {
  const r = await connections(CONNECTIONS_QUICK);
  passed(r);
  expect(r.figures["TCP clients connected / failed"]).toBe("500 / 0");
  expect(r.figures["fd limit: old clients served / recovered"]).toBe("yes / yes");
  expect(String(r.figures["fd limit: log line"])).toContain("out of file descriptors");
}, 90_000);

test("a stalled consumer: its window is bounded, its messages time out to the healthy consumers, none lost", async () => {
  const r = await stall(STALL_QUICK);
  passed(r);
  expect(String(r.figures["delivered to healthy consumers (unique) / lost"])).toEndWith(" / 0");
}, 90_000);

test("churn of ephemeral channels: all gone afterwards, the durable consumer gets everything, /stats answers", async () => {
  const r = await churn(CHURN_QUICK);
  passed(r);
  expect(r.figures["channels left afterwards (durable only = 1)"]).toBe(1);
}, 90_000);

test("fuzzing 20k TCP frames and 1k HTTP requests per daemon: no crash, no 5xx, the well-behaved pair unaffected", async () => {
  const r = await fuzz(FUZZ_QUICK);
  passed(r);
  expect(r.figures["unhandled errors in logs"]).toBe(0);
}, 90_000);

test("cluster faults: kill -9 a broker, one lookupd, both lookupds; nothing acknowledged lost", async () => {
  const r = await cluster(CLUSTER_QUICK);
  passed(r);
  expect(String(r.figures["published (acknowledged) / delivered (unique) / lost"])).toEndWith(" / 0");
}, 120_000);

test("SIGTERM and start again under full-speed MPUB and consuming: every acknowledged message delivered", async () => {
  const r = await restarts(RESTARTS_QUICK);
  passed(r);
  expect(String(r.figures["delivered (unique) / lost"])).toEndWith(" / 0");
}, 90_000);
