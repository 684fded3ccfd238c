/**
 * A channel: one copy of every message of its topic, shared among its subscribed clients.
 * Each message goes to exactly one ready client; a client is ready while the channel is not
 * paused and it holds fewer messages in flight than its last RDY (RDY is a window, spec §1.9).
 */
import { MessageQueue, batchViews } from "./message-queue.ts";
import { InFlightIndex, InFlightList } from "./in-flight-queue.ts";
import { DeferredQueue } from "./deferred-queue.ts";
import { Message, MessageState, MSG_ID_OFFSET, readAttempts, readTimestampMs, writeAttempts } from "./message.ts";
import { idKey } from "../protocol/hex.ts";
import { isEphemeral } from "../protocol/names.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { BackendQueue } from "./backend-queue.ts";
import type { ClientV2 } from "./client.ts";
import type { Topic } from "./topic.ts";
import { LatencyStats } from "./latency-stats.ts";
import type { DeferredRestore } from "./deferred-restore.ts";
import { ReadVerdict, type AckWindow } from "./ack-window.ts";

export interface ChannelHost {
  readonly memQueueSize: number;
  readonly maxMsgTimeout: number;
  /** the channel now has in-flight or deferred messages: include it in the scan loop */
  markActive(channel: Channel): void;
  /** the last client of an ephemeral channel left */
  onEphemeralChannelEmpty(channel: Channel): void;
  logError(msg: string): void;
  /** a disk write failed; the data was kept in memory (health turns NOK until a write succeeds) */
  storageFailed(err: unknown): void;
  /** a delivery failed (REQ, timeout): true when the message went to the dead-letter topic instead */
  deadLetter?(channel: Channel, buf: Uint8Array): boolean;
}

export class Channel {
  readonly ephemeral: boolean;
  paused = false;
  deleted = false;
  readonly memQueue = new MessageQueue();
  readonly clients: ClientV2[] = [];
  readonly inFlight = new InFlightIndex();
  readonly deferred = new DeferredQueue();
  /** in-flight lists of clients that disconnected; their messages wait for their deadlines */
  private orphans: InFlightList[] = [];
  messageCount = 0;
  requeueCount = 0;
  timeoutCount = 0;
  readonly e2e: LatencyStats | null;
  private nextClient = 0;
  private pumping = false;
  private preferBackend = false;
  /** deadlines of deferred messages written to disk at the last shutdown */
  restoredDeferred: DeferredRestore | null = null;
  /** member of the broker's scan set (has in-flight or deferred messages) */
  inScanSet = false;
  /** crash-safe delivery of disk-queue records (ack-window.ts); null without a disk queue */
  readonly ackWindow: AckWindow | null;
  /** the window entry of the record take() returned last (-1: it came from memory) */
  private takenSeq = -1;

  constructor(
    readonly topic: Topic,
    readonly name: string,
    private readonly host: ChannelHost,
    readonly backend: BackendQueue | null,
    e2e: LatencyStats | null,
  ) {
    this.ephemeral = isEphemeral(name);
    this.e2e = e2e;
    this.ackWindow = backend?.trackAcks?.() ?? null;
  }

  /** take() reads the disk queue first while memory has messages too (GET /channel/peek follows its order). */
  get nextFromDisk(): boolean {
    return this.preferBackend;
  }

  /** memory + disk, excluding in-flight and deferred (spec §2.11) */
  depth(): number {
    const hidden = this.ackWindow?.hiddenRecords() ?? 0; // copies of in-memory messages, restored finished/deferred ones
    return this.memQueue.length + Math.max(0, (this.backend?.depth() ?? 0) - hidden);
  }

  /** deferred messages, including those restored after a restart and not yet read back from disk */
  deferredCount(): number {
    return this.deferred.size + (this.ackWindow?.deferredOnDisk() ?? 0);
  }

  backendDepth(): number {
    return this.backend?.depth() ?? 0;
  }

  /**
   * Queues a message from the topic. Throws (with context) only when a non-ephemeral channel
   * can keep it neither in memory nor on disk; ephemeral overflow is dropped as in nsqd.
   */
  put(buf: Uint8Array, acked = false): void {
    this.enqueue(buf, acked);
    this.messageCount++;
  }

