/** nsq to-file's progress line (shown when stderr is a terminal). */
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runToFile } from "../src/tools/to-file.ts";
import { silentLogger } from "../src/util/logger.ts";
import { startBroker } from "./helpers/broker.ts";
import { RawClient } from "./helpers/raw-client.ts";

test("the progress line counts archived messages and ends with a final line", async () => {
  const b = await startBroker();
  const out = mkdtempSync(join(tmpdir(), "nsq-tofile-progress-"));
  try {
    const p = await RawClient.connect(b.tcpPort);
    p.mpub("progress", ["a", "b", "c"]);
    expect(await p.readResponse()).toBe("OK");
    p.close();
    let written = "";
    let stop!: () => void;
    const stopSignal = new Promise<void>((resolve) => (stop = resolve));
    const run = runToFile({
      topics: ["progress"],
      topicPattern: "",
      topicRefresh: 60_000,
      channel: "nsq_to_file",
      nsqdAddresses: [`127.0.0.1:${b.tcpPort}`],
      lookupdAddresses: [],
      consumerOpts: [],
      maxInFlight: 200,
      httpConnectTimeout: 2000,
      httpRequestTimeout: 5000,
      outputDir: out,
      workDir: "",
      datetimeFormat: "%Y-%m-%d_%H",
      filenameFormat: "<TOPIC>.<HOST><REV>.<DATETIME>.log",
      hostIdentifier: "",
      gzip: false,
      gzipLevel: 6,
      rotateSize: 0,
      rotateInterval: 0,
      syncInterval: 100,
      skipEmptyFiles: false,
      extraArgs: [],
      logger: silentLogger,
      stopSignal,
      progress: { write: (text: string) => (written += text) },
    });
    const deadline = Date.now() + 5000;
    while (!/3 messages archived/.test(written) && Date.now() < deadline) await Bun.sleep(50);
    stop();
    expect(await run).toBe(0);
    expect(written).toContain("\r\x1b[K[nsq_to_file] 3 messages archived, 1 files opened");
    expect(written.endsWith("\n")).toBe(true);
    const files = readdirSync(out);
    expect(files.length).toBe(1);
    expect(readFileSync(join(out, files[0]!), "utf8")).toBe("a\nb\nc\n");
  } finally {
    rmSync(out, { recursive: true, force: true });
    await b.stop();
  }
});
