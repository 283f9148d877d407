// The wire-level merge (WireTraceMerger under COMBINE_RULES) against the object-level combine it replaces:
// for partial, duplicated, reordered and conflicting parts of random traces, the merged bytes must equal
// the encoding of combineTraces over the decoded parts.
import { create } from '@bufbuild/protobuf';
import { WireTraceMerger } from '@stave/block';
import { decodeEncodedTrace, encodeTrace, realisticTraces, Rng, scannedRows, traceArb } from '@stave/block/testing';
import { combineTraces } from '@stave/model';
import { ResourceSpansSchema, ScopeSpansSchema, SpanSchema, TracesDataSchema, type TracesData } from '@stave/proto';
import fc from 'fast-check';
import { COMBINE_RULES, mergeByTraceID, newMergeStats } from './merge';

const TRACE_ID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

/** What the object-level path writes for these parts. */
function expected(id: Uint8Array, parts: readonly Uint8Array[]): Buffer {
  const combined = combineTraces(parts.map((p) => decodeEncodedTrace(id, p)));
  return encodeTrace(id, create(TracesDataSchema, { resourceSpans: combined.resourceSpans }));
}

/**
 * Parts of `trace` as flushes and replicas make them: each span goes to one or more of `n` parts (its
 * resource and scope with it), spans within a scope and resources within a part shuffled, and some parts
 * written twice.
 */
function partsOf(trace: TracesData, n: number, pick: () => number): TracesData[] {
  const parts: TracesData[] = [];
  for (let p = 0; p < n; p++) {
    const resourceSpans = [];
    for (const rs of trace.resourceSpans) {
      const scopeSpans = [];
      for (const ss of rs.scopeSpans) {
        const spans = ss.spans.filter((_, i) => (i + p) % n === 0 || pick() < 0.3);
        if (pick() < 0.5) spans.reverse();
        if (spans.length > 0 || pick() < 0.2) scopeSpans.push(create(ScopeSpansSchema, { ...ss, spans }));
      }
      if (scopeSpans.length > 0 || pick() < 0.2) resourceSpans.push(create(ResourceSpansSchema, { ...rs, scopeSpans }));
    }
    if (pick() < 0.5) resourceSpans.reverse();
    parts.push(create(TracesDataSchema, { resourceSpans }));
    if (pick() < 0.3) parts.push(parts[parts.length - 1]!);
  }
  return parts;
}

/** The merger's column values for the trace it just wrote are what the block writer would read from it. */
function expectRows(merger: WireTraceMerger, merged: Uint8Array): void {
  if (merger.lastRows === undefined) return; // combined at the object level: the writer scans it
  expect(Array.from(merger.lastRows)).toEqual(Array.from(scannedRows(merged)));
}

