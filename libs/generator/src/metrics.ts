// The metrics-generator's own metrics on /metrics (prom-client), with Tempo's names and labels. Created
// once per process registry and shared by every tenant's instance.

import { Counter, Gauge, type Registry } from 'prom-client';

/** Why the generator dropped spans: the `reason` label of tempo_metrics_generator_spans_discarded_total. */
export const GeneratorDiscardReason = {
  OUTSIDE_SLACK: 'outside_metrics_ingestion_slack',
} as const;

export class GeneratorMetrics {
  readonly spansReceived: Counter<'tenant'>;
  readonly bytesReceived: Counter<'tenant'>;
  readonly spansDiscarded: Counter<'tenant' | 'reason'>;
  readonly activeProcessors: Gauge<'tenant' | 'processor'>;
  readonly activeSeries: Gauge<'tenant'>;
  readonly maxActiveSeries: Gauge<'tenant'>;
  readonly seriesAdded: Counter<'tenant'>;
  readonly seriesRemoved: Counter<'tenant'>;
  readonly seriesLimited: Counter<'tenant'>;
  readonly collections: Counter<'tenant'>;
  readonly collectionsFailed: Counter<'tenant'>;
  readonly serviceGraphDroppedSpans: Counter<'tenant'>;
  readonly serviceGraphEdges: Counter<'tenant'>;
  readonly serviceGraphExpiredEdges: Counter<'tenant'>;
  /** Set by the generator's worker thread from /proc/thread-self when scraped (@stave/core's thread-cpu.ts). */
  readonly threadCpuSeconds: Gauge;

  constructor(registry: Registry) {
    const reg = { registers: [registry] };
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) => new Counter<L>({ name, help, labelNames, ...reg });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]) => new Gauge<L>({ name, help, labelNames, ...reg });
    this.spansReceived = counter('tempo_metrics_generator_spans_received_total', 'Spans received, per tenant.', ['tenant']);
    this.bytesReceived = counter('tempo_metrics_generator_bytes_received_total', 'Proto bytes received, per tenant.', ['tenant']);
    this.spansDiscarded = counter('tempo_metrics_generator_spans_discarded_total', 'Spans received and not processed, by reason.', ['tenant', 'reason']);
    this.activeProcessors = gauge('tempo_metrics_generator_active_processors', 'The active processors per tenant (1 active, 0 not).', ['tenant', 'processor']);
    this.activeSeries = gauge('tempo_metrics_generator_registry_active_series', 'The active series per tenant.', ['tenant']);
    this.maxActiveSeries = gauge('tempo_metrics_generator_registry_max_active_series', 'The maximum active series per tenant (0: no limit).', ['tenant']);
    this.seriesAdded = counter('tempo_metrics_generator_registry_series_added_total', 'Series created, per tenant.', ['tenant']);
    this.seriesRemoved = counter('tempo_metrics_generator_registry_series_removed_total', 'Series removed after they became stale, per tenant.', ['tenant']);
    this.seriesLimited = counter('tempo_metrics_generator_registry_series_limited_total', 'Series not created because of max_active_series, per tenant.', [
      'tenant',
    ]);
    this.collections = counter('tempo_metrics_generator_registry_collections_total', 'Metrics collections, per tenant.', ['tenant']);
    this.collectionsFailed = counter('tempo_metrics_generator_registry_collections_failed_total', 'Failed metrics collections, per tenant.', ['tenant']);
    // Tempo registers these three without the _total suffix; kept so dashboards find them.
    this.serviceGraphDroppedSpans = counter(
      'tempo_metrics_generator_processor_service_graphs_dropped_spans',
      'Spans dropped when trying to add edges (max_items).',
      ['tenant'],
    );
    this.serviceGraphEdges = counter('tempo_metrics_generator_processor_service_graphs_edges', 'Unique edges stored.', ['tenant']);
    this.serviceGraphExpiredEdges = counter(
      'tempo_metrics_generator_processor_service_graphs_expired_edges',
      'Edges that expired before finding their matching span.',
      ['tenant'],
    );
    this.threadCpuSeconds = new Gauge({
      name: 'stave_metrics_generator_thread_cpu_seconds',
      help: "CPU time (user + system) the metrics-generator's worker thread has used, seconds (Linux; absent elsewhere and without the thread).",
      ...reg,
    });
  }
}
