/**
 * The pages of the admin UI as HTML strings, from the live cluster model. Every action button
 * carries data-action + the target; main.ts asks for confirmation and calls the API.
 */
import type { Producer } from "../../api-types.ts";
import type { AdminClientStats, UiConfig } from "../../api-types.ts";
import { duration, esc, num, rate, sparkline } from "./format.ts";
import { SLOW_AFTER_MS, type ChannelRow, type Cluster, type TopicRow } from "./model.ts";

export type { UiConfig };

export interface LookupState {
  topics: string[] | null;
  inactive: Record<string, string[]> | null;
  error: string | null;
  message: string;
}

export interface ViewContext {
  config: UiConfig;
  cluster: Cluster;
  lookup: LookupState;
  filter: string;
  href(path: string): string;
}

const seg = encodeURIComponent;

function link(ctx: ViewContext, path: string, text: string, cls = ""): string {
  return `<a href="${esc(ctx.href(path))}" data-link${cls ? ` class="${cls}"` : ""}>${esc(text)}</a>`;
}

function badge(text: string, kind: string): string {
  return `<span class="badge ${kind}">${esc(text)}</span>`;
}

function button(action: string, label: string, attrs: Record<string, string>, kind = "", ctx?: ViewContext): string {
  const data = Object.entries(attrs).map(([k, v]) => ` data-${k}="${esc(v)}"`).join("");
  const disabled = ctx && !ctx.config.isAdmin ? ` disabled title="admin users only"` : "";
  return `<button type="button" class="btn ${kind}" data-action="${action}"${data}${disabled}>${esc(label)}</button>`;
}

/** Rows a user can move through with j/k and open with Enter carry data-href. */
function row(ctx: ViewContext, path: string | null, cells: string[], cls = ""): string {
  const href = path === null ? "" : ` data-href="${esc(ctx.href(path))}" tabindex="-1"`;
  return `<tr class="${cls}"${href}>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`;
}

function table(head: string[], rows: string[], empty: string, numericFrom = 1): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  const ths = head.map((h, i) => `<th${i >= numericFrom ? ` class="n"` : ""}>${esc(h)}</th>`).join("");
  return `<div class="table-wrap"><table class="grid num-from-${numericFrom}"><thead><tr>${ths}</tr></thead><tbody>${rows.join("")}</tbody></table></div>`;
}

/** The banner naming every node that failed or is slow; the rest of the page keeps its data. */
export function problems(ctx: ViewContext): string {
  const items = ctx.cluster.problems().map((p) => `<li><b>${esc(p.node)}</b>: ${esc(p.error)}</li>`);
  if (ctx.cluster.discoveryError) items.unshift(`<li><b>node list</b>: ${esc(ctx.cluster.discoveryError)}</li>`);
  if (ctx.cluster.discoveryWarning) items.unshift(`<li><b>nsqlookupd</b>: ${esc(ctx.cluster.discoveryWarning.replace(/^WARNING: /, ""))}</li>`);
  if (items.length === 0) return "";
  return `<div class="alert" role="status" id="problems"><b>Some nodes are not answering — their last known numbers are shown greyed.</b><ul>${items.join("")}</ul></div>`;
}

function summary(cells: Array<[string, string]>): string {
  return `<div class="cards">${cells.map(([k, v]) => `<div class="card"><div class="k">${esc(k)}</div><div class="v">${v}</div></div>`).join("")}</div>`;
}

function filtered(ctx: ViewContext, rows: TopicRow[]): TopicRow[] {
  const f = ctx.filter.trim().toLowerCase();
  return f === "" ? rows : rows.filter((r) => r.topic.toLowerCase().includes(f));
}

