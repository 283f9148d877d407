// An in-process LRU, bounded by bytes, in front of a store: for the small objects every lookup touches
// again (meta.json, bloom shards, trace-ID index pages, Parquet footers). Block objects are written once
// under a fresh block ID and never changed, so an entry cannot go stale through a rewrite; writes and
// deletes made through this store drop the key's entries anyway. A block deleted by another process
// may still answer from here until evicted; its data reads then fail NotFound, as they would without
// the cache a moment earlier.
//
// What is cached, by role (storage.trace.object_cache.roles):
//   meta            `<...>/meta.json`, whole reads
//   bloom           `<...>/bloom-<n>`, whole and ranged reads
//   trace-id-index  `<...>/index`, whole and ranged reads (index pages)
//   parquet-footer  ranged reads of `*.parquet` that end in the footer magic `PAR1`
// and only entries up to max_object_size_bytes. The tenant index (index.json.gz) is rewritten in
// place and is never cached.

import type { BackendMetrics } from './metrics';
import type { ListResult, ObjectInfo, ObjectStore } from './object-store';

export const CACHE_ROLES = ['meta', 'bloom', 'trace-id-index', 'parquet-footer'] as const;
export type CacheRole = (typeof CACHE_ROLES)[number];

export interface ObjectCacheOptions {
  readonly maxBytes: number;
  readonly maxObjectBytes: number;
  readonly roles: readonly CacheRole[];
  readonly metrics: BackendMetrics;
}

const PARQUET_MAGIC = Buffer.from('PAR1');
/** Bookkeeping per entry beyond its bytes (key, map slot), so a flood of tiny entries still counts. */
const ENTRY_OVERHEAD = 96;

export function roleOf(key: string): CacheRole | undefined {
  const base = key.slice(key.lastIndexOf('/') + 1);
  if (base === 'meta.json') return 'meta';
  if (/^bloom-\d+$/.test(base)) return 'bloom';
  if (base === 'index') return 'trace-id-index';
  if (base.endsWith('.parquet')) return 'parquet-footer';
  return undefined;
}

interface Entry {
  readonly object: string;
  readonly data: Uint8Array;
  readonly cost: number;
}

export class CachingStore implements ObjectStore {
  private readonly entries = new Map<string, Entry>();
  /** cache keys per object key, so a write or delete drops whole and ranged entries together. */
  private readonly byObject = new Map<string, Set<string>>();
  /** In-flight misses, shared by concurrent readers; `stale` is set when the object changes meanwhile. */
  private readonly inflight = new Map<string, { promise: Promise<Uint8Array>; object: string; stale: boolean }>();
  private readonly roles: ReadonlySet<CacheRole>;
  private used = 0;

