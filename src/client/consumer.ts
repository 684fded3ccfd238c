/**
 * Subscribes to one topic/channel on many nsqd connections and follows the client guidelines
 * (spec §7): IDENTIFY negotiation, RDY spread and redistribution (§7.4), starvation (§7.5),
 * backoff (§7.6), lookupd polling with jitter and reconnection (§7.7), graceful stop (§7.8).
 *
 * The handler's outcome decides the response: return (or resolve) → FIN, throw (or reject) →
 * REQ with go-nsq's default delay and backoff. A handler may call `msg.disableAutoResponse()` and
 * answer later (nsq_to_file does, to FIN only after a sync).
 */
import { NsqConnection, type ConnectionEvents } from "./connection.ts";
import { resolveClientConfig, type ClientConfig } from "./config.ts";
import { ConfigError, ConnectionError, errorText, NsqError } from "./errors.ts";
import { Message, type MessageResponder } from "./message.ts";
import { lookupTopic, producerTcpAddress } from "./lookupd.ts";
import { parseHostPort } from "./address.ts";
import { isValidChannelName, isValidTopicName, NAME_RULE } from "../protocol/names.ts";
import { silentLogger, type Logger } from "../util/logger.ts";

export type MessageHandler = (msg: Message) => void | Promise<void>;

export interface ConsumerOptions {
  topic: string;
  channel: string;
  handler: MessageHandler;
  config?: Partial<ClientConfig>;
  logger?: Logger;
  /** called (before the automatic FIN) for messages whose attempts exceed max_attempts */
  onFailedMessage?: (msg: Message) => void;
}

export interface ConsumerStats {
  messagesReceived: number;
  messagesFinished: number;
  messagesRequeued: number;
  connections: number;
  totalRdy: number;
  backoffLevel: number;
  inBackoffTimeout: boolean;
}

/** go-nsq retries a truncated RDY update that left a connection at 0 after this long. */
const RDY_RETRY_MS = 5000;
/** go-nsq forces connections closed this long after stop() if in-flight work never finishes. */
const STOP_TIMEOUT_MS = 30_000;

/** Per-connection consumer state; it is also the connection's event sink and the responder of its messages. */
class ConsumerConn implements ConnectionEvents, MessageResponder {
  readonly conn: NsqConnection;
  /** last RDY sent (nsqd keeps it as a window) */
  rdy = 0;
  maxRdy = 2500;
  inFlight = 0;
  lastMsgAt = 0;
  lastRdyAt = 0;
  /** true once SUB succeeded and the connection counts toward RDY */
  active = false;
  /** CLS sent */
  closing = false;
  closeWait = false;
  rdyRetry: ReturnType<typeof setTimeout> | null = null;
  /** RDY this connection waits to get once budget frees up */
  wantedRdy = 0;

  constructor(
    private readonly consumer: Consumer,
    readonly address: string,
    config: ClientConfig,
  ) {
    this.conn = new NsqConnection(address, config, this);
  }

  onMessageFrame(_conn: NsqConnection, frame: Buffer): void {
    this.consumer.handleMessage(this, frame);
  }
  onClose(_conn: NsqConnection, error: Error | undefined): void {
    this.consumer.handleClose(this, error);
  }
  onNonFatalError(_conn: NsqConnection, error: NsqError): void {
    this.consumer.logger.warn(`[${this.consumer.topic}/${this.consumer.channel}] (${this.address}) ${error.code} ${error.description}`);
  }
  finishMessage(msg: Message): void {
    this.consumer.respond(this, msg, true, 0, false);
  }
  requeueMessage(msg: Message, delayMs: number, backoff: boolean): void {
    this.consumer.respond(this, msg, false, delayMs, backoff);
  }
  touchMessage(msg: Message): void {
    this.conn.touch(msg.idBytes);
  }
}

type BackoffSignal = "resume" | "backoff" | "continue";

export class Consumer {
  readonly topic: string;
  readonly channel: string;
  readonly logger: Logger;
  private readonly config: ClientConfig;
  private readonly handler: MessageHandler;
  private readonly onFailedMessage: ((msg: Message) => void) | undefined;

