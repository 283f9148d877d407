// The OpenTelemetry JS Jaeger exporter (UDP via jaeger-client's binary UDPSender, and HTTP) against our
// receivers: OTel's own mapping to Jaeger tags must come back as the OTLP fields it started from.

import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { JaegerExporter } from '@opentelemetry/exporter-jaeger';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Span_SpanKind, Status_StatusCode } from '@stave/proto';
import { nopLogger } from '@stave/server';
import { CapturingPusher, attrs, hex, poll } from './test-support';
import { JaegerThriftHttpReceiver } from './thrift-http-receiver';
import { JaegerUdpReceiver } from './udp-receiver';

// The exporter's shutdown races its flush against a timer it never clears; everything is flushed before
// shutdown here, so a short timer only keeps that leftover handle short-lived.
const FLUSH_TIMEOUT_MS = 100;

async function emitSpans(exporter: JaegerExporter): Promise<void> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'otel-svc', 'deployment.environment': 'ci' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('checkout-instrumentation', '2.0.1');
  const linked = tracer.startSpan('batch-job');
  linked.end();
  const parent = tracer.startSpan('HTTP GET', { kind: SpanKind.SERVER, attributes: { 'http.route': '/items', 'http.status': 200 } });
  parent.addEvent('cache.lookup', { hit: false, keys: 3 });
  const child = tracer.startSpan(
    'SELECT',
    { kind: SpanKind.CLIENT, links: [{ context: linked.spanContext() }], attributes: { 'db.system': 'postgresql', secure: true } },
    trace.setSpan(context.active(), parent),
  );
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'timeout' });
  child.end();
  parent.setStatus({ code: SpanStatusCode.OK });
  parent.end();
  await provider.forceFlush();
  await provider.shutdown();
}

function check(pusher: CapturingPusher): void {
  const spans = new Map(pusher.spans().map((s) => [s.name, s]));
  const parent = spans.get('HTTP GET')!;
  const child = spans.get('SELECT')!;
  const linked = spans.get('batch-job')!;
  const rs = pusher.pushes.flatMap((p) => p.req.resourceSpans)[0]!;
  expect(attrs(rs.resource!.attributes)).toMatchObject({ 'service.name': 'otel-svc' });
  expect([rs.scopeSpans[0]!.scope?.name, rs.scopeSpans[0]!.scope?.version]).toEqual(['checkout-instrumentation', '2.0.1']);

  expect(parent.kind).toBe(Span_SpanKind.SERVER);
  expect([parent.status?.code, parent.status?.message]).toEqual([Status_StatusCode.OK, '']);
  // The OTel exporter copies resource attributes into span tags; the collector mapping keeps them there.
  expect(attrs(parent.attributes)).toMatchObject({ 'http.route': '/items', 'http.status': 200, 'deployment.environment': 'ci' });
  expect(parent.events.map((e) => [e.name, attrs(e.attributes)])).toEqual([['cache.lookup', { hit: false, keys: 3 }]]);

  expect(child.kind).toBe(Span_SpanKind.CLIENT);
  expect([child.status?.code, child.status?.message]).toEqual([Status_StatusCode.ERROR, 'timeout']);
  expect(hex(child.parentSpanId)).toBe(hex(parent.spanId));
  expect(hex(child.traceId)).toBe(hex(parent.traceId));
  expect(attrs(child.attributes)).toMatchObject({ 'db.system': 'postgresql', secure: true });
  expect(child.attributes.map((a) => a.key)).not.toEqual(expect.arrayContaining(['error', 'otel.status_code', 'span.kind', 'otel.library.name']));
  expect(child.links.map((l) => [hex(l.traceId), hex(l.spanId), attrs(l.attributes)['opentracing.ref_type']])).toEqual([
    [hex(linked.traceId), hex(linked.spanId), 'follows_from'],
  ]);
  expect(child.flags).toBe(1);
}

test('@opentelemetry/exporter-jaeger over UDP (binary, 6832)', async () => {
  const pusher = new CapturingPusher();
  const receiver = new JaegerUdpReceiver({ protocol: 'binary', pusher, logger: nopLogger, endpoint: '127.0.0.1:0' });
  await receiver.start();
  try {
    await emitSpans(new JaegerExporter({ host: '127.0.0.1', port: receiver.address().port, flushTimeout: FLUSH_TIMEOUT_MS }));
    await poll('three spans from the OTel Jaeger exporter', () => pusher.spans().length === 3);
    check(pusher);
  } finally {
    await receiver.stop();
  }
});

test('@opentelemetry/exporter-jaeger over HTTP (/api/traces)', async () => {
  const pusher = new CapturingPusher();
  const receiver = new JaegerThriftHttpReceiver({ pusher, logger: nopLogger, endpoint: '127.0.0.1:0' });
  await receiver.start();
  try {
    await emitSpans(new JaegerExporter({ endpoint: `http://127.0.0.1:${receiver.address().port}/api/traces`, flushTimeout: FLUSH_TIMEOUT_MS }));
    await poll('three spans from the OTel Jaeger exporter', () => pusher.spans().length === 3);
    check(pusher);
  } finally {
    await receiver.stop();
  }
});
