import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ObjectStore } from '@stave/backend';
import { LocalStore } from '@stave/backend';
import { COMPACTED_META_NAME, listBlocks, openBlock, readTenantIndex, scanTenant, type BlockMeta } from '@stave/block';
import { errors, nopLogger } from '@stave/core';
import { Registry } from 'prom-client';
import { Compactor, type CompactorConfig, type CompactorOptions } from './compactor';
import { spanID, spanKeys, traceID, writeTestBlock } from './testing';

const HOUR = 3_600_000;
let dir: string;
let store: LocalStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-compactor-'));
  store = new LocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const CONFIG: CompactorConfig = {
  blockRetentionMs: 336 * HOUR,
  compactedBlockRetentionMs: HOUR,
  compactionWindowMs: HOUR,
  compactionCycleMs: 30_000,
  maxCompactionObjects: 6_000_000,
  maxBlockBytes: 100 * 1024 * 1024 * 1024,
  maxTimePerTenantMs: 5 * 60_000,
  retentionConcurrency: 4,
  tenantIndexBuilders: 2,
};

function compactor(over: Omit<Partial<CompactorOptions>, 'config'> & { config?: Partial<CompactorConfig> } = {}): Compactor {
  const { config, ...rest } = over;
  return new Compactor({ store, owns: () => true, logger: nopLogger, registry: new Registry(), ...rest, config: { ...CONFIG, ...config } });
}

/** Every span key in the tenant's live blocks, duplicates kept (a span twice is a failure). */
async function liveSpans(s: ObjectStore, tenant: string): Promise<string[]> {
  const out: string[] = [];
  for (const m of await listBlocks(s, tenant)) for await (const { trace } of openBlock(s, m).iterateTraces()) out.push(...spanKeys(trace));
  return out.sort();
}

/**
 * Blocks the way ingesters write them with RF 3 and several flushes: the spans of each trace are spread
 * over `parts` flushes at random (a span may be in several), and every part is written `replicas` times.
 * Returns the expected set of span keys.
 */
async function overlappingBlocks(tenant: string, o: { traces: number; spans: number; parts: number; replicas: number; seed: number; startMs: number }) {
  // A linear congruential generator: seeded, the same on every machine.
  let state = o.seed >>> 0;
  const rand = () => (state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32;
  const expected = new Set<string>();
  const metas: BlockMeta[] = [];
  for (let p = 0; p < o.parts; p++) {
    const content = new Map<number, number[]>();
    for (let t = 0; t < o.traces; t++) {
      const spans: number[] = [];
      for (let s = 0; s < o.spans; s++) if (rand() < 0.4 || s % o.parts === p) spans.push(s);
      content.set(t, spans);
    }
    for (let r = 0; r < o.replicas; r++) metas.push(await writeTestBlock(store, tenant, content, o.startMs + p * 1000));
    for (const [t, spans] of content)
      for (const s of spans) expected.add(`${Buffer.from(traceID(t)).toString('hex')}/${Buffer.from(spanID(t, s)).toString('hex')}`);
  }
  return { expected: [...expected].sort(), metas };
}

async function metricValue(r: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await r.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val));
  return v?.value ?? 0;
}

