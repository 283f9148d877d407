// The write path's bookkeeping: per-tenant limits on each incoming trace (max_bytes_per_trace,
// max_traces_per_user), and indexing appended WAL records by trace ID in the head block. The ingester
// calls these around its WAL append; nothing here does I/O.

import { PushErrorReason, type PushBytesRequest } from '@stave/proto';
import type { LimitsConfig } from '@stave/server';
import type { HeadBlock, TraceEntry } from './head-block';
import type { TenantInstance } from './instance';
import { traceKey } from './trace-map';
import type { RecordRef, WalRecord } from './wal';

export interface Admission {
  /** One reason per trace of the request, NO_ERROR for the accepted ones. */
  readonly errors: PushErrorReason[];
  /** Indexes of the accepted traces, in request order. */
  readonly accepted: number[];
  /**
   * Per accepted trace: its lookup key (traceKey) and its head-block entry when it had one already.
   * Entries are never removed from a head block, so indexing after the WAL append reuses both instead of
   * a second lookup.
   */
  readonly keys: number[];
  readonly entries: Array<TraceEntry | undefined>;
}

/** A trace new to the head block seen earlier in the same request (chained when two share a key). */
interface Fresh {
  readonly id: Uint8Array;
  bytes: number;
  next: Fresh | undefined;
}

let admissionStamp = 0;

/** Applies max_bytes_per_trace and max_traces_per_user to every trace of a push. */
export function admitTraces(inst: TenantInstance, head: HeadBlock, req: PushBytesRequest, limits: LimitsConfig): Admission {
  const n = req.traces.length;
  const errors: PushErrorReason[] = new Array<PushErrorReason>(n).fill(PushErrorReason.NO_ERROR);
  // Allocated once at the most they can hold and cut to size at the end (no growing by push per trace).
  const accepted = new Array<number>(n);
  const keys = new Array<number>(n);
  const entries = new Array<TraceEntry | undefined>(n);
  let count = 0;
  // Bytes of traces new to the block that this request adds, so two parts of one trace (merged pushes)
  // count once against the live-trace limit and together against the size limit. Made on first need.
  let fresh: Map<number, Fresh> | undefined;
  // Traces this request would make live; entries already in the block are marked with this call's stamp
  // (admission is synchronous, so no other call sees a stamp of this one as its own).
  let newLive = 0;
  const stamp = ++admissionStamp;
  const maxBytes = limits.global.max_bytes_per_trace;
  const maxLive = limits.ingestion.max_traces_per_user;
  for (let i = 0; i < n; i++) {
    const id = req.ids[i]!;
    const key = traceKey(id);
    const size = req.traces[i]!.length;
    const e: TraceEntry | undefined = head.traces.find(id, key);
    let f: Fresh | undefined;
    if (e === undefined && fresh !== undefined) for (f = fresh.get(key); f !== undefined && !sameID(f.id, id); f = f.next);
    const seen = e !== undefined && e.admitStamp === stamp;
    const soFar = e !== undefined ? e.bytes + (seen ? e.admitBytes : 0) : (f?.bytes ?? 0);
    if (maxBytes > 0 && soFar + size > maxBytes) {
      errors[i] = PushErrorReason.TRACE_TOO_LARGE;
      continue;
    }
    if ((e === undefined ? f === undefined : !e.live && !seen) && maxLive > 0 && inst.liveTraces + newLive >= maxLive) {
      errors[i] = PushErrorReason.MAX_LIVE_TRACES;
      continue;
    }
    if (e !== undefined) {
      if (!seen) {
        e.admitStamp = stamp;
        e.admitBytes = 0;
        if (!e.live) newLive++;
      }
      e.admitBytes += size;
    } else if (f !== undefined) {
      f.bytes += size;
    } else {
      fresh ??= new Map();
      fresh.set(key, { id, bytes: size, next: fresh.get(key) });
      newLive++;
    }
    accepted[count] = i;
    keys[count] = key;
    entries[count++] = e;
  }
  accepted.length = keys.length = entries.length = count;
  return { errors, accepted, keys, entries };
}

function sameID(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The WAL records of the accepted traces, with their time range when the sender gave it (0 otherwise). */
export function walRecords(req: PushBytesRequest, accepted: readonly number[]): WalRecord[] {
  const out = new Array<WalRecord>(accepted.length);
  for (let k = 0; k < accepted.length; k++) {
    const i = accepted[k]!;
    out[k] = { traceID: req.ids[i]!, startSeconds: req.startSeconds[i] ?? 0, endSeconds: req.endSeconds[i] ?? 0, data: req.traces[i]! };
  }
  return out;
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
    head.addPart(e, refs[k]!);
    e.bytes += r.data.length;
    e.lastAppendMs = nowMs;
    bytes += r.data.length;
  }
  head.dataBytes += bytes;
  return bytes;
}

/** The head block's entry for a record's trace (created when new), its time range widened to the record's. */
export function entryFor(head: HeadBlock, r: WalRecord, nowMs: number, created?: () => void, key = traceKey(r.traceID)): TraceEntry {
  let e = head.traces.find(r.traceID, key);
  if (!e) {
    e = head.newEntry(r.traceID, nowMs);
    head.traces.add(e, key);
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
