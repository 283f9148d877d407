// A counter of the registry: one value per label set, sent as a Prometheus counter sample.

import type { Labels, Series } from '@stave/remote-write';
import { seriesLabels, type LabelSet } from './labels';
import { FIRST_SAMPLE_OFFSET_MS, type Counter, type Metric, type SeriesHooks } from './metric';

/** One series; processors may keep it and update it with add() until `removed` (stale, or unregistered). */
export interface CounterSeries {
  readonly labels: LabelSet;
  value: number;
  lastUpdated: number;
  isNew: boolean;
  removed: boolean;
  /**
   * Its full label list as collections send it, built at its first collection (a new sorted list per
   * series per collection was most of what a collection allocated), and the external labels it holds.
   */
  sent?: { readonly external: ReadonlyMap<string, string>; readonly labels: Labels };
}

export class RegistryCounter implements Counter, Metric {
  private readonly series = new Map<string, CounterSeries>();

  constructor(
    readonly name: string,
    private readonly hooks: SeriesHooks,
  ) {}

  inc(labels: LabelSet, value: number): void {
    const s = this.seriesFor(labels);
    if (s) this.add(s, value);
  }

  /** The series of `labels`, created (at 0) if the registry admits one more; undefined when it refuses (counted). */
  seriesFor(labels: LabelSet): CounterSeries | undefined {
    const s = this.series.get(labels.key);
    if (s) return s;
    if (!this.hooks.onAdd(1)) return undefined;
    const created = { labels, value: 0, lastUpdated: this.hooks.now(), isNew: true, removed: false };
    this.series.set(labels.key, created);
    return created;
  }

  add(s: CounterSeries, value: number): void {
    if (!(value >= 0)) throw new Error(`counter ${this.name} can only increase (got ${value})`);
    s.value += value;
    s.lastUpdated = this.hooks.now();
  }

  forEachSeries(fn: (labels: LabelSet, value: number) => void): void {
    for (const s of this.series.values()) fn(s.labels, s.value);
  }

  collect(timeMs: number, external: ReadonlyMap<string, string>, out: Series[]): number {
    for (const s of this.series.values()) {
      if (s.sent?.external !== external) s.sent = { external, labels: seriesLabels(this.name, s.labels, external) };
      const labels = s.sent.labels;
      const samples = s.isNew ? [{ value: 0, timestampMs: timeMs - FIRST_SAMPLE_OFFSET_MS }] : [];
      samples.push({ value: s.value, timestampMs: timeMs });
      s.isNew = false;
      out.push({ labels, samples });
    }
    return this.series.size;
  }

  removeStale(beforeMs: number): void {
    for (const [key, s] of this.series) {
      if (s.lastUpdated >= beforeMs) continue;
      s.removed = true;
      this.series.delete(key);
      this.hooks.onRemove(1);
    }
  }
}
