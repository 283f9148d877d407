// The streaming k-way merge at the heart of compaction: every input block yields its traces in ID order
// (BlockReader.iterateEncodedTraces, the stored bytes), the merge yields each ID once. A trace that one
// input holds is copied through as it is stored (it was combined when its block was built). The parts of a
// trace that several inputs hold (the same trace flushed by RF ingesters, or split across flushes) are
// combined at the wire level by @stave/block's WireTraceMerger under @stave/model's combine rules: spans
// deduplicated by (span ID, kind), the choice among copies by content, so the result does not depend on
// which block came first, and it is byte for byte what combineTraces would give.
//
// Memory is bounded by configuration, not by block size: each input holds one index page and two `trace`
// page buffers, decompressed into in turn (sizes fixed when the block was written; a head's bytes are a
// view into one of them, valid while the input reads one more page), the merge holds
// one trace per input and one combined trace, and the writer one row group
// (`storage.trace.block.row_group_size_bytes`) plus ~36 bytes per trace for the index and bloom (bounded by
// `max_compaction_objects`).

import type { ObjectStore } from '@stave/backend';
import { hexID, openBlock, WireTraceMerger, writeBlock, type BlockMeta, type BlockTrace, type WireMergeRules, type WriteBlockOptions } from '@stave/block';
import { COMBINE_RULES as MODEL_COMBINE_RULES } from '@stave/model';
import { errors } from '@stave/core';

export interface MergeStats {
  /** Traces read from the inputs (one per input that holds the ID). */
  tracesIn: number;
  /** Traces yielded (distinct IDs). */
  tracesOut: number;
  /** Traces that more than one input held and that were combined (Tempo's objects combined). */
  combined: number;
  /** Combined traces whose parts were all byte-identical (replicas), written as stored. */
  combinedIdentical: number;
  /** Combined traces whose duplicate spans differed, so they were decoded and combined as messages. */
  combinedDecoded: number;
  spansIn: number;
  spansOut: number;
}

export function newMergeStats(): MergeStats {
  return { tracesIn: 0, tracesOut: 0, combined: 0, combinedIdentical: 0, combinedDecoded: 0, spansIn: 0, spansOut: 0 };
}

/** A trace as an input block stores it: the `trace` column's encoding and its span count. */
export interface EncodedTrace {
  readonly id: Uint8Array;
  readonly encoded: Uint8Array;
  readonly spans: number;
}

/** @stave/model's combine rules, for the wire-level merge. */
export const COMBINE_RULES: WireMergeRules = MODEL_COMBINE_RULES;

interface Head {
  readonly source: number;
  readonly it: AsyncIterator<EncodedTrace>;
  id: Buffer;
  trace: EncodedTrace;
}

async function advance(h: Omit<Head, 'id' | 'trace'> & Partial<Head>): Promise<Head | undefined> {
  const r = await h.it.next();
  if (r.done) return undefined;
  const id = Buffer.from(r.value.id);
  if (h.id && Buffer.compare(h.id, id) >= 0) {
    throw errors.internal(`compaction input ${h.source} is out of order: trace ${hexID(id)} came after ${hexID(h.id)}`);
  }
  h.id = id;
  h.trace = r.value;
  return h as Head;
}

function allEqual(parts: readonly Uint8Array[]): boolean {
  const first = parts[0]!;
  for (let i = 1; i < parts.length; i++) if (Buffer.compare(first, parts[i]!) !== 0) return false;
  return true;
}

/**
 * Merges ID-ordered streams of encoded traces into one ID-ordered stream with unique IDs. `check` runs
 * between traces (the compactor uses it to stop when it no longer owns the job); it throws to abort. A
 * yielded trace's bytes are valid until the next one is asked for.
 */
