/**
 * A cluster in one process: 3 brokers registered with 2 lookupds; consumers find producers
 * through lookupd only (issue 4). The multi-process variant is in cluster-processes.test.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import nsq from "nsqjs";
import { Nsqlookupd } from "../src/lookupd/lookupd.ts";
import { silentLogger } from "../src/util/logger.ts";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient } from "./helpers/raw-client.ts";
import { until } from "./helpers/until.ts";

let lookupds: Nsqlookupd[] = [];
let brokers: TestBroker[] = [];

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const l = new Nsqlookupd({ tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", broadcastAddress: "127.0.0.1", inactiveProducerTimeout: 3000 }, silentLogger);
    await l.start();
    lookupds.push(l);
  }
  for (let i = 0; i < 3; i++) {
    brokers.push(
      await startBroker({
        broadcastAddress: "127.0.0.1",
        lookupdTcpAddresses: lookupds.map((l) => `127.0.0.1:${l.tcpPort}`),
      }),
    );
  }
});
afterAll(async () => {
  for (const b of brokers) await b.stop();
  for (const l of lookupds) await l.close();
});

async function lookup(l: Nsqlookupd, topic: string): Promise<{ producers: { tcp_port: number }[]; channels: string[] } | null> {
  const res = await fetch(`http://127.0.0.1:${l.httpPort}/lookup?topic=${topic}`);
  if (res.status === 404) return null;
  return (await res.json()) as { producers: { tcp_port: number }[]; channels: string[] };
}

test("every broker registers its topics and channels with every lookupd", async () => {
  for (const b of brokers) {
    const c = await RawClient.connect(b.tcpPort);
    c.pub("clustered", `from-${b.tcpPort}`);
    expect(await c.readResponse()).toBe("OK");
    c.close();
  }
  for (const l of lookupds) {
    await until("3 producers in /lookup", async () => (await lookup(l, "clustered"))?.producers.length === 3);
    const ports = (await lookup(l, "clustered"))!.producers.map((p) => p.tcp_port).sort();
    expect(ports).toEqual(brokers.map((b) => b.tcpPort).sort());
  }
});

test("an nsqjs Reader given only lookupd addresses consumes from all three brokers", async () => {
  for (const b of brokers) {
    const c = await RawClient.connect(b.tcpPort);
    c.mpub("everywhere", Array.from({ length: 100 }, (_, i) => `${b.tcpPort}-${i}`));
    expect(await c.readResponse()).toBe("OK");
    c.close();
  }
  for (const l of lookupds) await until("producers", async () => (await lookup(l, "everywhere"))?.producers.length === 3);
  const r = new nsq.Reader("everywhere", "c", {
    lookupdHTTPAddresses: lookupds.map((l) => `127.0.0.1:${l.httpPort}`),
    maxInFlight: 300,
  });
  r.on("error", () => {});
  const seen = new Set<string>();
  await new Promise<void>((resolve) => {
    r.on("message", (m: { body: Buffer; finish(): void }) => {
      seen.add(m.body.toString());
      m.finish();
      if (seen.size === 300) resolve();
    });
    r.connect();
  });
  r.close();
  expect(seen.size).toBe(300);
  for (const b of brokers) expect([...seen].filter((s) => s.startsWith(`${b.tcpPort}-`)).length).toBe(100);
});

test("a channel known to lookupd is pre-created when a topic is first created on another broker", async () => {
  // a consumer on broker 0 makes lookupd learn topic "precreate" with channel "archive"
  const sub = await RawClient.connect(brokers[0]!.tcpPort);
  sub.write("SUB precreate archive\n");
  expect(await sub.readResponse()).toBe("OK");
  for (const l of lookupds) await until("channel registration", async () => (await lookup(l, "precreate"))?.channels.includes("archive") === true);
  // the first publish on broker 1 must not be lost for channel "archive"
  const p = await RawClient.connect(brokers[1]!.tcpPort);
  p.pub("precreate", "first");
  expect(await p.readResponse()).toBe("OK");
  await until("pre-created channel holding the message", () => brokers[1]!.nsqd.getTopic("precreate")?.getChannel("archive")?.depth() === 1);
  sub.close();
  p.close();
});

test("deleting a topic unregisters it; a stopped broker disappears from lookupd", async () => {
  const res = await brokers[2]!.http("/topic/delete?topic=clustered", { method: "POST" });
  expect(res.status).toBe(200);
  for (const l of lookupds) await until("2 producers after delete", async () => (await lookup(l, "clustered"))?.producers.length === 2);
  const stopped = brokers.pop()!;
  await stopped.stop();
  for (const l of lookupds) {
    await until("2 nodes after a broker stops", async () => {
      const nodes = (await (await fetch(`http://127.0.0.1:${l.httpPort}/nodes`)).json()) as { producers: unknown[] };
      return nodes.producers.length === 2;
    });
  }
});

test("PUT /config/nsqlookupd_tcp_addresses registers a running broker with new lookupds and leaves old ones", async () => {
  const lone = await startBroker({ broadcastAddress: "127.0.0.1" });
  try {
    const c = await RawClient.connect(lone.tcpPort);
    c.pub("late-registration", "x");
    expect(await c.readResponse()).toBe("OK");
    c.close();
    const target = lookupds[0]!;
    const put = await lone.http("/config/nsqlookupd_tcp_addresses", { method: "PUT", body: JSON.stringify([`127.0.0.1:${target.tcpPort}`]) });
    expect(put.status).toBe(200);
    await until("registration after PUT", async () => (await lookup(target, "late-registration"))?.producers.some((p) => p.tcp_port === lone.tcpPort) === true);
    const nodes = async () =>
      ((await (await fetch(`http://127.0.0.1:${target.httpPort}/nodes`)).json()) as { producers: { tcp_port: number }[] }).producers;
    expect((await nodes()).some((p) => p.tcp_port === lone.tcpPort)).toBe(true);
    expect((await lone.http("/config/nsqlookupd_tcp_addresses", { method: "PUT", body: "[]" })).status).toBe(200);
    await until("peer removed after PUT []", async () => !(await nodes()).some((p) => p.tcp_port === lone.tcpPort));
  } finally {
    await lone.stop();
  }
});
