// The ingester's metrics. Tempo's names where its dashboards read them; Stave's own under stave_ingester_.

import { Counter, Gauge, type Registry } from 'prom-client';

/** Why a file was moved out of the WAL (the `reason` label of stave_ingester_wal_quarantined_files_total). */
export const QuarantineReason = {
  /** A file in a tenant's WAL directory that is not `<blockID>.wal`. */
  NotASegment: 'not_a_segment',
  /** A segment with no valid record at all. */
  Corrupt: 'corrupt_segment',
  /** A built block whose meta.json could not be read (or whose WAL segment is gone with its meta). */
  UnreadableBlock: 'unreadable_block',
} as const;
export type QuarantineReason = (typeof QuarantineReason)[keyof typeof QuarantineReason];

export class IngesterMetrics {
  readonly liveTraces: Gauge<'tenant'>;
  readonly tracesCreated: Counter<'tenant'>;
  readonly bytesReceived: Counter<'tenant'>;
  readonly blocksFlushed: Counter;
  readonly failedFlushes: Counter;
  readonly replayErrors: Counter<'tenant'>;
  readonly walCorrupt: Counter;
  readonly walReplayed: Counter;
  readonly walQuarantined: Counter<'reason'>;
  readonly flushQueueLength: Gauge;
  readonly walBytes: Gauge;
  private readBacklog: (() => { blocksPending: number; walBytes: number }) | undefined;

  constructor(r: Registry) {
    const reg = { registers: [r] };
    this.liveTraces = new Gauge({ name: 'tempo_ingester_live_traces', help: 'Live traces held by the ingester.', labelNames: ['tenant'], ...reg });
    this.tracesCreated = new Counter({ name: 'tempo_ingester_traces_created_total', help: 'Traces created in head blocks.', labelNames: ['tenant'], ...reg });
    this.bytesReceived = new Counter({ name: 'tempo_ingester_bytes_received_total', help: 'Trace bytes appended to the WAL.', labelNames: ['tenant'], ...reg });
    this.blocksFlushed = new Counter({ name: 'tempo_ingester_blocks_flushed_total', help: 'Complete blocks flushed to the backend.', ...reg });
    this.failedFlushes = new Counter({ name: 'tempo_ingester_failed_flushes_total', help: 'Flushes that failed and will be retried.', ...reg });
    this.replayErrors = new Counter({
      name: 'tempo_ingester_replay_errors_total',
      help: 'WAL files and built blocks that could not be replayed on start (kept in the quarantine directory).',
      labelNames: ['tenant'],
      ...reg,
    });
    this.walCorrupt = new Counter({ name: 'stave_ingester_wal_corrupt_records_total', help: 'Torn or corrupt WAL tails found on replay.', ...reg });
    this.walReplayed = new Counter({ name: 'stave_ingester_wal_replayed_records_total', help: 'WAL records replayed on start.', ...reg });
    this.walQuarantined = new Counter({
      name: 'stave_ingester_wal_quarantined_files_total',
      help: 'Unreadable files and blocks moved out of the WAL, by reason.',
      labelNames: ['reason'],
      ...reg,
    });
    // The ingester's backlog (what `make bench --mode sustained` plots): blocks cut but not yet built and
    // flushed, and WAL bytes of head blocks and blocks being built. Read at scrape time (observeBacklog).
    const backlog = (): { blocksPending: number; walBytes: number } => this.readBacklog?.() ?? { blocksPending: 0, walBytes: 0 };
    this.flushQueueLength = new Gauge({
      name: 'tempo_ingester_flush_queue_length',
      help: 'Blocks waiting to be built or flushed.',
      collect(this: Gauge) {
        this.set(backlog().blocksPending);
      },
      ...reg,
    });
    this.walBytes = new Gauge({
      name: 'stave_ingester_wal_bytes',
      help: 'WAL segment bytes of head blocks and blocks not yet built.',
      collect(this: Gauge) {
        this.set(backlog().walBytes);
      },
      ...reg,
    });
  }

  /** Sets the backlog gauges from `read` on every scrape (cheap: a walk over the tenants' blocks). */
  observeBacklog(read: () => { blocksPending: number; walBytes: number }): void {
    this.readBacklog = read;
  }
}
