// The service-graph edge store: half-seen requests between two services, waiting for their other side.
// An edge is keyed by trace ID and the client span's ID (the server span finds it through its parent span
// ID). It completes when both sides are known, and expires `wait` after it was first stored. At most
// `maxItems` edges wait at a time: a span that would add one more is dropped (counted by the caller).
//
// Keys are the ID bytes themselves (no hex strings): a span's key is written into a scratch buffer,
// hashed, and found in a Map from a small-integer hash to the edges with that hash (chained, compared
// byte for byte). Waiting edges are also linked in insertion order, so the oldest is first and expiry
// stops at the first live edge. Edge objects are reused once completed, expired or dropped: a steady
// load allocates none.

import { hashBytes } from '@stave/core';

export const LATENCY_CLIENT = 0;
export const LATENCY_SERVER = 1;
export const LATENCY_MESSAGING = 2;

export type ConnectionType = '' | 'messaging_system' | 'database' | 'virtual_node';

export class Edge {
  /** [4-byte trace ID length][trace ID][span ID]. */
  key = new Uint8Array(64);
  keyLength = 0;
  hash = 0;
  connectionType: ConnectionType = '';
  clientService = '';
  serverService = '';
  /** Seconds: the client's and the server's latency, and the messaging system's (LATENCY_*; an array, see RegistryHistogram.observeWithTraceId). */
  readonly latency = new Float64Array(3);
  /** Client span end and server span start, Unix ns as 32-bit halves (the messaging-system latency). */
  clientEndHi = 0;
  clientEndLo = 0;
  serverStartHi = 0;
  serverStartLo = 0;
  /** Either side had status ERROR. */
  failed = false;
  /** Dimension values (only when dimensions or the virtual node label are configured). */
  dimensions: Map<string, string> | undefined;
  /** A peer attribute of the client span (peer.service, db.name, ...): the server when none shows up. */
  peerNode = '';
  spanMultiplier = 1;
  /** ms since the epoch. */
  expiresAt = 0;
  // Links: the next edge of the same hash, and the waiting list in insertion order.
  nextSameHash: Edge | undefined;
  prev: Edge | undefined;
  next: Edge | undefined;

  /** The trace ID's bytes in `key`. */
  get traceIdStart(): number {
    return 4;
  }
  get traceIdEnd(): number {
    return 4 + (this.key[0]! | (this.key[1]! << 8) | (this.key[2]! << 16) | (this.key[3]! << 24));
  }
  /** The span ID part of the key is empty: for a server side, a root span. */
  get spanIdEmpty(): boolean {
    return this.keyLength === this.traceIdEnd;
  }
}

export type UpsertResult = 'completed' | 'stored' | 'updated' | 'dropped';

/**
 * Edge objects kept for reuse at most (and never more than max_items): an expiry sweep frees thousands at
 * once, and the pushes that follow store as many new ones; kept, they are not garbage for the next scavenge.
 */
const MAX_FREE = 64 * 1024;

export class EdgeStore {
  private readonly byHash = new Map<number, Edge>();
  private count = 0;
  private head: Edge | undefined;
  private tail: Edge | undefined;
  private readonly free: Edge[] = [];
  private readonly maxFree: number;
  /** The clock as of the last tick() (once per push: a clock read per edge cost an allocation per edge). */
  private clockMs = 0;
  private key = new Uint8Array(64);
  private keyLength = 0;
  private hash = 0;

  constructor(
    private readonly waitMs: number,
    private readonly maxItems: number,
    private readonly now: () => number = Date.now,
  ) {
    this.maxFree = Math.min(MAX_FREE, maxItems);
  }

  get size(): number {
    return this.count;
  }

  /** Reads the clock for the edges created until the next tick (new edges expire `wait` from it). */
  tick(): void {
    this.clockMs = this.now();
  }

