// Builds spans with the real OpenTelemetry SDK and ships them with a real exporter, so tests see exactly
// what production senders produce.

import { SpanKind, SpanStatusCode, TraceFlags, context, trace, type Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

export const RICH_ATTRIBUTES: Attributes = {
  'str.attr': 'héllo',
  'bool.attr': true,
  'int.attr': 42,
  'double.attr': 3.25,
  'str.array': ['a', 'b'],
  'int.array': [1, 2, 3],
  'bool.array': [true, false],
  'double.array': [1.5, 2.5],
};

export interface SentTrace {
  traceId: string;
  spanIds: string[];
}

/** Sends one trace of three spans (root SERVER, child CLIENT with an event and a link, child INTERNAL error). */
export async function sendRichTrace(exporter: SpanExporter, service: string): Promise<SentTrace> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test', 'host.cores': 2 }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('stave-e2e', '1.2.3');
  const spanIds: string[] = [];
  const root = tracer.startSpan('GET /checkout', { kind: SpanKind.SERVER, attributes: RICH_ATTRIBUTES });
  const traceId = root.spanContext().traceId;
  spanIds.push(root.spanContext().spanId);
  const ctx = trace.setSpan(context.active(), root);
  const linkTarget = { traceId: 'abcdef0123456789abcdef0123456789', spanId: '0123456789abcdef', traceFlags: TraceFlags.SAMPLED };
  const child = tracer.startSpan(
    'SELECT orders',
    { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql' }, links: [{ context: linkTarget, attributes: { 'link.attr': 'x' } }] },
    ctx,
  );
  child.addEvent('rows fetched', { rows: 17 });
  spanIds.push(child.spanContext().spanId);
  child.end();
  const bad = tracer.startSpan('validate', { kind: SpanKind.INTERNAL }, ctx);
  bad.setStatus({ code: SpanStatusCode.ERROR, message: 'invalid card' });
  spanIds.push(bad.spanContext().spanId);
  bad.end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  return { traceId, spanIds };
}
