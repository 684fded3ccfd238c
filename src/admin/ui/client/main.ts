/**
 * The admin UI in the browser: routes the page paths (under the base path) to views.ts, keeps
 * the page live from the cluster model (model.ts), and runs the admin actions after a
 * confirmation. Keyboard: g t / g n / g l / g c go to a page, j / k move through rows, Enter
 * opens, / filters, d toggles dark mode, ? shows the keys.
 */
import { call, get, setBasePath } from "./api.ts";
import { esc } from "./format.ts";
import { Cluster } from "./model.ts";
import * as views from "./views.ts";

const config = JSON.parse(document.getElementById("nsqadmin-config")!.textContent!) as views.UiConfig;
setBasePath(config.basePath);
const base = config.basePath === "/" ? "" : config.basePath;
const POLL_MS = 1000;

const href = (path: string): string => base + path;
const lookup: views.LookupState = { topics: null, inactive: null, error: null, message: "" };
let filter = "";
let selected = -1;
let lastHtml = "";
let renderQueued = false;

const cluster = new Cluster(POLL_MS, () => scheduleRender());

type Route =
  | { page: "topics" }
  | { page: "topic"; topic: string }
  | { page: "channel"; topic: string; channel: string }
  | { page: "nodes" }
  | { page: "node"; node: string }
  | { page: "lookup" }
  | { page: "counter" };

function route(): Route {
  let path = location.pathname;
  if (base !== "" && path.startsWith(base)) path = path.slice(base.length);
  const parts = path.split("/").filter((p) => p !== "").map(decodeURIComponent);
  if (parts[0] === "topics" && parts.length === 2) return { page: "topic", topic: parts[1]! };
  if (parts[0] === "topics" && parts.length === 3) return { page: "channel", topic: parts[1]!, channel: parts[2]! };
  if (parts[0] === "nodes" && parts.length === 2) return { page: "node", node: parts[1]! };
  if (parts[0] === "nodes") return { page: "nodes" };
  if (parts[0] === "lookup") return { page: "lookup" };
  if (parts[0] === "counter") return { page: "counter" };
  return { page: "topics" };
}

function shell(): void {
  const nav = [["topics", "/topics", "Topics", "t"], ["nodes", "/nodes", "Nodes", "n"], ["counter", "/counter", "Counter", "c"], ["lookup", "/lookup", "Lookup", "l"]]
    .map(([id, path, label, key]) => `<a href="${esc(href(path!))}" data-link data-nav="${id}" title="g ${key}">${label}</a>`).join("");
  document.getElementById("app")!.innerHTML = `<header class="top"><a class="brand" href="${esc(href("/"))}" data-link>nsq<b>admin</b></a><nav class="nav">${nav}</nav>
<div class="right"><span class="live" id="live" title="updated every second">● live</span><button class="btn ghost" id="theme" title="dark mode (d)" aria-label="Toggle dark mode">◐</button><button class="btn ghost" id="help" title="keyboard (?)" aria-label="Keyboard shortcuts">?</button></div></header>
<div id="problems-slot"></div><main id="main" tabindex="-1"></main><div id="toasts" aria-live="polite"></div>
<footer class="muted">nsq admin v${esc(config.version)}${config.isAdmin ? "" : " · read-only (not an admin user)"}</footer>
<dialog id="confirm"><form method="dialog"><p id="confirm-text"></p><div class="actions"><button class="btn" value="cancel" id="confirm-cancel">Cancel</button><button class="btn danger" value="ok" id="confirm-ok">Confirm</button></div></form></dialog>
<dialog id="keys"><form method="dialog"><h2>Keyboard</h2><table class="keys"><tr><td><kbd>g</kbd> <kbd>t</kbd> / <kbd>n</kbd> / <kbd>c</kbd> / <kbd>l</kbd></td><td>topics, nodes, counter, lookup</td></tr><tr><td><kbd>j</kbd> <kbd>k</kbd></td><td>next / previous row</td></tr><tr><td><kbd>Enter</kbd></td><td>open the row</td></tr><tr><td><kbd>/</kbd></td><td>filter topics</td></tr><tr><td><kbd>u</kbd></td><td>up one level</td></tr><tr><td><kbd>d</kbd></td><td>dark mode</td></tr></table><div class="actions"><button class="btn">Close</button></div></form></dialog>`;
}

