/** The scenarios of `npm run soak`, full size or quick (the sizes test/reliability.test.ts uses). */
import { churn, CHURN_FULL } from "./churn.ts";
import { cluster, CLUSTER_FULL } from "./cluster.ts";
import { connections, CONNECTIONS_FULL } from "./connections.ts";
import { fuzz, FUZZ_FULL } from "./fuzz.ts";
import type { ScenarioResult } from "./lib.ts";
import { restarts, RESTARTS_FULL } from "./restarts.ts";
import { stall, STALL_FULL } from "./stall.ts";

export const CONNECTIONS_QUICK = { ...CONNECTIONS_FULL, tcp: 500, http: 50, holdMs: 1000, fdLimit: 200, fdClients: 300, settleMs: 1000 };
export const STALL_QUICK = { ...STALL_FULL, phaseMs: 1200, rate: 2000, msgTimeoutMs: 1000 };
export const CHURN_QUICK = { ...CHURN_FULL, perSecond: 500, durationMs: 2000, workers: 20 };
export const FUZZ_QUICK = { ...FUZZ_FULL, frames: 20_000, parallel: 16, httpRequests: 1000 };
/** no SIGSTOP phase: it needs lookupd's inactive timeout above nsqd's fixed 15 s PING interval */
export const RESTARTS_QUICK = { ...RESTARTS_FULL, cycles: 3, cycleMs: 700 };
export const CLUSTER_QUICK = { ...CLUSTER_FULL, phaseMs: 1500, rate: 50, pollMs: 1000, stopMs: 0 };

export const SCENARIOS: Record<string, (quick: boolean) => Promise<ScenarioResult>> = {
  connections: (q) => connections(q ? CONNECTIONS_QUICK : CONNECTIONS_FULL),
  stall: (q) => stall(q ? STALL_QUICK : STALL_FULL),
  churn: (q) => churn(q ? CHURN_QUICK : CHURN_FULL),
  fuzz: (q) => fuzz(q ? FUZZ_QUICK : FUZZ_FULL),
  cluster: (q) => cluster(q ? CLUSTER_QUICK : CLUSTER_FULL),
  restarts: (q) => restarts(q ? RESTARTS_QUICK : RESTARTS_FULL),
};
