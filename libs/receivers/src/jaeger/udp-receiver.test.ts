import dgram from 'node:dgram';
import * as thrift from 'thrift';
import { initTracer, type JaegerTracer } from 'jaeger-client';
import * as opentracing from 'opentracing';
import { Registry } from 'prom-client';
import { JaegerTagType, type JaegerThriftBatch } from '@stave/model';
import { Span_SpanKind, Status_StatusCode } from '@stave/proto';
import { ConnectError, Code, Logger, nopLogger } from '@stave/server';
import { CapturingPusher, attrs, hex, poll } from './test-support';
import { encodeEmitBatch } from '@stave/model/testing';
import { JaegerUdpReceiver, UDP_DROPPED_METRIC, type JaegerUdpProtocol } from './udp-receiver';

const quiet = { info: () => undefined, error: () => undefined };

interface Running {
  receiver: JaegerUdpReceiver;
  pusher: CapturingPusher;
  registry: Registry;
  port: number;
}

const running: JaegerUdpReceiver[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function start(protocol: JaegerUdpProtocol, extra: { workers?: number; queueSize?: number; pusher?: CapturingPusher } = {}): Promise<Running> {
  const pusher = extra.pusher ?? new CapturingPusher();
  const registry = new Registry();
  const receiver = new JaegerUdpReceiver({ protocol, pusher, logger: nopLogger, registry, endpoint: '127.0.0.1:0', ...extra });
  running.push(receiver);
  await receiver.start();
  return { receiver, pusher, registry, port: receiver.address().port };
}

async function dropped(registry: Registry, reason: string): Promise<number> {
  const m = await registry.getSingleMetric(UDP_DROPPED_METRIC)?.get();
  return m?.values.filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0) ?? 0;
}

