/**
 * nsqlookupd's in-memory registration model (spec §5.1).
 *
 * A registration is (category, key, subkey): ("client","",""), ("topic",t,""), ("channel",t,c).
 * Each maps to the producers (nsqd connections) registered under it, keyed by peer id (the
 * connection's remote "ip:port"). Registrations may exist with zero producers. A Producer object
 * is created per registration, so a tombstone applies to one producer in one topic only; the
 * PeerInfo behind it is shared by all of that connection's registrations.
 */

export type Category = "client" | "topic" | "channel";

export interface Registration {
  category: Category;
  key: string;
  subKey: string;
}

/** What an nsqd told us in IDENTIFY, plus the connection identity. */
export interface PeerInfo {
  /** the connection's remote "ip:port"; unique per connection */
  id: string;
  remoteAddress: string;
  hostname: string;
  broadcastAddress: string;
  tcpPort: number;
  httpPort: number;
  version: string;
  /** ms since epoch of the IDENTIFY or latest PING */
  lastUpdate: number;
}

export class Producer {
  tombstoned = false;
  /** ms since epoch; meaningful only when tombstoned */
  tombstonedAt = 0;

  constructor(readonly peer: PeerInfo) {}

  tombstone(now: number = Date.now()): void {
    this.tombstoned = true;
    this.tombstonedAt = now;
  }

  isTombstoned(lifetimeMs: number, now: number = Date.now()): boolean {
    return this.tombstoned && now - this.tombstonedAt < lifetimeMs;
  }
}

/** Hides producers not heard from within inactiveMs and those tombstoned less than tombstoneMs ago. */
export function filterActive(producers: Producer[], inactiveMs: number, tombstoneMs: number, now = Date.now()): Producer[] {
  return producers.filter((p) => !(now - p.peer.lastUpdate > inactiveMs || p.isTombstoned(tombstoneMs, now)));
}

interface Entry {
  registration: Registration;
  producers: Map<string, Producer>;
}

/** "*" as key or subKey in find* means "any", as in nsqlookupd. */
const WILDCARD = "*";

function entryKey(r: Registration): string {
  // JSON keeps the three parts unambiguous whatever characters an HTTP query put in them.
  return JSON.stringify([r.category, r.key, r.subKey]);
}

function matches(r: Registration, category: Category, key: string, subKey: string): boolean {
  return r.category === category && (key === WILDCARD || r.key === key) && (subKey === WILDCARD || r.subKey === subKey);
}

export class RegistrationDB {
  private readonly entries = new Map<string, Entry>();

  /** Ensures the registration exists (with no producers if new). */
  addRegistration(r: Registration): void {
    this.entryFor(r);
  }

  /** Adds the producer unless one with the same peer id is already there; true when added. */
  addProducer(r: Registration, peer: PeerInfo): boolean {
    const entry = this.entryFor(r);
    if (entry.producers.has(peer.id)) return false;
    entry.producers.set(peer.id, new Producer(peer));
    return true;
  }

  /** Removes a peer from one registration (the registration stays); reports how many remain. */
  removeProducer(r: Registration, id: string): { removed: boolean; left: number } {
    const entry = this.entries.get(entryKey(r));
    if (!entry) return { removed: false, left: 0 };
    const removed = entry.producers.delete(id);
    return { removed, left: entry.producers.size };
  }

  removeRegistration(r: Registration): void {
    this.entries.delete(entryKey(r));
  }

  findRegistrations(category: Category, key: string, subKey: string): Registration[] {
    if (key !== WILDCARD && subKey !== WILDCARD) {
      const entry = this.entries.get(entryKey({ category, key, subKey }));
      return entry ? [entry.registration] : [];
    }
    const out: Registration[] = [];
    for (const entry of this.entries.values()) {
      if (matches(entry.registration, category, key, subKey)) out.push(entry.registration);
    }
    return out;
  }

  /** Producers of all matching registrations, one per peer id. */
  findProducers(category: Category, key: string, subKey: string): Producer[] {
    if (key !== WILDCARD && subKey !== WILDCARD) {
      const entry = this.entries.get(entryKey({ category, key, subKey }));
      return entry ? [...entry.producers.values()] : [];
    }
    const seen = new Set<string>();
    const out: Producer[] = [];
    for (const entry of this.entries.values()) {
      if (!matches(entry.registration, category, key, subKey)) continue;
      for (const p of entry.producers.values()) {
        if (seen.has(p.peer.id)) continue;
        seen.add(p.peer.id);
        out.push(p);
      }
    }
    return out;
  }

  /** The producer object for one peer in one registration (carries that registration's tombstone). */
  producerOf(r: Registration, id: string): Producer | undefined {
    return this.entries.get(entryKey(r))?.producers.get(id);
  }

  /** Every registration the peer belongs to. */
  lookupRegistrations(id: string): Registration[] {
    const out: Registration[] = [];
    for (const entry of this.entries.values()) {
      if (entry.producers.has(id)) out.push(entry.registration);
    }
    return out;
  }

  /** Removes the peer from every registration (on disconnect); returns those it was removed from. */
  removePeer(id: string): Registration[] {
    const removedFrom: Registration[] = [];
    for (const entry of this.entries.values()) {
      if (entry.producers.delete(id)) removedFrom.push(entry.registration);
    }
    return removedFrom;
  }

  /** Snapshot of every registration with its producers, for /debug. */
  all(): { registration: Registration; producers: Producer[] }[] {
    return [...this.entries.values()].map((e) => ({ registration: e.registration, producers: [...e.producers.values()] }));
  }

  private entryFor(r: Registration): Entry {
    const k = entryKey(r);
    let entry = this.entries.get(k);
    if (!entry) {
      entry = { registration: { category: r.category, key: r.key, subKey: r.subKey }, producers: new Map() };
      this.entries.set(k, entry);
    }
    return entry;
  }
}
