// Jaeger and Zipkin senders through the single binary: the real jaeger-client (thrift over HTTP and over
// UDP) and the OpenTelemetry Zipkin exporter push to bin/stave, and /api/traces/<id> returns the spans
// converted to OTLP with their kinds, attributes, events, parents and resources.

import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { fromBinary } from '@bufbuild/protobuf';
import { initTracer, type JaegerTracer } from 'jaeger-client';
import * as opentracing from 'opentracing';
import { Span_SpanKind, Status_StatusCode, TraceSchema, type KeyValue, type Span, type Trace } from '@stave/proto';
import { poll } from './support/poll';
import { startStave, type StaveProcess } from './support/stave-process';

const CONFIG = [
  'distributor:',
  '  receivers:',
  '    jaeger:',
  '      protocols:',
  '        thrift_http:',
  '          endpoint: 127.0.0.1:0',
  '        thrift_binary:',
  '          endpoint: 127.0.0.1:0',
  '    zipkin:',
  '      endpoint: 127.0.0.1:0',
  '',
].join('\n');

const quiet = { info: () => undefined, error: () => undefined };

function attrs(kvs: KeyValue[]): Record<string, unknown> {
  return Object.fromEntries(kvs.map((kv) => [kv.key, kv.value?.value.value]));
}

describe('Jaeger and Zipkin senders on the single binary', () => {
  let p: StaveProcess;
  const port = (re: RegExp) => p.receiverPort(re);

  beforeAll(async () => {
    p = startStave({ configYaml: CONFIG });
    await p.ready();
  });
  afterAll(async () => {
    await p.stop();
    p.cleanup();
  });

  async function readTrace(traceId: string, spans: number): Promise<Span[]> {
    const url = await p.url(`/api/traces/${traceId}`);
    const t = await poll(`trace ${traceId} with ${spans} spans`, async () => {
      const res = await fetch(url, { headers: { accept: 'application/protobuf' } });
      if (res.status !== 200) return undefined;
      const tr: Trace = fromBinary(TraceSchema, new Uint8Array(await res.arrayBuffer()));
      return tr.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)).length === spans ? tr : undefined;
    });
    return t.resourceSpans.flatMap((rs) =>
      rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => Object.assign(s, { $resource: attrs(rs.resource?.attributes ?? []) }))),
    );
  }

  async function sendWithJaegerClient(reporter: Record<string, unknown>, service: string): Promise<string> {
    const tracer: JaegerTracer = initTracer(
      { serviceName: service, sampler: { type: 'const', param: 1 }, reporter: { ...reporter, flushIntervalMs: 60_000 } },
      { logger: quiet, tags: { team: 'payments' } },
    );
    const root = tracer.startSpan('POST /pay');
    root.setTag(opentracing.Tags.SPAN_KIND, 'server');
    root.setTag('amount', 12.5);
    root.setTag('vip', false);
    root.log({ event: 'authorized', by: 'bank' });
    const child = tracer.startSpan('db.insert', { childOf: root });
    child.setTag(opentracing.Tags.SPAN_KIND, 'client');
    child.setTag('error', true);
    child.finish();
    root.finish();
    await new Promise<void>((resolve) => tracer.close(() => resolve()));
    const ctx = root.context() as unknown as { toTraceId(): string };
    return ctx.toTraceId().padStart(32, '0');
  }

  it.each([
    ['thrift over HTTP', async () => ({ collectorEndpoint: `http://127.0.0.1:${await port(/thrift.?http/)}/api/traces` })],
    ['thrift binary over UDP', async () => ({ agentHost: '127.0.0.1', agentPort: await port(/binary/) })],
  ])('jaeger-client, %s', async (name, reporter) => {
    const service = `jaeger-${name.replace(/\W/g, '')}`;
    const traceId = await sendWithJaegerClient(await reporter(), service);
    const spans = await readTrace(traceId, 2);
    const root = spans.find((s) => s.name === 'POST /pay')!;
    const child = spans.find((s) => s.name === 'db.insert')!;
    expect((root as unknown as { $resource: Record<string, unknown> }).$resource).toMatchObject({ 'service.name': service, team: 'payments' });
    expect(root.kind).toBe(Span_SpanKind.SERVER);
    expect(attrs(root.attributes)).toMatchObject({ amount: 12.5, vip: false });
    expect(root.events.map((e) => [e.name, attrs(e.attributes)])).toEqual([['authorized', { by: 'bank' }]]);
    expect(child.kind).toBe(Span_SpanKind.CLIENT);
    expect(child.status?.code).toBe(Status_StatusCode.ERROR);
    expect(Buffer.from(child.parentSpanId).toString('hex')).toBe(Buffer.from(root.spanId).toString('hex'));
  });

  it('@opentelemetry/exporter-zipkin (JSON v2)', async () => {
    const zipkin = await port(/zipkin/);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'shop' }),
      spanProcessors: [new SimpleSpanProcessor(new ZipkinExporter({ url: `http://127.0.0.1:${zipkin}/api/v2/spans` }))],
    });
    const tracer = provider.getTracer('shop-lib', '1.0.0');
    const parent = tracer.startSpan('GET /cart', { kind: SpanKind.SERVER, attributes: { 'http.method': 'GET' } });
    parent.addEvent('cart.loaded');
    const child = tracer.startSpan('redis GET', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), parent));
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'connection reset' });
    child.end();
    parent.end();
    await provider.forceFlush();
    await provider.shutdown();
    const spans = await readTrace(parent.spanContext().traceId, 2);
    const server = spans.find((s) => s.name === 'GET /cart')!;
    const client = spans.find((s) => s.name === 'redis GET')!;
    expect((server as unknown as { $resource: Record<string, unknown> }).$resource).toMatchObject({ 'service.name': 'shop' });
    expect(server.kind).toBe(Span_SpanKind.SERVER);
    expect(attrs(server.attributes)).toMatchObject({ 'http.method': 'GET' });
    expect(server.events.map((e) => e.name)).toEqual(['cart.loaded']);
    expect(client.kind).toBe(Span_SpanKind.CLIENT);
    expect(client.status?.code).toBe(Status_StatusCode.ERROR);
    expect(Buffer.from(client.parentSpanId).toString('hex')).toBe(parent.spanContext().spanId);
  });
});
