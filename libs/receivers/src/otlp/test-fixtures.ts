// Test support for the OTLP receiver tests (not exported from the package): spans made by the real
// OpenTelemetry SDK with every kind of field, a pusher that captures what it is given, and the check that
// a captured request holds those spans intact.

import http from 'node:http';
import { fromBinary } from '@bufbuild/protobuf';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, createTraceState, trace, type HrTime } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { splitByTrace } from '@stave/model';
import { ExportTraceServiceRequestSchema, type AnyValue, type ExportTraceServiceRequest, type KeyValue } from '@stave/proto';
import type { PushContext, PushOutcome, TracePusher } from '../pusher';

export const REMOTE_PARENT = { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b173' };

/** Spans from the real SDK: a rich one under a remote parent, its child, and a root of another trace. */
export async function sdkSpans(): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'receiver-test', 'service.version': '3.1.4', 'host.cpus': 8, 'deploy.canary': false }),
    spanLimits: { attributeCountLimit: 10, eventCountLimit: 2, linkCountLimit: 1 },
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('receiver-scope', '0.9.1', { schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' });
  const parent = trace.setSpanContext(ROOT_CONTEXT, { ...REMOTE_PARENT, traceFlags: 1, isRemote: true, traceState: createTraceState('vendor=abc,other=1') });
  const span = tracer.startSpan(
    'POST /checkout',
    {
      kind: SpanKind.SERVER,
      startTime: [1_700_000_000, 111_222_333],
      attributes: {
        str: 'hello ✓',
        int: 42,
        neg: -9007199254740991,
        double: 3.25,
        bool: true,
        'str.list': ['a', 'b', ''],
        'num.list': [1, 2.5],
        bytes: new Uint8Array([0, 7, 255]),
        map: { inner: 'x', n: 3, deeper: { ok: true } },
        empty: '',
        'over.limit': 'dropped',
      },
      links: [
        {
          context: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, traceState: createTraceState('l=1') },
          attributes: { 'link.reason': 'batch' },
        },
        { context: { traceId: '1af7651916cd43dd8448eb211c80319c', spanId: 'c7ad6b7169203331', traceFlags: 0 } },
      ],
    },
    parent,
  );
  span.addEvent('cache.miss', { key: 'order:1', size: 12 }, [1_700_000_000, 500_000_000]);
  span.addEvent('retry', { attempt: 2 }, [1_700_000_000, 600_000_000]);
  span.addEvent('gave up', [1_700_000_000, 700_000_000]);
  const child = tracer.startSpan('SELECT orders', { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql' } }, trace.setSpan(ROOT_CONTEXT, span));
  child.setStatus({ code: SpanStatusCode.OK });
  child.end();
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'payment declined' });
  span.end([1_700_000_001, 0]);
  const other = tracer.startSpan('background job', { kind: SpanKind.PRODUCER });
  other.end();
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const nanos = (t: HrTime): bigint => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);

/** An AnyValue as plain data, to compare with the SDK's attribute values. */
export function plain(v: AnyValue | undefined): unknown {
  const x = v?.value;
  if (x === undefined || x.case === undefined) return undefined;
  switch (x.case) {
    case 'arrayValue':
      return x.value.values.map(plain);
    case 'kvlistValue':
      return plainAttributes(x.value.values);
    case 'bytesValue':
      return { bytes: hex(x.value) };
    case 'intValue':
      return { int: x.value };
    default:
      return x.value;
  }
}

export function plainAttributes(list: KeyValue[]): Record<string, unknown> {
  return Object.fromEntries(list.map((kv) => [kv.key, plain(kv.value)]));
}

/** What the SDK's attribute value must arrive as: integers as int64, other numbers as doubles. */
function expected(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? { int: BigInt(v) } : v;
  if (v instanceof Uint8Array) return { bytes: hex(v) };
  if (Array.isArray(v)) return v.map(expected);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expected(x)]));
  return v;
}

