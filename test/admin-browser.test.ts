/**
 * The admin UI in a real browser: Debian's chromium driven by playwright-core (nothing downloaded)
 * over `nsq admin` on two `nsq lookupd` + two `nsq serve` processes while messages flow and an
 * nsqjs consumer reads. Loads the topic list and sees its live rate move, sees the rates the
 * brokers measure themselves on the topic page, opens a channel, pauses
 * it through the confirmation dialog and sees both brokers report it paused, navigates with the
 * keyboard, watches the counter, creates a topic on the lookup page, and sees a killed broker
 * named while the rest of the page keeps updating.
 *
 * NSQ_ADMIN_SCREENSHOTS=1 also writes docs/admin-topics.png, docs/admin-channel.png and
 * docs/admin-nodes.png (left alone otherwise, so test runs never rewrite them).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import nsq from "nsqjs";
import { ProcessGroup, type Daemon } from "./helpers/nsq-process.ts";
import { until } from "./helpers/until.ts";

const CHROMIUM = "/usr/bin/chromium";
// .ci/run installs chromium, so under CI a missing browser fails the test instead of skipping it
const haveChromium = existsSync(CHROMIUM) || process.env["CI"] !== undefined;
if (!haveChromium) console.warn(`admin-browser.test.ts: ${CHROMIUM} missing (apt-get install chromium); the browser test is skipped`);
const SHOTS = process.env["NSQ_ADMIN_SCREENSHOTS"] === "1";
const DOCS = join(import.meta.dir, "..", "docs");

const group = new ProcessGroup();
let lookupds: Daemon[];
let nodes: Daemon[];
let adminUrl = "";
let context: BrowserContext | null = null;
let page: Page;
let profile = "";
let publisher: ReturnType<typeof setInterval> | null = null;
const readers: Array<InstanceType<typeof nsq.Reader>> = [];
/** uncaught errors of the page's script: none expected */
const pageErrors: string[] = [];

async function post(n: Daemon, path: string, body = ""): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${n.http}${path}`, { method: "POST", body });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

async function channelPaused(n: Daemon, topic: string, channel: string): Promise<boolean> {
  const s = (await (await fetch(`http://127.0.0.1:${n.http}/stats?format=json&topic=${topic}&channel=${channel}`)).json()) as {
    topics: Array<{ channels: Array<{ channel_name: string; paused: boolean }> }>;
  };
  return s.topics[0]!.channels.find((c) => c.channel_name === channel)!.paused;
}

async function shot(name: string): Promise<void> {
  if (SHOTS) await page.screenshot({ path: join(DOCS, name) });
}

