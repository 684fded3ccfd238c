/**
 * `nsq bench reader` / `nsq bench writer` send exactly what nsq v1.3.0's bench_reader /
 * bench_writer send. A fake nsqd (a plain TCP server) records every byte and paces its messages
 * so that each flush the Go tools would make can be told apart; no timing is asserted.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { runNsq, type RunResult } from "./helpers/nsq-process.ts";

const RDY = 2500;
/** messages fed per connection: one whole RDY window and into the next */
const PER_CONN = 2600;
const FIN_LEN = 21;
const BUFIO = 4096;

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

function frame(type: number, data: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + data.length);
  out.writeUInt32BE(4 + data.length, 0);
  out.writeUInt32BE(type, 4);
  out.set(data, 8);
  return out;
}

function messageFrame(n: number): Buffer {
  const data = Buffer.alloc(26 + 20);
  data.writeUInt16BE(1, 8); // attempts
  data.write(n.toString(16).padStart(16, "0"), 10, "latin1");
  return frame(2, data);
}

const OK = frame(0, Buffer.from("OK"));

/** Where bench_reader's FIN stream ends a write: every full 4096 bytes, and after message k when k % rdy > rdy·0.75. */
function isFlushBoundary(finBytes: number): boolean {
  if (finBytes % BUFIO === 0) return true;
  if (finBytes % FIN_LEN !== 0) return false;
  const k = finBytes / FIN_LEN;
  return k % RDY > RDY * 0.75;
}

function expectedHead(role: "reader" | "writer"): Buffer {
  const body = Buffer.from(`{"client_id":"${role}","hostname":"${role}","user_agent":"bench_${role}/1.1.0"}`);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(body.length);
  return Buffer.concat([Buffer.from("  V2IDENTIFY\n"), size, body]);
}

interface ReaderConn {
  bytes: Buffer;
  finStart: number;
  badBoundaries: number[];
}

/** A fake nsqd for bench_reader: checks the head, then feeds PER_CONN messages, waiting at each rule flush. */
function fakeReaderServer(conns: ReaderConn[]): Promise<number> {
  return new Promise((resolvePort) => {
    server = createServer((socket: Socket) => {
      const c: ReaderConn = { bytes: Buffer.alloc(0), finStart: -1, badBoundaries: [] };
      conns.push(c);
      let waitFor = -1;
      let wake: (() => void) | undefined;
      let sent = 0;
      const feed = async (): Promise<void> => {
        socket.write(Buffer.concat([OK, OK]));
        while (sent < PER_CONN) {
          const batch: Buffer[] = [];
          // up to and including the next message after which bench_reader must flush by its rule
          do batch.push(messageFrame(++sent));
          while (sent < PER_CONN && !(sent % RDY > RDY * 0.75));
          socket.write(Buffer.concat(batch));
          if (sent % RDY > RDY * 0.75) {
            waitFor = sent * FIN_LEN;
            await new Promise<void>((r) => (wake = r));
          }
        }
      };
      socket.on("data", (chunk: Buffer) => {
        c.bytes = Buffer.concat([c.bytes, chunk]);
        if (c.finStart < 0) {
          const rdy = c.bytes.indexOf("RDY 2500\n");
          if (rdy < 0) return;
          c.finStart = rdy + "RDY 2500\n".length;
          void feed();
          return;
        }
        const finBytes = c.bytes.length - c.finStart;
        if (!isFlushBoundary(finBytes)) c.badBoundaries.push(finBytes);
        if (waitFor >= 0 && finBytes >= waitFor) {
          waitFor = -1;
          wake?.();
        }
      });
      socket.on("error", () => {});
    });
    server.listen(0, "127.0.0.1", () => resolvePort((server!.address() as { port: number }).port));
  });
}

/** `nsq bench <args>` to completion (the test's timeout bounds it). */
function runCli(args: string[]): Promise<RunResult> {
  return runNsq(["bench", ...args], { timeoutMs: 600_000 });
}