export function topicsPage(ctx: ViewContext): string {
  const c = ctx.cluster;
  const topics = c.topics();
  const nodes = [...c.nodes.values()];
  const up = nodes.filter((n) => n.sample && !c.isStale(n)).length;
  // messages published per second: the topics' rates (the counter page counts channel deliveries)
  const total = topics.some((t) => t.rate !== null) ? topics.reduce((s, t) => s + (t.rate ?? 0), 0) : null;
  const head = summary([
    ["nodes answering", `${up} / ${nodes.length}`],
    ["topics", num(topics.length)],
    ["queued", num(topics.reduce((s, t) => s + t.depth + t.channels.reduce((x, c) => x + c.depth, 0), 0))],
    ["in flight", num(topics.reduce((s, t) => s + t.inFlight, 0))],
    ["msgs/s", `<span data-testid="cluster-rate">${rate(total)}</span>`],
  ]);
  const rows = filtered(ctx, topics).map((t) =>
    row(ctx, `/topics/${seg(t.topic)}`, [
      `${link(ctx, `/topics/${seg(t.topic)}`, t.topic)}${t.paused ? " " + badge("paused", "warn") : ""}`,
      num(t.depth),
      `${num(t.memory)} + ${num(t.backend)}`,
      num(t.channels.reduce((x, c) => x + c.depth, 0)),
      num(t.inFlight),
      `<span data-topic-messages="${esc(t.topic)}">${num(t.messages)}</span>`,
      `<span class="rate" data-topic-rate="${esc(t.topic)}">${rate(t.rate)}</span>`,
      num(t.channels.length),
      `${t.nodes.length}${t.nodes.some((n) => n.stale) ? " " + badge("stale", "muted") : ""}`,
    ]));
  const filter = `<input type="search" id="filter" placeholder="Filter topics  ( / )" value="${esc(ctx.filter)}" aria-label="Filter topics">`;
  return `<h1>Topics</h1>${head}<div class="toolbar">${filter}</div>${table(
    ["Topic", "Depth", "Memory + Disk", "Channel depth", "In flight", "Messages", "msgs/s", "Channels", "Nodes"],
    rows,
    c.nodes.size === 0 ? "Waiting for the node list…" : "No topics.",
  )}`;
}

/**
 * The rates the nodes measure themselves (nsq serve's `rates`), summed over the nodes offering
 * them, per window; nothing when no node does (real nsqd). `out` is what left: for a topic,
 * handed to its channels; for a channel, finished (or emptied / dead-lettered).
 */
function measuredRates(r: TopicRow | ChannelRow, outLabel: string): string {
  const m = r.measured;
  if (m === null) return "";
  const partial = r.measuredBy < r.nodes.length ? `; ${r.measuredBy} of ${r.nodes.length} nodes measure them, the others are not included` : "";
  const line = (label: string, w: "1s" | "10s" | "1m"): string =>
    `<tr><td>${label}</td><td class="n" data-rate="message_${w}">${rate(m[`message_${w}`])}</td><td class="n" data-rate="out_${w}">${rate(m[`out_${w}`])}</td></tr>`;
  return `<h2>Rates <span class="muted small">measured by the nodes${esc(partial)}</span></h2>`
    + `<div class="table-wrap narrow"><table class="grid compact narrow" data-testid="measured-rates"><thead><tr><th>Over the last</th><th class="n">In msgs/s</th><th class="n">${esc(outLabel)}</th></tr></thead>`
    + `<tbody>${line("1 s", "1s")}${line("10 s", "10s")}${line("1 min", "1m")}</tbody></table></div>`;
}

export function topicPage(ctx: ViewContext, topic: string): string {
  const t = ctx.cluster.topics().find((x) => x.topic === topic);
  const crumbs = `<nav class="crumbs">${link(ctx, "/topics", "Topics")} / <b>${esc(topic)}</b></nav>`;
  if (!t) return `${crumbs}<h1>${esc(topic)}</h1><p class="empty">No node reports this topic${ctx.cluster.nodes.size === 0 ? " yet" : ""}.</p>`;
  const actions = `<div class="actions">${t.paused
    ? button("unpause", "Unpause topic", { topic }, "primary", ctx)
    : button("pause", "Pause topic", { topic }, "", ctx)}${button("empty", "Empty queue", { topic }, "danger", ctx)}${button("delete", "Delete topic", { topic }, "danger", ctx)}</div>`;
  const cards = summary([
    ["depth", num(t.depth)],
    ["memory + disk", `${num(t.memory)} + ${num(t.backend)}`],
    ["messages", num(t.messages)],
    ["msgs/s", `<span data-testid="topic-rate">${rate(t.rate)}</span> ${sparkline(ctx.cluster.topicHistory.get(topic) ?? [])}`],
    ["state", t.paused ? badge("paused", "warn") : badge("active", "ok")],
  ]);
  const nodeRows = t.nodes.map((n) =>
    row(ctx, `/nodes/${seg(n.node)}`, [
      `${link(ctx, `/nodes/${seg(n.node)}`, n.node)} <span class="muted">${esc(n.stats.hostname)}</span>${n.stale ? " " + badge("stale", "muted") : ""}`,
      num(n.stats.depth),
      `${num(n.stats.memory_depth)} + ${num(n.stats.backend_depth)}`,
      num(n.stats.message_count),
      rate(n.rate),
      num(n.stats.channels?.length ?? 0),
      n.stats.paused ? badge("paused", "warn") : "",
    ], n.stale ? "stale" : ""));
  const channelRows = t.channels.map((c) =>
    row(ctx, `/topics/${seg(topic)}/${seg(c.channel)}`, [
      `${link(ctx, `/topics/${seg(topic)}/${seg(c.channel)}`, c.channel)}${c.paused ? " " + badge("paused", "warn") : ""}`,
      num(c.depth),
      `${num(c.memory)} + ${num(c.backend)}`,
      num(c.inFlight),
      num(c.deferred),
      num(c.requeued),
      num(c.timedOut),
      num(c.messages),
      rate(c.rate),
      num(c.clients),
    ]));
  return `${crumbs}<div class="title"><h1>Topic <code>${esc(topic)}</code></h1>${actions}</div>${cards}
${measuredRates(t, "Out msgs/s (to channels)")}
<h2>Channels</h2>${table(["Channel", "Depth", "Memory + Disk", "In flight", "Deferred", "Requeued", "Timed out", "Messages", "msgs/s", "Clients"], channelRows, "No channels.")}
<h2>Nodes</h2>${table(["Node", "Depth", "Memory + Disk", "Messages", "msgs/s", "Channels", ""], nodeRows, "No node has this topic.")}`;
}

