// span-metrics: RED metrics per span, as Tempo's spanmetrics processor makes them.
//   traces_spanmetrics_calls_total    counter, +1 (× span multiplier) per span
//   traces_spanmetrics_latency        histogram of the span's duration, seconds (exemplar: its trace ID)
//   traces_spanmetrics_size_total     counter of the span's encoded size, bytes
// Labels: the intrinsic dimensions that are on (service, span_name, span_kind, status_code by default;
// status_message when enabled), then one label per configured dimension, named after the attribute with
// Prometheus' label sanitising and `__` in front when it would collide with an intrinsic label; its value
// comes from the resource attributes, else from the span's, else empty.

import { ByteKeyTable } from '../byte-table';
import type { CounterSeries } from '../registry/counter';
import type { HistogramSeries } from '../registry/histogram';
import type { Counter, Histogram } from '../registry/metric';
import type { Registry } from '../registry/registry';
import { sanitizeLabelName } from '../registry/labels';
import { anyValueString, AttributeKeys, S_END, S_KEPT, S_KIND, S_MESSAGE, S_NAME, S_START, S_STATUS, S_TRACE, spanMultiplier, type SpanBatch } from '../spans';
import { enumName, SPAN_KIND_NAMES, SPAN_METRICS, STATUS_CODE_NAMES, type Processor } from './processor';

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

/** A label set's three series, kept by the bytes its labels were made from. */
interface SeriesHandle {
  readonly calls: CounterSeries;
  readonly latency: HistogramSeries;
  readonly size: CounterSeries;
}

/** Keys of the series table at most (more distinct label byte strings than this: it starts over). */
const MAX_KEYS = 256 * 1024;
/** Resource keys at most (past it, both tables start over: the series table's keys hold their numbers). */
const MAX_RESOURCE_KEYS = 64 * 1024;

/**
 * Per span, the bytes its labels come from (service.name's value, name, kind, status, dimension values)
 * are looked up in a table of the series they made; only a new combination decodes strings and builds
 * a label set. Bytes that differ but print the same (an int and a string "1") find the same series
 * through the registry. A series removed as stale (or refused by max_active_series) is looked up again.
 *
 * The labels' resource part (service.name's value, and each dimension's value in the resource or its
 * absence) is numbered once per resource in another table, and a span's key holds that number instead of
 * those bytes: spans outnumber resources, and the service name was most of a span's key.
 */