export async function* mergeByTraceID(
  sources: ReadonlyArray<AsyncIterable<EncodedTrace>>,
  stats: MergeStats = newMergeStats(),
  check?: () => void,
): AsyncGenerator<BlockTrace & { readonly encoded: Uint8Array }> {
  const heads: Head[] = [];
  const merger = new WireTraceMerger(COMBINE_RULES);
  const parts: Uint8Array[] = [];
  try {
    for (let i = 0; i < sources.length; i++) {
      const h = await advance({ source: i, it: sources[i]![Symbol.asyncIterator]() });
      if (h) heads.push(h);
    }
    // A linear scan for the smallest head: inputs are few (max_input_blocks), a heap would not pay.
    while (heads.length > 0) {
      check?.();
      let min = heads[0]!.id;
      for (const h of heads) if (Buffer.compare(h.id, min) < 0) min = h.id;
      parts.length = 0;
      let spans = 0;
      for (let i = 0; i < heads.length;) {
        const h = heads[i]!;
        if (!h.id.equals(min)) {
          i++;
          continue;
        }
        parts.push(h.trace.encoded);
        spans = h.trace.spans;
        stats.tracesIn++;
        stats.spansIn += h.trace.spans;
        if (await advance(h)) i++;
        else heads.splice(i, 1);
      }
      // A single part was combined when its block was built (the ingester combines every trace it writes,
      // and so does this merge): it is written as it is. So are byte-identical parts (the replicas of one
      // flush, the common case with RF > 1): combining copies of a combined trace gives it back.
      let encoded = parts[0]!;
      // The merger's column values for the trace it wrote (the block writer then does not scan it).
      let rows: Int32Array | undefined;
      if (parts.length > 1) {
        stats.combined++;
        if (allEqual(parts)) stats.combinedIdentical++;
        else {
          const before = merger.fallbacks;
          encoded = merger.merge(min, parts);
          spans = merger.lastSpanCount;
          rows = merger.lastRows;
          stats.combinedDecoded += merger.fallbacks - before;
        }
      }
      stats.spansOut += spans;
      stats.tracesOut++;
      yield rows ? { id: min, encoded, rows } : { id: min, encoded };
    }
  } finally {
    // Close the inputs still open (an abort or a failed write stops the merge early).
    await Promise.allSettled(heads.map(async (h) => h.it.return?.()));
  }
}

/** One compaction's merge and write, as plain data (it crosses to a worker thread). */
export interface MergeJob {
  readonly tenant: string;
  readonly inputs: readonly BlockMeta[];
  /** The output's compaction level. */
  readonly level: number;
  readonly replicationFactor?: number;
  readonly write?: Pick<WriteBlockOptions, 'bloomFalsePositive' | 'bloomShardSizeBytes' | 'rowGroupSizeBytes' | 'codecLevel'>;
  /** meta.json's createdAt, ms since the epoch. */
  readonly createdAtMs: number;
}

/**
 * Brotli quality of a compaction output at `level`. Level-1 blocks are transient: Tempo's selection
 * compacts a window's level-1 blocks again into level 2 as soon as it holds `min_input_blocks` of them
 * (and, once the window leaves the active 24 h, everything in it together), so their pages are
 * compressed again, as the ingesters' quality-1 blocks are, and they get the ingesters' quality. On the
 * bench workload quality 1 compresses level-1 trace pages with half the CPU of quality 3, for ~26% more
 * bytes (84 against 67 B/span; quality 2: 74 B/span for ~10% less CPU than 3; docs/compactor.md); level
 * 2 and up, the blocks that stay, get the writer's default (5).
 */
export function compactionCodecLevel(level: number): number | undefined {
  return level <= 1 ? TRANSIENT_CODEC_LEVEL : undefined;
}

/** Brotli quality of level-1 outputs (compactionCodecLevel). */
export const TRANSIENT_CODEC_LEVEL = 1;

/** Merges the inputs into one new block (meta.json last). `check` throws to abandon it. */
export async function writeMergedBlock(store: ObjectStore, job: MergeJob, check?: () => void): Promise<{ output: BlockMeta; stats: MergeStats }> {
  const stats = newMergeStats();
  const merged = mergeByTraceID(
    // Reused page buffers: the merge holds one trace per input while it asks that input for the next.
    job.inputs.map((m) => openBlock(store, m).iterateEncodedTraces(undefined, { reuseBuffers: true })),
    stats,
    check,
  );
  const codecLevel = job.write?.codecLevel ?? compactionCodecLevel(job.level);
  const output = await writeBlock(store, {
    ...job.write,
    ...(codecLevel !== undefined ? { codecLevel } : {}),
    tenant: job.tenant,
    traces: merged,
    compactionLevel: job.level,
    compactedFrom: job.inputs.map((m) => m.blockID),
    ...(job.replicationFactor !== undefined ? { replicationFactor: job.replicationFactor } : {}),
    now: () => new Date(job.createdAtMs),
  });
  return { output, stats };
}
