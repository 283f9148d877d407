// The write path's bookkeeping: per-tenant limits on each incoming trace (max_bytes_per_trace,
// max_traces_per_user), and indexing appended WAL records by trace ID in the head block. The ingester
// calls these around its WAL append; nothing here does I/O.

import { hexID as hex } from '@stave/block';
import { PushErrorReason, type PushBytesRequest } from '@stave/proto';
import type { LimitsConfig } from '@stave/server';
import type { HeadBlock, TraceEntry } from './head-block';
import type { TenantInstance } from './instance';
import type { RecordRef, WalRecord } from './wal';

export interface Admission {
  /** One reason per trace of the request, NO_ERROR for the accepted ones. */
  readonly errors: PushErrorReason[];
  /** Indexes of the accepted traces, in request order. */
  readonly accepted: number[];
  /**
   * Per accepted trace: its hex key and its head-block entry when it had one already. Entries are never
   * removed from a head block, so indexing after the WAL append reuses both instead of a second lookup.
   */
  readonly keys: string[];
  readonly entries: Array<TraceEntry | undefined>;
}

/** Applies max_bytes_per_trace and max_traces_per_user to every trace of a push. */
export function admitTraces(inst: TenantInstance, head: HeadBlock, req: PushBytesRequest, limits: LimitsConfig): Admission {
  const errors: PushErrorReason[] = new Array<PushErrorReason>(req.traces.length).fill(PushErrorReason.NO_ERROR);
  const accepted: number[] = [];
  const keys: string[] = [];
  const entries: Array<TraceEntry | undefined> = [];
  // Bytes (and new live traces) this request adds, so two parts of one trace in a request count once.
  const pendingNew = new Map<string, number>();
  const maxBytes = limits.global.max_bytes_per_trace;
  const maxLive = limits.ingestion.max_traces_per_user;
  for (let i = 0; i < req.traces.length; i++) {
    const key = hex(req.ids[i]!);
    const size = req.traces[i]!.length;
    const e: TraceEntry | undefined = head.traces.get(key);
    const soFar = (e?.bytes ?? 0) + (pendingNew.get(key) ?? 0);
    if (maxBytes > 0 && soFar + size > maxBytes) {
      errors[i] = PushErrorReason.TRACE_TOO_LARGE;
      continue;
    }
    if ((!e || !e.live) && !pendingNew.has(key) && maxLive > 0 && inst.liveTraces + pendingNew.size >= maxLive) {
      errors[i] = PushErrorReason.MAX_LIVE_TRACES;
      continue;
    }
    pendingNew.set(key, (pendingNew.get(key) ?? 0) + size);
    accepted.push(i);
    keys.push(key);
    entries.push(e);
  }
  return { errors, accepted, keys, entries };
}

/** The WAL records of the accepted traces, with their time range when the sender gave it (0 otherwise). */
export function walRecords(req: PushBytesRequest, accepted: readonly number[]): WalRecord[] {
  return accepted.map((i) => ({
    traceID: req.ids[i]!,
    startSeconds: req.startSeconds[i] ?? 0,
    endSeconds: req.endSeconds[i] ?? 0,
    data: req.traces[i]!,
  }));
}

/**
 * Indexes durable records in the head block: each trace's parts, bytes and time range, and marks it
 * live. Calls `created` for each trace new to the block. Returns the bytes added.
 */
export function indexRecords(
  inst: TenantInstance,
  head: HeadBlock,
  records: readonly WalRecord[],
  refs: readonly RecordRef[],
  nowMs: number,
  created: () => void,
  admission?: Admission,
): number {
  let bytes = 0;
  for (let k = 0; k < records.length; k++) {
    const r = records[k]!;
    const known = admission?.entries[k];
    const e = known ? widen(known, r) : entryFor(head, r, nowMs, created, admission?.keys[k]);
    if (!e.live) {
      e.live = true;
      inst.liveTraces++;
    }
    e.refs.push(refs[k]!);
    e.bytes += r.data.length;
    e.lastAppendMs = nowMs;
    bytes += r.data.length;
  }
  head.dataBytes += bytes;
  return bytes;
}

/** The head block's entry for a record's trace (created when new), its time range widened to the record's. */
export function entryFor(head: HeadBlock, r: WalRecord, nowMs: number, created?: () => void, key = hex(r.traceID)): TraceEntry {
  let e = head.traces.get(key);
  if (!e) {
    e = { id: new Uint8Array(r.traceID), refs: [], bytes: 0, startSeconds: 0, endSeconds: 0, lastAppendMs: nowMs, live: false };
    head.traces.set(key, e);
    created?.();
  }
  return widen(e, r);
}

/** Widens an entry's time range to a record's. */
function widen(e: TraceEntry, r: WalRecord): TraceEntry {
  // 0 is "unknown" (an older sender): it never narrows a known range.
  if (r.startSeconds > 0 && (e.startSeconds === 0 || r.startSeconds < e.startSeconds)) e.startSeconds = r.startSeconds;
  if (r.endSeconds > e.endSeconds) e.endSeconds = r.endSeconds;
  return e;
}

/** Traces idle for trace_idle_period stop counting against max_traces_per_user. */
export function expireIdleTraces(inst: TenantInstance, nowMs: number, idleMs: number): void {
  const head = inst.head;
  if (!head) return;
  for (const e of head.traces.values()) {
    if (e.live && nowMs - e.lastAppendMs >= idleMs) {
      e.live = false;
      inst.liveTraces--;
    }
  }
}

/** A cut block's traces no longer count as live. */
export function releaseLiveTraces(inst: TenantInstance, head: HeadBlock): void {
  for (const e of head.traces.values()) {
    if (e.live) {
      e.live = false;
      inst.liveTraces--;
    }
  }
}
