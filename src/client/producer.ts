/**
 * Publishes to one nsqd over TCP. Connects lazily on the first publish and again after the
 * connection dropped; every publish waits for nsqd's OK (or rejects with the NsqError /
 * ConnectionError). Publishes issued without awaiting are pipelined on the one connection and
 * keep their order.
 */
import { NsqConnection } from "./connection.ts";
import { resolveClientConfig, type ClientConfig } from "./config.ts";
import { ConfigError, ConnectionError } from "./errors.ts";
import { isValidTopicName, NAME_RULE } from "../protocol/names.ts";
import { parseHostPort } from "./address.ts";

export type Body = Uint8Array | string;

function toBytes(body: Body): Uint8Array {
  return typeof body === "string" ? Buffer.from(body, "utf8") : body;
}

function checkTopic(topic: string): void {
  if (!isValidTopicName(topic)) throw new ConfigError(`invalid topic name "${topic}" (${NAME_RULE})`);
}

export class Producer {
  readonly address: string;
  private readonly config: ClientConfig;
  private conn: NsqConnection | null = null;
  private connecting: Promise<NsqConnection> | null = null;
  private stopped = false;
  private outstanding = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(address: string, config?: Partial<ClientConfig>) {
    parseHostPort(address); // reject a bad address now, not at the first publish
    this.address = address;
    this.config = resolveClientConfig(config);
  }

  /** Connects now instead of at the first publish (to fail fast on an unreachable nsqd). */
  async connect(): Promise<void> {
    await this.connection();
  }

  async publish(topic: string, body: Body): Promise<void> {
    checkTopic(topic);
    const bytes = toBytes(body);
    if (bytes.length === 0) throw new ConfigError("cannot publish an empty message");
    await this.run((c) => c.publish(topic, bytes));
  }

  /** MPUB: the batch is queued atomically by nsqd (all or none). */
  async multiPublish(topic: string, bodies: readonly Body[]): Promise<void> {
    checkTopic(topic);
    if (bodies.length === 0) throw new ConfigError("cannot MPUB an empty batch");
    const list = bodies.map(toBytes);
    if (list.some((b) => b.length === 0)) throw new ConfigError("cannot publish an empty message");
    await this.run((c) => c.multiPublish(topic, list));
  }

  /** DPUB: delivered after `deferMs` milliseconds. */
  async deferredPublish(topic: string, deferMs: number, body: Body): Promise<void> {
    checkTopic(topic);
    if (!Number.isFinite(deferMs) || deferMs < 0) throw new ConfigError(`invalid defer ${deferMs}`);
    const bytes = toBytes(body);
    if (bytes.length === 0) throw new ConfigError("cannot publish an empty message");
    await this.run((c) => c.deferredPublish(topic, deferMs, bytes));
  }

  /** Waits for outstanding publishes, then closes the connection. Later publishes reject. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.outstanding > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.conn?.close();
    this.conn = null;
  }

  private async run(op: (c: NsqConnection) => Promise<void>): Promise<void> {
    if (this.stopped) throw new ConnectionError("producer is closed", this.address);
    this.outstanding++;
    try {
      const conn = await this.connection();
      await op(conn);
    } finally {
      this.outstanding--;
      if (this.outstanding === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private connection(): Promise<NsqConnection> {
    if (this.conn && !this.conn.isClosed) return Promise.resolve(this.conn);
    if (this.connecting) return this.connecting;
    const conn = new NsqConnection(this.address, this.config, {
      onMessageFrame: () => {},
      onClose: (c) => {
        if (this.conn === c) this.conn = null;
      },
    });
    this.connecting = conn.connect().then(
      () => {
        this.connecting = null;
        this.conn = conn;
        return conn;
      },
      (err: unknown) => {
        this.connecting = null;
        conn.destroy();
        throw err;
      },
    );
    return this.connecting;
  }
}