function clientRow(c: AdminClientStats): string {
  const compression = c.snappy ? "snappy" : c.deflate ? "deflate" : "";
  const transport = [c.tls ? badge(c.tls_version || "TLS", "ok") : "", compression].filter((x) => x !== "").join(" ") || "–";
  const name = c.client_id && c.client_id !== c.hostname ? `${esc(c.client_id)} <span class="muted">@ ${esc(c.hostname)}</span>` : esc(c.hostname || c.client_id);
  return `<tr><td>${name}<div class="muted small">${esc(c.user_agent)}</div></td><td>${esc(c.remote_address)}</td><td>${esc(c.node)}</td><td>${esc(c.version)}</td>`
    + `<td>${transport}</td>`
    + `<td class="n">${num(c.ready_count)}</td><td class="n">${num(c.in_flight_count)}</td><td class="n">${num(c.message_count)}</td><td class="n">${num(c.finish_count)}</td><td class="n">${num(c.requeue_count)}</td>`
    + `<td class="n">${duration(c.connected)}</td></tr>`;
}

export function channelPage(ctx: ViewContext, topic: string, channel: string): string {
  const t = ctx.cluster.topics().find((x) => x.topic === topic);
  const c = t?.channels.find((x) => x.channel === channel);
  const crumbs = `<nav class="crumbs">${link(ctx, "/topics", "Topics")} / ${link(ctx, `/topics/${seg(topic)}`, topic)} / <b>${esc(channel)}</b></nav>`;
  if (!c) return `${crumbs}<h1>${esc(channel)}</h1><p class="empty">No node reports this channel.</p>`;
  const target = { topic, channel };
  const actions = `<div class="actions">${c.paused
    ? button("unpause", "Unpause channel", target, "primary", ctx)
    : button("pause", "Pause channel", target, "", ctx)}${button("empty", "Empty queue", target, "danger", ctx)}${button("delete", "Delete channel", target, "danger", ctx)}</div>`;
  const cards = summary([
    ["depth", num(c.depth)],
    ["in flight", num(c.inFlight)],
    ["deferred", num(c.deferred)],
    ["requeued / timed out", `${num(c.requeued)} / ${num(c.timedOut)}`],
    ["messages", num(c.messages)],
    ["msgs/s", `<span data-testid="channel-rate">${rate(c.rate)}</span>`],
    ["state", `<span data-testid="channel-state">${c.paused ? badge("paused", "warn") : badge("active", "ok")}</span>`],
  ]);
  const nodeRows = c.nodes.map((n) =>
    row(ctx, `/nodes/${seg(n.node)}`, [
      `${link(ctx, `/nodes/${seg(n.node)}`, n.node)}${n.stale ? " " + badge("stale", "muted") : ""}`,
      num(n.stats.depth),
      `${num(n.stats.memory_depth)} + ${num(n.stats.backend_depth)}`,
      num(n.stats.in_flight_count),
      num(n.stats.deferred_count),
      num(n.stats.message_count),
      rate(n.rate),
      num(n.stats.client_count),
      n.stats.paused ? badge("paused", "warn") : "",
    ], n.stale ? "stale" : ""));
  const clients = c.nodes.flatMap((n) => n.stats.clients ?? []);
  const clientTable = clients.length === 0
    ? `<p class="empty">No clients connected.</p>`
    : `<div class="table-wrap"><table class="grid compact"><thead><tr><th>Client</th><th>Address</th><th>Node</th><th>Protocol</th><th>TLS / compression</th><th class="n">RDY</th><th class="n">In flight</th><th class="n">Messages</th><th class="n">Finished</th><th class="n">Requeued</th><th class="n">Connected</th></tr></thead><tbody>${clients.map(clientRow).join("")}</tbody></table></div>`;
  return `${crumbs}<div class="title"><h1>Channel <code>${esc(topic)}/${esc(channel)}</code></h1>${actions}</div>${cards}
<h2>Clients <span class="muted">(${clients.length})</span></h2>${clientTable}
${measuredRates(c, "Out msgs/s (finished)")}
<h2>Nodes</h2>${table(["Node", "Depth", "Memory + Disk", "In flight", "Deferred", "Messages", "msgs/s", "Clients", ""], nodeRows, "No node has this channel.")}`;
}

