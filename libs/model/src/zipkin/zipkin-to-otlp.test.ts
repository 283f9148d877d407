import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  ExportTraceServiceRequestSchema,
  Span_SpanKind,
  Status_StatusCode,
  ZipkinListOfSpansSchema,
  ZipkinSpan_Kind,
  type AnyValue,
  type ExportTraceServiceRequest,
  type KeyValue,
  type Span,
} from '@stave/proto';
import { Code, ConnectError } from '@stave/core';
import { ipv6FromBytes } from './zipkin-model';
import { ZIPKIN_ATTR, zipkinProtoToOtlp, zipkinV1JsonToOtlp, zipkinV2JsonToOtlp } from './zipkin-to-otlp';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function attrs(kvs: KeyValue[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs) out[kv.key] = (kv.value as AnyValue).value.value;
  return out;
}

function wire(req: ExportTraceServiceRequest): ExportTraceServiceRequest {
  return fromBinary(ExportTraceServiceRequestSchema, toBinary(ExportTraceServiceRequestSchema, req));
}

function allSpans(req: ExportTraceServiceRequest): Span[] {
  return req.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
}

function expectInvalid(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConnectError);
  expect((caught as ConnectError).code).toBe(Code.InvalidArgument);
  expect((caught as ConnectError).rawMessage).toMatch(pattern);
}

const v2 = (spans: unknown[]) => wire(zipkinV2JsonToOtlp(JSON.stringify(spans)));

