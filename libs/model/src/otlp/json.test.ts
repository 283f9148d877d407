import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, createTraceState, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { AnyValueSchema, ExportTraceServiceRequestSchema, Span_SpanKind, Status_StatusCode, type AnyValue, type KeyValue } from '@stave/proto';
import { Code, ConnectError } from '@stave/core';
import { parseOtlpJson, toOtlpJson } from './json';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function plain(v: AnyValue | undefined): unknown {
  const x = v?.value;
  if (x === undefined) return undefined;
  switch (x.case) {
    case undefined:
      return undefined;
    case 'arrayValue':
      return x.value.values.map(plain);
    case 'kvlistValue':
      return attrs(x.value.values);
    case 'intValue':
      return { int: x.value };
    case 'bytesValue':
      return { bytes: hex(x.value) };
    default:
      return x.value;
  }
}
const attrs = (list: KeyValue[]): Record<string, unknown> => Object.fromEntries(list.map((kv) => [kv.key, plain(kv.value)]));

async function sdkSpans() {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'json-test', 'host.cores': 4 }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('json-scope', '1.2.3', { schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' });
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b173',
    traceFlags: 1,
    isRemote: true,
    traceState: createTraceState('vendor=value,other=x'),
  });
  const span = tracer.startSpan(
    'GET /orders',
    {
      kind: SpanKind.CLIENT,
      attributes: {
        str: 'hello',
        int: 42,
        negative: -7,
        double: 2.5,
        bool: true,
        strs: ['a', 'b'],
        ints: [1, 2, 3],
        bytes: new Uint8Array([0, 1, 254, 255]),
        map: { nested: 'yes', depth: 2 },
      },
      links: [
        {
          context: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, traceState: createTraceState('l=1') },
          attributes: { 'link.kind': 'follows' },
        },
      ],
      startTime: [1_700_000_000, 123_456_789],
    },
    parent,
  );
  span.addEvent('retry', { attempt: 2 }, [1_700_000_000, 500_000_000]);
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream failed' });
  span.end([1_700_000_001, 0]);
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

function expectInvalid(text: string, message: string): void {
  let caught: unknown;
  try {
    parseOtlpJson(text);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConnectError);
  expect((caught as ConnectError).code).toBe(Code.InvalidArgument);
  expect((caught as ConnectError).rawMessage).toBe(message);
}

