import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  ExportTraceServiceRequestSchema,
  JaegerBatchSchema,
  JaegerSpanRefType,
  JaegerValueType,
  Span_SpanKind,
  Status_StatusCode,
  type AnyValue,
  type ExportTraceServiceRequest,
  type KeyValue,
  type Span,
} from '@stave/proto';
import { Code, ConnectError } from '@stave/core';
import { JaegerTagType, type JaegerThriftBatch, type JaegerThriftSpan, type JaegerThriftTag } from './jaeger-thrift';
import { DEFAULT_EVENT_NAME, jaegerProtoBatchesToOtlp, jaegerProtoBatchToOtlp, jaegerThriftBatchToOtlp } from './jaeger-to-otlp';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Attributes as a plain object: { key: [case, value] }, so assertions show the OTLP type too. */
function attrs(kvs: KeyValue[]): Record<string, [string | undefined, unknown]> {
  const out: Record<string, [string | undefined, unknown]> = {};
  for (const kv of kvs) {
    const v = (kv.value as AnyValue).value;
    out[kv.key] = [v.case, v.value instanceof Uint8Array ? hex(v.value) : v.value];
  }
  return out;
}

const s = (key: string, vStr: string): JaegerThriftTag => ({ key, vType: JaegerTagType.STRING, vStr });
const b = (key: string, vBool: boolean): JaegerThriftTag => ({ key, vType: JaegerTagType.BOOL, vBool });
const l = (key: string, vLong: bigint): JaegerThriftTag => ({ key, vType: JaegerTagType.LONG, vLong });

function span(overrides: Partial<JaegerThriftSpan> = {}): JaegerThriftSpan {
  return {
    traceIdLow: 0x1122334455667788n,
    traceIdHigh: 0n,
    spanId: 0x0an,
    parentSpanId: 0n,
    operationName: 'op',
    references: [],
    flags: 1,
    startTime: 1_000_000n,
    duration: 10n,
    tags: [],
    logs: [],
    ...overrides,
  };
}

function batch(spans: JaegerThriftSpan[], processTags: JaegerThriftTag[] = []): JaegerThriftBatch {
  return { process: { serviceName: 'svc', tags: processTags }, spans };
}

/** Converts, round-trips through the wire form (as the receivers do) and returns the request. */
function convert(b: JaegerThriftBatch): ExportTraceServiceRequest {
  const req = jaegerThriftBatchToOtlp(b);
  return fromBinary(ExportTraceServiceRequestSchema, toBinary(ExportTraceServiceRequestSchema, req));
}

function onlySpan(req: ExportTraceServiceRequest): Span {
  expect(req.resourceSpans).toHaveLength(1);
  expect(req.resourceSpans[0]!.scopeSpans).toHaveLength(1);
  expect(req.resourceSpans[0]!.scopeSpans[0]!.spans).toHaveLength(1);
  return req.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
}