describe('zipkin v2 JSON → OTLP', () => {
  const base = {
    traceId: '5af7183fb1d4cf5f',
    id: '352bff9a74ca9ad2',
    name: 'get /api',
    timestamp: 1_556_604_172_355_737,
    duration: 1431,
    localEndpoint: { serviceName: 'backend', ipv4: '192.168.99.1', port: 3306 },
  };

  test('a full span, field by field', () => {
    const req = v2([
      {
        ...base,
        traceId: '463ac35c9f6413ad48485a3953bb6124',
        parentId: '6b221d5bc9e6496c',
        kind: 'SERVER',
        remoteEndpoint: { serviceName: 'frontend', ipv6: '2001:db8::c001', port: 63_837 },
        annotations: [{ timestamp: 1_556_604_172_355_800, value: 'wr' }],
        tags: { 'http.method': 'GET', 'http.path': '/api', 'w3c.tracestate': 'a=b' },
        debug: true,
      },
    ]);
    expect(req.resourceSpans).toHaveLength(1);
    expect(attrs(req.resourceSpans[0]!.resource!.attributes)).toEqual({ 'service.name': 'backend' });
    const [sp] = allSpans(req);
    expect(hex(sp!.traceId)).toBe('463ac35c9f6413ad48485a3953bb6124');
    expect(hex(sp!.spanId)).toBe('352bff9a74ca9ad2');
    expect(hex(sp!.parentSpanId)).toBe('6b221d5bc9e6496c');
    expect(sp!.name).toBe('get /api');
    expect(sp!.kind).toBe(Span_SpanKind.SERVER);
    expect(sp!.traceState).toBe('a=b');
    expect(sp!.startTimeUnixNano).toBe(1_556_604_172_355_737_000n);
    expect(sp!.endTimeUnixNano).toBe(1_556_604_172_357_168_000n);
    expect(sp!.events.map((e) => [e.name, e.timeUnixNano])).toEqual([['wr', 1_556_604_172_355_800_000n]]);
    expect(sp!.status).toBeUndefined();
    expect(attrs(sp!.attributes)).toEqual({
      'http.method': 'GET',
      'http.path': '/api',
      [ZIPKIN_ATTR.localAddress]: '192.168.99.1',
      [ZIPKIN_ATTR.localPort]: 3306n,
      [ZIPKIN_ATTR.peerService]: 'frontend',
      [ZIPKIN_ATTR.peerAddress]: '2001:db8::c001',
      [ZIPKIN_ATTR.peerPort]: 63_837n,
      [ZIPKIN_ATTR.debug]: true,
    });
  });

  test('a 64-bit trace ID is left-padded to 16 bytes; short IDs are padded too', () => {
    const [sp] = allSpans(v2([{ ...base, traceId: 'abc', id: '1' }]));
    expect(hex(sp!.traceId)).toBe('00000000000000000000000000000abc');
    expect(hex(sp!.spanId)).toBe('0000000000000001');
  });

  test.each([
    ['CLIENT', Span_SpanKind.CLIENT],
    ['SERVER', Span_SpanKind.SERVER],
    ['PRODUCER', Span_SpanKind.PRODUCER],
    ['CONSUMER', Span_SpanKind.CONSUMER],
  ])('kind %s', (kind, want) => {
    expect(allSpans(v2([{ ...base, kind }]))[0]!.kind).toBe(want);
  });

  test('no kind: unspecified, or internal when tagged span.kind=internal', () => {
    expect(allSpans(v2([{ ...base }]))[0]!.kind).toBe(Span_SpanKind.UNSPECIFIED);
    const sp = allSpans(v2([{ ...base, localEndpoint: { serviceName: 's' }, tags: { 'span.kind': 'internal' } }]))[0]!;
    expect(sp.kind).toBe(Span_SpanKind.INTERNAL);
    expect(sp.attributes).toHaveLength(0);
  });

  const statusCases: Array<[string, Record<string, string>, Status_StatusCode | undefined, string, Record<string, unknown>]> = [
    ['error tag with a message (Zipkin semantics)', { error: 'connection refused' }, Status_StatusCode.ERROR, 'connection refused', {}],
    ['error=true', { error: 'true' }, Status_StatusCode.ERROR, '', {}],
    ['error empty', { error: '' }, Status_StatusCode.ERROR, '', {}],
    ['OTel SDK form: otel.status_code=ERROR + error=message', { 'otel.status_code': 'ERROR', error: 'boom' }, Status_StatusCode.ERROR, 'boom', {}],
    ['otel.status_code=OK', { 'otel.status_code': 'OK' }, Status_StatusCode.OK, '', {}],
    [
      'collector form STATUS_CODE_ERROR + description',
      { 'otel.status_code': 'STATUS_CODE_ERROR', 'otel.status_description': 'd' },
      Status_StatusCode.ERROR,
      'd',
      {},
    ],
    ['a description alone is just a tag', { 'otel.status_description': 'd' }, undefined, '', { 'otel.status_description': 'd' }],
    ['no status tags', { other: 'x' }, undefined, '', { other: 'x' }],
  ];
  test.each(statusCases)('status: %s', (_name, tags, code, message, rest) => {
    const sp = allSpans(v2([{ ...base, localEndpoint: undefined, tags }]))[0]!;
    if (code === undefined) expect(sp.status).toBeUndefined();
    else expect([sp.status?.code, sp.status?.message]).toEqual([code, message]);
    expect(attrs(sp.attributes)).toEqual(rest);
  });

  test('spans are grouped into resources by local service; resource tags move to the resource', () => {
    const req = v2([
      { ...base, id: '01', localEndpoint: { serviceName: 'a' }, tags: { 'telemetry.sdk.language': 'nodejs', 'service.name': 'a', k: '1' } },
      { ...base, id: '02', localEndpoint: { serviceName: 'b' } },
      { ...base, id: '03', localEndpoint: { serviceName: 'a' }, tags: { 'telemetry.sdk.language': 'nodejs', 'service.peer.name': 'p' } },
      { ...base, id: '04', localEndpoint: undefined, tags: { 'otel.scope.name': 'lib', 'otel.scope.version': '2' } },
    ]);
    expect(
      req.resourceSpans.map((rs) => [
        attrs(rs.resource!.attributes),
        rs.scopeSpans.map((ss) => [ss.scope?.name, ss.scope?.version, ss.spans.map((x) => hex(x.spanId).slice(-2))]),
      ]),
    ).toEqual([
      [{ 'service.name': 'a', 'telemetry.sdk.language': 'nodejs' }, [['', '', ['01', '03']]]],
      [{ 'service.name': 'b' }, [['', '', ['02']]]],
      [{}, [['lib', '2', ['04']]]],
    ]);
    const spans = allSpans(req);
    expect(attrs(spans[0]!.attributes)).toEqual({ k: '1' });
    expect(attrs(spans[1]!.attributes)).toEqual({ 'service.peer.name': 'p' });
  });

  test('shared span: client and server halves share the ID and differ by kind', () => {
    const client = { ...base, kind: 'CLIENT', localEndpoint: { serviceName: 'frontend' } };
    const server = { ...base, kind: 'SERVER', shared: true, localEndpoint: { serviceName: 'backend' }, timestamp: base.timestamp + 100, duration: 1000 };
    const spans = allSpans(v2([client, server]));
    expect(spans.map((x) => [hex(x.spanId), x.kind])).toEqual([
      ['352bff9a74ca9ad2', Span_SpanKind.CLIENT],
      ['352bff9a74ca9ad2', Span_SpanKind.SERVER],
    ]);
  });

  test('missing timestamp: starts at 0 and is marked, as the collector does', () => {
    const sp = allSpans(v2([{ ...base, timestamp: undefined, duration: 5 }]))[0]!;
    expect([sp.startTimeUnixNano, sp.endTimeUnixNano]).toEqual([0n, 5000n]);
    expect(attrs(sp.attributes)[ZIPKIN_ATTR.startTimeAbsent]).toBe(true);
  });

  test('fractional microseconds (as OTel JS sends) keep their nanoseconds', () => {
    const sp = allSpans(v2([{ ...base, timestamp: 1_700_000_000_000_000.5, duration: 2.25 }]))[0]!;
    expect(sp.startTimeUnixNano).toBe(1_700_000_000_000_000_500n);
    expect(sp.endTimeUnixNano).toBe(1_700_000_000_000_002_750n);
  });

  test("collector-encoded event attributes 'name|{json}|dropped' are decoded", () => {
    const sp = allSpans(v2([{ ...base, annotations: [{ timestamp: 1, value: 'ev|{"a":"x","n":3,"f":1.5,"b":true}|2' }] }]))[0]!;
    expect(sp.events[0]!.name).toBe('ev');
    expect(attrs(sp.events[0]!.attributes)).toEqual({ a: 'x', n: 3n, f: 1.5, b: true });
    expect(sp.events[0]!.droppedAttributesCount).toBe(2);
  });

  const invalid: Array<[string, string, RegExp]> = [
    ['not JSON', '{nope', /^zipkin v2: invalid JSON/],
    ['not a list', '{"traceId":"1"}', /^zipkin v2: expected a JSON array of spans, got object/],
    ['span not an object', '[1]', /^zipkin v2 span\[0\]: expected an object, got number/],
    ['bad hex trace ID', JSON.stringify([{ traceId: 'xyz', id: '1' }]), /^zipkin v2 span\[0\]\.traceId: not hex: "xyz"/],
    ['trace ID too long', JSON.stringify([{ traceId: 'a'.repeat(33), id: '1' }]), /span\[0\]\.traceId: longer than 32 hex characters/],
    ['span ID too long', JSON.stringify([{ traceId: '1', id: 'a'.repeat(17) }]), /span\[0\]\.id: longer than 16 hex characters/],
    ['zero trace ID', JSON.stringify([{ traceId: '0000', id: '1' }]), /span\[0\]\.traceId: all zeros/],
    ['missing id', JSON.stringify([{ traceId: '1' }, { traceId: '1' }]), /span\[0\]\.id: required/],
    ['numeric traceId', JSON.stringify([{ traceId: 5, id: '1' }]), /span\[0\]\.traceId: expected a string, got number/],
    [
      'string timestamp',
      JSON.stringify([
        { traceId: '1', id: '1' },
        { traceId: '1', id: '2', timestamp: 'now' },
      ]),
      /span\[1\]\.timestamp: expected a number of microseconds, got string/,
    ],
    ['unknown kind', JSON.stringify([{ traceId: '1', id: '1', kind: 'SIDEWAYS' }]), /span\[0\]\.kind: unknown kind "SIDEWAYS"/],
    ['tag of object type', JSON.stringify([{ traceId: '1', id: '1', tags: { a: { b: 1 } } }]), /span\[0\]\.tags\.a: expected a string, got object/],
    ['bad annotation', JSON.stringify([{ traceId: '1', id: '1', annotations: [{ value: 'x' }] }]), /span\[0\]\.annotations\[0\]\.timestamp: required/],
    ['bad port', JSON.stringify([{ traceId: '1', id: '1', localEndpoint: { port: 70000 } }]), /span\[0\]\.localEndpoint\.port: expected a port number/],
    ['debug not boolean', JSON.stringify([{ traceId: '1', id: '1', debug: 'yes' }]), /span\[0\]\.debug: expected a boolean, got string/],
  ];
  test.each(invalid)('invalid: %s', (_name, body, pattern) => {
    expectInvalid(() => zipkinV2JsonToOtlp(body), pattern);
  });

  test('invalid IP literals are dropped, as Zipkin does', () => {
    const sp = allSpans(v2([{ ...base, localEndpoint: { serviceName: 's', ipv4: '999.1.1.1' } }]))[0]!;
    expect(attrs(sp.attributes)).toEqual({});
  });
});

