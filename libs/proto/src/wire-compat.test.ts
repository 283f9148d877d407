// Proves that our .proto files match the official definitions on the wire.
//
// OTLP: a span with every kind of field is built by the real OpenTelemetry JS SDK and encoded
// by the real OTLP serializer (@opentelemetry/otlp-transformer, the code behind the OTLP/proto
// and OTLP/gRPC exporters); we decode those bytes with our schema and check every field. A
// wrong field number or type shows up as a wrong value, a decode error, or an unknown field.
//
// Jaeger and Zipkin have no protobuf client in npm, so their messages are checked by round trip
// plus hand-computed bytes for chosen fields: the tag byte is (field_number << 3) | wire_type.
import { create, equals, fromBinary, toBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, createTraceState, trace, type Attributes, type Link } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  ExportTraceServiceRequestSchema,
  ExportTraceServiceResponseSchema,
  Frontend,
  FrontendBatchSchema,
  JaegerBatchSchema,
  JaegerCollectorService,
  JaegerKeyValueSchema,
  JaegerPostSpansRequestSchema,
  JaegerSpanRefSchema,
  JaegerSpanRefType,
  JaegerSpanSchema,
  JaegerValueType,
  PushBytesRequestSchema,
  PushErrorReason,
  PushResponseSchema,
  Pusher,
  Querier,
  QueryMode,
  ResourceSchema,
  SpanFlags,
  SpanSchema,
  Span_SpanKind,
  Status_StatusCode,
  TraceByIDRequestSchema,
  TraceByIDResponseSchema,
  TraceSchema,
  TraceService,
  TracesDataSchema,
  WorkerMessageSchema,
  ZipkinAnnotationSchema,
  ZipkinEndpointSchema,
  ZipkinListOfSpansSchema,
  ZipkinSpanSchema,
  ZipkinSpanService,
  ZipkinSpan_Kind,
  type AnyValue,
  type KeyValue,
} from './index';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const bytesOf = (hexString: string): Uint8Array => new Uint8Array(Buffer.from(hexString, 'hex'));

/** Plain JS view of an AnyValue, to compare attribute lists in one assertion. */
function plain(value: AnyValue | undefined): unknown {
  const v = value?.value;
  if (v === undefined || v.case === undefined) return undefined;
  switch (v.case) {
    case 'arrayValue':
      return v.value.values.map(plain);
    case 'kvlistValue':
      return attributes(v.value.values);
    case 'intValue':
      return { int: v.value };
    case 'doubleValue':
      return { double: v.value };
    default:
      return v.value;
  }
}
function attributes(list: KeyValue[]): Record<string, unknown> {
  return Object.fromEntries(list.map((kv) => [kv.key, plain(kv.value)]));
}

/** Every message in the tree, to prove no field landed in unknown fields. */
function unknownFieldPaths(value: unknown, at = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => unknownFieldPaths(item, `${at}[${i}]`));
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return [];
  const record = value as Record<string, unknown>;
  const here = Array.isArray(record['$unknown']) && record['$unknown'].length > 0 ? [at] : [];
  return here.concat(
    Object.entries(record)
      .filter(([key]) => key !== '$unknown')
      .flatMap(([key, child]) => unknownFieldPaths(child, `${at}.${key}`)),
  );
}

