/**
 * One delivered message (spec §1.4): a view over the frame bytes, decoded lazily so the hot path
 * makes no strings or BigInts unless the application asks for them.
 */

/** Who answers FIN / REQ / TOUCH for a message: the consumer that received it. */
export interface MessageResponder {
  finishMessage(msg: Message): void;
  requeueMessage(msg: Message, delayMs: number, backoff: boolean): void;
  touchMessage(msg: Message): void;
}

export class Message {
  /** set when FIN or REQ was sent; later calls are ignored */
  private responded = false;
  private autoResponse = true;

  /**
   * @param frame the message frame data (timestamp, attempts, id, body)
   * @param connectionKey address of the nsqd connection it arrived on (FIN must go there)
   */
  constructor(
    private readonly frame: Buffer,
    readonly connectionKey: string,
    private readonly responder: MessageResponder,
  ) {}

  /** Number of deliveries including this one (1 on first delivery). */
  get attempts(): number {
    return this.frame.readUInt16BE(8);
  }
  /** The 16 ASCII hex bytes of the ID. */
  get idBytes(): Buffer {
    return this.frame.subarray(10, 26);
  }
  get id(): string {
    return this.frame.toString("latin1", 10, 26);
  }
  get body(): Buffer {
    return this.frame.subarray(26);
  }
  /** Nanoseconds since the Unix epoch at which nsqd accepted the publish. */
  get timestampNs(): bigint {
    return this.frame.readBigInt64BE(0);
  }
  get timestamp(): Date {
    return new Date(Number(this.timestampNs / 1_000_000n));
  }
  get hasResponded(): boolean {
    return this.responded;
  }
  /** Stops the consumer from sending FIN/REQ for this message when the handler returns. */
  disableAutoResponse(): void {
    this.autoResponse = false;
  }
  get isAutoResponseDisabled(): boolean {
    return !this.autoResponse;
  }

  finish(): void {
    if (this.responded) return;
    this.responded = true;
    this.responder.finishMessage(this);
  }

  /**
   * REQ the message. `delayMs` < 0 means go-nsq's default: default_requeue_delay × attempts,
   * capped at max_requeue_delay. With `backoff` the consumer enters/continues backoff (§7.6).
   */
  requeue(delayMs = -1, backoff = true): void {
    if (this.responded) return;
    this.responded = true;
    this.responder.requeueMessage(this, delayMs, backoff);
  }

  requeueWithoutBackoff(delayMs = -1): void {
    this.requeue(delayMs, false);
  }

  /** Asks nsqd to reset this message's timeout. */
  touch(): void {
    if (this.responded) return;
    this.responder.touchMessage(this);
  }
}

/** Minimum length of a message frame: 8 timestamp + 2 attempts + 16 id. */
export const MESSAGE_HEADER_SIZE = 26;