describe('zipkin v1 JSON → OTLP', () => {
  const ep = (serviceName: string, ipv4 = '10.0.0.1', port = 0) => ({ serviceName, ipv4, ...(port ? { port } : {}) });

  test('cs/sr/ss/cr in one v1 span becomes a CLIENT span and a shared SERVER span', () => {
    const req = wire(
      zipkinV1JsonToOtlp(
        JSON.stringify([
          {
            traceId: '463ac35c9f6413ad',
            id: '72485a3953bb6124',
            parentId: '0000000000000001',
            name: 'get',
            timestamp: 1_000,
            duration: 100,
            annotations: [
              { timestamp: 1_000, value: 'cs', endpoint: ep('frontend') },
              { timestamp: 1_010, value: 'sr', endpoint: ep('backend', '10.0.0.2') },
              { timestamp: 1_050, value: 'cache.hit', endpoint: ep('backend', '10.0.0.2') },
              { timestamp: 1_090, value: 'ss', endpoint: ep('backend', '10.0.0.2') },
              { timestamp: 1_100, value: 'cr', endpoint: ep('frontend') },
            ],
            binaryAnnotations: [
              { key: 'http.path', value: '/api', endpoint: ep('frontend') },
              { key: 'db.rows', value: 3, type: 'I32', endpoint: ep('backend', '10.0.0.2') },
              { key: 'sa', value: true, type: 'BOOL', endpoint: ep('backend', '10.0.0.2', 8080) },
              { key: 'ca', value: true, type: 'BOOL', endpoint: ep('frontend', '10.0.0.1', 55_000) },
            ],
          },
        ]),
      ),
    );
    expect(req.resourceSpans.map((rs) => attrs(rs.resource!.attributes)['service.name'])).toEqual(['frontend', 'backend']);
    const [client, server] = allSpans(req);
    expect([hex(client!.spanId), client!.kind, client!.startTimeUnixNano, client!.endTimeUnixNano]).toEqual([
      '72485a3953bb6124',
      Span_SpanKind.CLIENT,
      1_000_000n,
      1_100_000n,
    ]);
    expect([hex(server!.spanId), server!.kind, server!.startTimeUnixNano, server!.endTimeUnixNano]).toEqual([
      '72485a3953bb6124',
      Span_SpanKind.SERVER,
      1_010_000n,
      1_090_000n,
    ]);
    expect(hex(client!.traceId)).toBe('0000000000000000463ac35c9f6413ad');
    expect(hex(server!.parentSpanId)).toBe('0000000000000001');
    expect(attrs(client!.attributes)).toEqual({
      'http.path': '/api',
      [ZIPKIN_ATTR.localAddress]: '10.0.0.1',
      [ZIPKIN_ATTR.peerService]: 'backend',
      [ZIPKIN_ATTR.peerAddress]: '10.0.0.2',
      [ZIPKIN_ATTR.peerPort]: 8080n,
    });
    expect(attrs(server!.attributes)).toEqual({
      'db.rows': '3',
      [ZIPKIN_ATTR.localAddress]: '10.0.0.2',
      [ZIPKIN_ATTR.peerService]: 'frontend',
      [ZIPKIN_ATTR.peerAddress]: '10.0.0.1',
      [ZIPKIN_ATTR.peerPort]: 55_000n,
    });
    expect(client!.events).toHaveLength(0);
    expect(server!.events.map((e) => [e.name, e.timeUnixNano])).toEqual([['cache.hit', 1_050_000n]]);
  });

  test('a server-only v1 span takes its timing from sr/ss', () => {
    const [sp] = allSpans(
      wire(
        zipkinV1JsonToOtlp(
          JSON.stringify([
            {
              traceId: '1',
              id: '2',
              name: 'rpc',
              annotations: [
                { timestamp: 500, value: 'sr', endpoint: ep('svc') },
                { timestamp: 700, value: 'ss', endpoint: ep('svc') },
              ],
              binaryAnnotations: [{ key: 'error', value: 'timeout', endpoint: ep('svc') }],
            },
          ]),
        ),
      ),
    );
    expect([sp!.kind, sp!.startTimeUnixNano, sp!.endTimeUnixNano]).toEqual([Span_SpanKind.SERVER, 500_000n, 700_000n]);
    expect([sp!.status?.code, sp!.status?.message]).toEqual([Status_StatusCode.ERROR, 'timeout']);
  });

  test('a local span named by lc', () => {
    const req = wire(
      zipkinV1JsonToOtlp(
        JSON.stringify([
          { traceId: '1', id: '3', name: 'compute', timestamp: 10, duration: 5, binaryAnnotations: [{ key: 'lc', value: 'worker', endpoint: ep('batch') }] },
        ]),
      ),
    );
    expect(attrs(req.resourceSpans[0]!.resource!.attributes)).toEqual({ 'service.name': 'batch' });
    const [sp] = allSpans(req);
    expect(sp!.kind).toBe(Span_SpanKind.UNSPECIFIED);
    expect([sp!.startTimeUnixNano, sp!.endTimeUnixNano]).toEqual([10_000n, 15_000n]);
    expect(attrs(sp!.attributes)).toEqual({ lc: 'worker', [ZIPKIN_ATTR.localAddress]: '10.0.0.1' });
  });

  test.each([
    ['bad hex id', JSON.stringify([{ traceId: '1', id: 'zz' }]), /^zipkin v1 span\[0\]\.id: not hex/],
    [
      'annotations not a list',
      JSON.stringify([{ traceId: '1', id: '1', annotations: {} }]),
      /^zipkin v1 span\[0\]\.annotations: expected an array, got object/,
    ],
    [
      'binary annotation without key',
      JSON.stringify([{ traceId: '1', id: '1', binaryAnnotations: [{ value: 'x' }] }]),
      /^zipkin v1 span\[0\]\.binaryAnnotations\[0\]\.key: required/,
    ],
    [
      'binary annotation of object value',
      JSON.stringify([{ traceId: '1', id: '1', binaryAnnotations: [{ key: 'k', value: [] }] }]),
      /binaryAnnotations\[0\]\.value: expected a string, number or boolean, got array/,
    ],
  ])('invalid: %s', (_name, body, pattern) => {
    expectInvalid(() => zipkinV1JsonToOtlp(body), pattern);
  });
});

