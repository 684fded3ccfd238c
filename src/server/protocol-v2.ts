/**
 * The V2 protocol of one connection (spec §1): splits the incoming byte stream into commands,
 * checks each as nsqd does (same order, same error texts) and runs it.
 *
 * Parsing works on byte offsets of the received chunks: hot commands (PUB, MPUB, FIN, RDY, REQ,
 * TOUCH) are recognised by comparing bytes and never build strings on success. Incoming data is
 * kept only while a command is incomplete; a large body arriving in many chunks is joined once.
 */
import { ProtocolError } from "../protocol/errors.ts";
import { FRAME_CLOSE_WAIT, FRAME_OK, MAGIC_V2, encodeFrame, FRAME_TYPE_ERROR } from "../protocol/frames.ts";
import { isValidChannelName, isValidTopicName } from "../protocol/names.ts";
import { goQuoteLatin1 } from "../protocol/go-quote.ts";
import { NSQ_VERSION } from "../protocol/version.ts";
import { ClientState, type ClientV2 } from "./client.ts";
import { decodeIdentify, negotiate } from "./identify.ts";
import { MSG_HEADER_SIZE, preciseNowMs } from "./message.ts";
import type { Topic } from "./topic.ts";
import type { Nsqd } from "./nsqd.ts";
import {
  debugEnabled,
  logCommand,
  logCommandError,
  logIdentify,
  logProtocolMagic,
  logRdyAfterCls,
  logReqClamped,
  logUpgrades,
} from "./connection-log.ts";
import { maxDeferTimeout } from "./options.ts";

/** nsqd reads command lines through a 16 KiB buffer: 16383 bytes and the newline at most. */
const MAX_LINE = 16383;

const C_SPACE = 32;
const C_NL = 10;
const C_CR = 13;

/** Result of trying to run one command from the buffered bytes. */
const NEED_MORE = -1;

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}
const CMD_FIN = ascii("FIN");
const CMD_RDY = ascii("RDY");
const CMD_REQ = ascii("REQ");
const CMD_PUB = ascii("PUB");
const CMD_NOP = ascii("NOP");
const CMD_MPUB = ascii("MPUB");
const CMD_DPUB = ascii("DPUB");
const CMD_SUB = ascii("SUB");
const CMD_CLS = ascii("CLS");
const CMD_TOUCH = ascii("TOUCH");
const CMD_IDENTIFY = ascii("IDENTIFY");
const CMD_AUTH = ascii("AUTH");

/** "FIN " + 16 bytes holding no space, CR or LF + "\n" at buf[pos..pos+21): one FIN with its ID. */
function isPlainFin(buf: Uint8Array, pos: number, len: number): boolean {
  if (pos + 21 > len || buf[pos + 1] !== 0x49 || buf[pos + 2] !== 0x4e || buf[pos + 3] !== C_SPACE || buf[pos + 20] !== C_NL) return false;
  for (let i = pos + 4; i < pos + 20; i++) {
    const b = buf[i]!;
    if (b === C_SPACE || b === C_NL || b === 13) return false;
  }
  return true;
}

function nameIs(buf: Uint8Array, start: number, end: number, cmd: number[]): boolean {
  if (end - start !== cmd.length) return false;
  for (let i = 0; i < cmd.length; i++) if (buf[start + i] !== cmd[i]) return false;
  return true;
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("latin1");
}

function utf8(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("utf8");
}

