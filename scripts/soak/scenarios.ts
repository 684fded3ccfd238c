/** The scenarios of `npm run soak`, full size or quick (the sizes `npm test` uses). */
import { connections, CONNECTIONS_FULL } from "./connections.ts";
import type { ScenarioResult } from "./lib.ts";

export const CONNECTIONS_QUICK = { ...CONNECTIONS_FULL, tcp: 500, http: 50, holdMs: 2000, fdLimit: 200, fdClients: 300 };

export const SCENARIOS: Record<string, (quick: boolean) => Promise<ScenarioResult>> = {
  connections: (q) => connections(q ? CONNECTIONS_QUICK : CONNECTIONS_FULL),
};