  private readonly conns = new Map<string, ConsumerConn>();
  private readonly connecting = new Set<string>();
  private readonly nsqdAddresses: string[] = [];
  private readonly lookupdAddresses: string[] = [];
  private readonly reconnectTimers = new Set<ReturnType<typeof setTimeout>>();
  private lookupdTimer: ReturnType<typeof setTimeout> | ReturnType<typeof setInterval> | null = null;
  private lookupdQuery: Promise<void> | null = null;
  private redistributeTimer: ReturnType<typeof setInterval> | null = null;

  private totalRdy = 0;
  private backoffCounter = 0;
  private backoffTimer: ReturnType<typeof setTimeout> | null = null;
  private needRedistribute = false;
  /** connections left at RDY 0 for lack of budget */
  private readonly budgetWaiters = new Set<ConsumerConn>();

  private stopping = false;
  private stopResolve: (() => void) | null = null;
  private stopPromise: Promise<void> | null = null;
  private stopForceTimer: ReturnType<typeof setTimeout> | null = null;

  private received = 0;
  private finished = 0;
  private requeued = 0;

  constructor(options: ConsumerOptions) {
    if (!isValidTopicName(options.topic)) throw new ConfigError(`invalid topic name "${options.topic}" (${NAME_RULE})`);
    if (!isValidChannelName(options.channel)) throw new ConfigError(`invalid channel name "${options.channel}" (${NAME_RULE})`);
    this.topic = options.topic;
    this.channel = options.channel;
    this.handler = options.handler;
    this.onFailedMessage = options.onFailedMessage;
    this.config = resolveClientConfig(options.config);
    this.logger = options.logger ?? silentLogger;
  }

  // ---------------------------------------------------------------- connecting

  /** Connects directly to one nsqd; it is reconnected every lookupd_poll_interval if it drops. */
  async connectToNsqd(address: string): Promise<void> {
    parseHostPort(address);
    if (this.stopping) throw new ConnectionError("consumer is stopped", address);
    if (!this.nsqdAddresses.includes(address)) this.nsqdAddresses.push(address);
    await this.openConnection(address);
  }

  async connectToNsqds(addresses: readonly string[]): Promise<void> {
    for (const a of addresses) await this.connectToNsqd(a);
  }

  /**
   * Adds a lookupd (`host:port` or URL). The first one queries at once and then starts polling:
   * a random delay of up to jitter × interval, then every lookupd_poll_interval.
   */
  async connectToLookupd(address: string): Promise<void> {
    if (this.stopping) throw new ConnectionError("consumer is stopped", address);
    if (this.lookupdAddresses.includes(address)) return;
    this.lookupdAddresses.push(address);
    if (this.lookupdAddresses.length > 1) return;
    await this.queryLookupd();
    if (this.stopping) return;
    const jitter = Math.random() * this.config.lookupdPollJitter * this.config.lookupdPollInterval;
    this.lookupdTimer = setTimeout(() => {
      void this.queryLookupd();
      this.lookupdTimer = setInterval(() => void this.queryLookupd(), this.config.lookupdPollInterval);
    }, jitter);
  }

  async connectToLookupds(addresses: readonly string[]): Promise<void> {
    for (const a of addresses) await this.connectToLookupd(a);
  }

  /** Queries every lookupd and connects to producers not yet connected. Errors are logged. */
  queryLookupd(): Promise<void> {
    if (this.lookupdQuery) return this.lookupdQuery;
    this.lookupdQuery = this.runLookupdQuery().finally(() => {
      this.lookupdQuery = null;
    });
    return this.lookupdQuery;
  }