describe('WireTraceMerger under combineTraces rules', () => {
  it('equals the object-level combine on random partial, duplicated and reordered traces', () => {
    const merger = new WireTraceMerger(COMBINE_RULES);
    fc.assert(
      fc.property(traceArb(TRACE_ID), fc.integer({ min: 1, max: 4 }), fc.integer(), (trace, n, seed) => {
        const rng = new Rng(seed);
        const parts = partsOf(trace, n, () => rng.next()).map((p) => encodeTrace(TRACE_ID, p));
        const merged = Buffer.from(merger.merge(TRACE_ID, parts));
        expect(merged.equals(expected(TRACE_ID, parts))).toBe(true);
        expectRows(merger, merged);
      }),
      { seed: 20261129, numRuns: 300 },
    );
  });

  it('equals the object-level combine when copies of a span differ (decoded, counted)', () => {
    const merger = new WireTraceMerger(COMBINE_RULES);
    let conflicts = 0;
    fc.assert(
      fc.property(traceArb(TRACE_ID), fc.integer(), (trace, seed) => {
        const rng = new Rng(seed);
        const [a, b] = partsOf(trace, 2, () => rng.next());
        // Every copy in the second part renamed: a conflict wherever both parts hold a span.
        const renamed = create(TracesDataSchema, {
          resourceSpans: b!.resourceSpans.map((rs) =>
            create(ResourceSpansSchema, {
              ...rs,
              scopeSpans: rs.scopeSpans.map((ss) => create(ScopeSpansSchema, { ...ss, spans: ss.spans.map((s) => ({ ...s, name: `${s.name}'` })) })),
            }),
          ),
        });
        const parts = [encodeTrace(TRACE_ID, a!), encodeTrace(TRACE_ID, renamed)];
        const before = merger.fallbacks;
        expect(Buffer.from(merger.merge(TRACE_ID, parts)).equals(expected(TRACE_ID, parts))).toBe(true);
        conflicts += merger.fallbacks - before;
      }),
      { seed: 7, numRuns: 200 },
    );
    expect(conflicts).toBeGreaterThan(0);
  });

  it('merges replicas and split flushes of realistic traces without decoding them', () => {
    const merger = new WireTraceMerger(COMBINE_RULES);
    const rng = new Rng(3);
    for (const { id, trace } of realisticTraces(120, { seed: 5 })) {
      const parts = partsOf(trace, 1 + rng.int(0, 2), () => rng.next()).map((p) => encodeTrace(id, p));
      const whole = encodeTrace(id, trace);
      const all = [whole, ...parts, whole];
      const merged = Buffer.from(merger.merge(id, all));
      expect(merged.equals(expected(id, all))).toBe(true);
      expectRows(merger, merged);
      let spans = 0;
      for (const rs of decodeEncodedTrace(id, merged).resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
      expect(merger.lastSpanCount).toBe(spans);
    }
    expect(merger.fallbacks).toBe(0);
  });

  it('gives the column values of spans with all-zero, missing and referenced parents and HTTP attributes', () => {
    const merger = new WireTraceMerger(COMBINE_RULES);
    const sid = (n: number) => Uint8Array.from({ length: 8 }, (_, i) => (i === 7 ? n : 0));
    const str = (key: string, v: string) => ({ key, value: { value: { case: 'stringValue' as const, value: v } } });
    const int = (key: string, v: bigint) => ({ key, value: { value: { case: 'intValue' as const, value: v } } });
    const span = (id: Uint8Array, parent: Uint8Array, start: bigint, attributes: ReturnType<typeof str | typeof int>[]) =>
      create(SpanSchema, {
        traceId: TRACE_ID,
        spanId: id,
        parentSpanId: parent,
        name: `op-${id[7]}`,
        kind: 2,
        startTimeUnixNano: start,
        endTimeUnixNano: start + 123_456n,
        attributes,
        status: { code: 2, message: id[7]! % 2 ? 'boom' : '' },
      });
    const part = (...spans: ReturnType<typeof span>[]) =>
      encodeTrace(
        TRACE_ID,
        create(TracesDataSchema, {
          resourceSpans: [{ resource: { attributes: [str('service.name', 'svc')] }, scopeSpans: [{ scope: { name: 'lib' }, spans }] }],
        }),
      );
    const zero = new Uint8Array(8);
    const cases: Uint8Array[][] = [
      // An all-zero parent ID is a root; a parent outside the trace is not.
      [part(span(sid(1), zero, 10n, [str('http.method', 'GET'), int('http.status_code', 503n)])), part(span(sid(2), sid(9), 5n, [str('http.url', '/x')]))],
      // A span whose ID is all zeros: the zero parent becomes a reference to it, so no root.
      [part(span(zero, sid(3), 30n, [int('http.method', 1n)])), part(span(sid(4), zero, 20n, [str('http.status_code', 'x')]))],
    ];
    for (const parts of cases) {
      const merged = Buffer.from(merger.merge(TRACE_ID, parts));
      expect(merged.equals(expected(TRACE_ID, parts))).toBe(true);
      expect(merger.lastRows).toBeDefined();
      expectRows(merger, merged);
    }
  });

  it('keeps an empty trace empty', () => {
    const merger = new WireTraceMerger(COMBINE_RULES);
    const empty = encodeTrace(TRACE_ID, create(TracesDataSchema, {}));
    const merged = Buffer.from(merger.merge(TRACE_ID, [empty, empty]));
    expect(merged.equals(expected(TRACE_ID, [empty, empty]))).toBe(true);
    expect(merger.lastSpanCount).toBe(0);
  });
});

describe('mergeByTraceID', () => {
  async function* source(traces: Array<{ id: Uint8Array; trace: TracesData }>) {
    for (const t of traces) {
      let spans = 0;
      for (const rs of t.trace.resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
      yield { id: t.id, encoded: encodeTrace(t.id, t.trace), spans };
    }
  }

  it('writes a trace one input holds, or byte-identical replicas, as stored; combines differing parts', async () => {
    const [x, y, z] = realisticTraces(3, { seed: 9 }).sort((a, b) => Buffer.compare(a.id, b.id));
    const rng = new Rng(1);
    const [z1, z2] = partsOf(z!.trace, 2, () => rng.next());
    const stats = newMergeStats();
    const out: Array<{ id: Uint8Array; encoded: Buffer }> = [];
    const inputs = [source([x!, y!, { id: z!.id, trace: z1! }]), source([y!, { id: z!.id, trace: z2! }]), source([y!])];
    for await (const t of mergeByTraceID(inputs, stats)) out.push({ id: t.id, encoded: Buffer.from(t.encoded) });
    expect(out.map((t) => Buffer.from(t.id).toString('hex'))).toEqual([x!, y!, z!].map((t) => Buffer.from(t.id).toString('hex')));
    expect(out[0]!.encoded.equals(encodeTrace(x!.id, x!.trace))).toBe(true);
    expect(out[1]!.encoded.equals(encodeTrace(y!.id, y!.trace))).toBe(true);
    expect(out[2]!.encoded.equals(expected(z!.id, [encodeTrace(z!.id, z1!), encodeTrace(z!.id, z2!)]))).toBe(true);
    expect(stats).toMatchObject({ tracesIn: 6, tracesOut: 3, combined: 2, combinedIdentical: 1, combinedDecoded: 0 });
  });
});
