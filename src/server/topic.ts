/**
 * A topic: receives every published message and gives a copy to each of its channels. With no
 * channel, while paused, or before it is started, messages wait in the topic (memory up to
 * --mem-queue-size, then disk) and are fanned out once they can be (spec §2.1, §2.2).
 */
import { MessageQueue, batchViews } from "./message-queue.ts";
import { GuidFactory } from "./guid.ts";
import { Channel, type ChannelHost } from "./channel.ts";
import { MSG_ID_OFFSET, writeTimestamp } from "./message.ts";
import { isEphemeral } from "../protocol/names.ts";
import { channelQueueName, type BackendQueue } from "./backend-queue.ts";
import type { LatencyStats } from "./latency-stats.ts";
import { DeferredRestore } from "./deferred-restore.ts";

/** how many queued topic messages one fan-out pass moves before yielding the event loop */
const DRAIN_BATCH = 4096;

export interface TopicHost extends ChannelHost {
  createBackend(queueName: string): BackendQueue | null;
  createLatencyStats(): LatencyStats | null;
  onChannelCreated(channel: Channel): void;
  onChannelDeleted(channel: Channel): void;
  /** the last channel of an ephemeral topic was deleted */
  onEphemeralTopicEmpty(topic: Topic): void;
}

/** A deferred message waiting in the topic for a channel to exist. */
interface PendingDeferred {
  buf: Uint8Array;
  dueAt: number;
}

export class Topic {
  readonly ephemeral: boolean;
  readonly channels = new Map<string, Channel>();
  /** channels in a stable array for the fan-out loop */
  private channelList: Channel[] = [];
  readonly memQueue = new MessageQueue();
  private pendingDeferred: PendingDeferred[] = [];
  paused = false;
  deleted = false;
  /** false until lookupd's channels are pre-created (spec §2.2) */
  started = false;
  messageCount = 0;
  messageBytes = 0;
  private readonly guid: GuidFactory;
  private drainScheduled = false;
  /** every channel is ephemeral: fan-out is paced by their room (see canFanOut) */
  private onlyEphemeralChannels = false;
  /** the backlog waits for an ephemeral channel to take messages */
  waitingForRoom = false;
  /** deadlines of deferred messages written to disk at the last shutdown */
  restoredDeferred: DeferredRestore | null = null;
  /** records were moved from the topic's disk queue to the channels since their queues were last synced */
  private readFromDiskSinceSync = false;

  constructor(
    readonly name: string,
    nodeId: number,
    private readonly host: TopicHost,
    readonly backend: BackendQueue | null,
  ) {
    this.ephemeral = isEphemeral(name);
    this.guid = new GuidFactory(nodeId);
  }

  /** messages waiting in the topic: memory (deferred ones included) and disk */
  depth(): number {
    return this.memQueue.length + this.pendingDeferred.length + (this.backend?.depth() ?? 0);
  }

  backendDepth(): number {
    return this.backend?.depth() ?? 0;
  }

  /**
   * Stamps timestamp, attempts 0 and a fresh ID into a message layout whose body is already in
   * place, at `offset` of `buf` (a packed batch) or at its start.
   */
  stamp(buf: Uint8Array, nowMs: number, offset = 0): void {
    writeTimestamp(buf, offset, nowMs);
    buf[offset + 8] = 0;
    buf[offset + 9] = 0;
    this.guid.writeNext(buf, offset + MSG_ID_OFFSET, nowMs);
  }

  /**
   * True when `count` messages can go straight to the channels instead of waiting in the topic.
   * A topic whose only channels are ephemeral (someone tailing it) hands them no more than they
   * have room for and keeps the rest, so a tail started on a topic with a backlog sees all of
   * it; with any durable channel, fan-out runs at full speed and ephemeral overflow is dropped,
   * as in nsqd.
   */
  private canFanOut(count: number): boolean {
    if (!this.started || this.paused || this.channelList.length === 0 || this.depth() !== 0) return false;
    return !this.onlyEphemeralChannels || this.ephemeralRoom() >= count;
  }

  /** How many more messages every (ephemeral) channel can take now without dropping any. */
  private ephemeralRoom(): number {
    let room = Infinity;
    for (const ch of this.channelList) room = Math.min(room, ch.roomWithoutDropping());
    return room;
  }

  /**
   * Accepts stamped messages packed in `block` (message i at offsets[i]..offsets[i+1]; offsets
   * null for a single message). All or nothing for the topic's own queue; throws (with context)
   * when a message could be kept neither in memory nor on disk, so the publisher gets an error.
   */
  publishBatch(block: Uint8Array, offsets: Int32Array | null, count: number, bodyBytes: number): void {
    if (this.canFanOut(count)) this.fanOutBatch(block, offsets, 0, count);
    else {
      this.enqueueBatch(block, offsets, 0, count);
      this.scheduleDrain();
    }
    this.messageCount += count;
    this.messageBytes += bodyBytes;
  }

