// A classic Prometheus histogram of the registry: per label set, `_bucket` series (one per upper bound,
// `le`, cumulative, +Inf included), `_sum` and `_count`. Each bucket keeps the trace ID of its latest
// observation as an exemplar, sent once with the next collection.

import type { Labels, Series } from '@stave/remote-write';
import { traceIdString } from '../spans';
import { seriesLabels, type LabelSet } from './labels';
import { FIRST_SAMPLE_OFFSET_MS, formatFloat, type Histogram, type Metric, type SeriesHooks } from './metric';

/** Trace IDs kept as bytes for exemplars up to this long (OTLP's are 16); longer ones as strings. */
const EXEMPLAR_ID_BYTES = 16;
const EX_NONE = 0;
const EX_BYTES = 1;
const EX_STRING = 2;

/** One label set's series; processors may keep it and update it with observeSeries() until `removed`. */
export interface HistogramSeries {
  readonly labels: LabelSet;
  count: number;
  sum: number;
  /** Cumulative counts, one per bound (+Inf last), as of the unit counts' last fold (see `unit`). */
  readonly buckets: Float64Array;
  /**
   * Observations counted once each (multiplier 1, the usual case) not yet added to `buckets`, per bucket
   * they fall in (not cumulative): one increment per observation instead of one per bound at or above
   * it. Used while every observation of the series had multiplier 1 (`whole`): its buckets are then whole
   * numbers, which add up the same in any order. From the first other multiplier on (span_multiplier_key),
   * the unit counts are folded in and every observation adds to each bucket in place, in arrival order,
   * as before. Folded into `buckets` at collection.
   */
  readonly unit: Float64Array;
  /** Whether `unit` holds anything. */
  unitPending: boolean;
  /** Whether every observation so far had multiplier 1. */
  whole: boolean;
  /**
   * Per bound, the latest observation's exemplar until collected: its value, whether it has one
   * (EX_*), and its trace ID as bytes (EXEMPLAR_ID_BYTES per bound, with their length) or as a string.
   */
  readonly exValue: Float64Array;
  readonly exState: Uint8Array;
  readonly exBytes: Uint8Array;
  readonly exLength: Uint8Array;
  exStrings: Array<string | undefined> | undefined;
  lastUpdated: number;
  isNew: boolean;
  removed: boolean;
  /** Its series' full label lists as collections send them, built at its first collection (as CounterSeries.sent). */
  sent?: { readonly external: ReadonlyMap<string, string>; readonly sum: Labels; readonly count: Labels; readonly buckets: readonly Labels[] };
}

export class RegistryHistogram implements Histogram, Metric {
  private readonly series = new Map<string, HistogramSeries>();
  private readonly bounds: readonly number[];
  private readonly le: readonly string[];
  /** observe()'s value, for observeSeries (which reads values from an array). */
  private readonly scratch = new Float64Array(1);

  constructor(
    readonly name: string,
    buckets: readonly number[],
    private readonly hooks: SeriesHooks,
    /** Whether observations keep their trace ID as the exemplar of their bucket. */
    private readonly exemplars = true,
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
    const s = this.seriesFor(labels);
    if (!s) return;
    this.scratch[0] = value;
    const i = this.observeSeries(s, this.scratch, 0, multiplier);
    if (i >= 0 && traceID !== '' && this.exemplars) {
      (s.exStrings ??= [])[i] = traceID;
      s.exState[i] = EX_STRING;
      s.exValue[i] = value;
    }
  }

  /** The series of `labels`, created (empty) if the registry admits its series; undefined when it refuses (counted). */
  seriesFor(labels: LabelSet): HistogramSeries | undefined {
    let s = this.series.get(labels.key);
    if (s) return s;
    if (!this.hooks.onAdd(this.seriesPerLabelSet)) return undefined;
    const n = this.bounds.length;
    s = {
      labels,
      count: 0,
      sum: 0,
      buckets: new Float64Array(n),
      unit: new Float64Array(n),
      unitPending: false,
      whole: true,
      exValue: new Float64Array(n),
      exState: new Uint8Array(n),
      exBytes: new Uint8Array(n * EXEMPLAR_ID_BYTES),
      exLength: new Uint8Array(n),
      exStrings: undefined,
      lastUpdated: 0,
      isNew: true,
      removed: false,
    };
    this.series.set(labels.key, s);
    return s;
  }

