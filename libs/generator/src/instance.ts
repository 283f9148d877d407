// One tenant's metrics generation: its registry and the processors its overrides enable
// (metrics_generator_processors), created and dropped as the overrides change.

import type { Logger } from '@stave/core';
import type { SampleAppender } from '@stave/remote-write';
import { GeneratorDiscardReason, type GeneratorMetrics } from './metrics';
import { PROCESSORS, SPAN_METRICS, type Processor, type ProcessorName } from './processors/processor';
import { ServiceGraphsProcessor, type ServiceGraphsConfig } from './processors/service-graphs';
import { SpanMetricsProcessor, type SpanMetricsConfig } from './processors/span-metrics';
import { Registry } from './registry/registry';
import type { SpanBatch } from './spans';

/** A tenant's metrics_generator overrides, read at use (the per-tenant file is reloaded). */
export interface TenantOverrides {
  readonly processors: readonly string[];
  /** 0: no limit. */
  readonly maxActiveSeries: number;
  /** ms; 0: metrics_generator.registry.collection_interval. */
  readonly collectionIntervalMs: number;
  readonly disableCollection: boolean;
}

/** metrics_generator.* as the generator uses it. */
export interface GeneratorConfig {
  spanMetrics: SpanMetricsConfig;
  serviceGraphs: ServiceGraphsConfig;
  registry: {
    collectionIntervalMs: number;
    staleDurationMs: number;
    externalLabels: Readonly<Record<string, string>>;
    maxLabelNameLength: number;
    maxLabelValueLength: number;
  };
  /** metrics_ingestion_time_range_slack: spans that ended further than this from now are dropped. */
  ingestionSlackMs: number;
}

export interface InstanceOptions {
  tenant: string;
  config: GeneratorConfig;
  overrides: (tenant: string) => TenantOverrides;
  appender: SampleAppender;
  metrics: GeneratorMetrics;
  logger: Logger;
  instanceLabel?: string;
  /** Registry option (default true). */
  exemplars?: boolean;
  now?: () => number;
  /** false in tests that drive collection and expiry by hand. */
  timers?: boolean;
}

export class TenantInstance {
  readonly registry: Registry;
  private readonly processors = new Map<ProcessorName, Processor>();
  private processorKey: string | undefined;
  private readonly warned = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly opts: InstanceOptions) {
    this.now = opts.now ?? Date.now;
    const tenant = opts.tenant;
    const limits = () => opts.overrides(tenant);
    this.registry = new Registry({
      tenant,
      ...opts.config.registry,
      limits: {
        maxActiveSeries: () => limits().maxActiveSeries,
        collectionIntervalMs: () => limits().collectionIntervalMs,
        disableCollection: () => limits().disableCollection,
      },
      metrics: opts.metrics,
      logger: opts.logger,
      instanceLabel: opts.instanceLabel,
      exemplars: opts.exemplars,
      now: opts.now,
    });
    this.updateProcessors();
    if (opts.timers ?? true) this.registry.start(opts.appender);
  }

  get activeProcessors(): ProcessorName[] {
    return [...this.processors.keys()];
  }

  processor(name: ProcessorName): Processor | undefined {
    return this.processors.get(name);
  }

  /** Brings the processors in line with the tenant's overrides (cheap when unchanged). */
  updateProcessors(): void {
    const wanted = this.opts.overrides(this.opts.tenant).processors;
    const key = wanted.join(',');
    if (key === this.processorKey) return;
    this.processorKey = key;
    const names = new Set<ProcessorName>();
    for (const n of wanted) {
      if ((PROCESSORS as readonly string[]).includes(n)) names.add(n as ProcessorName);
      else if (!this.warned.has(n)) {
        this.warned.add(n);
        this.opts.logger.warn('metrics-generator processor not supported; ignored', {
          tenant: this.opts.tenant,
          processor: n,
          supported: PROCESSORS.join(','),
        });
      }
    }
    for (const [name, p] of this.processors) {
      if (names.has(name)) continue;
      p.shutdown();
      for (const m of p.metricNames) this.registry.unregister(m);
      this.processors.delete(name);
    }
    const cfg = this.opts.config;
    for (const name of names) {
      if (this.processors.has(name)) continue;
      this.processors.set(
        name,
        name === SPAN_METRICS
          ? new SpanMetricsProcessor(cfg.spanMetrics, this.registry)
          : new ServiceGraphsProcessor(cfg.serviceGraphs, this.registry, this.opts.tenant, this.opts.metrics, {
              now: this.opts.now,
              expireTimer: this.opts.timers ?? true,
            }),
      );
    }
    for (const p of PROCESSORS) this.opts.metrics.activeProcessors.set({ tenant: this.opts.tenant, processor: p }, this.processors.has(p) ? 1 : 0);
  }

  /** Feeds spans to the processors, after dropping (and counting) those outside the ingestion slack. */
  pushSpans(batch: SpanBatch, bytes: number): void {
    const tenant = this.opts.tenant;
    const m = this.opts.metrics;
    this.updateProcessors();
    this.registry.tick();
    const nowNs = BigInt(this.now()) * 1_000_000n;
    const slackNs = BigInt(this.opts.config.ingestionSlackMs) * 1_000_000n;
    const oldest = nowNs > slackNs ? nowNs - slackNs : 0n;
    const newest = nowNs + slackNs;
    const outside = batch.dropOutside(Number(oldest >> 32n), Number(oldest & 0xffffffffn), Number(newest >> 32n), Number(newest & 0xffffffffn));
    m.spansReceived.inc({ tenant }, batch.n);
    m.bytesReceived.inc({ tenant }, bytes);
    if (outside > 0) m.spansDiscarded.inc({ tenant, reason: GeneratorDiscardReason.OUTSIDE_SLACK }, outside);
    for (const p of this.processors.values()) p.pushSpans(batch);
  }

  /**
   * Stops the processors and the collection timer, after one last collection so that what the processors
   * counted since the previous one still reaches the appender (which flushes after the generator stops).
   */
  shutdown(): void {
    this.registry.stop();
    for (const p of this.processors.values()) p.shutdown();
    if (this.opts.timers ?? true) {
      const series = this.registry.collect();
      if (series.length > 0) this.opts.appender.append(this.opts.tenant, series);
    }
  }
}
