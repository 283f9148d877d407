import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ExportTraceServiceRequestSchema, ExportTraceServiceResponseSchema, SpanSchema } from '@stave/proto';
import { Code, ConnectError, Logger, nopLogger } from '@stave/server';
import { BodyTooLargeError, inflateBounded } from './common';
import { OtlpHttpReceiver, type OtlpHttpReceiverOptions } from './http-receiver';
import { CapturingPusher, expectSpansIntact, preloadHttpTransport, sdkSpans } from './test-fixtures';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request on its own connection (no keep-alive, so nothing stays open after the test). */
function post(port: number, body: Uint8Array | string, headers: Record<string, string>, path = '/v1/traces', method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    // The server may answer (and close) before the whole body is written; the answer is what matters.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(body);
  });
}

/** google.rpc.Status from a protobuf body. */
function decodeStatus(body: Buffer): { code: number; message: string } {
  const r = new BinaryReader(body);
  const out = { code: 0, message: '' };
  while (r.pos < r.len) {
    const [no] = r.tag();
    if (no === 1) out.code = r.int32();
    else if (no === 2) out.message = r.string();
    else throw new Error(`unexpected Status field ${no}`);
  }
  return out;
}

const PROTO = { 'content-type': 'application/x-protobuf' };
const JSON_TYPE = { 'content-type': 'application/json' };

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

