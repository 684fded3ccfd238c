/**
 * A channel's deferred messages (REQ with delay, DPUB) as a binary min-heap on due time.
 * Only the scan loop pops from it; nothing else removes single entries.
 */
import type { Message } from "./message.ts";

export class DeferredQueue {
  private heap: Message[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(msg: Message): void {
    const h = this.heap;
    let i = h.length;
    h.push(msg);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.deadline <= msg.deadline) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = msg;
  }

  /** The earliest message if it is due at `now`, removed from the heap; otherwise null. */
  popDue(now: number): Message | null {
    const h = this.heap;
    if (h.length === 0 || h[0]!.deadline > now) return null;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && h[r]!.deadline < h[l]!.deadline ? r : l;
        if (h[c]!.deadline >= last.deadline) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  /** Removes and returns everything (shutdown, empty). */
  drain(): Message[] {
    const all = this.heap;
    this.heap = [];
    return all;
  }
}
