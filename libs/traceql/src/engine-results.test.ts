import { create } from '@bufbuild/protobuf';
import { TracesDataSchema } from '@stave/proto';
import { compileQuery, ERR_SPANSET_OPERATION_MULTIPLE, indexTraces, search, type TraceResult } from '@stave/traceql';

// One small trace, by hand:
//   root  frontend  server  "GET /"        0..100ms
//   ├─ a  frontend  client  "cart call"    10..60ms   http.method=GET
//   │  └─ b  cart   server  "cart.handle"  12..58ms   http.method=GET
//   │     └─ c  db  server  "query"        20..30ms   status=error, event "exception"
//   └─ d  frontend  internal "render"      60..90ms
const T1 = '0102030405060708090a0b0c0d0e0f10';
const id = (n: number): Uint8Array => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, n]);
const hex = (n: number): string => Buffer.from(id(n)).toString('hex');
const ms = (n: number): bigint => 1_700_000_000_000_000_000n + BigInt(n) * 1_000_000n;
const str = (key: string, v: string) => ({ key, value: { value: { case: 'stringValue' as const, value: v } } });
const span = (n: number, parent: number, name: string, kind: number, start: number, end: number, extra: object = {}) => ({
  traceId: Buffer.from(T1, 'hex'),
  spanId: id(n),
  parentSpanId: parent === 0 ? new Uint8Array(0) : id(parent),
  name,
  kind,
  startTimeUnixNano: ms(start),
  endTimeUnixNano: ms(end),
  ...extra,
});
const resource = (service: string, spans: object[]) => ({
  resource: { attributes: [str('service.name', service)] },
  scopeSpans: [{ scope: { name: 'x' }, spans }],
});

const data = create(TracesDataSchema, {
  resourceSpans: [
    resource('frontend', [
      span(1, 0, 'GET /', 2, 0, 100),
      span(2, 1, 'cart call', 3, 10, 60, { attributes: [str('http.method', 'GET')] }),
      span(5, 1, 'render', 1, 60, 90),
    ]),
    resource('cart', [span(3, 2, 'cart.handle', 2, 12, 58, { attributes: [str('http.method', 'GET')] })]),
    resource('db', [span(4, 3, 'query', 2, 20, 30, { status: { code: 2, message: 'boom' }, events: [{ name: 'exception', timeUnixNano: ms(25) }] })]),
  ],
});
const traces = indexTraces(data);
const only = (q: string, spss?: number): TraceResult => {
  const r = search(q, traces, spss === undefined ? {} : { spansPerSpanSet: spss });
  expect(r).toHaveLength(1);
  return r[0]!;
};
const spanIds = (q: string): string[][] => only(q, 100).spanSets.map((ss) => ss.spans.map((s) => s.spanId));

describe('search results: spansets, spans and attributes', () => {
  test('trace metadata: root, start, duration', () => {
    expect(only('{ }')).toMatchObject({ traceId: T1, rootServiceName: 'frontend', rootTraceName: 'GET /', startTimeUnixNano: ms(0), durationNanos: 100e6 });
  });

  test.each([
    ['{ status = error }', [[4]]],
    ['{ } >> { status = error }', [[4]]],
    ['{ status = error } << { }', [[1, 2, 3]]],
    ['{ kind = client } &>> { status = error }', [[2, 4]]],
    ['{ kind = client } > { }', [[3]]],
    ['{ resource.service.name = "cart" } < { }', [[2]]],
    ['{ resource.service.name = "frontend" } ~ { }', [[2, 5]]],
    ['{ kind = client } !> { kind = server }', [[1, 4]]],
    ['{ } !~ { }', [[1, 3, 4]]],
    ['{ kind = client } &~ { name = "render" }', [[2, 5]]],
    ['{ .http.method = "GET" } && { status = error }', [[2, 3, 4]]],
    ['{ name = "nope" } || { status = error }', [[4]]],
    ['{ event:name = "exception" }', [[4]]],
    ['{ } | by(resource.service.name)', [[1, 2, 5], [3], [4]]],
  ])('%s', (q, expected) => {
    expect(spanIds(q)).toEqual(expected.map((ss) => ss.map(hex)));
  });

  test('spansets carry by() and aggregate attributes; matched counts beyond spss', () => {
    const r = only('{ } | by(resource.service.name) | count() > 0', 2);
    expect(r.spanSets.map((ss) => [ss.matched, ss.spans.length, ss.attributes.map((a) => [a.key, a.value])])).toEqual([
      [
        3,
        2,
        [
          ['by(resource.service.name)', { type: 'string', value: 'frontend' }],
          ['count()', { type: 'int', value: 3 }],
        ],
      ],
      [
        1,
        1,
        [
          ['by(resource.service.name)', { type: 'string', value: 'cart' }],
          ['count()', { type: 'int', value: 1 }],
        ],
      ],
      [
        1,
        1,
        [
          ['by(resource.service.name)', { type: 'string', value: 'db' }],
          ['count()', { type: 'int', value: 1 }],
        ],
      ],
    ]);
    expect(only('{ } | avg(duration) > 1ms').spanSets[0]!.attributes).toEqual([{ key: 'avg(duration)', value: { type: 'duration', value: 47.2e6 } }]);
  });

  test('spans report service.name, filtered and selected attributes', () => {
    const r = only('{ .http.method = "GET" } | select(name, resource.service.name, span.nope)');
    expect(
      r.spanSets[0]!.spans.map((s) => [
        s.spanId,
        s.name,
        s.durationNanos,
        s.attributes.map((a) => `${a.key}=${String((a.value as { value: unknown }).value)}`),
      ]),
    ).toEqual([
      [hex(2), 'cart call', 50e6, ['service.name=frontend', 'http.method=GET']],
      [hex(3), 'cart.handle', 46e6, ['service.name=cart', 'http.method=GET']],
    ]);
  });

  test('coalesce() merges grouped spansets back into one', () => {
    expect(spanIds('{ } | by(resource.service.name) | coalesce()')).toEqual([[1, 2, 5, 3, 4].map(hex)]);
  });

  test('a span pushed twice counts once', () => {
    const twice = indexTraces([data, data]);
    expect(twice[0]!.spans).toHaveLength(5);
    expect(search('{ } | count() = 5', twice)).toHaveLength(1);
  });

  test('structural operators refuse several spansets per trace, as Tempo does', () => {
    expect(() => search('({ } | by(resource.service.name)) > ({ })', traces)).toThrow(ERR_SPANSET_OPERATION_MULTIPLE);
  });

  test('limit stops after that many traces; a query compiles once and runs on many traces', () => {
    const q = compileQuery('{ }');
    const two = indexTraces([
      data,
      create(TracesDataSchema, { resourceSpans: [resource('x', [{ ...span(9, 0, 'other', 2, 0, 1), traceId: new Uint8Array(16).fill(7) }])] }),
    ]);
    expect(q.search(two).map((r) => r.traceId)).toEqual([T1, '07'.repeat(16)]);
    expect(q.search(two, { limit: 1 }).map((r) => r.traceId)).toEqual([T1]);
  });
});