describe('OtlpHttpReceiver', () => {
  let pusher: CapturingPusher;
  let receiver: OtlpHttpReceiver;
  let port: number;
  let spans: ReadableSpan[];
  const logLines: string[] = [];

  async function start(opts: Partial<OtlpHttpReceiverOptions> = {}): Promise<void> {
    pusher = new CapturingPusher();
    receiver = new OtlpHttpReceiver({ pusher, logger: new Logger('info', 'json', {}, { write: (l) => logLines.push(l) }), endpoint: '127.0.0.1:0', ...opts });
    await receiver.start();
    port = receiver.address().port;
  }

  /** The server still accepts a valid request after whatever the test did. */
  async function expectStillServing(): Promise<void> {
    pusher.respond = async () => ({ rejectedSpans: 0, errorMessage: '' });
    const reply = await post(port, validRequest(), PROTO);
    expect(reply.status).toBe(200);
  }

  beforeAll(async () => {
    spans = await sdkSpans();
  });

  beforeEach(async () => {
    logLines.length = 0;
    await start({ maxRequestBytes: 64 * 1024, maxDecompressedBytes: 256 * 1024 });
  });

  afterEach(async () => {
    await receiver.stop();
  });

  it('logs the bound port', () => {
    const line = logLines.map((l) => JSON.parse(l)).find((l) => l.msg === 'receiver listening');
    expect(line).toMatchObject({ receiver: 'otlp_http', address: `127.0.0.1:${port}`, port });
  });

  describe('real OpenTelemetry exporters', () => {
    it.each([
      ['exporter-trace-otlp-proto', 'none'],
      ['exporter-trace-otlp-proto', 'gzip'],
      ['exporter-trace-otlp-http (JSON)', 'none'],
      ['exporter-trace-otlp-http (JSON)', 'gzip'],
    ] as const)('%s with compression %s delivers every field intact', async (name, compression) => {
      const config = {
        url: `http://127.0.0.1:${port}/v1/traces`,
        headers: { 'X-Scope-OrgID': 'tenant-a' },
        compression: compression as never,
        keepAlive: false,
      };
      const exporter = name.startsWith('exporter-trace-otlp-proto') ? new ProtoExporter(config) : new JsonExporter(config);
      preloadHttpTransport(exporter);
      const result = await new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(spans, resolve));
      await exporter.shutdown();
      expect(result.error).toBeUndefined();
      expect(result.code).toBe(0);
      expect(pusher.pushes).toHaveLength(1);
      const push = pusher.pushes[0]!;
      expect(push.ctx).toEqual({
        orgID: 'tenant-a',
        protocol: name.startsWith('exporter-trace-otlp-proto') ? 'otlp_http_proto' : 'otlp_http_json',
        bodyDisposable: true,
      });
      expectSpansIntact(push.decoded(), spans);
    });
  });

  it('passes protobuf bodies to the pusher byte for byte', async () => {
    const body = validRequest();
    const reply = await post(port, body, { ...PROTO, 'x-scope-orgid': 't1' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/x-protobuf');
    expect(reply.body.length).toBe(0); // an ExportTraceServiceResponse without partial_success
    expect(Buffer.from(pusher.pushes[0]!.bytes).equals(Buffer.from(body))).toBe(true);
    expect(pusher.pushes[0]!.ctx.orgID).toBe('t1');
  });

  it('keeps an idle keep-alive connection for two minutes, as it tells the client', async () => {
    // Node's own default is 5 s: a sender that keeps connections longer (the Collector: 90 s) would send
    // on a connection being closed. The server announces its timeout in the Keep-Alive header.
    const header = await new Promise<string | undefined>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', agent: false, headers: { ...PROTO, connection: 'keep-alive' } },
        (res) => {
          res.resume();
          res.on('end', () => {
            req.socket?.destroy();
            resolve(res.headers['keep-alive'] as string | undefined);
          });
        },
      );
      req.on('error', reject);
      req.end(validRequest());
    });
    expect(header).toBe('timeout=120');
  });

  it('accepts deflate as well as gzip', async () => {
    const reply = await post(port, zlib.deflateSync(validRequest()), { ...PROTO, 'content-encoding': 'deflate' });
    expect(reply.status).toBe(200);
    expect(Buffer.from(pusher.pushes[0]!.bytes).equals(Buffer.from(validRequest()))).toBe(true);
  });

  it('answers partial success in the request encoding', async () => {
    pusher.respond = async () => ({ rejectedSpans: 3, errorMessage: 'max live traces (100) reached for tenant t1' });
    const proto = await post(port, validRequest(), PROTO);
    expect(proto.status).toBe(200);
    const res = fromBinary(ExportTraceServiceResponseSchema, proto.body);
    expect([res.partialSuccess?.rejectedSpans, res.partialSuccess?.errorMessage]).toEqual([3n, 'max live traces (100) reached for tenant t1']);
    const json = await post(port, '{"resourceSpans":[]}', JSON_TYPE);
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toBe('application/json');
    expect(JSON.parse(json.body.toString())).toEqual({ partialSuccess: { rejectedSpans: '3', errorMessage: 'max live traces (100) reached for tenant t1' } });
  });

  describe('bad input gets a 4xx naming the problem, and the server keeps serving', () => {
    const eightByteTrace = () => validRequest('0102030405060708');
    it.each([
      [
        'truncated protobuf',
        () => post(port, validRequest().subarray(0, 20), PROTO),
        400,
        'proto',
        /^request: malformed protobuf at byte offset 1: length \d+ exceeds the 18 bytes remaining$/,
      ],
      [
        'an 8-byte trace ID (protobuf)',
        () => post(port, eightByteTrace(), PROTO),
        400,
        'proto',
        'resourceSpans[0].scopeSpans[0].spans[0]: trace ID must be 16 bytes, got 8',
      ],
      [
        'an 8-byte trace ID (JSON)',
        () =>
          post(
            port,
            JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '0102030405060708', spanId: '0102030405060708' }] }] }] }),
            JSON_TYPE,
          ),
        400,
        'json',
        'resourceSpans[0].scopeSpans[0].spans[0]: trace ID must be 16 bytes, got 8',
      ],
      ['invalid JSON', () => post(port, '{"resourceSpans": [}', JSON_TYPE), 400, 'json', /^invalid JSON: /],
      [
        'JSON of the wrong shape',
        () => post(port, '{"resourceSpans": [{"scopeSpans": 7}]}', JSON_TYPE),
        400,
        'json',
        'invalid OTLP JSON at resourceSpans[0].scopeSpans: expected an array, got number 7',
      ],
      // Invalid UTF-8 reads as U+FFFD (docs/limits.md): outside a string that is still not JSON.
      ['JSON with invalid UTF-8 outside strings', () => post(port, Buffer.from([0x7b, 0xff, 0x7d]), JSON_TYPE), 400, 'json', /^invalid JSON: /],
      [
        'a wrong content type',
        () => post(port, 'hello', { 'content-type': 'text/plain' }),
        415,
        'json',
        'unsupported content type "text/plain": OTLP/HTTP accepts application/x-protobuf and application/json',
      ],
      [
        'no content type',
        () => post(port, validRequest(), {}),
        415,
        'json',
        'unsupported content type "": OTLP/HTTP accepts application/x-protobuf and application/json',
      ],
      [
        'an unknown content encoding',
        () => post(port, validRequest(), { ...PROTO, 'content-encoding': 'br' }),
        415,
        'proto',
        'unsupported content encoding "br": gzip, deflate and identity are accepted',
      ],
      ['a body that is not gzip', () => post(port, validRequest(), { ...PROTO, 'content-encoding': 'gzip' }), 400, 'proto', /^invalid gzip body: /],
      [
        'a declared body over the cap',
        () => post(port, Buffer.alloc(100 * 1024), PROTO),
        413,
        'proto',
        'request body too large: more than the 65536 byte limit',
      ],
      [
        'a chunked body over the cap',
        () => post(port, Buffer.alloc(100 * 1024), { ...PROTO, 'transfer-encoding': 'chunked' }),
        413,
        'proto',
        'request body too large: more than the 65536 byte limit',
      ],
      [
        'a gzip bomb',
        () => post(port, zlib.gzipSync(Buffer.alloc(8 * 1024 * 1024)), { ...PROTO, 'content-encoding': 'gzip' }),
        413,
        'proto',
        'request body too large: more than the 262144 byte limit once decompressed',
      ],
      [
        'another path',
        () => post(port, validRequest(), PROTO, '/v1/metrics'),
        404,
        'proto',
        'no such path /v1/metrics: OTLP traces are accepted on /v1/traces',
      ],
      ['GET', () => post(port, '', {}, '/v1/traces', 'GET'), 405, 'json', 'method GET not allowed on /v1/traces: use POST'],
    ] as const)('%s', async (_name, send, status, encoding, message) => {
      const reply = await send();
      expect(reply.status).toBe(status);
      expect(reply.headers['content-type']).toBe(encoding === 'proto' ? 'application/x-protobuf' : 'application/json');
      const body = encoding === 'proto' ? decodeStatus(reply.body) : (JSON.parse(reply.body.toString()) as { code: number; message: string });
      if (typeof message === 'string') expect(body.message).toBe(message);
      else expect(body.message).toMatch(message);
      expect(body.code).toBe(
        status === 413 ? Code.ResourceExhausted : status === 404 ? Code.NotFound : status === 405 ? Code.Unimplemented : Code.InvalidArgument,
      );
      await expectStillServing();
    });

    it('does not call the pusher for requests refused at the door', async () => {
      await post(port, 'x', { 'content-type': 'text/plain' });
      await post(port, '{', JSON_TYPE);
      await post(port, Buffer.alloc(100 * 1024), PROTO);
      expect(pusher.pushes).toHaveLength(0);
    });
  });

  describe('pusher failures map to statuses clients act on', () => {
    it.each([
      [Code.ResourceExhausted, 429, '5'],
      [Code.Unavailable, 503, '5'],
      [Code.Unauthenticated, 401, undefined],
      [Code.InvalidArgument, 400, undefined],
      [Code.DeadlineExceeded, 504, undefined],
      [Code.Internal, 500, undefined],
    ])('code %s -> HTTP %s (Retry-After %s)', async (code, status, retryAfter) => {
      pusher.respond = async () => {
        throw new ConnectError(`refused with ${Code[code]}`, code);
      };
      for (const [body, type] of [
        [validRequest(), PROTO],
        ['{}', JSON_TYPE],
      ] as const) {
        const reply = await post(port, body, type);
        expect(reply.status).toBe(status);
        expect(reply.headers['retry-after']).toBe(retryAfter);
        const decoded = type === PROTO ? decodeStatus(reply.body) : JSON.parse(reply.body.toString());
        expect(decoded).toEqual({ code, message: `refused with ${Code[code]}` });
      }
      await expectStillServing();
    });

    it('uses the retry-after the pusher gives', async () => {
      pusher.respond = async () => {
        throw new ConnectError('ingestion rate limit (100 bytes) exceeded', Code.ResourceExhausted, { 'retry-after': '17' });
      };
      const reply = await post(port, validRequest(), PROTO);
      expect([reply.status, reply.headers['retry-after']]).toEqual([429, '17']);
    });

    it('answers 500 for an error that is not a ConnectError, and keeps serving', async () => {
      pusher.respond = async () => {
        throw new TypeError('bug');
      };
      const reply = await post(port, validRequest(), PROTO);
      expect(reply.status).toBe(500);
      // The text of an unexpected error is for the log, not the client.
      expect(decodeStatus(reply.body).message).toBe('internal error (details are in the server log)');
      expect(logLines.some((l) => JSON.parse(l).msg === 'otlp push failed')).toBe(true);
      await expectStillServing();
    });
  });

  it('shrugs off a client that disconnects halfway through its body', async () => {
    await receiver.stop();
    await start({ logger: new Logger('debug', 'json', {}, { write: (l) => logLines.push(l) }) });
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 1000\r\n\r\n0123456789');
    socket.destroy();
    // Poll until the receiver has noticed (no sleeps).
    const deadline = Date.now() + 5000;
    while (!logLines.some((l) => JSON.parse(l).msg === 'otlp request abandoned by the client')) {
      if (Date.now() > deadline) throw new Error('the receiver never noticed the disconnect');
      await new Promise((r) => setImmediate(r));
    }
    expect(logLines.some((l) => JSON.parse(l).level === 'error')).toBe(false);
    expect(pusher.pushes).toHaveLength(0);
    await expectStillServing();
  });

  it('stops inflating a gzip bomb at the cap instead of inflating all of it', async () => {
    // 64 gzip members of 16 MiB of zeros each: 1 GiB once inflated, about 1 MiB compressed.
    const member = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024));
    const bomb = Buffer.concat(Array.from({ length: 64 }, () => member));
    const err = await inflateBounded(bomb, 'gzip', 1024 * 1024).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BodyTooLargeError);
    // It stopped within the first member: far less than the whole input was consumed.
    expect((err as BodyTooLargeError).consumedBytes).toBeLessThan(member.length);
  });

  it('stops cleanly and can be stopped twice', async () => {
    await receiver.stop();
    await receiver.stop();
    await expect(post(port, validRequest(), PROTO)).rejects.toThrow(/ECONNREFUSED/);
    await start();
  });

  it('refuses a bad endpoint when constructed', () => {
    expect(() => new OtlpHttpReceiver({ pusher, logger: nopLogger, endpoint: 'localhost' })).toThrow('invalid OTLP receiver endpoint "localhost"');
  });
});