export class SpanMetricsProcessor implements Processor {
  readonly name = SPAN_METRICS;
  readonly metricNames = [METRIC_CALLS, METRIC_LATENCY, METRIC_SIZE];
  private readonly calls: Counter;
  private readonly latency: Histogram;
  private readonly size: Counter;
  private readonly labelNames: string[];
  private readonly table = new ByteKeyTable<SeriesHandle>(MAX_KEYS);
  /** A resource's label bytes → its number in `table`'s keys. */
  private readonly resourceKeys = new ByteKeyTable<number>(MAX_RESOURCE_KEYS);
  /** service.name, then the dimensions, searched in resource and span attributes. */
  private readonly keys: AttributeKeys;
  private readonly multiplierKey: Buffer | undefined;

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
    this.keys = new AttributeKeys(['service.name', ...cfg.dimensions]);
    this.multiplierKey = cfg.spanMultiplierKey === '' ? undefined : Buffer.from(cfg.spanMultiplierKey, 'utf8');
  }

  pushSpans(b: SpanBatch): void {
    const i = this.cfg.intrinsicDimensions;
    const dims = this.cfg.dimensions.length;
    const keys = this.keys;
    const t = this.table;
    let resource = -1;
    let resourceKey = 0;
    for (let s = 0; s < b.n; s++) {
      if (b.get(s, S_KEPT) === 0) continue;
      const buf = b.bufOf(s);
      const r = b.resourceOf(s);
      if (r !== resource) {
        resource = r;
        keys.scanResource(b, r, buf);
        resourceKey = this.resourceKey(buf);
      }
      t.begin();
      t.addU32(resourceKey);
      if (i.span_name) t.addBytes(buf, b.get(s, S_NAME), b.get(s, S_NAME + 1));
      if (i.span_kind) t.addSmall(b.get(s, S_KIND));
      if (i.status_code) t.addSmall(b.get(s, S_STATUS));
      if (i.status_message) t.addBytes(buf, b.get(s, S_MESSAGE), b.get(s, S_MESSAGE + 1));
      if (dims > 0) {
        keys.scanSpan(b, s, buf);
        // The resource's value first, else the span's (Tempo's order): which dimensions the resource has is
        // part of its number, so only the others' span values are added here.
        for (let d = 1; d <= dims; d++) if (keys.resourceStart[d] === -2) addValue(t, buf, keys.valueStart[d]!, keys.valueEnd[d]!);
      }
      const multiplier = this.multiplierKey ? spanMultiplier(b, s, this.multiplierKey) : 1;
      const size = b.get(s, S_END) - b.get(s, S_START);
      let h = t.get();
      if (h === undefined || h.calls.removed || h.latency.removed || h.size.removed) {
        // A new combination (or a series gone stale): its labels, and its series in the order Tempo
        // updates them; a series the registry refuses (max_active_series) is asked for again next time.
        const labels = this.registry.labels(this.labelNames, this.labelValues(b, s, buf));
        const calls = this.calls.seriesFor(labels);
        const latency = this.latency.seriesFor(labels);
        const sizeSeries = this.size.seriesFor(labels);
        if (!calls || !latency || !sizeSeries) {
          if (calls) this.calls.add(calls, multiplier);
          if (latency) this.latency.observeWithTraceId(latency, b.durations, s, multiplier, buf, b.get(s, S_TRACE), b.get(s, S_TRACE + 1));
          if (sizeSeries) this.size.add(sizeSeries, size);
          continue;
        }
        h = { calls, latency, size: sizeSeries };
        t.set(h);
      }
      this.calls.add(h.calls, multiplier);
      this.latency.observeWithTraceId(h.latency, b.durations, s, multiplier, buf, b.get(s, S_TRACE), b.get(s, S_TRACE + 1));
      this.size.add(h.size, size);
    }
  }

  /**
   * The number of the resource scanned last (`keys`' resource values): its service.name value when the
   * service label is on, and each dimension's value or absence.
   */
  private resourceKey(buf: Uint8Array): number {
    const t = this.resourceKeys;
    const keys = this.keys;
    t.begin();
    if (this.cfg.intrinsicDimensions.service) addValue(t, buf, keys.resourceStart[0]!, keys.resourceEnd[0]!);
    for (let d = 1; d <= this.cfg.dimensions.length; d++) addValue(t, buf, keys.resourceStart[d]!, keys.resourceEnd[d]!);
    let n = t.get();
    if (n === undefined) {
      if (t.size >= MAX_RESOURCE_KEYS) {
        // Numbers are reused from here on: no series key may keep an old one.
        t.clear();
        this.table.clear();
        t.get();
      }
      n = t.size;
      t.set(n);
    }
    return n;
  }

  /** Span `s`'s label values, as Tempo makes them. */
  private labelValues(b: SpanBatch, s: number, buf: Uint8Array): string[] {
    const i = this.cfg.intrinsicDimensions;
    const str = (f: number) => Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8', b.get(s, f), b.get(s, f + 1));
    const values: string[] = [];
    if (i.service) values.push(this.keys.resourceStart[0] === -2 ? '' : anyValueString(buf, this.keys.resourceStart[0]!, this.keys.resourceEnd[0]!));
    if (i.span_name) values.push(str(S_NAME));
    if (i.span_kind) values.push(enumName(SPAN_KIND_NAMES, b.get(s, S_KIND)));
    if (i.status_code) values.push(enumName(STATUS_CODE_NAMES, b.get(s, S_STATUS)));
    if (i.status_message) values.push(str(S_MESSAGE));
    for (let d = 1; d <= this.cfg.dimensions.length; d++) {
      const fromResource = this.keys.resourceStart[d] !== -2;
      const start = fromResource ? this.keys.resourceStart[d]! : this.keys.valueStart[d]!;
      const end = fromResource ? this.keys.resourceEnd[d]! : this.keys.valueEnd[d]!;
      values.push(start === -2 ? '' : anyValueString(buf, start, end));
    }
    return values;
  }

  shutdown(): void {}
}

/** An attribute's AnyValue bytes in a key: absent, without a value, or the value's bytes. */
function addValue(t: ByteKeyTable<unknown>, buf: Uint8Array, start: number, end: number): void {
  if (start < 0) t.addByte(start === -2 ? 0 : 1);
  else {
    t.addByte(2);
    t.addBytes(buf, start, end);
  }
}
