// @stave/generator/testing: test support shared with other packages' tests (never imported by library code).

import { create, toBinary } from '@bufbuild/protobuf';
import { SpanSchema, TracesDataSchema, type Span } from '@stave/proto';
import type { Labels, SampleAppender, Series } from '@stave/remote-write';
import type { GeneratorConfig } from './instance';
import { DEFAULT_PEER_ATTRIBUTES, DEFAULT_SERVICE_GRAPHS_BUCKETS } from './processors/service-graphs';
import { DEFAULT_SPAN_METRICS_BUCKETS } from './processors/span-metrics';

/** A generator config with Tempo's defaults for both processors (tests and benches); any part overridden. */
export function testGeneratorConfig(
  over: { spanMetrics?: Partial<GeneratorConfig['spanMetrics']>; serviceGraphs?: Partial<GeneratorConfig['serviceGraphs']>; ingestionSlackMs?: number } = {},
): GeneratorConfig {
  return {
    spanMetrics: {
      histogramBuckets: DEFAULT_SPAN_METRICS_BUCKETS,
      intrinsicDimensions: { service: true, span_name: true, span_kind: true, status_code: true, status_message: false },
      dimensions: [],
      spanMultiplierKey: '',
      ...over.spanMetrics,
    },
    serviceGraphs: {
      waitMs: 10_000,
      maxItems: 10_000,
      histogramBuckets: DEFAULT_SERVICE_GRAPHS_BUCKETS,
      dimensions: [],
      enableClientServerPrefix: false,
      enableMessagingSystemLatencyHistogram: false,
      enableVirtualNodeLabel: false,
      peerAttributes: DEFAULT_PEER_ATTRIBUTES,
      spanMultiplierKey: '',
      ...over.serviceGraphs,
    },
    registry: { collectionIntervalMs: 15_000, staleDurationMs: 15 * 60_000, externalLabels: {}, maxLabelNameLength: 1024, maxLabelValueLength: 2048 },
    ingestionSlackMs: over.ingestionSlackMs ?? 30_000,
  };
}

export interface TestSpan {
  /** 32 hex digits. */
  traceId: string;
  /** 16 hex digits. */
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP kind number: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startUnixMs: number;
  durationMs: number;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status?: number;
  statusMessage?: string;
  attributes?: Record<string, string | number | boolean>;
}

export interface TestResource {
  /** undefined: no service.name attribute. */
  service?: string;
  attributes?: Record<string, string | number | boolean>;
  spans: TestSpan[];
}

function kv(attrs: Record<string, string | number | boolean> = {}) {
  return Object.entries(attrs).map(([key, v]) => ({
    key,
    value: {
      value:
        typeof v === 'string'
          ? { case: 'stringValue' as const, value: v }
          : typeof v === 'boolean'
            ? { case: 'boolValue' as const, value: v }
            : Number.isInteger(v)
              ? { case: 'intValue' as const, value: BigInt(v) }
              : { case: 'doubleValue' as const, value: v },
    },
  }));
}

export function testSpan(s: TestSpan): Span {
  const start = BigInt(s.startUnixMs) * 1_000_000n;
  return create(SpanSchema, {
    traceId: Buffer.from(s.traceId, 'hex'),
    spanId: Buffer.from(s.spanId, 'hex'),
    parentSpanId: s.parentSpanId ? Buffer.from(s.parentSpanId, 'hex') : new Uint8Array(0),
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: start,
    endTimeUnixNano: start + BigInt(Math.round(s.durationMs * 1_000_000)),
    attributes: kv(s.attributes),
    status: s.status !== undefined || s.statusMessage !== undefined ? { code: s.status ?? 0, message: s.statusMessage ?? '' } : undefined,
  });
}

/** The encoded size of a span, as traces_spanmetrics_size_total counts it. */
export function encodedSpanSize(s: TestSpan): number {
  return toBinary(SpanSchema, testSpan(s)).length;
}

/** One TracesData (= ExportTraceServiceRequest on the wire) holding the resources and their spans. */
export function tracesData(resources: TestResource[]): Uint8Array {
  return toBinary(
    TracesDataSchema,
    create(TracesDataSchema, {
      resourceSpans: resources.map((r) => ({
        resource: { attributes: kv({ ...(r.service !== undefined ? { 'service.name': r.service } : {}), ...r.attributes }) },
        scopeSpans: [{ spans: r.spans.map(testSpan) }],
      })),
    }),
  );
}

/** Renders labels the way PromQL prints a series: name{a="b",...} without __name__. */
export function seriesKey(labels: Labels): string {
  const name = labels.find(([n]) => n === '__name__')?.[1] ?? '';
  return `${name}{${labels
    .filter(([n]) => n !== '__name__')
    .map(([n, v]) => `${n}="${v}"`)
    .join(',')}}`;
}

/** An appender that keeps what it is given (for tests; the real one is the remote writer). */
export class MemoryAppender implements SampleAppender {
  readonly appended: Array<{ tenant: string; series: readonly Series[] }> = [];

  append(tenant: string, series: readonly Series[]): void {
    this.appended.push({ tenant, series });
  }

  /** The latest value of every series appended for the tenant, keyed by seriesKey, ignoring labels in `drop`. */
  latest(tenant: string, drop: readonly string[] = ['__metrics_gen_instance']): Map<string, number> {
    const out = new Map<string, number>();
    for (const a of this.appended) {
      if (a.tenant !== tenant) continue;
      for (const s of a.series) out.set(seriesKey(s.labels.filter(([n]) => !drop.includes(n))), s.samples[s.samples.length - 1]!.value);
    }
    return out;
  }
}
