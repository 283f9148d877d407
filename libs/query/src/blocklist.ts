// The blocklist: which complete blocks each tenant has in the backend. Polled every `blocklist_poll`
// (and once before the querier reports ready), from the tenant index when there is one, else by listing.
//
// A by-ID lookup must not cost more with every block the tenant has. So each poll prepares, per tenant,
// the blocks sorted by block-ID key with their time ranges parsed once, and every reader shares one
// byte-bounded cache of bloom shards and index pages. A block-range job then finds its blocks by binary
// search and rules out, synchronously, each block whose ID range or cached bloom excludes the trace;
// only the rest are read.

import type { ObjectStore } from '@stave/backend';
import {
  BLOCK_CACHE_DEFAULTS,
  BLOCK_CACHE_KINDS,
  BlockCache,
  hexID,
  listBlocks,
  openBlock,
  readTenantIndex,
  type BlockMeta,
  type BlockReader,
} from '@stave/block';
import { BasicService, Code, ConnectError, type Logger } from '@stave/server';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface BlocklistOptions {
  /** The process's block cache (shared with its ingester, if any); else a private one with BLOCK_CACHE_DEFAULTS' budgets. */
  cache?: BlockCache;
  /** Bloom/index budget of the private cache (BLOCK_CACHE_DEFAULTS.bytes). */
  cacheBytes?: number;
  /** Where the cache's metrics go (`stave_querier_block_cache_*`); none when absent. */
  registry?: Registry;
  /** `blocklist_poll_fallback`: list the tenant's blocks when its index is missing, unreadable or stale (default true). */
  fallback?: boolean;
  /** `blocklist_poll_stale_tenant_index`: an index older than this is stale; 0 never (default 0). */
  staleTenantIndexMs?: number;
  now?: () => number;
}

/** A by-ID lookup's block selection, as a block-range job carries it. */
export interface BlockRange {
  /** Block IDs (UUIDs) bounding the range, inclusive; open when empty. */
  blockStart?: string;
  blockEnd?: string;
  /** Unix seconds; 0 = open. A block is skipped when its time range lies wholly outside. */
  startUnixSeconds?: number;
  endUnixSeconds?: number;
}

interface Entry {
  /** Block ID as lowercase hex without dashes (UUIDs compare as their hex). */
  key: string;
  startS: number;
  endS: number;
  reader: BlockReader;
}

interface TenantBlocks {
  metas: BlockMeta[];
  /** Sorted by key. */
  entries: Entry[];
}

/** Block IDs are UUIDs; ranges compare their hex without dashes. */
export function blockKey(id: string): string {
  return id.replace(/-/g, '').toLowerCase();
}

