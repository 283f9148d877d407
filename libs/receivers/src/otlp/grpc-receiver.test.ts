import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ExportTracePartialSuccessSchema, ExportTraceServiceRequestSchema, SpanSchema } from '@stave/proto';
import { Code, ConnectError, Logger } from '@stave/server';
import { OtlpGrpcReceiver } from './grpc-receiver';
import { CapturingPusher, expectSpansIntact, sdkSpans } from './test-fixtures';

const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

type GrpcConfig = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;

function validRequest(traceIdHex = '0102030405060708090a0b0c0d0e0f10'): Uint8Array {
  return toBinary(
    ExportTraceServiceRequestSchema,
    create(ExportTraceServiceRequestSchema, {
      resourceSpans: [
        {
          scopeSpans: [
            { spans: [create(SpanSchema, { traceId: Buffer.from(traceIdHex, 'hex'), spanId: Buffer.from('0102030405060708', 'hex'), name: 'op' })] },
          ],
        },
      ],
    }),
  );
}

interface CallResult {
  error?: grpc.ServiceError;
  response?: Buffer;
}

/** One unary Export call with raw bytes from a real @grpc/grpc-js client. */
async function call(port: number, body: Uint8Array, opts: { gzip?: boolean; orgID?: string } = {}): Promise<CallResult> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), opts.gzip ? { 'grpc.default_compression_algorithm': 2 } : {});
  const metadata = new grpc.Metadata();
  if (opts.orgID) metadata.set('x-scope-orgid', opts.orgID);
  try {
    return await new Promise<CallResult>((resolve) => {
      client.makeUnaryRequest(
        EXPORT,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(body),
        metadata,
        { deadline: Date.now() + 20_000 },
        (error, response) => resolve(error ? { error } : { response: response! }),
      );
    });
  } finally {
    client.close();
  }
}