describe("nsq bench reader is nsq's bench_reader", () => {
  test("IDENTIFY body, SUB and one RDY in one write; FINs flushed only when 4096 bytes are full or in the last quarter of the window", async () => {
    const conns: ReaderConn[] = [];
    const port = await fakeReaderServer(conns);
    const { code, stdout, stderr } = await runCli(["reader", `--nsqd-tcp-address=127.0.0.1:${port}`, "--runfor=3s", "--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(conns.length).toBeGreaterThan(0);
    for (const c of conns) {
      const head = Buffer.concat([expectedHead("reader"), Buffer.from("SUB sub_bench ch\nRDY 2500\n")]);
      expect(c.bytes.subarray(0, head.length).toString("latin1")).toBe(head.toString("latin1"));
      const fins = c.bytes.subarray(c.finStart).toString("latin1");
      // only FINs after the head, for messages 1.. in order; RDY never again
      expect(c.bytes.toString("latin1").split("RDY").length - 1).toBe(1);
      const lines = fins.split("\n");
      const partial = lines.pop()!;
      lines.forEach((line, i) => expect(line).toBe(`FIN ${(i + 1).toString(16).padStart(16, "0")}`));
      // the tail that was never flushed stays behind: whatever was sent ends on a flush boundary
      expect(isFlushBoundary(fins.length)).toBe(true);
      expect(partial.length).toBeLessThan(FIN_LEN);
      // every flush of the rule arrived; after the window's end (2500 % 2500 = 0) only full buffers
      expect(lines.length).toBeGreaterThanOrEqual(RDY - 1);
      expect(c.badBoundaries).toEqual([]);
    }
    const report = JSON.parse(stdout.trim()) as { phases: { name: string; messages: number }[] };
    expect(report.phases[0]!.name).toBe("SUB");
    expect(report.phases[0]!.messages).toBe(PER_CONN * conns.length);
  }, 30_000);

  test("the final line without --json is bench_reader's log line", async () => {
    const conns: ReaderConn[] = [];
    const port = await fakeReaderServer(conns);
    const { code, stdout, stderr } = await runCli(["reader", `--nsqd-tcp-address=127.0.0.1:${port}`, "--runfor=500ms", "--size=20"]);
    expect(code).toBe(0);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^\[bench_reader\] \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d duration: [\d.]+m?s - [\d.]+mb\/s - [\d.]+ops\/s - [\d.]+us\/op\n$/);
  }, 30_000);
});

describe("nsq bench writer is nsq's bench_writer", () => {
  test("IDENTIFY, then one MPUB of 200 zero-filled 200-byte messages at a time", async () => {
    const seen: { bytes: Buffer; mpubs: number; early: number }[] = [];
    const head = expectedHead("writer");
    const mpubHead = Buffer.from("MPUB sub_bench\n");
    const bodySize = 4 + 200 * 204;
    const mpubLen = mpubHead.length + 4 + bodySize;
    const port = await new Promise<number>((resolvePort) => {
      server = createServer((socket) => {
        const s = { bytes: Buffer.alloc(0), mpubs: 0, early: 0 };
        seen.push(s);
        let answered = -1; // IDENTIFY not answered yet
        socket.on("data", (chunk: Buffer) => {
          s.bytes = Buffer.concat([s.bytes, chunk]);
          if (answered < 0 && s.bytes.length >= head.length) {
            answered = 0;
            socket.write(OK);
          }
          const complete = Math.floor(Math.max(0, s.bytes.length - head.length) / mpubLen);
          // bench_writer sends the next MPUB only after the previous one's response
          if (s.bytes.length - head.length > (answered + 1) * mpubLen) s.early++;
          while (answered >= 0 && answered < complete) {
            answered++;
            socket.write(OK);
          }
          s.mpubs = complete;
        });
        socket.on("error", () => {});
      });
      server.listen(0, "127.0.0.1", () => resolvePort((server!.address() as { port: number }).port));
    });
    const { code, stdout } = await runCli(["writer", `--nsqd-tcp-address=127.0.0.1:${port}`, "--runfor=300ms", "--json"]);
    expect(code).toBe(0);
    let total = 0;
    for (const s of seen) {
      expect(s.bytes.subarray(0, head.length).toString("latin1")).toBe(head.toString("latin1"));
      expect(s.early).toBe(0);
      expect(s.mpubs).toBeGreaterThan(0);
      expect((s.bytes.length - head.length) % mpubLen).toBe(0);
      const first = s.bytes.subarray(head.length, head.length + mpubLen);
      expect(first.subarray(0, mpubHead.length).toString()).toBe("MPUB sub_bench\n");
      expect(first.readUInt32BE(mpubHead.length)).toBe(bodySize);
      expect(first.readUInt32BE(mpubHead.length + 4)).toBe(200);
      expect(first.readUInt32BE(mpubHead.length + 8)).toBe(200);
      expect(first.subarray(mpubHead.length + 12, mpubHead.length + 212).every((b) => b === 0)).toBe(true);
      total += s.mpubs * 200;
    }
    const report = JSON.parse(stdout.trim()) as { phases: { messages: number }[] };
    expect(report.phases[0]!.messages).toBe(total);
  }, 30_000);
});
