// A classic Prometheus histogram of the registry: per label set, `_bucket` series (one per upper bound,
// `le`, cumulative, +Inf included), `_sum` and `_count`. Each bucket keeps the trace ID of its latest
// observation as an exemplar, sent once with the next collection.

import type { Series } from '@stave/remote-write';
import { seriesLabels, type LabelSet } from './labels';
import { FIRST_SAMPLE_OFFSET_MS, formatFloat, type Histogram, type Metric, type SeriesHooks } from './metric';

interface HistogramSeries {
  readonly labels: LabelSet;
  count: number;
  sum: number;
  /** Cumulative counts, one per bound (+Inf last). */
  readonly buckets: Float64Array;
  /** Per bound: the latest observation's trace ID and value, until collected. */
  readonly exemplars: Array<{ traceID: string; value: number } | undefined>;
  lastUpdated: number;
  isNew: boolean;
}

export class RegistryHistogram implements Histogram, Metric {
  private readonly series = new Map<string, HistogramSeries>();
  private readonly bounds: readonly number[];
  private readonly le: readonly string[];

  constructor(
    readonly name: string,
    buckets: readonly number[],
    private readonly hooks: SeriesHooks,
    /** The exemplar label that carries the trace ID (Tempo's trace_id_label_name, default traceID). */
    private readonly traceIDLabel = 'traceID',
  ) {
    this.bounds = [...buckets].sort((a, b) => a - b).concat(Infinity);
    this.le = this.bounds.map(formatFloat);
  }

  /** Series per label set: sum, count and one per bucket. */
  get seriesPerLabelSet(): number {
    return 2 + this.bounds.length;
  }

  observe(labels: LabelSet, value: number, traceID: string, multiplier = 1): void {
    let s = this.series.get(labels.key);
    if (!s) {
      if (!this.hooks.onAdd(this.seriesPerLabelSet)) return;
      s = {
        labels,
        count: 0,
        sum: 0,
        buckets: new Float64Array(this.bounds.length),
        exemplars: new Array(this.bounds.length).fill(undefined),
        lastUpdated: 0,
        isNew: true,
      };
      this.series.set(labels.key, s);
    }
    s.count += multiplier;
    s.sum += value * multiplier;
    let first = -1;
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= this.bounds[i]!) {
        s.buckets[i]! += multiplier;
        if (first < 0) first = i;
      }
    }
    if (first >= 0 && traceID !== '') s.exemplars[first] = { traceID, value };
    s.lastUpdated = this.hooks.now();
  }

  forEachSeries(fn: (labels: LabelSet, sum: number, count: number) => void): void {
    for (const s of this.series.values()) fn(s.labels, s.sum, s.count);
  }

  collect(timeMs: number, external: ReadonlyMap<string, string>, out: Series[]): number {
    const samples = (s: HistogramSeries, value: number) =>
      s.isNew
        ? [
            { value: 0, timestampMs: timeMs - FIRST_SAMPLE_OFFSET_MS },
            { value, timestampMs: timeMs },
          ]
        : [{ value, timestampMs: timeMs }];
    for (const s of this.series.values()) {
      out.push({ labels: seriesLabels(`${this.name}_sum`, s.labels, external), samples: samples(s, s.sum) });
      out.push({ labels: seriesLabels(`${this.name}_count`, s.labels, external), samples: samples(s, s.count) });
      for (let i = 0; i < this.bounds.length; i++) {
        const series: Series = { labels: seriesLabels(`${this.name}_bucket`, s.labels, external, ['le', this.le[i]!]), samples: samples(s, s.buckets[i]!) };
        const ex = s.exemplars[i];
        if (ex) {
          series.exemplars = [{ labels: [[this.traceIDLabel, ex.traceID]], value: ex.value, timestampMs: timeMs }];
          s.exemplars[i] = undefined;
        }
        out.push(series);
      }
      s.isNew = false;
    }
    return this.series.size * this.seriesPerLabelSet;
  }

  removeStale(beforeMs: number): void {
    for (const [key, s] of this.series) {
      if (s.lastUpdated >= beforeMs) continue;
      this.series.delete(key);
      this.hooks.onRemove(this.seriesPerLabelSet);
    }
  }
}
