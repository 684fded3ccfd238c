/**
 * Garbage on many connections at once: random bytes, truncated and oversized frames. The server
 * stays up, well-behaved clients keep being served, and every acknowledged message is delivered.
 */
import { expect, test } from "bun:test";
import net from "node:net";
import { startBroker } from "./helpers/broker.ts";
import { RawClient, subscriber } from "./helpers/raw-client.ts";
// the soak's deterministic PRNG, so a failure can be replayed from its seed
import { rng } from "../scripts/soak/fuzz.ts";

const COMMANDS = ["PUB", "MPUB", "DPUB", "SUB", "RDY", "FIN", "REQ", "TOUCH", "IDENTIFY", "AUTH", "CLS", "NOP"];

function garbage(rand: () => number): Buffer {
  const kind = Math.floor(rand() * 6);
  const int32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n | 0);
    return b;
  };
  const cmd = COMMANDS[Math.floor(rand() * COMMANDS.length)]!;
  switch (kind) {
    case 0: // random bytes
      return Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)));
    case 1: // command with a huge declared size
      return Buffer.concat([Buffer.from(`${cmd} t\n`), int32(0x7fffffff)]);
    case 2: // negative size
      return Buffer.concat([Buffer.from(`${cmd} t 10\n`), int32(-5), Buffer.from("xx")]);
    case 3: // truncated body, then the connection ends
      return Buffer.concat([Buffer.from(`${cmd} t\n`), int32(100), Buffer.from("abc")]);
    case 4: // MPUB whose parts lie about their sizes
      return Buffer.concat([Buffer.from("MPUB t\n"), int32(12), int32(3), int32(1000), Buffer.from("abcd")]);
    default: // a very long line
      return Buffer.from(`${cmd} ${"x".repeat(20000)}\n`);
  }
}

for (const seed of [1234, 7, 2026, 31337]) test(`seed ${seed}: random and malformed frames on 100 connections do not disturb good clients`, async () => {
  // attackers that subscribe may hold good messages in flight when they vanish: redeliver soon
  const b = await startBroker({ maxMsgSize: 4096, maxBodySize: 65536, msgTimeout: 1000 });
  const rand = rng(seed);
  const consumer = await subscriber(b.tcpPort, "fuzz", "c", 100);
  const producer = await RawClient.connect(b.tcpPort);
  let acked = 0;

  const attackers: Promise<void>[] = [];
  for (let i = 0; i < 100; i++) {
    attackers.push(
      new Promise<void>((resolve) => {
        const s = net.connect(b.tcpPort, "127.0.0.1", () => {
          if (rand() < 0.8) s.write("  V2");
          // some start like a real client first, so garbage also reaches subscribed connections
          if (rand() < 0.3) s.write("SUB fuzz c\nRDY 5\n");
          for (let k = 0; k < 10; k++) s.write(garbage(rand));
          setTimeout(() => s.destroy(), 20 + Math.floor(rand() * 100));
        });
        s.on("error", () => {});
        s.on("close", () => resolve());
        s.resume();
      }),
    );
  }

  // meanwhile the good producer keeps publishing and every OK counts
  for (let i = 0; i < 200; i++) {
    producer.pub("fuzz", `good-${i}`);
    expect(await producer.readResponse()).toBe("OK");
    acked++;
  }
  await Promise.all(attackers);

  const got = new Set<string>();
  while (got.size < acked) {
    const m = await consumer.readMessage();
    const body = m.body.toString();
    if (body.startsWith("good-")) got.add(body);
    consumer.write(`FIN ${m.id}\n`);
  }
  expect(got.size).toBe(200);

  // still serving new connections and HTTP
  const late = await RawClient.connect(b.tcpPort);
  late.pub("fuzz", "after");
  expect(await late.readResponse()).toBe("OK");
  expect(await (await b.http("/ping")).text()).toBe("OK");
  late.close();
  producer.close();
  consumer.close();
  await b.stop();
}, 30_000);
