// Block building's wire path (WAL OTLP parts transcoded and combined without message objects) against
// the object path it replaced: decode every part, combine the messages, encode the trace.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { create, toBinary } from '@bufbuild/protobuf';
import { LocalStore } from '@stave/backend';
import { BlockCache, openBlock } from '@stave/block';
import { encodeTrace, realisticTraces, Rng, scannedRows, traceArb } from '@stave/block/testing';
import { ResourceSpansSchema, ScopeSpansSchema, TracesDataSchema, type TracesData } from '@stave/proto';
import fc from 'fast-check';
import { buildBlock, INGESTER_TRACE_PAGE_BYTES, packParts, traceFromParts } from './block-builder';
import { combinedTraces } from './combined-traces';
import { encodeRecord, RECORD_HEADER } from './wal';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Parts of `trace` as pushes make them: each span in one part or more, some parts sent twice. */
function partsOf(trace: TracesData, n: number, pick: () => number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let p = 0; p < n; p++) {
    const resourceSpans = [];
    for (const rs of trace.resourceSpans) {
      const scopeSpans = [];
      for (const ss of rs.scopeSpans) {
        const spans = ss.spans.filter((_, i) => (i + p) % n === 0 || pick() < 0.2);
        if (pick() < 0.5) spans.reverse();
        if (spans.length > 0 || pick() < 0.2) scopeSpans.push(create(ScopeSpansSchema, { ...ss, spans }));
      }
      if (scopeSpans.length > 0 || pick() < 0.2) resourceSpans.push(create(ResourceSpansSchema, { ...rs, scopeSpans }));
    }
    parts.push(toBinary(TracesDataSchema, create(TracesDataSchema, { resourceSpans })));
    if (pick() < 0.2) parts.push(parts[parts.length - 1]!);
  }
  return parts;
}

/** A WAL segment holding `traces` (ascending by ID), each as its parts, interleaved as pushes interleave them. */
function segment(traces: ReadonlyArray<{ id: Uint8Array; parts: Uint8Array[] }>): {
  file: string;
  refs: Array<{ id: Uint8Array; refs: Array<{ offset: number; length: number }> }>;
} {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-build-'));
  dirs.push(dir);
  const file = path.join(dir, 'seg.wal');
  const recs: Buffer[] = [];
  const refs = traces.map((t) => ({ id: t.id, refs: [] as Array<{ offset: number; length: number }> }));
  let off = 0;
  const longest = Math.max(...traces.map((t) => t.parts.length));
  for (let p = 0; p < longest; p++) {
    traces.forEach((t, i) => {
      const data = t.parts[p];
      if (!data) return;
      const rec = encodeRecord({ traceID: t.id, startSeconds: 0, endSeconds: 0, data });
      refs[i]!.refs.push({ offset: off + RECORD_HEADER + 24, length: data.length });
      off += rec.length;
      recs.push(rec);
    });
  }
  writeFileSync(file, Buffer.concat(recs));
  return { file, refs };
}

function expectSameAsObjectPath(traces: ReadonlyArray<{ id: Uint8Array; parts: Uint8Array[] }>): void {
  const { file, refs } = segment(traces);
  let i = 0;
  for (const { id, encoded, rows } of combinedTraces(file, packParts(refs))) {
    const t = traces[i++]!;
    expect(Buffer.from(id)).toEqual(Buffer.from(t.id));
    expect(Buffer.from(encoded).toString('hex')).toBe(encodeTrace(t.id, traceFromParts(t.parts)).toString('hex'));
    // The column values handed to the writer are what it would read from the trace itself.
    if (rows) expect(Array.from(rows)).toEqual(Array.from(scannedRows(encoded)));
  }
  expect(i).toBe(traces.length);
}

