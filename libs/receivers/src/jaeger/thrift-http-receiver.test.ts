import { gzipSync } from 'node:zlib';
import { initTracer } from 'jaeger-client';
import * as opentracing from 'opentracing';
import { JaegerTagType, type JaegerThriftBatch } from '@stave/model';
import { Span_SpanKind, Status_StatusCode } from '@stave/proto';
import { Code, ConnectError, Logger, nopLogger } from '@stave/server';
import { CapturingPusher, attrs, hex, poll } from './test-support';
import { encodeBatch } from '@stave/model/testing';
import { JaegerThriftHttpReceiver } from './thrift-http-receiver';

const quiet = { info: () => undefined, error: () => undefined };

let receiver: JaegerThriftHttpReceiver;
let pusher: CapturingPusher;
let url: string;

beforeEach(async () => {
  pusher = new CapturingPusher();
  receiver = new JaegerThriftHttpReceiver({ pusher, logger: nopLogger, endpoint: '127.0.0.1:0', maxRequestBytes: 64 * 1024, retryAfterSeconds: 7 });
  await receiver.start();
  url = `http://127.0.0.1:${receiver.address().port}/api/traces`;
});

afterEach(async () => {
  await receiver.stop();
});

const batch: JaegerThriftBatch = {
  process: { serviceName: 'billing', tags: [{ key: 'region', vType: JaegerTagType.STRING, vStr: 'eu' }] },
  spans: [
    {
      traceIdHigh: 0n,
      traceIdLow: 0xabcn,
      spanId: 0xdefn,
      parentSpanId: 0n,
      operationName: 'invoice',
      references: [],
      flags: 1,
      startTime: 1_600_000_000_000_000n,
      duration: 50n,
      tags: [{ key: 'amount', vType: JaegerTagType.LONG, vLong: 1999n }],
      logs: [],
    },
  ],
};

function post(
  body: Uint8Array | string,
  headers: Record<string, string> = { 'content-type': 'application/x-thrift' },
  target = url,
  method = 'POST',
): Promise<Response> {
  return fetch(target, { method, headers, body: method === 'GET' ? undefined : body });
}