  private async runLookupdQuery(): Promise<void> {
    const results = await Promise.allSettled(
      this.lookupdAddresses.map((a) => lookupTopic(a, this.topic, { timeoutMs: this.config.lookupdPollTimeout })),
    );
    if (this.stopping) return;
    const addresses = new Set<string>();
    results.forEach((r, i) => {
      if (r.status === "rejected") {
        this.logger.error(`[${this.topic}/${this.channel}] error querying nsqlookupd (${this.lookupdAddresses[i]}) - ${errorText(r.reason)}`);
      } else if (r.value) {
        for (const p of r.value.producers) addresses.add(producerTcpAddress(p));
      }
    });
    const attempts: Promise<void>[] = [];
    for (const addr of addresses) {
      if (this.conns.has(addr) || this.connecting.has(addr)) continue;
      attempts.push(
        this.openConnection(addr).catch((err: unknown) => {
          this.logger.error(`[${this.topic}/${this.channel}] (${addr}) error connecting to nsqd - ${errorText(err)}`);
        }),
      );
    }
    await Promise.all(attempts);
  }

  private async openConnection(address: string): Promise<void> {
    if (this.conns.has(address) || this.connecting.has(address)) return;
    this.connecting.add(address);
    const state = new ConsumerConn(this, address, this.config);
    try {
      const settings = await state.conn.connect();
      await state.conn.subscribe(this.topic, this.channel);
      state.maxRdy = settings.max_rdy_count;
    } catch (err) {
      this.connecting.delete(address);
      state.conn.destroy();
      this.maybeFinishStop();
      throw err;
    }
    this.connecting.delete(address);
    if (this.stopping) {
      state.conn.close();
      this.maybeFinishStop();
      return;
    }
    this.logger.info(`[${this.topic}/${this.channel}] (${address}) connected`);
    state.active = true;
    this.conns.set(address, state);
    this.redistributeTimer ??= setInterval(() => this.redistributeRdy(), this.config.rdyRedistributeInterval);
    // lower the existing connections first so the new one finds budget
    for (const s of this.conns.values()) if (s !== state) this.maybeUpdateRdy(s);
    this.maybeUpdateRdy(state);
  }

  // ---------------------------------------------------------------- messages

  /** Hot path: one call per message frame. */
  handleMessage(state: ConsumerConn, frame: Buffer): void {
    state.inFlight++;
    state.lastMsgAt = Date.now();
    this.received++;
    const msg = new Message(frame, state.address, state);
    this.maybeUpdateRdy(state);
    const maxAttempts = this.config.maxAttempts;
    if (maxAttempts > 0 && msg.attempts > maxAttempts) {
      this.logger.warn(`[${this.topic}/${this.channel}] msg ${msg.id} attempted ${msg.attempts} times, giving up`);
      try {
        this.onFailedMessage?.(msg);
      } catch (err) {
        this.logger.error(`[${this.topic}/${this.channel}] failed-message hook threw - ${errorText(err)}`);
      }
      msg.finish();
      return;
    }
    let result: void | Promise<void>;
    try {
      result = this.handler(msg);
    } catch (err) {
      this.handlerFailed(msg, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        () => this.handlerSucceeded(msg),
        (err: unknown) => this.handlerFailed(msg, err),
      );
    } else {
      this.handlerSucceeded(msg);
    }
  }

  private handlerSucceeded(msg: Message): void {
    if (!msg.isAutoResponseDisabled) msg.finish();
  }

  private handlerFailed(msg: Message, err: unknown): void {
    this.logger.error(`[${this.topic}/${this.channel}] handler returned error (${errorText(err)}) for msg ${msg.id}`);
    if (!msg.isAutoResponseDisabled) msg.requeue(-1, true);
  }

  /** FIN or REQ on the connection the message came from, then backoff bookkeeping. */
  respond(state: ConsumerConn, msg: Message, success: boolean, delayMs: number, backoff: boolean): void {
    state.inFlight--;
    if (success) {
      state.conn.finish(msg.idBytes);
      this.finished++;
    } else {
      let delay = delayMs;
      if (delay < 0) delay = Math.min(this.config.defaultRequeueDelay * msg.attempts, this.config.maxRequeueDelay);
      state.conn.requeue(msg.idBytes, delay);
      this.requeued++;
    }
    if (this.stopping) {
      this.maybeCloseDrained(state);
      return;
    }
    this.startStopContinueBackoff(success ? "resume" : backoff ? "backoff" : "continue");
    if (this.budgetWaiters.size > 0) this.retryBudgetWaiters();
  }