/** First index in `entries` (sorted by key) whose key is ≥ `key`. */
function lowerBound(entries: readonly Entry[], key: string): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class Blocklist extends BasicService {
  private tenants: Map<string, TenantBlocks> | undefined;
  private readonly readers = new Map<string, BlockReader>();
  private timer: NodeJS.Timeout | undefined;
  private lastPoll = 0;
  readonly cache: BlockCache;
  private readonly fallback: boolean;
  private readonly staleTenantIndexMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: ObjectStore,
    private readonly pollMs: number,
    private readonly logger: Logger,
    opts: BlocklistOptions = {},
  ) {
    super('blocklist');
    this.cache = opts.cache ?? new BlockCache(opts.cacheBytes ?? BLOCK_CACHE_DEFAULTS.bytes, BLOCK_CACHE_DEFAULTS.pageBytes);
    this.fallback = opts.fallback ?? true;
    this.staleTenantIndexMs = opts.staleTenantIndexMs ?? 0;
    this.now = opts.now ?? Date.now;
    if (opts.registry) this.registerMetrics(opts.registry);
  }

  protected override async starting(): Promise<void> {
    // A backend that is down at start must not stop the querier: recent traces are still answered from
    // the ingesters, and block queries answer 503 until a poll succeeds.
    await this.poll().catch((err: unknown) => this.logger.warn('blocklist poll failed; retrying', { err: String(err) }));
    // Poll every blocklist_poll; until the first poll succeeds, retry every few seconds.
    this.timer = setInterval(
      () => {
        if (this.tenants && Date.now() - this.lastPoll < this.pollMs) return;
        this.poll().catch((err: unknown) => this.logger.warn('blocklist poll failed', { err: String(err) }));
      },
      Math.min(this.pollMs, 5000),
    );
    this.timer.unref();
  }

  protected override async stopping(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * A tenant's blocks: from its tenant index while that is fresh, else (with `fallback`) by listing, so a
   * compactor that stopped writing indexes never hides newer blocks. Without fallback the poll fails and
   * the last blocklist stays in use.
   */
  private async tenantBlocks(tenant: string): Promise<BlockMeta[]> {
    let why: string;
    try {
      const idx = await readTenantIndex(this.store, tenant);
      if (!idx) why = 'no tenant index';
      else {
        const ageMs = this.now() - Date.parse(idx.createdAt);
        if (this.staleTenantIndexMs <= 0 || ageMs <= this.staleTenantIndexMs) return idx.meta;
        why = `tenant index written ${Math.round(ageMs / 1000)}s ago is older than blocklist_poll_stale_tenant_index (${this.staleTenantIndexMs / 1000}s)`;
      }
    } catch (err) {
      why = `tenant index unreadable: ${String(err)}`;
    }
    if (!this.fallback) throw new ConnectError(`blocklist of tenant ${tenant}: ${why}, and blocklist_poll_fallback is false`, Code.Unavailable);
    if (why !== 'no tenant index') this.logger.warn('listing blocks instead of the tenant index', { tenant, reason: why });
    return listBlocks(this.store, tenant);
  }

  async poll(): Promise<void> {
    this.lastPoll = Date.now();
    const { prefixes } = await this.store.list('', { delimiter: '/' });
    const next = new Map<string, TenantBlocks>();
    const live = new Set<string>();
    for (const p of prefixes) {
      const tenant = p.slice(0, -1);
      const metas = await this.tenantBlocks(tenant);
      const entries = metas.map((m) => {
        live.add(`${m.tenantID}/${m.blockID}`);
        return { key: blockKey(m.blockID), startS: Date.parse(m.startTime) / 1000, endS: Date.parse(m.endTime) / 1000, reader: this.reader(m) };
      });
      entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      next.set(tenant, { metas, entries });
    }
    this.tenants = next;
    for (const [k, r] of this.readers) {
      if (live.has(k)) continue;
      this.readers.delete(k);
      r.evict();
    }
  }

  /** The tenant's blocks as last polled. Unavailable before the first successful poll: never a wrong empty. */
  blocks(tenant: string): readonly BlockMeta[] {
    return this.tenant(tenant)?.metas ?? [];
  }

  /**
   * What a by-ID lookup of `id` must read among the tenant's blocks in `range`: `inRange` counts the
   * blocks the range selects; `readers` are those whose ID range and cached bloom do not rule the trace
   * out (a block whose bloom is not cached yet is read: its bloom is loaded then). Costs a binary search
   * plus a hash per block in range; no I/O. Unavailable before the first successful poll.
   */
  candidates(tenant: string, id: Uint8Array, range: BlockRange = {}): { inRange: number; readers: BlockReader[] } {
    if (id.length !== 16) throw new ConnectError(`trace ID must be 16 bytes, got ${id.length}`, Code.InvalidArgument);
    const entries = this.tenant(tenant)?.entries ?? [];
    const lo = range.blockStart ? lowerBound(entries, blockKey(range.blockStart)) : 0;
    const hiKey = range.blockEnd ? blockKey(range.blockEnd) : undefined;
    const startS = range.startUnixSeconds ?? 0;
    const endS = range.endUnixSeconds ?? 0;
    const hex = hexID(id);
    const readers: BlockReader[] = [];
    let inRange = 0;
    for (let i = lo; i < entries.length; i++) {
      const e = entries[i]!;
      if (hiKey !== undefined && e.key > hiKey) break;
      if (startS > 0 && e.endS < startS) continue;
      if (endS > 0 && e.startS > endS) continue;
      inRange++;
      if (!e.reader.excludes(id, hex)) readers.push(e.reader);
    }
    return { inRange, readers };
  }

  reader(meta: BlockMeta): BlockReader {
    const k = `${meta.tenantID}/${meta.blockID}`;
    let r = this.readers.get(k);
    if (!r) this.readers.set(k, (r = openBlock(this.store, meta, { cache: this.cache })));
    return r;
  }

  private tenant(tenant: string): TenantBlocks | undefined {
    if (!this.tenants) throw new ConnectError('the blocklist has not been loaded from the backend yet', Code.Unavailable);
    return this.tenants.get(tenant);
  }

  private registerMetrics(registry: Registry): void {
    const cache = this.cache;
    const registers = [registry];
    const perKind = (name: string, help: string, of: Record<string, number>): void =>
      void new Counter({
        name,
        help,
        labelNames: ['kind'],
        registers,
        collect() {
          this.reset();
          for (const kind of BLOCK_CACHE_KINDS) this.inc({ kind }, of[kind]!);
        },
      });
    perKind('stave_querier_block_cache_hits_total', 'Bloom shard, index page and trace page lookups answered by the shared block cache.', cache.hits);
    perKind('stave_querier_block_cache_misses_total', 'Bloom shard, index page and trace page lookups that read the backend.', cache.misses);
    new Counter({
      name: 'stave_querier_block_cache_evictions_total',
      help: 'Entries dropped from the shared block cache to stay within its byte budget.',
      registers,
      collect() {
        this.reset();
        this.inc(cache.evictions);
      },
    });
    const gauge = (name: string, help: string, value: () => number): void =>
      void new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value());
        },
      });
    gauge(
      'stave_querier_block_cache_bytes',
      'Bytes held by the shared block cache (decoded bloom shards and index pages, decompressed trace pages).',
      () => cache.bytes,
    );
    gauge('stave_querier_block_cache_max_bytes', 'Byte budget of the shared block cache.', () => cache.maxBytes);
    gauge('stave_querier_block_cache_entries', 'Entries in the shared block cache.', () => cache.entries);
    const tenants = (): Map<string, TenantBlocks> => this.tenants ?? new Map<string, TenantBlocks>();
    new Gauge({
      name: 'tempodb_blocklist_length',
      help: 'Blocks in the blocklist as last polled, per tenant.',
      labelNames: ['tenant'],
      registers,
      collect() {
        this.reset();
        for (const [tenant, t] of tenants()) this.set({ tenant }, t.entries.length);
      },
    });
  }
}
