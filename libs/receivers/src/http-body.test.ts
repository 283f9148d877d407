// Every HTTP receiver (OTLP/HTTP, Zipkin, Jaeger thrift-HTTP) refuses bad bodies the same way: an over-size
// body gets a 413 naming the limit that a real client, still uploading, receives (no EPIPE/ECONNRESET);
// compression bombs stop at the cap; invalid UTF-8 becomes U+FFFD; error messages are capped.

import http from 'node:http';
import zlib from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema, ZipkinListOfSpansSchema } from '@stave/proto';
import { MAX_ERROR_MESSAGE_CHARS, nopLogger, type BasicService } from '@stave/server';
import { splitByTrace } from '@stave/model';
import { CapturingPusher, hex } from './jaeger/test-support';
import type { PushContext, PushOutcome } from './pusher';
import { JaegerThriftHttpReceiver } from './jaeger/thrift-http-receiver';
import { OtlpHttpReceiver } from './otlp/http-receiver';
import { ZipkinReceiver } from './zipkin/zipkin-receiver';
import { MAX_DRAIN_BYTES } from './http-body';

const LIMIT = 256 * 1024;

interface Target {
  name: string;
  path: string;
  contentType: string;
  build: (pusher: CapturingPusher) => BasicService & { address(): { port: number } };
}

const TARGETS: Target[] = [
  {
    name: 'OTLP/HTTP',
    path: '/v1/traces',
    contentType: 'application/x-protobuf',
    build: (pusher) => new OtlpHttpReceiver({ pusher, logger: nopLogger, endpoint: '127.0.0.1:0', maxRequestBytes: LIMIT, maxDecompressedBytes: LIMIT }),
  },
  {
    name: 'Zipkin',
    path: '/api/v2/spans',
    contentType: 'application/json',
    build: (pusher) => new ZipkinReceiver({ pusher, logger: nopLogger, endpoint: '127.0.0.1:0', maxRequestBytes: LIMIT }),
  },
  {
    name: 'Jaeger thrift-HTTP',
    path: '/api/traces',
    contentType: 'application/x-thrift',
    build: (pusher) => new JaegerThriftHttpReceiver({ pusher, logger: nopLogger, endpoint: '127.0.0.1:0', maxRequestBytes: LIMIT }),
  },
];

interface Outcome {
  status?: number;
  body?: string;
  /** Any error the client saw (EPIPE, ECONNRESET, ...): none is acceptable below the drain allowance. */
  error?: string;
}

/**
 * Uploads `total` bytes in 16 KiB writes, honouring backpressure, as an exporter streams a body, with a
 * content-length or chunked. Resolves when the response has been read or the request failed.
 */
function upload(port: number, path: string, headers: Record<string, string>, total: number, chunked: boolean, keepAlive = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = {};
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent: keepAlive ? undefined : false,
        headers: { ...headers, ...(chunked ? {} : { 'content-length': String(total) }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          out.status = res.statusCode;
          out.body = Buffer.concat(chunks).toString();
          resolve(out);
        });
        res.on('error', (err) => {
          out.error = err.message;
          resolve(out);
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      out.error = err.code ?? err.message;
      resolve(out);
    });
    const chunk = Buffer.alloc(16 * 1024, 0x41);
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

describe.each(TARGETS)('$name receiver', (target) => {
  let pusher: CapturingPusher;
  let receiver: ReturnType<Target['build']>;
  let port: number;

  beforeAll(async () => {
    pusher = new CapturingPusher();
    receiver = target.build(pusher);
    await receiver.start();
    port = receiver.address().port;
  });
  afterAll(async () => {
    await receiver.stop();
  });

  it.each([
    ['with a content-length', false],
    ['chunked', true],
  ])('answers an over-size body %s with a 413 naming the limit that the client receives, 30 times in 30', async (_name, chunked) => {
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 30; i++) outcomes.push(await upload(port, target.path, { 'content-type': target.contentType }, 4 * LIMIT + i * 1000, chunked));
    expect(outcomes.filter((o) => o.error !== undefined)).toEqual([]);
    expect(outcomes.map((o) => o.status)).toEqual(new Array(30).fill(413));
    for (const o of outcomes) expect(o.body).toContain(`${LIMIT} byte limit`);
    expect(pusher.calls).toBe(0);
  });

  it('keeps the connection for the next request after a 413', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = (total: number) =>
        new Promise<{ status: number; socket: unknown }>((resolve, reject) => {
          const req = http.request(
            { host: '127.0.0.1', port, path: target.path, method: 'POST', agent, headers: { 'content-type': target.contentType } },
            (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode!, socket: req.socket }));
            },
          );
          req.on('error', reject);
          req.end(Buffer.alloc(total));
        });
      const first = await get(2 * LIMIT);
      const second = await get(2 * LIMIT);
      expect([first.status, second.status]).toEqual([413, 413]);
      expect(second.socket).toBe(first.socket);
    } finally {
      agent.destroy();
    }
  });

  it('closes (after answering) a body longer than the drain allowance instead of reading it all', async () => {
    const o = await upload(port, target.path, { 'content-type': target.contentType }, LIMIT + MAX_DRAIN_BYTES + 1024 * 1024, true);
    // The answer may or may not reach a client that keeps writing; what matters is that the server stops
    // reading and keeps serving.
    if (o.status !== undefined) expect(o.status).toBe(413);
    const next = await upload(port, target.path, { 'content-type': target.contentType }, 0, false);
    expect(next.error).toBeUndefined();
    expect(next.status).toBeLessThan(500);
  }, 30_000);

  it('answers a gzip bomb with 413 once inflated past the limit', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(64 * LIMIT));
    expect(bomb.length).toBeLessThan(LIMIT);
    const reply = await fetch(`http://127.0.0.1:${port}${target.path}`, {
      method: 'POST',
      headers: { 'content-type': target.contentType, 'content-encoding': 'gzip' },
      body: bomb,
    });
    expect(reply.status).toBe(413);
    expect(await reply.text()).toContain('once decompressed');
  });

  it.each(['zstd', 'snappy', 'br'])('answers content-encoding %s (not accepted) with 415 naming what is', async (coding) => {
    const reply = await fetch(`http://127.0.0.1:${port}${target.path}`, {
      method: 'POST',
      headers: { 'content-type': target.contentType, 'content-encoding': coding },
      body: 'x',
    });
    expect(reply.status).toBe(415);
    expect(await reply.text()).toMatch(/gzip.* and identity are accepted/);
  });
});