describe('compaction', () => {
  it('merges overlapping blocks (one trace split across blocks, each written 3 times) into one block with every span exactly once', async () => {
    const now = Date.now();
    const { expected, metas } = await overlappingBlocks('t1', { traces: 40, spans: 8, parts: 4, replicas: 3, seed: 7, startMs: now - 60_000 });
    expect(metas).toHaveLength(12);
    const registry = new Registry();
    const c = compactor({ registry, config: { maxInputBlocks: 12 } });
    const result = await c.compactJob('t1', { blocks: metas, hash: 'job' });

    expect(result.output.compactionLevel).toBe(1);
    expect(result.output.totalObjects).toBe(40);
    expect(result.output.totalSpans).toBe(expected.length);
    expect(result.stats.combined).toBe(40);
    expect(await liveSpans(store, 't1')).toEqual(expected);
    // The inputs are marked (meta.json gone, marker there), the output alone is live.
    expect((await listBlocks(store, 't1')).map((m) => m.blockID)).toEqual([result.output.blockID]);
    for (const m of metas) expect((await readdir(path.join(dir, 't1', m.blockID))).sort()).toContain(COMPACTED_META_NAME);
    const scan = await scanTenant(store, 't1');
    expect(scan.compacted.map((m) => m.blockID).sort()).toEqual(metas.map((m) => m.blockID).sort());
    // By ID too: the output's bloom and index find every trace.
    const reader = openBlock(store, result.output);
    for (let t = 0; t < 40; t++) expect(await reader.findTraceByID(traceID(t))).toBeDefined();

    expect(await metricValue(registry, 'tempodb_compaction_blocks_total', { level: '1' })).toBe(12);
    expect(await metricValue(registry, 'tempodb_compaction_objects_written_total', { level: '1' })).toBe(40);
    expect(await metricValue(registry, 'tempodb_compaction_objects_combined_total', { level: '1' })).toBe(40);
    expect(await metricValue(registry, 'tempodb_compaction_bytes_written_total', { level: '1' })).toBe(result.output.size);
    const spansIn = metas.reduce((n, m) => n + m.totalSpans, 0);
    expect(await metricValue(registry, 'tempodb_compaction_spans_combined_total', { replication_factor: '0' })).toBe(spansIn - expected.length);
  });

  it('compacts 24 small blocks level by level in cycles down to one, writing the tenant index', async () => {
    const now = Date.now();
    const { expected } = await overlappingBlocks('t1', { traces: 20, spans: 6, parts: 8, replicas: 3, seed: 11, startMs: now - 120_000 });
    const c = compactor();
    const report = await c.runCycle();
    // 24 → 6 (level 1) → 2 (level 2) → 1 (level 3), four inputs at most per job.
    expect(report.jobs).toBe(6 + 2 + 1);
    const live = await listBlocks(store, 't1');
    expect(live).toHaveLength(1);
    expect(live[0]!.compactionLevel).toBe(3);
    expect(await liveSpans(store, 't1')).toEqual(expected);

    const index = await readTenantIndex(store, 't1');
    expect(index?.meta.map((m) => m.blockID)).toEqual([live[0]!.blockID]);
    expect(index?.compacted).toHaveLength(24 + 6 + 2);
  });

  it('leaves every job to its one owner: two compactors splitting the key space never compact the same blocks', async () => {
    const now = Date.now();
    // Two windows, so there are two job keys.
    for (const startMs of [now - 3 * HOUR, now - 60_000]) {
      for (let p = 0; p < 4; p++) await writeTestBlock(store, 't1', new Map([[p, [0, 1]]]), startMs + p * 1000);
    }
    const keys = new Set<string>();
    const owner = (k: string) => [...k].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7) % 2;
    const regs = [new Registry(), new Registry()];
    const cs = [0, 1].map((i) => compactor({ registry: regs[i]!, owns: (k) => (keys.add(k), owner(k) === i) }));
    await Promise.all(cs.map((c) => c.runCycle()));
    const blocks = await Promise.all(regs.map((r) => metricValue(r, 'tempodb_compaction_blocks_total', { level: '1' })));
    // 8 inputs compacted once in all, whoever owned which window.
    expect(blocks[0]! + blocks[1]!).toBe(8);
    expect(await listBlocks(store, 't1')).toHaveLength(2);
    const jobKeys = [...keys].filter((k) => k.startsWith('t1-'));
    expect(jobKeys.length).toBeGreaterThanOrEqual(2);
  });

  it('abandons a job it no longer owns and leaves the inputs live', async () => {
    const now = Date.now();
    const metas = [];
    for (let p = 0; p < 3; p++) metas.push(await writeTestBlock(store, 't1', new Map([[p, [0]]]), now - 60_000 + p));
    let clock = now;
    const c = compactor({ owns: () => false, now: () => (clock += 2000) });
    await expect(c.compactJob('t1', { blocks: metas, hash: 'k' })).rejects.toThrow(/owned by another compactor/);
    expect((await listBlocks(store, 't1')).map((m) => m.blockID).sort()).toEqual(metas.map((m) => m.blockID).sort());
  });
});