  // ---------------------------------------------------------------- RDY

  /** Per-connection target: min(max(1, floor(max_in_flight / conns)), max_in_flight). */
  private perConnMaxInFlight(): number {
    const n = Math.max(1, this.conns.size);
    const max = this.config.maxInFlight;
    return Math.min(Math.max(1, Math.floor(max / n)), max);
  }

  private maybeUpdateRdy(state: ConsumerConn): void {
    if (this.stopping || this.backoffCounter > 0 || this.backoffTimer) return;
    const target = this.perConnMaxInFlight();
    if (state.rdy !== target) this.updateRdy(state, target);
  }

  /**
   * Sets a connection's RDY so that no more than max_in_flight messages can be outstanding in
   * total. A connection's share of the budget is max(RDY, in-flight): lowering RDY does not recall
   * messages already delivered, so a raise elsewhere must wait until they are answered.
   */
  private updateRdy(state: ConsumerConn, wanted: number): void {
    if (state.closing || !state.active || state.conn.isClosed) return;
    this.budgetWaiters.delete(state);
    if (state.rdyRetry) {
      clearTimeout(state.rdyRetry);
      state.rdyRetry = null;
    }
    const count = Math.min(wanted, state.maxRdy);
    if (count <= state.rdy) {
      this.sendRdy(state, count); // lowering is always allowed
      return;
    }
    let usedByOthers = 0;
    for (const s of this.conns.values()) if (s !== state) usedByOthers += Math.max(s.rdy, s.inFlight);
    const cap = this.config.maxInFlight - usedByOthers;
    if (cap > state.rdy) {
      this.sendRdy(state, Math.min(count, cap));
      return;
    }
    if (state.rdy === 0) {
      // no budget left: retry when a message is answered elsewhere, or after 5 s at the latest
      state.wantedRdy = wanted;
      this.budgetWaiters.add(state);
      state.rdyRetry = setTimeout(() => {
        state.rdyRetry = null;
        this.retryBudgetWaiter(state);
      }, RDY_RETRY_MS);
    }
  }

  private retryBudgetWaiter(state: ConsumerConn): void {
    this.budgetWaiters.delete(state);
    if (this.stopping || this.backoffTimer) return;
    if (this.backoffCounter > 0) this.updateRdy(state, Math.min(state.wantedRdy, 1));
    else this.updateRdy(state, this.perConnMaxInFlight());
  }

  /** Budget was freed (a message answered, a connection closed): let waiting connections try again. */
  private retryBudgetWaiters(): void {
    for (const s of [...this.budgetWaiters]) this.retryBudgetWaiter(s);
  }

  private sendRdy(state: ConsumerConn, count: number): void {
    if (count === state.rdy) return;
    this.totalRdy += count - state.rdy;
    state.rdy = count;
    state.lastRdyAt = Date.now();
    state.conn.rdy(count);
  }

  /** Every rdy_redistribute_interval (spec §7.4). */
  private redistributeRdy(): void {
    if (this.stopping || this.backoffTimer) return;
    const states = [...this.conns.values()].filter((s) => !s.closing);
    if (states.length === 0) return;
    const max = this.config.maxInFlight;
    if (states.length > max) this.needRedistribute = true;
    if (this.backoffCounter > 0 && states.length > 1) this.needRedistribute = true;
    if (!this.needRedistribute) return;
    this.needRedistribute = false;
    const now = Date.now();
    for (const s of states) {
      if (s.rdy > 0 && (now - s.lastMsgAt > this.config.lowRdyIdleTimeout || now - s.lastRdyAt > this.config.lowRdyTimeout)) {
        this.logger.debug(`[${this.topic}/${this.channel}] (${s.address}) idle connection, giving up RDY`);
        this.updateRdy(s, 0);
      }
    }
    let available = (this.backoffCounter > 0 ? 1 : max) - this.totalRdy;
    const candidates = states.slice();
    while (candidates.length > 0 && available > 0) {
      available--;
      const i = Math.floor(Math.random() * candidates.length);
      const s = candidates.splice(i, 1)[0]!;
      this.updateRdy(s, 1);
    }
  }

