// One cache of decoded bloom shards, trace-ID index pages and decompressed `trace` pages for every block a
// process reads, bounded by bytes (a querier holds thousands of blocks: a budget per block would grow with
// the blocklist). Keys carry tenant and block, and a block's objects never change once written, so readers
// of different blocks share the budget and never collide, and readers of the same block in two places (an
// ingester's complete block and its flushed copy in the backend, in one process) share its entries.
// Concurrent misses of one key share one load. `trace` pages (megabytes each) have a budget of their own so
// that they never push out the blooms that rule blocks out without I/O. Hits and misses are counted per
// kind for the querier's metrics.

import type { BloomShard } from './bloom';
import { ByteLru } from './lru';
import type { IndexPage } from './trace-index';

/** A decompressed `trace` column page: its values' bodies and where each one starts and ends. */
export class TracePage {
  constructor(
    readonly body: Buffer,
    readonly starts: Uint32Array,
    readonly ends: Uint32Array,
  ) {}

  get byteSize(): number {
    return this.body.length + this.starts.byteLength + this.ends.byteLength;
  }
}

/** A decompressed dictionary page of a search column (kept with `trace` pages: search reads them per query). */
export class DictionaryPage {
  constructor(
    readonly body: Buffer,
    readonly entries: number,
  ) {}

  get byteSize(): number {
    return this.body.length;
  }
}

/**
 * A search column chunk decoded (kept with `trace` pages): each row's value ID (-1 null) into `values` (the
 * dictionary's entries, views into its page, then PLAIN values).
 */
export class ColumnChunkValues {
  constructor(
    readonly ids: Int32Array,
    readonly values: (Buffer | number | bigint | null)[],
    /** For the trace_id chunk: its rows grouped into traces, derived once with the chunk. */
    readonly traces?: RowGroupTraces,
  ) {}

  get byteSize(): number {
    const t = this.traces;
    const traces = t ? t.first.byteLength + (t.ordinal === this.ids ? 0 : t.ordinal.byteLength) + t.ids.length * 8 : 0;
    return this.ids.byteLength + this.values.length * 16 + traces;
  }
}

/** A row group's rows grouped into traces (rows are sorted by trace ID, so a trace's rows are consecutive). */
export interface RowGroupTraces {
  /** Row → the ordinal of its trace in the row group. */
  readonly ordinal: Int32Array;
  /** The traces' IDs in order. */
  readonly ids: readonly Buffer[];
  /** First row of each trace. */
  readonly first: Int32Array;
}

export type BlockCacheKind = 'bloom' | 'index' | 'page';
export type BlockCacheValue = BloomShard | IndexPage | TracePage | DictionaryPage | ColumnChunkValues;

export const BLOCK_CACHE_KINDS: readonly BlockCacheKind[] = ['bloom', 'index', 'page'];

/**
 * Budgets of the one cache a process shares between its querier and ingester: the defaults of
 * storage.trace.block_cache (max_size_bytes, trace_pages_max_size_bytes), counted in the single binary's
 * memory budgets (docs/limits.md).
 */
export const BLOCK_CACHE_DEFAULTS = Object.freeze({
  /** Bloom shards and index pages: enough for ~5,000 blocks' hot shards. */
  bytes: 64 * 1024 * 1024,
  /** Decompressed `trace` pages (2 MiB each by default) and search columns: those read most recently. */
  pageBytes: 32 * 1024 * 1024,
});

/** Bookkeeping per entry beyond the object's bytes (key string, map slot, wrapper), so many tiny entries still count. */
export const ENTRY_OVERHEAD_BYTES = 128;

export class BlockCache {
  /** Bloom shards and index pages. */
  readonly lru: ByteLru<BlockCacheValue>;
  /** Decompressed `trace` pages and search columns' dictionary pages (budget 0: none kept, concurrent reads of one page still share one load). */
  readonly pages: ByteLru<BlockCacheValue>;
  readonly hits: Record<BlockCacheKind, number> = { bloom: 0, index: 0, page: 0 };
  readonly misses: Record<BlockCacheKind, number> = { bloom: 0, index: 0, page: 0 };
  private readonly inflight = new Map<string, Promise<BlockCacheValue>>();

  /** Budgets in bytes: bloom shards and index pages, and `trace` pages. */
  constructor(budget: number, pageBudget = 0) {
    this.lru = new ByteLru(budget);
    this.pages = new ByteLru(pageBudget);
  }

  get maxBytes(): number {
    return this.lru.maxBytes + this.pages.maxBytes;
  }

  get bytes(): number {
    return this.lru.bytes + this.pages.bytes;
  }

  get entries(): number {
    return this.lru.size + this.pages.size;
  }

  get evictions(): number {
    return this.lru.evictions + this.pages.evictions;
  }

  private lruOf(kind: BlockCacheKind): ByteLru<BlockCacheValue> {
    return kind === 'page' ? this.pages : this.lru;
  }

  /** The cached value, without loading; a hit is counted, an absence is not (the caller's `get` counts the miss). */
  peek(key: string, kind: BlockCacheKind): BlockCacheValue | undefined {
    const v = this.lruOf(kind).peek(key);
    if (v) this.hits[kind]++;
    return v;
  }

  /** The cached value, or `load()`'s, cached; concurrent misses of one key share one load. */
  async get(key: string, kind: BlockCacheKind, load: () => Promise<BlockCacheValue>): Promise<BlockCacheValue> {
    const lru = this.lruOf(kind);
    const hit = lru.peek(key);
    if (hit) {
      this.hits[kind]++;
      return hit;
    }
    this.misses[kind]++;
    let p = this.inflight.get(key);
    if (!p) {
      p = load().then(
        (v) => {
          this.inflight.delete(key);
          lru.set(key, v, v.byteSize + ENTRY_OVERHEAD_BYTES);
          return v;
        },
        (err: unknown) => {
          this.inflight.delete(key);
          throw err;
        },
      );
      this.inflight.set(key, p);
    }
    return p;
  }

  delete(key: string): void {
    this.lru.delete(key);
    this.pages.delete(key);
  }
}