  /** Accepts stamped messages, each in its own buffer. */
  publish(bufs: Uint8Array[], bodyBytes: number): void {
    if (this.canFanOut(bufs.length)) this.fanOutViews(bufs);
    else {
      for (const b of bufs) this.enqueueBatch(b, null, 0, 1);
      this.scheduleDrain();
    }
    this.messageCount += bufs.length;
    this.messageBytes += bodyBytes;
  }

  /**
   * A deferred message: straight into the channels' deferred queues, or — while the topic holds
   * its messages — kept in the topic, in memory while it has room (it counts against
   * --mem-queue-size), else on disk with its due time remembered; an ephemeral topic drops it.
   */
  publishDeferred(buf: Uint8Array, bodyBytes: number, dueAt: number): void {
    if (this.started && !this.paused && this.channelList.length > 0) {
      this.fanOutDeferred(buf, dueAt, false);
    } else if (this.memQueue.length + this.pendingDeferred.length < this.host.memQueueSize) {
      this.pendingDeferred.push({ buf, dueAt });
    } else if (this.backend !== null) {
      this.backend.put(buf);
      (this.restoredDeferred ??= new DeferredRestore()).add(buf, dueAt);
    }
    this.messageCount++;
    this.messageBytes += bodyBytes;
  }

  /** Messages [from, to) into the topic's own queue: memory while it has room, then disk. */
  private enqueueBatch(block: Uint8Array, offsets: Int32Array | null, from: number, to: number): void {
    if (offsets === null) {
      if (this.memQueue.length < this.host.memQueueSize) this.memQueue.push(block);
      else if (this.backend !== null) this.backend.put(block);
      // else: ephemeral topic, full: dropped as nsqd does
      return;
    }
    const room = Math.max(0, this.host.memQueueSize - this.memQueue.length);
    const inMemory = Math.min(room, to - from);
    if (inMemory < to - from && this.backend !== null) {
      this.backend.putMany(batchViews(block, offsets, from + inMemory, to));
    }
    this.memQueue.pushBatch(block, offsets, from, from + inMemory);
  }

  /**
   * Hands messages [from, to) to every channel; each channel but the last gets a copy of the
   * block (one copy per batch, not per message).
   */
  private fanOutBatch(block: Uint8Array, offsets: Int32Array | null, from: number, to: number, acked = false): void {
    const channels = this.channelList;
    let failure: unknown = null;
    for (let c = 0; c < channels.length; c++) {
      const ch = channels[c]!;
      try {
        ch.putBatch(c === channels.length - 1 ? block : copy(block), offsets, from, to, acked);
      } catch (err) {
        failure = err;
      }
      ch.pump();
    }
    // A channel that could not keep a message fails the publish: the publisher retries and no
    // acknowledged message is lost (other channels may then see a duplicate: at-least-once).
    if (failure !== null) throw failure;
  }

  /**
   * Fan-out of individual messages (read back from disk, or single publishes). `acked`: they come
   * from the topic's backlog, already acknowledged, so channels keep them even if their disk fails.
   */
  private fanOutViews(bufs: Uint8Array[], acked = false): void {
    const channels = this.channelList;
    let failure: unknown = null;
    for (let c = 0; c < channels.length; c++) {
      const ch = channels[c]!;
      const last = c === channels.length - 1;
      for (const buf of bufs) {
        try {
          ch.put(last ? buf : copy(buf), acked);
        } catch (err) {
          failure = err;
        }
      }
      ch.pump();
    }
    if (failure !== null) throw failure;
  }

  /** `acked`: from the topic's backlog; otherwise (a new DPUB) a channel's disk failure fails the publish. */
  private fanOutDeferred(buf: Uint8Array, dueAt: number, acked = true): void {
    const channels = this.channelList;
    let failure: unknown = null;
    for (let c = 0; c < channels.length; c++) {
      try {
        channels[c]!.putDeferred(c === channels.length - 1 ? buf : copy(buf), dueAt, acked);
      } catch (err) {
        failure = err;
      }
    }
    if (failure !== null) throw failure;
  }

