// The service-graph edge store: half-seen requests between two services, waiting for their other side.
// An edge is keyed by trace ID and the client span's ID (the server span finds it through its parent span
// ID). It completes when both sides are known, and expires `wait` after it was first stored. At most
// `maxItems` edges wait at a time: a span that would add one more is dropped (counted by the caller).
//
// Keys are the ID bytes themselves (no hex strings): a span's key is written into a scratch buffer,
// hashed, and found in a Map from a small-integer hash to the edges with that hash (chained, compared
// in full). Keys are read, hashed, copied and compared four bytes at a time (the IDs through a DataView,
// the keys zero-padded to whole words): a byte at a time, the key's 28 bytes cost more than the rest of
// an edge's work. Waiting edges are also linked in insertion order, so the oldest is first and expiry
// stops at the first live edge. Edge objects are reused once completed, expired or dropped: a steady
// load allocates none.

import { copyBytes } from '../byte-table';

export const LATENCY_CLIENT = 0;
export const LATENCY_SERVER = 1;
export const LATENCY_MESSAGING = 2;

export type ConnectionType = '' | 'messaging_system' | 'database' | 'virtual_node';

export class Edge {
  /** [4-byte trace ID length][trace ID][span ID], zero-padded to whole words; `keyWords` views the same bytes. */
  key = new Uint8Array(64);
  keyWords = new Int32Array(this.key.buffer);
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
  private keyView = new DataView(this.key.buffer);
  private keyWords = new Int32Array(this.key.buffer);
  private keyLength = 0;
  private hash = 0;
  /** A view of the buffer setKey read last (the span ring's, mostly: the same buffer push after push). */
  private source: Uint8Array | undefined;
  private sourceView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

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
    const words = (n + 3) >>> 2;
    if (words * 4 > this.key.length) {
      this.key = new Uint8Array(words * 4);
      this.keyView = new DataView(this.key.buffer);
      this.keyWords = new Int32Array(this.key.buffer);
    }
    if (buf !== this.source) {
      this.source = buf;
      this.sourceView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const kw = this.keyWords;
    kw[words - 1] = 0; // the padding
    const k = this.keyView;
    k.setUint32(0, tl, true);
    copyBytes(this.sourceView, tS, tE, k, 4);
    copyBytes(this.sourceView, sS, sE, k, 4 + tl);
    this.keyLength = n;
    // FNV-1a over the words; a small integer: a Map key V8 stores without allocating.
    let h = 0x811c9dc5;
    for (let w = 0; w < words; w++) h = Math.imul(h ^ kw[w]!, 0x01000193);
    this.hash = h & 0x3fffffff;
  }

  /** The waiting edge of the key set last, or undefined. */
  find(): Edge | undefined {
    for (let e = this.byHash.get(this.hash); e; e = e.nextSameHash) if (this.sameKey(e)) return e;
    return undefined;
  }

  private sameKey(e: Edge): boolean {
    if (e.keyLength !== this.keyLength) return false;
    const a = e.keyWords;
    const k = this.keyWords;
    const words = (this.keyLength + 3) >>> 2;
    for (let w = 0; w < words; w++) if (a[w] !== k[w]) return false;
    return true;
  }

  /** A new edge (not stored yet) for the key set last, expiring `wait` from now. */
  create(): Edge {
    const e = this.free.pop() ?? new Edge();
    const words = (this.keyLength + 3) >>> 2;
    if (e.key.length < words * 4) {
      e.key = new Uint8Array(words * 4);
      e.keyWords = new Int32Array(e.key.buffer);
    }
    // A loop, not set(subarray()): the key is short, and a subarray is an object per span.
    const k = this.keyWords;
    const ek = e.keyWords;
    for (let w = 0; w < words; w++) ek[w] = k[w]!;
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