describe('jaeger thrift → OTLP', () => {
  test('process becomes the resource, with typed tags and the collector renames', () => {
    const req = convert(batch([span()], [s('hostname', 'box-1'), s('jaeger.version', 'Node-3.19.0'), l('cores', 8n), b('canary', true)]));
    expect(attrs(req.resourceSpans[0]!.resource!.attributes)).toEqual({
      'service.name': ['stringValue', 'svc'],
      'host.name': ['stringValue', 'box-1'],
      'opencensus.exporterversion': ['stringValue', 'Jaeger-Node-3.19.0'],
      cores: ['intValue', 8n],
      canary: ['boolValue', true],
    });
  });

  test('an explicit host.name is not overwritten by hostname', () => {
    const req = convert(batch([span()], [s('host.name', 'real'), s('hostname', 'box-1')]));
    expect(attrs(req.resourceSpans[0]!.resource!.attributes)).toMatchObject({ 'host.name': ['stringValue', 'real'], hostname: ['stringValue', 'box-1'] });
  });

  test('IDs, times and flags', () => {
    const sp = onlySpan(
      convert(
        batch([
          span({
            traceIdHigh: -1n,
            traceIdLow: 0x0102030405060708n,
            spanId: -2n,
            parentSpanId: 0x77n,
            startTime: 1_700_000_000_000_001n,
            duration: 1_500n,
            flags: 3,
          }),
        ]),
      ),
    );
    expect(hex(sp.traceId)).toBe('ffffffffffffffff0102030405060708');
    expect(hex(sp.spanId)).toBe('fffffffffffffffe');
    expect(hex(sp.parentSpanId)).toBe('0000000000000077');
    expect(sp.startTimeUnixNano).toBe(1_700_000_000_000_001_000n);
    expect(sp.endTimeUnixNano).toBe(1_700_000_000_001_501_000n);
    expect(sp.flags).toBe(1); // sampled kept, debug (2) has no OTLP bit
    expect(sp.name).toBe('op');
  });

  test('tags of every type become attributes of the same type', () => {
    const sp = onlySpan(
      convert(
        batch([
          span({
            tags: [
              s('str', 'v'),
              { key: 'dbl', vType: JaegerTagType.DOUBLE, vDouble: 2.5 },
              b('flag', false),
              l('n', -42n),
              { key: 'raw', vType: JaegerTagType.BINARY, vBinary: new Uint8Array([1, 2, 255]) },
              { key: 'odd', vType: 9 },
              s('str', 'last wins'),
            ],
          }),
        ]),
      ),
    );
    expect(attrs(sp.attributes)).toEqual({
      str: ['stringValue', 'last wins'],
      dbl: ['doubleValue', 2.5],
      flag: ['boolValue', false],
      n: ['intValue', -42n],
      raw: ['bytesValue', '0102ff'],
      odd: ['stringValue', '<Unknown Jaeger TagType 9>'],
    });
  });

  test.each([
    ['client', Span_SpanKind.CLIENT],
    ['server', Span_SpanKind.SERVER],
    ['producer', Span_SpanKind.PRODUCER],
    ['consumer', Span_SpanKind.CONSUMER],
    ['internal', Span_SpanKind.INTERNAL],
    ['weird', Span_SpanKind.UNSPECIFIED],
  ])('span.kind=%s → kind %s, tag removed', (tag, kind) => {
    const sp = onlySpan(convert(batch([span({ tags: [s('span.kind', tag), s('keep', 'me')] })])));
    expect(sp.kind).toBe(kind);
    expect(Object.keys(attrs(sp.attributes))).toEqual(['keep']);
  });

  const statusCases: Array<[string, JaegerThriftTag[], Status_StatusCode | undefined, string, string[]]> = [
    ['error=true with description', [b('error', true), s('otel.status_description', 'boom')], Status_StatusCode.ERROR, 'boom', []],
    [
      'error=true with http.status_message',
      [b('error', true), s('http.status_message', 'Bad Gateway')],
      Status_StatusCode.ERROR,
      'Bad Gateway',
      ['http.status_message'],
    ],
    ['error=true beats otel.status_code=OK', [b('error', true), s('otel.status_code', 'OK')], Status_StatusCode.ERROR, '', []],
    ['error=false is just a tag', [b('error', false)], undefined, '', ['error']],
    ['error as a string is just a tag', [s('error', 'true')], undefined, '', ['error']],
    ['otel.status_code=OK', [s('otel.status_code', 'OK')], Status_StatusCode.OK, '', []],
    [
      'otel.status_code=error (any case) with description',
      [s('otel.status_code', 'error'), s('otel.status_description', 'why')],
      Status_StatusCode.ERROR,
      'why',
      [],
    ],
    ['http 500 on a client', [s('span.kind', 'client'), l('http.status_code', 500n)], Status_StatusCode.ERROR, '', ['http.status_code']],
    ['http 404 on a client', [s('span.kind', 'client'), l('http.status_code', 404n)], Status_StatusCode.ERROR, '', ['http.status_code']],
    ['http 404 on a server is not an error', [s('span.kind', 'server'), s('http.status_code', '404')], undefined, '', ['http.status_code']],
    ['http 200', [l('http.status_code', 200n)], undefined, '', ['http.status_code']],
  ];
  test.each(statusCases)('status: %s', (_name, tags, code, message, remaining) => {
    const sp = onlySpan(convert(batch([span({ tags })])));
    if (code === undefined) expect(sp.status).toBeUndefined();
    else expect({ code: sp.status?.code, message: sp.status?.message }).toEqual({ code, message });
    expect(Object.keys(attrs(sp.attributes)).sort()).toEqual(remaining.sort());
  });

  test('w3c.tracestate → trace_state', () => {
    const sp = onlySpan(convert(batch([span({ tags: [s('w3c.tracestate', 'vendor=1,other=2')] })])));
    expect(sp.traceState).toBe('vendor=1,other=2');
    expect(sp.attributes).toHaveLength(0);
  });

  test('spans are grouped into scopes by otel.scope.* (or otel.library.*)', () => {
    const req = convert(
      batch([
        span({ spanId: 1n, tags: [s('otel.library.name', 'lib'), s('otel.library.version', '1.0')] }),
        span({ spanId: 2n, tags: [s('otel.scope.name', 'lib'), s('otel.scope.version', '1.0'), s('otel.library.name', 'ignored')] }),
        span({ spanId: 3n }),
      ]),
    );
    const scopes = req.resourceSpans[0]!.scopeSpans;
    expect(scopes.map((ss) => [ss.scope?.name, ss.scope?.version, ss.spans.map((x) => hex(x.spanId))])).toEqual([
      ['lib', '1.0', ['0000000000000001', '0000000000000002']],
      ['', '', ['0000000000000003']],
    ]);
    for (const ss of scopes) for (const x of ss.spans) expect(x.attributes).toHaveLength(0);
  });

  test('logs become events: name from `event`, a default otherwise, µs → ns', () => {
    const sp = onlySpan(
      convert(
        batch([
          span({
            logs: [
              { timestamp: 1_000_001n, fields: [s('event', 'retry'), l('attempt', 2n)] },
              { timestamp: 1_000_002n, fields: [s('message', 'no event field')] },
              { timestamp: 1_000_003n, fields: [] },
            ],
          }),
        ]),
      ),
    );
    expect(sp.events.map((e) => [e.name, e.timeUnixNano, attrs(e.attributes)])).toEqual([
      ['retry', 1_000_001_000n, { attempt: ['intValue', 2n] }],
      [DEFAULT_EVENT_NAME, 1_000_002_000n, { message: ['stringValue', 'no event field'] }],
      [DEFAULT_EVENT_NAME, 1_000_003_000n, {}],
    ]);
  });

  describe('references', () => {
    const trace = { traceIdHigh: 0n, traceIdLow: 0x1122334455667788n };
    const link = (x: Span['links'][number]) => [hex(x.traceId), hex(x.spanId), attrs(x.attributes)['opentracing.ref_type']?.[1]];

    test('parentSpanId wins; its CHILD_OF reference is not repeated as a link', () => {
      const sp = onlySpan(
        convert(
          batch([
            span({
              parentSpanId: 0x99n,
              references: [
                { refType: 0, ...trace, spanId: 0x99n },
                { refType: 1, ...trace, spanId: 0x55n },
                { refType: 0, traceIdHigh: 1n, traceIdLow: 2n, spanId: 0x33n },
              ],
            }),
          ]),
        ),
      );
      expect(hex(sp.parentSpanId)).toBe('0000000000000099');
      expect(sp.links.map(link)).toEqual([
        ['00000000000000001122334455667788', '0000000000000055', 'follows_from'],
        ['00000000000000010000000000000002', '0000000000000033', 'child_of'],
      ]);
    });

    test('no parentSpanId: the first CHILD_OF into the same trace is the parent', () => {
      const sp = onlySpan(
        convert(
          batch([
            span({
              references: [
                { refType: 0, traceIdHigh: 9n, traceIdLow: 9n, spanId: 0x44n }, // other trace: a link
                { refType: 1, ...trace, spanId: 0x55n },
                { refType: 0, ...trace, spanId: 0x66n },
              ],
            }),
          ]),
        ),
      );
      expect(hex(sp.parentSpanId)).toBe('0000000000000066');
      expect(sp.links.map(link)).toEqual([
        ['00000000000000090000000000000009', '0000000000000044', 'child_of'],
        ['00000000000000001122334455667788', '0000000000000055', 'follows_from'],
      ]);
    });

    test('only FOLLOWS_FROM into the trace: it is the parent and stays a link', () => {
      const sp = onlySpan(convert(batch([span({ references: [{ refType: 1, ...trace, spanId: 0x55n }] })])));
      expect(hex(sp.parentSpanId)).toBe('0000000000000055');
      expect(sp.links.map(link)).toEqual([['00000000000000001122334455667788', '0000000000000055', 'follows_from']]);
    });

    test('a root span has no parent', () => {
      const sp = onlySpan(convert(batch([span()])));
      expect(sp.parentSpanId).toHaveLength(0);
      expect(sp.links).toHaveLength(0);
    });
  });

  test('a blank span is dropped; a batch keeps its resource', () => {
    const blank = span({ traceIdLow: 0n, spanId: 0n, operationName: '', startTime: 0n, duration: 0n, flags: 0 });
    const req = convert(batch([blank]));
    expect(req.resourceSpans).toHaveLength(1);
    expect(req.resourceSpans[0]!.scopeSpans).toHaveLength(0);
  });

  test('negative times clamp to 0 instead of wrapping', () => {
    const sp = onlySpan(convert(batch([span({ startTime: -5n, duration: 1n })])));
    expect(sp.startTimeUnixNano).toBe(0n);
    expect(sp.endTimeUnixNano).toBe(0n);
  });
});