  /** Moves waiting messages into the channels, a batch per event-loop turn. */
  scheduleDrain(): void {
    this.waitingForRoom = false;
    if (this.drainScheduled || !this.started || this.paused || this.channelList.length === 0) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drainBatch();
    });
  }

  private drainBatch(): void {
    if (this.deleted || !this.started || this.paused || this.channelList.length === 0) return;
    if (this.pendingDeferred.length > 0) {
      for (const p of this.pendingDeferred) this.fanOutDeferred(p.buf, p.dueAt);
      this.pendingDeferred = [];
    }
    const budget = this.onlyEphemeralChannels ? Math.min(DRAIN_BATCH, this.ephemeralRoom()) : DRAIN_BATCH;
    try {
      let moved = 0;
      while (moved < budget) {
        const run = this.memQueue.shiftRun(budget - moved);
        if (run !== null) {
          this.fanOutBatch(run.buf, run.offsets, run.from, run.to, true);
          moved += run.to - run.from;
        }
        const fromDisk = this.readFromDisk(Math.min(256, budget - moved));
        if (fromDisk.length > 0) {
          this.fanOutViews(fromDisk, true);
          moved += fromDisk.length;
        }
        if (run === null && fromDisk.length === 0) break;
      }
      if (this.readFromDiskSinceSync) this.syncChannelsAfterHandOff();
    } catch (err) {
      this.host.logError(`topic ${this.name} failed to hand messages to its channels: ${String(err)}`);
    }
    if (this.depth() === 0) return;
    // an ephemeral-only topic waits until its channels take messages (Channel.pump calls back)
    if (this.onlyEphemeralChannels && this.ephemeralRoom() <= 0) this.waitingForRoom = true;
    else this.scheduleDrain();
  }

  /**
   * Messages moved from the topic's disk queue to its channels' queues must be on disk there before the
   * topic's read position past them can be: the channels' queues are synced now, on the event loop, so
   * before any later completion of the topic queue's own (asynchronous) sync renames its metadata. Without
   * this a power loss could lose them from both (issue 20); a process crash could not (the page cache survives).
   */
  private syncChannelsAfterHandOff(): void {
    this.readFromDiskSinceSync = false;
    for (const ch of this.channelList) ch.backend?.sync?.();
  }

  /** Up to `max` records from the disk queue; restored deferred ones go straight to the channels' deferred queues. */
  private readFromDisk(max: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    const backend = this.backend;
    if (backend === null) return out;
    while (out.length < max && backend.depth() > 0) {
      const buf = backend.readNext();
      if (buf === null) break;
      this.readFromDiskSinceSync = true;
      if (this.restoredDeferred !== null) {
        const due = this.restoredDeferred.dueTime(buf, Date.now());
        if (this.restoredDeferred.done) this.restoredDeferred = null;
        if (due > 0) {
          this.fanOutDeferred(buf, due);
          continue;
        }
      }
      out.push(buf);
    }
    return out;
  }

  getChannel(name: string): Channel | undefined {
    return this.channels.get(name);
  }

  /** Returns the channel, creating it (and telling the host) if needed. */
  getOrCreateChannel(name: string): Channel {
    let ch = this.channels.get(name);
    if (ch !== undefined) return ch;
    const backend = isEphemeral(name) ? null : this.host.createBackend(channelQueueName(this.name, name));
    ch = new Channel(this, name, this.host, backend, this.host.createLatencyStats());
    this.channels.set(name, ch);
    this.channelsChanged();
    this.host.onChannelCreated(ch);
    this.scheduleDrain();
    return ch;
  }

  deleteChannel(name: string): boolean {
    const ch = this.channels.get(name);
    if (ch === undefined) return false;
    this.channels.delete(name);
    this.channelsChanged();
    ch.deleted = true;
    ch.closeClients();
    ch.empty();
    ch.backend?.delete();
    this.host.onChannelDeleted(ch);
    if (this.ephemeral && this.channels.size === 0 && !this.deleted) this.host.onEphemeralTopicEmpty(this);
    return true;
  }

  private channelsChanged(): void {
    this.channelList = [...this.channels.values()];
    this.onlyEphemeralChannels = this.channelList.length > 0 && this.channelList.every((c) => c.ephemeral);
  }

  start(): void {
    this.started = true;
    this.scheduleDrain();
  }

  pause(): void {
    this.paused = true;
  }

  unpause(): void {
    this.paused = false;
    this.scheduleDrain();
  }

  /** Drops the topic's own queued messages (channels untouched). */
  empty(): void {
    this.memQueue.clear();
    this.pendingDeferred = [];
    this.backend?.empty();
  }

  /** For a graceful shutdown: the topic's own memory queue and deferred messages. */
  takeAllForShutdown(): { buf: Uint8Array; dueAt: number }[] {
    const out: { buf: Uint8Array; dueAt: number }[] = this.pendingDeferred;
    this.pendingDeferred = [];
    for (const buf of this.memQueue.drain()) out.push({ buf, dueAt: 0 });
    return out;
  }

  channelNames(): string[] {
    return [...this.channels.keys()];
  }
}

function copy(buf: Uint8Array): Uint8Array {
  const out = new Uint8Array(buf.length);
  out.set(buf);
  return out;
}