  constructor(
    readonly inner: ObjectStore,
    private readonly opts: ObjectCacheOptions,
  ) {
    this.roles = new Set(opts.roles);
  }

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  async read(key: string): Promise<Uint8Array> {
    const role = this.enabledRole(key);
    if (role === undefined || role === 'parquet-footer') return this.inner.read(key);
    const hit = this.lookup(key);
    if (hit) {
      this.opts.metrics.cacheHits.inc({ role });
      return hit;
    }
    this.opts.metrics.cacheMisses.inc({ role });
    return this.fill(
      key,
      key,
      () => this.inner.read(key),
      () => true,
    );
  }

  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const role = this.enabledRole(key);
    if (role === undefined) return this.inner.readRange(key, offset, length);
    const whole = this.entries.get(key);
    if (whole && offset >= 0 && length >= 0 && offset + length <= whole.data.length) {
      this.touch(key, whole);
      this.opts.metrics.cacheHits.inc({ role });
      return copy(whole.data.subarray(offset, offset + length));
    }
    const ck = `${key}\u0000${offset}\u0000${length}`;
    const hit = this.lookup(ck);
    if (hit) {
      this.opts.metrics.cacheHits.inc({ role });
      return hit;
    }
    if (role === 'parquet-footer') {
      // Only a footer is worth keeping, and only once it is seen to be one: count misses of footers only.
      return this.fill(
        ck,
        key,
        () => this.inner.readRange(key, offset, length),
        (b) => {
          const isFooter = b.length >= 8 && PARQUET_MAGIC.equals(b.subarray(b.length - 4));
          if (isFooter) this.opts.metrics.cacheMisses.inc({ role });
          return isFooter;
        },
      );
    }
    this.opts.metrics.cacheMisses.inc({ role });
    return this.fill(
      ck,
      key,
      () => this.inner.readRange(key, offset, length),
      () => true,
    );
  }

  async stat(key: string): Promise<ObjectInfo> {
    const whole = this.entries.get(key);
    if (whole) return { size: whole.data.length };
    return this.inner.stat(key);
  }

  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    this.invalidate(key);
    try {
      await this.inner.write(key, data);
    } finally {
      this.invalidate(key);
    }
  }

  list(prefix: string, opts?: { delimiter?: string }): Promise<ListResult> {
    return this.inner.list(prefix, opts);
  }

  async delete(key: string): Promise<void> {
    this.invalidate(key);
    try {
      await this.inner.delete(key);
    } finally {
      this.invalidate(key);
    }
  }

  /** Drops every entry (tests, and `close`). */
  clear(): void {
    for (const ck of [...this.entries.keys()]) this.remove(ck);
  }

  private enabledRole(key: string): CacheRole | undefined {
    const role = roleOf(key);
    return role !== undefined && this.roles.has(role) ? role : undefined;
  }

  private lookup(ck: string): Uint8Array | undefined {
    const e = this.entries.get(ck);
    if (!e) return undefined;
    this.touch(ck, e);
    return copy(e.data);
  }

  /** Map order is insertion order: re-inserting makes the entry the most recently used. */
  private touch(ck: string, e: Entry): void {
    this.entries.delete(ck);
    this.entries.set(ck, e);
  }

  private async fill(ck: string, object: string, load: () => Promise<Uint8Array>, keep: (b: Uint8Array) => boolean): Promise<Uint8Array> {
    let f = this.inflight.get(ck);
    if (!f) {
      const rec = { promise: load(), object, stale: false };
      f = rec;
      this.inflight.set(ck, rec);
      rec.promise
        .then(
          (b) => {
            if (!rec.stale && keep(b)) this.insert(ck, object, b);
          },
          () => undefined,
        )
        .finally(() => {
          if (this.inflight.get(ck) === rec) this.inflight.delete(ck);
        });
    }
    // Each caller gets its own copy: a caller that writes into its buffer must not change the cache.
    return copy(await f.promise);
  }

  private insert(ck: string, object: string, data: Uint8Array): void {
    if (data.length > this.opts.maxObjectBytes) return;
    const cost = data.length + ck.length * 2 + ENTRY_OVERHEAD;
    if (cost > this.opts.maxBytes) return;
    this.remove(ck);
    const e: Entry = { object, data: copy(data), cost };
    this.entries.set(ck, e);
    let set = this.byObject.get(object);
    if (!set) this.byObject.set(object, (set = new Set()));
    set.add(ck);
    this.used += cost;
    while (this.used > this.opts.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.remove(oldest.value);
      this.opts.metrics.cacheEvictions.inc();
    }
    this.report();
  }

  private remove(ck: string): void {
    const e = this.entries.get(ck);
    if (!e) return;
    this.entries.delete(ck);
    this.used -= e.cost;
    const set = this.byObject.get(e.object);
    set?.delete(ck);
    if (set?.size === 0) this.byObject.delete(e.object);
    this.report();
  }

  private invalidate(object: string): void {
    for (const ck of [...(this.byObject.get(object) ?? [])]) this.remove(ck);
    for (const f of this.inflight.values()) if (f.object === object) f.stale = true;
  }

  private report(): void {
    this.opts.metrics.cacheBytes.set(this.used);
    this.opts.metrics.cacheObjects.set(this.entries.size);
  }
}

function copy(b: Uint8Array): Uint8Array {
  return Buffer.from(b);
}
