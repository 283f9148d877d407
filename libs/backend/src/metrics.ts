// The backend's metrics. Names follow Tempo where Grafana's Tempo dashboards read them
// (tempodb_backend_request_duration_seconds, tempodb_backend_hedged_roundtrips_total), Stave's
// `stave_backend_*` otherwise. Label sets are closed: operation ∈ OPERATIONS, status_code is the HTTP
// status the failure maps to (200, 404, 416, 503, 504, ...), role ∈ the cache roles.

import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';

export const OPERATIONS = ['read', 'read_range', 'stat', 'write', 'write_part', 'list', 'delete'] as const;
export type Operation = (typeof OPERATIONS)[number];

export class BackendMetrics {
  readonly requestDuration: Histogram<'operation' | 'status_code'>;
  readonly retries: Counter<'operation'>;
  readonly hedged: Counter;
  readonly cacheHits: Counter<'role'>;
  readonly cacheMisses: Counter<'role'>;
  readonly cacheEvictions: Counter;
  readonly cacheBytes: Gauge;
  readonly cacheObjects: Gauge;

  /** One sample's value, e.g. `value('stave_backend_retries_total', { operation: 'read' })`; 0 when absent. */
  async value(sample: string, labels: Record<string, string> = {}): Promise<number> {
    const want = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    const prefix = want ? `${sample}{${want}} ` : `${sample} `;
    const line = (await this.registry.metrics()).split('\n').find((l) => l.startsWith(prefix));
    return line ? Number(line.slice(prefix.length)) : 0;
  }

  /** Metrics on `registry`; a second store on the same registry shares them (prom-client refuses duplicates). */
  constructor(readonly registry: Registry = new Registry()) {
    const get = <M extends Metric>(name: string, make: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? make();
    const registers = [registry];
    this.requestDuration = get(
      'tempodb_backend_request_duration_seconds',
      () =>
        new Histogram({
          name: 'tempodb_backend_request_duration_seconds',
          help: 'Time spent doing backend storage requests, per attempt (retries and hedged requests each count).',
          labelNames: ['operation', 'status_code'],
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers,
        }),
    );
    this.retries = get(
      'stave_backend_retries_total',
      () =>
        new Counter({ name: 'stave_backend_retries_total', help: 'Backend requests retried after a retryable failure.', labelNames: ['operation'], registers }),
    );
    this.hedged = get(
      'tempodb_backend_hedged_roundtrips_total',
      () => new Counter({ name: 'tempodb_backend_hedged_roundtrips_total', help: 'Hedged backend requests sent (beyond the first).', registers }),
    );
    this.cacheHits = get(
      'stave_backend_cache_hits_total',
      () => new Counter({ name: 'stave_backend_cache_hits_total', help: 'Object cache hits.', labelNames: ['role'], registers }),
    );
    this.cacheMisses = get(
      'stave_backend_cache_misses_total',
      () => new Counter({ name: 'stave_backend_cache_misses_total', help: 'Object cache misses (a backend read followed).', labelNames: ['role'], registers }),
    );
    this.cacheEvictions = get(
      'stave_backend_cache_evictions_total',
      () => new Counter({ name: 'stave_backend_cache_evictions_total', help: 'Objects evicted from the object cache to stay in its byte budget.', registers }),
    );
    this.cacheBytes = get(
      'stave_backend_cache_bytes',
      () => new Gauge({ name: 'stave_backend_cache_bytes', help: 'Bytes held by the object cache.', registers }),
    );
    this.cacheObjects = get(
      'stave_backend_cache_objects',
      () => new Gauge({ name: 'stave_backend_cache_objects', help: 'Entries held by the object cache.', registers }),
    );
  }
}
