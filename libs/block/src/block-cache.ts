// One cache of decoded bloom shards and trace-ID index pages for every block a process reads, bounded by
// bytes (a querier holds thousands of blocks: a budget per block would grow with the blocklist). Keys
// carry tenant and block, so readers of different blocks share the budget and never collide. Concurrent
// misses of one key share one load. Hits and misses are counted per kind for the querier's metrics.

import type { BloomShard } from './bloom';
import { ByteLru } from './lru';
import type { IndexPage } from './trace-index';

export type BlockCacheKind = 'bloom' | 'index';
export type BlockCacheValue = BloomShard | IndexPage;

export const BLOCK_CACHE_KINDS: readonly BlockCacheKind[] = ['bloom', 'index'];

/** Bookkeeping per entry beyond the object's bytes (key string, map slot, wrapper), so many tiny entries still count. */
export const ENTRY_OVERHEAD_BYTES = 128;

export class BlockCache {
  readonly lru: ByteLru<BlockCacheValue>;
  readonly hits: Record<BlockCacheKind, number> = { bloom: 0, index: 0 };
  readonly misses: Record<BlockCacheKind, number> = { bloom: 0, index: 0 };
  private readonly inflight = new Map<string, Promise<BlockCacheValue>>();

  /** A budget in bytes, or an existing LRU to wrap (its budget, shared with whoever else holds it). */
  constructor(budget: number | ByteLru<BlockCacheValue>) {
    this.lru = typeof budget === 'number' ? new ByteLru(budget) : budget;
  }

  get maxBytes(): number {
    return this.lru.maxBytes;
  }

  get bytes(): number {
    return this.lru.bytes;
  }

  get entries(): number {
    return this.lru.size;
  }

  get evictions(): number {
    return this.lru.evictions;
  }

  /** The cached value, without loading; a hit is counted, an absence is not (the caller's `get` counts the miss). */
  peek(key: string, kind: BlockCacheKind): BlockCacheValue | undefined {
    const v = this.lru.peek(key);
    if (v) this.hits[kind]++;
    return v;
  }

  /** The cached value, or `load()`'s, cached; concurrent misses of one key share one load. */
  async get(key: string, kind: BlockCacheKind, load: () => Promise<BlockCacheValue>): Promise<BlockCacheValue> {
    const hit = this.lru.peek(key);
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
          this.lru.set(key, v, v.byteSize + ENTRY_OVERHEAD_BYTES);
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
  }
}
