// A tenant's registry: the metrics its processors update, and their collection into samples. Every
// collection_interval the registry samples every active series, drops the series not updated within
// stale_duration, and hands the samples to the SampleAppender (remote write). New series beyond the tenant's
// max_active_series are refused and counted (tempo_metrics_generator_registry_series_limited_total).

import os from 'node:os';
import type { Logger } from '@stave/core';
import type { SampleAppender, Series } from '@stave/remote-write';
import type { GeneratorMetrics } from '../metrics';
import { RegistryCounter } from './counter';
import { RegistryHistogram } from './histogram';
import { labelSet, type LabelSet } from './labels';
import type { Counter, Histogram, Metric, SeriesHooks } from './metric';

/** The per-tenant limits the registry reads at use, so that reloaded overrides apply at once. */
export interface RegistryLimits {
  /** 0: no limit. */
  maxActiveSeries(): number;
  /** ms; 0: the registry's collection_interval. */
  collectionIntervalMs(): number;
  disableCollection(): boolean;
}

export interface RegistryOptions {
  tenant: string;
  /** metrics_generator.registry.* */
  collectionIntervalMs: number;
  staleDurationMs: number;
  externalLabels: Readonly<Record<string, string>>;
  maxLabelNameLength: number;
  maxLabelValueLength: number;
  limits: RegistryLimits;
  metrics: GeneratorMetrics;
  logger: Logger;
  /** Defaults to the host name, as Tempo sets `__metrics_gen_instance` (keeps generators' series apart). */
  instanceLabel?: string;
  /**
   * Whether histograms keep exemplars (default true). False when the collected series are encoded for
   * endpoints none of which sends exemplars: they would be dropped at encoding, after a string each.
   */
  exemplars?: boolean;
  now?: () => number;
}

export class Registry {
  private readonly metrics = new Map<string, Metric>();
  private readonly external: ReadonlyMap<string, string>;
  private readonly hooks: SeriesHooks;
  private active = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private clockMs: number;

  constructor(private readonly opts: RegistryOptions) {
    this.now = opts.now ?? Date.now;
    this.external = new Map([...Object.entries(opts.externalLabels), ['__metrics_gen_instance', opts.instanceLabel ?? os.hostname()]]);
    const m = opts.metrics;
    const tenant = opts.tenant;
    this.hooks = {
      onAdd: (count) => {
        const max = opts.limits.maxActiveSeries();
        if (max !== 0 && this.active + count > max) {
          m.seriesLimited.inc({ tenant });
          return false;
        }
        this.active += count;
        m.seriesAdded.inc({ tenant }, count);
        m.activeSeries.set({ tenant }, this.active);
        return true;
      },
      onRemove: (count) => {
        this.active -= count;
        m.seriesRemoved.inc({ tenant }, count);
        m.activeSeries.set({ tenant }, this.active);
      },
      // Series remember when they were last updated (for stale_duration, minutes): the clock read once per
      // push (tick) is exact enough, and a clock read per update cost as much as the update.
      now: () => this.clockMs,
    };
    this.clockMs = this.now();
  }

  /** Reads the clock for the updates that follow (each push, each expiry sweep). */
  tick(): void {
    this.clockMs = this.now();
  }

  get activeSeries(): number {
    return this.active;
  }

  /** A label set for the metrics of this registry, truncated to its label length limits. */
  labels(names: readonly string[], values: readonly string[]): LabelSet {
    return labelSet(names, values, this.opts.maxLabelNameLength, this.opts.maxLabelValueLength);
  }

  newCounter(name: string): Counter {
    return this.register(new RegistryCounter(name, this.hooks));
  }

  newHistogram(name: string, buckets: readonly number[]): Histogram {
    return this.register(new RegistryHistogram(name, buckets, this.hooks, this.opts.exemplars ?? true));
  }

  /** Forgets a metric (a processor that was switched off) and its series. */
  unregister(name: string): void {
    const m = this.metrics.get(name);
    if (!m) return;
    m.removeStale(Infinity);
    this.metrics.delete(name);
  }

  private register<M extends Metric>(m: M): M {
    if (this.metrics.has(m.name)) this.unregister(m.name);
    this.metrics.set(m.name, m);
    return m;
  }

  /**
   * Drops stale series, then samples every series at the current time. Returns no series when the
   * tenant's overrides disable collection.
   */
  collect(): Series[] {
    const tenant = this.opts.tenant;
    const m = this.opts.metrics;
    if (this.opts.limits.disableCollection()) return [];
    const now = this.now();
    this.clockMs = now;
    const out: Series[] = [];
    let active = 0;
    for (const metric of this.metrics.values()) metric.removeStale(now - this.opts.staleDurationMs);
    for (const metric of this.metrics.values()) active += metric.collect(now, this.external, out);
    this.active = active;
    m.activeSeries.set({ tenant }, active);
    m.maxActiveSeries.set({ tenant }, this.opts.limits.maxActiveSeries());
    m.collections.inc({ tenant });
    return out;
  }

  /** Collects every collection interval (re-read each time: overrides may change it) into `appender`. */
  start(appender: SampleAppender): void {
    const tick = () => {
      try {
        const series = this.collect();
        if (series.length > 0) appender.append(this.opts.tenant, series);
      } catch (err) {
        this.opts.metrics.collectionsFailed.inc({ tenant: this.opts.tenant });
        this.opts.logger.error('collecting metrics failed', { tenant: this.opts.tenant, err: err instanceof Error ? err.message : String(err) });
      }
      this.schedule(tick);
    };
    this.schedule(tick);
  }

  private schedule(tick: () => void): void {
    const interval = this.opts.limits.collectionIntervalMs() || this.opts.collectionIntervalMs;
    this.timer = setTimeout(tick, interval);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
