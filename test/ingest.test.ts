// Ingest to read-back, end to end on the single binary: real OpenTelemetry exporters push to bin/stave,
// and GET /api/traces/<id> returns every span with its fields; bad input gets a precise 4xx.

import { fromBinary, toBinary, create } from '@bufbuild/protobuf';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ExportTraceServiceRequestSchema, Span_SpanKind, Status_StatusCode, TraceSchema, type Span, type Trace } from '@stave/proto';
import { sendRichTrace } from './support/otel';
import { startStave, type StaveProcess } from './support/stave-process';

const config = [
  'distributor:',
  '  receivers:',
  '    otlp:',
  '      protocols:',
  '        grpc:',
  '          endpoint: 127.0.0.1:0',
  '        http:',
  '          endpoint: 127.0.0.1:0',
  'overrides:',
  '  defaults:',
  '    global:',
  '      max_bytes_per_trace: 20000',
  '',
].join('\n');

async function getTrace(p: StaveProcess, traceId: string): Promise<Trace | undefined> {
  const res = await fetch(await p.url(`/api/traces/${traceId}`), { headers: { accept: 'application/protobuf' } });
  if (res.status === 404) return undefined;
  expect(res.status).toBe(200);
  return fromBinary(TraceSchema, new Uint8Array(await res.arrayBuffer()));
}

function spansOf(t: Trace): Span[] {
  return t.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
}

describe('ingest and read back on the single binary', () => {
  let p: StaveProcess;
  let grpcPort: number;
  let httpPort: number;
  beforeAll(async () => {
    p = startStave({ configYaml: config });
    await p.ready();
    grpcPort = await p.receiverPort(/otlp.*grpc/);
    httpPort = await p.receiverPort(/otlp.*http/);
  });
  afterAll(async () => {
    await p.stop();
    p.cleanup();
  });

  const exporters: Array<[string, () => SpanExporter]> = [
    ['OTLP gRPC', () => new GrpcExporter({ url: `http://127.0.0.1:${grpcPort}` })],
    ['OTLP HTTP protobuf', () => new ProtoExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces` })],
    ['OTLP HTTP JSON', () => new HttpJsonExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces` })],
  ];

  it.each(exporters)('%s: every span comes back with its fields', async (name, make) => {
    const sent = await sendRichTrace(make(), `svc-${name.replace(/\W/g, '')}`);
    const t = await getTrace(p, sent.traceId);
    expect(t).toBeDefined();
    const spans = spansOf(t!);
    expect(spans.map((s) => Buffer.from(s.spanId).toString('hex')).sort()).toEqual([...sent.spanIds].sort());
    const rs = t!.resourceSpans[0]!;
    const res = Object.fromEntries(rs.resource!.attributes.map((a) => [a.key, a.value?.value.value]));
    expect(res['service.name']).toBe(`svc-${name.replace(/\W/g, '')}`);
    expect(res['deployment.environment']).toBe('test');
    expect(rs.scopeSpans[0]!.scope).toMatchObject({ name: 'stave-e2e', version: '1.2.3' });
    const root = spans.find((s) => s.name === 'GET /checkout')!;
    expect(root.kind).toBe(Span_SpanKind.SERVER);
    const attrs = Object.fromEntries(root.attributes.map((a) => [a.key, a.value?.value]));
    expect(attrs['str.attr']).toEqual({ case: 'stringValue', value: 'héllo' });
    expect(attrs['bool.attr']).toEqual({ case: 'boolValue', value: true });
    expect(attrs['int.attr']).toEqual({ case: 'intValue', value: 42n });
    expect(attrs['double.attr']).toEqual({ case: 'doubleValue', value: 3.25 });
    expect(attrs['str.array']?.case).toBe('arrayValue');
    const client = spans.find((s) => s.name === 'SELECT orders')!;
    expect(client.kind).toBe(Span_SpanKind.CLIENT);
    expect(Buffer.from(client.parentSpanId).toString('hex')).toBe(sent.spanIds[0]);
    expect(client.events.map((e) => e.name)).toEqual(['rows fetched']);
    expect(client.links).toHaveLength(1);
    expect(Buffer.from(client.links[0]!.traceId).toString('hex')).toBe('abcdef0123456789abcdef0123456789');
    expect(client.links[0]!.attributes[0]).toMatchObject({ key: 'link.attr' });
    const bad = spans.find((s) => s.name === 'validate')!;
    expect(bad.status).toMatchObject({ code: Status_StatusCode.ERROR, message: 'invalid card' });
    expect(root.startTimeUnixNano).toBeGreaterThan(0n);
    expect(root.endTimeUnixNano).toBeGreaterThanOrEqual(root.startTimeUnixNano);
  });

  it('answers Tempo’s v1 and v2 JSON shapes', async () => {
    const sent = await sendRichTrace(exporters[1]![1](), 'svc-json');
    const v1 = (await (await fetch(await p.url(`/api/traces/${sent.traceId}`))).json()) as { batches: unknown[] };
    expect(Array.isArray(v1.batches)).toBe(true);
    expect(v1.batches.length).toBeGreaterThan(0);
    const v2 = (await (await fetch(await p.url(`/api/v2/traces/${sent.traceId}`))).json()) as { trace: { resourceSpans: unknown[] } };
    expect(v2.trace.resourceSpans.length).toBeGreaterThan(0);
  });

  it('answers 404 for an unknown trace and 400 for a malformed ID', async () => {
    expect((await fetch(await p.url('/api/traces/0123456789abcdef0123456789abcdef'))).status).toBe(404);
    const bad = await fetch(await p.url('/api/traces/not-hex!'));
    expect(bad.status).toBe(400);
  });

  const post = (body: Uint8Array | string, type: string) =>
    fetch(`http://127.0.0.1:${httpPort}/v1/traces`, { method: 'POST', headers: { 'content-type': type }, body });

  function request(traceIdBytes: number, attrBytes = 10): Uint8Array {
    return toBinary(
      ExportTraceServiceRequestSchema,
      create(ExportTraceServiceRequestSchema, {
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: new Uint8Array(traceIdBytes).fill(7),
                    spanId: new Uint8Array(8).fill(1),
                    name: 's',
                    attributes: [{ key: 'k', value: { value: { case: 'stringValue', value: 'x'.repeat(attrBytes) } } }],
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
  }

  it.each([
    ['truncated protobuf', () => post(request(16).subarray(0, 20), 'application/x-protobuf'), 400],
    ['invalid JSON', () => post('{"resourceSpans": [', 'application/json'), 400],
    ['wrong content type', () => post('hello', 'text/plain'), 415],
    ['an 8-byte trace ID', () => post(request(8), 'application/x-protobuf'), 400],
  ])('%s is a 4xx and the process keeps serving', async (_name, send, status) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect((await fetch(await p.url('/ready'))).status).toBe(200);
  });

  it('discards an oversize trace (max_bytes_per_trace) and keeps other traces', async () => {
    const big = await post(request(16, 30_000), 'application/x-protobuf');
    expect(big.status).toBe(200);
    expect(await getTrace(p, '07070707070707070707070707070707')).toBeUndefined();
    const metrics = await (await fetch(await p.url('/metrics'))).text();
    expect(metrics).toMatch(/tempo_discarded_spans_total\{tenant="single-tenant",reason="trace_too_large"\} 1/);
    const sent = await sendRichTrace(exporters[1]![1](), 'svc-after');
    expect(await getTrace(p, sent.traceId)).toBeDefined();
  });
});