describe('zipkin proto3 → OTLP', () => {
  test('ListOfSpans, field by field', () => {
    const list = create(ZipkinListOfSpansSchema, {
      spans: [
        {
          traceId: Buffer.from('5af7183fb1d4cf5f', 'hex'),
          id: Buffer.from('352bff9a74ca9ad2', 'hex'),
          parentId: Buffer.from('6b221d5bc9e6496c', 'hex'),
          kind: ZipkinSpan_Kind.PRODUCER,
          name: 'send',
          timestamp: 1_556_604_172_355_737n,
          duration: 1431n,
          localEndpoint: { serviceName: 'queue-writer', ipv4: new Uint8Array([127, 0, 0, 1]), port: 80 },
          remoteEndpoint: { serviceName: 'kafka', ipv6: Buffer.from('20010db8000000000000000000000001', 'hex') },
          annotations: [{ timestamp: 1_556_604_172_355_740n, value: 'ws' }],
          tags: { topic: 'orders' },
          debug: false,
          shared: false,
        },
      ],
    });
    const req = wire(zipkinProtoToOtlp(toBinary(ZipkinListOfSpansSchema, list)));
    expect(attrs(req.resourceSpans[0]!.resource!.attributes)).toEqual({ 'service.name': 'queue-writer' });
    const [sp] = allSpans(req);
    expect(hex(sp!.traceId)).toBe('00000000000000005af7183fb1d4cf5f');
    expect(hex(sp!.parentSpanId)).toBe('6b221d5bc9e6496c');
    expect(sp!.kind).toBe(Span_SpanKind.PRODUCER);
    expect([sp!.startTimeUnixNano, sp!.endTimeUnixNano]).toEqual([1_556_604_172_355_737_000n, 1_556_604_172_357_168_000n]);
    expect(sp!.events.map((e) => e.name)).toEqual(['ws']);
    expect(attrs(sp!.attributes)).toEqual({
      topic: 'orders',
      [ZIPKIN_ATTR.localAddress]: '127.0.0.1',
      [ZIPKIN_ATTR.localPort]: 80n,
      [ZIPKIN_ATTR.peerService]: 'kafka',
      [ZIPKIN_ATTR.peerAddress]: '2001:db8::1',
    });
  });

  test.each([
    [
      'trace_id of 3 bytes',
      { traceId: new Uint8Array(3), id: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1]) },
      /^zipkin proto3 span\[0\]\.trace_id: must be 8 or 16 bytes, got 3/,
    ],
    ['id of 2 bytes', { traceId: new Uint8Array(8).fill(1), id: new Uint8Array(2) }, /^zipkin proto3 span\[0\]\.id: must be 8 bytes, got 2/],
    [
      'ipv4 of 5 bytes',
      { traceId: new Uint8Array(8).fill(1), id: new Uint8Array(8).fill(1), localEndpoint: { ipv4: new Uint8Array(5) } },
      /local_endpoint\.ipv4: must be 4 bytes, got 5/,
    ],
  ])('invalid: %s', (_name, init, pattern) => {
    expectInvalid(() => zipkinProtoToOtlp(toBinary(ZipkinListOfSpansSchema, create(ZipkinListOfSpansSchema, { spans: [init] }))), pattern);
  });

  test('garbage bytes are InvalidArgument', () => {
    expectInvalid(() => zipkinProtoToOtlp(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 1])), /^zipkin proto3: malformed ListOfSpans/);
  });
});

test.each([
  ['20010db8000000000000000000000001', '2001:db8::1'],
  ['00000000000000000000000000000001', '::1'],
  ['00000000000000000000000000000000', '::'],
  ['20010db8000100000001000000000001', '2001:db8:1:0:1::1'],
  ['fe800000000000000202b3fffe1e8329', 'fe80::202:b3ff:fe1e:8329'],
  ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
])('ipv6 %s prints as %s', (h, want) => {
  expect(ipv6FromBytes(Buffer.from(h, 'hex'))).toBe(want);
});
