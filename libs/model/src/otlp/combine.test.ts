import { create, equals, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { ResourceSpansSchema, Span_SpanKind, SpanSchema, TraceSchema, TracesDataSchema, type Span, type Trace } from '@stave/proto';
import fc from 'fast-check';
import { combineTraceBytes, combineTraces, countSpans, joinCombined } from './combine';

const TRACE = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const id = (n: number): Uint8Array => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, n);

function sp(n: number, start: bigint, extra: Partial<Omit<Span, '$typeName'>> = {}): Span {
  return create(SpanSchema, {
    traceId: TRACE,
    spanId: id(n),
    name: `span-${n}`,
    startTimeUnixNano: start,
    endTimeUnixNano: start + 10n,
    kind: Span_SpanKind.INTERNAL,
    ...extra,
  });
}

function rs(service: string, scopes: Array<[string, Span[]]>): MessageInitShape<typeof ResourceSpansSchema> {
  return {
    resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: service } } }] },
    scopeSpans: scopes.map(([name, spans]) => ({ scope: { name }, spans })),
  };
}

const trace = (...resourceSpans: Array<MessageInitShape<typeof ResourceSpansSchema>>): Trace => create(TraceSchema, { resourceSpans });

/** service / scope / span name, in output order. */
function layout(t: Trace): string[] {
  const out: string[] = [];
  for (const r of t.resourceSpans) {
    const svc = r.resource?.attributes[0]?.value?.value.value;
    for (const s of r.scopeSpans) for (const span of s.spans) out.push(`${String(svc)}/${s.scope?.name}/${span.name}`);
  }
  return out;
}