  /**
   * Queues messages [from, to) of a packed batch from the topic: memory while there is room,
   * the rest on disk (all or nothing), or — ephemeral — dropped unless a client can take it now.
   */
  putBatch(block: Uint8Array, offsets: Int32Array | null, from: number, to: number, acked = false): void {
    if (offsets === null) {
      this.put(block, acked);
      return;
    }
    const n = to - from;
    const room = Math.max(0, this.host.memQueueSize - this.memQueue.length);
    let inMemory = Math.min(room, n);
    if (inMemory < n) {
      if (this.backend !== null) {
        try {
          this.backend.putMany(batchViews(block, offsets, from + inMemory, to));
        } catch (err) {
          if (!acked) throw err;
          this.host.storageFailed(err);
          inMemory = n; // acknowledged already: kept in memory past the limit rather than lost
        }
      } else if (this.host.memQueueSize === 0) {
        this.messageCount += n;
        for (const buf of batchViews(block, offsets, from, to)) this.enqueue(buf, acked);
        return;
      }
    }
    this.memQueue.pushBatch(block, offsets, from, from + inMemory);
    this.messageCount += n;
  }

  /** A message from the topic that must wait `delayMs` first (DPUB). */
  putDeferred(buf: Uint8Array, dueAt: number, acked = false): void {
    this.messageCount++;
    if (acked) this.addDeferredAcked(buf, dueAt);
    else this.addDeferred(buf, dueAt);
  }

  /** addDeferred for a message already acknowledged: when the disk fails it stays in memory, never lost. */
  private addDeferredAcked(buf: Uint8Array, dueAt: number): void {
    try {
      this.addDeferred(buf, dueAt);
    } catch (err) {
      this.host.storageFailed(err);
      this.addDeferred(buf, dueAt, -1, false);
    }
  }

  /**
   * Memory while there is room, else disk. `acked`: the message was already acknowledged to its
   * publisher (a topic backlog, a requeue, a timeout), so when the disk fails it stays in memory
   * past the limit — never lost — and the broker reports the disk error; a new publish instead
   * gets the error, so its publisher can retry.
   */
  private enqueue(buf: Uint8Array, acked: boolean): void {
    const mem = this.host.memQueueSize;
    if (this.memQueue.length < mem) {
      this.memQueue.push(buf);
      return;
    }
    if (this.backend !== null) {
      try {
        this.backend.put(buf);
      } catch (err) {
        if (!acked) throw err;
        this.host.storageFailed(err);
        this.memQueue.push(buf);
      }
      return;
    }
    // ephemeral: with no room, only a client that is ready right now can take it (nsqd §2.3)
    if (mem === 0 && this.memQueue.length === 0) {
      const client = this.pickReadyClient();
      if (client !== null) this.deliver(client, buf, Date.now());
    }
  }

  /**
   * A deferred message. `seq`: its record's window entry when it was just read from disk; otherwise,
   * with an ack window, a copy is written to disk first (throws, for DPUB's error reply, when it
   * cannot be), so a crash does not lose it.
   */
  private addDeferred(buf: Uint8Array, dueAt: number, seq = -1, persist = true): Message {
    const msg = new Message(buf, idKey(buf, MSG_ID_OFFSET), this);
    msg.state = MessageState.Deferred;
    msg.deadline = dueAt;
    const window = this.ackWindow;
    if (window !== null && persist) {
      if (seq >= 0) window.bind(seq, msg);
      else window.persistCopy(msg);
    }
    this.deferred.push(msg);
    this.host.markActive(this);
    return msg;
  }

  addClient(client: ClientV2): void {
    this.clients.push(client);
  }

  removeClient(client: ClientV2): void {
    const i = this.clients.indexOf(client);
    if (i < 0) return;
    this.clients.splice(i, 1);
    if (client.inFlight.size > 0) this.orphans.push(client.inFlight);
    if (this.ephemeral && this.clients.length === 0 && !this.deleted) this.host.onEphemeralChannelEmpty(this);
    else this.pump();
  }

  /**
   * How many more messages this channel could take now without dropping any (an ephemeral
   * channel has no disk): free memory-queue slots plus the open RDY windows of its clients.
   */
  roomWithoutDropping(): number {
    if (this.backend !== null) return Infinity;
    let room = Math.max(0, this.host.memQueueSize - this.memQueue.length);
    if (!this.paused) for (const c of this.clients) if (c.isReadyForDelivery()) room += c.readyCount - c.inFlight.size;
    return room;
  }

  /** Hands queued messages to ready clients, a window's worth per client in turn. */
  pump(): void {
    if (this.pumping || this.paused || this.deleted) return;
    this.pumping = true;
    try {
      this.pumpQueued();
    } finally {
      this.pumping = false;
    }
    // an ephemeral-only topic holding a backlog for us: we may have room now
    if (this.topic.waitingForRoom && this.roomWithoutDropping() > 0) this.topic.scheduleDrain();
  }