  /** Sets the key of the next find/create: trace ID buf[tS, tE) and span ID buf[sS, sE). */
  setKey(buf: Uint8Array, tS: number, tE: number, sS: number, sE: number): void {
    const tl = tE - tS;
    const n = 4 + tl + (sE - sS);
    if (n > this.key.length) this.key = new Uint8Array(n);
    const k = this.key;
    k[0] = tl;
    k[1] = tl >>> 8;
    k[2] = tl >>> 16;
    k[3] = tl >>> 24;
    let p = 4;
    for (let i = tS; i < tE; i++) k[p++] = buf[i]!;
    for (let i = sS; i < sE; i++) k[p++] = buf[i]!;
    this.keyLength = n;
    // A small integer: a Map key V8 stores without allocating.
    this.hash = hashBytes(k, 0, n) & 0x3fffffff;
  }

  /** The waiting edge of the key set last, or undefined. */
  find(): Edge | undefined {
    for (let e = this.byHash.get(this.hash); e; e = e.nextSameHash) if (this.sameKey(e)) return e;
    return undefined;
  }

  private sameKey(e: Edge): boolean {
    if (e.keyLength !== this.keyLength) return false;
    const a = e.key;
    const k = this.key;
    for (let i = 0; i < this.keyLength; i++) if (a[i] !== k[i]) return false;
    return true;
  }

  /** A new edge (not stored yet) for the key set last, expiring `wait` from now. */
  create(): Edge {
    const e = this.free.pop() ?? new Edge();
    if (e.key.length < this.keyLength) e.key = new Uint8Array(this.keyLength);
    // A loop, not set(subarray()): the key is short, and a subarray is an object per span.
    const k = this.key;
    const ek = e.key;
    for (let i = 0; i < this.keyLength; i++) ek[i] = k[i]!;
    e.keyLength = this.keyLength;
    e.hash = this.hash;
    e.connectionType = '';
    e.clientService = '';
    e.serverService = '';
    // Stores, not fill(): a call into the runtime per edge.
    e.latency[LATENCY_CLIENT] = e.latency[LATENCY_SERVER] = e.latency[LATENCY_MESSAGING] = 0;
    e.clientEndHi = e.clientEndLo = e.serverStartHi = e.serverStartLo = 0;
    e.failed = false;
    e.dimensions?.clear();
    e.peerNode = '';
    e.spanMultiplier = 1;
    e.expiresAt = this.clockMs + this.waitMs;
    e.nextSameHash = e.prev = e.next = undefined;
    return e;
  }

  /** Whether one more edge may wait (max_items). */
  get full(): boolean {
    return this.count >= this.maxItems;
  }

  /** Stores a new edge to wait for its other side. */
  insert(e: Edge): void {
    e.nextSameHash = this.byHash.get(e.hash);
    this.byHash.set(e.hash, e);
    e.prev = this.tail;
    e.next = undefined;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
    this.count++;
  }

  /** Removes a stored edge. */
  remove(e: Edge): void {
    const first = this.byHash.get(e.hash);
    if (first === e) {
      if (e.nextSameHash) this.byHash.set(e.hash, e.nextSameHash);
      else this.byHash.delete(e.hash);
    } else {
      let p = first;
      while (p && p.nextSameHash !== e) p = p.nextSameHash;
      if (p) p.nextSameHash = e.nextSameHash;
    }
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.nextSameHash = e.prev = e.next = undefined;
    this.count--;
  }

  /** Hands an edge no longer stored back for reuse (the caller keeps no reference to it). */
  release(e: Edge): void {
    if (this.free.length < this.maxFree) this.free.push(e);
  }

  /** Removes every expired edge and passes it to `onExpire`, then reuses it. */
  expire(onExpire: (e: Edge) => void): void {
    const now = this.now();
    while (this.head && now >= this.head.expiresAt) {
      const e = this.head;
      this.remove(e);
      onExpire(e);
      this.release(e);
    }
  }
}

export function isComplete(e: Edge): boolean {
  return e.clientService !== '' && e.serverService !== '';
}