beforeAll(async () => {
  if (!haveChromium) return;
  lookupds = await Promise.all([group.lookupd(), group.lookupd()]);
  nodes = await Promise.all([group.nsqd(lookupds.map((l) => l.tcp)), group.nsqd(lookupds.map((l) => l.tcp))]);
  const admin = await group.admin(lookupds.map((l) => `--lookupd-http-address=127.0.0.1:${l.http}`));
  adminUrl = `http://127.0.0.1:${admin.http}`;
  for (const n of nodes) {
    await post(n, "/topic/create?topic=orders");
    for (const c of ["audit", "billing"]) await post(n, `/channel/create?topic=orders&channel=${c}`);
  }
  await post(nodes[0]!, "/mpub?topic=signups", "a\nb\nc");
  await post(nodes[1]!, "/pub?topic=payments", "p");
  await post(nodes[1]!, "/channel/create?topic=payments&channel=ledger");
  // messages keep flowing: a batch to each broker every 100 ms
  const batch = Array.from({ length: 25 }, (_, i) => `order ${i}`).join("\n");
  publisher = setInterval(() => {
    for (const n of nodes) void fetch(`http://127.0.0.1:${n.http}/mpub?topic=orders`, { method: "POST", body: batch }).catch(() => {});
  }, 100);
  // a consumer on orders/audit, one connection per broker
  const r = new nsq.Reader("orders", "audit", { nsqdTCPAddresses: nodes.map((n) => `127.0.0.1:${n.tcp}`), maxInFlight: 50, clientId: "audit-worker" });
  r.on("error", () => {});
  r.on("message", (m: { finish(): void }) => m.finish());
  r.connect();
  readers.push(r);
  profile = mkdtempSync(join(tmpdir(), "nsq-admin-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 720 },
    colorScheme: "light",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (err) => pageErrors.push(err.message));
});

afterAll(async () => {
  if (publisher) clearInterval(publisher);
  for (const r of readers) r.close();
  await context?.close();
  group.stopAll();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test.skipIf(!haveChromium)("topic list, live rates, pausing a channel with confirmation, keyboard navigation, a killed broker", async () => {
  // the topic list, its rate moving while messages flow
  await page.goto(`${adminUrl}/topics`);
  const ordersRate = page.locator(`[data-topic-rate="orders"]`);
  await ordersRate.waitFor();
  const rate = async (): Promise<number> => Number((await ordersRate.textContent())!.replace(/,/g, "")) || 0;
  const first = await until("a positive msgs/s for orders", async () => ((await rate()) > 0 ? rate() : 0), 15000);
  await until("the rate to change without a reload", async () => (await rate()) !== first && (await rate()) > 0, 15000);
  expect(await page.locator("#main tbody tr").count()).toBe(3);
  await page.locator("#main").getByText("signups").waitFor();
  await shot("admin-topics.png");

  // open orders, then its channel audit, where the consumer shows as a client on each broker
  await page.getByRole("link", { name: "orders", exact: true }).click();
  await page.getByRole("heading", { name: "Topic orders" }).waitFor();
  // the brokers measure their own rates (nsq serve): the table of windows, in and out
  const measured = async (w: string): Promise<number> =>
    Number(((await page.getByTestId("measured-rates").locator(`[data-rate="${w}"]`).textContent()) ?? "").replace(/,/g, "")) || 0;
  await until("the brokers' own 10 s rates", async () => (await measured("message_10s")) > 0 && (await measured("out_10s")) > 0, 10000);
  await page.getByRole("link", { name: "audit", exact: true }).click();
  await page.getByRole("heading", { name: "Channel orders/audit" }).waitFor();
  await until("both consumer connections listed", async () => (await page.locator("#main table").first().locator("tbody tr").count()) === 2, 10000);
  await until("the channel rate", async () => Number(((await page.getByTestId("channel-rate").textContent()) ?? "").replace(/,/g, "")) > 0, 10000);

  // pause: cancelling the confirmation changes nothing, confirming pauses it on both brokers
  await page.getByRole("button", { name: "Pause channel" }).click();
  const dialog = page.locator("dialog#confirm");
  await dialog.waitFor({ state: "visible" });
  expect(await dialog.textContent()).toContain("Pause channel orders/audit on every node?");
  await page.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  for (const n of nodes) expect(await channelPaused(n, "orders", "audit")).toBe(false);
  await page.getByRole("button", { name: "Pause channel" }).click();
  await dialog.waitFor({ state: "visible" });
  await page.getByRole("button", { name: "Confirm" }).click();
  for (const n of nodes) await until(`broker ${n.http} reports orders/audit paused`, () => channelPaused(n, "orders", "audit"));
  await page.getByTestId("channel-state").getByText("paused").waitFor();
  await page.getByRole("button", { name: "Unpause channel" }).waitFor();
  await shot("admin-channel.png");

  // keyboard: g n opens the nodes page, both brokers healthy; d switches to dark mode
  await page.locator("#main").focus();
  await page.keyboard.press("g");
  await page.keyboard.press("n");
  await page.getByRole("heading", { name: "Nodes", exact: true }).waitFor();
  await until("both nodes OK", async () => (await page.locator("#main tbody tr").getByText("OK", { exact: true }).count()) === 2, 10000);
  await page.keyboard.press("j");
  expect(await page.locator("#main tbody tr.selected").count()).toBe(1);
  await page.keyboard.press("d");
  expect(await page.locator("html").getAttribute("data-theme")).toBe("dark");
  await shot("admin-nodes.png");
  await page.keyboard.press("d");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: /^Node 127\.0\.0\.1:\d+$/ }).waitFor();

  // the counter moves; the lookup page creates a topic and channel through the lookupds
  await page.keyboard.press("g");
  await page.keyboard.press("c");
  const counter = page.getByTestId("counter");
  await counter.waitFor();
  const count = async (): Promise<number> => Number(((await counter.textContent()) ?? "").replace(/,/g, ""));
  const firstCount = await until("a message count", async () => ((await count()) > 0 ? count() : 0), 10000);
  await until("the counter to move", async () => (await count()) > firstCount, 10000);
  await page.keyboard.press("g");
  await page.keyboard.press("l");
  await page.getByRole("heading", { name: "Lookup", exact: true }).waitFor();
  await page.getByLabel("Topic to create").fill("created_in_ui");
  await page.getByLabel("Channel to create").fill("first");
  await page.getByRole("button", { name: "Create" }).click();
  for (const l of lookupds) {
    await until(`lookupd ${l.http} knows created_in_ui/first`, async () => {
      const r = (await (await fetch(`http://127.0.0.1:${l.http}/channels?topic=created_in_ui`)).json()) as { channels: string[] };
      return r.channels.includes("first");
    });
  }
  await page.locator("#main").getByRole("link", { name: "created_in_ui" }).waitFor();

  // a broker killed: the page names it, the other broker's topics stay and keep updating
  await page.locator("#main").focus();
  await page.keyboard.press("g");
  await page.keyboard.press("t");
  await page.getByRole("heading", { name: "Topics", exact: true }).waitFor();
  await nodes[1]!.kill();
  const banner = page.locator("#problems");
  await banner.waitFor({ timeout: 15000 });
  await until("the banner names the killed broker", async () => ((await banner.textContent()) ?? "").includes(`127.0.0.1:${nodes[1]!.http}`), 15000);
  expect(await page.locator(`[data-topic-rate="orders"]`).count()).toBe(1);
  expect(await page.locator("#main").getByText("signups").count()).toBe(1);
  // the live broker's own 1 s rate of a steady publisher can read the same number every second:
  // its message count is what must keep moving
  const messages = async (): Promise<number> => Number((await page.locator(`[data-topic-messages="orders"]`).textContent())!.replace(/,/g, ""));
  const before = await messages();
  await until("orders still updating from the live broker", async () => (await messages()) > before && (await rate()) > 0, 15000);
  expect(pageErrors).toEqual([]);
}, 60000);
