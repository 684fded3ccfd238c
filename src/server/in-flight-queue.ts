/**
 * In-flight bookkeeping of one channel.
 *
 * - `InFlightIndex`: ID → Message, keyed by a number made from the ID's last 13 hex digits
 *   (no string per message); the rare IDs that share those digits go to a string-keyed side map.
 * - `InFlightList`: the messages one client holds, as an intrusive doubly linked list in deadline
 *   order. A client's msg_timeout is fixed, so a new delivery (or a TOUCH) always has the latest
 *   deadline and is appended in O(1); FIN/REQ unlink in O(1); the timeout scan only looks at heads.
 *   This replaces nsqd's per-channel heap without any timer per message.
 */
import { bytesEqual, idKey } from "../protocol/hex.ts";
import { Message, MSG_ID_OFFSET } from "./message.ts";

export class InFlightIndex {
  private readonly byKey = new Map<number, Message>();
  private collisions: Map<string, Message> | null = null;

  get size(): number {
    return this.byKey.size + (this.collisions?.size ?? 0);
  }

  add(msg: Message): void {
    const existing = this.byKey.get(msg.key);
    if (existing === undefined) {
      this.byKey.set(msg.key, msg);
      return;
    }
    (this.collisions ??= new Map()).set(idString(msg.buf, MSG_ID_OFFSET), msg);
  }

  /** Finds the in-flight message whose 16-byte ID is at `id[offset..offset+16)`. */
  find(id: Uint8Array, offset: number): Message | undefined {
    const key = idKey(id, offset);
    if (Number.isNaN(key)) return undefined;
    const msg = this.byKey.get(key);
    if (msg !== undefined && bytesEqual(msg.buf, MSG_ID_OFFSET, id, offset, 16)) return msg;
    if (this.collisions === null) return undefined;
    return this.collisions.get(idString(id, offset));
  }

  remove(msg: Message): void {
    if (this.byKey.get(msg.key) === msg) {
      this.byKey.delete(msg.key);
      // promote a colliding message so that lookups by number keep working
      if (this.collisions !== null) {
        for (const [k, other] of this.collisions) {
          if (other.key === msg.key) {
            this.collisions.delete(k);
            this.byKey.set(other.key, other);
            break;
          }
        }
      }
      return;
    }
    this.collisions?.delete(idString(msg.buf, MSG_ID_OFFSET));
  }

  values(): IterableIterator<Message> {
    const all = [...this.byKey.values(), ...(this.collisions?.values() ?? [])];
    return all[Symbol.iterator]();
  }

  clear(): void {
    this.byKey.clear();
    this.collisions = null;
  }
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