/** A store that "crashes": from the first write matching `at`, every write and delete fails. */
class CrashingStore implements ObjectStore {
  crashed = false;
  constructor(
    private readonly inner: ObjectStore,
    private readonly at: (key: string) => boolean,
  ) {}
  read(key: string) {
    return this.inner.read(key);
  }
  readRange(key: string, offset: number, length: number) {
    return this.inner.readRange(key, offset, length);
  }
  stat(key: string) {
    return this.inner.stat(key);
  }
  list(prefix: string, opts?: { delimiter?: string }) {
    return this.inner.list(prefix, opts);
  }
  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>) {
    if (this.crashed || this.at(key)) {
      this.crashed = true;
      throw errors.unavailable(`crashed before writing ${key}`);
    }
    return this.inner.write(key, data);
  }
  async delete(key: string) {
    if (this.crashed) throw errors.unavailable(`crashed before deleting ${key}`);
    return this.inner.delete(key);
  }
}

describe('crash safety', () => {
  it('a crash between the output data and its meta.json leaves no visible block; the orphan goes after compacted_block_retention', async () => {
    const now = Date.now();
    const { expected, metas } = await overlappingBlocks('t1', { traces: 10, spans: 4, parts: 2, replicas: 2, seed: 3, startMs: now - 60_000 });
    const inputs = new Set(metas.map((m) => m.blockID));
    const crashing = new CrashingStore(store, (k) => k.endsWith('/meta.json') && !inputs.has(k.split('/')[1]!));
    await expect(compactor({ store: crashing }).compactJob('t1', { blocks: metas, hash: 'k' })).rejects.toThrow(/crashed/);

    // The output's data is on disk, but without meta.json nobody sees it; the inputs are untouched.
    const scan = await scanTenant(store, 't1');
    expect(scan.noMeta).toHaveLength(1);
    expect((await listBlocks(store, 't1')).map((m) => m.blockID).sort()).toEqual([...inputs].sort());
    expect(new Set(await liveSpans(store, 't1'))).toEqual(new Set(expected));

    // A restarted compactor compacts the inputs and, once the folder has been without meta for
    // compacted_block_retention, deletes it.
    let clock = now;
    const c = compactor({ now: () => clock });
    await c.runCycle();
    expect(await liveSpans(store, 't1')).toEqual(expected);
    expect((await scanTenant(store, 't1')).noMeta).toHaveLength(1);
    clock += HOUR + 1;
    const report = await c.runCycle();
    expect(report.orphansDeleted).toBe(1);
    expect((await scanTenant(store, 't1')).noMeta).toHaveLength(0);
    expect(await liveSpans(store, 't1')).toEqual(expected);
  });

  it('a crash after the output meta.json and before the inputs are marked loses nothing, and later cycles leave each span once', async () => {
    const now = Date.now();
    const { expected, metas } = await overlappingBlocks('t1', { traces: 10, spans: 4, parts: 2, replicas: 2, seed: 5, startMs: now - 60_000 });
    const crashing = new CrashingStore(store, (k) => k.endsWith(`/${COMPACTED_META_NAME}`));
    await expect(compactor({ store: crashing }).compactJob('t1', { blocks: metas, hash: 'k' })).rejects.toThrow(/crashed/);
    // Output and inputs both visible: spans appear twice, none lost.
    expect(new Set(await liveSpans(store, 't1'))).toEqual(new Set(expected));

    const output = (await listBlocks(store, 't1')).find((m) => m.compactionLevel === 1)!;
    expect(output.compactedFrom?.sort()).toEqual(metas.map((m) => m.blockID).sort());

    // The next cycle finishes the job (marks the inputs its output names) instead of compacting the
    // inputs again into a second copy at level 1.
    const registry = new Registry();
    await compactor({ registry }).runCycle();
    expect((await listBlocks(store, 't1')).map((m) => m.blockID)).toEqual([output.blockID]);
    expect((await scanTenant(store, 't1')).compacted.map((m) => m.blockID).sort()).toEqual(metas.map((m) => m.blockID).sort());
    expect(await metricValue(registry, 'tempodb_compaction_blocks_total')).toBe(0);
    expect(await liveSpans(store, 't1')).toEqual(expected);
  });

  it('finishes a mark that a crash interrupted (marker written, meta.json not yet deleted)', async () => {
    const now = Date.now();
    const metas = [await writeTestBlock(store, 't1', new Map([[1, [0]]]), now - 60_000)];
    const marker = { ...metas[0]!, compactedTime: new Date(now).toISOString() };
    await store.write(`t1/${metas[0]!.blockID}/${COMPACTED_META_NAME}`, Buffer.from(JSON.stringify(marker)));
    expect(await listBlocks(store, 't1')).toHaveLength(1);
    expect((await scanTenant(store, 't1')).halfMarked).toHaveLength(1);
    await compactor({ now: () => now }).runCycle();
    expect(await listBlocks(store, 't1')).toHaveLength(0);
    expect((await scanTenant(store, 't1')).compacted).toHaveLength(1);
  });
});

