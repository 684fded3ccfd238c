/**
 * nsqd's HTTP API (spec §3) on Bun.serve.
 */
import type { Nsqd } from "./nsqd.ts";
import { parseListenAddress, formatHostPort } from "./address.ts";
import { isValidTopicName } from "../protocol/names.ts";
import { MSG_HEADER_SIZE } from "./message.ts";

export interface HttpServerHandle {
  port: number;
  address: string;
  stop(): void;
}

const NSQ_HEADER = { "X-NSQ-Content-Type": "nsq; version=1.0" };

function jsonError(status: number, message: string): Response {
  return new Response(JSON.stringify({ message }), {
    status,
    headers: { ...NSQ_HEADER, "Content-Type": "application/json; charset=utf-8" },
  });
}

function text(body: string, status = 200): Response {
  return new Response(body, { status, headers: NSQ_HEADER });
}

export function startHttpServer(nsqd: Nsqd, address: string): HttpServerHandle {
  const addr = parseListenAddress(address);
  const server =
    addr.kind === "tcp"
      ? Bun.serve({ hostname: addr.host, port: addr.port, fetch: (req) => route(nsqd, req) })
      : Bun.serve({ unix: addr.path, fetch: (req) => route(nsqd, req) });
  const port = server.port ?? -1;
  return {
    port,
    address: addr.kind === "tcp" ? formatHostPort(addr.host, port) : addr.path,
    stop: () => void server.stop(true),
  };
}

async function route(nsqd: Nsqd, req: Request): Promise<Response> {
  const url = new URL(req.url);
  switch (url.pathname) {
    case "/ping":
      return nsqd.health === "OK" ? text("OK") : text(nsqd.health, 500);
    case "/pub": {
      if (req.method !== "POST" && req.method !== "PUT") return jsonError(405, "METHOD_NOT_ALLOWED");
      const body = new Uint8Array(await req.arrayBuffer());
      if (body.length > nsqd.options.maxMsgSize) return jsonError(413, "MSG_TOO_BIG");
      if (body.length === 0) return jsonError(400, "MSG_EMPTY");
      const topicName = url.searchParams.get("topic");
      if (topicName === null) return jsonError(400, "MISSING_ARG_TOPIC");
      if (!isValidTopicName(topicName)) return jsonError(400, "INVALID_TOPIC");
      const topic = nsqd.getOrCreateTopic(topicName);
      const msg = Buffer.allocUnsafe(MSG_HEADER_SIZE + body.length);
      msg.set(body, MSG_HEADER_SIZE);
      topic.stamp(msg, Date.now());
      try {
        topic.publish([msg], body.length);
      } catch (err) {
        nsqd.publishFailed(err);
        return jsonError(500, "INTERNAL_ERROR");
      }
      return text("OK");
    }
    default:
      return jsonError(404, "NOT_FOUND");
  }
}