  private pumpQueued(): void {
    const now = Date.now();
    for (;;) {
      if (this.memQueue.length === 0 && (this.backend === null || this.backend.depth() === 0)) return;
      const client = this.pickReadyClient();
      if (client === null) return;
      let room = client.readyCount - client.inFlight.size;
      while (room > 0) {
        const buf = this.take();
        if (buf === null) return;
        if (this.deliver(client, buf, now)) room--;
      }
    }
  }

  /** Next queued message: memory and disk alternate while both have some, as nsqd's select does. */
  private take(): Uint8Array | null {
    const backend = this.backend;
    while (backend !== null && backend.depth() > 0 && (this.preferBackend || this.memQueue.length === 0)) {
      this.preferBackend = false;
      const rec = backend.readNext();
      if (rec === null) break;
      let seq = -1;
      const window = this.ackWindow;
      if (window !== null) {
        const verdict = window.onRead(rec);
        if (verdict === ReadVerdict.Skip) continue;
        seq = window.lastSeq;
        if (verdict === ReadVerdict.Defer) {
          this.addDeferred(rec, window.lastDue, seq);
          continue;
        }
      }
      const restore = this.restoredDeferred;
      if (restore !== null) {
        const due = restore.dueTime(rec, Date.now());
        if (restore.done) this.restoredDeferred = null;
        if (due > 0) {
          this.addDeferred(rec, due, seq);
          continue;
        }
      }
      this.takenSeq = seq;
      return rec;
    }
    this.preferBackend = true;
    this.takenSeq = -1;
    return this.memQueue.shift() ?? null;
  }