describe('OTLP: bytes from the real OpenTelemetry JS serializer', () => {
  const parentTraceId = '0af7651916cd43dd8448eb211c80319c';
  const parentSpanId = 'b7ad6b7169203331';
  const linkTraceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const linkSpanId = '00f067aa0ba902b7';

  function recordSpans(): ReadableSpan[] {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes(
        { 'service.name': 'checkout', 'process.pid': 4242, 'host.arch': 'amd64' },
        { schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' },
      ),
      // Small limits so that every dropped_* counter is non-zero.
      spanLimits: {
        attributeCountLimit: 11,
        eventCountLimit: 2,
        linkCountLimit: 1,
        attributePerEventCountLimit: 1,
        attributePerLinkCountLimit: 1,
      },
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('stave-wire-test', '1.2.3', { schemaUrl: 'https://example.com/scope-schema' });
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: parentTraceId,
      spanId: parentSpanId,
      traceFlags: 1,
      isRemote: true,
      traceState: createTraceState('vendor=abc,other=xyz'),
    });
    // Over the limit, the SDK keeps the newest link.
    const links: Link[] = [
      { context: { traceId: linkTraceId, spanId: 'aaaaaaaaaaaaaaaa', traceFlags: 0 } },
      {
        context: { traceId: linkTraceId, spanId: linkSpanId, traceFlags: 1, isRemote: false, traceState: createTraceState('lk=1') },
        attributes: { 'link.reason': 'batch', 'link.index': 0 },
      },
    ];
    const span = tracer.startSpan('GET /cart', { kind: SpanKind.SERVER, startTime: [1_700_000_000, 123_456_789], links }, parent);
    span.setAttributes({
      'attr.string': 'hello',
      'attr.bool': true,
      'attr.int': 42,
      'attr.int.negative': -7,
      'attr.int.large': 2 ** 40,
      'attr.double': 3.25,
      'attr.string.array': ['a', 'b'],
      'attr.int.array': [1, 2, 3],
      'attr.bool.array': [true, false],
      'attr.double.array': [1.5, -2.5],
      'attr.empty.array': [],
      'attr.over.limit': 'dropped',
    });
    // Over the limit, the SDK drops the oldest event.
    span.addEvent('over.event.limit', {}, [1_700_000_000, 400_000_000]);
    span.addEvent('cache.miss', { 'cache.key': 'cart:1', 'cache.size': 12 }, [1_700_000_000, 500_000_000]);
    span.addEvent('retry', { attempt: 2 }, [1_700_000_000, 600_000_000]);
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'payment declined' });
    span.end([1_700_000_001, 5]);
    return exporter.getFinishedSpans();
  }

  // The SDK's attribute API has no bytes or maps, but the serializer encodes them (they are legal
  // in OTLP), so one more span is handed to it directly to cover bytes_value and kvlist_value.
  function handMadeSpan(like: ReadableSpan): ReadableSpan {
    const context = { traceId: parentTraceId, spanId: '1111111111111111', traceFlags: 0 };
    return {
      ...like,
      name: 'any-values',
      kind: SpanKind.INTERNAL,
      spanContext: () => context,
      parentSpanContext: undefined,
      attributes: {
        'attr.bytes': new Uint8Array([0, 1, 254, 255]),
        'attr.map': { inner: 'x', depth: 2, nested: { ok: true } },
      } as unknown as Attributes,
      links: [],
      events: [],
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  }

  it('decodes ExportTraceServiceRequest field by field', () => {
    const [recorded] = recordSpans();
    expect(recorded).toBeDefined();
    const sdkSpan = recorded as ReadableSpan;
    const bytes = ProtobufTraceSerializer.serializeRequest([sdkSpan, handMadeSpan(sdkSpan)]);
    expect(bytes).toBeInstanceOf(Uint8Array);

    const request = fromBinary(ExportTraceServiceRequestSchema, bytes as Uint8Array);
    expect(unknownFieldPaths(request)).toEqual([]);

    expect(request.resourceSpans).toHaveLength(1);
    const resourceSpans = request.resourceSpans[0]!;
    expect(resourceSpans.schemaUrl).toBe('https://opentelemetry.io/schemas/1.26.0');
    expect(attributes(resourceSpans.resource!.attributes)).toEqual({
      'service.name': 'checkout',
      'process.pid': { int: 4242n },
      'host.arch': 'amd64',
    });
    expect(resourceSpans.resource!.droppedAttributesCount).toBe(0);

    expect(resourceSpans.scopeSpans).toHaveLength(1);
    const scopeSpans = resourceSpans.scopeSpans[0]!;
    expect(scopeSpans.scope?.name).toBe('stave-wire-test');
    expect(scopeSpans.scope?.version).toBe('1.2.3');
    expect(scopeSpans.schemaUrl).toBe('https://example.com/scope-schema');
    expect(scopeSpans.spans).toHaveLength(2);

    const span = scopeSpans.spans[0]!;
    expect(hex(span.traceId)).toBe(parentTraceId);
    expect(hex(span.spanId)).toBe(sdkSpan.spanContext().spanId);
    expect(hex(span.parentSpanId)).toBe(parentSpanId);
    expect(span.traceState).toBe('vendor=abc,other=xyz');
    // Sampled, parent remoteness known, parent remote.
    expect(span.flags).toBe(0x01 | SpanFlags.CONTEXT_HAS_IS_REMOTE_MASK | SpanFlags.CONTEXT_IS_REMOTE_MASK);
    expect(span.name).toBe('GET /cart');
    expect(span.kind).toBe(Span_SpanKind.SERVER);
    expect(span.startTimeUnixNano).toBe(1_700_000_000_123_456_789n);
    expect(span.endTimeUnixNano).toBe(1_700_000_001_000_000_005n);
    expect(attributes(span.attributes)).toEqual({
      'attr.string': 'hello',
      'attr.bool': true,
      'attr.int': { int: 42n },
      'attr.int.negative': { int: -7n },
      'attr.int.large': { int: 2n ** 40n },
      'attr.double': { double: 3.25 },
      'attr.string.array': ['a', 'b'],
      'attr.int.array': [{ int: 1n }, { int: 2n }, { int: 3n }],
      'attr.bool.array': [true, false],
      'attr.double.array': [{ double: 1.5 }, { double: -2.5 }],
      'attr.empty.array': [],
    });
    expect(span.droppedAttributesCount).toBe(1);
    expect(span.droppedAttributesCount).toBe(sdkSpan.droppedAttributesCount);

    expect(span.events.map((e) => [e.name, e.timeUnixNano, attributes(e.attributes), e.droppedAttributesCount])).toEqual([
      ['cache.miss', 1_700_000_000_500_000_000n, { 'cache.key': 'cart:1' }, 1],
      ['retry', 1_700_000_000_600_000_000n, { attempt: { int: 2n } }, 0],
    ]);
    expect(span.droppedEventsCount).toBe(1);

    expect(span.links).toHaveLength(1);
    const link = span.links[0]!;
    expect(hex(link.traceId)).toBe(linkTraceId);
    expect(hex(link.spanId)).toBe(linkSpanId);
    expect(link.traceState).toBe('lk=1');
    expect(attributes(link.attributes)).toEqual({ 'link.reason': 'batch' });
    expect(link.droppedAttributesCount).toBe(1);
    expect(link.flags).toBe(0x01 | SpanFlags.CONTEXT_HAS_IS_REMOTE_MASK);
    expect(span.droppedLinksCount).toBe(1);

    expect(span.status?.code).toBe(Status_StatusCode.ERROR);
    expect(span.status?.message).toBe('payment declined');

    const anyValues = scopeSpans.spans[1]!;
    expect(anyValues.name).toBe('any-values');
    expect(anyValues.kind).toBe(Span_SpanKind.INTERNAL);
    expect(anyValues.parentSpanId).toHaveLength(0);
    expect(attributes(anyValues.attributes)).toEqual({
      'attr.bytes': new Uint8Array([0, 1, 254, 255]),
      'attr.map': { inner: 'x', depth: { int: 2n }, nested: { ok: true } },
    });
  });

  it('reads the same bytes as TracesData (Stave stores per-trace TracesData)', () => {
    const [recorded] = recordSpans();
    const bytes = ProtobufTraceSerializer.serializeRequest([recorded as ReadableSpan]) as Uint8Array;
    const asRequest = fromBinary(ExportTraceServiceRequestSchema, bytes);
    const asTracesData = fromBinary(TracesDataSchema, bytes);
    const asStaveTrace = fromBinary(TraceSchema, bytes);
    expect(unknownFieldPaths(asTracesData)).toEqual([]);
    expect(asTracesData.resourceSpans).toEqual(asRequest.resourceSpans);
    expect(asStaveTrace.resourceSpans).toEqual(asRequest.resourceSpans);
    // Re-encoding with our schema and decoding again loses nothing.
    const again = fromBinary(ExportTraceServiceRequestSchema, toBinary(ExportTraceServiceRequestSchema, asRequest));
    expect(equals(ExportTraceServiceRequestSchema, again, asRequest)).toBe(true);
  });

  it('answers in a form the real exporter understands (partial success)', () => {
    const response = create(ExportTraceServiceResponseSchema, {
      partialSuccess: { rejectedSpans: 3n, errorMessage: 'max_bytes_per_trace exceeded' },
    });
    const decoded = ProtobufTraceSerializer.deserializeResponse(toBinary(ExportTraceServiceResponseSchema, response));
    expect(decoded.partialSuccess?.errorMessage).toBe('max_bytes_per_trace exceeded');
    expect(Number(decoded.partialSuccess?.rejectedSpans)).toBe(3);
  });
});