describe('retention', () => {
  it('marks blocks past block_retention (per-tenant override first), then deletes them after compacted_block_retention', async () => {
    const now = Date.now();
    // One block per tenant ending 10 h ago and one ending 1 h ago: with 5 h retention only the first goes;
    // tenant b's override (20 h) keeps both.
    const old: Record<string, BlockMeta> = {};
    const recent: Record<string, BlockMeta> = {};
    for (const t of ['a', 'b']) {
      old[t] = await writeTestBlock(store, t, new Map([[1, [0, 1]]]), now - 10 * HOUR);
      recent[t] = await writeTestBlock(store, t, new Map([[2, [0, 1]]]), now - HOUR);
    }
    let clock = now;
    const registry = new Registry();
    const c = compactor({
      registry,
      now: () => clock,
      config: { blockRetentionMs: 5 * HOUR },
      blockRetentionFor: (t) => (t === 'b' ? 20 * HOUR : 0),
    });
    const first = await c.runCycle();
    expect(first.markedForRetention).toBe(1);
    expect((await listBlocks(store, 'a')).map((m) => m.blockID)).toEqual([recent.a!.blockID]);
    expect((await listBlocks(store, 'b')).map((m) => m.blockID).sort()).toEqual([old.b!.blockID, recent.b!.blockID].sort());
    // Still readable until compacted_block_retention passes.
    expect((await scanTenant(store, 'a')).compacted.map((m) => m.blockID)).toEqual([old.a!.blockID]);
    expect((await readTenantIndex(store, 'a'))?.compacted.map((m) => m.blockID)).toEqual([old.a!.blockID]);

    clock += HOUR + 1;
    const second = await c.runCycle();
    expect(second.deleted).toBe(1);
    // Every object of the block is gone (the local store may keep the empty folder; listings skip it).
    expect((await store.list(`a/${old.a!.blockID}/`)).objects).toEqual([]);
    expect((await store.list('a/', { delimiter: '/' })).prefixes).toEqual([`a/${recent.a!.blockID}/`]);
    expect(await metricValue(registry, 'tempodb_retention_marked_for_deletion_total')).toBe(1);
    expect(await metricValue(registry, 'tempodb_retention_deleted_total')).toBe(1);
    expect((await readTenantIndex(store, 'a'))?.compacted).toEqual([]);
  });
});