  private pickReadyClient(): ClientV2 | null {
    if (this.paused) return null;
    const n = this.clients.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.nextClient + i) % n;
      const c = this.clients[idx]!;
      if (c.isReadyForDelivery()) {
        this.nextClient = (idx + 1) % n;
        return c;
      }
    }
    return null;
  }

  /** Sends one message; false when sampling dropped it. */
  private deliver(client: ClientV2, buf: Uint8Array, now: number): boolean {
    const seq = this.takenSeq;
    this.takenSeq = -1;
    if (client.pumpSampleRate > 0 && Math.floor(Math.random() * 100) > client.pumpSampleRate) {
      if (seq >= 0) this.ackWindow!.finish(seq); // sampled out: dropped for good, as in nsqd
      return false;
    }
    writeAttempts(buf, readAttempts(buf) + 1);
    const msg = new Message(buf, idKey(buf, MSG_ID_OFFSET), this);
    if (seq >= 0) this.ackWindow!.bind(seq, msg);
    msg.deliveredAt = now;
    msg.deadline = now + client.pumpMsgTimeout;
    msg.owner = client;
    this.inFlight.add(msg);
    client.inFlight.insert(msg);
    client.messageCount++;
    client.sendMessage(buf);
    this.host.markActive(this);
    return true;
  }

  /** The in-flight message with this ID held by `client`; the non-fatal E_<CMD>_FAILED otherwise. */
  private takeOwned(client: ClientV2, cmd: string, id: Uint8Array, off: number): Message {
    const msg = this.inFlight.find(id, off);
    if (msg !== undefined && msg.owner === client) return msg;
    const idText = Buffer.from(id.buffer, id.byteOffset + off, 16).toString("latin1");
    const why = msg === undefined ? "ID not in flight" : "client does not own message";
    throw new ProtocolError(`E_${cmd}_FAILED`, `${cmd} ${idText} failed ${why}`);
  }

  private removeInFlight(msg: Message): void {
    this.inFlight.remove(msg);
    msg.owner!.inFlight.unlink(msg);
    msg.state = MessageState.Done;
  }

  finish(client: ClientV2, id: Uint8Array, off: number, now: number): void {
    const msg = this.takeOwned(client, "FIN", id, off);
    this.removeInFlight(msg);
    this.ackWindow?.release(msg);
    client.finishCount++;
    if (this.e2e !== null) this.e2e.add(now - readTimestampMs(msg.buf), now);
  }

  requeue(client: ClientV2, id: Uint8Array, off: number, delayMs: number, now: number): void {
    const msg = this.takeOwned(client, "REQ", id, off);
    this.removeInFlight(msg);
    client.requeueCount++;
    this.requeueCount++;
    if (this.divertToDeadLetter(msg)) {
      this.ackWindow?.release(msg); // it left the channel, as after a FIN
      return;
    }
    if (delayMs > 0) this.deferAgain(msg, now + delayMs);
    else this.requeueMsg(msg);
  }

  touch(client: ClientV2, id: Uint8Array, off: number, now: number): void {
    const msg = this.takeOwned(client, "TOUCH", id, off);
    let deadline = now + client.msgTimeout;
    const cap = msg.deliveredAt + this.host.maxMsgTimeout;
    if (deadline > cap) deadline = cap;
    client.inFlight.unlink(msg);
    msg.deadline = deadline;
    client.inFlight.insert(msg);
  }

  /**
   * A failed delivery (REQ, timeout) that the dead-letter policy took (src/server/dead-letter.ts):
   * the message leaves the channel as after a FIN. False: requeue it as usual.
   */
  private divertToDeadLetter(msg: Message): boolean {
    return this.host.deadLetter?.(this, msg.buf) === true;
  }

  /** A message coming back (REQ 0, timeout, deferred due): memory or disk, never dropped. */
  private requeueBuf(buf: Uint8Array): void {
    this.enqueue(buf, true);
  }

  /** requeueBuf, then its old durable record is no longer needed (written again first: never lost). */
  private requeueMsg(msg: Message): void {
    this.requeueBuf(msg.buf);
    this.ackWindow?.release(msg);
  }

  /** REQ with a delay: deferred, keeping its durable record (or getting one). */
  private deferAgain(msg: Message, dueAt: number): void {
    const window = this.ackWindow;
    if (window === null || !window.isDurable(msg)) {
      this.addDeferredAcked(msg.buf, dueAt);
      return;
    }
    const deferred = new Message(msg.buf, msg.key, this);
    deferred.state = MessageState.Deferred;
    deferred.deadline = dueAt;
    window.transfer(msg, deferred);
    this.deferred.push(deferred);
    this.host.markActive(this);
  }

  /**
   * Scan-loop work: in-flight deadlines and deferred due times. Returns true while the channel
   * still has in-flight or deferred messages (stays in the scan set).
   */
  processQueues(now: number): boolean {
    let changed = false;
    for (const client of this.clients) changed = this.expire(client.inFlight, now) || changed;
    if (this.orphans.length > 0) {
      for (const list of this.orphans) changed = this.expire(list, now) || changed;
      this.orphans = this.orphans.filter((l) => l.size > 0);
    }
    for (let msg = this.deferred.popDue(now); msg !== null; msg = this.deferred.popDue(now)) {
      msg.state = MessageState.Done;
      this.requeueMsg(msg);
      changed = true;
    }
    if (changed) this.pump();
    return this.inFlight.size > 0 || this.deferred.size > 0;
  }

  /** Times out the messages at the head of one in-flight list whose deadline has passed. */
  private expire(list: InFlightList, now: number): boolean {
    let expired = false;
    while (list.head !== null && list.head.deadline <= now) {
      const msg = list.head;
      this.removeInFlight(msg);
      this.timeoutCount++;
      if (this.divertToDeadLetter(msg)) this.ackWindow?.release(msg);
      else this.requeueMsg(msg);
      expired = true;
    }
    return expired;
  }

  /** Drops every queued, in-flight and deferred message (HTTP /channel/empty). */
  empty(): void {
    this.memQueue.clear();
    for (const client of this.clients) {
      for (let m = client.inFlight.head; m !== null; m = m.next) m.state = MessageState.Done;
      client.inFlight.head = client.inFlight.tail = null;
      client.inFlight.size = 0;
    }
    this.orphans = [];
    this.inFlight.clear();
    this.deferred.drain();
    this.backend?.empty();
  }

  pause(): void {
    this.paused = true;
    for (const c of this.clients) c.flushSoon(); // no longer ready: nothing waits for the timer
  }

  unpause(): void {
    this.paused = false;
    this.pump();
  }

  /**
   * Everything this channel still holds, for a graceful shutdown: queued, in-flight and deferred
   * messages (attempts kept). Deferred ones come with their due time.
   */
  takeAllForShutdown(): { buf: Uint8Array; dueAt: number }[] {
    const out: { buf: Uint8Array; dueAt: number }[] = [];
    // those already on disk come back from there, in their state (the ack window's side record)
    const window = this.ackWindow;
    for (const msg of this.inFlight.values()) if (window === null || !window.isDurable(msg)) out.push({ buf: msg.buf, dueAt: 0 });
    this.inFlight.clear();
    for (const msg of this.deferred.drain()) if (window === null || !window.isDurable(msg)) out.push({ buf: msg.buf, dueAt: msg.deadline });
    for (const buf of this.memQueue.drain()) out.push({ buf, dueAt: 0 });
    return out;
  }

  /** Closes every subscribed client's connection (channel or topic deleted). */
  closeClients(): void {
    for (const c of [...this.clients]) c.close();
  }
}