describe('parseOtlpJson', () => {
  it('reads what the real OpenTelemetry JSON serializer writes, field for field', async () => {
    const spans = await sdkSpans();
    const text = new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans)!);
    const req = parseOtlpJson(text);

    // The same spans through the real protobuf serializer decode to an identical message.
    const viaProto = fromBinary(ExportTraceServiceRequestSchema, ProtobufTraceSerializer.serializeRequest(spans)!);
    expect(equals(ExportTraceServiceRequestSchema, req, viaProto)).toBe(true);

    const rs = req.resourceSpans[0]!;
    expect(attrs(rs.resource!.attributes)).toMatchObject({ 'service.name': 'json-test', 'host.cores': { int: 4n } });
    const ss = rs.scopeSpans[0]!;
    expect([ss.scope?.name, ss.scope?.version, ss.schemaUrl]).toEqual(['json-scope', '1.2.3', 'https://opentelemetry.io/schemas/1.24.0']);
    const s = ss.spans[0]!;
    expect(hex(s.traceId)).toBe('5b8efff798038103d269b633813fc60c');
    expect(hex(s.parentSpanId)).toBe('eee19b7ec3c1b173');
    expect(s.spanId.length).toBe(8);
    expect(s.traceState).toBe('vendor=value,other=x');
    expect(s.kind).toBe(Span_SpanKind.CLIENT);
    expect(s.flags).toBe(0x301); // sampled, has-is-remote, is-remote
    expect(s.startTimeUnixNano).toBe(1_700_000_000_123_456_789n);
    expect(s.endTimeUnixNano).toBe(1_700_000_001_000_000_000n);
    expect(attrs(s.attributes)).toEqual({
      str: 'hello',
      int: { int: 42n },
      negative: { int: -7n },
      double: 2.5,
      bool: true,
      strs: ['a', 'b'],
      ints: [{ int: 1n }, { int: 2n }, { int: 3n }],
      bytes: { bytes: '0001feff' },
      map: { nested: 'yes', depth: { int: 2n } },
    });
    expect(s.events.map((e) => [e.name, e.timeUnixNano, attrs(e.attributes)])).toEqual([['retry', 1_700_000_000_500_000_000n, { attempt: { int: 2n } }]]);
    expect(s.links.map((l) => [hex(l.traceId), hex(l.spanId), l.traceState, attrs(l.attributes)])).toEqual([
      ['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 'l=1', { 'link.kind': 'follows' }],
    ]);
    expect([s.status?.code, s.status?.message]).toEqual([Status_StatusCode.ERROR, 'upstream failed']);
  });

  it('accepts upper-case hex, proto field names, enum names, 64-bit numbers and strings, and ignores unknown fields', () => {
    const req = parseOtlpJson(
      JSON.stringify({
        resource_spans: [
          {
            futureField: { x: 1 },
            scope_spans: [
              {
                spans: [
                  {
                    trace_id: '5B8EFFF798038103D269B633813FC60C',
                    spanId: 'EEE19B7EC3C1B173',
                    parentSpanId: '',
                    kind: 'SPAN_KIND_SERVER',
                    start_time_unix_nano: 1700000000000000000,
                    endTimeUnixNano: '18446744073709551615',
                    status: { code: 'STATUS_CODE_OK' },
                    attributes: [{ key: 'n', value: { int_value: '-9223372036854775808' } }, { key: 'd', value: { doubleValue: 'NaN' } }, { key: 'nothing' }],
                    somethingNew: [1, 2, 3],
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    const s = req.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    expect(hex(s.traceId)).toBe('5b8efff798038103d269b633813fc60c');
    expect(hex(s.spanId)).toBe('eee19b7ec3c1b173');
    expect(s.parentSpanId.length).toBe(0);
    expect(s.kind).toBe(Span_SpanKind.SERVER);
    expect(s.startTimeUnixNano).toBe(1_700_000_000_000_000_000n);
    expect(s.endTimeUnixNano).toBe((1n << 64n) - 1n);
    expect(s.status?.code).toBe(Status_StatusCode.OK);
    expect(plain(s.attributes[0]!.value)).toEqual({ int: -(1n << 63n) });
    expect(plain(s.attributes[1]!.value)).toBeNaN();
    expect(s.attributes[2]!.value).toBeUndefined();
  });

  it('parses an empty request', () => {
    expect(parseOtlpJson('{}').resourceSpans).toEqual([]);
    expect(parseOtlpJson('{"resourceSpans":[]}').resourceSpans).toEqual([]);
  });

  const span = (fields: Record<string, unknown>) => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [fields] }] }] });
  const at = 'resourceSpans[0].scopeSpans[0].spans[0]';
  it.each([
    ['not JSON', '{"resourceSpans": [', /invalid JSON: Unexpected end of JSON input/],
    ['not an object', '[1,2]', 'invalid OTLP JSON at $: expected an object, got an array'],
    ['resourceSpans not an array', '{"resourceSpans": {}}', 'invalid OTLP JSON at resourceSpans: expected an array, got an object'],
    [
      'a non-hex trace ID',
      span({ traceId: 'xyz' }),
      `invalid OTLP JSON at ${at}.traceId: expected a hex string with an even number of digits, got the string "xyz"`,
    ],
    [
      'an odd-length span ID',
      span({ spanId: 'abc' }),
      `invalid OTLP JSON at ${at}.spanId: expected a hex string with an even number of digits, got the string "abc"`,
    ],
    ['a numeric name', span({ name: 5 }), `invalid OTLP JSON at ${at}.name: expected a string, got number 5`],
    [
      'an unknown kind name',
      span({ kind: 'SPAN_KIND_BOGUS' }),
      `invalid OTLP JSON at ${at}.kind: expected an enum integer (or one of SPAN_KIND_UNSPECIFIED, SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER), got the string "SPAN_KIND_BOGUS"`,
    ],
    [
      'a negative start time',
      span({ startTimeUnixNano: '-1' }),
      `invalid OTLP JSON at ${at}.startTimeUnixNano: expected an unsigned 64-bit integer (a decimal string or a number), got the string "-1"`,
    ],
    [
      'a fractional count',
      span({ droppedEventsCount: 1.5 }),
      `invalid OTLP JSON at ${at}.droppedEventsCount: expected an unsigned 32-bit integer, got number 1.5`,
    ],
    [
      'an int attribute that is not a number',
      span({ attributes: [{ key: 'k', value: { intValue: 'ten' } }] }),
      `invalid OTLP JSON at ${at}.attributes[0].value.intValue: expected a signed 64-bit integer (a decimal string or a number), got the string "ten"`,
    ],
    [
      'two values in one AnyValue',
      span({ attributes: [{ key: 'k', value: { stringValue: 'a', boolValue: true } }] }),
      `invalid OTLP JSON at ${at}.attributes[0].value: more than one value is set (stringValue and boolValue)`,
    ],
    [
      'bad base64',
      span({ attributes: [{ key: 'k', value: { bytesValue: '!!' } }] }),
      `invalid OTLP JSON at ${at}.attributes[0].value.bytesValue: expected base64 bytes, got the string "!!"`,
    ],
    ['events not an array', span({ events: 'none' }), `invalid OTLP JSON at ${at}.events: expected an array, got the string "none"`],
    [
      'a link with a bad trace ID',
      span({ links: [{ traceId: 'zz' }] }),
      `invalid OTLP JSON at ${at}.links[0].traceId: expected a hex string with an even number of digits, got the string "zz"`,
    ],
  ])('refuses %s naming the JSON path', (_name, text, message) => {
    if (typeof message === 'string') expectInvalid(text, message);
    else expect(() => parseOtlpJson(text)).toThrow(message);
  });

  it('refuses attribute values nested past the limit', () => {
    let value: unknown = { stringValue: 'leaf' };
    for (let i = 0; i < 120; i++) value = { arrayValue: { values: [value] } };
    expect(() => parseOtlpJson(span({ attributes: [{ key: 'deep', value }] }))).toThrow(/values nested deeper than 100 levels/);
  });
});

describe('toOtlpJson', () => {
  it('writes hex IDs, integer enums and 64-bit strings, and round-trips through parseOtlpJson', async () => {
    const spans = await sdkSpans();
    const original = fromBinary(ExportTraceServiceRequestSchema, ProtobufTraceSerializer.serializeRequest(spans)!);
    const text = toOtlpJson(original);
    const doc = JSON.parse(text);
    const s = doc.resourceSpans[0].scopeSpans[0].spans[0];
    expect(s.traceId).toBe('5b8efff798038103d269b633813fc60c');
    expect(s.parentSpanId).toBe('eee19b7ec3c1b173');
    expect(s.kind).toBe(3);
    expect(s.status).toEqual({ code: 2, message: 'upstream failed' });
    expect(s.startTimeUnixNano).toBe('1700000000123456789');
    expect(s.attributes.find((a: { key: string }) => a.key === 'int').value).toEqual({ intValue: '42' });
    expect(s.attributes.find((a: { key: string }) => a.key === 'bytes').value).toEqual({ bytesValue: 'AAH+/w==' });
    expect(equals(ExportTraceServiceRequestSchema, parseOtlpJson(text), original)).toBe(true);
  });

  it('leaves defaults out but keeps set oneof values that are zero', () => {
    const msg = create(ExportTraceServiceRequestSchema, {
      resourceSpans: [
        { scopeSpans: [{ spans: [{ attributes: [{ key: 'zero', value: create(AnyValueSchema, { value: { case: 'intValue', value: 0n } }) }] }] }] },
      ],
    });
    expect(toOtlpJson(msg)).toBe('{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"zero","value":{"intValue":"0"}}]}]}]}]}');
    const back = parseOtlpJson(toOtlpJson(msg));
    expect(toBinary(ExportTraceServiceRequestSchema, back)).toEqual(toBinary(ExportTraceServiceRequestSchema, msg));
  });
});
