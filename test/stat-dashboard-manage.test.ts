/**
 * Creating and deleting topics and channels from the `nsq stat` dashboard (issue 16), against a
 * real in-process nsqlookupd and two nsqd registered with it: every action asks for y/N first,
 * anything but y changes nothing, and y changes every node and the lookupd (as nsqadmin does).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Nsqlookupd } from "../src/lookupd/lookupd.ts";
import { silentLogger } from "../src/util/logger.ts";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { ESC, rowOf, startDashboard, type DashboardUi } from "./helpers/dashboard-ui.ts";
import { waitFor } from "./stat-fixtures.ts";

let lookupd: Nsqlookupd;
const brokers: TestBroker[] = [];
let ui: DashboardUi;

beforeAll(async () => {
  lookupd = new Nsqlookupd({ tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0", broadcastAddress: "127.0.0.1" }, silentLogger);
  await lookupd.start();
  for (let i = 0; i < 2; i++) {
    brokers.push(await startBroker({ broadcastAddress: "127.0.0.1", lookupdTcpAddresses: [`127.0.0.1:${lookupd.tcpPort}`] }));
  }
  // an existing topic, so the dashboard has something to stand on
  for (const b of brokers) await (await b.http("/topic/create?topic=existing", { method: "POST" })).arrayBuffer();
  await waitFor("both nodes registered", async () => {
    const nodes = (await (await fetch(`http://127.0.0.1:${lookupd.httpPort}/nodes`)).json()) as { producers: unknown[] };
    return nodes.producers.length === 2;
  });
  // 300 ms polls: short enough to be quick, long enough that a loaded machine does not mark a
  // node "not answering" (one interval) just when a create goes to every node that answers
  ui = startDashboard({ lookupdHttpAddresses: [`127.0.0.1:${lookupd.httpPort}`] }, { width: 120, height: 30, intervalMs: 300 });
  await ui.until("both nodes and the topic", (f) => f.includes("2 nodes: 2 up") && rowOf(f, "existing").includes("2/2"));
});

afterAll(async () => {
  ui?.stop();
  for (const b of brokers) await b.stop();
  await lookupd?.close();
});

async function topicsOn(b: TestBroker): Promise<Record<string, string[]>> {
  const stats = (await (await b.http("/stats?format=json")).json()) as {
    topics: Array<{ topic_name: string; channels: Array<{ channel_name: string }> }>;
  };
  return Object.fromEntries(stats.topics.map((t) => [t.topic_name, t.channels.map((c) => c.channel_name)]));
}

async function lookupdList(path: string): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${lookupd.httpPort}${path}`);
  const body = (await res.json()) as { topics?: string[]; channels?: string[] };
  return body.topics ?? body.channels ?? [];
}

/** Selects the row named `name` by filtering the list down to it. */
async function select(name: string): Promise<void> {
  ui.press("/");
  ui.type(name);
  ui.press("\r");
  await ui.until(`${name} selected`, (f) => f.includes(`topic ${name} by node`) && !f.includes("(enter keep, esc clear)"));
}

describe("create and delete from the dashboard (real nsqd ×2 + nsqlookupd)", () => {
  test("n names a topic; an invalid name is refused with the rule; y creates it on every node and the lookupd", async () => {
    ui.press("n");
    await ui.until("name prompt", (f) => f.includes("new topic: "));
    ui.type("bad name!");
    ui.press("\r");
    await ui.until("rule shown", (f) => f.includes("new topic: bad name!   invalid name: 1-64 chars of [.a-zA-Z0-9_-], optional #ephemeral suffix"));
    for (let i = 0; i < "bad name!".length; i++) ui.press("\x7f");
    ui.type("fresh");
    ui.press("\r");
    await ui.until("confirmation", (f) => f.includes("Create topic fresh on 2 nodes and 1 lookupd? (y/N)"));
    ui.press("n");
    await ui.until("cancelled", (f) => f.includes("create cancelled"));
    expect(Object.keys(await topicsOn(brokers[0]!))).toEqual(["existing"]);

    ui.press("n");
    ui.type("fresh");
    ui.press("\r");
    await ui.until("confirmation again", (f) => f.includes("Create topic fresh on 2 nodes"));
    ui.press("y");
    await ui.until("created", (f) => f.includes("created topic fresh on 2 nodes and 1 lookupd") && rowOf(f, "fresh").includes("2/2"));
    for (const b of brokers) expect(await topicsOn(b)).toHaveProperty("fresh");
    expect(await lookupdList("/topics")).toContain("fresh");
  });

  test("n inside a topic creates a channel there, on every node that has the topic", async () => {
    await select("fresh");
    ui.press("\r");
    await ui.until("channels of fresh", (f) => /^topics › fresh\s/m.test(f));
    ui.press("n");
    await ui.until("channel prompt", (f) => f.includes("new channel in fresh: "));
    ui.type("audit");
    ui.press("\r");
    await ui.until("confirmation", (f) => f.includes("Create channel fresh/audit on 2 nodes and 1 lookupd? (y/N)"));
    ui.press("y");
    await ui.until("created", (f) => f.includes("created channel fresh/audit on 2 nodes") && rowOf(f, "audit").includes("2/2"));
    for (const b of brokers) expect((await topicsOn(b))["fresh"]).toEqual(["audit"]);
    expect(await lookupdList("/channels?topic=fresh")).toContain("audit");
  });

  test("d deletes the selected channel after y, and nothing on any other key", async () => {
    await ui.until("audit shown", (f) => rowOf(f, "audit") !== "");
    ui.press("d");
    await ui.until("confirmation", (f) => f.includes("Delete channel fresh/audit on 2 nodes and 1 lookupd? (y/N) Its queued messages are lost"));
    ui.press(ESC);
    await ui.until("cancelled", (f) => f.includes("delete cancelled"));
    for (const b of brokers) expect((await topicsOn(b))["fresh"]).toEqual(["audit"]);

    ui.press("d");
    await ui.until("confirmation again", (f) => f.includes("Delete channel fresh/audit"));
    ui.press("y");
    await ui.until("deleted", (f) => f.includes("deleted channel fresh/audit on 2 nodes and 1 lookupd") && rowOf(f, "audit") === "");
    for (const b of brokers) expect((await topicsOn(b))["fresh"]).toEqual([]);
    expect(await lookupdList("/channels?topic=fresh")).not.toContain("audit");
  });

  test("d on a topic deletes it everywhere after y", async () => {
    ui.press(ESC);
    await ui.until("topics", (f) => /^topics\s{2}/m.test(f));
    await select("fresh");
    ui.press("d");
    await ui.until("confirmation", (f) => f.includes("Delete topic fresh on 2 nodes and 1 lookupd? (y/N) Its channels and queued messages are lost"));
    ui.press("y");
    await ui.until("deleted", (f) => f.includes("deleted topic fresh on 2 nodes and 1 lookupd") && rowOf(f, "fresh") === "");
    for (const b of brokers) expect(Object.keys(await topicsOn(b))).toEqual(["existing"]);
    await waitFor("lookupd forgot the topic", async () => !(await lookupdList("/topics")).includes("fresh"));
  });
});