describe('Jaeger thrift HTTP receiver', () => {
  test("jaeger-client's HTTPSender: 202, spans decoded field by field", async () => {
    const tracer = initTracer(
      {
        serviceName: 'web',
        sampler: { type: 'const', param: 1 },
        reporter: { collectorEndpoint: url, flushIntervalMs: 60_000 },
      },
      { logger: quiet, tags: { team: 'payments' } },
    );
    const parent = tracer.startSpan('POST /pay', { startTime: 1_700_000_000_000 });
    parent.setTag(opentracing.Tags.SPAN_KIND, 'server');
    parent.setTag('amount', 12.5);
    parent.setTag('vip', false);
    parent.log({ event: 'authorized', by: 'bank' }, 1_700_000_000_001);
    const child = tracer.startSpan('db.insert', { childOf: parent, startTime: 1_700_000_000_002 });
    child.setTag(opentracing.Tags.SPAN_KIND, 'client');
    child.setTag('error', true);
    child.finish(1_700_000_000_004);
    parent.finish(1_700_000_000_005);
    await new Promise<void>((resolve) => tracer.close(() => resolve()));

    await poll('two spans over HTTP', () => pusher.spans().length === 2);
    const { ctx, req } = pusher.pushes[0]!;
    expect(ctx).toEqual({ orgID: undefined, protocol: 'jaeger_thrift_http' });
    expect(attrs(req.resourceSpans[0]!.resource!.attributes)).toMatchObject({
      'service.name': 'web',
      team: 'payments',
      'opencensus.exporterversion': 'Jaeger-Node-3.19.0',
    });
    const byName = new Map(pusher.spans().map((s) => [s.name, s]));
    const p = byName.get('POST /pay')!;
    const c = byName.get('db.insert')!;
    expect(p.kind).toBe(Span_SpanKind.SERVER);
    expect(attrs(p.attributes)).toMatchObject({ amount: 12.5, vip: false });
    expect(p.events.map((e) => [e.name, attrs(e.attributes)])).toEqual([['authorized', { by: 'bank' }]]);
    expect(c.kind).toBe(Span_SpanKind.CLIENT);
    expect(c.status?.code).toBe(Status_StatusCode.ERROR);
    expect(hex(c.parentSpanId)).toBe(hex(p.spanId));
    expect([c.startTimeUnixNano, c.endTimeUnixNano]).toEqual([1_700_000_000_002_000_000n, 1_700_000_000_004_000_000n]);
  });

  test('both thrift media types are accepted; X-Scope-OrgID reaches the pusher', async () => {
    for (const type of ['application/x-thrift', 'application/vnd.apache.thrift.binary; charset=binary']) {
      const res = await post(encodeBatch('binary', batch), { 'content-type': type, 'x-scope-orgid': 'tenant-a' });
      expect(res.status).toBe(202);
    }
    expect(pusher.pushes.map((p) => p.ctx)).toEqual([
      { orgID: 'tenant-a', protocol: 'jaeger_thrift_http' },
      { orgID: 'tenant-a', protocol: 'jaeger_thrift_http' },
    ]);
    const [sp] = pusher.spans();
    expect(hex(sp!.traceId)).toBe('00000000000000000000000000000abc');
    expect(attrs(sp!.attributes)).toEqual({ amount: 1999n });
  });

  test('a gzip body is accepted', async () => {
    const res = await post(gzipSync(encodeBatch('binary', batch)), { 'content-type': 'application/x-thrift', 'content-encoding': 'gzip' });
    expect(res.status).toBe(202);
    expect(pusher.spans()).toHaveLength(1);
  });

  const refusals: Array<[string, () => Promise<Response>, number, RegExp]> = [
    ['truncated thrift', () => post(encodeBatch('binary', batch).subarray(0, 40)), 400, /thrift binary protocol: truncated input/],
    ['compact bytes posted as binary', () => post(encodeBatch('compact', batch)), 400, /thrift binary protocol/],
    ['JSON content type', () => post('{}', { 'content-type': 'application/json' }), 415, /unsupported content type "application\/json"/],
    ['no content type', () => post(encodeBatch('binary', batch), {}), 415, /unsupported content type ""/],
    ['GET', () => post('', {}, url, 'GET'), 405, /use POST/],
    [
      'another path',
      () => post(encodeBatch('binary', batch), { 'content-type': 'application/x-thrift' }, url.replace('/api/traces', '/api/spans')),
      404,
      /not found/,
    ],
    ['a body over the limit', () => post(Buffer.alloc(64 * 1024 + 1)), 413, /more than the 65536 byte limit/],
    [
      'a gzip bomb over the limit',
      () => post(gzipSync(Buffer.alloc(1 << 20)), { 'content-type': 'application/x-thrift', 'content-encoding': 'gzip' }),
      413,
      /once decompressed/,
    ],
    ['an unknown encoding', () => post('x', { 'content-type': 'application/x-thrift', 'content-encoding': 'br' }), 415, /unsupported content encoding "br"/],
  ];
  test.each(refusals)('%s is refused and the receiver keeps serving', async (_name, send, status, body) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(await res.text()).toMatch(body);
    expect(pusher.calls).toBe(0);
    expect((await post(encodeBatch('binary', batch))).status).toBe(202);
  });

  test.each([
    [Code.ResourceExhausted, 429],
    [Code.Unavailable, 503],
  ])('pusher code %s → %s with Retry-After', async (code, status) => {
    pusher.failWith = new ConnectError('RATE_LIMITED: ingestion rate limit (100 bytes) exceeded', code);
    const res = await post(encodeBatch('binary', batch));
    expect(res.status).toBe(status);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.text()).toMatch(/ingestion rate limit \(100 bytes\)/);
    pusher.failWith = undefined;
    expect((await post(encodeBatch('binary', batch))).status).toBe(202);
  });

  test('Retry-After from the error metadata wins; other codes keep their status', async () => {
    pusher.failWith = new ConnectError('slow down', Code.ResourceExhausted, { 'retry-after': '30' });
    const limited = await post(encodeBatch('binary', batch));
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '30']);
    pusher.failWith = new ConnectError('no tenant', Code.Unauthenticated);
    const unauth = await post(encodeBatch('binary', batch));
    expect([unauth.status, unauth.headers.get('retry-after')]).toEqual([401, null]);
  });

  test('a batch with no spans is accepted without a push', async () => {
    expect((await post(encodeBatch('binary', { ...batch, spans: [] }))).status).toBe(202);
    expect(pusher.calls).toBe(0);
  });

  test('logs where it listens', async () => {
    const lines: string[] = [];
    const r = new JaegerThriftHttpReceiver({ pusher, endpoint: '127.0.0.1:0', logger: new Logger('info', 'json', {}, { write: (l) => void lines.push(l) }) });
    await r.start();
    const port = r.address().port;
    await r.stop();
    await r.stop();
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(
      expect.objectContaining({ msg: 'receiver listening', receiver: 'jaeger_thrift_http', address: `127.0.0.1:${port}`, port }),
    );
  });
});