function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render(): void {
  const r = route();
  const ctx: views.ViewContext = { config, cluster, lookup, filter, href };
  let html: string;
  switch (r.page) {
    case "topics": html = views.topicsPage(ctx); break;
    case "topic": html = views.topicPage(ctx, r.topic); break;
    case "channel": html = views.channelPage(ctx, r.topic, r.channel); break;
    case "nodes": html = views.nodesPage(ctx); break;
    case "node": html = views.nodePage(ctx, r.node); break;
    case "lookup": html = views.lookupPage(ctx); break;
    case "counter": html = views.counterPage(ctx); break;
  }
  const navPage = r.page === "topic" || r.page === "channel" ? "topics" : r.page === "node" ? "nodes" : r.page;
  for (const a of document.querySelectorAll<HTMLElement>("[data-nav]")) a.classList.toggle("active", a.dataset.nav === navPage);
  const problems = views.problems(ctx);
  const slot = document.getElementById("problems-slot")!;
  if (slot.innerHTML !== problems) slot.innerHTML = problems;
  if (html === lastHtml) return;
  lastHtml = html;
  const main = document.getElementById("main")!;
  // keep what the user is typing in and where the keyboard is while the page updates
  const active = document.activeElement as HTMLInputElement | null;
  const focusId = active && main.contains(active) ? active.id || active.getAttribute("name") : null;
  const formValues = [...main.querySelectorAll<HTMLInputElement>("form input")].map((i) => [i.name, i.value] as const);
  const caret = active?.selectionStart ?? null;
  main.innerHTML = html;
  for (const [name, value] of formValues) {
    const input = main.querySelector<HTMLInputElement>(`form input[name="${name}"]`);
    if (input) input.value = value;
  }
  if (focusId) {
    const el = (document.getElementById(focusId) ?? main.querySelector<HTMLInputElement>(`[name="${focusId}"]`)) as HTMLInputElement | null;
    if (el) {
      el.focus();
      if (caret !== null) el.setSelectionRange(caret, caret);
    }
  }
  applySelection();
}

function rows(): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>("#main tr[data-href]")];
}

function applySelection(): void {
  const all = rows();
  if (selected >= all.length) selected = all.length - 1;
  all.forEach((tr, i) => tr.classList.toggle("selected", i === selected));
}

function navigate(to: string): void {
  if (to !== location.pathname) history.pushState(null, "", to);
  selected = -1;
  lastHtml = "";
  filter = "";
  render();
  document.getElementById("main")!.focus({ preventScroll: true });
  window.scrollTo(0, 0);
  if (route().page === "lookup") void pollLookup();
}

function toast(text: string, kind: "ok" | "bad" = "ok"): void {
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.setAttribute("role", kind === "bad" ? "alert" : "status");
  el.textContent = text;
  document.getElementById("toasts")!.append(el);
  setTimeout(() => el.remove(), kind === "bad" ? 10000 : 4000);
}

function confirmDialog(text: string): Promise<boolean> {
  const dialog = document.getElementById("confirm") as HTMLDialogElement;
  document.getElementById("confirm-text")!.textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    (document.getElementById("confirm-cancel") as HTMLButtonElement).focus();
  });
}

const VERBS: Record<string, string> = { pause: "Pause", unpause: "Unpause", empty: "Empty", delete: "Delete", tombstone: "Tombstone" };
const DONE: Record<string, string> = { pause: "Paused", unpause: "Unpaused", empty: "Emptied", delete: "Deleted", tombstone: "Tombstoned" };

async function runAction(btn: HTMLElement): Promise<void> {
  const { action, topic, channel, node } = btn.dataset;
  if (!action || !topic) return;
  const what = channel ? `channel ${topic}/${channel}` : `topic ${topic}`;
  const question = action === "tombstone"
    ? `Tombstone node ${node} for topic ${topic}? Consumers stop finding it there and the topic is deleted on that node.`
    : action === "empty"
      ? `Empty ${what}? Every queued message is lost.`
      : action === "delete"
        ? `Delete ${what} on every node? Its messages are lost.`
        : `${VERBS[action]} ${what} on every node?`;
  if (!(await confirmDialog(question))) return;
  const path = `/api/topics/${encodeURIComponent(topic)}${channel ? `/${encodeURIComponent(channel)}` : ""}`;
  try {
    let reply: { message?: string };
    if (action === "delete") reply = await call("DELETE", path);
    else if (action === "tombstone") reply = await call("DELETE", `/api/nodes/${encodeURIComponent(node!)}`, { topic });
    else reply = await call("POST", path, { action });
    if (reply.message) toast(`${VERBS[action]} ${what}: ${reply.message}`, "bad");
    else toast(`${DONE[action]} ${what}${action === "tombstone" ? ` on ${node}` : ""}`);
    // leave the page of what was deleted (the lookup page, say, stays)
    const r = route();
    const onDeleted = (r.page === "topic" && !channel && r.topic === topic) || (r.page === "channel" && r.topic === topic && (!channel || r.channel === channel));
    if (action === "delete" && onDeleted) navigate(href(channel ? `/topics/${encodeURIComponent(topic)}` : "/topics"));
  } catch (err) {
    toast(`${VERBS[action]} ${what} failed: ${(err as Error).message}`, "bad");
  }
  cluster.refresh();
  if (route().page === "lookup") void pollLookup();
}