/** Asserts that `req` holds exactly `spans`, every field intact, with their resource and scope. */
export function expectSpansIntact(req: ExportTraceServiceRequest, spans: ReadableSpan[]): void {
  const got = req.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ rs, ss, s }))));
  expect(got.map((g) => hex(g.s.spanId)).sort()).toEqual(spans.map((s) => s.spanContext().spanId).sort());
  for (const want of spans) {
    const { rs, ss, s } = got.find((g) => hex(g.s.spanId) === want.spanContext().spanId)!;
    expect(plainAttributes(rs.resource!.attributes)).toEqual(expected(want.resource.attributes));
    expect([ss.scope?.name, ss.scope?.version, ss.schemaUrl]).toEqual([
      want.instrumentationScope.name,
      want.instrumentationScope.version,
      want.instrumentationScope.schemaUrl,
    ]);
    expect(hex(s.traceId)).toBe(want.spanContext().traceId);
    expect(hex(s.parentSpanId)).toBe(want.parentSpanContext?.spanId ?? '');
    expect(s.traceState).toBe(want.spanContext().traceState?.serialize() ?? '');
    expect(s.name).toBe(want.name);
    expect(s.kind).toBe(want.kind + 1);
    expect(s.flags).toBe((want.spanContext().traceFlags & 0xff) | 0x100 | (want.parentSpanContext?.isRemote ? 0x200 : 0));
    expect(s.startTimeUnixNano).toBe(nanos(want.startTime));
    expect(s.endTimeUnixNano).toBe(nanos(want.endTime));
    expect(plainAttributes(s.attributes)).toEqual(expected(want.attributes));
    expect(s.droppedAttributesCount).toBe(want.droppedAttributesCount);
    expect(s.events.map((e) => [e.name, e.timeUnixNano, plainAttributes(e.attributes), e.droppedAttributesCount])).toEqual(
      want.events.map((e) => [e.name, nanos(e.time), expected(e.attributes ?? {}), e.droppedAttributesCount ?? 0]),
    );
    expect(s.droppedEventsCount).toBe(want.droppedEventsCount);
    expect(s.links.map((l) => [hex(l.traceId), hex(l.spanId), l.traceState, plainAttributes(l.attributes), l.flags])).toEqual(
      want.links.map((l) => [
        l.context.traceId,
        l.context.spanId,
        l.context.traceState?.serialize() ?? '',
        expected(l.attributes ?? {}),
        (l.context.traceFlags & 0xff) | 0x100,
      ]),
    );
    expect(s.droppedLinksCount).toBe(want.droppedLinksCount);
    expect([s.status?.code, s.status?.message ?? '']).toEqual([want.status.code, want.status.message ?? '']);
  }
}

export interface Captured {
  /** What the receiver passed; recorded before the pusher answers. */
  readonly ctx: PushContext;
  readonly bytes: Uint8Array;
  decoded(): ExportTraceServiceRequest;
}

/**
 * A TracePusher that keeps what it is given. By default it validates like the distributor does
 * (splitByTrace), so bad input is refused with the distributor's InvalidArgument; `respond` replaces that.
 */
export class CapturingPusher implements TracePusher {
  readonly pushes: Captured[] = [];
  respond: (ctx: PushContext, bytes: Uint8Array) => Promise<PushOutcome> = async (_ctx, bytes) => {
    splitByTrace(bytes);
    return { rejectedSpans: 0, errorMessage: '' };
  };

  /** Every call, accepted or not, with a copy of its bytes. */
  async pushOtlp(ctx: PushContext, bytes: Uint8Array): Promise<PushOutcome> {
    const copy = Uint8Array.from(bytes);
    this.pushes.push({ ctx, bytes: copy, decoded: () => fromBinary(ExportTraceServiceRequestSchema, copy) });
    return this.respond(ctx, bytes);
  }
}

/**
 * The OTLP HTTP exporters load `http` lazily with `import("http")`, which jest's CommonJS sandbox cannot
 * run (it needs --experimental-vm-modules). This hands their HTTP transport the same `http.request` and
 * an agent up front, so the real serializer, compression, headers and request code all still run.
 */
export function preloadHttpTransport(exporter: object): void {
  const seen = new Set<object>();
  const visit = (o: unknown, depth: number): boolean => {
    if (o === null || typeof o !== 'object' || seen.has(o) || depth > 6) return false;
    seen.add(o);
    const candidate = o as { _loadUtils?: unknown; _utils?: unknown };
    if (typeof candidate._loadUtils === 'function' && '_utils' in candidate) {
      candidate._utils = { agent: new http.Agent({ keepAlive: false }), request: http.request };
      return true;
    }
    return Object.values(o).some((v) => visit(v, depth + 1));
  };
  if (!visit(exporter, 0)) throw new Error('preloadHttpTransport: the exporter has no HTTP transport with _loadUtils (did its internals change?)');
}
