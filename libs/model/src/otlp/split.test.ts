import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { WireType } from '@bufbuild/protobuf/wire';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  AnyValueSchema,
  ExportTraceServiceRequestSchema,
  KeyValueSchema,
  ResourceSpansSchema,
  ScopeSpansSchema,
  SpanSchema,
  TracesDataSchema,
  type ExportTraceServiceRequest,
  type Span,
} from '@stave/proto';
import { Code, ConnectError } from '@stave/core';
import fc from 'fast-check';
import { splitByTrace, type SplitResult } from './split';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytesOf = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

const T1 = '0102030405060708090a0b0c0d0e0f10';
const T2 = 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf';
const T3 = 'ffeeddccbbaa99887766554433221100';

type SpanFields = Partial<Omit<Span, '$typeName' | '$unknown'>>;

function span(traceHex: string, spanHex: string, start: bigint, end: bigint, extra: SpanFields = {}): Span {
  return create(SpanSchema, {
    traceId: bytesOf(traceHex),
    spanId: bytesOf(spanHex),
    name: `op-${spanHex}`,
    startTimeUnixNano: start,
    endTimeUnixNano: end,
    ...extra,
  });
}

function request(resources: Array<{ service: string; schemaUrl?: string; scopes: Array<{ name: string; spans: Span[] }> }>): ExportTraceServiceRequest {
  return create(ExportTraceServiceRequestSchema, {
    resourceSpans: resources.map((r) => ({
      resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue' as const, value: r.service } } }] },
      schemaUrl: r.schemaUrl ?? '',
      scopeSpans: r.scopes.map((s) => ({ scope: { name: s.name, version: '1.0' }, spans: s.spans, schemaUrl: 'https://opentelemetry.io/schemas/1.21.0' })),
    })),
  });
}

/** One row per span: its trace, its resource and scope context (without children) and the span itself, as hex. */
interface Row {
  trace: string;
  resource: string;
  scope: string;
  span: string;
}

function rows(msg: { resourceSpans: ExportTraceServiceRequest['resourceSpans'] }): Row[] {
  const out: Row[] = [];
  for (const rs of msg.resourceSpans) {
    const resource = hex(toBinary(ResourceSpansSchema, { ...rs, scopeSpans: [] }));
    for (const ss of rs.scopeSpans) {
      const scope = hex(toBinary(ScopeSpansSchema, { ...ss, spans: [] }));
      for (const s of ss.spans) out.push({ trace: hex(s.traceId), resource, scope, span: hex(toBinary(SpanSchema, s)) });
    }
  }
  return out;
}

/** The property every split must have: the outputs hold exactly the input spans, with their context, per trace, in order. */
function expectFaithfulSplit(original: ExportTraceServiceRequest, result: SplitResult): void {
  const expected = new Map<string, Row[]>();
  for (const row of rows(original)) {
    const list = expected.get(row.trace) ?? [];
    list.push(row);
    expected.set(row.trace, list);
  }
  expect(result.traces.map((t) => hex(t.id))).toEqual([...expected.keys()]);
  expect(result.traceCount).toBe(expected.size);
  expect(result.spanCount).toBe(rows(original).length);
  for (const t of result.traces) {
    const decoded = fromBinary(TracesDataSchema, t.bytes);
    const got = rows(decoded);
    expect(got).toEqual(expected.get(hex(t.id)));
    expect(t.spanCount).toBe(got.length);
  }
}

function expectInvalid(fn: () => unknown, message: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConnectError);
  const ce = caught as ConnectError;
  expect(ce.code).toBe(Code.InvalidArgument);
  if (typeof message === 'string') expect(ce.rawMessage).toContain(message);
  else expect(ce.rawMessage).toMatch(message);
}