  // ---------------------------------------------------------------- backoff

  private backoffDuration(level: number): number {
    const d = this.config.backoffMultiplier * 2 ** level;
    return this.config.backoffStrategy === "full_jitter" ? Math.random() * d : d;
  }

  private startStopContinueBackoff(signal: BackoffSignal): void {
    // while a backoff timer runs, outcomes do not move the level (spec §7.6)
    if (this.backoffTimer) return;
    if (signal === "resume" && this.backoffCounter === 0) return; // hot path: nothing to do
    let updated = false;
    if (signal === "resume") {
      this.backoffCounter--;
      updated = true;
    } else if (signal === "backoff") {
      if (this.config.backoffMultiplier * 2 ** (this.backoffCounter + 1) <= this.config.maxBackoffDuration) {
        this.backoffCounter++;
        updated = true;
      }
    }
    if (this.backoffCounter === 0 && updated) {
      const count = this.perConnMaxInFlight();
      this.logger.warn(`[${this.topic}/${this.channel}] exiting backoff, returning all to RDY ${count}`);
      for (const s of this.conns.values()) this.updateRdy(s, count);
    } else if (this.backoffCounter > 0) {
      const duration = Math.min(this.backoffDuration(this.backoffCounter), this.config.maxBackoffDuration);
      this.logger.warn(`[${this.topic}/${this.channel}] backing off for ${(duration / 1000).toFixed(4)} seconds (backoff level ${this.backoffCounter}), setting all to RDY 0`);
      for (const s of this.conns.values()) this.updateRdy(s, 0);
      this.backoffTimer = setTimeout(() => this.resumeAfterBackoff(), duration);
    }
  }

  /** Backoff timer expired: let one message through on one random connection. */
  private resumeAfterBackoff(): void {
    this.backoffTimer = null;
    if (this.stopping) return;
    const states = [...this.conns.values()].filter((s) => !s.closing);
    if (states.length === 0) {
      this.logger.warn(`[${this.topic}/${this.channel}] no connection available to resume, backing off for 1 second`);
      this.backoffTimer = setTimeout(() => this.resumeAfterBackoff(), 1000);
      return;
    }
    const choice = states[Math.floor(Math.random() * states.length)]!;
    this.logger.warn(`[${this.topic}/${this.channel}] (${choice.address}) backoff timeout expired, sending RDY 1`);
    this.updateRdy(choice, 1);
  }

  // ---------------------------------------------------------------- closing

  handleClose(state: ConsumerConn, error: Error | undefined): void {
    if (state.rdyRetry) clearTimeout(state.rdyRetry);
    this.budgetWaiters.delete(state);
    if (!state.active) return; // connect() failed: reported by openConnection
    state.active = false;
    this.conns.delete(state.address);
    this.totalRdy -= state.rdy;
    if (state.rdy > 0) this.needRedistribute = true;
    state.rdy = 0;
    if (this.stopping) {
      this.maybeFinishStop();
      return;
    }
    this.logger.warn(`[${this.topic}/${this.channel}] (${state.address}) connection closed${error ? ` - ${errorText(error)}` : ""}`);
    for (const s of this.conns.values()) this.maybeUpdateRdy(s);
    this.retryBudgetWaiters();
    if (this.lookupdAddresses.length > 0) {
      void this.queryLookupd();
    } else if (this.nsqdAddresses.includes(state.address)) {
      this.scheduleReconnect(state.address);
    }
  }

