import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { copyBlockObjects, LocalStore } from '@stave/backend';
import { BlockCache, ENTRY_OVERHEAD_BYTES } from './block-cache';
import { BloomShard, ShardedBloomBuilder } from './bloom';
import type { BlockMeta } from './meta';
import { openBlock } from './reader';
import { absentTraceIDs, realisticTraces } from './testing/realistic-traces';
import { CountingStore } from './testing/stores';
import { writeBlock } from './writer';

let dir: string;
let store: LocalStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-block-cache-'));
  store = new LocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const shard = (bits: number): BloomShard => BloomShard.decode(new ShardedBloomBuilder({ shards: 1, bits, k: 3 }).shards()[0]!);

describe('BlockCache', () => {
  it('stays within its byte budget, evicting least recently used entries and counting them', async () => {
    const one = shard(8 * 1024).byteSize + ENTRY_OVERHEAD_BYTES;
    const cache = new BlockCache(10 * one);
    for (let i = 0; i < 100; i++) {
      await cache.get(`t/b${i}/bloom-0`, 'bloom', async () => shard(8 * 1024));
      expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
    }
    expect(cache.entries).toBe(10);
    expect(cache.evictions).toBe(90);
    expect(cache.lru.peek('t/b99/bloom-0')).toBeDefined();
    expect(cache.lru.peek('t/b0/bloom-0')).toBeUndefined();
  });

  it('shares one load between concurrent misses of a key, and counts hits and misses per kind', async () => {
    const cache = new BlockCache(1024 * 1024);
    let loads = 0;
    const load = async (): Promise<BloomShard> => {
      loads++;
      await new Promise((r) => setImmediate(r));
      return shard(512);
    };
    const [a, b] = await Promise.all([cache.get('k', 'bloom', load), cache.get('k', 'bloom', load)]);
    expect(loads).toBe(1);
    expect(a).toBe(b);
    expect(await cache.get('k', 'bloom', load)).toBe(a);
    expect(cache.peek('k', 'bloom')).toBe(a);
    expect(cache.peek('absent', 'index')).toBeUndefined();
    expect(cache.misses).toEqual({ bloom: 2, index: 0, page: 0 });
    expect(cache.hits).toEqual({ bloom: 2, index: 0, page: 0 });
  });

  it('does not cache a failed load, so the next lookup reads again', async () => {
    const cache = new BlockCache(1024 * 1024);
    await expect(cache.get('k', 'index', () => Promise.reject(new Error('backend down')))).rejects.toThrow('backend down');
    expect(await cache.get('k', 'bloom', async () => shard(64))).toBeInstanceOf(BloomShard);
  });
});

