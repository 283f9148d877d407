import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalStore } from '@stave/backend';
import { BLOCK_CACHE_DEFAULTS, writeBlock, writeTenantIndex, type BlockMeta } from '@stave/block';
import { absentTraceIDs, CountingStore, realisticTraces } from '@stave/block/testing';
import { Code, codeOf, nopLogger } from '@stave/server';
import { Registry } from 'prom-client';
import { Blocklist, blockKey } from './blocklist';
import { blockRanges } from './frontend';

let dir: string;
let store: LocalStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-blocklist-'));
  store = new LocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Written {
  metas: BlockMeta[];
  ids: Uint8Array[][];
}

/** `n` blocks of `tracesEach` traces for tenant `t`, each block's spans a day after the previous block's. */
async function writeBlocks(n: number, tracesEach: number): Promise<Written> {
  const out: Written = { metas: [], ids: [] };
  for (let b = 0; b < n; b++) {
    const traces = realisticTraces(tracesEach, { seed: 500 + b, startMs: Date.UTC(2026, 0, 1 + b) });
    out.metas.push(await writeBlock(store, { tenant: 't', traces }));
    out.ids.push(traces.map((t) => t.id));
  }
  return out;
}

/** Looks `id` up as the query-frontend's block jobs would: every range, each block read where not excluded. */
async function lookUp(bl: Blocklist, id: Uint8Array, shards = 49): Promise<{ found: number; inRange: number; read: number }> {
  let found = 0;
  let inRange = 0;
  let read = 0;
  for (const [blockStart, blockEnd] of blockRanges(shards)) {
    const c = bl.candidates('t', id, { blockStart, blockEnd });
    inRange += c.inRange;
    read += c.readers.length;
    for (const r of c.readers) if (await r.findTraceByID(id)) found++;
  }
  return { found, inRange, read };
}

