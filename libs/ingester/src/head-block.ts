// A head block: the traces of one tenant received since the last cut, indexed by trace ID, with their
// bytes in one WAL segment. Once cut it is sealed and waits to become a complete block.

import { TraceMap } from './trace-map';
import type { RecordRef, WalSegment } from './wal';

export interface TraceEntry {
  readonly id: Uint8Array;
  readonly refs: RecordRef[];
  bytes: number;
  startSeconds: number;
  endSeconds: number;
  lastAppendMs: number;
  /** Counted in the tenant's live traces (received within trace_idle_period). */
  live: boolean;
  /** Admission scratch (push.ts): the admission call that last saw this trace, and its bytes in that push. */
  admitStamp: number;
  admitBytes: number;
}

export class HeadBlock {
  readonly traces = new TraceMap<TraceEntry>();
  /** Bytes of trace data in the segment. */
  dataBytes = 0;

  constructor(
    readonly tenant: string,
    readonly blockID: string,
    readonly segment: WalSegment,
    readonly createdMs: number,
  ) {}

  /** Every part of a trace this block holds, as TracesData bytes each. */
  async read(idHex: string): Promise<Buffer[]> {
    const e = this.traces.get(idHex);
    if (!e) return [];
    return Promise.all(e.refs.map((r) => this.segment.read(r)));
  }

  /** Trace IDs in ascending byte order (hex order is byte order). */
  sortedIDs(): string[] {
    return [...this.traces.keys()].sort();
  }
}
