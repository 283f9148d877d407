import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { LocalStore } from '@stave/backend';
import fc from 'fast-check';
import { AnyValueSchema, KeyValueSchema, TracesDataSchema, type TracesData } from '@stave/proto';
import { compileQuery, indexTraces, parseFieldExpression, staticToString, type AttributeExpr, type EvalSpan, type Static } from '@stave/traceql';
import { CONFORMANCE_CASES, expectedTraceIds, generateDataset } from '@stave/traceql/testing';
import { blockTagValues, planQuery, searchBlock, type BlockSearchStats } from './block-search';
import { bucketRange, Col, durationBucket, durationBucketSmall } from './layout';
import { encodeMeta, META_NAME, metaKey, type BlockMeta } from './meta';
import { openBlock } from './reader';
import { addLegacyHttpAttributes, realisticTraces } from './testing/realistic-traces';
import { CountingStore } from './testing/stores';
import { writeBlock } from './writer';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-block-search-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The dataset's batches regrouped as one TracesData per trace, sorted by ID (what a block holds). */
function perTrace(batches: readonly TracesData[]): { id: Uint8Array; trace: TracesData }[] {
  const byId = new Map<string, TracesData>();
  for (const b of batches)
    for (const rs of b.resourceSpans)
      for (const ss of rs.scopeSpans)
        for (const span of ss.spans) {
          const hex = Buffer.from(span.traceId).toString('hex');
          let t = byId.get(hex);
          if (!t) byId.set(hex, (t = create(TracesDataSchema, {})));
          t.resourceSpans.push({ ...rs, scopeSpans: [{ ...ss, spans: [span] }] });
        }
  return [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([hex, trace]) => ({ id: Buffer.from(hex, 'hex'), trace }));
}

/** Trace IDs (engine's hex) a query matches in the block, through the columnar path and the exact engine. */
async function columnar(store: CountingStore | LocalStore, meta: BlockMeta, query: string, stats?: BlockSearchStats): Promise<string[]> {
  const q = compileQuery(query);
  const out: string[] = [];
  for await (const trace of searchBlock(openBlock(store, meta), { query }, stats)) {
    for (const r of q.search(indexTraces(trace))) out.push(r.traceId);
  }
  return out.sort();
}

