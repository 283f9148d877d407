// The compactor's metrics, with Tempo's names and labels (tempodb/compactor.go, tempodb/tempodb.go) so
// Tempo's compactor dashboards read them unchanged; Stave's own under stave_compactor_.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class CompactorMetrics {
  readonly blocks: Counter<'level'>;
  readonly objectsWritten: Counter<'level'>;
  readonly bytesWritten: Counter<'level'>;
  readonly objectsCombined: Counter<'level'>;
  readonly errors: Counter;
  readonly outstandingBlocks: Gauge<'tenant'>;
  readonly spansCombined: Counter<'replication_factor'>;
  readonly outputBlockSize: Histogram;
  readonly retentionDuration: Histogram;
  readonly retentionErrors: Counter;
  readonly retentionMarked: Counter;
  readonly retentionDeleted: Counter;
  readonly jobs: Counter<'result'>;
  readonly spansIn: Counter;
  readonly jobDuration: Histogram;
  readonly orphansDeleted: Counter;
  readonly tenantIndexWrites: Counter;

  constructor(r: Registry) {
    const reg = { registers: [r] };
    this.blocks = new Counter({ name: 'tempodb_compaction_blocks_total', help: 'Total number of blocks compacted.', labelNames: ['level'], ...reg });
    this.objectsWritten = new Counter({
      name: 'tempodb_compaction_objects_written_total',
      help: 'Total number of objects (traces) written to the backend during compaction.',
      labelNames: ['level'],
      ...reg,
    });
    this.bytesWritten = new Counter({
      name: 'tempodb_compaction_bytes_written_total',
      help: 'Total number of bytes written to the backend during compaction.',
      labelNames: ['level'],
      ...reg,
    });
    this.objectsCombined = new Counter({
      name: 'tempodb_compaction_objects_combined_total',
      help: 'Total number of objects (traces) combined during compaction.',
      labelNames: ['level'],
      ...reg,
    });
    this.errors = new Counter({ name: 'tempodb_compaction_errors_total', help: 'Total number of errors occurring during compaction.', ...reg });
    this.outstandingBlocks = new Gauge({
      name: 'tempodb_compaction_outstanding_blocks',
      help: 'Blocks this compactor owns that remain to be compacted after its last cycle.',
      labelNames: ['tenant'],
      ...reg,
    });
    // Tempo registers this one as a gauge it only adds to; a counter is what it is.
    this.spansCombined = new Counter({
      name: 'tempodb_compaction_spans_combined_total',
      help: 'Duplicate spans dropped while combining traces, by the replication factor of the input blocks.',
      labelNames: ['replication_factor'],
      ...reg,
    });
    this.outputBlockSize = new Histogram({
      name: 'tempodb_compaction_output_block_size_bytes',
      help: 'Size of the data of each block compaction writes.',
      buckets: [1, 4, 16, 64, 256, 1024, 4096, 16384].map((mb) => mb * 1024 * 1024),
      ...reg,
    });
    this.retentionDuration = new Histogram({
      name: 'tempodb_retention_duration_seconds',
      help: 'Time to perform retention tasks.',
      buckets: [0.25, 0.5, 1, 2, 4, 8],
      ...reg,
    });
    this.retentionErrors = new Counter({ name: 'tempodb_retention_errors_total', help: 'Errors while performing retention tasks.', ...reg });
    this.retentionMarked = new Counter({ name: 'tempodb_retention_marked_for_deletion_total', help: 'Blocks marked for deletion.', ...reg });
    this.retentionDeleted = new Counter({ name: 'tempodb_retention_deleted_total', help: 'Blocks deleted.', ...reg });
    this.jobs = new Counter({
      name: 'stave_compactor_jobs_total',
      help: 'Compaction jobs this compactor ran, by result (ok, error, aborted: no longer owned or stopping).',
      labelNames: ['result'],
      ...reg,
    });
    this.spansIn = new Counter({ name: 'stave_compactor_spans_read_total', help: 'Spans read from input blocks by compaction.', ...reg });
    this.jobDuration = new Histogram({
      name: 'stave_compactor_job_duration_seconds',
      help: 'Time to run one compaction job (merge, write the output, mark the inputs).',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1200],
      ...reg,
    });
    this.orphansDeleted = new Counter({
      name: 'stave_compactor_orphan_blocks_deleted_total',
      help: 'Block folders without meta.json or marker (left by a crashed write) deleted after compacted_block_retention.',
      ...reg,
    });
    this.tenantIndexWrites = new Counter({ name: 'stave_compactor_tenant_index_writes_total', help: 'Tenant indexes written by this compactor.', ...reg });
  }
}
