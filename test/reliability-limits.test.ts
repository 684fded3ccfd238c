/**
 * Issue 18's broker fixes: a command line over the 16 KiB read buffer is logged (it closed
 * silently; main's connection log now says it as nsqd does), and the descriptor guard logs,
 * pauses and resumes. The EMFILE crash itself
 * (process.memoryUsage threw into the scan loop and killed the broker with every client) is
 * covered with a real process under `ulimit -n 200` by test/reliability.test.ts (connections).
 */
import { expect, test } from "bun:test";
import net from "node:net";
import { Nsqd } from "../src/server/nsqd.ts";
import { FdGuard } from "../src/util/fd-guard.ts";
import { createLogger } from "../src/util/logger.ts";
import { tempDir } from "./helpers/nsq-process.ts";

function capturingLogger(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, logger: createLogger("[nsqd] ", "info", (l) => void lines.push(l)) };
}

test("a command line longer than the 16 KiB read buffer closes the connection with an ERROR log line naming the client", async () => {
  const { lines, logger } = capturingLogger();
  const nsqd = new Nsqd({ tcpAddress: "127.0.0.1:0", httpAddress: "", httpsAddress: "", dataPath: tempDir("nsq-limits-") }, logger);
  await nsqd.start();
  const s = net.connect(nsqd.tcpPort, "127.0.0.1");
  await new Promise<void>((r) => s.once("connect", () => r()));
  s.on("error", () => {});
  s.resume();
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  s.write(`  V2PUB ${"x".repeat(20_000)}`);
  await closed;
  await Bun.sleep(50); // the close is logged when the server's side of the socket has closed
  expect(lines.join("")).toMatch(/ERROR: client\(127\.0\.0\.1:\d+\) - failed to read command - bufio: buffer full/);
  await nsqd.close();
});

test("the descriptor guard: one ERROR line and a paused listener at the limit, one INFO line and a resumed one below it", () => {
  const { lines, logger } = capturingLogger();
  const calls: string[] = [];
  const g = new FdGuard(1000, logger, { pause: () => (calls.push("pause"), true), resume: () => void calls.push("resume"), clients: () => 977 });
  g.check(100);
  g.check(990); // within the reserve of the limit
  g.check(995);
  g.check(950); // not yet below the low mark (930): no flapping
  g.check(null); // counting itself failed (EMFILE): still exhausted, no second line
  g.check(500);
  expect(calls).toEqual(["pause", "resume"]);
  expect(g.exhaustedEvents).toBe(1);
  const text = lines.join("");
  expect(text).toContain("ERROR: out of file descriptors (990 of ulimit -n 1000 in use, 977 clients connected): new TCP and HTTP connections are refused until some close");
  expect(text).toContain("INFO: file descriptors available again (500 of 1000 in use), accepting connections");
  expect(lines.length).toBe(2);
});

test("EMFILE reported by the first check (counting impossible) is the exhausted state too", () => {
  const { lines, logger } = capturingLogger();
  const g = new FdGuard(256, logger, { pause: () => false, resume: () => {}, clients: () => 240 });
  g.check(null);
  expect(g.exhausted).toBe(true);
  expect(lines.join("")).toContain("(256 of ulimit -n 256 in use, 240 clients connected): new connections wait until some close");
});

// the broker (it also pauses its TCP listener) and nsq lookupd share the guard (src/util/fd-guard.ts)
test.each([
  ["nsq serve", ["serve", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"], true],
  ["nsq lookupd", ["lookupd", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"], false],
] as const)("%s: HTTP clients over `ulimit -n` are logged, it stops listening, and answers /ping again once they are gone", async (_name, args, needsDataPath) => {
  const { Daemon, cleanupDirs, scratchDir } = await import("../scripts/soak/lib.ts");
  const d = new Daemon(needsDataPath ? [...args, `--data-path=${scratchDir("nsq-limits-")}`] : [...args], { nofile: 200 });
  try {
    const { http } = await d.ports();
    const socks: net.Socket[] = [];
    for (let i = 0; i < 300; i++) {
      const s = net.connect(http, "127.0.0.1", () => s.write("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"));
      s.on("error", () => {});
      s.resume();
      socks.push(s);
    }
    await d.waitFor(/ERROR: out of file descriptors \(\d+ of ulimit -n 200 in use/);
    for (const s of socks) s.destroy();
    await d.waitFor(/INFO: file descriptors available again/);
    expect(await (await fetch(`http://127.0.0.1:${http}/ping`)).text()).toBe("OK");
    expect(d.ended).toBe(false);
  } finally {
    await d.stop();
    cleanupDirs();
  }
}, 30_000);
