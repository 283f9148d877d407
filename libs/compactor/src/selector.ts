// Which blocks to compact together: Tempo's time-window selection (tempodb's blockselector), so a fleet
// migrating from Tempo groups, shards and prioritises jobs the same way.
//
// Blocks fall in windows of `compaction_window` by their end time.
// - Inside the active window (end time within the last 24 h) blocks are grouped by compaction level and
//   window: lowest level first, most recent window first; within a group, smallest (fewest traces) first.
//   The job's ownership key is `<tenant>-<level>-<window>-<rf>`.
// - Older blocks are grouped by window only (levels mixed): most recent window first; within it, lowest
//   level then smallest first. Key `<tenant>-<window>-<rf>`.
// - Blocks whose window is exactly the one 24 h back are left alone: a block there may be seen in the active
//   group by one compactor and the inactive one by another while the clock crosses, and two owners for
//   one block is what ownership exists to prevent.
// A job is a run of consecutive blocks of one group, as long as possible while within max_input_blocks,
// max_compaction_objects (traces) and max_block_bytes; a run shorter than min_input_blocks is skipped.

import { type BlockMeta, parseNanos } from '@stave/block';

/** Tempo's defaults (not configurable in Tempo either). */
export const DEFAULT_MIN_INPUT_BLOCKS = 2;
export const DEFAULT_MAX_INPUT_BLOCKS = 4;
const ACTIVE_WINDOW_MS = 24 * 3_600_000;

export interface SelectorOptions {
  /** `compaction_window`. */
  readonly windowMs: number;
  /** `max_compaction_objects`: traces in the inputs of one job. */
  readonly maxCompactionObjects: number;
  /** `max_block_bytes`: bytes of data in the inputs of one job (an estimate of the output). */
  readonly maxBlockBytes: number;
  readonly minInputBlocks?: number;
  readonly maxInputBlocks?: number;
  /** Milliseconds since the epoch. */
  readonly now: number;
}

export interface CompactionJob {
  readonly blocks: readonly BlockMeta[];
  /** The key the compactor ring hashes to find the job's one owner. */
  readonly hash: string;
}

interface Entry {
  readonly meta: BlockMeta;
  readonly group: string;
  readonly order: string;
  readonly hash: string;
}

const hex16 = (n: number): string => Math.max(0, Math.trunc(n)).toString(16).toUpperCase().padStart(16, '0');

/** A block's end time in ms since the epoch. */
export function blockEndMs(meta: BlockMeta): number {
  return Number(parseNanos(meta.endTime) / 1_000_000n);
}

/** Every job in priority order; a block is in at most one job. */
export function selectCompactionJobs(blocks: readonly BlockMeta[], o: SelectorOptions): CompactionJob[] {
  const minInputs = o.minInputBlocks ?? DEFAULT_MIN_INPUT_BLOCKS;
  const maxInputs = o.maxInputBlocks ?? DEFAULT_MAX_INPUT_BLOCKS;
  const windowSec = Math.max(1, Math.floor(o.windowMs / 1000));
  const windowOf = (ms: number): number => Math.floor(Math.floor(ms / 1000) / windowSec);
  const current = windowOf(o.now);
  const active = windowOf(o.now - ACTIVE_WINDOW_MS);

  const entries: Entry[] = [];
  for (const meta of blocks) {
    const w = windowOf(blockEndMs(meta));
    if (w === active) continue;
    const age = current - w;
    // Tempo's value for ingester blocks, which carry none, is 0.
    const rf = meta.replicationFactor ?? 0;
    if (w > active) {
      entries.push({
        meta,
        group: `A-${hex16(meta.compactionLevel)}-${hex16(age)}-${rf}`,
        order: `${hex16(meta.totalObjects)}-${meta.dataEncoding}`,
        hash: `${meta.tenantID}-${meta.compactionLevel}-${w}-${rf}`,
      });
    } else {
      entries.push({
        meta,
        group: `B-${hex16(age)}-${rf}`,
        order: `${hex16(meta.compactionLevel)}-${hex16(meta.totalObjects)}-${meta.dataEncoding}`,
        hash: `${meta.tenantID}-${w}-${rf}`,
      });
    }
  }
  // Stable: equal keys keep the input order (block ID order from the listing).
  entries.sort((a, b) => (a.group !== b.group ? (a.group < b.group ? -1 : 1) : a.order < b.order ? -1 : a.order > b.order ? 1 : 0));

  const jobs: CompactionJob[] = [];
  let i = 0;
  while (i < entries.length) {
    const first = entries[i]!;
    let objects = first.meta.totalObjects;
    let bytes = first.meta.size;
    let j = i + 1;
    while (j < entries.length && j - i < maxInputs) {
      const e = entries[j]!;
      if (e.group !== first.group || e.meta.dataEncoding !== first.meta.dataEncoding) break;
      if (objects + e.meta.totalObjects > o.maxCompactionObjects || bytes + e.meta.size > o.maxBlockBytes) break;
      objects += e.meta.totalObjects;
      bytes += e.meta.size;
      j++;
    }
    if (j - i >= minInputs && j - i >= 2) {
      jobs.push({ blocks: entries.slice(i, j).map((e) => e.meta), hash: first.hash });
      i = j;
    } else {
      // No run starts here: this block waits for more company.
      i++;
    }
  }
  return jobs;
}