/** Parses ASCII digits only (empty = 0), as nsqd's ByteToBase10; NaN on any other byte. */
function parseDigits(buf: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The value nsqd reports for a digit string: parsed into a uint64 that wraps on overflow, then
 * read as int64 (so a huge RDY count prints as Go prints it, not as a float).
 */
function goInt64Digits(buf: Uint8Array, start: number, end: number): string {
  let n = 0n;
  for (let i = start; i < end; i++) n = (n * 10n + BigInt(buf[i]! - 48)) & 0xffffffffffffffffn;
  return BigInt.asIntN(64, n).toString();
}

/**
 * Milliseconds as nsqd computes `time.Duration(ms) * time.Millisecond` from a digit string:
 * uint64 parse wrapping, then int64 nanoseconds wrapping (huge values turn negative).
 */
function goDurationMs(digits: string): number {
  if (digits.length <= 12) return digits === "" ? 0 : Number(digits);
  let ms = 0n;
  for (const ch of digits) ms = (ms * 10n + BigInt(ch.charCodeAt(0) - 48)) & 0xffffffffffffffffn;
  const ns = BigInt.asIntN(64, BigInt.asIntN(64, ms) * 1000000n);
  return Number(ns / 1000000n);
}

function readInt32(buf: Uint8Array, off: number): number {
  return (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
}

export class ProtocolV2Connection {
  /** the 4-byte magic has arrived; `badMagic` when it was not "  V2" (for the connection log) */
  gotMagic = false;
  badMagic = false;
  /** bytes not yet consumed (an incomplete command) */
  private pending: Buffer | null = null;
  /** chunks waiting until `needBytes` have arrived, joined once */
  private parts: Buffer[] = [];
  private partsLen = 0;
  private needBytes = 0;
  /** PUB fast path: the last topic published to on this connection */
  private lastTopic: Topic | null = null;
  private lastTopicName: Buffer | null = null;
  private pumpNeeded = false;
  /** preciseNowMs() of the chunk being parsed, read at its first FIN (-1: not yet) */
  private chunkNow = -1;
  private identifyCount = 0;
  /** waiting for an auth server or a transport upgrade: input is held until `resume` */
  private suspended = false;

  constructor(
    readonly client: ClientV2,
    private readonly nsqd: Nsqd,
  ) {}

  onData(chunk: Buffer): void {
    if (this.client.closed) return;
    this.client.lastReadAt = Date.now();
    if (this.suspended) {
      this.pending = this.pending === null ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
      return;
    }
    let buf: Buffer;
    if (this.needBytes > 0) {
      this.parts.push(chunk);
      this.partsLen += chunk.length;
      if (this.partsLen < this.needBytes) return;
      buf = Buffer.concat(this.parts, this.partsLen);
      this.parts = [];
      this.partsLen = 0;
      this.needBytes = 0;
    } else if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    } else {
      buf = chunk;
    }
    const consumed = this.parse(buf);
    if (this.client.closed) return;
    if (consumed < buf.length) {
      const rest = buf.subarray(consumed);
      if (this.needBytes > rest.length) {
        this.parts = [rest];
        this.partsLen = rest.length;
      } else {
        this.needBytes = 0;
        // copy: a small leftover must not pin a large received chunk
        this.pending = Buffer.from(rest);
      }
    }
    if (this.pumpNeeded) {
      this.pumpNeeded = false;
      this.client.channel?.pump();
    }
  }

  /** Runs every complete command in `buf`; returns the number of bytes consumed. */
  private parse(buf: Buffer): number {
    let pos = 0;
    this.chunkNow = -1;
    if (!this.gotMagic) {
      if (buf.length < 4) return 0;
      const badMagic = buf[0] !== MAGIC_V2[0] || buf[1] !== MAGIC_V2[1] || buf[2] !== MAGIC_V2[2] || buf[3] !== MAGIC_V2[3];
      logProtocolMagic(this.nsqd.logger, this.client.remoteAddress, latin1(buf, 0, 4), !badMagic);
      if (badMagic) {
        this.badMagic = true;
        this.client.sendFrameBytes(encodeFrame(FRAME_TYPE_ERROR, "E_BAD_PROTOCOL"));
        this.client.closeAfterFlush();
        return buf.length;
      }
      this.gotMagic = true;
      pos = 4;
    }
    const len = buf.length;
    while (pos < len && !this.client.closed) {
      // "FIN <16-byte id>\n", most of a consumer's input, is recognised without scanning for the line end
      const plainFin = buf[pos] === 0x46 && isPlainFin(buf, pos, len);
      const nl = plainFin ? pos + 20 : buf.indexOf(C_NL, pos);
      if (nl < 0) {
        if (len - pos > MAX_LINE) this.closeLineTooLong();
        return pos;
      }
      if (nl - pos > MAX_LINE) {
        this.closeLineTooLong();
        return len;
      }
      let lineEnd = nl;
      if (lineEnd > pos && buf[lineEnd - 1] === C_CR) lineEnd--;
      let used: number;
      try {
        used = plainFin ? this.plainFin(buf, pos) : this.command(buf, pos, lineEnd, nl + 1);
      } catch (err) {
        if (err instanceof ProtocolError) {
          this.fail(err);
          if (err.fatal) return len;
          used = nl + 1;
        } else {
          this.nsqd.logger.error(`client ${this.client.remoteAddress}: internal error: ${String(err)}`);
          this.fail(new ProtocolError("E_INVALID", "internal error"));
          return len;
        }
      }
      if (used === NEED_MORE) return pos;
      pos = used;
      if (this.suspended) return pos;
    }
    return pos;
  }

  /**
   * Holds this connection's input until `wait` settles. `then` runs on success; a rejection with
   * a ProtocolError is sent to the client (fatal ones close it), anything else becomes `fallback`.
   */
  private suspend<T>(wait: Promise<T>, then: (value: T) => void, fallback: (err: unknown) => ProtocolError): void {
    this.suspended = true;
    wait.then(
      (value) => {
        if (this.client.closed) return;
        then(value);
        this.resume();
      },
      (err: unknown) => {
        if (this.client.closed) return;
        this.fail(err instanceof ProtocolError ? err : fallback(err));
        if (!this.client.closed) this.resume();
      },
    );
  }

  private resume(): void {
    this.suspended = false;
    const rest = this.pending;
    this.pending = null;
    if (rest !== null && rest.length > 0) this.onData(rest);
    else if (this.pumpNeeded) {
      this.pumpNeeded = false;
      this.client.channel?.pump();
    }
  }

  /**
   * Runs an auth check; when it must wait for the auth server the connection is suspended and
   * the same command runs again afterwards (returns true: the caller stops and re-parses later).
   */
  private awaitAuth(cmd: string, topic: string, channel: string): boolean {
    const r = this.nsqd.checkAuth(this.client, cmd, topic, channel);
    if (r === undefined) return false;
    this.suspend(r, () => {}, () => new ProtocolError("E_AUTH_FAILED", "AUTH failed"));
    return true;
  }

  private closeLineTooLong(): void {
    // nsqd's bufio.Reader.ReadSlice error for a line longer than its buffer
    this.client.closeReason = "failed to read command - bufio: buffer full";
    this.client.close();
  }

  /**
   * A topic this PUB / MPUB / DPUB / SUB just created waits for the channels lookupd knows
   * (nsqd's GetTopic): the connection is suspended and the same command runs again once they
   * exist (returns true).
   */
  private awaitChannels(topic: Topic): boolean {
    if (topic.started) return false;
    const ready = this.nsqd.channelsReady(topic);
    if (ready === undefined) return false;
    this.suspend(ready, () => {}, () => new ProtocolError("E_INVALID", "internal error"));
    return true;
  }

  private fail(err: ProtocolError): void {
    logCommandError(this.nsqd.logger, this.client.remoteAddress, err.message);
    this.client.sendError(err.wireText());
    if (err.fatal) {
      this.client.closeReason = err.message;
      this.client.closeAfterFlush();
    } else {
      this.client.flush();
    }
  }

  /**
   * Runs the command whose line is buf[start, lineEnd); `next` is the offset after its newline.
   * Returns the offset after the command (and its body), or NEED_MORE.
   */
  private command(buf: Buffer, start: number, lineEnd: number, next: number): number {
    let nameEnd = buf.indexOf(C_SPACE, start);
    if (nameEnd < 0 || nameEnd > lineEnd) nameEnd = lineEnd;
    const client = this.client;
    if (debugEnabled(this.nsqd.logger)) logCommand(this.nsqd.logger, client.remoteAddress, latin1(buf, start, lineEnd));
    const tlsRequired = this.nsqd.tlsRequiredForTcp && !client.tls;
    if (tlsRequired && !nameIs(buf, start, nameEnd, CMD_IDENTIFY)) {
      throw new ProtocolError("E_INVALID", `cannot ${latin1(buf, start, nameEnd)} in current state (TLS required)`);
    }
    // hot commands first
    if (nameIs(buf, start, nameEnd, CMD_FIN)) return this.fin(buf, nameEnd, lineEnd, next);
    if (nameIs(buf, start, nameEnd, CMD_PUB)) return this.pub(buf, nameEnd, lineEnd, next);
    if (nameIs(buf, start, nameEnd, CMD_MPUB)) return this.mpub(buf, nameEnd, lineEnd, next);
    if (nameIs(buf, start, nameEnd, CMD_RDY)) return this.rdy(buf, nameEnd, lineEnd, next);
    if (nameIs(buf, start, nameEnd, CMD_REQ)) return this.req(buf, start, lineEnd, next);
    if (nameIs(buf, start, nameEnd, CMD_TOUCH)) return this.touch(buf, nameEnd, lineEnd, next);
    if (nameIs(buf, start, nameEnd, CMD_NOP)) return next;
    if (nameIs(buf, start, nameEnd, CMD_DPUB)) return this.dpub(buf, start, lineEnd, next);
    if (nameIs(buf, start, nameEnd, CMD_SUB)) return this.sub(buf, start, lineEnd, next);
    if (nameIs(buf, start, nameEnd, CMD_CLS)) return this.cls(next);
    if (nameIs(buf, start, nameEnd, CMD_IDENTIFY)) return this.identify(buf, start, next);
    if (nameIs(buf, start, nameEnd, CMD_AUTH)) return this.auth(buf, start, lineEnd, next);
    throw new ProtocolError("E_INVALID", `invalid command ${latin1(buf, start, nameEnd)}`);
  }

  /** the params of a line split on every single space, as nsqd does (two spaces → empty param) */
  /**
   * Params decoded byte for byte (latin1): valid names are ASCII either way, and error texts
   * can quote exactly the bytes the client sent.
   */
  private params(buf: Buffer, start: number, lineEnd: number): string[] {
    return latin1(buf, start, lineEnd).split(" ");
  }

  /** Offset range of the first param after the command name: [from, to). */
  private firstParam(buf: Buffer, nameEnd: number, lineEnd: number): [number, number] | null {
    if (nameEnd >= lineEnd) return null;
    const from = nameEnd + 1;
    let to = buf.indexOf(C_SPACE, from);
    if (to < 0 || to > lineEnd) to = lineEnd;
    return [from, to];
  }

  private requireSubscribedOrClosing(cmd: string): void {
    const s = this.client.state;
    if (s !== ClientState.Subscribed && s !== ClientState.Closing) {
      throw new ProtocolError("E_INVALID", `cannot ${cmd} in current state`);
    }
  }

  private messageId(buf: Buffer, range: [number, number] | null, cmd: string): number {
    if (range === null) throw new ProtocolError("E_INVALID", `${cmd} insufficient number of params`);
    if (range[1] - range[0] !== 16) throw new ProtocolError("E_INVALID", "invalid message ID");
    return range[0];
  }

  /** A line isPlainFin recognised: what command() and fin() would do, without scanning the line. */
  private plainFin(buf: Buffer, start: number): number {
    if (this.nsqd.tlsRequiredForTcp && !this.client.tls) return this.command(buf, start, start + 20, start + 21);
    this.requireSubscribedOrClosing("FIN");
    // one clock reading per received chunk: its FINs all arrived at the same moment
    if (this.chunkNow < 0) this.chunkNow = preciseNowMs();
    this.client.channel!.finish(this.client, buf, start + 4, this.chunkNow);
    this.pumpNeeded = true;
    return start + 21;
  }

  private fin(buf: Buffer, nameEnd: number, lineEnd: number, next: number): number {
    this.requireSubscribedOrClosing("FIN");
    const idAt = this.messageId(buf, this.firstParam(buf, nameEnd, lineEnd), "FIN");
    // the clock of the message timestamps, so end-to-end latency compares like with like
    this.client.channel!.finish(this.client, buf, idAt, preciseNowMs());
    this.pumpNeeded = true;
    return next;
  }

  private req(buf: Buffer, start: number, lineEnd: number, next: number): number {
    this.requireSubscribedOrClosing("REQ");
    const params = this.params(buf, start, lineEnd);
    if (params.length < 3) throw new ProtocolError("E_INVALID", "REQ insufficient number of params");
    const nameEnd = start + 3;
    const idAt = this.messageId(buf, this.firstParam(buf, nameEnd, lineEnd), "REQ");
    const t = params[2]!;
    if (!/^[0-9]*$/.test(t)) throw new ProtocolError("E_INVALID", `REQ could not parse timeout ${t}`);
    let delay = goDurationMs(t);
    const max = this.nsqd.options.maxReqTimeout;
    if (delay < 0 || delay > max) {
      // an overflowing duration is negative in Go, then clamped to 0; too long is clamped, not an error (spec §9 item 7)
      const clamped = delay < 0 ? 0 : max;
      logReqClamped(this.nsqd.logger, this.client.remoteAddress, delay, max, clamped);
      delay = clamped;
    }
    this.client.channel!.requeue(this.client, buf, idAt, delay, Date.now());
    this.pumpNeeded = true;
    return next;
  }

  private touch(buf: Buffer, nameEnd: number, lineEnd: number, next: number): number {
    this.requireSubscribedOrClosing("TOUCH");
    const idAt = this.messageId(buf, this.firstParam(buf, nameEnd, lineEnd), "TOUCH");
    this.client.channel!.touch(this.client, buf, idAt, Date.now());
    return next;
  }

  private rdy(buf: Buffer, nameEnd: number, lineEnd: number, next: number): number {
    const client = this.client;
    if (client.state === ClientState.Closing) {
      logRdyAfterCls(this.nsqd.logger, client.remoteAddress); // ignored after CLS
      return next;
    }
    if (client.state !== ClientState.Subscribed) throw new ProtocolError("E_INVALID", "cannot RDY in current state");
    let count = 1;
    const p = this.firstParam(buf, nameEnd, lineEnd);
    if (p !== null) {
      count = parseDigits(buf, p[0], p[1]);
      if (Number.isNaN(count)) {
        throw new ProtocolError("E_INVALID", `RDY could not parse count ${latin1(buf, p[0], p[1])}`);
      }
      // past 2^53 the digits are read as Go does: a wrapping uint64, then int64
      if (p[1] - p[0] > 15) count = Number(goInt64Digits(buf, p[0], p[1]));
    }
    const max = this.nsqd.options.maxRdyCount;
    if (count < 0 || count > max) {
      throw new ProtocolError("E_INVALID", `RDY count ${p === null ? count : goInt64Digits(buf, p[0], p[1])} out of range 0-${max}`);
    }
    client.readyCount = count;
    if (!client.isReadyForDelivery()) client.flushSoon();
    this.pumpNeeded = true;
    return next;
  }

  private isLastTopic(buf: Buffer, from: number, to: number): boolean {
    const last = this.lastTopicName;
    return (
      last !== null &&
      this.lastTopic !== null &&
      !this.lastTopic.deleted &&
      last.length === to - from &&
      buf.compare(last, 0, last.length, from, to) === 0
    );
  }

  /** The topic named by buf[from, to), reusing the last one when the bytes match. */
  private topicFor(buf: Buffer, from: number, to: number, cmd: string, quirkPrefix = ""): Topic {
    if (this.isLastTopic(buf, from, to)) return this.lastTopic!;
    const name = latin1(buf, from, to);
    if (!isValidTopicName(name)) {
      throw new ProtocolError("E_BAD_TOPIC", `${quirkPrefix}${cmd} topic name ${goQuoteLatin1(name)} is not valid`);
    }
    const topic = this.nsqd.getOrCreateTopic(name);
    this.lastTopic = topic;
    this.lastTopicName = Buffer.from(buf.subarray(from, to));
    return topic;
  }

  private validTopicName(buf: Buffer, from: number, to: number, cmd: string, quirkPrefix = ""): string {
    const name = latin1(buf, from, to);
    if (!isValidTopicName(name)) {
      throw new ProtocolError("E_BAD_TOPIC", `${quirkPrefix}${cmd} topic name ${goQuoteLatin1(name)} is not valid`);
    }
    return name;
  }

  /** Asks for `n` bytes in total from the current command's line start before parsing again. */
  private needMore(totalFromLineStart: number): number {
    this.needBytes = totalFromLineStart;
    return NEED_MORE;
  }

  /** The body size of a PUB/DPUB, checked as nsqd does; -1 until its 4 bytes have arrived. */
  private messageBodySize(cmd: string, buf: Buffer, at: number): number {
    if (buf.length < at + 4) return -1;
    const size = readInt32(buf, at);
    if (size <= 0) throw new ProtocolError("E_BAD_MESSAGE", `${cmd} invalid message body size ${size}`);
    const max = this.nsqd.options.maxMsgSize;
    if (size > max) throw new ProtocolError("E_BAD_MESSAGE", `${cmd} message too big ${size} > ${max}`);
    return size;
  }

  private pub(buf: Buffer, nameEnd: number, lineEnd: number, next: number): number {
    const p = this.firstParam(buf, nameEnd, lineEnd);
    if (p === null) throw new ProtocolError("E_INVALID", "PUB insufficient number of parameters");
    const lineStart = nameEnd - 3;
    if (!this.isLastTopic(buf, p[0], p[1])) this.validTopicName(buf, p[0], p[1], "PUB");
    const size = this.messageBodySize("PUB", buf, next);
    if (size < 0) return this.needMore(next + 4 - lineStart);
    const end = next + 4 + size;
    if (buf.length < end) return this.needMore(end - lineStart);
    // as nsqd: body read → auth → topic created
    const topicName = this.isLastTopic(buf, p[0], p[1]) ? this.lastTopic!.name : utf8(buf, p[0], p[1]);
    if (this.awaitAuth("PUB", topicName, "")) return lineStart;
    const topic = this.topicFor(buf, p[0], p[1], "PUB");
    if (this.awaitChannels(topic)) return lineStart;
    const msg = Buffer.allocUnsafe(MSG_HEADER_SIZE + size);
    buf.copy(msg, MSG_HEADER_SIZE, next + 4, end);
    const now = preciseNowMs();
    topic.stamp(msg, now);
    try {
      topic.publishBatch(msg, null, 1, size);
    } catch (err) {
      this.nsqd.publishFailed(err);
      throw new ProtocolError("E_PUB_FAILED", `PUB failed ${errorText(err)}`);
    }
    this.countPublish(topic, 1);
    this.client.sendFrameBytes(FRAME_OK);
    return end;
  }

  private mpub(buf: Buffer, nameEnd: number, lineEnd: number, next: number): number {
    const p = this.firstParam(buf, nameEnd, lineEnd);
    if (p === null) throw new ProtocolError("E_INVALID", "MPUB insufficient number of parameters");
    const lineStart = nameEnd - 4;
    // as nsqd: topic name valid → auth → topic created → body
    const topicName = this.isLastTopic(buf, p[0], p[1]) ? this.lastTopic!.name : this.validTopicName(buf, p[0], p[1], "MPUB", "E_BAD_TOPIC ");
    if (this.awaitAuth("MPUB", topicName, "")) return lineStart;
    const topic = this.topicFor(buf, p[0], p[1], "MPUB", "E_BAD_TOPIC ");
    if (this.awaitChannels(topic)) return lineStart;
    if (buf.length < next + 4) return this.needMore(next + 4 - lineStart);
    const bodyLen = readInt32(buf, next);
    if (bodyLen <= 0) throw new ProtocolError("E_BAD_BODY", `MPUB invalid body size ${bodyLen}`);
    const maxBody = this.nsqd.options.maxBodySize;
    if (bodyLen > maxBody) throw new ProtocolError("E_BAD_BODY", `MPUB body too big ${bodyLen} > ${maxBody}`);
    const bodyStart = next + 4;
    // nsqd only range-checks the declared size, then reads the count and each part by its own
    // length straight from the stream. Parts are scanned in what has arrived; while they are
    // incomplete the wait is for the declared size at least (exact for every real client), so a
    // large body is scanned once, not once per chunk.
    const declaredEnd = bodyStart + bodyLen;
    if (buf.length < bodyStart + 4) return this.needMore(Math.max(bodyStart + 4, declaredEnd) - lineStart);
    const count = readInt32(buf, bodyStart);
    const maxCount = Math.floor((maxBody - 4) / 5);
    if (count <= 0 || count > maxCount) throw new ProtocolError("E_BAD_BODY", `MPUB invalid message count ${count}`);
    const maxMsg = this.nsqd.options.maxMsgSize;
    let off = bodyStart + 4;
    let total = 0;
    let bodyBytes = 0;
    for (let i = 0; i < count; i++) {
      if (off + 4 > buf.length) return this.needMore(Math.max(off + 4, declaredEnd) - lineStart);
      const size = readInt32(buf, off);
      if (size <= 0) throw new ProtocolError("E_BAD_MESSAGE", `MPUB invalid message(${i}) body size ${size}`);
      if (size > maxMsg) throw new ProtocolError("E_BAD_MESSAGE", `MPUB message too big ${size} > ${maxMsg}`);
      if (off + 4 + size > buf.length) return this.needMore(Math.max(off + 4 + size, declaredEnd) - lineStart);
      off += 4 + size;
      total += MSG_HEADER_SIZE + size;
      bodyBytes += size;
    }
    const consumedTo = off;
    // one allocation for the whole batch and an offset table: no object per message
    const block = Buffer.allocUnsafe(total);
    const offsets = new Int32Array(count + 1);
    const now = preciseNowMs();
    off = bodyStart + 4;
    let at = 0;
    for (let i = 0; i < count; i++) {
      const size = readInt32(buf, off);
      offsets[i] = at;
      buf.copy(block, at + MSG_HEADER_SIZE, off + 4, off + 4 + size);
      topic.stamp(block, now, at);
      at += MSG_HEADER_SIZE + size;
      off += 4 + size;
    }
    offsets[count] = at;
    try {
      topic.publishBatch(block, offsets, count, bodyBytes);
    } catch (err) {
      this.nsqd.publishFailed(err);
      throw new ProtocolError("E_MPUB_FAILED", `MPUB failed ${errorText(err)}`);
    }
    this.countPublish(topic, count);
    this.client.sendFrameBytes(FRAME_OK);
    return consumedTo;
  }

  private dpub(buf: Buffer, start: number, lineEnd: number, next: number): number {
    const params = this.params(buf, start, lineEnd);
    if (params.length < 3) throw new ProtocolError("E_INVALID", "DPUB insufficient number of parameters");
    const topicName = params[1]!;
    if (!isValidTopicName(topicName)) {
      throw new ProtocolError("E_BAD_TOPIC", `DPUB topic name ${goQuoteLatin1(topicName)} is not valid`);
    }
    const t = params[2]!;
    const delay = /^[0-9]*$/.test(t) ? (t === "" ? 0 : Number(t)) : NaN;
    if (Number.isNaN(delay)) throw new ProtocolError("E_INVALID", `DPUB could not parse timeout ${t}`);
    const maxReq = maxDeferTimeout(this.nsqd.options);
    if (delay > maxReq) throw new ProtocolError("E_INVALID", `DPUB timeout ${delay} out of range 0-${maxReq}`);
    const size = this.messageBodySize("DPUB", buf, next);
    if (size < 0) return this.needMore(next + 4 - start);
    const end = next + 4 + size;
    if (buf.length < end) return this.needMore(end - start);
    if (this.awaitAuth("DPUB", topicName, "")) return start;
    const topic = this.nsqd.getOrCreateTopic(topicName);
    if (this.awaitChannels(topic)) return start;
    const msg = Buffer.allocUnsafe(MSG_HEADER_SIZE + size);
    buf.copy(msg, MSG_HEADER_SIZE, next + 4, end);
    const now = preciseNowMs();
    topic.stamp(msg, now);
    try {
      if (delay > 0) topic.publishDeferred(msg, size, now + delay);
      else topic.publish([msg], size);
    } catch (err) {
      this.nsqd.publishFailed(err);
      throw new ProtocolError("E_DPUB_FAILED", `DPUB failed ${errorText(err)}`);
    }
    this.countPublish(topic, 1);
    this.client.sendFrameBytes(FRAME_OK);
    return end;
  }

  private countPublish(topic: Topic, n: number): void {
    const counts = this.client.pubCounts;
    counts.set(topic.name, (counts.get(topic.name) ?? 0) + n);
  }

  private sub(buf: Buffer, start: number, lineEnd: number, next: number): number {
    const client = this.client;
    if (client.state !== ClientState.Init) throw new ProtocolError("E_INVALID", "cannot SUB in current state");
    if (client.heartbeatInterval <= 0) throw new ProtocolError("E_INVALID", "cannot SUB with heartbeats disabled");
    const params = this.params(buf, start, lineEnd);
    if (params.length < 3) throw new ProtocolError("E_INVALID", "SUB insufficient number of parameters");
    const topicName = params[1]!;
    const channelName = params[2]!;
    if (!isValidTopicName(topicName)) {
      throw new ProtocolError("E_BAD_TOPIC", `SUB topic name ${goQuoteLatin1(topicName)} is not valid`);
    }
    if (!isValidChannelName(channelName)) {
      throw new ProtocolError("E_BAD_CHANNEL", `SUB channel name ${goQuoteLatin1(channelName)} is not valid`);
    }
    if (this.awaitAuth("SUB", topicName, channelName)) return start;
    const topic = this.nsqd.getOrCreateTopic(topicName);
    if (this.awaitChannels(topic)) return start;
    const channel = topic.getOrCreateChannel(channelName);
    const maxConsumers = this.nsqd.options.maxChannelConsumers;
    if (maxConsumers > 0 && channel.clients.length >= maxConsumers) {
      throw new ProtocolError(
        "E_SUB_FAILED",
        `SUB failed consumers for ${topicName}:${channelName} exceeds limit of ${maxConsumers}`,
      );
    }
    channel.addClient(client);
    client.channel = channel;
    client.state = ClientState.Subscribed;
    client.sendFrameBytes(FRAME_OK);
    return next;
  }

  private cls(next: number): number {
    const client = this.client;
    if (client.state !== ClientState.Subscribed) throw new ProtocolError("E_INVALID", "cannot CLS in current state");
    client.readyCount = 0;
    client.state = ClientState.Closing;
    client.sendFrameBytes(FRAME_CLOSE_WAIT);
    return next;
  }

  private identify(buf: Buffer, start: number, next: number): number {
    const client = this.client;
    if (client.state !== ClientState.Init) throw new ProtocolError("E_INVALID", "cannot IDENTIFY in current state");
    if (buf.length < next + 4) return this.needMore(next + 4 - start);
    const size = readInt32(buf, next);
    const maxBody = this.nsqd.options.maxBodySize;
    if (size <= 0) throw new ProtocolError("E_BAD_BODY", `IDENTIFY invalid body size ${size}`);
    if (size > maxBody) throw new ProtocolError("E_BAD_BODY", `IDENTIFY body too big ${size} > ${maxBody}`);
    const end = next + 4 + size;
    if (buf.length < end) return this.needMore(end - start);
    const data = decodeIdentify(buf.subarray(next + 4, end));
    logIdentify(this.nsqd.logger, client.remoteAddress, data);
    const opts = this.nsqd.options;
    const settings = negotiate(data, opts);
    this.identifyCount++;
    // assigned unconditionally, as nsqd does: a missing key means ""
    client.clientId = data.client_id ?? "";
    client.hostname = data.hostname ?? "";
    client.userAgent = data.user_agent ?? "";
    // only the first IDENTIFY re-configures the heartbeat and flush timers (nsqd quirk)
    if (settings.heartbeatInterval !== undefined) client.heartbeatInterval = settings.heartbeatInterval;
    if (settings.outputBufferTimeout !== undefined) client.outputBufferTimeout = settings.outputBufferTimeout;
    if (settings.outputBufferSize !== undefined) client.outputBufferSize = settings.outputBufferSize;
    client.sampleRate = settings.sampleRate;
    if (settings.msgTimeout !== undefined) client.msgTimeout = settings.msgTimeout;
    if (this.identifyCount === 1) {
      // nsqd's message pump takes these once, from the first IDENTIFY, and restarts its timers
      client.pumpHeartbeatInterval = client.heartbeatInterval;
      client.pumpMsgTimeout = client.msgTimeout;
      client.pumpSampleRate = client.sampleRate;
      client.pumpOutputBufferTimeout = client.outputBufferTimeout;
      client.nextHeartbeatAt = Date.now() + client.heartbeatInterval;
    }

    if (!data.feature_negotiation) {
      client.sendFrameBytes(FRAME_OK);
      return end;
    }
    const tlsv1 = this.nsqd.tlsAvailable && data.tls_v1 === true;
    const deflate = opts.deflate && data.deflate === true;
    let deflateLevel = 6;
    if (deflate && (data.deflate_level ?? 0) > 0) deflateLevel = data.deflate_level!;
    if (opts.maxDeflateLevel < deflateLevel) deflateLevel = opts.maxDeflateLevel;
    const snappy = opts.snappy && data.snappy === true;
    if (deflate && snappy) {
      throw new ProtocolError("E_IDENTIFY_FAILED", "cannot enable both deflate and snappy compression");
    }
    const reply = JSON.stringify({
      max_rdy_count: opts.maxRdyCount,
      version: NSQ_VERSION,
      max_msg_timeout: opts.maxMsgTimeout,
      msg_timeout: client.msgTimeout,
      tls_v1: tlsv1,
      deflate,
      deflate_level: deflateLevel,
      max_deflate_level: opts.maxDeflateLevel,
      snappy,
      sample_rate: client.sampleRate,
      auth_required: this.nsqd.authEnabled,
      output_buffer_size: client.outputBufferSize,
      output_buffer_timeout: client.outputBufferTimeout,
    });
    client.sendResponse(reply);
    if (tlsv1 || snappy || deflate) {
      logUpgrades(this.nsqd.logger, client.remoteAddress, tlsv1, snappy, deflate, deflateLevel);
      client.flush();
      // bytes after the IDENTIFY body belong to the upgraded stream (e.g. a TLS ClientHello)
      const leftover = end < buf.length ? Buffer.from(buf.subarray(end)) : null;
      this.suspend(
        this.nsqd.upgradeTransport(this, { tls: tlsv1, snappy, deflate, deflateLevel }, leftover),
        () => {},
        (err) => new ProtocolError("E_IDENTIFY_FAILED", `IDENTIFY failed ${errorText(err)}`),
      );
      return buf.length;
    }
    return end;
  }

  private auth(buf: Buffer, start: number, lineEnd: number, next: number): number {
    const client = this.client;
    if (client.state !== ClientState.Init) throw new ProtocolError("E_INVALID", "cannot AUTH in current state");
    const params = this.params(buf, start, lineEnd);
    if (params.length !== 1) throw new ProtocolError("E_INVALID", "AUTH invalid number of parameters");
    if (buf.length < next + 4) return this.needMore(next + 4 - start);
    const size = readInt32(buf, next);
    const maxBody = this.nsqd.options.maxBodySize;
    if (size <= 0) throw new ProtocolError("E_BAD_BODY", `AUTH invalid body size ${size}`);
    if (size > maxBody) throw new ProtocolError("E_BAD_BODY", `AUTH body too big ${size} > ${maxBody}`);
    const end = next + 4 + size;
    if (buf.length < end) return this.needMore(end - start);
    if (client.authed) throw new ProtocolError("E_INVALID", "AUTH already set");
    if (!this.nsqd.authEnabled) throw new ProtocolError("E_AUTH_DISABLED", "AUTH disabled");
    this.suspend(
      this.nsqd.authenticate(client, utf8(buf, next + 4, end)),
      (reply) => {
        client.authed = true;
        client.sendResponse(reply);
      },
      () => new ProtocolError("E_AUTH_FAILED", "AUTH failed"),
    );
    return end;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