describe('block building from WAL parts', () => {
  it('writes each trace exactly as decoding and combining its parts does (property)', () => {
    const id = new Uint8Array(16).fill(0x42);
    fc.assert(
      fc.property(traceArb(id), fc.integer({ min: 1, max: 4 }), fc.integer(), (trace, n, seed) => {
        const rng = new Rng(seed);
        expectSameAsObjectPath([{ id, parts: partsOf(trace, n, () => rng.next()) }]);
      }),
      { numRuns: 150 },
    );
  });

  it('does so when many traces share resources and scopes (one combiner, its header cache reused; property)', () => {
    fc.assert(
      fc.property(fc.array(traceArb(new Uint8Array(16).fill(0x42)), { minLength: 2, maxLength: 6 }), fc.integer(), (generated, seed) => {
        const rng = new Rng(seed);
        // Every header from a pool of all the traces' own: equal resources and scopes across traces and parts.
        const resources = generated.flatMap((t) => t.resourceSpans.map((rs) => rs.resource));
        const scopes = generated.flatMap((t) => t.resourceSpans.flatMap((rs) => rs.scopeSpans.map((ss) => ss.scope)));
        const pick = <T>(pool: T[]): T => pool[Math.floor(rng.next() * pool.length)]!;
        const traces = generated.map((t, i) => {
          const id = new Uint8Array(16).fill(i + 1);
          const trace = create(TracesDataSchema, {
            resourceSpans: t.resourceSpans.map((rs) =>
              create(ResourceSpansSchema, {
                ...rs,
                resource: pick(resources),
                scopeSpans: rs.scopeSpans.map((ss) => create(ScopeSpansSchema, { ...ss, scope: pick(scopes) })),
              }),
            ),
          });
          return { id, parts: partsOf(trace, 1 + Math.floor(rng.next() * 4), () => rng.next()) };
        });
        expectSameAsObjectPath(traces);
      }),
      { numRuns: 100 },
    );
  });

  it('does so for a segment of realistic traces pushed in several parts each', () => {
    const rng = new Rng(5);
    const traces = realisticTraces(150, { seed: 11 })
      .map(({ id, trace }) => ({ id, parts: partsOf(trace, 1 + Math.floor(rng.next() * 5), () => rng.next()) }))
      .sort((a, b) => Buffer.compare(a.id, b.id));
    expectSameAsObjectPath(traces);
  });
});

describe('the blocks an ingester builds', () => {
  it('cut the trace column into pages of INGESTER_TRACE_PAGE_BYTES: a by-ID read decompresses one small page', async () => {
    const traces = realisticTraces(1500, { seed: 3 })
      .map(({ id, trace }) => ({ id, parts: [toBinary(TracesDataSchema, trace)] }))
      .sort((a, b) => Buffer.compare(a.id, b.id));
    const { file, refs } = segment(traces);
    let columnBytes = 0;
    for (const { encoded } of combinedTraces(file, packParts(refs))) columnBytes += encoded.length;
    // Enough traces for several pages: with the writer's default (2 MiB) this column would be one page.
    expect(columnBytes).toBeGreaterThan(4 * INGESTER_TRACE_PAGE_BYTES);
    const root = path.join(path.dirname(file), 'blocks');
    const meta = await buildBlock({
      segmentPath: file,
      parts: packParts(refs),
      storeRoot: root,
      tenant: 't',
      blockID: '00000000-0000-4000-8000-000000000007',
      bloomFalsePositive: 0.01,
      bloomShardSizeBytes: 1024,
      rowGroupSizeBytes: 64 * 1024 * 1024,
      combineThreads: 0,
    });
    expect(meta.totalObjects).toBe(traces.length);
    for (const t of [traces[0]!, traces[700]!, traces[traces.length - 1]!]) {
      // A cache of its own per lookup: what it holds afterwards is what the lookup read (one bloom shard,
      // one index page, one decompressed trace page).
      const cache = new BlockCache(64 * 1024 * 1024, 64 * 1024 * 1024);
      const found = await openBlock(new LocalStore(root), meta, { cache }).findTraceByID(t.id);
      expect(found?.resourceSpans.length).toBeGreaterThan(0);
      expect(cache.bytes).toBeLessThan(INGESTER_TRACE_PAGE_BYTES + 128 * 1024);
    }
  });
});

describe('packParts', () => {
  it('lays the tables over one SharedArrayBuffer, apart and aligned, that a worker reads and writes without a copy', async () => {
    const traces = [
      { id: new Uint8Array(16).fill(1), refs: [{ offset: 2 ** 40 + 3, length: 7 }] },
      {
        id: new Uint8Array(16).fill(2),
        refs: [
          { offset: 10, length: 20 },
          { offset: 30, length: 40 },
        ],
      },
    ];
    const p = packParts(traces);
    const arrays = [p.ids, p.counts, p.offsets, p.lengths];
    expect(new Set(arrays.map((a) => a.buffer)).size).toBe(1);
    expect(p.ids.buffer).toBeInstanceOf(SharedArrayBuffer);
    for (const a of arrays) expect(a.byteOffset % a.BYTES_PER_ELEMENT).toBe(0);
    const spans = arrays.map((a) => [a.byteOffset, a.byteOffset + a.byteLength] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    expect(Array.from(p.counts)).toEqual([1, 2]);
    expect(Array.from(p.offsets)).toEqual([2 ** 40 + 3, 10, 30]);
    expect(Array.from(p.lengths)).toEqual([7, 20, 40]);
    expect(Array.from(p.ids.subarray(16, 32))).toEqual(Array(16).fill(2));
    // Posted as a build job is: the worker sees these bytes, and its write is seen here (shared, not cloned).
    const w = new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.once('message', (p) => { p.lengths[0] = 99; parentPort.postMessage(p.offsets[0]); });`,
      { eval: true },
    );
    const seen = await new Promise<number>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.postMessage(p);
    });
    await w.terminate();
    expect(seen).toBe(2 ** 40 + 3);
    expect(p.lengths[0]).toBe(99);
  });
});
