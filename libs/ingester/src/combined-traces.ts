// Reading and combining a sealed WAL segment's traces: what a combine thread runs (block-combine-worker.ts)
// and what a building thread runs for the chunks it combines itself. Kept apart from block-builder.ts, and
// importing only @stave/block's transcoder and @stave/model's combine rules, so that a combine thread does
// not load the writer, the backend and the rest of the block-builder graph: idle, a combine thread loading
// this costs ~17 MiB of RSS against ~24 MiB with block-builder.ts's graph (bench/results/ingest.md, "ingest6").

import { closeSync, openSync, readSync } from 'node:fs';
import { OtlpTraceCombiner } from '@stave/block/otlp-transcode';
import { COMBINE_RULES } from '@stave/model';

/**
 * Every trace of a segment, ascending by ID (hex order is byte order), with where its parts are: flat
 * arrays (allocPackedParts), so a job of a million parts crosses to a worker as one shared buffer rather than a
 * million objects.
 */
export interface PackedParts {
  /** 16 bytes per trace. */
  readonly ids: Uint8Array;
  /** Parts of each trace. */
  readonly counts: Uint32Array;
  /** File offset and length of each part's TracesData bytes, trace by trace. */
  readonly offsets: Float64Array;
  readonly lengths: Uint32Array;
}

/**
 * PackedParts for `traces` traces and `parts` parts, zeroed, over one SharedArrayBuffer: posted to the
 * writing thread and from it to each combine thread, every thread reads the same memory. Cloned, as
 * ArrayBuffers were, each combine thread held a copy of the table (~12 bytes per part, ~6 MiB for a
 * collector-shaped block of 350k parts), kept until its isolate's next full collection.
 */
export function allocPackedParts(traces: number, parts: number): PackedParts {
  // Float64 offsets first, so that every array starts aligned to its element size.
  const memory = new SharedArrayBuffer(8 * parts + 20 * traces + 4 * parts);
  return {
    offsets: new Float64Array(memory, 0, parts),
    ids: new Uint8Array(memory, 8 * parts, 16 * traces),
    counts: new Uint32Array(memory, 8 * parts + 16 * traces, traces),
    lengths: new Uint32Array(memory, 8 * parts + 20 * traces, parts),
  };
}

/**
 * Every trace of the job, combined, in the block's trace encoding (a view valid until the next one).
 * Synchronous reads: this runs on a worker thread, and a trace's parts are many small reads that the page
 * cache answers; going through the libuv pool for each one cost more than the reads (profiled).
 */
export function* combinedTraces(
  segmentPath: string,
  parts: PackedParts,
  include: (trace: number) => boolean = () => true,
): Generator<{ i: number; id: Uint8Array; encoded: Uint8Array; rows: Int32Array | undefined }> {
  const fd = openSync(segmentPath, 'r');
  try {
    const combiner = new OtlpTraceCombiner(COMBINE_RULES);
    // One buffer for the parts of the trace at hand, reused from trace to trace (as large as the largest
    // trace, which max_bytes_per_trace bounds).
    let scratch = Buffer.allocUnsafeSlow(64 * 1024);
    const bufs: Buffer[] = [];
    let k = 0;
    for (let i = 0; i < parts.counts.length; i++) {
      const n = parts.counts[i]!;
      if (!include(i)) {
        k += n;
        continue;
      }
      let total = 0;
      for (let j = 0; j < n; j++) total += parts.lengths[k + j]!;
      if (total > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.max(total, 2 * scratch.length));
      bufs.length = 0;
      let at = 0;
      for (let j = 0; j < n; j++, k++) {
        const offset = parts.offsets[k]!;
        const length = parts.lengths[k]!;
        let done = 0;
        while (done < length) {
          const got = readSync(fd, scratch, at + done, length - done, offset + done);
          if (got === 0) throw new Error(`short read at ${offset} in ${segmentPath}`);
          done += got;
        }
        bufs.push(scratch.subarray(at, at + length));
        at += length;
      }
      const id = parts.ids.subarray(16 * i, 16 * i + 16);
      const encoded = combiner.combine(id, bufs);
      yield { i, id, encoded, rows: combiner.lastRows };
    }
  } finally {
    closeSync(fd);
  }
}
