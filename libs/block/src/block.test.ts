import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { equals } from '@bufbuild/protobuf';
import { LocalStore } from '@stave/backend';
import { type TracesData, TracesDataSchema } from '@stave/proto';
import { Code, codeOf } from '@stave/core';
import fc from 'fast-check';
import { BlockCache } from './block-cache';
import { type BlockMeta, FORMAT, hexID, parseMeta } from './meta';
import { openBlock } from './reader';
import { listBlocks } from './tenant-index';
import { tracesArb } from './testing/arbitraries';
import { absentTraceIDs, countSpans, realisticTraces } from './testing/realistic-traces';
import { CountingStore, FailingStore } from './testing/stores';
import { writeBlock } from './writer';

let dir: string;
let store: LocalStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-block-'));
  store = new LocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeBlock + BlockReader', () => {
  it('round-trips random OTLP traces exactly through a block, by ID and by iteration (property)', async () => {
    await fc.assert(
      fc.asyncProperty(tracesArb(8), fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 2048 }), async (traces, rowGroup, tracePage) => {
        const sub = await mkdtemp(path.join(dir, 'p-'));
        try {
          const s = new LocalStore(sub);
          const meta = await writeBlock(s, { tenant: 'prop', traces, rowGroupSizeBytes: rowGroup, tracePageSizeBytes: tracePage, indexPageSizeBytes: 40 });
          const reader = openBlock(s, meta);
          for (const t of traces) {
            const got = await reader.findTraceByID(t.id);
            expect(got && equals(TracesDataSchema, got, t.trace)).toBe(true);
          }
          const seen: { id: Uint8Array; trace: TracesData }[] = [];
          for await (const t of reader.iterateTraces()) seen.push(t);
          expect(seen.map((t) => hexID(t.id))).toEqual(traces.map((t) => hexID(t.id)));
          seen.forEach((t, i) => expect(equals(TracesDataSchema, t.trace, traces[i]!.trace)).toBe(true));
          expect(reader.spanCount()).toBe(traces.reduce((a, t) => a + countSpans(t.trace), 0));
        } finally {
          await rm(sub, { recursive: true, force: true });
        }
      }),
      { numRuns: 25 },
    );
  });

  it('writes the same block from stored encodings (iterateEncodedTraces) as from messages (property)', async () => {
    await fc.assert(
      fc.asyncProperty(tracesArb(6), fc.integer({ min: 1, max: 4096 }), async (traces, rowGroup) => {
        const sub = await mkdtemp(path.join(dir, 'e-'));
        try {
          const s = new LocalStore(sub);
          const opts = { tenant: 'enc', rowGroupSizeBytes: rowGroup, now: () => new Date(0) };
          const a = await writeBlock(s, { ...opts, blockID: '00000000-0000-4000-8000-000000000001', traces });
          const copied: { id: Uint8Array; encoded: Uint8Array }[] = [];
          for await (const t of openBlock(s, a).iterateEncodedTraces()) copied.push({ id: t.id, encoded: Uint8Array.from(t.encoded) });
          const b = await writeBlock(s, { ...opts, blockID: '00000000-0000-4000-8000-000000000002', traces: copied });
          const data = async (m: BlockMeta) => Buffer.from(await s.read(`${m.tenantID}/${m.blockID}/data.parquet`));
          // Same pages and rows; only the footer's block ID differs.
          expect({ ...b, blockID: a.blockID, footerSize: 0 }).toEqual({ ...a, footerSize: 0 });
          expect((await data(b)).subarray(0, a.size - a.footerSize - 8)).toEqual((await data(a)).subarray(0, a.size - a.footerSize - 8));
        } finally {
          await rm(sub, { recursive: true, force: true });
        }
      }),
      { numRuns: 20, seed: 11 },
    );
  });

  it('finds every trace and no absent one in a block of many row groups, pages and index pages', async () => {
    const traces = realisticTraces(400, { seed: 11 });
    const meta = await writeBlock(store, {
      tenant: 'single-tenant',
      traces,
      rowGroupSizeBytes: 64 * 1024,
      tracePageSizeBytes: 16 * 1024,
      indexPageSizeBytes: 512,
      bloomShardSizeBytes: 64,
    });
    expect(meta.rowGroups).toBeGreaterThan(3);
    expect(meta.indexPageFirstIDs.length).toBeGreaterThan(3);
    expect(meta.bloomShards).toBeGreaterThan(3);
    expect(meta.totalObjects).toBe(400);
    expect(meta.minID).toBe(hexID(traces[0]!.id));
    expect(meta.maxID).toBe(hexID(traces[399]!.id));

    const reader = openBlock(store, meta);
    for (const t of traces) {
      const got = await reader.findTraceByID(t.id);
      expect(got && equals(TracesDataSchema, got, t.trace)).toBe(true);
    }
    for (const id of absentTraceIDs(
      300,
      traces.map((t) => t.id),
    ))
      expect(await reader.findTraceByID(id)).toBeUndefined();
  });

  it('costs at most three object reads per cold lookup, and none outside [minID, maxID]', async () => {
    const traces = realisticTraces(300, { seed: 12 });
    const meta = await writeBlock(store, { tenant: 't', traces, rowGroupSizeBytes: 128 * 1024, tracePageSizeBytes: 32 * 1024, indexPageSizeBytes: 1024 });
    const counting = new CountingStore(store);
    const cold = async (id: Uint8Array) => {
      counting.reset();
      const got = await openBlock(counting, meta, { cache: new BlockCache(0) }).findTraceByID(id);
      return { got, reads: counting.readLog.map((r) => r.key.split('/').pop()) };
    };
    for (const t of traces) {
      const { got, reads } = await cold(t.id);
      expect(got).toBeDefined();
      expect(reads).toHaveLength(3);
      expect(reads[0]).toMatch(/^bloom-\d+$/);
      expect(reads.slice(1)).toEqual(['index', 'data.parquet']);
    }
    for (const id of absentTraceIDs(
      200,
      traces.map((t) => t.id),
    )) {
      const { got, reads } = await cold(id);
      expect(got).toBeUndefined();
      expect(reads.length).toBeLessThanOrEqual(3);
    }
    const below = new Uint8Array(16);
    const above = new Uint8Array(16).fill(0xff);
    expect((await cold(below)).reads).toEqual([]);
    expect((await cold(above)).reads).toEqual([]);

    // Warm: bloom shard and index page come from the cache, only the data page is read.
    const reader = openBlock(counting, meta);
    await reader.findTraceByID(traces[5]!.id);
    counting.reset();
    await reader.findTraceByID(traces[5]!.id);
    expect(counting.readLog.map((r) => r.key.split('/').pop())).toEqual(['data.parquet']);
  });

  it('writes meta.json last, in Tempo-like shape', async () => {
    const counting = new CountingStore(store);
    const traces = realisticTraces(30, { seed: 13 });
    const meta = await writeBlock(counting, { tenant: 't', traces, compactionLevel: 2, replicationFactor: 3, now: () => new Date('2025-02-03T04:05:06Z') });
    const names = counting.writeLog.map((k) => k.split('/').pop());
    expect(names[0]).toBe('data.parquet');
    expect(names[1]).toBe('index');
    expect(names.at(-1)).toBe('meta.json');
    expect(names.filter((n) => n!.startsWith('bloom-'))).toHaveLength(meta.bloomShards);

    const stored = parseMeta(await store.read(`t/${meta.blockID}/meta.json`));
    expect(stored).toEqual(meta);
    expect(meta).toMatchObject({
      format: FORMAT,
      tenantID: 't',
      totalObjects: 30,
      totalSpans: traces.reduce((a, t) => a + countSpans(t.trace), 0),
      compactionLevel: 2,
      replicationFactor: 3,
      size: (await store.stat(`t/${meta.blockID}/data.parquet`)).size,
      createdAt: '2025-02-03T04:05:06.000Z',
    });
    expect(meta.blockID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    let min = 2n ** 64n;
    let max = 0n;
    for (const t of traces)
      for (const rs of t.trace.resourceSpans)
        for (const ss of rs.scopeSpans)
          for (const s of ss.spans) {
            if (s.startTimeUnixNano < min) min = s.startTimeUnixNano;
            if (s.endTimeUnixNano > max) max = s.endTimeUnixNano;
          }
    const ns = (t: string) => BigInt(Date.parse(t.replace(/\.\d+Z$/, 'Z'))) * 1_000_000n + BigInt((/\.(\d+)Z$/.exec(t)?.[1] ?? '').padEnd(9, '0') || '0');
    expect(ns(meta.startTime)).toBe(min);
    expect(ns(meta.endTime)).toBe(max);
  });

  it.each([
    ['data.parquet, part-way through the stream', (k: string) => k.endsWith('/data.parquet')],
    ['the index', (k: string) => k.endsWith('/index')],
    ['a bloom shard', (k: string) => k.endsWith('/bloom-0')],
  ])('leaves no meta.json (and no block) when writing %s fails', async (_name, failOn) => {
    const failing = new FailingStore(store, failOn, 3);
    const traces = realisticTraces(200, { seed: 14 });
    const err = await writeBlock(failing, { tenant: 't', blockID: '6f1c2d3e-0000-4000-8000-000000000001', traces, rowGroupSizeBytes: 32 * 1024 }).catch(
      (e: unknown) => e,
    );
    expect(codeOf(err)).toBe(Code.Unavailable);
    expect(failing.writeLog.some((k) => k.endsWith('meta.json'))).toBe(false);
    await expect(store.read('t/6f1c2d3e-0000-4000-8000-000000000001/meta.json')).rejects.toMatchObject({ code: Code.NotFound });
    expect(await listBlocks(store, 't')).toEqual([]);
    // The parts already written were removed again.
    const left = await readdir(path.join(dir, 't', '6f1c2d3e-0000-4000-8000-000000000001')).catch(() => []);
    expect(left).toEqual([]);
  });

  it.each([
    ['out of order', (ts: { id: Uint8Array; trace: TracesData }[]) => [ts[1]!, ts[0]!, ...ts.slice(2)], /sorted by ID/],
    ['duplicated', (ts: { id: Uint8Array; trace: TracesData }[]) => [ts[0]!, ts[0]!, ...ts.slice(1)], /no duplicates/],
    ['not 16 bytes', (ts: { id: Uint8Array; trace: TracesData }[]) => [{ id: ts[0]!.id.subarray(0, 8), trace: ts[0]!.trace }], /16 bytes/],
    ['empty', () => [], /no traces/],
  ])('rejects input whose IDs are %s, writing no meta.json', async (_name, mangle, message) => {
    const traces = mangle(realisticTraces(5, { seed: 15 }));
    const err = await writeBlock(store, { tenant: 't', traces }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(Code.InvalidArgument);
    expect(String((err as Error).message)).toMatch(message);
    expect(await listBlocks(store, 't')).toEqual([]);
  });

  it.each([
    ['tenant', { tenant: '../x' }],
    ['block ID', { tenant: 't', blockID: 'not-a-uuid' }],
    ['false-positive rate', { tenant: 't', bloomFalsePositive: 1.5 }],
    ['row group size', { tenant: 't', rowGroupSizeBytes: 0 }],
  ])('rejects an invalid %s before writing anything', async (_name, bad) => {
    const counting = new CountingStore(store);
    const err = await writeBlock(counting, { traces: realisticTraces(2), ...bad } as Parameters<typeof writeBlock>[1]).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(Code.InvalidArgument);
    expect(counting.writeLog).toEqual([]);
  });

  it('takes traces from an async iterable and holds the row groups it was asked for', async () => {
    const traces = realisticTraces(120, { seed: 16 });
    async function* source() {
      for (const t of traces) yield t;
    }
    const meta: BlockMeta = await writeBlock(store, { tenant: 't', traces: source(), rowGroupSizeBytes: 16 * 1024 });
    const footer = await openBlock(store, meta).readFooter();
    expect(footer.rowGroups).toHaveLength(meta.rowGroups);
    expect(meta.rowGroups).toBeGreaterThan(5);
    for (const rg of footer.rowGroups) {
      // A row group closes at the first trace boundary past the limit: one trace over at most.
      expect(rg.totalByteSize).toBeLessThan(16 * 1024 + 64 * 1024);
    }
    expect(footer.rowGroups.reduce((a, rg) => a + rg.numRows, 0)).toBe(meta.totalSpans);
  });
});
