import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  JaegerPostSpansRequestSchema,
  JaegerPostSpansResponseSchema,
  JaegerSpanRefType,
  JaegerValueType,
  Span_SpanKind,
  Status_StatusCode,
  type JaegerPostSpansRequest,
  type JaegerPostSpansResponse,
} from '@stave/proto';
import { Code, ConnectError, MAX_ERROR_MESSAGE_CHARS, nopLogger } from '@stave/server';
import { CapturingPusher, attrs, hex } from './test-support';
import { JaegerGrpcReceiver } from './grpc-receiver';

let receiver: JaegerGrpcReceiver;
let pusher: CapturingPusher;
let client: grpc.Client;

beforeEach(async () => {
  pusher = new CapturingPusher();
  receiver = new JaegerGrpcReceiver({ pusher, logger: nopLogger, endpoint: '127.0.0.1:0' });
  await receiver.start();
  client = new grpc.Client(`127.0.0.1:${receiver.address().port}`, grpc.credentials.createInsecure());
});

afterEach(async () => {
  client.close();
  await receiver.stop();
});

/** A real grpc-js unary call to CollectorService/PostSpans, with our generated messages as the codec. */
function postSpans(
  req: MessageInitShape<typeof JaegerPostSpansRequestSchema>,
  metadata = new grpc.Metadata(),
  patch: (wire: Buffer) => Buffer = (b) => b,
): Promise<JaegerPostSpansResponse> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest<JaegerPostSpansRequest, JaegerPostSpansResponse>(
      '/jaeger.api_v2.CollectorService/PostSpans',
      (m) => patch(Buffer.from(toBinary(JaegerPostSpansRequestSchema, m))),
      (b) => fromBinary(JaegerPostSpansResponseSchema, b),
      create(JaegerPostSpansRequestSchema, req),
      metadata,
      { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
}

const traceId = Buffer.from('4bf92f3577b34da6a3ce929d0e0e4736', 'hex');
const kv = (key: string, v: Record<string, unknown>) => ({ key, ...v });

const request: MessageInitShape<typeof JaegerPostSpansRequestSchema> = {
  batch: {
    process: { serviceName: 'cart', tags: [kv('version', { vType: JaegerValueType.STRING, vStr: '1.2.3' })] },
    spans: [
      {
        traceId,
        spanId: Buffer.from('00f067aa0ba902b7', 'hex'),
        operationName: 'AddItem',
        references: [
          { traceId, spanId: Buffer.from('1111111111111111', 'hex'), refType: JaegerSpanRefType.CHILD_OF },
          { traceId: Buffer.alloc(16, 7), spanId: Buffer.from('2222222222222222', 'hex'), refType: JaegerSpanRefType.FOLLOWS_FROM },
        ],
        flags: 1,
        startTime: { seconds: 1_700_000_000n, nanos: 1_000 },
        duration: { seconds: 0n, nanos: 2_000_000 },
        tags: [
          kv('span.kind', { vType: JaegerValueType.STRING, vStr: 'server' }),
          kv('otel.status_code', { vType: JaegerValueType.STRING, vStr: 'ERROR' }),
          kv('otel.status_description', { vType: JaegerValueType.STRING, vStr: 'out of stock' }),
          kv('otel.scope.name', { vType: JaegerValueType.STRING, vStr: 'cart-lib' }),
          kv('otel.scope.version', { vType: JaegerValueType.STRING, vStr: '0.9' }),
          kv('qty', { vType: JaegerValueType.INT64, vInt64: 3n }),
          kv('price', { vType: JaegerValueType.FLOAT64, vFloat64: 9.99 }),
          kv('gift', { vType: JaegerValueType.BOOL, vBool: true }),
          kv('sku', { vType: JaegerValueType.BINARY, vBinary: new Uint8Array([0xca, 0xfe]) }),
        ],
        logs: [{ timestamp: { seconds: 1_700_000_000n, nanos: 500_000 }, fields: [kv('event', { vType: JaegerValueType.STRING, vStr: 'reserved' })] }],
      },
    ],
  },
};

describe('Jaeger gRPC receiver (grpc-js client)', () => {
  test('PostSpans: converted field by field, tenant from metadata', async () => {
    const md = new grpc.Metadata();
    md.set('x-scope-orgid', 'tenant-g');
    await postSpans(request, md);
    expect(pusher.pushes).toHaveLength(1);
    const { ctx, req } = pusher.pushes[0]!;
    expect(ctx).toEqual({ orgID: 'tenant-g', protocol: 'jaeger_grpc' });
    const rs = req.resourceSpans[0]!;
    expect(attrs(rs.resource!.attributes)).toEqual({ 'service.name': 'cart', version: '1.2.3' });
    expect([rs.scopeSpans[0]!.scope?.name, rs.scopeSpans[0]!.scope?.version]).toEqual(['cart-lib', '0.9']);
    const sp = rs.scopeSpans[0]!.spans[0]!;
    expect(hex(sp.traceId)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(hex(sp.spanId)).toBe('00f067aa0ba902b7');
    expect(hex(sp.parentSpanId)).toBe('1111111111111111');
    expect(sp.kind).toBe(Span_SpanKind.SERVER);
    expect([sp.status?.code, sp.status?.message]).toEqual([Status_StatusCode.ERROR, 'out of stock']);
    expect([sp.startTimeUnixNano, sp.endTimeUnixNano]).toEqual([1_700_000_000_000_001_000n, 1_700_000_000_002_001_000n]);
    expect(attrs(sp.attributes)).toEqual({ qty: 3n, price: 9.99, gift: true, sku: 'hex:cafe' });
    expect(sp.events.map((e) => [e.name, e.timeUnixNano])).toEqual([['reserved', 1_700_000_000_000_500_000n]]);
    expect(sp.links.map((l) => [hex(l.traceId), hex(l.spanId)])).toEqual([['07070707070707070707070707070707', '2222222222222222']]);
  });

  test.each([
    [Code.ResourceExhausted, grpc.status.RESOURCE_EXHAUSTED],
    [Code.Unavailable, grpc.status.UNAVAILABLE],
    [Code.Unauthenticated, grpc.status.UNAUTHENTICATED],
  ])('pusher code %s passes through as gRPC status %s', async (code, status) => {
    pusher.failWith = new ConnectError('RATE_LIMITED: ingestion rate limit (100 bytes) exceeded', code);
    await expect(postSpans(request)).rejects.toMatchObject({ code: status, details: expect.stringContaining('ingestion rate limit (100 bytes)') });
  });

  test('a malformed ID is INVALID_ARGUMENT naming the span; the server keeps serving', async () => {
    const bad = { batch: { spans: [{ traceId: Buffer.alloc(8, 1), spanId: Buffer.alloc(8, 1), operationName: 'x' }] } };
    const err = (await postSpans(bad).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    // connect-node percent-encodes grpc-message with encodeURIComponent; grpc-js undoes only decodeURI's part.
    expect(decodeURIComponent(err.details)).toBe('jaeger span[0]: trace_id must be 16 bytes, got 8');
    expect(pusher.calls).toBe(0);
    await postSpans(request);
    expect(pusher.pushes).toHaveLength(1);
  });

  test('invalid UTF-8 in a string becomes U+FFFD and the batch is kept (docs/limits.md)', async () => {
    const one = { batch: { spans: [{ traceId, spanId: Buffer.alloc(8, 1), operationName: 'opZx' }] } };
    await postSpans(one, new grpc.Metadata(), (b) => {
      b[b.indexOf('Z')] = 0xff;
      return b;
    });
    expect(pusher.spans().map((sp) => sp.name)).toEqual(['op\uFFFDx']);
  });

  test('a message over the receive limit is RESOURCE_EXHAUSTED naming it; the server keeps serving', async () => {
    const big = { batch: { spans: [{ traceId, spanId: Buffer.alloc(8, 1), operationName: 'x'.repeat(5 << 20) }] } };
    const err = (await postSpans(big).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(decodeURIComponent(err.details)).toContain(String(4 << 20));
    await postSpans(request);
    expect(pusher.pushes).toHaveLength(1);
  });

  test('error messages are capped at MAX_ERROR_MESSAGE_CHARS and carry no file paths', async () => {
    pusher.failWith = new ConnectError(`cannot write /var/lib/stave/wal/t1/0001.wal: ${'x'.repeat(5000)}`, Code.Unavailable);
    const err = (await postSpans(request).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    const details = decodeURIComponent(err.details);
    expect(details.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    expect(details).toMatch(/^cannot write <path>: x+…$/);
  });

  test('an empty request is answered without a push', async () => {
    await postSpans({});
    await postSpans({ batch: { process: { serviceName: 'idle' } } });
    expect(pusher.calls).toBe(0);
  });
});