describe('jaeger api_v2 proto → OTLP', () => {
  const traceId = Buffer.from('0123456789abcdeffedcba9876543210', 'hex');
  const kv = (key: string, v: Record<string, unknown>) => ({ key, ...v });

  test('typed tags, process, references, logs and timestamps', () => {
    const pb = create(JaegerBatchSchema, {
      process: { serviceName: 'api', tags: [kv('hostname', { vType: JaegerValueType.STRING, vStr: 'h' })] },
      spans: [
        {
          traceId,
          spanId: Buffer.from('00000000000000aa', 'hex'),
          operationName: 'handle',
          references: [
            { traceId, spanId: Buffer.from('00000000000000bb', 'hex'), refType: JaegerSpanRefType.CHILD_OF },
            { traceId, spanId: Buffer.from('00000000000000cc', 'hex'), refType: JaegerSpanRefType.FOLLOWS_FROM },
          ],
          flags: 1,
          startTime: { seconds: 1_700_000_000n, nanos: 123_456_789 },
          duration: { seconds: 1n, nanos: 5 },
          tags: [
            kv('s', { vType: JaegerValueType.STRING, vStr: 'x' }),
            kv('b', { vType: JaegerValueType.BOOL, vBool: true }),
            kv('i', { vType: JaegerValueType.INT64, vInt64: -7n }),
            kv('f', { vType: JaegerValueType.FLOAT64, vFloat64: 0.25 }),
            kv('bin', { vType: JaegerValueType.BINARY, vBinary: new Uint8Array([9]) }),
            kv('span.kind', { vType: JaegerValueType.STRING, vStr: 'server' }),
          ],
          logs: [{ timestamp: timestampFromMs(1_700_000_000_500), fields: [kv('event', { vType: JaegerValueType.STRING, vStr: 'done' })] }],
        },
      ],
    });
    const req = fromBinary(ExportTraceServiceRequestSchema, toBinary(ExportTraceServiceRequestSchema, jaegerProtoBatchToOtlp(pb)));
    expect(attrs(req.resourceSpans[0]!.resource!.attributes)).toEqual({ 'service.name': ['stringValue', 'api'], 'host.name': ['stringValue', 'h'] });
    const sp = onlySpan(req);
    expect(hex(sp.traceId)).toBe('0123456789abcdeffedcba9876543210');
    expect(hex(sp.parentSpanId)).toBe('00000000000000bb');
    expect(sp.kind).toBe(Span_SpanKind.SERVER);
    expect(sp.startTimeUnixNano).toBe(1_700_000_000_123_456_789n);
    expect(sp.endTimeUnixNano).toBe(1_700_000_001_123_456_794n);
    expect(attrs(sp.attributes)).toEqual({
      s: ['stringValue', 'x'],
      b: ['boolValue', true],
      i: ['intValue', -7n],
      f: ['doubleValue', 0.25],
      bin: ['bytesValue', '09'],
    });
    expect(sp.events.map((e) => [e.name, e.timeUnixNano])).toEqual([['done', 1_700_000_000_500_000_000n]]);
    expect(sp.links.map((x) => hex(x.spanId))).toEqual(['00000000000000cc']);
  });

  test('a span with its own process lands in its own resource', () => {
    const mk = (id: string, process?: { serviceName: string }) => ({
      traceId,
      spanId: Buffer.from(id, 'hex'),
      operationName: id,
      startTime: { seconds: 1n },
      ...(process ? { process } : {}),
    });
    const req = jaegerProtoBatchesToOtlp([
      create(JaegerBatchSchema, { process: { serviceName: 'a' }, spans: [mk('0000000000000001'), mk('0000000000000002', { serviceName: 'b' })] }),
      create(JaegerBatchSchema, { process: { serviceName: 'b' }, spans: [mk('0000000000000003')] }),
    ]);
    expect(
      req.resourceSpans.map((rs) => [attrs(rs.resource!.attributes)['service.name']?.[1], rs.scopeSpans.flatMap((ss) => ss.spans.map((x) => x.name))]),
    ).toEqual([
      ['a', ['0000000000000001']],
      ['b', ['0000000000000002', '0000000000000003']],
    ]);
  });

  test.each([
    ['trace_id of 8 bytes', { traceId: new Uint8Array(8), spanId: new Uint8Array(8) }, /jaeger span\[0\]: trace_id must be 16 bytes, got 8/],
    ['span_id of 4 bytes', { traceId, spanId: new Uint8Array(4) }, /jaeger span\[0\]: span_id must be 8 bytes, got 4/],
    [
      'reference span_id of 9 bytes',
      { traceId, spanId: new Uint8Array(8), references: [{ traceId, spanId: new Uint8Array(9) }] },
      /jaeger span\[0\] reference\[0\]: span_id must be 8 bytes, got 9/,
    ],
  ])('%s is InvalidArgument', (_name, spanInit, pattern) => {
    let caught: unknown;
    try {
      jaegerProtoBatchToOtlp(create(JaegerBatchSchema, { spans: [spanInit] }));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConnectError);
    expect((caught as ConnectError).code).toBe(Code.InvalidArgument);
    expect((caught as ConnectError).rawMessage).toMatch(pattern);
  });
});
