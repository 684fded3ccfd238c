/** Starts an in-process broker on free loopback ports with a temporary data directory. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Nsqd } from "../../src/server/nsqd.ts";
import type { NsqdOptions } from "../../src/server/options.ts";
import { silentLogger, type Logger } from "../../src/util/logger.ts";

export interface TestBroker {
  nsqd: Nsqd;
  dataPath: string;
  tcpPort: number;
  httpPort: number;
  http(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/** `logger` defaults to silence; pass a capturing one to assert on log lines. */
export async function startBroker(opts: Partial<NsqdOptions> = {}, logger: Logger = silentLogger): Promise<TestBroker> {
  const dataPath = opts.dataPath ?? mkdtempSync(join(tmpdir(), "nsq-test-"));
  const nsqd = new Nsqd(
    { tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", httpsAddress: "", nodeId: 1, ...opts, dataPath },
    logger,
  );
  await nsqd.start();
  return {
    nsqd,
    dataPath,
    tcpPort: nsqd.tcpPort,
    httpPort: nsqd.httpPort,
    http: (path, init) => fetch(`http://127.0.0.1:${nsqd.httpPort}${path}`, init),
    async stop() {
      await nsqd.close();
      if (opts.dataPath === undefined) rmSync(dataPath, { recursive: true, force: true });
    },
  };
}