describe('Blocklist', () => {
  it('answers Unavailable before the first poll: never a wrong empty', () => {
    const bl = new Blocklist(store, 60_000, nopLogger);
    const codeOfCall = (f: () => unknown): Code | undefined => {
      try {
        f();
      } catch (err) {
        return codeOf(err);
      }
      return undefined;
    };
    expect(codeOfCall(() => bl.blocks('t'))).toBe(Code.Unavailable);
    expect(codeOfCall(() => bl.candidates('t', new Uint8Array(16)))).toBe(Code.Unavailable);
  });

  it('rejects a trace ID that is not 16 bytes rather than answering empty', async () => {
    await writeBlocks(1, 5);
    const bl = new Blocklist(store, 60_000, nopLogger);
    await bl.poll();
    expect(() => bl.candidates('t', new Uint8Array(8))).toThrow('trace ID must be 16 bytes, got 8');
  });

  it('block ranges partition the blocks: each block is in exactly one range job', async () => {
    const w = await writeBlocks(12, 5);
    const bl = new Blocklist(store, 60_000, nopLogger);
    await bl.poll();
    const id = w.ids[0]![0]!;
    for (const shards of [1, 3, 49]) expect((await lookUp(bl, id, shards)).inRange).toBe(12);
    // A range holding one block's key selects exactly it.
    const m = w.metas[4]!;
    const c = bl.candidates('t', id, { blockStart: m.blockID, blockEnd: m.blockID });
    expect(c.inRange).toBe(1);
    expect(blockKey(m.blockID)).toBe(m.blockID.replace(/-/g, ''));
  });

  it('skips blocks whose time range lies outside the lookup’s start/end', async () => {
    const w = await writeBlocks(6, 5);
    const bl = new Blocklist(store, 60_000, nopLogger);
    await bl.poll();
    const id = w.ids[2]![0]!;
    const s = (m: BlockMeta, f: 'startTime' | 'endTime') => Math.floor(Date.parse(m[f]) / 1000);
    const only = bl.candidates('t', id, { startUnixSeconds: s(w.metas[2]!, 'startTime'), endUnixSeconds: s(w.metas[2]!, 'endTime') + 1 });
    expect(only.inRange).toBe(1);
    expect(only.readers.map((r) => r.meta.blockID)).toEqual([w.metas[2]!.blockID]);
    expect(await only.readers[0]!.findTraceByID(id)).toBeDefined();
    expect(bl.candidates('t', id, { startUnixSeconds: s(w.metas[5]!, 'endTime') + 3600 }).inRange).toBe(0);
    expect(bl.candidates('t', id).inRange).toBe(6);
  });

  it('once blooms are cached, a lookup reads only the block that holds the trace, and an absent ID reads nothing', async () => {
    const w = await writeBlocks(40, 25);
    const counting = new CountingStore(store);
    const bl = new Blocklist(counting, 60_000, nopLogger);
    await bl.poll();
    // Warm every block's bloom shards (the first lookups of each block load them).
    for (const ids of w.ids) for (const id of ids) expect((await lookUp(bl, id)).found).toBe(1);
    counting.reset();

    let extraBlocks = 0;
    for (const ids of w.ids) {
      const id = ids[3]!;
      counting.reset();
      const r = await lookUp(bl, id);
      expect(r.found).toBe(1);
      expect(r.inRange).toBe(40);
      extraBlocks += r.read - 1;
      // Bloom, index page and (from the warm-up) the trace page cached: no block costs a read.
      expect(counting.readLog.map((x) => x.key)).toEqual([]);
    }
    // Bloom false positives (then ruled out by the cached index page) stay near the 1% the blooms are sized for.
    expect(extraBlocks).toBeLessThanOrEqual(0.03 * 40 * 39);

    counting.reset();
    for (const id of absentTraceIDs(200, w.ids.flat(), 3)) expect((await lookUp(bl, id)).found).toBe(0);
    // Absent IDs may hit a bloom false positive whose index page is not cached yet: a handful of reads at most.
    expect(counting.reads).toBeLessThanOrEqual(10);
    expect(counting.readLog.every((x) => x.key.endsWith('/index'))).toBe(true);
  });

  it('keeps the shared cache within its byte budget and still finds every trace', async () => {
    const w = await writeBlocks(10, 40);
    const bl = new Blocklist(store, 60_000, nopLogger, { cacheBytes: 4096 });
    await bl.poll();
    for (let round = 0; round < 2; round++) {
      for (const ids of w.ids) {
        for (const id of ids.slice(0, 10)) {
          expect((await lookUp(bl, id, 7)).found).toBe(1);
          expect(bl.cache.lru.bytes).toBeLessThanOrEqual(4096);
          expect(bl.cache.pages.bytes).toBeLessThanOrEqual(BLOCK_CACHE_DEFAULTS.pageBytes);
        }
      }
    }
    expect(bl.cache.evictions).toBeGreaterThan(0);
  });

  it('drops a removed block’s reader and cache entries on the next poll', async () => {
    const w = await writeBlocks(3, 10);
    const bl = new Blocklist(store, 60_000, nopLogger);
    await bl.poll();
    for (const ids of w.ids) await lookUp(bl, ids[0]!);
    const gone = w.metas[1]!;
    const { objects } = await store.list(`t/${gone.blockID}/`);
    for (const k of objects) await store.delete(k);
    await bl.poll();
    expect(bl.blocks('t').map((m) => m.blockID)).not.toContain(gone.blockID);
    expect([...bl.cache.lru.keys()].some((k) => k.includes(gone.blockID))).toBe(false);
    expect((await lookUp(bl, w.ids[2]![0]!)).found).toBe(1);
  });

  it('exports cache and blocklist metrics', async () => {
    const w = await writeBlocks(2, 10);
    const registry = new Registry();
    const bl = new Blocklist(store, 60_000, nopLogger, { registry, cacheBytes: 1 << 20 });
    await bl.poll();
    await lookUp(bl, w.ids[0]![0]!);
    await lookUp(bl, w.ids[0]![0]!);
    const text = await registry.metrics();
    expect(text).toMatch(/^stave_querier_block_cache_misses_total\{kind="bloom"\} [1-9]/m);
    expect(text).toMatch(/^stave_querier_block_cache_hits_total\{kind="bloom"\} [1-9]/m);
    expect(text).toMatch(/^stave_querier_block_cache_hits_total\{kind="index"\} [1-9]/m);
    expect(text).toMatch(/^stave_querier_block_cache_bytes [1-9]/m);
    expect(text).toMatch(new RegExp(`^stave_querier_block_cache_max_bytes ${(1 << 20) + BLOCK_CACHE_DEFAULTS.pageBytes}$`, 'm'));
    expect(text).toMatch(/^stave_querier_block_cache_hits_total\{kind="page"\} [1-9]/m);
    expect(text).toMatch(/^tempodb_blocklist_length\{tenant="t"\} 2$/m);
  });

  describe('tenant index', () => {
    const T0 = Date.UTC(2026, 5, 1);
    const ids = (bl: Blocklist) =>
      bl
        .blocks('t')
        .map((m) => m.blockID)
        .sort();

    it('reads a fresh index and lists the blocks once it is older than blocklist_poll_stale_tenant_index', async () => {
      const w = await writeBlocks(3, 2);
      // The index knows the first two blocks only: a block flushed after the last index write.
      await writeTenantIndex(store, 't', w.metas.slice(0, 2), [], () => new Date(T0));
      let now = T0 + 60_000;
      const bl = new Blocklist(store, 60_000, nopLogger, { staleTenantIndexMs: 10 * 60_000, now: () => now });
      await bl.poll();
      expect(ids(bl)).toEqual(
        w.metas
          .slice(0, 2)
          .map((m) => m.blockID)
          .sort(),
      );
      now = T0 + 11 * 60_000;
      await bl.poll();
      expect(ids(bl)).toEqual(w.metas.map((m) => m.blockID).sort());
    });

    it('never calls an index stale when the limit is 0 (Tempo default)', async () => {
      const w = await writeBlocks(2, 2);
      await writeTenantIndex(store, 't', w.metas.slice(0, 1), [], () => new Date(T0));
      const bl = new Blocklist(store, 60_000, nopLogger, { staleTenantIndexMs: 0, now: () => T0 + 365 * 86_400_000 });
      await bl.poll();
      expect(ids(bl)).toEqual([w.metas[0]!.blockID]);
    });

    it('without fallback, a stale or missing index fails the poll (Unavailable) instead of answering from a guess', async () => {
      await writeBlocks(1, 2);
      const bl = new Blocklist(store, 60_000, nopLogger, { fallback: false });
      await expect(bl.poll()).rejects.toThrow('blocklist of tenant t: no tenant index, and blocklist_poll_fallback is false');
      expect(() => bl.blocks('t')).toThrow('has not been loaded');
    });
  });
});
