/**
 * nsqadmin's JSON API (nsqadmin/http.go v1.3.0; spec §6.6): the read routes over the cluster and
 * the admin actions. Partial upstream failures answer 200 with `"message": "WARNING: ..."`;
 * when no node answered, 502 `UPSTREAM_ERROR: ...`.
 *
 * Differences from nsqadmin, on purpose: a topic no lookupd (or nsqd) knows is 404
 * TOPIC_NOT_FOUND and a channel no producer has is 404 CHANNEL_NOT_FOUND (nsqadmin answers 502
 * or panics there), and a topic with no producers yet answers its empty stats.
 */
import { HttpError } from "../http-api/response.ts";
import { isValidChannelName, isValidTopicName } from "../protocol/names.ts";
import type { Logger } from "../util/logger.ts";
import { isAuthorizedAdmin } from "./acl.ts";
import { producerHttpAddress, UpstreamError, type ClusterInfo, type Producer } from "./cluster-info.ts";
import type { Notifier, ActionRequest, AdminActionName } from "./notify.ts";
import type { AdminOptions } from "./options.ts";
import { aggregateTopic, emptyChannel, addChannel } from "./stats.ts";
import type { AdminRates } from "./api-types.ts";

export interface ApiContext {
  opts(): AdminOptions;
  ci: ClusterInfo;
  notifier: Notifier;
  logger: Logger;
}

export interface ApiRequest extends ActionRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  body: string;
}

export type ApiHandler = (ctx: ApiContext, req: ApiRequest) => Promise<unknown>;

/** "WARNING: a; b" when some nodes failed, else "" (nsqadmin's maybeWarnMsg). */
function warn(messages: readonly string[]): string {
  return messages.length > 0 ? `WARNING: ${messages.join("; ")}` : "";
}

/** Runs a cluster call; a total failure becomes 502 UPSTREAM_ERROR, logged like nsqadmin. */
async function upstream<T>(ctx: ApiContext, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof UpstreamError) {
      ctx.logger.error(`failed to ${what} - ${err.message}`);
      throw new HttpError(502, `UPSTREAM_ERROR: ${err.message}`);
    }
    throw err;
  }
}

function collect(ctx: ApiContext, messages: string[], errors: readonly string[]): void {
  if (errors.length === 0) return;
  const text = errors.join("\n");
  ctx.logger.warn(text);
  messages.push(text);
}

function requireAdmin(ctx: ApiContext, req: ApiRequest): void {
  const o = ctx.opts();
  if (!isAuthorizedAdmin(req.headers, o.adminUsers, o.aclHttpHeader)) throw new HttpError(403, "FORBIDDEN");
}

/** A JSON object body; anything else is 400 with `code` (or the parse error as nsqadmin). */
function jsonBody(req: ApiRequest, code?: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(req.body);
  } catch (err) {
    throw new HttpError(400, code ?? (req.body.trim() === "" ? "EOF" : (err as Error).message));
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new HttpError(400, code ?? "INVALID_BODY");
  return v as Record<string, unknown>;
}

const field = (body: Record<string, unknown>, name: string): string => (typeof body[name] === "string" ? (body[name] as string) : "");

export const topics: ApiHandler = async (ctx, req) => {
  const o = ctx.opts();
  const messages: string[] = [];
  const r = await upstream(ctx, "get topics", () =>
    o.lookupdHttpAddresses.length > 0 ? ctx.ci.lookupdTopics(o.lookupdHttpAddresses) : ctx.ci.nsqdTopics(o.nsqdHttpAddresses));
  collect(ctx, messages, r.errors);
  if (req.query.get("inactive") === "true") {
    const inactive: Record<string, string[]> = {};
    if (o.lookupdHttpAddresses.length > 0) {
      await Promise.all(r.value.map(async (topic) => {
        const p = await ctx.ci.lookupdTopicProducers(topic, o.lookupdHttpAddresses).catch(() => null);
        if (p && p.value.producers.length === 0) {
          const ch = await ctx.ci.lookupdTopicChannels(topic, o.lookupdHttpAddresses).catch(() => null);
          inactive[topic] = ch?.value ?? [];
        }
      }));
    }
    return { topics: inactive, message: warn(messages) };
  }
  return { topics: r.value, message: warn(messages) };
};