/** Hands on what the distributor would: OTLP protobuf as its wire scan splits (and repairs) it. */
class SplittingPusher extends CapturingPusher {
  override pushOtlp(ctx: PushContext, bytes: Uint8Array): Promise<PushOutcome> {
    return super.pushOtlp(ctx, Buffer.concat(splitByTrace(bytes).traces.map((t) => t.bytes)));
  }
}

describe('invalid UTF-8 is stored as U+FFFD by every receiver, the batch kept', () => {
  const TRACE = '0af7651916cd43dd8448eb211c80319c';
  // "op" + 0xff + "x": 0xff is never valid UTF-8.
  const badName = Buffer.concat([Buffer.from('op'), Buffer.from([0xff]), Buffer.from('x')]);
  const bodies: Array<[string, number, () => Buffer, string]> = [
    [
      'OTLP/HTTP JSON',
      0,
      () =>
        Buffer.concat([
          Buffer.from(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${TRACE}","spanId":"b7ad6b7169203331","name":"`),
          badName,
          Buffer.from('"}]}]}]}'),
        ]),
      'application/json',
    ],
    [
      'OTLP/HTTP protobuf',
      0,
      () => {
        const b = Buffer.from(
          toBinary(
            ExportTraceServiceRequestSchema,
            create(ExportTraceServiceRequestSchema, {
              resourceSpans: [
                { scopeSpans: [{ spans: [{ traceId: Buffer.from(TRACE, 'hex'), spanId: Buffer.from('b7ad6b7169203331', 'hex'), name: 'opZx' }] }] },
              ],
            }),
          ),
        );
        b[b.indexOf('Z')] = 0xff;
        return b;
      },
      'application/x-protobuf',
    ],
    [
      'Zipkin proto3',
      1,
      () => {
        const b = Buffer.from(
          toBinary(
            ZipkinListOfSpansSchema,
            create(ZipkinListOfSpansSchema, {
              spans: [
                { traceId: Buffer.from(TRACE, 'hex'), id: Buffer.from('b7ad6b7169203331', 'hex'), name: 'opZx', timestamp: 1700000000000000n, duration: 5n },
              ],
            }),
          ),
        );
        b[b.indexOf('Z')] = 0xff;
        return b;
      },
      'application/x-protobuf',
    ],
    [
      'Zipkin JSON',
      1,
      () =>
        Buffer.concat([
          Buffer.from(`[{"traceId":"${TRACE}","id":"b7ad6b7169203331","timestamp":1700000000000000,"duration":5,"name":"`),
          badName,
          Buffer.from('"}]'),
        ]),
      'application/json',
    ],
  ];

  it.each(bodies)('%s', async (_name, targetIndex, body, contentType) => {
    const pusher = new SplittingPusher();
    const receiver = TARGETS[targetIndex]!.build(pusher);
    await receiver.start();
    try {
      const reply = await fetch(`http://127.0.0.1:${receiver.address().port}${TARGETS[targetIndex]!.path}`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: body(),
      });
      expect(reply.status).toBeLessThan(300);
      const spans = pusher.spans();
      expect(spans).toHaveLength(1);
      expect(hex(spans[0]!.traceId)).toBe(TRACE);
      // Zipkin lowercases span names, as Zipkin's own server does.
      expect(spans[0]!.name.toLowerCase()).toBe('op\uFFFDx');
    } finally {
      await receiver.stop();
    }
  });
});

describe('error messages are capped', () => {
  it.each(TARGETS.map((t, i) => [t.name, i] as const))('%s: a deeply nested bad body gets a readable message', async (_name, i) => {
    const pusher = new CapturingPusher();
    const receiver = TARGETS[i]!.build(pusher);
    await receiver.start();
    try {
      // A wrong type 90 levels down: the message would spell the whole path.
      let value = '{"intValue":{"nope":1}}';
      for (let d = 0; d < 90; d++) value = `{"arrayValue":{"values":[${value}]}}`;
      const otlp = `{"resourceSpans":[{"resource":{"attributes":[{"key":"${'k'.repeat(2000)}","value":${value}}]},"scopeSpans":[]}]}`;
      const body = i === 0 ? otlp : i === 1 ? `[{"traceId":"${'z'.repeat(4000)}"}]` : Buffer.alloc(4000, 0x0c);
      const reply = await fetch(`http://127.0.0.1:${receiver.address().port}${TARGETS[i]!.path}`, {
        method: 'POST',
        headers: { 'content-type': i === 0 ? 'application/json' : TARGETS[i]!.contentType },
        body,
      });
      expect(reply.status).toBe(400);
      const text = await reply.text();
      const message = i === 0 ? (JSON.parse(text) as { message: string }).message : text.trimEnd();
      expect(message.length).toBeGreaterThan(10);
      expect(message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    } finally {
      await receiver.stop();
    }
  });
});
