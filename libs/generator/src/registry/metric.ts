// What the registry needs of each metric it manages, and what each metric needs of the registry.

import type { Series } from '@stave/remote-write';
import type { CounterSeries } from './counter';
import type { HistogramSeries } from './histogram';
import type { LabelSet } from './labels';

/** The registry's side: admission of new series (max_active_series) and their removal. */
export interface SeriesHooks {
  /** Asks room for `count` new series; false: refused (and counted as limited by the registry). */
  onAdd(count: number): boolean;
  onRemove(count: number): void;
  /** Wall clock, ms; series remember when they were last updated. */
  now(): number;
}

export interface Metric {
  readonly name: string;
  /**
   * Appends one Series per active series to `out`, sampled at `timeMs`, and returns how many active
   * series it has. A series seen for the first time also gets a 0 sample one second before its value, so
   * that Prometheus' rate() and increase() count its first increments (Tempo inserts the same 0 one second
   * before the value; Tempo puts the value one second after the collection, Stave puts the 0 before it, so
   * no sample lies in the future).
   */
  collect(timeMs: number, external: ReadonlyMap<string, string>, out: Series[]): number;
  /** Drops the series not updated since `beforeMs` (stale_duration). */
  removeStale(beforeMs: number): void;
}

export interface Counter {
  inc(labels: LabelSet, value: number): void;
  /**
   * The series of `labels`, created if the registry admits it (undefined: refused, and counted), for
   * callers that keep it and add() to it directly until it is `removed`.
   */
  seriesFor(labels: LabelSet): CounterSeries | undefined;
  add(series: CounterSeries, value: number): void;
  /** Every active series with its current value (read by the service-graph view). */
  forEachSeries(fn: (labels: LabelSet, value: number) => void): void;
}

export interface Histogram {
  /** Observes `value` `multiplier` times; `traceID` becomes the exemplar of the bucket it falls in. */
  observe(labels: LabelSet, value: number, traceID: string, multiplier?: number): void;
  /** As Counter.seriesFor. */
  seriesFor(labels: LabelSet): HistogramSeries | undefined;
  /** observe() of values[at] on a kept series, with the trace ID as bytes buf[idStart, idEnd) (printed at collection). */
  observeWithTraceId(series: HistogramSeries, values: Float64Array, at: number, multiplier: number, buf: Uint8Array, idStart: number, idEnd: number): void;
  /** Every active label set with its current sum and count (read by the service-graph view). */
  forEachSeries(fn: (labels: LabelSet, sum: number, count: number) => void): void;
}

/** Offset of the 0 sample inserted before a new series' first value. */
export const FIRST_SAMPLE_OFFSET_MS = 1000;

/** Go's strconv.FormatFloat(v, 'f', -1, 64), which Tempo uses for `le`: shortest digits, no exponent. */
export function formatFloat(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  const s = String(v);
  if (!/e/i.test(s)) return s;
  // Exponent form (|v| < 1e-6 or >= 1e21): expand the shortest digits without it.
  const [mant, expStr] = s.split(/e/i) as [string, string];
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const [int, frac = ''] = (neg ? mant.slice(1) : mant).split('.') as [string, string?];
  const digits = int + frac;
  const point = int.length + exp;
  const out =
    point <= 0
      ? `0.${'0'.repeat(-point)}${digits}`
      : point >= digits.length
        ? digits + '0'.repeat(point - digits.length)
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return neg ? `-${out}` : out;
}
