/**
 * A client's output slab is written over once the socket holds no reference to it
 * (src/server/client.ts, flush). Every message must still arrive intact and in order when the
 * consumer stalls (the socket buffers what the kernel does not take, the broker holds back until
 * drain) and then reads on, through many reuses of the slab.
 */
import { afterEach, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient, subscriber } from "./helpers/raw-client.ts";

let b: TestBroker | undefined;
const open: RawClient[] = [];
afterEach(async () => {
  for (const c of open) c.close();
  open.length = 0;
  await b?.stop();
  b = undefined;
});

/** 4 KiB whose bytes all depend on i, so a frame overwritten by a later one cannot pass */
function body(i: number): string {
  const head = `${i}:`.padStart(8, "0");
  const fill = String.fromCharCode(97 + (i % 26)).repeat(4096 - head.length);
  return head + fill;
}

test("messages stay intact through a stalled consumer and many slab reuses", async () => {
  b = await startBroker({ memQueueSize: 100_000 });
  const total = 6000;
  const c = await subscriber(b.tcpPort, "slab", "c", 2500);
  open.push(c);
  c.socket.pause(); // 2,500 × 4 KiB in flight is more than the socket buffers take: backpressure
  const p = await RawClient.connect(b.tcpPort);
  open.push(p);
  for (let from = 0; from < total; from += 500) {
    p.mpub("slab", Array.from({ length: 500 }, (_, k) => body(from + k)));
    expect(await p.readResponse()).toBe("OK");
  }
  const client = b.nsqd.getTopic("slab")!.getChannel("c")!.clients[0]!;
  const deadline = Date.now() + 5000;
  while (client.writable && Date.now() < deadline) await Bun.sleep(10);
  expect(client.writable).toBe(false);
  c.socket.resume();
  for (let i = 0; i < total; i++) {
    const m = await c.readMessage();
    expect(m.body.toString()).toBe(body(i));
    c.write(`FIN ${m.id}\n`);
  }
}, 30_000);