describe('hand-computed wire bytes', () => {
  // Each case sets a single field, so the encoding is tag + payload and a wrong field number or
  // wire type changes the first byte(s).
  const cases: Array<{ name: string; schema: DescMessage; init: Record<string, unknown>; bytes: string }> = [
    { name: 'Zipkin Span.trace_id = 1 (bytes)', schema: ZipkinSpanSchema, init: { traceId: bytesOf('0102') }, bytes: '0a020102' },
    { name: 'Zipkin Span.id = 3 (bytes)', schema: ZipkinSpanSchema, init: { id: bytesOf('ab') }, bytes: '1a01ab' },
    { name: 'Zipkin Span.kind = 4 (enum)', schema: ZipkinSpanSchema, init: { kind: ZipkinSpan_Kind.SERVER }, bytes: '2002' },
    { name: 'Zipkin Span.timestamp = 6 (fixed64)', schema: ZipkinSpanSchema, init: { timestamp: 1n }, bytes: '310100000000000000' },
    { name: 'Zipkin Span.duration = 7 (uint64)', schema: ZipkinSpanSchema, init: { duration: 150n }, bytes: '389601' },
    { name: 'Zipkin Span.tags = 11 (map)', schema: ZipkinSpanSchema, init: { tags: { k: 'v' } }, bytes: '5a060a016b120176' },
    { name: 'Zipkin Span.shared = 13 (bool)', schema: ZipkinSpanSchema, init: { shared: true }, bytes: '6801' },
    { name: 'Zipkin Endpoint.port = 4 (int32)', schema: ZipkinEndpointSchema, init: { port: 8080 }, bytes: '20903f' },
    { name: 'Zipkin Annotation.timestamp = 1 (fixed64)', schema: ZipkinAnnotationSchema, init: { timestamp: 2n }, bytes: '090200000000000000' },
    { name: 'Jaeger Span.operation_name = 3 (string)', schema: JaegerSpanSchema, init: { operationName: 'op' }, bytes: '1a026f70' },
    { name: 'Jaeger Span.flags = 5 (uint32)', schema: JaegerSpanSchema, init: { flags: 1 }, bytes: '2801' },
    { name: 'Jaeger Span.start_time = 6 (Timestamp)', schema: JaegerSpanSchema, init: { startTime: timestampFromMs(1000) }, bytes: '32020801' },
    { name: 'Jaeger Span.duration = 7 (Duration)', schema: JaegerSpanSchema, init: { duration: { seconds: 0n, nanos: 5 } }, bytes: '3a021005' },
    { name: 'Jaeger Span.process_id = 11 (string)', schema: JaegerSpanSchema, init: { processId: 'p' }, bytes: '5a0170' },
    { name: 'Jaeger KeyValue.v_type = 2 (enum)', schema: JaegerKeyValueSchema, init: { vType: JaegerValueType.INT64 }, bytes: '1002' },
    { name: 'Jaeger KeyValue.v_int64 = 5 (int64, not zigzag)', schema: JaegerKeyValueSchema, init: { vInt64: -1n }, bytes: '28ffffffffffffffffff01' },
    { name: 'Jaeger KeyValue.v_float64 = 6 (double)', schema: JaegerKeyValueSchema, init: { vFloat64: 1 }, bytes: '31000000000000f03f' },
    { name: 'Jaeger SpanRef.ref_type = 3 (enum)', schema: JaegerSpanRefSchema, init: { refType: JaegerSpanRefType.FOLLOWS_FROM }, bytes: '1801' },
    { name: 'OTLP Span.flags = 16 (fixed32)', schema: SpanSchema, init: { flags: 0x101 }, bytes: '850101010000' },
    { name: 'OTLP Resource.entity_refs = 3', schema: ResourceSchema, init: { entityRefs: [{ type: 'service' }] }, bytes: '1a09120773657276696365' },
    {
      name: 'stave PushResponse.errors_by_trace = 1 (packed enum)',
      schema: PushResponseSchema,
      init: { errorsByTrace: [PushErrorReason.NO_ERROR, PushErrorReason.TRACE_TOO_LARGE] },
      bytes: '0a020002',
    },
    { name: 'stave TraceByIDRequest.query_mode = 5 (enum)', schema: TraceByIDRequestSchema, init: { queryMode: QueryMode.BLOCKS }, bytes: '2802' },
    { name: 'stave TraceByIDRequest.end_unix_seconds = 7 (int64)', schema: TraceByIDRequestSchema, init: { endUnixSeconds: 1n }, bytes: '3801' },
  ];

  it.each(cases)('$name', ({ schema, init, bytes }) => {
    const message = create(schema, init as never) as Message;
    expect(hex(toBinary(schema, message))).toBe(bytes);
  });
});