function health(ctx: ViewContext, name: string): string {
  const n = ctx.cluster.nodes.get(name)!;
  if (n.error) return badge("error", "bad");
  if (n.pendingSince !== null && Date.now() - n.pendingSince > SLOW_AFTER_MS) return badge("slow", "warn");
  if (!n.sample) return badge("…", "muted");
  const h = n.sample.reply.health ?? "OK";
  return h === "OK" || h === "" ? badge("OK", "ok") : badge(h, "bad");
}

export function nodesPage(ctx: ViewContext): string {
  const lookupdCount = ctx.config.lookupd.length;
  const rows = [...ctx.cluster.nodes.values()].sort((a, b) => a.name.localeCompare(b.name)).map((n) => {
    const p: Producer | null = n.info;
    const registered = p?.remote_addresses?.length ?? 0;
    return row(ctx, `/nodes/${seg(n.name)}`, [
      `${link(ctx, `/nodes/${seg(n.name)}`, p?.hostname || n.name)}${n.listed ? "" : " " + badge("unregistered", "warn")}`,
      esc(n.name),
      esc(p ? String(p.tcp_port) : "–"),
      `${esc(p?.version ?? "")}${p?.out_of_date ? " " + badge("out of date", "warn") : ""}`,
      lookupdCount > 0 ? `${registered} / ${lookupdCount}${registered !== lookupdCount ? " " + badge("inconsistent", "warn") : ""}` : "–",
      num(n.sample?.reply.topics.length ?? p?.topics?.length ?? 0),
      num(n.sample?.reply.total_clients ?? 0),
      health(ctx, n.name),
    ], ctx.cluster.isStale(n) ? "stale" : "");
  });
  return `<h1>Nodes</h1>${table(["Hostname", "HTTP address", "TCP port", "Version", "Lookupds", "Topics", "Clients", "Health"], rows, "Waiting for the node list…", 2)}
<h2>Discovery</h2><p class="muted">${lookupdCount > 0
    ? `nsqlookupd: ${ctx.config.lookupd.map((a) => `<code>${esc(a)}</code>`).join(", ")}`
    : `nsqd: ${ctx.config.nsqd.map((a) => `<code>${esc(a)}</code>`).join(", ")}`}</p>`;
}

export function nodePage(ctx: ViewContext, name: string): string {
  const n = ctx.cluster.nodes.get(name);
  const crumbs = `<nav class="crumbs">${link(ctx, "/nodes", "Nodes")} / <b>${esc(name)}</b></nav>`;
  if (!n) return `${crumbs}<h1>${esc(name)}</h1><p class="empty">Unknown node.</p>`;
  const reply = n.sample?.reply;
  const cards = summary([
    ["hostname", esc(n.info?.hostname ?? "")],
    ["version", esc(reply?.version ?? n.info?.version ?? "")],
    ["health", health(ctx, name)],
    ["topics", num(reply?.topics.length ?? 0)],
    ["messages", num(reply?.total_messages ?? 0)],
    ["clients", num(reply?.total_clients ?? 0)],
  ]);
  const lookupMode = ctx.config.lookupd.length > 0;
  const rows = (reply?.topics ?? []).flatMap((t) => {
    const tomb = lookupMode ? button("tombstone", "Tombstone", { topic: t.topic_name, node: name }, "danger small", ctx) : "";
    const top = row(ctx, `/topics/${seg(t.topic_name)}`, [
      `${link(ctx, `/topics/${seg(t.topic_name)}`, t.topic_name)}${t.paused ? " " + badge("paused", "warn") : ""}`,
      num(t.depth), `${num(t.memory_depth)} + ${num(t.backend_depth)}`, "", num(t.message_count), "", tomb,
    ], "topic-row");
    const chans = (t.channels ?? []).map((c) =>
      row(ctx, `/topics/${seg(t.topic_name)}/${seg(c.channel_name)}`, [
        `<span class="indent">↳ ${link(ctx, `/topics/${seg(t.topic_name)}/${seg(c.channel_name)}`, c.channel_name)}</span>${c.paused ? " " + badge("paused", "warn") : ""}`,
        num(c.depth), `${num(c.memory_depth)} + ${num(c.backend_depth)}`, num(c.in_flight_count), num(c.message_count), num(c.clients?.length ?? c.client_count), "",
      ]));
    return [top, ...chans];
  });
  const err = n.error ? `<div class="alert"><b>${esc(name)}</b>: ${esc(n.error)}</div>` : "";
  return `${crumbs}<h1>Node <code>${esc(name)}</code></h1>${err}${cards}
<h2>Topics and channels</h2>${table(["Topic / channel", "Depth", "Memory + Disk", "In flight", "Messages", "Clients", ""], rows, n.sample ? "No topics on this node." : "Waiting for this node…")}`;
}