/** Producers of a topic; 404 TOPIC_NOT_FOUND when no lookupd / nsqd has heard of it. */
async function topicProducers(ctx: ApiContext, topic: string, messages: string[]): Promise<Producer[]> {
  const o = ctx.opts();
  const r = await upstream(ctx, "get topic producers", () => ctx.ci.topicProducers(topic, o.lookupdHttpAddresses, o.nsqdHttpAddresses));
  collect(ctx, messages, r.errors);
  if (!r.value.known && r.errors.length === 0) throw new HttpError(404, "TOPIC_NOT_FOUND");
  return r.value.producers;
}

export const topic: ApiHandler = async (ctx, req) => {
  const name = req.params.topic!;
  const messages: string[] = [];
  const producers = await topicProducers(ctx, name, messages);
  const stats = await upstream(ctx, "get topic metadata", () => ctx.ci.nsqdStats(producers, name, "", false));
  collect(ctx, messages, stats.errors);
  return { ...aggregateTopic(name, stats.value), message: warn(messages) };
};

export const channel: ApiHandler = async (ctx, req) => {
  const topicName = req.params.topic!;
  const channelName = req.params.channel!;
  const messages: string[] = [];
  const producers = await topicProducers(ctx, topicName, messages);
  const stats = await upstream(ctx, "get channel metadata", () => ctx.ci.nsqdStats(producers, topicName, channelName, true));
  collect(ctx, messages, stats.errors);
  const sum = emptyChannel(topicName, channelName);
  let found = false;
  for (const t of stats.value) {
    for (const c of t.channels ?? []) {
      if (c.channel_name !== channelName) continue;
      found = true;
      addChannel(sum, c);
    }
  }
  if (!found && stats.errors.length === 0) throw new HttpError(404, "CHANNEL_NOT_FOUND");
  return { ...sum, message: warn(messages) };
};

async function allProducers(ctx: ApiContext, messages: string[], what: string): Promise<Producer[]> {
  const o = ctx.opts();
  const r = await upstream(ctx, what, () => ctx.ci.producers(o.lookupdHttpAddresses, o.nsqdHttpAddresses));
  collect(ctx, messages, r.errors);
  return r.value;
}

export const nodes: ApiHandler = async (ctx) => {
  const messages: string[] = [];
  const producers = await allProducers(ctx, messages, "get nodes");
  return { nodes: producers, message: warn(messages) };
};

/** /api/nodes/:node calls share one node list per second, and use one up to 30 s old while a
 * newer one is out (see ClusterInfo.producersShared). */
const NODE_LIST_REFRESH_MS = 1000;
const NODE_LIST_STALE_MS = 30_000;

export const node: ApiHandler = async (ctx, req) => {
  const name = req.params.node!;
  const messages: string[] = [];
  const o = ctx.opts();
  const find = async (fresh: boolean): Promise<Producer | undefined> => {
    const list = await upstream(ctx, "get producers", () =>
      ctx.ci.producersShared(o.lookupdHttpAddresses, o.nsqdHttpAddresses, NODE_LIST_REFRESH_MS, NODE_LIST_STALE_MS, fresh));
    messages.length = 0;
    collect(ctx, messages, list.errors);
    return list.value.find((p) => producerHttpAddress(p) === name);
  };
  // a node missing from an older list may have just joined: ask again before saying so
  const producer = (await find(false)) ?? (await find(true));
  if (!producer) throw new HttpError(404, "NODE_NOT_FOUND");
  const stats = await upstream(ctx, "get nsqd stats", () => ctx.ci.nsqdStats([producer], "", "", true));
  let totalClients = 0;
  let totalMessages = 0;
  for (const t of stats.value) {
    for (const c of t.channels ?? []) totalClients += c.clients?.length ?? 0;
    totalMessages += t.message_count;
  }
  return {
    node: name,
    topics: stats.value,
    total_messages: totalMessages,
    total_clients: totalClients,
    message: warn(messages),
    // additions the UI uses (nsqadmin has neither): the node's /stats health and version
    health: stats.health.get(name) ?? "",
    version: producer.version,
  };
};