describe('round trips', () => {
  it('Jaeger PostSpansRequest with every field set', () => {
    const request = create(JaegerPostSpansRequestSchema, {
      batch: {
        process: { serviceName: 'frontend', tags: [{ key: 'hostname', vStr: 'web-1' }] },
        spans: [
          {
            traceId: bytesOf('0af7651916cd43dd8448eb211c80319c'),
            spanId: bytesOf('b7ad6b7169203331'),
            operationName: 'HTTP GET',
            references: [{ traceId: bytesOf('0af7651916cd43dd8448eb211c80319c'), spanId: bytesOf('00f067aa0ba902b7'), refType: JaegerSpanRefType.CHILD_OF }],
            flags: 1,
            startTime: timestampFromMs(1_700_000_000_123),
            duration: { seconds: 1n, nanos: 500 },
            tags: [
              { key: 's', vType: JaegerValueType.STRING, vStr: 'x' },
              { key: 'b', vType: JaegerValueType.BOOL, vBool: true },
              { key: 'i', vType: JaegerValueType.INT64, vInt64: -5n },
              { key: 'f', vType: JaegerValueType.FLOAT64, vFloat64: 0.5 },
              { key: 'bin', vType: JaegerValueType.BINARY, vBinary: bytesOf('00ff') },
            ],
            logs: [{ timestamp: timestampFromMs(1_700_000_000_200), fields: [{ key: 'event', vStr: 'retry' }] }],
            process: { serviceName: 'override' },
            processId: 'p1',
            warnings: ['clock skew adjusted'],
          },
        ],
      },
    });
    const decoded = fromBinary(JaegerPostSpansRequestSchema, toBinary(JaegerPostSpansRequestSchema, request));
    expect(equals(JaegerPostSpansRequestSchema, decoded, request)).toBe(true);
    expect(decoded.batch?.spans[0]?.tags[2]?.vInt64).toBe(-5n);
    // Batch is also what the Thrift-to-proto path produces: it must stand alone too.
    const batch = fromBinary(JaegerBatchSchema, toBinary(JaegerBatchSchema, request.batch!));
    expect(batch.process?.serviceName).toBe('frontend');
  });

  it('Zipkin ListOfSpans with every field set', () => {
    const list = create(ZipkinListOfSpansSchema, {
      spans: [
        {
          traceId: bytesOf('0af7651916cd43dd8448eb211c80319c'),
          parentId: bytesOf('b7ad6b7169203331'),
          id: bytesOf('00f067aa0ba902b7'),
          kind: ZipkinSpan_Kind.CLIENT,
          name: 'get /cart',
          timestamp: 1_502_787_600_000_000n,
          duration: 150_000n,
          localEndpoint: { serviceName: 'frontend', ipv4: bytesOf('0a000001'), port: 8080 },
          remoteEndpoint: { serviceName: 'cart', ipv6: bytesOf('20010db8000000000000000000000001'), port: 443 },
          annotations: [{ timestamp: 1_502_787_600_100_000n, value: 'ws' }],
          tags: { 'http.method': 'GET', 'http.path': '/cart' },
          debug: true,
          shared: true,
        },
      ],
    });
    const decoded = fromBinary(ZipkinListOfSpansSchema, toBinary(ZipkinListOfSpansSchema, list));
    expect(equals(ZipkinListOfSpansSchema, decoded, list)).toBe(true);
    expect(decoded.spans[0]?.tags).toEqual({ 'http.method': 'GET', 'http.path': '/cart' });
  });

  it('stave.v1 push, query and frontend-stream messages', () => {
    const push = create(PushBytesRequestSchema, { tenant: 't1', traces: [bytesOf('0a00')], ids: [bytesOf('00'.repeat(16))] });
    expect(equals(PushBytesRequestSchema, fromBinary(PushBytesRequestSchema, toBinary(PushBytesRequestSchema, push)), push)).toBe(true);

    const response = create(TraceByIDResponseSchema, {
      trace: { resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'x' }] }] }] },
      metrics: { inspectedBytes: 1024n, blocksInspected: 3 },
    });
    const hello = create(WorkerMessageSchema, { payload: { case: 'hello', value: { querierId: 'querier-0', parallelism: 8 } } });
    expect(equals(WorkerMessageSchema, fromBinary(WorkerMessageSchema, toBinary(WorkerMessageSchema, hello)), hello)).toBe(true);

    const job = create(WorkerMessageSchema, {
      payload: { case: 'results', value: { results: [{ jobId: 'j1', outcome: { case: 'traceById', value: response } }] } },
    });
    const jobBack = fromBinary(WorkerMessageSchema, toBinary(WorkerMessageSchema, job));
    expect(equals(WorkerMessageSchema, jobBack, job)).toBe(true);

    const failed = create(WorkerMessageSchema, {
      payload: {
        case: 'results',
        value: { results: [{ jobId: 'j2', outcome: { case: 'error', value: { httpStatus: 503, message: 'overloaded' } } }] },
      },
    });
    expect(equals(WorkerMessageSchema, fromBinary(WorkerMessageSchema, toBinary(WorkerMessageSchema, failed)), failed)).toBe(true);

    const work = create(FrontendBatchSchema, {
      jobs: [
        { jobId: 'j1', job: { case: 'traceById', value: { tenant: 't1', traceId: bytesOf('01'.repeat(16)), queryMode: QueryMode.INGESTERS } } },
        { jobId: 'j2', job: { case: 'searchTags', value: { tenant: 't1', scope: 'span' } } },
      ],
    });
    expect(equals(FrontendBatchSchema, fromBinary(FrontendBatchSchema, toBinary(FrontendBatchSchema, work)), work)).toBe(true);
  });
});

describe('gRPC method paths', () => {
  const path = (service: { typeName: string }, method: { name: string }): string => `/${service.typeName}/${method.name}`;
  it.each([
    [path(TraceService, TraceService.method.export), '/opentelemetry.proto.collector.trace.v1.TraceService/Export'],
    [path(JaegerCollectorService, JaegerCollectorService.method.postSpans), '/jaeger.api_v2.CollectorService/PostSpans'],
    [path(ZipkinSpanService, ZipkinSpanService.method.report), '/zipkin.proto3.SpanService/Report'],
    [path(Pusher, Pusher.method.pushBytes), '/stave.v1.Pusher/PushBytes'],
    [path(Querier, Querier.method.findTraceByID), '/stave.v1.Querier/FindTraceByID'],
    [path(Querier, Querier.method.search), '/stave.v1.Querier/Search'],
    [path(Frontend, Frontend.method.process), '/stave.v1.Frontend/Process'],
  ])('%s', (actual, expected) => {
    expect(actual).toBe(expected);
  });

  it('the frontend worker stream is bidirectional', () => {
    expect(Frontend.method.process.methodKind).toBe('bidi_streaming');
  });
});
