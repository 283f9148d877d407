// How the query-frontend cuts one tenant's search into jobs, as Tempo 2.x's search sharder does:
//
//   ingester jobs  the part of the window within the last `query_ingesters_until`, split into
//                  `ingester_shards` time slices of at least a minute (an ingester holds a trace until
//                  its block is flushed and `complete_block_timeout` has passed);
//   block jobs     for the part of the window older than `query_backend_after`: the tenant's blocks that
//                  overlap it, newest first (by end time, then block ID), each cut into runs of row
//                  groups of about `target_bytes_per_job` bytes (the block's size over its row groups
//                  is the bytes of one; at least one row group per job).
//
// Newest first, so that a search that stops at `limit` has found the newest traces it could. A trace's
// rows never straddle two row groups (the writer cuts a row group only between traces), so the jobs of a
// block partition its traces: each trace is evaluated whole, by exactly one job.
//
// Without a whole window (`start` or `end` absent), Tempo searches the ingesters only; Stave searches the
// ingesters and every block that overlaps the bound given, so a search never misses a trace because it
// was flushed (docs/search.md, "Differences from Tempo").

import type { BlockMeta } from '@stave/block';

export interface SearchShardOptions {
  /** `query_frontend.search.query_backend_after`: blocks are searched only for the window older than this. */
  queryBackendAfterMs: number;
  /** `query_frontend.search.query_ingesters_until`: ingesters are searched only for the window within this. */
  queryIngestersUntilMs: number;
  /** `query_frontend.search.target_bytes_per_job`. */
  targetBytesPerJob: number;
  /** `query_frontend.search.ingester_shards`: time slices of the ingesters' part of the window. */
  ingesterShards: number;
}

/** Tempo's defaults. */
export const SEARCH_SHARD_DEFAULTS: Readonly<SearchShardOptions> = Object.freeze({
  queryBackendAfterMs: 15 * 60_000,
  queryIngestersUntilMs: 30 * 60_000,
  targetBytesPerJob: 100 * 1024 * 1024,
  ingesterShards: 3,
});

/** An ingester job's window, Unix seconds (0: open). */
export interface IngesterShard {
  start: number;
  end: number;
}

/** A block job: row groups [startRowGroup, startRowGroup + rowGroups) of one block. */
export interface BlockShard {
  meta: BlockMeta;
  startRowGroup: number;
  rowGroups: number;
}

export interface SearchPlan {
  ingesters: IngesterShard[];
  /** Newest block first; a block's row groups in order. */
  blocks: BlockShard[];
  /** Blocks the window selects, and their bytes (Tempo's totalBlocks and totalBlockBytes). */
  totalBlocks: number;
  totalBlockBytes: bigint;
}

/** Ingester time slices are never shorter than this (Tempo's minimum). */
const MIN_INGESTER_SHARD_SECONDS = 60;

/**
 * The jobs of one tenant's search over [start, end] (Unix seconds; 0 = open) at `nowMs`, given the
 * tenant's blocks. Pure: the caller supplies the clock and the blocklist. The blocklist is asked for only
 * when the window reaches the backend: a search of the last minutes needs no blocklist (and works before
 * the first poll).
 */
export function planSearch(window: { start: number; end: number }, blocks: () => readonly BlockMeta[], nowMs: number, opts: SearchShardOptions): SearchPlan {
  const { start, end } = window;
  const whole = start > 0 && end > 0;
  const ingesters = whole ? ingesterShards(start, end, nowMs, opts) : [{ start, end }];
  let selected: BlockMeta[];
  if (!whole) selected = overlapping(blocks(), start, end);
  else {
    const backendAfter = Math.floor((nowMs - opts.queryBackendAfterMs) / 1000);
    const bStart = Math.min(start, backendAfter);
    const bEnd = Math.min(end, backendAfter);
    selected = bStart === bEnd ? [] : overlapping(blocks(), bStart, bEnd);
  }
  selected.sort(newestFirst);
  const shards: BlockShard[] = [];
  let totalBlockBytes = 0n;
  for (const meta of selected) {
    totalBlockBytes += BigInt(meta.size);
    shards.push(...blockShards(meta, opts.targetBytesPerJob));
  }
  return { ingesters, blocks: shards, totalBlocks: selected.length, totalBlockBytes };
}

/** The window's part within `query_ingesters_until`, in `ingester_shards` slices; none when it ends before. */
function ingesterShards(start: number, end: number, nowMs: number, opts: SearchShardOptions): IngesterShard[] {
  const until = Math.floor((nowMs - opts.queryIngestersUntilMs) / 1000);
  if (end < until) return [];
  const from = Math.max(start, until);
  if (from === end) return [];
  const n = Math.max(1, opts.ingesterShards);
  const interval = Math.max(MIN_INGESTER_SHARD_SECONDS, Math.floor((end - from) / n));
  const out: IngesterShard[] = [];
  for (let i = 0; i < n; i++) {
    const s = from + i * interval;
    if (s >= end) break;
    // The last slice reaches the end of the window, whatever the rounding left over.
    out.push({ start: s, end: i === n - 1 || s + interval >= end ? end : s + interval });
  }
  return out;
}

/**
 * Blocks whose time range meets [start, end] (seconds; 0 = open). `end` is a whole second, as the search
 * itself reads it: a block starting within that second is in.
 */
function overlapping(blocks: readonly BlockMeta[], start: number, end: number): BlockMeta[] {
  return blocks.filter((m) => (end <= 0 || Date.parse(m.startTime) < (end + 1) * 1000) && (start <= 0 || Date.parse(m.endTime) >= start * 1000));
}

function newestFirst(a: BlockMeta, b: BlockMeta): number {
  const ea = Date.parse(a.endTime);
  const eb = Date.parse(b.endTime);
  if (ea !== eb) return eb - ea;
  return a.blockID < b.blockID ? -1 : a.blockID > b.blockID ? 1 : 0;
}

/** Row groups per job: about `target` bytes, at least one. */
export function rowGroupsPerJob(meta: Pick<BlockMeta, 'size' | 'rowGroups'>, target: number): number {
  if (meta.rowGroups <= 0) return 0;
  const bytesPerGroup = meta.size / meta.rowGroups;
  return bytesPerGroup <= 0 ? meta.rowGroups : Math.max(1, Math.floor(target / bytesPerGroup));
}

function blockShards(meta: BlockMeta, target: number): BlockShard[] {
  const per = rowGroupsPerJob(meta, target);
  const out: BlockShard[] = [];
  for (let s = 0; per > 0 && s < meta.rowGroups; s += per) out.push({ meta, startRowGroup: s, rowGroups: Math.min(per, meta.rowGroups - s) });
  return out;
}