describe('combineTraces', () => {
  it('merges equal resources and scopes and orders spans by start time', () => {
    const a = trace(rs('api', [['http', [sp(2, 200n), sp(1, 100n)]]]), rs('db', [['pg', [sp(3, 150n)]]]));
    const b = trace(
      rs('api', [
        ['http', [sp(4, 50n)]],
        ['grpc', [sp(5, 10n)]],
      ]),
    );
    const out = combineTraces([a, b]);
    expect(out.resourceSpans).toHaveLength(2);
    expect(layout(out).sort()).toEqual(['api/grpc/span-5', 'api/http/span-1', 'api/http/span-2', 'api/http/span-4', 'db/pg/span-3'].sort());
    const http = out.resourceSpans.flatMap((r) => r.scopeSpans).find((s) => s.scope?.name === 'http')!;
    expect(http.spans.map((s) => s.name)).toEqual(['span-4', 'span-1', 'span-2']);
    expect(countSpans(out)).toBe(5);
  });

  it('drops duplicate spans (same span ID and kind) across parts', () => {
    const a = trace(rs('api', [['http', [sp(1, 100n), sp(2, 200n)]]]));
    const b = trace(rs('api', [['http', [sp(2, 200n), sp(3, 300n)]]]));
    expect(layout(combineTraces([a, b]))).toEqual(['api/http/span-1', 'api/http/span-2', 'api/http/span-3']);
  });

  it('keeps a Zipkin client and server span that share a span ID', () => {
    const client = sp(7, 100n, { kind: Span_SpanKind.CLIENT, name: 'client' });
    const server = sp(7, 110n, { kind: Span_SpanKind.SERVER, name: 'server' });
    const out = combineTraces([trace(rs('front', [['zipkin', [client]]])), trace(rs('back', [['zipkin', [server]]]))]);
    expect(countSpans(out)).toBe(2);
    expect(layout(out)).toEqual(['back/zipkin/server', 'front/zipkin/client']);
  });

  it('picks the same copy of a duplicated span whatever the order of the parts', () => {
    const older = trace(rs('api', [['http', [sp(1, 100n, { name: 'first write' })]]]));
    const newer = trace(rs('api', [['http', [sp(1, 100n, { name: 'second write' })]]]));
    const ab = combineTraces([older, newer]);
    const ba = combineTraces([newer, older]);
    expect(countSpans(ab)).toBe(1);
    expect(equals(TraceSchema, ab, ba)).toBe(true);
  });

  it('does not merge resources that differ only in schema URL or scopes that differ in version', () => {
    const a = trace({ ...rs('api', [['http', [sp(1, 1n)]]]), schemaUrl: 'https://opentelemetry.io/schemas/1.20.0' });
    const b = trace(rs('api', [['http', [sp(2, 2n)]]]));
    expect(combineTraces([a, b]).resourceSpans).toHaveLength(2);
    const c = trace({
      resource: {},
      scopeSpans: [
        { scope: { name: 's', version: '1' }, spans: [sp(3, 3n)] },
        { scope: { name: 's', version: '2' }, spans: [sp(4, 4n)] },
      ],
    });
    expect(combineTraces([c]).resourceSpans[0]!.scopeSpans).toHaveLength(2);
  });

  it('combines the per-trace byte slices splitByTrace makes', () => {
    const a = toBinary(TracesDataSchema, create(TracesDataSchema, { resourceSpans: [rs('api', [['http', [sp(1, 1n)]]])] }));
    const b = toBinary(TracesDataSchema, create(TracesDataSchema, { resourceSpans: [rs('api', [['http', [sp(1, 1n), sp(2, 2n)]]])] }));
    expect(layout(combineTraceBytes([a, b]))).toEqual(['api/http/span-1', 'api/http/span-2']);
  });

  it('returns an empty trace for no parts', () => {
    expect(combineTraces([]).resourceSpans).toEqual([]);
    expect(countSpans(combineTraces([trace(rs('api', [['http', []]]))]))).toBe(0);
  });

  describe('properties', () => {
    // Few services, scopes and span IDs, so that random parts overlap and collide often.
    const spanArb = fc
      .record({
        n: fc.integer({ min: 1, max: 6 }),
        kind: fc.integer({ min: 0, max: 3 }),
        start: fc.bigInt({ min: 0n, max: 50n }),
        name: fc.constantFrom('a', 'b'),
      })
      .map((s) => sp(s.n, s.start, { kind: s.kind, name: s.name }));
    const traceArb = fc
      .array(
        fc.record({
          service: fc.constantFrom('api', 'db'),
          scopes: fc.array(fc.tuple(fc.constantFrom('http', 'pg'), fc.array(spanArb, { maxLength: 4 })), { maxLength: 2 }),
        }),
        { maxLength: 3 },
      )
      .map((list) => trace(...list.map((r) => rs(r.service, r.scopes))));
    const same = (x: Trace, y: Trace): boolean => equals(TraceSchema, x, y);
    const keys = (t: Trace): string[] =>
      t.resourceSpans
        .flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))
        .map((s) => `${Buffer.from(s.spanId).toString('hex')}/${s.kind}`)
        .sort();

    it('is idempotent', () => {
      fc.assert(
        fc.property(traceArb, (x) => {
          const once = combineTraces([x]);
          expect(same(combineTraces([x, x]), once)).toBe(true);
          expect(same(combineTraces([once]), once)).toBe(true);
        }),
      );
    });

    it('is commutative (on the span set and on the whole result)', () => {
      fc.assert(
        fc.property(traceArb, traceArb, (x, y) => {
          const xy = combineTraces([x, y]);
          const yx = combineTraces([y, x]);
          expect(keys(xy)).toEqual(keys(yx));
          expect(same(xy, yx)).toBe(true);
        }),
      );
    });

    it('is associative', () => {
      fc.assert(
        fc.property(traceArb, traceArb, traceArb, (x, y, z) => {
          expect(same(combineTraces([combineTraces([x, y]), z]), combineTraces([x, combineTraces([y, z])]))).toBe(true);
        }),
      );
    });

    it('keeps exactly one span per (span ID, kind)', () => {
      fc.assert(
        fc.property(fc.array(traceArb, { maxLength: 4 }), (parts) => {
          const all = new Set(parts.flatMap(keys));
          const out = keys(combineTraces(parts));
          expect(out).toEqual([...all].sort());
        }),
      );
    });
  });
});

describe('joinCombined', () => {
  it('takes one already-combined part as it is, combines several, and has nothing for none', () => {
    const a = trace(rs('svc', [['s', [sp(1, 100n), sp(2, 200n)]]]));
    expect(joinCombined([])).toBeUndefined();
    expect(joinCombined([a])).toBe(a);
    const asData = create(TracesDataSchema, { resourceSpans: a.resourceSpans });
    const wrapped = joinCombined([asData])!;
    expect(wrapped.$typeName).toBe(TraceSchema.typeName);
    expect(wrapped.resourceSpans).toEqual(a.resourceSpans);
    const b = trace(rs('svc', [['s', [sp(2, 200n), sp(3, 300n)]]]));
    expect(equals(TraceSchema, joinCombined([a, b])!, combineTraces([a, b]))).toBe(true);
  });
});
