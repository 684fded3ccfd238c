/**
 * Admin-action notifications (nsqadmin/notify.go): every mutating action is POSTed as JSON to
 * --notification-http-endpoint, one at a time in the order they happened, without ever delaying
 * the API reply. A failed POST is logged and dropped, as nsqadmin does.
 */
import { hostname } from "node:os";
import type { Logger } from "../util/logger.ts";
import { basicAuthUser } from "./acl.ts";

export type AdminActionName =
  | "create_topic" | "create_channel" | "delete_topic" | "delete_channel" | "empty_topic" | "empty_channel"
  | "pause_topic" | "pause_channel" | "unpause_topic" | "unpause_channel" | "tombstone_topic_producer";

/** The JSON body, in nsqadmin's AdminAction field order (empty optional fields omitted). */
export interface AdminAction {
  action: AdminActionName;
  topic: string;
  channel?: string;
  node?: string;
  timestamp: number;
  user?: string;
  remote_ip: string;
  user_agent: string;
  url: string;
  via: string;
}

export interface ActionRequest {
  headers: Headers;
  /** "ip:port" of the requester */
  remoteAddr: string;
  /** path and raw query of the request, e.g. "/api/topics/t" */
  pathAndQuery: string;
}

export class Notifier {
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly endpoint: () => string,
    private readonly timeoutMs: () => number,
    private readonly logger: Logger,
  ) {}

  /** Queues the POST (no-op without an endpoint); returns at once. */
  notify(action: AdminActionName, topic: string, channel: string, node: string, req: ActionRequest): void {
    const endpoint = this.endpoint();
    if (endpoint === "") return;
    const scheme = req.headers.get("x-scheme") === "https" ? "https" : "http";
    const body: AdminAction = {
      action,
      topic,
      ...(channel !== "" ? { channel } : {}),
      ...(node !== "" ? { node } : {}),
      timestamp: Math.floor(Date.now() / 1000),
      ...(basicAuthUser(req.headers) !== "" ? { user: basicAuthUser(req.headers) } : {}),
      remote_ip: req.remoteAddr,
      user_agent: req.headers.get("user-agent") ?? "",
      url: `${scheme}://${req.headers.get("host") ?? ""}${req.pathAndQuery}`,
      via: hostname(),
    };
    this.queue = this.queue.then(() => this.post(endpoint, body));
  }

  private async post(endpoint: string, body: AdminAction): Promise<void> {
    this.logger.info(`POSTing notification to ${endpoint}`);
    try {
      const res = await fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs()),
        keepalive: false,
      });
      await res.arrayBuffer();
    } catch (err) {
      this.logger.error(`failed to POST notification - ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Resolves when every queued notification has been sent (or failed). */
  drain(): Promise<void> {
    return this.queue;
  }
}