describe('columnar block search', () => {
  it('answers every conformance query exactly, over many row groups', async () => {
    const store = new LocalStore(dir);
    const ds = generateDataset();
    const meta = await writeBlock(store, { tenant: 'conf', traces: perTrace(ds.batches), rowGroupSizeBytes: 16 * 1024, codec: 'none' });
    expect(meta.rowGroups).toBeGreaterThan(2);
    let pruned = 0;
    for (const c of CONFORMANCE_CASES) {
      const stats: BlockSearchStats = { rowGroups: 0, skippedRowGroups: 0, candidates: 0 };
      const want = expectedTraceIds(c, ds.traces)
        .map((id) => id.replace(/^0+/, ''))
        .sort();
      const got = (await columnar(store, meta, c.query, stats)).map((id) => id.replace(/^0+/, '')).sort();
      expect({ query: c.query, ids: got }).toEqual({ query: c.query, ids: want });
      if (stats.candidates < meta.totalObjects) pruned++;
    }
    // The columns rule traces out for a good share of the table (the rest is decided by the engine alone).
    expect(pruned).toBeGreaterThan(CONFORMANCE_CASES.length / 4);
  });

  it('skips a row group whose dictionary lacks the needle without reading its data pages', async () => {
    const store = new CountingStore(new LocalStore(dir));
    const traces = realisticTraces(240, { seed: 31 }).map((t) => ({ id: t.id, trace: addLegacyHttpAttributes(t.trace) }));
    // One span of one trace carries a URL no other span has.
    const needle = traces[150]!;
    needle.trace.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.attributes.push(
      create(KeyValueSchema, { key: 'http.url', value: create(AnyValueSchema, { value: { case: 'stringValue', value: 'http://shop/order/needle-42' } }) }),
    );
    const meta = await writeBlock(store, { tenant: 'needle', traces, rowGroupSizeBytes: 64 * 1024 });
    expect(meta.rowGroups).toBeGreaterThan(3);
    const footer = await openBlock(store, meta).readFooter();
    store.reset();

    const stats: BlockSearchStats = { rowGroups: 0, skippedRowGroups: 0, candidates: 0 };
    const got = await columnar(store, meta, '{ span.http.url = "http://shop/order/needle-42" }', stats);
    expect(got).toEqual([Buffer.from(needle.id).toString('hex')]);
    expect(stats).toEqual({ rowGroups: meta.rowGroups, skippedRowGroups: meta.rowGroups - 1, candidates: 1 });

    // Which row group holds the needle: the one whose trace_id range covers it.
    const hex = Buffer.from(needle.id).toString('hex');
    const holder = footer.rowGroups.findIndex((rg) => {
      const s = rg.columns[Col.TraceId]!.statistics!;
      return Buffer.from(s.min!).toString('hex') <= hex && hex <= Buffer.from(s.max!).toString('hex');
    });
    const dataReads = store.readLog.filter((r) => r.key.endsWith('data.parquet') && r.offset !== undefined);
    for (const [g, rg] of footer.rowGroups.entries()) {
      if (g === holder) continue;
      for (const c of rg.columns) {
        // Nothing read from this chunk's data pages: only http_url's dictionary page, and only that.
        const a = c.dataPageOffset;
        const b = (c.dictionaryPageOffset ?? c.dataPageOffset) + c.totalCompressedSize;
        expect(dataReads.filter((r) => r.offset! < b && r.offset! + r.bytes > a)).toEqual([]);
      }
      const url = rg.columns[Col.HttpUrl]!;
      expect(dataReads.filter((r) => r.offset === url.dictionaryPageOffset)).toHaveLength(1);
    }
    // The same needle with the other comparison operators still finds it (the engine decides).
    expect(await columnar(store, meta, '{ span.http.url =~ ".*needle-42" }')).toEqual([hex]);
  });

  it('skips row groups by duration buckets and by the search window (trace start/end statistics)', async () => {
    const store = new LocalStore(dir);
    const traces = realisticTraces(200, { seed: 32 });
    const meta = await writeBlock(store, { tenant: 'stats', traces, rowGroupSizeBytes: 64 * 1024 });
    const stats: BlockSearchStats = { rowGroups: 0, skippedRowGroups: 0, candidates: 0 };
    expect(await columnar(store, meta, '{ duration > 1000h }', stats)).toEqual([]);
    expect(stats.skippedRowGroups).toBe(meta.rowGroups);
    expect(stats.candidates).toBe(0);

    const reader = openBlock(store, meta);
    const late = BigInt(Date.parse(meta.endTime)) * 1_000_000n + 1_000_000_000n;
    const windowed: BlockSearchStats = { rowGroups: 0, skippedRowGroups: 0, candidates: 0 };
    for await (const t of searchBlock(reader, { query: '{}', startNs: late }, windowed)) expect(t).toBeUndefined();
    expect(windowed.skippedRowGroups).toBe(meta.rowGroups);
  });

  it('evaluates a row group of many traces in chunks, finding what the engine finds trace by trace', async () => {
    const store = new LocalStore(dir);
    const traces = realisticTraces(600, { seed: 35 }).map((t) => ({ id: t.id, trace: addLegacyHttpAttributes(t.trace) }));
    const meta = await writeBlock(store, { tenant: 'chunks', traces });
    expect(meta.rowGroups).toBe(1); // hundreds of traces in one row group: several chunks of it
    const services = [
      ...new Set(traces.flatMap((t) => t.trace.resourceSpans.map((rs) => rs.resource?.attributes.find((a) => a.key === 'service.name')?.value?.value.value))),
    ];
    const queries = [
      ...services.slice(0, 4).map((s) => `{ resource.service.name = "${String(s)}" }`),
      '{ status = error }',
      `{ rootServiceName = "${String(services[1])}" }`,
      '{ status = error && span.http.method = "POST" }',
      `{ resource.service.name = "${String(services[2])}" } >> { status = error }`,
      '{ span.http.status_code >= 500 || kind = consumer }',
      '{ status = error } | count() > 2',
      '{ } | count() >= 25',
      `{ kind = server } | by(resource.service.name) | count() = 2`,
      `{ resource.service.name = "${String(services[0])}" } | { kind = client } | count() > 1.5`,
    ];
    const indexed = traces.flatMap((t) => indexTraces(t.trace));
    let pruned = 0;
    for (const query of queries) {
      const want = compileQuery(query)
        .search(indexed)
        .map((r) => r.traceId);
      const stats: BlockSearchStats = { rowGroups: 0, skippedRowGroups: 0, candidates: 0 };
      const got = await columnar(store, meta, query, stats);
      expect({ query, ids: got }).toEqual({ query, ids: want.sort() });
      if (stats.candidates < traces.length) pruned++;
    }
    expect(pruned).toBeGreaterThan(queries.length / 2);
  });

  it('searches a row-group range: the ranges of a block partition its candidates', async () => {
    const store = new LocalStore(dir);
    const traces = realisticTraces(160, { seed: 33 });
    const meta = await writeBlock(store, { tenant: 'range', traces, rowGroupSizeBytes: 64 * 1024 });
    expect(meta.rowGroups).toBeGreaterThan(2);
    const reader = openBlock(store, meta);
    const ids = async (opts: { startRowGroup?: number; rowGroups?: number }): Promise<string[]> => {
      const out: string[] = [];
      for await (const t of searchBlock(reader, { query: '{ kind = server }', ...opts })) {
        out.push(Buffer.from(t.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId).toString('hex'));
      }
      return out;
    };
    const whole = await ids({});
    const parts: string[] = [];
    for (let g = 0; g < meta.rowGroups; g++) parts.push(...(await ids({ startRowGroup: g, rowGroups: 1 })));
    expect(parts).toEqual(whole);
    expect(await ids({ startRowGroup: meta.rowGroups })).toEqual([]);
  });

  it('reads a vStave1 block trace by trace', async () => {
    const local = new LocalStore(dir);
    const traces = realisticTraces(30, { seed: 34 });
    const written = await writeBlock(local, { tenant: 'old', traces });
    const meta: BlockMeta = { ...written, format: 'vStave1' };
    delete meta.columns;
    await local.write(metaKey('old', meta.blockID), encodeMeta(meta));
    const stats: BlockSearchStats = { rowGroups: 0, skippedRowGroups: 0, candidates: 0 };
    const got = await columnar(local, meta, '{ span.http.url = "nothing" }', stats);
    expect(got).toEqual([]);
    expect(stats.candidates).toBe(traces.length);
    expect(META_NAME).toBe('meta.json');
  });

  it("lists a column-backed tag's values from dictionaries, as the engine sees them", async () => {
    const store = new LocalStore(dir);
    const ds = generateDataset();
    const traces = perTrace(ds.batches);
    const meta = await writeBlock(store, { tenant: 'tags', traces, rowGroupSizeBytes: 16 * 1024 });
    const spans = traces.flatMap((t) => indexTraces(t.trace).flatMap((e) => e.spans));
    const cases: [string, (s: EvalSpan) => Static | undefined][] = [
      ['name', (s) => ({ type: 'string', value: s.name })],
      ['status', (s) => ({ type: 'status', value: s.status })],
      ['kind', (s) => ({ type: 'kind', value: s.kind })],
      ['statusMessage', (s) => (s.statusMessage === '' ? undefined : { type: 'string', value: s.statusMessage })],
      ['rootName', (s) => (s.trace.root ? { type: 'string', value: s.trace.root.name } : undefined)],
      ['resource.service.name', (s) => s.resourceAttributes.get('service.name')],
      ['span.http.method', (s) => s.attributes.get('http.method')],
      ['span.http.status_code', (s) => s.attributes.get('http.status_code')],
    ];
    const show = (v: Static): string => `${v.type}:${staticToString(v, false)}`;
    for (const [tag, of] of cases) {
      const want = [
        ...new Set(
          spans
            .map(of)
            .filter((v): v is Static => v !== undefined)
            .map(show),
        ),
      ].sort();
      const got = await blockTagValues(openBlock(store, meta), parseFieldExpression(tag) as AttributeExpr);
      expect({ tag, values: got?.map(show).sort() }).toEqual({ tag, values: want });
    }
    expect(await blockTagValues(openBlock(store, meta), parseFieldExpression('span.foo') as AttributeExpr)).toBeUndefined();
  });

  it('puts every duration in a bucket holding it, buckets in duration order', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 62n }), fc.bigInt({ min: 0n, max: 2n ** 62n }), (a, b) => {
        const [lo, hi] = bucketRange(durationBucket(a));
        expect(lo <= Number(a) && Number(a) <= hi).toBe(true);
        expect(hi - lo).toBeLessThanOrEqual(Math.max(0, lo / 8));
        if (a <= b) expect(durationBucket(a)).toBeLessThanOrEqual(durationBucket(b));
      }),
      { numRuns: 500 },
    );
    expect(durationBucket(-5n)).toBe(-1);
  });

  it('buckets a duration the same from a number as from a bigint', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 52n), max: 2n ** 53n - 1n }), (a) => {
        expect(durationBucketSmall(Number(a))).toBe(durationBucket(a));
      }),
      { numRuns: 500 },
    );
  });

  it('plans only conditions every match must meet', () => {
    expect(planQuery('{}').k).toBe('true');
    expect(planQuery('{ !(name = "a") }').k).toBe('true');
    expect(planQuery('{ .http.url = "a" }').k).toBe('true'); // unscoped: a resource attribute could hold it
    expect(planQuery('{ span.foo = "a" }').k).toBe('true'); // no column for it
    expect(planQuery('{ name = "a" } !> { name = "b" }').k).toBe('true');
    expect(planQuery('{ name = "a" } >> { status = error }').k).toBe('and');
    expect(planQuery('{ name = "a" } || { span.http.status_code = 500 }').k).toBe('or');
    expect(planQuery('{ name = "a" && span.http.method != "GET" }').k).toBe('any');
    expect(planQuery('not traceql').k).toBe('true');
    expect(planQuery('{ status = error } | count() > 2')).toMatchObject({ k: 'and', c: [{ k: 'any' }, { k: 'any', min: 3 }] });
    expect(planQuery('{ status = error } | count() < 2').k).toBe('any');
  });
});
