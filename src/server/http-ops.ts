/**
 * The HTTP routes beyond nsqd (README "Beyond nsqd"), registered beside nsqd's own on the HTTP and
 * HTTPS listeners; errors use nsqd's `{"message":"CODE"}` style:
 *   GET  /metrics                                    Prometheus text (src/server/metrics.ts)
 *   GET  /channel/peek?topic=&channel=&n=&encoding=  the channel's next messages (src/server/peek.ts)
 *   GET  /channel/config?topic=&channel=             the channel's dead-letter settings
 *   POST /channel/config?topic=&channel=&max_attempts=N   set them (N = 0 turns dead letters off for
 *        the channel, `default` or empty follows --max-attempts again); kept in nsqd.dat
 */
import type { Nsqd } from "./nsqd.ts";
import type { Channel } from "./channel.ts";
import type { Handler, Reply, RequestContext } from "./http.ts";
import { HttpError } from "../http-api/response.ts";
import { firstValue, parseRequestQuery, type QueryParams } from "../http-api/query.ts";
import { isValidChannelName, isValidTopicName } from "../protocol/names.ts";
import { BodyReader } from "./http-body.ts";
import { goJson } from "./stats.ts";
import { METRICS_CONTENT_TYPE, metricsFor } from "./metrics.ts";
import { PEEK_MAX, peekChannel } from "./peek.ts";

type Register = (method: string, path: string, handler: Handler, log: boolean) => void;

export function registerOpsRoutes(nsqd: Nsqd, route: Register): void {
  // scraped every few seconds: not logged (as nsqd does not log /pub)
  route("GET", "/metrics", async () => ({ kind: "text", status: 200, body: await metricsFor(nsqd).text(), type: METRICS_CONTENT_TYPE }), false);
  route("GET", "/channel/peek", (ctx) => peek(nsqd, ctx), true);
  route("GET", "/channel/config", async (ctx) => channelConfig(nsqd, (await existingChannel(nsqd, ctx)).channel), true);
  route("POST", "/channel/config", (ctx) => setChannelConfig(nsqd, ctx), true);
}

const json = (value: unknown): Reply => ({ kind: "json", status: 200, body: goJson(value) });

/** `topic` and `channel` valid and existing; nsqd's codes for each failure. */
async function existingChannel(nsqd: Nsqd, ctx: RequestContext): Promise<{ params: QueryParams; channel: Channel }> {
  const params = parseRequestQuery(ctx.rawQuery, (err) => nsqd.logger.error(`failed to parse request params - ${err.message}`));
  try {
    await new BodyReader(ctx.req.body).drain();
  } catch {
    throw new HttpError(400, "INVALID_REQUEST");
  }
  const topicName = firstValue(params, "topic");
  if (topicName === undefined) throw new HttpError(400, "MISSING_ARG_TOPIC");
  if (!isValidTopicName(topicName)) throw new HttpError(400, "INVALID_ARG_TOPIC");
  const channelName = firstValue(params, "channel");
  if (channelName === undefined) throw new HttpError(400, "MISSING_ARG_CHANNEL");
  if (!isValidChannelName(channelName)) throw new HttpError(400, "INVALID_ARG_CHANNEL");
  const topic = nsqd.getTopic(topicName);
  if (topic === undefined) throw new HttpError(404, "TOPIC_NOT_FOUND");
  const channel = topic.getChannel(channelName);
  if (channel === undefined) throw new HttpError(404, "CHANNEL_NOT_FOUND");
  return { params, channel };
}

async function peek(nsqd: Nsqd, ctx: RequestContext): Promise<Reply> {
  const { params, channel } = await existingChannel(nsqd, ctx);
  const nText = firstValue(params, "n") ?? "1";
  if (!/^\d{1,3}$/.test(nText) || Number(nText) < 1 || Number(nText) > PEEK_MAX) throw new HttpError(400, "INVALID_ARG_N");
  const encoding = firstValue(params, "encoding") ?? "";
  if (encoding !== "" && encoding !== "text" && encoding !== "base64") throw new HttpError(400, "INVALID_ARG_ENCODING");
  return json(peekChannel(channel, Number(nText), encoding === "base64"));
}

function channelConfig(nsqd: Nsqd, ch: Channel): Reply {
  const dl = nsqd.deadLetters;
  return json({
    topic: ch.topic.name,
    channel: ch.name,
    max_attempts: dl.limit(ch),
    max_attempts_override: dl.override(ch),
    dead_letter_topic: dl.topicFor(ch),
    dead_letter_count: dl.count(ch),
  });
}

async function setChannelConfig(nsqd: Nsqd, ctx: RequestContext): Promise<Reply> {
  const { params, channel } = await existingChannel(nsqd, ctx);
  const text = firstValue(params, "max_attempts");
  if (text === undefined) throw new HttpError(400, "MISSING_ARG_MAX_ATTEMPTS");
  let value: number | null;
  if (text === "" || text === "default") value = null;
  else if (/^\d{1,5}$/.test(text) && Number(text) <= 65535) value = Number(text);
  else throw new HttpError(400, "INVALID_ARG_MAX_ATTEMPTS");
  nsqd.setChannelMaxAttempts(channel, value);
  return channelConfig(nsqd, channel);
}
