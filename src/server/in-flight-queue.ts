/**
 * In-flight bookkeeping of one channel.
 *
 * - `InFlightIndex`: ID → Message, keyed by a number made from the ID's last 13 hex digits
 *   (no string per message) in an open-addressing table over typed arrays; the rare IDs that
 *   share those digits go to a string-keyed side map.
 * - `InFlightList`: the messages one client holds, as an intrusive doubly linked list in deadline
 *   order. A client's msg_timeout is fixed, so a new delivery (or a TOUCH) always has the latest
 *   deadline and is appended in O(1); FIN/REQ unlink in O(1); the timeout scan only looks at heads.
 *   This replaces nsqd's per-channel heap without any timer per message.
 */
import { idKey } from "../protocol/hex.ts";
import { Message, MSG_ID_OFFSET } from "./message.ts";

export class InFlightIndex {
  /**
   * Open addressing with linear probing over typed arrays: a JS Map keyed by these 52-bit
   * numbers cost more than the rest of a FIN (a quarter of the server's CPU per delivered
   * message); this costs a hash, a compare and an array store. A key appears at most once here;
   * further messages with the same key wait in `collisions`.
   */
  private keys = new Float64Array(1024).fill(EMPTY);
  private msgs: (Message | undefined)[] = new Array<Message | undefined>(1024);
  private mask = 1023;
  private count = 0;
  /** slots marked DELETED; they keep probe chains intact until the next rehash */
  private deleted = 0;
  private collisions: Map<string, Message> | null = null;

  get size(): number {
    return this.count + (this.collisions?.size ?? 0);
  }

  add(msg: Message): void {
    const key = msg.key;
    if (Number.isNaN(key) || this.slotOf(key) >= 0) {
      (this.collisions ??= new Map()).set(idString(msg.buf, MSG_ID_OFFSET), msg);
      return;
    }
    if ((this.count + this.deleted + 1) * 2 > this.keys.length) this.rehash();
    const keys = this.keys;
    let i = hashSlot(key, this.mask);
    while (keys[i]! >= 0) i = (i + 1) & this.mask;
    if (keys[i] === DELETED) this.deleted--;
    keys[i] = key;
    this.msgs[i] = msg;
    this.count++;
  }

  /** Finds the in-flight message whose 16-byte ID is at `id[offset..offset+16)`. */
  find(id: Uint8Array, offset: number): Message | undefined {
    const key = idKey(id, offset);
    if (!Number.isNaN(key)) {
      const slot = this.slotOf(key);
      if (slot >= 0) {
        // equal keys mean equal last 13 bytes (lowercase digits only, see idKey): compare the rest
        const msg = this.msgs[slot]!;
        const b = msg.buf;
        if (b[MSG_ID_OFFSET] === id[offset] && b[MSG_ID_OFFSET + 1] === id[offset + 1] && b[MSG_ID_OFFSET + 2] === id[offset + 2]) return msg;
      }
    }
    if (this.collisions === null) return undefined;
    return this.collisions.get(idString(id, offset));
  }

  remove(msg: Message): void {
    const slot = Number.isNaN(msg.key) ? -1 : this.slotOf(msg.key);
    if (slot >= 0 && this.msgs[slot] === msg) {
      this.keys[slot] = DELETED;
      this.msgs[slot] = undefined;
      this.count--;
      this.deleted++;
      // promote a colliding message so that lookups by number keep working
      if (this.collisions !== null) {
        for (const [k, other] of this.collisions) {
          if (other.key === msg.key) {
            this.collisions.delete(k);
            this.add(other);
            break;
          }
        }
      }
      return;
    }
    this.collisions?.delete(idString(msg.buf, MSG_ID_OFFSET));
  }

  values(): IterableIterator<Message> {
    const all: Message[] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i]! >= 0) all.push(this.msgs[i]!);
    if (this.collisions !== null) all.push(...this.collisions.values());
    return all[Symbol.iterator]();
  }

  clear(): void {
    this.keys = new Float64Array(1024).fill(EMPTY);
    this.msgs = new Array<Message | undefined>(1024);
    this.mask = 1023;
    this.count = 0;
    this.deleted = 0;
    this.collisions = null;
  }

  /** The slot holding `key`, or -1. */
  private slotOf(key: number): number {
    const keys = this.keys;
    const mask = this.mask;
    let i = hashSlot(key, mask);
    for (;;) {
      const k = keys[i]!;
      if (k === key) return i;
      if (k === EMPTY) return -1;
      i = (i + 1) & mask;
    }
  }

  /** Rebuilds the table without tombstones, twice as large when it is more than a quarter full. */
  private rehash(): void {
    const oldKeys = this.keys;
    const oldMsgs = this.msgs;
    const capacity = this.count * 4 > oldKeys.length ? oldKeys.length * 2 : oldKeys.length;
    this.keys = new Float64Array(capacity).fill(EMPTY);
    this.msgs = new Array<Message | undefined>(capacity);
    this.mask = capacity - 1;
    this.deleted = 0;
    const keys = this.keys;
    for (let j = 0; j < oldKeys.length; j++) {
      const key = oldKeys[j]!;
      if (key < 0) continue;
      let i = hashSlot(key, this.mask);
      while (keys[i] !== EMPTY) i = (i + 1) & this.mask;
      keys[i] = key;
      this.msgs[i] = oldMsgs[j];
    }
  }
}

/** slot markers in InFlightIndex.keys (real keys are ≥ 0) */
const EMPTY = -1;
const DELETED = -2;

/** Mixes both halves of a 52-bit key into a slot index. */
function hashSlot(key: number, mask: number): number {
  // no `%` on doubles (an fmod call): the high part by division, the low part by subtraction
  const hi = (key / 4294967296) | 0;
  const lo = (key - hi * 4294967296) | 0;
  let h = Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1);
  h ^= h >>> 15;
  return h & mask;
}

function idString(buf: Uint8Array, offset: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + offset, 16).toString("latin1");
}

export class InFlightList {
  head: Message | null = null;
  tail: Message | null = null;
  size = 0;

  /** Adds in deadline order; O(1) in the usual case of the latest deadline. */
  insert(msg: Message): void {
    let after = this.tail;
    while (after !== null && after.deadline > msg.deadline) after = after.prev;
    msg.prev = after;
    msg.next = after === null ? this.head : after.next;
    if (msg.next !== null) msg.next.prev = msg;
    else this.tail = msg;
    if (after !== null) after.next = msg;
    else this.head = msg;
    this.size++;
  }

  unlink(msg: Message): void {
    if (msg.prev !== null) msg.prev.next = msg.next;
    else this.head = msg.next;
    if (msg.next !== null) msg.next.prev = msg.prev;
    else this.tail = msg.prev;
    msg.prev = null;
    msg.next = null;
    this.size--;
  }
}