export function lookupPage(ctx: ViewContext): string {
  if (ctx.config.lookupd.length === 0) {
    return `<h1>Lookup</h1><p class="empty">nsqadmin was started with --nsqd-http-address: there is no nsqlookupd to show.</p>`;
  }
  const l = ctx.lookup;
  const producersOf = new Map<string, Array<{ node: string; tombstoned: boolean }>>();
  for (const n of ctx.cluster.nodes.values()) {
    for (const t of n.info?.topics ?? []) {
      const list = producersOf.get(t.topic) ?? [];
      list.push({ node: n.name, tombstoned: t.tombstoned });
      producersOf.set(t.topic, list);
    }
  }
  const rows = (l.topics ?? []).map((topic) => {
    const producers = producersOf.get(topic) ?? [];
    const inactive = l.inactive?.[topic];
    const prodCell = producers.length === 0
      ? `<span class="muted">no producers</span>`
      : producers.map((p) => `<span class="chip${p.tombstoned ? " tomb" : ""}">${esc(p.node)}${p.tombstoned
        ? " " + badge("tombstoned", "warn")
        : " " + button("tombstone", "✕", { topic, node: p.node }, "small danger", ctx)}</span>`).join(" ");
    const channels = inactive ? inactive.map((c) => `<code>${esc(c)}</code>`).join(" ") : "";
    const del = inactive ? button("delete", "Delete", { topic }, "danger small", ctx) : "";
    return `<tr><td>${link(ctx, `/topics/${seg(topic)}`, topic)}</td><td>${prodCell}</td><td>${channels}</td><td>${del}</td></tr>`;
  });
  const form = ctx.config.isAdmin
    ? `<form id="create-form" class="toolbar"><input name="topic" placeholder="topic" required aria-label="Topic to create"><input name="channel" placeholder="channel (optional)" aria-label="Channel to create"><button class="btn primary" type="submit">Create</button></form>`
    : "";
  const err = l.error ? `<div class="alert"><b>nsqlookupd</b>: ${esc(l.error)}</div>` : l.message ? `<div class="alert">${esc(l.message)}</div>` : "";
  return `<h1>Lookup</h1><p class="muted">nsqlookupd: ${ctx.config.lookupd.map((a) => `<code>${esc(a)}</code>`).join(", ")}</p>${err}
<h2>Create a topic or channel</h2>${form || `<p class="muted">Only admin users may create topics.</p>`}
<h2>Topics known to nsqlookupd</h2>${l.topics === null ? `<p class="empty">Loading…</p>` : l.topics.length === 0 ? `<p class="empty">No topics.</p>`
    : `<div class="table-wrap"><table class="grid"><thead><tr><th>Topic</th><th>Producers (tombstone a node)</th><th>Channels (topics without producers)</th><th></th></tr></thead><tbody>${rows.join("")}</tbody></table></div>`}`;
}

export function counterPage(ctx: ViewContext): string {
  const c = ctx.cluster;
  return `<h1>Messages processed</h1><div class="counter"><div class="big" data-testid="counter">${num(c.totalMessages())}</div>
<div class="muted">across every channel of every node · <b data-testid="counter-rate">${rate(c.totalRate())}</b> msgs/s</div>
<div class="spark-big">${sparkline(c.history, 600, 80)}</div></div>`;
}
