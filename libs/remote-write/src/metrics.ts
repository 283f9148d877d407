// Remote write metrics. The names are Prometheus' remote storage metrics, which Tempo's generator exposes
// (it embeds Prometheus' agent WAL and queue manager) with a `tenant` label added; the meaning of each is
// written in its help and in docs/remote-write.md. Stave's own, with no Prometheus counterpart, are under
// stave_remote_write_.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PendingSamples } from './sender';

/** Values read when the registry is collected rather than kept up to date on every change. */
export interface MetricSources {
  readonly queueBytes: () => ReadonlyArray<{ tenant: string; bytes: number }>;
  readonly pending: () => readonly PendingSamples[];
}

const REMOTE = ['tenant', 'remote_name', 'url'] as const;
type RemoteLabels = (typeof REMOTE)[number];

export class RemoteWriteMetrics {
  readonly samplesIn: Counter<'tenant'>;
  readonly exemplarsIn: Counter<'tenant'>;
  readonly samplesSent: Counter<RemoteLabels>;
  readonly exemplarsSent: Counter<RemoteLabels>;
  readonly samplesFailed: Counter<RemoteLabels>;
  readonly exemplarsFailed: Counter<RemoteLabels>;
  readonly samplesRetried: Counter<RemoteLabels>;
  readonly exemplarsRetried: Counter<RemoteLabels>;
  readonly samplesDropped: Counter<RemoteLabels>;
  readonly exemplarsDropped: Counter<RemoteLabels>;
  readonly samplesPending: Gauge<RemoteLabels>;
  readonly exemplarsPending: Gauge<RemoteLabels>;
  readonly bytesSent: Counter<RemoteLabels>;
  readonly batchDuration: Histogram<RemoteLabels>;
  readonly highestSent: Gauge<RemoteLabels>;
  readonly droppedByReason: Counter<'tenant' | 'reason'>;
  readonly queueBytes: Gauge<'tenant'>;

  constructor(r: Registry, sources: MetricSources) {
    const reg = { registers: [r] };
    const remote = { labelNames: REMOTE, ...reg };
    this.samplesIn = new Counter({
      name: 'prometheus_remote_storage_samples_in_total',
      help: 'Samples appended for remote write.',
      labelNames: ['tenant'],
      ...reg,
    });
    this.exemplarsIn = new Counter({
      name: 'prometheus_remote_storage_exemplars_in_total',
      help: 'Exemplars appended for remote write.',
      labelNames: ['tenant'],
      ...reg,
    });
    this.samplesSent = new Counter({
      name: 'prometheus_remote_storage_samples_total',
      help: 'Samples sent to and acknowledged by the remote storage.',
      ...remote,
    });
    this.exemplarsSent = new Counter({
      name: 'prometheus_remote_storage_exemplars_total',
      help: 'Exemplars sent to and acknowledged by the remote storage.',
      ...remote,
    });
    this.samplesFailed = new Counter({
      name: 'prometheus_remote_storage_samples_failed_total',
      help: 'Samples the remote storage refused for good (4xx other than 429); not resent.',
      ...remote,
    });
    this.exemplarsFailed = new Counter({
      name: 'prometheus_remote_storage_exemplars_failed_total',
      help: 'Exemplars the remote storage refused for good (4xx other than 429); not resent.',
      ...remote,
    });
    this.samplesRetried = new Counter({
      name: 'prometheus_remote_storage_samples_retried_total',
      help: 'Samples in requests that failed with a recoverable error (5xx, 429, connection error, timeout) and were resent.',
      ...remote,
    });
    this.exemplarsRetried = new Counter({
      name: 'prometheus_remote_storage_exemplars_retried_total',
      help: 'Exemplars in requests that failed with a recoverable error and were resent.',
      ...remote,
    });
    this.samplesDropped = new Counter({
      name: 'prometheus_remote_storage_samples_dropped_total',
      help: 'Samples dropped before being sent: queue bounds (memory, disk bytes, max_wal_time) or a failed disk write.',
      ...remote,
    });
    this.exemplarsDropped = new Counter({
      name: 'prometheus_remote_storage_exemplars_dropped_total',
      help: 'Exemplars dropped before being sent (queue bounds or a failed disk write).',
      ...remote,
    });
    this.samplesPending = new Gauge({
      name: 'prometheus_remote_storage_samples_pending',
      help: 'Samples queued on disk and not yet acknowledged by the remote storage.',
      ...remote,
      collect() {
        this.reset();
        for (const p of sources.pending()) this.set(p.labels, p.samples);
      },
    });
    this.exemplarsPending = new Gauge({
      name: 'prometheus_remote_storage_exemplars_pending',
      help: 'Exemplars queued on disk and not yet acknowledged (endpoints with send_exemplars).',
      ...remote,
      collect() {
        this.reset();
        for (const p of sources.pending()) this.set(p.labels, p.exemplars);
      },
    });
    this.bytesSent = new Counter({ name: 'prometheus_remote_storage_bytes_total', help: 'Compressed request bytes sent (every attempt).', ...remote });
    this.batchDuration = new Histogram({
      name: 'prometheus_remote_storage_sent_batch_duration_seconds',
      help: 'Duration of one remote write request (one attempt).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60],
      ...remote,
    });
    this.highestSent = new Gauge({
      name: 'prometheus_remote_storage_queue_highest_sent_timestamp_seconds',
      help: 'Newest sample timestamp acknowledged by the remote storage, in seconds since the epoch.',
      ...remote,
    });
    this.droppedByReason = new Counter({
      name: 'stave_remote_write_samples_dropped_total',
      help: 'Samples that will never reach one remote storage, by reason (queue_full, disk_full, too_old, rejected, write_failed), counted once per endpoint.',
      labelNames: ['tenant', 'reason'],
      ...reg,
    });
    this.queueBytes = new Gauge({
      name: 'stave_remote_write_queue_bytes',
      help: 'Bytes of the on-disk remote write queue.',
      labelNames: ['tenant'],
      ...reg,
      collect() {
        this.reset();
        for (const q of sources.queueBytes()) this.set({ tenant: q.tenant }, q.bytes);
      },
    });
  }
}
