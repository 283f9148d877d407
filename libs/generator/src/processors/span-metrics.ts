// span-metrics: RED metrics per span, as Tempo's spanmetrics processor makes them.
//   traces_spanmetrics_calls_total    counter, +1 (× span multiplier) per span
//   traces_spanmetrics_latency        histogram of the span's duration, seconds (exemplar: its trace ID)
//   traces_spanmetrics_size_total     counter of the span's encoded size, bytes
// Labels: the intrinsic dimensions that are on (service, span_name, span_kind, status_code by default;
// status_message when enabled), then one label per configured dimension, named after the attribute with
// Prometheus' label sanitising and `__` in front when it would collide with an intrinsic label; its value
// comes from the resource attributes, else from the span's, else empty.

import { findAttribute, spanMultiplier } from '../attributes';
import type { Counter, Histogram } from '../registry/metric';
import type { Registry } from '../registry/registry';
import { sanitizeLabelName } from '../registry/labels';
import type { ResourceBatch } from '../spans';
import { durationSeconds, enumName, SPAN_KIND_NAMES, SPAN_METRICS, STATUS_CODE_NAMES, withoutLeadingZeros, type Processor } from './processor';

export const METRIC_CALLS = 'traces_spanmetrics_calls_total';
export const METRIC_LATENCY = 'traces_spanmetrics_latency';
export const METRIC_SIZE = 'traces_spanmetrics_size_total';

/** Tempo's default latency buckets: 2 ms doubling 14 times, up to 16.384 s. */
export const DEFAULT_SPAN_METRICS_BUCKETS = [0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384];

export interface IntrinsicDimensions {
  service: boolean;
  span_name: boolean;
  span_kind: boolean;
  status_code: boolean;
  status_message: boolean;
}

export interface SpanMetricsConfig {
  histogramBuckets: readonly number[];
  intrinsicDimensions: IntrinsicDimensions;
  dimensions: readonly string[];
  spanMultiplierKey: string;
}

/** Labels a configured dimension may not take: prefixed with `__` (Tempo's list; `service` is not in it). */
const RESERVED = new Set(['job', 'span_name', 'span_kind', 'status_code', 'status_message', 'instance']);

export function dimensionLabel(attribute: string): string {
  const s = sanitizeLabelName(attribute);
  return RESERVED.has(s) ? `__${s}` : s;
}

export class SpanMetricsProcessor implements Processor {
  readonly name = SPAN_METRICS;
  readonly metricNames = [METRIC_CALLS, METRIC_LATENCY, METRIC_SIZE];
  private readonly calls: Counter;
  private readonly latency: Histogram;
  private readonly size: Counter;
  private readonly labelNames: string[];

  constructor(
    private readonly cfg: SpanMetricsConfig,
    private readonly registry: Registry,
  ) {
    const i = cfg.intrinsicDimensions;
    this.labelNames = [
      ...(i.service ? ['service'] : []),
      ...(i.span_name ? ['span_name'] : []),
      ...(i.span_kind ? ['span_kind'] : []),
      ...(i.status_code ? ['status_code'] : []),
      ...(i.status_message ? ['status_message'] : []),
      ...cfg.dimensions.map(dimensionLabel),
    ];
    this.calls = registry.newCounter(METRIC_CALLS);
    this.latency = registry.newHistogram(METRIC_LATENCY, cfg.histogramBuckets);
    this.size = registry.newCounter(METRIC_SIZE);
  }

  pushSpans(batches: readonly ResourceBatch[]): void {
    const i = this.cfg.intrinsicDimensions;
    for (const { resourceAttributes, spans } of batches) {
      const service = findAttribute('service.name', resourceAttributes) ?? '';
      for (const { span, size } of spans) {
        const values: string[] = [];
        if (i.service) values.push(service);
        if (i.span_name) values.push(span.name);
        if (i.span_kind) values.push(enumName(SPAN_KIND_NAMES, span.kind));
        if (i.status_code) values.push(enumName(STATUS_CODE_NAMES, span.status?.code ?? 0));
        if (i.status_message) values.push(span.status?.message ?? '');
        for (const d of this.cfg.dimensions) values.push(findAttribute(d, resourceAttributes, span.attributes) ?? '');
        const labels = this.registry.labels(this.labelNames, values);
        const multiplier = spanMultiplier(this.cfg.spanMultiplierKey, span.attributes);
        this.calls.inc(labels, multiplier);
        this.latency.observe(labels, durationSeconds(span.startTimeUnixNano, span.endTimeUnixNano), withoutLeadingZeros(span.traceIdHex), multiplier);
        this.size.inc(labels, size);
      }
    }
  }

  shutdown(): void {}
}