export const counter: ApiHandler = async (ctx) => {
  const messages: string[] = [];
  const producers = await allProducers(ctx, messages, "get counter producer list");
  const stats = await upstream(ctx, "get nsqd stats", () => ctx.ci.nsqdStats(producers, "", "", false));
  collect(ctx, messages, stats.errors);
  const out: Record<string, { node: string; topic_name: string; channel_name: string; message_count: number; rates?: AdminRates }> = {};
  for (const t of stats.value) {
    for (const c of t.channels ?? []) {
      const key = `${t.topic_name}:${c.channel_name}:${c.node}`;
      // beyond nsqadmin: `rates` when the node measures its own (nsq serve)
      const s = (out[key] ??= { node: c.node, topic_name: t.topic_name, channel_name: c.channel_name, message_count: 0, ...(c.rates ? { rates: c.rates } : {}) });
      s.message_count += c.message_count;
    }
  }
  return { stats: out, message: warn(messages) };
};

function notify(ctx: ApiContext, req: ApiRequest, action: AdminActionName, topicName: string, channelName = "", nodeName = ""): void {
  ctx.notifier.notify(action, topicName, channelName, nodeName, req);
}

export const createTopicChannel: ApiHandler = async (ctx, req) => {
  requireAdmin(ctx, req);
  const body = jsonBody(req);
  const topicName = field(body, "topic");
  const channelName = field(body, "channel");
  if (!isValidTopicName(topicName)) throw new HttpError(400, "INVALID_TOPIC");
  if (channelName !== "" && !isValidChannelName(channelName)) throw new HttpError(400, "INVALID_CHANNEL");
  const o = ctx.opts();
  const errors = await ctx.ci.createTopicChannel(topicName, channelName, o.lookupdHttpAddresses);
  const messages: string[] = [];
  collect(ctx, messages, errors);
  notify(ctx, req, "create_topic", topicName);
  if (channelName !== "") notify(ctx, req, "create_channel", topicName, channelName);
  return { message: warn(messages) };
};

export const deleteTopic: ApiHandler = async (ctx, req) => {
  requireAdmin(ctx, req);
  const topicName = req.params.topic!;
  const o = ctx.opts();
  const errors = await upstream(ctx, "delete topic", () => ctx.ci.deleteTopic(topicName, o.lookupdHttpAddresses, o.nsqdHttpAddresses));
  const messages: string[] = [];
  collect(ctx, messages, errors);
  notify(ctx, req, "delete_topic", topicName);
  return { message: warn(messages) };
};

export const deleteChannel: ApiHandler = async (ctx, req) => {
  requireAdmin(ctx, req);
  const topicName = req.params.topic!;
  const channelName = req.params.channel!;
  const o = ctx.opts();
  const errors = await upstream(ctx, "delete channel", () => ctx.ci.deleteChannel(topicName, channelName, o.lookupdHttpAddresses, o.nsqdHttpAddresses));
  const messages: string[] = [];
  collect(ctx, messages, errors);
  notify(ctx, req, "delete_channel", topicName, channelName);
  return { message: warn(messages) };
};

export const tombstoneNodeForTopic: ApiHandler = async (ctx, req) => {
  requireAdmin(ctx, req);
  const nodeName = req.params.node!;
  const body = jsonBody(req, "INVALID_BODY");
  const topicName = field(body, "topic");
  if (!isValidTopicName(topicName)) throw new HttpError(400, "INVALID_TOPIC");
  const errors = await upstream(ctx, "tombstone node for topic", () => ctx.ci.tombstoneNodeForTopic(topicName, nodeName, ctx.opts().lookupdHttpAddresses));
  const messages: string[] = [];
  collect(ctx, messages, errors);
  notify(ctx, req, "tombstone_topic_producer", topicName, "", nodeName);
  return { message: warn(messages) };
};

/** POST /api/topics/:topic[/:channel] with {"action": "pause" | "unpause" | "empty"}. */
export const topicChannelAction: ApiHandler = async (ctx, req) => {
  requireAdmin(ctx, req);
  const topicName = req.params.topic!;
  const channelName = req.params.channel ?? "";
  const body = jsonBody(req);
  const action = field(body, "action");
  if (action !== "pause" && action !== "unpause" && action !== "empty") throw new HttpError(400, "INVALID_ACTION");
  const o = ctx.opts();
  const { errors, known } = await upstream(ctx, `${action} topic/channel`, () =>
    ctx.ci.action(action, topicName, channelName, o.lookupdHttpAddresses, o.nsqdHttpAddresses));
  if (!known) throw new HttpError(404, "TOPIC_NOT_FOUND");
  notify(ctx, req, `${action}_${channelName === "" ? "topic" : "channel"}` as AdminActionName, topicName, channelName);
  const messages: string[] = [];
  collect(ctx, messages, errors);
  return { message: warn(messages) };
};