describe('splitByTrace', () => {
  it('groups spans by trace across resources and scopes, keeping their context', () => {
    const req = request([
      {
        service: 'api',
        schemaUrl: 'https://example.com/r',
        scopes: [
          { name: 'http', spans: [span(T1, '0000000000000001', 100n, 200n), span(T2, '0000000000000002', 50n, 400n)] },
          { name: 'db', spans: [span(T1, '0000000000000003', 120n, 180n)] },
        ],
      },
      { service: 'worker', scopes: [{ name: 'queue', spans: [span(T3, '0000000000000004', 10n, 20n), span(T1, '0000000000000005', 90n, 250n)] }] },
    ]);
    const result = splitByTrace(toBinary(ExportTraceServiceRequestSchema, req));
    expectFaithfulSplit(req, result);
    expect(result.traces.map((t) => [hex(t.id), t.spanCount, t.startUnixNano, t.endUnixNano])).toEqual([
      [T1, 3, 90n, 250n],
      [T2, 1, 50n, 400n],
      [T3, 1, 10n, 20n],
    ]);
    // T1's spans keep their two resources and, in the first, both scopes.
    const t1 = fromBinary(TracesDataSchema, result.traces[0]!.bytes);
    expect(t1.resourceSpans.map((rs) => [rs.schemaUrl, rs.scopeSpans.map((ss) => ss.scope?.name)])).toEqual([
      ['https://example.com/r', ['http', 'db']],
      ['', ['queue']],
    ]);
  });

  it('copies IDs instead of aliasing the request', () => {
    const bytes = toBinary(
      ExportTraceServiceRequestSchema,
      request([{ service: 'a', scopes: [{ name: 's', spans: [span(T1, '0000000000000001', 1n, 2n)] }] }]),
    );
    const result = splitByTrace(bytes);
    bytes.fill(0);
    expect(hex(result.traces[0]!.id)).toBe(T1);
  });

  it('keeps full 64-bit timestamps exact and ignores spans without them', () => {
    const big = (1n << 63n) + 12345n;
    const req = request([
      {
        service: 'a',
        scopes: [
          {
            name: 's',
            spans: [
              span(T1, '0000000000000001', big, big + 1n),
              create(SpanSchema, { traceId: bytesOf(T1), spanId: bytesOf('0000000000000002') }),
              span(T2, '0000000000000003', 0n, 0n),
            ],
          },
        ],
      },
    ]);
    const [t1, t2] = splitByTrace(toBinary(ExportTraceServiceRequestSchema, req)).traces;
    expect([t1!.startUnixNano, t1!.endUnixNano]).toEqual([big, big + 1n]);
    expect([t2!.startUnixNano, t2!.endUnixNano]).toEqual([0n, 0n]);
  });

  it('answers an empty request with no traces', () => {
    expect(splitByTrace(new Uint8Array(0))).toEqual({ traces: [], spanCount: 0, traceCount: 0 });
    const onlyResource = create(ExportTraceServiceRequestSchema, { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [] }] }] });
    expect(splitByTrace(toBinary(ExportTraceServiceRequestSchema, onlyResource)).traceCount).toBe(0);
  });

  it('preserves unknown fields at every level', () => {
    const unknown = (no: number, v: number) => [{ no, wireType: WireType.Varint, data: Uint8Array.of(v) }];
    const s = span(T1, '0000000000000001', 1n, 2n);
    s.$unknown = unknown(1001, 7);
    const req = request([{ service: 'a', scopes: [{ name: 's', spans: [s] }] }]);
    req.resourceSpans[0]!.$unknown = unknown(1002, 8);
    req.resourceSpans[0]!.scopeSpans[0]!.$unknown = unknown(1003, 9);
    req.resourceSpans[0]!.resource!.$unknown = unknown(1004, 10);
    req.$unknown = unknown(1005, 11);
    const [t] = splitByTrace(toBinary(ExportTraceServiceRequestSchema, req)).traces;
    const out = fromBinary(ExportTraceServiceRequestSchema, t!.bytes);
    expect(out.$unknown).toEqual(unknown(1005, 11));
    expect(out.resourceSpans[0]!.$unknown).toEqual(unknown(1002, 8));
    expect(out.resourceSpans[0]!.resource!.$unknown).toEqual(unknown(1004, 10));
    expect(out.resourceSpans[0]!.scopeSpans[0]!.$unknown).toEqual(unknown(1003, 9));
    expect(out.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.$unknown).toEqual(unknown(1001, 7));
  });

  it('splits what the real OpenTelemetry protobuf serializer produces', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'checkout' }),
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    const tracer = provider.getTracer('split-test', '2.0.0');
    const roots = [0, 1, 2].map((i) => tracer.startSpan(`root-${i}`, { kind: SpanKind.SERVER }));
    for (const root of roots) {
      const ctx = trace.setSpan(ROOT_CONTEXT, root);
      for (let c = 0; c < 3; c++) tracer.startSpan(`child-${c}`, { attributes: { n: c } }, ctx).end();
      root.end();
    }
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    const bytes = ProtobufTraceSerializer.serializeRequest(spans)!;
    const result = splitByTrace(bytes);
    expectFaithfulSplit(fromBinary(ExportTraceServiceRequestSchema, bytes), result);
    expect(result.traces.map((t) => hex(t.id)).sort()).toEqual(roots.map((r) => r.spanContext().traceId).sort());
    expect(result.traces.every((t) => t.spanCount === 4)).toBe(true);
    await provider.shutdown();
  });

  describe('refuses bad input with InvalidArgument naming the problem', () => {
    const ok = (s: Span) =>
      toBinary(ExportTraceServiceRequestSchema, request([{ service: 'a', scopes: [{ name: 's', spans: [span(T1, '0000000000000001', 1n, 2n), s] }] }]));
    const cases: Array<[string, () => Uint8Array, string | RegExp]> = [
      [
        'an 8-byte trace ID',
        () => ok(span('0102030405060708', '0000000000000002', 1n, 2n)),
        'resourceSpans[0].scopeSpans[0].spans[1]: trace ID must be 16 bytes, got 8',
      ],
      ['a missing trace ID', () => ok(create(SpanSchema, { spanId: bytesOf('0000000000000002') })), 'trace ID must be 16 bytes, got 0'],
      ['an all-zero trace ID', () => ok(span('00000000000000000000000000000000', '0000000000000002', 1n, 2n)), 'trace ID must not be all zeros'],
      ['a 4-byte span ID', () => ok(span(T1, '00000002', 1n, 2n)), 'span ID must be 8 bytes, got 4'],
      [
        'a truncated request',
        () => ok(span(T1, '0000000000000002', 1n, 2n)).subarray(0, 60),
        /^request: malformed protobuf at byte offset 1: length \d+ exceeds the 57 bytes remaining$/,
      ],
      [
        'a bad wire type for resource_spans',
        () => Uint8Array.of(0x08, 0x01),
        'request: malformed protobuf at byte offset 0: ExportTraceServiceRequest field 1 has wire type 0, expected 2',
      ],
      ['field number 0', () => Uint8Array.of(0x02, 0x00), 'malformed protobuf at byte offset 0: field number 0'],
      ['wire type 7', () => Uint8Array.of(0x0f), 'invalid wire type 7'],
      ['an unterminated varint', () => Uint8Array.of(0x10, 0x80, 0x80), 'malformed protobuf at byte offset 1: truncated varint'],
      ['a group without its end', () => Uint8Array.of(0x1b, 0x08, 0x01), 'group of field 3 has no end tag'],
    ];
    it.each(cases)('%s', (_name, input, message) => expectInvalid(() => splitByTrace(input()), message));

    it('an attribute nested deeper than the limit', () => {
      let value = create(AnyValueSchema, { value: { case: 'stringValue', value: 'leaf' } });
      for (let i = 0; i < 120; i++) value = create(AnyValueSchema, { value: { case: 'arrayValue', value: { values: [value] } } });
      const bytes = ok(span(T1, '0000000000000002', 1n, 2n, { attributes: [create(KeyValueSchema, { key: 'deep', value })] }));
      expectInvalid(() => splitByTrace(bytes), 'messages nested deeper than 100 levels');
    });

    it('skips deep checks when told the bytes were validated', () => {
      const bad = ok(
        span(T1, '0000000000000002', 1n, 2n, { attributes: [create(KeyValueSchema, { key: 'k', value: { value: { case: 'intValue', value: 5n } } })] }),
      );
      // AnyValue field 3 (int_value) sent as a length-delimited field: a wrong wire type only the deep scan sees.
      const at = Buffer.from(bad).indexOf(Buffer.from([0x18, 0x05]));
      bad[at] = 0x1a;
      expectInvalid(() => splitByTrace(bad), 'AnyValue field 3 has wire type 2, expected 0');
      expect(splitByTrace(bad, { deep: false }).spanCount).toBe(2);
    });

    it('every truncation of a valid request is either a valid prefix or an InvalidArgument, never a crash', () => {
      const bytes = ok(
        span(T2, '0000000000000002', 1n, 2n, { attributes: [create(KeyValueSchema, { key: 'k', value: { value: { case: 'intValue', value: 5n } } })] }),
      );
      let refused = 0;
      for (let n = 0; n < bytes.length; n++) {
        try {
          splitByTrace(bytes.subarray(0, n));
        } catch (err) {
          expect(err).toBeInstanceOf(ConnectError);
          expect((err as ConnectError).code).toBe(Code.InvalidArgument);
          refused++;
        }
      }
      expect(refused).toBeGreaterThan(bytes.length / 2);
    });
  });

  describe('invalid UTF-8 in any string field becomes U+FFFD and the batch is kept (docs/limits.md)', () => {
    // Each marker is patched to hold a 0xff byte (never valid UTF-8) once encoded.
    const MARK = 'Zq';
    const bad = (bytes: Uint8Array): Uint8Array => {
      const b = Buffer.from(bytes);
      let n = 0;
      for (let at = b.indexOf(MARK); at >= 0; at = b.indexOf(MARK, at + 1)) {
        b[at] = 0xff;
        n++;
      }
      expect(n).toBeGreaterThan(0);
      return b;
    };
    const spanOf = (r: SplitResult) => fromBinary(ExportTraceServiceRequestSchema, r.traces[0]!.bytes).resourceSpans[0]!;
    const cases: Array<[string, MessageInitShape<typeof SpanSchema>, (rs: ReturnType<typeof spanOf>) => string]> = [
      ['a span name', { name: `op${MARK}` }, (rs) => rs.scopeSpans[0]!.spans[0]!.name],
      [
        'an attribute key',
        { attributes: [{ key: `k${MARK}`, value: { value: { case: 'intValue', value: 1n } } }] },
        (rs) => rs.scopeSpans[0]!.spans[0]!.attributes[0]!.key,
      ],
      [
        'a nested attribute value',
        { attributes: [{ key: 'k', value: { value: { case: 'arrayValue', value: { values: [{ value: { case: 'stringValue', value: `v${MARK}` } }] } } } }] },
        (rs) => {
          const v = rs.scopeSpans[0]!.spans[0]!.attributes[0]!.value!.value;
          return v.case === 'arrayValue' && v.value.values[0]!.value.case === 'stringValue' ? v.value.values[0]!.value.value : '';
        },
      ],
      ['an event name', { events: [{ name: `e${MARK}`, timeUnixNano: 1n }] }, (rs) => rs.scopeSpans[0]!.spans[0]!.events[0]!.name],
      ['a status message', { status: { message: `m${MARK}` } }, (rs) => rs.scopeSpans[0]!.spans[0]!.status!.message],
    ];
    it.each(cases)('in %s', (_name, fields, read) => {
      const bytes = bad(
        toBinary(
          ExportTraceServiceRequestSchema,
          request([
            {
              service: 'svc',
              scopes: [
                {
                  name: 's',
                  spans: [
                    create(SpanSchema, { traceId: bytesOf(T1), spanId: bytesOf('0000000000000002'), startTimeUnixNano: 1n, endTimeUnixNano: 2n, ...fields }),
                  ],
                },
              ],
            },
          ]),
        ),
      );
      const result = splitByTrace(bytes);
      expect(result.spanCount).toBe(1);
      const rs = spanOf(result);
      expect(read(rs)).toContain('\uFFFDq');
      // Everything else is intact.
      expect(hex(rs.scopeSpans[0]!.spans[0]!.traceId)).toBe(T1);
      expect(rs.scopeSpans[0]!.scope!.name).toBe('s');
    });

    it('in resource and scope fields, schema URLs included, with other traces of the batch kept', () => {
      const req = create(ExportTraceServiceRequestSchema, {
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: `svc${MARK}` } } }] },
            schemaUrl: `https://s${MARK}`,
            scopeSpans: [
              {
                scope: { name: `lib${MARK}`, version: '1' },
                schemaUrl: `u${MARK}`,
                spans: [span(T1, '0000000000000002', 1n, 2n), span(T2, '0000000000000003', 1n, 2n)],
              },
            ],
          },
        ],
      });
      const result = splitByTrace(bad(toBinary(ExportTraceServiceRequestSchema, req)));
      expect(result.spanCount).toBe(2);
      expect(result.traces).toHaveLength(2);
      const rs = spanOf(result);
      const svc = rs.resource!.attributes[0]!.value!.value;
      expect(svc.case === 'stringValue' && svc.value).toBe('svc\uFFFDq');
      expect(rs.schemaUrl).toBe('https://s\uFFFDq');
      expect(rs.scopeSpans[0]!.scope!.name).toBe('lib\uFFFDq');
      expect(rs.scopeSpans[0]!.schemaUrl).toBe('u\uFFFDq');
    });

    it('a batch that also has another problem is still refused, naming it', () => {
      const bytes = bad(
        toBinary(
          ExportTraceServiceRequestSchema,
          request([{ service: 'a', scopes: [{ name: 's', spans: [span(T1, '0000000000000002', 1n, 2n, { name: `x${MARK}` })] }] }]),
        ),
      );
      expectInvalid(() => splitByTrace(bytes.subarray(0, bytes.length - 3)), /malformed protobuf/);
    });
  });

  describe('property: the per-trace messages hold exactly the original spans, grouped by trace', () => {
    const traceIds = [T1, T2, T3, '00000000000000000000000000000001'];
    const anyValue: fc.Arbitrary<MessageInitShape<typeof AnyValueSchema>> = fc.letrec<{ v: MessageInitShape<typeof AnyValueSchema> }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.string().map((s) => ({ value: { case: 'stringValue' as const, value: s } })),
        fc.boolean().map((b) => ({ value: { case: 'boolValue' as const, value: b } })),
        fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((n) => ({ value: { case: 'intValue' as const, value: n } })),
        fc.double().map((d) => ({ value: { case: 'doubleValue' as const, value: d } })),
        fc.uint8Array({ maxLength: 8 }).map((b) => ({ value: { case: 'bytesValue' as const, value: b } })),
        fc.array(tie('v'), { maxLength: 3 }).map((values) => ({ value: { case: 'arrayValue' as const, value: { values } } })),
        fc
          .array(fc.record({ key: fc.string(), value: tie('v') }), { maxLength: 3 })
          .map((values) => ({ value: { case: 'kvlistValue' as const, value: { values } } })),
      ),
    })).v;
    const attrs = fc.array(fc.record({ key: fc.string({ maxLength: 8 }), value: anyValue }), { maxLength: 3 });
    const unknownFields = fc.option(
      fc.integer({ min: 0, max: 127 }).map((v) => [{ no: 900, wireType: WireType.Varint, data: Uint8Array.of(v) }]),
      { nil: undefined },
    );
    const spanArb = fc
      .record({
        trace: fc.constantFrom(...traceIds),
        spanId: fc.uint8Array({ minLength: 8, maxLength: 8 }),
        parent: fc.uint8Array({ minLength: 0, maxLength: 8 }).filter((b) => b.length === 0 || b.length === 8),
        name: fc.string({ maxLength: 10, unit: 'grapheme' }),
        kind: fc.integer({ min: 0, max: 5 }),
        start: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        duration: fc.bigInt({ min: 0n, max: 1n << 40n }),
        attributes: attrs,
        events: fc.array(fc.record({ name: fc.string({ maxLength: 5 }), timeUnixNano: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), attributes: attrs }), {
          maxLength: 2,
        }),
        links: fc.array(
          fc.record({
            traceId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
            spanId: fc.uint8Array({ minLength: 8, maxLength: 8 }),
            traceState: fc.string({ maxLength: 5 }),
          }),
          { maxLength: 2 },
        ),
        status: fc.option(fc.record({ code: fc.integer({ min: 0, max: 2 }), message: fc.string({ maxLength: 5 }) }), { nil: undefined }),
        flags: fc.nat(),
        unknown: unknownFields,
      })
      .map((s) => {
        const end = s.start + s.duration > (1n << 64n) - 1n ? s.start : s.start + s.duration;
        const msg = create(SpanSchema, {
          traceId: bytesOf(s.trace),
          spanId: s.spanId,
          parentSpanId: s.parent,
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: s.start,
          endTimeUnixNano: end,
          attributes: s.attributes,
          events: s.events,
          links: s.links,
          status: s.status,
          flags: s.flags,
        });
        if (s.unknown) msg.$unknown = s.unknown;
        return msg;
      });
    const requestArb = fc
      .array(
        fc.record({
          resource: fc.option(fc.record({ attributes: attrs, droppedAttributesCount: fc.nat() }), { nil: undefined }),
          schemaUrl: fc.string({ maxLength: 5 }),
          scopeSpans: fc.array(
            fc.record({
              scope: fc.option(fc.record({ name: fc.string({ maxLength: 5 }), version: fc.string({ maxLength: 3 }), attributes: attrs }), { nil: undefined }),
              schemaUrl: fc.string({ maxLength: 5 }),
              spans: fc.array(spanArb, { maxLength: 6 }),
            }),
            { maxLength: 3 },
          ),
        }),
        { maxLength: 4 },
      )
      .map((resourceSpans) => create(ExportTraceServiceRequestSchema, { resourceSpans }));

    it('holds for random requests', () => {
      fc.assert(
        fc.property(requestArb, (req) => {
          const bytes = toBinary(ExportTraceServiceRequestSchema, req);
          const result = splitByTrace(bytes);
          expectFaithfulSplit(req, result);
          // Times are the min start and max end of each trace's spans.
          for (const t of result.traces) {
            const spans = rows(fromBinary(TracesDataSchema, t.bytes)).map((r) => fromBinary(SpanSchema, bytesOf(r.span)));
            // A zero time is not on the wire (proto3 leaves defaults out), so it does not count.
            const starts = spans.map((s) => s.startTimeUnixNano).filter((n) => n !== 0n);
            expect(t.startUnixNano).toBe(starts.reduce((m, n) => (n < m ? n : m), starts[0] ?? 0n));
            expect(t.endUnixNano).toBe(spans.reduce((m, s) => (s.endTimeUnixNano > m ? s.endTimeUnixNano : m), 0n));
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});