describe('OtlpGrpcReceiver', () => {
  let pusher: CapturingPusher;
  let receiver: OtlpGrpcReceiver;
  let port: number;
  let spans: ReadableSpan[];
  const logLines: string[] = [];

  beforeAll(async () => {
    spans = await sdkSpans();
  });

  beforeEach(async () => {
    logLines.length = 0;
    pusher = new CapturingPusher();
    receiver = new OtlpGrpcReceiver({
      pusher,
      logger: new Logger('info', 'json', {}, { write: (l) => logLines.push(l) }),
      endpoint: '127.0.0.1:0',
      maxRecvBytes: 256 * 1024,
    });
    await receiver.start();
    port = receiver.address().port;
  });

  afterEach(async () => {
    await receiver.stop();
  });

  async function expectStillServing(): Promise<void> {
    pusher.respond = async () => ({ rejectedSpans: 0, errorMessage: '' });
    const result = await call(port, validRequest());
    expect(result.error).toBeUndefined();
  }

  it('logs the bound port', () => {
    const line = logLines.map((l) => JSON.parse(l)).find((l) => l.msg === 'receiver listening');
    expect(line).toMatchObject({ receiver: 'otlp_grpc', address: `127.0.0.1:${port}`, port });
  });

  it.each(['none', 'gzip'])('takes spans from the real exporter-trace-otlp-grpc (compression %s) with every field intact', async (compression) => {
    const metadata = new grpc.Metadata();
    metadata.set('x-scope-orgid', 'tenant-g');
    const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${port}`, metadata, compression: compression as GrpcConfig['compression'] });
    const result = await new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(spans, resolve));
    await exporter.shutdown();
    expect(result.error).toBeUndefined();
    expect(result.code).toBe(0);
    expect(pusher.pushes).toHaveLength(1);
    expect(pusher.pushes[0]!.ctx).toEqual({ orgID: 'tenant-g', protocol: 'otlp_grpc' });
    expectSpansIntact(pusher.pushes[0]!.decoded(), spans);
  });

  it('hands the request bytes to the pusher unchanged, unknown fields included', async () => {
    const withUnknown = Buffer.concat([Buffer.from(validRequest()), Buffer.from([0xf8, 0x3e, 0x07])]); // field 999 varint 7
    const result = await call(port, withUnknown, { orgID: 'o' });
    expect(result.error).toBeUndefined();
    expect(Buffer.from(pusher.pushes[0]!.bytes).equals(withUnknown)).toBe(true);
  });

  it('answers partial success', async () => {
    pusher.respond = async () => ({ rejectedSpans: 4, errorMessage: 'trace too large' });
    const result = await call(port, validRequest());
    expect(result.error).toBeUndefined();
    const r = new BinaryReader(result.response!);
    expect(r.tag()[0]).toBe(1);
    const partial = fromBinary(ExportTracePartialSuccessSchema, r.bytes());
    expect([partial.rejectedSpans, partial.errorMessage]).toEqual([4n, 'trace too large']);
  });

  it('answers a full success with an empty response', async () => {
    const result = await call(port, validRequest());
    expect(result.response!.length).toBe(0);
  });

  describe('bad input is refused with a status naming it, and the server keeps serving', () => {
    it.each([
      [
        'an 8-byte trace ID',
        () => validRequest('0102030405060708'),
        {},
        grpc.status.INVALID_ARGUMENT,
        'resourceSpans[0].scopeSpans[0].spans[0]: trace ID must be 16 bytes, got 8',
      ],
      [
        'malformed content inside a ResourceSpans',
        () => Uint8Array.of(0x0a, 0x02, 0x12, 0x05),
        {},
        grpc.status.INVALID_ARGUMENT,
        /malformed protobuf at byte offset 3: length 5 exceeds the 0 bytes remaining/,
      ],
      // A request that does not even frame is the client's malformed input: INVALID_ARGUMENT (grpc-go says INTERNAL).
      ['truncated top-level framing', () => validRequest().subarray(0, 20), {}, grpc.status.INVALID_ARGUMENT, /parse binary/],
      [
        'a message over the cap',
        () => new Uint8Array(300 * 1024),
        {},
        grpc.status.RESOURCE_EXHAUSTED,
        /message size 307200 is larger than configured readMaxBytes 262144/,
      ],
      [
        'a gzip bomb',
        () => new Uint8Array(8 * 1024 * 1024),
        { gzip: true },
        grpc.status.RESOURCE_EXHAUSTED,
        'message is larger than the 262144 byte limit once decompressed',
      ],
    ] as const)('%s', async (_name, body, opts, status, message) => {
      const result = await call(port, body(), opts);
      expect(result.error?.code).toBe(status);
      // grpc-js decodes grpc-message with decodeURI, which leaves %3A and %2C (':' and ',') encoded.
      const details = decodeURIComponent(result.error?.details ?? '');
      if (typeof message === 'string') expect(details).toBe(message);
      else expect(details).toMatch(message);
      await expectStillServing();
    });

    it.each([
      [Code.ResourceExhausted, grpc.status.RESOURCE_EXHAUSTED],
      [Code.Unavailable, grpc.status.UNAVAILABLE],
      [Code.Unauthenticated, grpc.status.UNAUTHENTICATED],
      [Code.InvalidArgument, grpc.status.INVALID_ARGUMENT],
    ])('a pusher error with code %s is gRPC status %s', async (code, status) => {
      pusher.respond = async () => {
        throw new ConnectError(`ingestion rate limit (15000000 bytes) exceeded for tenant t`, code);
      };
      const result = await call(port, validRequest(), { orgID: 't' });
      expect(result.error?.code).toBe(status);
      expect(decodeURIComponent(result.error?.details ?? '')).toBe('ingestion rate limit (15000000 bytes) exceeded for tenant t');
      await expectStillServing();
    });
  });

  it('stops cleanly and can be stopped twice', async () => {
    await receiver.stop();
    await receiver.stop();
    const result = await call(port, validRequest());
    expect(result.error?.code).toBe(grpc.status.UNAVAILABLE);
    receiver = new OtlpGrpcReceiver({ pusher, logger: new Logger('error'), endpoint: '127.0.0.1:0' });
    await receiver.start();
  });
});