  /**
   * Observes `values[at]` `multiplier` times, with trace ID buf[idStart, idEnd) as the exemplar of the
   * bucket it falls in (none when the ID is empty or all zeros: it would print as ''). The value is read
   * from an array (the span batch's durations, an edge's latencies) because a number passed to a call
   * that is not inlined is a new heap object per call: one per span, for the garbage collector.
   */
  observeWithTraceId(s: HistogramSeries, values: Float64Array, at: number, multiplier: number, buf: Uint8Array, idStart: number, idEnd: number): void {
    const i = this.observeSeries(s, values, at, multiplier);
    if (i < 0 || !this.exemplars) return;
    const value = values[at]!;
    let nonZero = false;
    for (let p = idStart; p < idEnd; p++) if (buf[p] !== 0) nonZero = true;
    if (!nonZero) return;
    s.exValue[i] = value;
    const len = idEnd - idStart;
    if (len > EXEMPLAR_ID_BYTES) {
      (s.exStrings ??= [])[i] = traceIdString(buf, idStart, idEnd);
      s.exState[i] = EX_STRING;
      return;
    }
    const o = i * EXEMPLAR_ID_BYTES;
    for (let p = 0; p < len; p++) s.exBytes[o + p] = buf[idStart + p]!;
    s.exLength[i] = len;
    s.exState[i] = EX_BYTES;
  }

  /** Counts the observation values[at]; returns the first bucket it falls in (-1: none, a NaN). */
  private observeSeries(s: HistogramSeries, values: Float64Array, at: number, multiplier: number): number {
    const value = values[at]!;
    s.count += multiplier;
    s.sum += value * multiplier;
    s.lastUpdated = this.hooks.now();
    const bounds = this.bounds;
    // The first bound at or above the value (bounds ascend, +Inf last): a binary search.
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (value <= bounds[mid]!) hi = mid;
      else lo = mid + 1;
    }
    if (lo === bounds.length) return -1;
    if (multiplier === 1 && s.whole) {
      s.unit[lo]!++;
      s.unitPending = true;
    } else {
      if (s.unitPending) foldUnit(s);
      s.whole = false;
      for (let i = lo; i < bounds.length; i++) s.buckets[i]! += multiplier;
    }
    return lo;
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
      if (s.unitPending) foldUnit(s);
      if (s.sent?.external !== external) {
        s.sent = {
          external,
          sum: seriesLabels(`${this.name}_sum`, s.labels, external),
          count: seriesLabels(`${this.name}_count`, s.labels, external),
          buckets: this.le.map((le) => seriesLabels(`${this.name}_bucket`, s.labels, external, ['le', le])),
        };
      }
      const sent = s.sent;
      out.push({ labels: sent.sum, samples: samples(s, s.sum) });
      out.push({ labels: sent.count, samples: samples(s, s.count) });
      for (let i = 0; i < this.bounds.length; i++) {
        const series: Series = { labels: sent.buckets[i]!, samples: samples(s, s.buckets[i]!) };
        const state = s.exState[i];
        if (state !== EX_NONE) {
          const traceID = state === EX_BYTES ? traceIdString(s.exBytes, i * EXEMPLAR_ID_BYTES, i * EXEMPLAR_ID_BYTES + s.exLength[i]!) : s.exStrings![i]!;
          series.exemplars = [{ labels: [[this.traceIDLabel, traceID]], value: s.exValue[i]!, timestampMs: timeMs }];
          s.exState[i] = EX_NONE;
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
      s.removed = true;
      this.series.delete(key);
      this.hooks.onRemove(this.seriesPerLabelSet);
    }
  }
}

/** Adds the unit counts into the cumulative buckets, in bucket order, and clears them. */
function foldUnit(s: HistogramSeries): void {
  let carry = 0;
  for (let i = 0; i < s.unit.length; i++) {
    carry += s.unit[i]!;
    s.unit[i] = 0;
    s.buckets[i]! += carry;
  }
  s.unitPending = false;
}