describe('BlockReader with a shared cache', () => {
  async function blocks(n: number, tracesEach: number): Promise<{ metas: BlockMeta[]; ids: Uint8Array[][] }> {
    const metas: BlockMeta[] = [];
    const ids: Uint8Array[][] = [];
    for (let b = 0; b < n; b++) {
      const traces = realisticTraces(tracesEach, { seed: 100 + b });
      metas.push(await writeBlock(store, { tenant: 't', traces }));
      ids.push(traces.map((t) => t.id));
    }
    return { metas, ids };
  }

  it('rules a block out by ID range with no read and no cache entry', async () => {
    const { metas } = await blocks(1, 50);
    const counting = new CountingStore(store);
    const cache = new BlockCache(1024 * 1024);
    const reader = openBlock(counting, metas[0]!, { cache });
    for (const id of [new Uint8Array(16), new Uint8Array(16).fill(0xff)]) {
      expect(reader.excludes(id)).toBe(true);
      expect(await reader.findTraceByID(id)).toBeUndefined();
    }
    expect(counting.reads).toBe(0);
    expect(cache.entries).toBe(0);
  });

  it('once a bloom shard is cached, rules out absent IDs synchronously with no read, and never a present one', async () => {
    const { metas, ids } = await blocks(6, 40);
    const counting = new CountingStore(store);
    const cache = new BlockCache(1024 * 1024);
    const readers = metas.map((m) => openBlock(counting, m, { cache }));
    const all = ids.flat();
    // Warm: one lookup per bloom shard of every block loads the blooms.
    for (const [i, r] of readers.entries()) for (const id of ids[i]!) await r.findTraceByID(id);
    counting.reset();

    const absent = absentTraceIDs(300, all, 7);
    let excluded = 0;
    for (const id of absent) for (const r of readers) if (r.excludes(id)) excluded++;
    expect(counting.reads).toBe(0);
    // Bloom false positives are allowed (the reader then checks the index), but rare.
    expect(excluded).toBeGreaterThan(0.95 * absent.length * readers.length);
    for (const [i, r] of readers.entries()) for (const id of ids[i]!) expect(r.excludes(id)).toBe(false);

    // A present ID: the block that holds it costs only its data page (bloom and index page are cached);
    // every other block is excluded without I/O.
    const id = ids[3]![7]!;
    const hits = readers.filter((r) => !r.excludes(id));
    expect(hits).toContain(readers[3]);
    counting.reset();
    expect(await readers[3]!.findTraceByID(id)).toBeDefined();
    expect(counting.readLog.map((r) => r.key.split('/').pop())).toEqual(['data.parquet']);
  });

  it('drops a block’s entries from the shared cache on evict, leaving other blocks’ entries', async () => {
    const { metas, ids } = await blocks(2, 30);
    const cache = new BlockCache(1024 * 1024);
    const [a, b] = metas.map((m) => openBlock(store, m, { cache }));
    await a!.findTraceByID(ids[0]![0]!);
    await b!.findTraceByID(ids[1]![0]!);
    const before = cache.entries;
    a!.evict();
    expect(cache.entries).toBeLessThan(before);
    expect([...cache.lru.keys()].every((k) => k.includes(metas[1]!.blockID))).toBe(true);
  });

  it('reads and decompresses a block’s trace page once for two copies of the block (ingester and backend) sharing the cache', async () => {
    const { metas, ids } = await blocks(1, 60);
    const meta = metas[0]!;
    // The flushed copy, as the ingester's flusher makes it: the same objects under the same keys elsewhere.
    const backendDir = await mkdtemp(path.join(os.tmpdir(), 'stave-block-cache-backend-'));
    try {
      const backend = new LocalStore(backendDir);
      await copyBlockObjects(store, backend, 't', meta.blockID);
      const local = new CountingStore(store);
      const remote = new CountingStore(backend);
      const cache = new BlockCache(1024 * 1024, 16 * 1024 * 1024);
      const held = openBlock(local, meta, { cache });
      const flushed = openBlock(remote, meta, { cache });
      const id = ids[0]![5]!;
      const [a, b] = await Promise.all([held.findTraceByID(id), flushed.findTraceByID(id)]);
      expect(a).toEqual(b);
      expect(a?.resourceSpans.length).toBeGreaterThan(0);
      const dataReads = () => [...local.readLog, ...remote.readLog].filter((r) => r.key.endsWith('data.parquet')).length;
      expect(dataReads()).toBe(1);
      expect(cache.misses.page).toBe(2);
      // Another trace of the same page, from either copy: no read at all.
      local.reset();
      remote.reset();
      expect(await flushed.findTraceByID(ids[0]![6]!)).toBeDefined();
      expect(await held.findTraceByID(id)).toEqual(a);
      expect(local.reads + remote.reads).toBe(0);
      expect(cache.hits.page).toBe(2);
      // Forgetting the block drops its pages too.
      expect(cache.pages.size).toBeGreaterThan(0);
      held.evict();
      expect(cache.pages.size).toBe(0);
    } finally {
      await rm(backendDir, { recursive: true, force: true });
    }
  });

  it('keeps decompressed trace pages within their own budget, never at the blooms’ expense', async () => {
    const { metas, ids } = await blocks(8, 40);
    const cache = new BlockCache(1024 * 1024, 1);
    const readers = metas.map((m) => openBlock(store, m, { cache }));
    for (const [i, r] of readers.entries()) expect(await r.findTraceByID(ids[i]![0]!)).toBeDefined();
    // A page is larger than a 1-byte budget: none kept, every bloom and index page still cached.
    expect(cache.pages.size).toBe(0);
    expect(cache.lru.size).toBe(16);
  });
});
