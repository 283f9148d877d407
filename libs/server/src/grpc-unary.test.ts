import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { compressionGzip, createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { Pusher, PushBytesRequestSchema, PushResponseSchema } from '@stave/proto';
import { nopLogger } from '@stave/core';
import { ConnectServer } from './connect-server';
import { GRPC_PREFIX_BYTES, GrpcUnaryClient, grpcFrame } from './grpc-unary';

const PATH = `/${Pusher.typeName}/${Pusher.method.pushBytes.name}`;
const MAX = 64 * 1024;

function framed(bytes: Uint8Array): Uint8Array {
  const out = grpcFrame(bytes.length);
  out.set(bytes, GRPC_PREFIX_BYTES);
  return out;
}

async function errorOf(p: Promise<unknown>): Promise<ConnectError> {
  return ConnectError.from(
    await p.then(
      () => new Error('resolved'),
      (e: unknown) => e,
    ),
  );
}

describe('bare gRPC unary calls (GrpcUnaryClient and ConnectServer.registerUnaryBytes)', () => {
  let server: ConnectServer;
  let port = 0;
  /** What the bare handler does with a request's bytes, by tenant. */
  const behaviour = new Map<string, () => Promise<Uint8Array>>();
  const seen: string[] = [];

  beforeAll(async () => {
    server = new ConnectServer({ name: 'grpc', address: '127.0.0.1', port: 0, maxRecvBytes: MAX, maxSendBytes: MAX, logger: nopLogger });
    server.register((router) =>
      router.service(Pusher, {
        pushBytes: (req) => {
          seen.push(`connect:${req.tenant}`);
          return create(PushResponseSchema, { errorsByTrace: [2] });
        },
      }),
    );
    server.registerUnaryBytes(PATH, async (message) => {
      const req = fromBinary(PushBytesRequestSchema, message);
      seen.push(`bare:${req.tenant}`);
      const b = behaviour.get(req.tenant);
      if (b) return b();
      return toBinary(PushResponseSchema, create(PushResponseSchema, { errorsByTrace: req.traces.map(() => 1) }));
    });
    await server.start();
    port = server.address().port;
  });
  afterAll(async () => {
    await server.stop();
  });

  const request = (tenant: string, traces = 2, size = 10): Uint8Array =>
    framed(toBinary(PushBytesRequestSchema, create(PushBytesRequestSchema, { tenant, traces: Array.from({ length: traces }, () => new Uint8Array(size)) })));

  const client = (timeoutMs = 5000, maxResponseBytes = MAX): GrpcUnaryClient =>
    new GrpcUnaryClient({ address: `127.0.0.1:${port}`, timeoutMs, maxResponseBytes });

  it('answers with the handler’s message, many calls in flight on one client', async () => {
    const c = client();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => c.call(PATH, request(`t${i}`, i))));
    answers.forEach((a, i) => expect(fromBinary(PushResponseSchema, a).errorsByTrace).toEqual(new Array(i).fill(1)));
    expect(seen).toContain('bare:t19');
    c.close();
  });

  it('answers plain gRPC clients itself and leaves Connect and compressed gRPC on the same path to connect-es', async () => {
    const base = `http://127.0.0.1:${port}`;
    const grpc = createClient(Pusher, createGrpcTransport({ baseUrl: base }));
    expect((await grpc.pushBytes({ tenant: 'by-grpc', traces: [new Uint8Array(3)] })).errorsByTrace).toEqual([1]);
    const gzip = createClient(Pusher, createGrpcTransport({ baseUrl: base, sendCompression: compressionGzip, compressMinBytes: 0 }));
    expect((await gzip.pushBytes({ tenant: 'by-grpc-gzip' })).errorsByTrace).toEqual([2]);
    const connect = createClient(Pusher, createConnectTransport({ baseUrl: base, httpVersion: '2' }));
    expect((await connect.pushBytes({ tenant: 'by-connect' })).errorsByTrace).toEqual([2]);
    expect(seen).toEqual(expect.arrayContaining(['bare:by-grpc', 'connect:by-grpc-gzip', 'connect:by-connect']));
  });

  it.each([
    [
      'a code and a message with spaces, % and ü',
      new ConnectError('INGESTER_FULL: 100% of 1 GiB used (ü)', Code.Unavailable),
      Code.Unavailable,
      'INGESTER_FULL: 100% of 1 GiB used (ü)',
    ],
    ['resource exhausted', new ConnectError('live traces budget', Code.ResourceExhausted), Code.ResourceExhausted, 'live traces budget'],
    [
      'a server-side failure, without its details',
      Object.assign(new Error(`EACCES: open '/var/lib/x'`), { code: 'EACCES' }),
      Code.Unknown,
      'internal error (details are in the server log)',
    ],
  ])('carries %s back to the caller', async (name, thrown, code, message) => {
    behaviour.set(name, () => Promise.reject(thrown));
    const err = await errorOf(client().call(PATH, request(name)));
    expect(err.code).toBe(code);
    expect(err.rawMessage).toBe(message);
  });

  it('fails a call past its deadline with DEADLINE_EXCEEDED, and the next call still works', async () => {
    let release: () => void = () => undefined;
    behaviour.set('slow', () => new Promise<Uint8Array>((resolve) => (release = () => resolve(new Uint8Array(0)))));
    const c = client(200);
    const t0 = Date.now();
    const err = await errorOf(c.call(PATH, request('slow')));
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(Date.now() - t0).toBeLessThan(2000);
    release();
    expect(fromBinary(PushResponseSchema, await c.call(PATH, request('fast', 1))).errorsByTrace).toEqual([1]);
    c.close();
  });

  it('refuses a request over the server’s max message size with RESOURCE_EXHAUSTED', async () => {
    const err = await errorOf(client().call(PATH, request('big', 8, MAX / 4)));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/larger than 65536 bytes/);
    expect(seen).not.toContain('bare:big');
  });

  it('cancels a response over maxResponseBytes with RESOURCE_EXHAUSTED', async () => {
    behaviour.set('huge answer', () => Promise.resolve(new Uint8Array(4096)));
    const err = await errorOf(client(5000, 1024).call(PATH, request('huge answer')));
    expect(err.code).toBe(Code.ResourceExhausted);
  });

  it('answers a body that is not one message with INVALID_ARGUMENT', async () => {
    const bad = grpcFrame(10); // declares 10 bytes, carries none
    const err = await errorOf(client().call(PATH, bad.subarray(0, GRPC_PREFIX_BYTES)));
    expect(err.code).toBe(Code.InvalidArgument);
  });

  it('fails with UNAVAILABLE when nothing listens', async () => {
    const probe = new ConnectServer({ name: 'probe', address: '127.0.0.1', port: 0, maxRecvBytes: MAX, maxSendBytes: MAX, logger: nopLogger });
    await probe.start();
    const closedPort = probe.address().port;
    await probe.stop();
    const c = new GrpcUnaryClient({ address: `127.0.0.1:${closedPort}`, timeoutMs: 2000, maxResponseBytes: MAX });
    const err = await errorOf(c.call(PATH, request('nobody')));
    expect(err.code).toBe(Code.Unavailable);
  });
});
