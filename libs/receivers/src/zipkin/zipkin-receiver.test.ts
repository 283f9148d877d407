import { gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Span_SpanKind, Status_StatusCode, ZipkinListOfSpansSchema, ZipkinSpan_Kind } from '@stave/proto';
import { Code, ConnectError, Logger, nopLogger } from '@stave/server';
import { CapturingPusher, attrs, hex, poll } from '../jaeger/test-support';
import { ZipkinReceiver } from './zipkin-receiver';

let receiver: ZipkinReceiver;
let pusher: CapturingPusher;
let base: string;

beforeEach(async () => {
  pusher = new CapturingPusher();
  receiver = new ZipkinReceiver({ pusher, logger: nopLogger, endpoint: '127.0.0.1:0', maxRequestBytes: 64 * 1024, retryAfterSeconds: 3 });
  await receiver.start();
  base = `http://127.0.0.1:${receiver.address().port}`;
});

afterEach(async () => {
  await receiver.stop();
});

function post(path: string, body: Uint8Array | string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Response> {
  return fetch(base + path, { method: 'POST', headers, body });
}

const v2Span = {
  traceId: '86154a4ba6e91385',
  id: '4d1e00c0db9010db',
  kind: 'CLIENT',
  name: 'get /',
  timestamp: 1_472_470_996_199_000,
  duration: 207_000,
  localEndpoint: { serviceName: 'frontend', ipv4: '127.0.0.1' },
  remoteEndpoint: { serviceName: 'backend', ipv4: '192.168.99.101', port: 9000 },
  annotations: [{ timestamp: 1_472_470_996_238_000, value: 'ws' }],
  tags: { 'http.path': '/api', clnt: 'finagle' },
};

describe('Zipkin receiver', () => {
  test('@opentelemetry/exporter-zipkin (JSON v2): 202, spans decoded field by field', async () => {
    const exporter = new ZipkinExporter({ url: `${base}/api/v2/spans`, headers: { 'X-Scope-OrgID': 'tenant-z' } });
    const exported: number[] = [];
    const counting = {
      export: (spans: ReadableSpan[], cb: (r: { code: number }) => void) =>
        exporter.export(spans, (r) => {
          exported.push(r.code);
          cb(r);
        }),
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush(),
    };
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'shop', 'service.version': '4.2', 'deployment.environment.name': 'ci' }),
      spanProcessors: [new SimpleSpanProcessor(counting)],
    });
    const tracer = provider.getTracer('shop-lib', '1.0.0');
    const parent = tracer.startSpan('GET /cart', { kind: SpanKind.SERVER, attributes: { 'http.method': 'GET', retries: 2, cached: true } });
    parent.addEvent('cart.loaded');
    const child = tracer.startSpan('redis GET', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), parent));
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'connection reset' });
    child.end();
    const producer = tracer.startSpan('publish', { kind: SpanKind.PRODUCER }, trace.setSpan(context.active(), parent));
    producer.end();
    const internal = tracer.startSpan('compute', { kind: SpanKind.INTERNAL }, trace.setSpan(context.active(), parent));
    internal.end();
    parent.end();
    await provider.forceFlush();
    await provider.shutdown();

    expect(exported).toEqual([0, 0, 0, 0]); // ExportResultCode.SUCCESS: every POST was answered 2xx
    await poll('four spans from the Zipkin exporter', () => pusher.spans().length === 4);
    expect(pusher.pushes.map((p) => p.ctx)).toEqual(Array(4).fill({ orgID: 'tenant-z', protocol: 'zipkin_json' }));
    const rs = pusher.pushes[0]!.req.resourceSpans[0]!;
    // Resource attributes travel as tags; they come back to the resource.
    expect(attrs(rs.resource!.attributes)).toMatchObject({
      'service.name': 'shop',
      'service.version': '4.2',
      'deployment.environment.name': 'ci',
    });
    const spans = new Map(pusher.spans().map((s) => [s.name, s]));
    const p = spans.get('GET /cart')!;
    const c = spans.get('redis GET')!;
    expect(p.kind).toBe(Span_SpanKind.SERVER);
    expect(p.parentSpanId).toHaveLength(0);
    expect(attrs(p.attributes)).toEqual({ 'http.method': 'GET', retries: '2', cached: 'true' }); // Zipkin tags are strings
    expect(p.events.map((e) => e.name)).toEqual(['cart.loaded']);
    expect(p.endTimeUnixNano).toBeGreaterThan(p.startTimeUnixNano);
    expect(c.kind).toBe(Span_SpanKind.CLIENT);
    expect([c.status?.code, c.status?.message]).toEqual([Status_StatusCode.ERROR, 'connection reset']);
    expect(hex(c.parentSpanId)).toBe(hex(p.spanId));
    expect(hex(c.traceId)).toBe(hex(p.traceId));
    expect(c.attributes).toHaveLength(0);
    expect(spans.get('publish')!.kind).toBe(Span_SpanKind.PRODUCER);
    expect(spans.get('compute')!.kind).toBe(Span_SpanKind.UNSPECIFIED); // Zipkin has no INTERNAL: the span carries no kind
  });

  test('v2 JSON by hand: IDs padded, endpoints mapped, 202 Accepted', async () => {
    const res = await post('/api/v2/spans', JSON.stringify([v2Span]));
    expect([res.status, await res.text()]).toEqual([202, '']);
    const [sp] = pusher.spans();
    expect(hex(sp!.traceId)).toBe('000000000000000086154a4ba6e91385');
    expect(sp!.kind).toBe(Span_SpanKind.CLIENT);
    expect(attrs(sp!.attributes)).toEqual({
      'http.path': '/api',
      clnt: 'finagle',
      'network.local.address': '127.0.0.1',
      'service.peer.name': 'backend',
      'network.peer.address': '192.168.99.101',
      'net.peer.port': 9000n,
    });
  });

  test('v1 JSON: annotations give kind and timing; a shared cs/sr span becomes two', async () => {
    const ep = (serviceName: string) => ({ serviceName, ipv4: '10.1.1.1' });
    const v1 = [
      {
        traceId: '6b221d5bc9e6496c',
        id: '5b4185666d50f68b',
        name: 'get',
        timestamp: 2_000,
        duration: 400,
        annotations: [
          { timestamp: 2_000, value: 'cs', endpoint: ep('frontend') },
          { timestamp: 2_100, value: 'sr', endpoint: ep('backend') },
          { timestamp: 2_300, value: 'ss', endpoint: ep('backend') },
          { timestamp: 2_400, value: 'cr', endpoint: ep('frontend') },
        ],
        binaryAnnotations: [{ key: 'http.status_code', value: '200', endpoint: ep('frontend') }],
      },
    ];
    const res = await post('/api/v1/spans', JSON.stringify(v1));
    expect(res.status).toBe(202);
    expect(pusher.pushes[0]!.ctx.protocol).toBe('zipkin_json');
    expect(pusher.spans().map((s) => [hex(s.spanId), s.kind, s.startTimeUnixNano, s.endTimeUnixNano])).toEqual([
      ['5b4185666d50f68b', Span_SpanKind.CLIENT, 2_000_000n, 2_400_000n],
      ['5b4185666d50f68b', Span_SpanKind.SERVER, 2_100_000n, 2_300_000n],
    ]);
  });

  test('proto3 ListOfSpans', async () => {
    const body = toBinary(
      ZipkinListOfSpansSchema,
      create(ZipkinListOfSpansSchema, {
        spans: [
          {
            traceId: Buffer.from('86154a4ba6e913854d1e00c0db9010db', 'hex'),
            id: Buffer.from('4d1e00c0db9010db', 'hex'),
            kind: ZipkinSpan_Kind.CONSUMER,
            name: 'consume',
            timestamp: 1_000n,
            duration: 10n,
            localEndpoint: { serviceName: 'worker' },
            tags: { queue: 'jobs', error: 'poison message' },
            debug: true,
          },
        ],
      }),
    );
    const res = await post('/api/v2/spans', body, { 'content-type': 'application/x-protobuf', 'x-scope-orgid': 't1' });
    expect(res.status).toBe(202);
    expect(pusher.pushes[0]!.ctx).toEqual({ orgID: 't1', protocol: 'zipkin_proto' });
    const [sp] = pusher.spans();
    expect(hex(sp!.traceId)).toBe('86154a4ba6e913854d1e00c0db9010db');
    expect(sp!.kind).toBe(Span_SpanKind.CONSUMER);
    expect([sp!.status?.code, sp!.status?.message]).toEqual([Status_StatusCode.ERROR, 'poison message']);
    expect(attrs(sp!.attributes)).toEqual({ queue: 'jobs', 'zipkin.debug': true });
  });

  test('gzip JSON is accepted', async () => {
    const res = await post('/api/v2/spans', gzipSync(JSON.stringify([v2Span])), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(res.status).toBe(202);
    expect(pusher.spans()).toHaveLength(1);
  });

  test('no content type is read as JSON, as Zipkin does', async () => {
    // A Buffer body: fetch would label a string text/plain.
    expect((await post('/api/v2/spans', Buffer.from(JSON.stringify([v2Span])), {})).status).toBe(202);
    expect(pusher.spans()).toHaveLength(1);
  });

  const refusals: Array<[string, () => Promise<Response>, number, RegExp]> = [
    ['bad JSON', () => post('/api/v2/spans', '[{"traceId":'), 400, /^zipkin v2: invalid JSON/],
    [
      'a bad hex ID names the span',
      () => post('/api/v2/spans', JSON.stringify([v2Span, { ...v2Span, id: 'xyz' }])),
      400,
      /^zipkin v2 span\[1\]\.id: not hex: "xyz"/,
    ],
    [
      'a wrong type names the field',
      () => post('/api/v1/spans', JSON.stringify([{ traceId: '1', id: '1', timestamp: 'soon' }])),
      400,
      /^zipkin v1 span\[0\]\.timestamp: expected a number/,
    ],
    [
      'garbage protobuf',
      () => post('/api/v2/spans', Buffer.from([0x0a, 0xff, 0xff]), { 'content-type': 'application/x-protobuf' }),
      400,
      /zipkin proto3: malformed ListOfSpans/,
    ],
    ['text/plain', () => post('/api/v2/spans', '[]', { 'content-type': 'text/plain' }), 415, /unsupported content type "text\/plain"/],
    ['protobuf on v1', () => post('/api/v1/spans', '', { 'content-type': 'application/x-protobuf' }), 415, /want application\/json/],
    ['thrift on v1', () => post('/api/v1/spans', '', { 'content-type': 'application/x-thrift' }), 415, /unsupported content type/],
    ['too large', () => post('/api/v2/spans', `[${' '.repeat(64 * 1024)}]`), 413, /65536 byte limit/],
    ['unknown path', () => post('/api/v3/spans', '[]'), 404, /not found/],
  ];
  test.each(refusals)('%s is refused; the receiver keeps serving', async (_name, send, status, body) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(await res.text()).toMatch(body);
    expect(pusher.calls).toBe(0);
    expect((await post('/api/v2/spans', JSON.stringify([v2Span]))).status).toBe(202);
  });

  test('GET on the spans path is 405', async () => {
    const res = await fetch(`${base}/api/v2/spans`);
    expect([res.status, res.headers.get('allow')]).toEqual([405, 'POST']);
  });

  test.each([
    [Code.ResourceExhausted, 429],
    [Code.Unavailable, 503],
  ])('pusher code %s → %s with Retry-After', async (code, status) => {
    pusher.failWith = new ConnectError('LIVE_TRACES_EXCEEDED: max live traces (10) per tenant exceeded', code);
    const res = await post('/api/v2/spans', JSON.stringify([v2Span]));
    expect([res.status, res.headers.get('retry-after')]).toEqual([status, '3']);
    expect(await res.text()).toMatch(/max live traces \(10\)/);
    pusher.failWith = undefined;
    expect((await post('/api/v2/spans', JSON.stringify([v2Span]))).status).toBe(202);
  });

  test('an empty list is accepted without a push', async () => {
    expect((await post('/api/v2/spans', '[]')).status).toBe(202);
    expect(pusher.calls).toBe(0);
  });

  test('logs where it listens', async () => {
    const lines: string[] = [];
    const r = new ZipkinReceiver({ pusher, endpoint: '127.0.0.1:0', logger: new Logger('info', 'json', {}, { write: (l) => void lines.push(l) }) });
    await r.start();
    const port = r.address().port;
    await r.stop();
    await r.stop();
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(
      expect.objectContaining({ msg: 'receiver listening', receiver: 'zipkin', address: `127.0.0.1:${port}`, port }),
    );
  });
});