  /** Direct nsqd: retry every lookupd_poll_interval until connected or stopped (go-nsq). */
  private scheduleReconnect(address: string): void {
    const timer = setTimeout(() => {
      this.reconnectTimers.delete(timer);
      if (this.stopping) return;
      this.logger.info(`[${this.topic}/${this.channel}] (${address}) attempting to reconnect`);
      this.openConnection(address).catch((err: unknown) => {
        this.logger.error(`[${this.topic}/${this.channel}] (${address}) error connecting to nsqd - ${errorText(err)}`);
        this.scheduleReconnect(address);
      });
    }, this.config.lookupdPollInterval);
    this.reconnectTimers.add(timer);
  }

  /**
   * Graceful stop: CLS on every connection; after CLOSE_WAIT each connection closes once its
   * in-flight messages are answered. Forced close after 30 s. Resolves when all are closed.
   */
  stop(): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    this.stopping = true;
    this.stopPromise = new Promise<void>((resolve) => {
      this.stopResolve = resolve;
    });
    this.clearTimers();
    for (const s of this.conns.values()) {
      s.closing = true;
      s.conn.startClose().then(
        () => {
          s.closeWait = true;
          this.maybeCloseDrained(s);
        },
        () => s.conn.destroy(),
      );
    }
    this.stopForceTimer = setTimeout(() => {
      this.logger.warn(`[${this.topic}/${this.channel}] stop timed out, closing connections`);
      for (const s of this.conns.values()) s.conn.destroy();
    }, STOP_TIMEOUT_MS);
    this.maybeFinishStop();
    return this.stopPromise;
  }

  /** Closes every connection now, without waiting for in-flight messages. */
  close(): Promise<void> {
    const p = this.stop();
    for (const s of this.conns.values()) s.conn.close();
    return p;
  }

  private maybeCloseDrained(state: ConsumerConn): void {
    if (state.closeWait && state.inFlight <= 0) state.conn.close();
  }

  private maybeFinishStop(): void {
    if (!this.stopping || this.conns.size > 0 || this.connecting.size > 0 || !this.stopResolve) return;
    if (this.stopForceTimer) clearTimeout(this.stopForceTimer);
    this.stopForceTimer = null;
    const resolve = this.stopResolve;
    this.stopResolve = null;
    resolve();
  }

  private clearTimers(): void {
    if (this.lookupdTimer) {
      clearTimeout(this.lookupdTimer as ReturnType<typeof setTimeout>);
      clearInterval(this.lookupdTimer as ReturnType<typeof setInterval>);
    }
    this.lookupdTimer = null;
    if (this.redistributeTimer) clearInterval(this.redistributeTimer);
    this.redistributeTimer = null;
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimer = null;
    for (const t of this.reconnectTimers) clearTimeout(t);
    this.reconnectTimers.clear();
    for (const s of this.conns.values()) if (s.rdyRetry) clearTimeout(s.rdyRetry);
    this.budgetWaiters.clear();
  }

  // ---------------------------------------------------------------- introspection

  /** Some connection has in_flight > 0 and ≥ 85 % of its RDY (spec §7.5). */
  isStarved(): boolean {
    for (const s of this.conns.values()) {
      if (s.inFlight > 0 && s.inFlight >= s.rdy * 0.85 && !s.closing) return true;
    }
    return false;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Changes max_in_flight and re-spreads RDY over the connections. */
  changeMaxInFlight(maxInFlight: number): void {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 0) throw new ConfigError(`invalid max_in_flight ${maxInFlight}`);
    this.config.maxInFlight = maxInFlight;
    if (this.backoffCounter > 0 || this.backoffTimer) return;
    const target = this.perConnMaxInFlight();
    for (const s of this.conns.values()) if (s.rdy > target) this.updateRdy(s, target);
    for (const s of this.conns.values()) this.updateRdy(s, target);
  }

  stats(): ConsumerStats {
    return {
      messagesReceived: this.received,
      messagesFinished: this.finished,
      messagesRequeued: this.requeued,
      connections: this.conns.size,
      totalRdy: this.totalRdy,
      backoffLevel: this.backoffCounter,
      inBackoffTimeout: this.backoffTimer !== null,
    };
  }

  /** RDY currently granted per nsqd address. */
  rdyByConnection(): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.conns.values()) out.set(s.address, s.rdy);
    return out;
  }
}