let lookupBusy = false;
async function pollLookup(): Promise<void> {
  if (lookupBusy || config.lookupd.length === 0) return;
  lookupBusy = true;
  try {
    const [all, inactive] = await Promise.all([
      get<{ topics: string[]; message: string }>("/api/topics"),
      get<{ topics: Record<string, string[]>; message: string }>("/api/topics?inactive=true"),
    ]);
    lookup.topics = all.topics;
    lookup.inactive = inactive.topics;
    lookup.message = all.message;
    lookup.error = null;
  } catch (err) {
    lookup.error = (err as Error).message;
  } finally {
    lookupBusy = false;
    scheduleRender();
  }
}

function toggleTheme(): void {
  const root = document.documentElement;
  const dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  root.dataset.theme = dark ? "light" : "dark";
  try {
    localStorage.setItem("nsqadmin-theme", root.dataset.theme);
  } catch {
    // private mode: the choice lasts for this page only
  }
}

function bindEvents(): void {
  document.addEventListener("click", (e) => {
    const target = e.target as HTMLElement;
    const btn = target.closest<HTMLElement>("button[data-action]");
    if (btn) {
      void runAction(btn);
      return;
    }
    const a = target.closest<HTMLAnchorElement>("a[data-link]");
    if (a && !e.metaKey && !e.ctrlKey && !e.shiftKey && e.button === 0) {
      e.preventDefault();
      navigate(a.pathname);
      return;
    }
    const tr = target.closest<HTMLElement>("tr[data-href]");
    if (tr && !target.closest("a,button,input")) navigate(tr.dataset.href!);
  });
  document.addEventListener("input", (e) => {
    const t = e.target as HTMLInputElement;
    if (t.id === "filter") {
      filter = t.value;
      selected = -1;
      render();
    }
  });
  document.addEventListener("submit", (e) => {
    const form = e.target as HTMLFormElement;
    if (form.id !== "create-form") return;
    e.preventDefault();
    const data = new FormData(form);
    const topic = String(data.get("topic") ?? "").trim();
    const channel = String(data.get("channel") ?? "").trim();
    void call<{ message: string }>("POST", "/api/topics", channel ? { topic, channel } : { topic })
      .then((r) => {
        toast(r.message ? `created with warnings: ${r.message}` : `created ${channel ? `${topic}/${channel}` : topic}`, r.message ? "bad" : "ok");
        form.reset();
        for (const i of form.querySelectorAll("input")) i.value = "";
      })
      .catch((err: unknown) => toast(`create failed: ${(err as Error).message}`, "bad"))
      .finally(() => void pollLookup());
  });
  document.getElementById("theme")!.addEventListener("click", toggleTheme);
  document.getElementById("help")!.addEventListener("click", () => (document.getElementById("keys") as HTMLDialogElement).showModal());
  window.addEventListener("popstate", () => {
    lastHtml = "";
    selected = -1;
    render();
  });
  let pendingG = false;
  document.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement;
    if (t.closest("input,textarea,select,dialog") || e.metaKey || e.ctrlKey || e.altKey) {
      if (e.key === "Escape" && t instanceof HTMLInputElement) t.blur();
      return;
    }
    if (pendingG) {
      pendingG = false;
      const to = ({ t: "/topics", n: "/nodes", c: "/counter", l: "/lookup" } as Record<string, string>)[e.key];
      if (to) navigate(href(to));
      return;
    }
    const all = rows();
    switch (e.key) {
      case "g": pendingG = true; return;
      case "j": selected = Math.min(all.length - 1, selected + 1); break;
      case "k": selected = Math.max(0, selected - 1); break;
      case "Enter": if (selected >= 0 && all[selected]) navigate(all[selected]!.dataset.href!); return;
      case "/": {
        const f = document.getElementById("filter");
        if (f) {
          e.preventDefault();
          f.focus();
        }
        return;
      }
      case "u": {
        const crumbs = [...document.querySelectorAll<HTMLAnchorElement>(".crumbs a")];
        if (crumbs.length > 0) navigate(crumbs[crumbs.length - 1]!.pathname);
        return;
      }
      case "d": toggleTheme(); return;
      case "?": (document.getElementById("keys") as HTMLDialogElement).showModal(); return;
      default: return;
    }
    e.preventDefault();
    applySelection();
    all[selected]?.scrollIntoView({ block: "nearest" });
  });
}

shell();
bindEvents();
render();
cluster.start();
if (route().page === "lookup") void pollLookup();
setInterval(() => {
  if (route().page === "lookup") void pollLookup();
  const live = document.getElementById("live");
  if (live) live.classList.toggle("pulse");
}, POLL_MS * 2);