async function sendUdp(port: number, ...packets: Buffer[]): Promise<void> {
  const socket = dgram.createSocket('udp4');
  try {
    for (const p of packets) await new Promise<void>((resolve, reject) => socket.send(p, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

function closeTracer(tracer: JaegerTracer): Promise<void> {
  return new Promise((resolve) => tracer.close(() => resolve()));
}

/** A batch with one span of every tag type, a log and two references; IDs chosen to have the top bit set. */
const batch: JaegerThriftBatch = {
  process: {
    serviceName: 'inventory',
    tags: [
      { key: 'hostname', vType: JaegerTagType.STRING, vStr: 'db-7' },
      { key: 'shard', vType: JaegerTagType.LONG, vLong: 12n },
    ],
  },
  spans: [
    {
      traceIdHigh: -0x1122334455667788n,
      traceIdLow: 0x0102030405060708n,
      spanId: -3n,
      parentSpanId: 0n,
      operationName: 'SELECT items',
      references: [
        { refType: 0, traceIdHigh: -0x1122334455667788n, traceIdLow: 0x0102030405060708n, spanId: 0x42n },
        { refType: 1, traceIdHigh: 0n, traceIdLow: 99n, spanId: 100n },
      ],
      flags: 1,
      startTime: 1_700_000_000_000_000n,
      duration: 1_234n,
      tags: [
        { key: 'span.kind', vType: JaegerTagType.STRING, vStr: 'client' },
        { key: 'db.statement', vType: JaegerTagType.STRING, vStr: 'SELECT 1' },
        { key: 'rows', vType: JaegerTagType.LONG, vLong: 9_007_199_254_740_993n },
        { key: 'ratio', vType: JaegerTagType.DOUBLE, vDouble: 0.5 },
        { key: 'cached', vType: JaegerTagType.BOOL, vBool: false },
        { key: 'blob', vType: JaegerTagType.BINARY, vBinary: new Uint8Array([0xde, 0xad]) },
        { key: 'error', vType: JaegerTagType.BOOL, vBool: true },
        { key: 'otel.status_description', vType: JaegerTagType.STRING, vStr: 'deadlock' },
      ],
      logs: [{ timestamp: 1_700_000_000_000_500n, fields: [{ key: 'event', vType: JaegerTagType.STRING, vStr: 'retry' }] }],
    },
  ],
};

function expectFixtureBatch(p: CapturingPusher, protocol: string): void {
  expect(p.pushes).toHaveLength(1);
  const { ctx, req } = p.pushes[0]!;
  expect(ctx).toEqual({ orgID: undefined, protocol });
  expect(attrs(req.resourceSpans[0]!.resource!.attributes)).toEqual({ 'service.name': 'inventory', 'host.name': 'db-7', shard: 12n });
  const [sp] = p.spans();
  expect(hex(sp!.traceId)).toBe('eeddccbbaa9988780102030405060708');
  expect(hex(sp!.spanId)).toBe('fffffffffffffffd');
  expect(hex(sp!.parentSpanId)).toBe('0000000000000042');
  expect(sp!.kind).toBe(Span_SpanKind.CLIENT);
  expect([sp!.startTimeUnixNano, sp!.endTimeUnixNano]).toEqual([1_700_000_000_000_000_000n, 1_700_000_000_001_234_000n]);
  expect([sp!.status?.code, sp!.status?.message]).toEqual([Status_StatusCode.ERROR, 'deadlock']);
  expect(attrs(sp!.attributes)).toEqual({ 'db.statement': 'SELECT 1', rows: 9_007_199_254_740_993n, ratio: 0.5, cached: false, blob: 'hex:dead' });
  expect(sp!.events.map((e) => [e.name, e.timeUnixNano])).toEqual([['retry', 1_700_000_000_000_500_000n]]);
  expect(sp!.links.map((l) => [hex(l.traceId), hex(l.spanId), attrs(l.attributes)])).toEqual([
    ['00000000000000000000000000000063', '0000000000000064', { 'opentracing.ref_type': 'follows_from' }],
  ]);
}

describe('Jaeger UDP receivers', () => {
  test("compact (6831): an emitBatch datagram from Apache Thrift's compact protocol", async () => {
    const r = await start('compact');
    await sendUdp(r.port, encodeEmitBatch('compact', batch));
    await poll('the compact batch to be pushed', () => r.pusher.pushes.length === 1);
    expectFixtureBatch(r.pusher, 'jaeger_thrift_compact');
  });

  test('binary (6832): a hand-built binary-protocol emitBatch datagram', async () => {
    const r = await start('binary');
    await sendUdp(r.port, encodeEmitBatch('binary', batch, { type: thrift.Thrift.MessageType.CALL }));
    await poll('the binary batch to be pushed', () => r.pusher.pushes.length === 1);
    expectFixtureBatch(r.pusher, 'jaeger_thrift_binary');
  });

  test("binary (6832): jaeger-client's UDPSender, spans with tags, logs, references and process tags", async () => {
    const r = await start('binary');
    const tracer = initTracer(
      { serviceName: 'frontend', sampler: { type: 'const', param: 1 }, reporter: { agentHost: '127.0.0.1', agentPort: r.port, flushIntervalMs: 60_000 } },
      { logger: quiet, tags: { 'deployment.env': 'test', replicas: 3 } },
    );
    const t0 = 1_700_000_000_000;
    const root = tracer.startSpan('GET /checkout', { startTime: t0 });
    root.setTag(opentracing.Tags.SPAN_KIND, opentracing.Tags.SPAN_KIND_RPC_SERVER);
    root.setTag('http.method', 'GET');
    root.setTag('retries', 2);
    root.setTag('cache.hit', true);
    root.setTag('payload', Buffer.from([1, 2, 3]));
    root.setTag('error', true);
    root.log({ event: 'validated', items: 4 }, t0 + 1);
    root.log({ message: 'no event key' }, t0 + 2);
    const other = tracer.startSpan('other-root', { startTime: t0 });
    const child = tracer.startSpan('charge card', {
      startTime: t0 + 3,
      references: [opentracing.childOf(root.context()), opentracing.followsFrom(other.context())],
    });
    child.setTag(opentracing.Tags.SPAN_KIND, opentracing.Tags.SPAN_KIND_RPC_CLIENT);
    child.finish(t0 + 8);
    other.finish(t0 + 9);
    root.finish(t0 + 10);
    await closeTracer(tracer);

    await poll('three spans from jaeger-client', () => r.pusher.spans().length === 3);
    const { ctx, req } = r.pusher.pushes[0]!;
    expect(ctx.protocol).toBe('jaeger_thrift_binary');
    const resource = attrs(req.resourceSpans[0]!.resource!.attributes);
    expect(resource).toMatchObject({
      'service.name': 'frontend',
      'opencensus.exporterversion': 'Jaeger-Node-3.19.0',
      'deployment.env': 'test',
      replicas: 3, // jaeger-client sends every number as a double
    });
    expect(typeof resource['host.name']).toBe('string');
    expect(typeof resource['client-uuid']).toBe('string');
    expect(resource).not.toHaveProperty('hostname');
    expect(resource).not.toHaveProperty('jaeger.version');

    const byName = new Map(r.pusher.spans().map((s) => [s.name, s]));
    const rootOut = byName.get('GET /checkout')!;
    const childOut = byName.get('charge card')!;
    const otherOut = byName.get('other-root')!;
    expect(rootOut.kind).toBe(Span_SpanKind.SERVER);
    expect(rootOut.parentSpanId).toHaveLength(0);
    expect(rootOut.status?.code).toBe(Status_StatusCode.ERROR);
    expect(rootOut.flags).toBe(1);
    expect(attrs(rootOut.attributes)).toEqual({
      'sampler.type': 'const', // jaeger-client tags the root span with its sampling decision
      'sampler.param': true,
      'http.method': 'GET',
      retries: 2,
      'cache.hit': true,
      payload: 'hex:010203',
    });
    expect([rootOut.startTimeUnixNano, rootOut.endTimeUnixNano]).toEqual([BigInt(t0) * 1_000_000n, BigInt(t0 + 10) * 1_000_000n]);
    expect(rootOut.events.map((e) => [e.name, e.timeUnixNano, attrs(e.attributes)])).toEqual([
      ['validated', BigInt(t0 + 1) * 1_000_000n, { items: 4 }],
      ['log', BigInt(t0 + 2) * 1_000_000n, { message: 'no event key' }],
    ]);

    expect(childOut.kind).toBe(Span_SpanKind.CLIENT);
    expect(hex(childOut.traceId)).toBe(hex(rootOut.traceId));
    expect(hex(childOut.parentSpanId)).toBe(hex(rootOut.spanId));
    expect(childOut.links.map((l) => [hex(l.traceId), hex(l.spanId), attrs(l.attributes)['opentracing.ref_type']])).toEqual([
      [hex(otherOut.traceId), hex(otherOut.spanId), 'follows_from'],
    ]);
  });

  test('garbage and truncated datagrams are dropped and counted; the receiver keeps serving', async () => {
    const r = await start('compact');
    const good = encodeEmitBatch('compact', batch);
    await sendUdp(r.port, Buffer.from('not thrift at all'), good.subarray(0, good.length - 7), encodeEmitBatch('binary', batch), Buffer.alloc(0));
    await poll('four malformed drops', async () => (await dropped(r.registry, 'malformed')) === 4);
    expect(r.pusher.calls).toBe(0);
    await sendUdp(r.port, good);
    await poll('the good datagram after the bad ones', () => r.pusher.pushes.length === 1);
    expect(r.receiver.state).toBe('Running');
  });

  test('pusher failures are counted and logged, never thrown; later datagrams still go through', async () => {
    const lines: string[] = [];
    const pusher = new CapturingPusher();
    const registry = new Registry();
    const receiver = new JaegerUdpReceiver({
      protocol: 'compact',
      pusher,
      registry,
      endpoint: '127.0.0.1:0',
      logger: new Logger('info', 'json', {}, { write: (l) => void lines.push(l) }),
    });
    running.push(receiver);
    await receiver.start();
    pusher.failWith = new ConnectError('ingesters unavailable', Code.Unavailable);
    await sendUdp(receiver.address().port, encodeEmitBatch('compact', batch));
    await poll('a push_failed drop', async () => (await dropped(registry, 'push_failed')) === 1);
    await poll('the failure to be logged', () => lines.some((l) => l.includes('"msg":"push failed"') && l.includes('Unavailable')));
    pusher.failWith = undefined;
    await sendUdp(receiver.address().port, encodeEmitBatch('compact', batch));
    await poll('a successful push after the failure', () => pusher.pushes.length === 1);
  });

  test('bounded: with one worker busy and a queue of 2, further datagrams are dropped as queue_full', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const pusher = new CapturingPusher();
    const inner = pusher.pushOtlp.bind(pusher);
    pusher.pushOtlp = async (ctx, bytes) => {
      await gate;
      return inner(ctx, bytes);
    };
    const r = await start('compact', { workers: 1, queueSize: 2, pusher });
    const packets = [1n, 2n, 3n, 4n, 5n].map((id) => encodeEmitBatch('compact', { ...batch, spans: [{ ...batch.spans[0]!, spanId: id }] }));
    await sendUdp(r.port, ...packets);
    await poll('two queue_full drops', async () => (await dropped(r.registry, 'queue_full')) === 2);
    release();
    await poll('the three accepted datagrams to be pushed', () => pusher.pushes.length === 3);
    await r.receiver.idle();
    expect(pusher.spans().map((s) => hex(s.spanId))).toEqual(['0000000000000001', '0000000000000002', '0000000000000003']);
  });

  test('lifecycle: logs where it listens, stops twice safely and frees the port', async () => {
    const lines: string[] = [];
    const receiver = new JaegerUdpReceiver({
      protocol: 'binary',
      pusher: new CapturingPusher(),
      endpoint: '127.0.0.1:0',
      logger: new Logger('info', 'json', {}, { write: (l) => void lines.push(l) }),
    });
    await receiver.start();
    const port = receiver.address().port;
    const listening = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'receiver listening');
    expect(listening).toMatchObject({ receiver: 'jaeger_thrift_binary', address: `127.0.0.1:${port}`, port });
    await receiver.stop();
    await receiver.stop();
    expect(receiver.state).toBe('Terminated');
    const again = new JaegerUdpReceiver({ protocol: 'binary', pusher: new CapturingPusher(), endpoint: `127.0.0.1:${port}`, logger: nopLogger });
    await again.start();
    await again.stop();
  });
});
