/**
 * What crash-safe delivery (src/server/ack-window.ts) adds per delivered message, without sockets or load
 * generator: 1,000,000 records read from a disk queue and FINished in two interleaved halves per 2,500 (as two
 * connections with RDY 2500 do), with and without the ack window. `bun scripts/ack-window-cost.ts`
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskQueue } from "../src/server/disk-queue.ts";
import { Message, MessageState } from "../src/server/message.ts";
import { silentLogger } from "../src/util/logger.ts";
const N = 1_000_000;
function rec(i: number): Buffer { const b = Buffer.alloc(226); b.write(i.toString(16).padStart(16, "0"), 10, "latin1"); return b; }
function run(track: boolean): number {
  const dir = mkdtempSync(join(tmpdir(), "nsq-micro-"));
  const q = new DiskQueue({ name: "t:c", dataPath: dir, maxBytesPerFile: 100 * 1024 * 1024, minMsgSize: 26, maxMsgSize: 1024, syncEvery: 2500, syncTimeout: 2000, logger: silentLogger });
  const batch = Array.from({ length: 1000 }, (_, i) => rec(i));
  for (let i = 0; i < N; i += 1000) q.putMany(batch);
  const w = track ? q.trackAcks() : null;
  const inflight: Message[] = [];
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const r = q.readNext()!;
    const m = new Message(r, i, null as never);
    if (w !== null) { w.onRead(r); w.bind(w.lastSeq, m); }
    inflight.push(m);
    if (inflight.length >= 2500) {
      // FIN in slightly shuffled order (two connections)
      for (let k = 0; k < inflight.length; k += 2) { const x = inflight[k]!; x.state = MessageState.Done; w?.release(x); }
      for (let k = 1; k < inflight.length; k += 2) { const x = inflight[k]!; x.state = MessageState.Done; w?.release(x); }
      inflight.length = 0;
    }
  }
  const used = process.cpuUsage(t0);
  const t = (used.user + used.system) / 1000; // ms of CPU
  q.close(); rmSync(dir, { recursive: true, force: true });
  return (t * 1e6) / N;
}
const plain: number[] = [];
const tracked: number[] = [];
for (let i = 0; i < 5; i++) {
  plain.push(run(false));
  tracked.push(run(true));
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
console.log(`CPU per message, median of 5 alternating runs: plain ${median(plain).toFixed(0)} ns, with the ack window ${median(tracked).toFixed(0)} ns`);
