// A head block: the traces of one tenant received since the last cut, indexed by trace ID, with their
// bytes in one WAL segment. Once cut it is sealed and waits to become a complete block.
//
// Memory (issue 11): the index lives until the block is built, for every trace of every head and cut
// block, so it is kept small. A trace's parts are a chain in the block's part table (typed arrays, 16
// bytes a part, off the V8 heap) instead of an array of {offset, length} objects, and trace IDs are views
// of shared 64 KiB slabs instead of a buffer each (an ArrayBuffer and its backing store per trace):
// during a 1.75M-span collector-shaped ingest this took the main thread's V8 heap from ~300 to ~110 MB
// used (bench/results/flush.md).

import { Buffer } from 'node:buffer';
import { allocPackedParts, type PackedParts } from './combined-traces';
import { TraceMap } from './trace-map';
import type { RecordRef, WalSegment } from './wal';

export interface TraceEntry {
  readonly id: Uint8Array;
  /** The trace's first and last part in its block's part table (HeadBlock.addPart); -1: none yet. */
  firstPart: number;
  lastPart: number;
  /** Parts in the chain. */
  parts: number;
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

const ID_SLAB_BYTES = 64 * 1024;
const FIRST_PART_CAPACITY = 1024;

export class HeadBlock {
  readonly traces = new TraceMap<TraceEntry>();
  /** Bytes of trace data in the segment. */
  dataBytes = 0;
  // The part table: file offset and length of each part, and the next part of the same trace (-1: last).
  private offsets = new Float64Array(FIRST_PART_CAPACITY);
  private lengths = new Uint32Array(FIRST_PART_CAPACITY);
  private next = new Int32Array(FIRST_PART_CAPACITY);
  private partCount = 0;
  private idSlab = new Uint8Array(0);
  private idUsed = 0;

  constructor(
    readonly tenant: string,
    readonly blockID: string,
    readonly segment: WalSegment,
    readonly createdMs: number,
  ) {}

  /** A new entry (not yet in `traces`) for a trace ID, copied into the block's ID slabs. */
  newEntry(traceID: Uint8Array, nowMs: number): TraceEntry {
    if (this.idUsed + 16 > this.idSlab.length) {
      this.idSlab = new Uint8Array(ID_SLAB_BYTES);
      this.idUsed = 0;
    }
    const id = this.idSlab.subarray(this.idUsed, this.idUsed + 16);
    id.set(traceID.subarray(0, 16));
    this.idUsed += 16;
    return {
      id,
      firstPart: -1,
      lastPart: -1,
      parts: 0,
      bytes: 0,
      startSeconds: 0,
      endSeconds: 0,
      lastAppendMs: nowMs,
      live: false,
      admitStamp: 0,
      admitBytes: 0,
    };
  }

  /** Appends a part to an entry's chain. */
  addPart(e: TraceEntry, ref: RecordRef): void {
    const p = this.partCount++;
    if (p === this.offsets.length) this.grow();
    this.offsets[p] = ref.offset;
    this.lengths[p] = ref.length;
    this.next[p] = -1;
    if (e.lastPart < 0) e.firstPart = p;
    else this.next[e.lastPart] = p;
    e.lastPart = p;
    e.parts++;
  }

  private grow(): void {
    const n = 2 * this.offsets.length;
    const offsets = new Float64Array(n);
    offsets.set(this.offsets);
    const lengths = new Uint32Array(n);
    lengths.set(this.lengths);
    const next = new Int32Array(n);
    next.set(this.next);
    this.offsets = offsets;
    this.lengths = lengths;
    this.next = next;
  }

  /** Where an entry's parts are, in the order they were added. */
  refsOf(e: TraceEntry): RecordRef[] {
    const out: RecordRef[] = [];
    for (let p = e.firstPart; p >= 0; p = this.next[p]!) out.push({ offset: this.offsets[p]!, length: this.lengths[p]! });
    return out;
  }

  /** Every part of a trace this block holds, as TracesData bytes each. */
  async read(idHex: string): Promise<Buffer[]> {
    const e = this.traces.get(idHex);
    if (!e) return [];
    return Promise.all(this.refsOf(e).map((r) => this.segment.read(r)));
  }

  /** Every trace's parts for block building, ascending by trace ID, as flat arrays. */
  pack(): PackedParts {
    const all = [...this.traces.values()];
    // Sorted by ID as four big-endian words per trace, compared in JavaScript: a Buffer.compare per
    // comparison (~17 per trace) stalled the event loop for a noticeable time at every cut of ~100,000 traces.
    const words = new Uint32Array(4 * all.length);
    all.forEach((e, i) => {
      const id = e.id;
      for (let w = 0; w < 4; w++) words[4 * i + w] = ((id[4 * w]! << 24) | (id[4 * w + 1]! << 16) | (id[4 * w + 2]! << 8) | id[4 * w + 3]!) >>> 0;
    });
    const order = new Uint32Array(all.length).map((_, i) => i);
    order.sort(
      (a, b) =>
        words[4 * a]! - words[4 * b]! ||
        words[4 * a + 1]! - words[4 * b + 1]! ||
        words[4 * a + 2]! - words[4 * b + 2]! ||
        words[4 * a + 3]! - words[4 * b + 3]!,
    );
    let n = 0;
    for (const e of all) n += e.parts;
    const { ids, counts, offsets, lengths } = allocPackedParts(all.length, n);
    let k = 0;
    order.forEach((t, i) => {
      const e = all[t]!;
      ids.set(e.id, 16 * i);
      counts[i] = e.parts;
      for (let p = e.firstPart; p >= 0; p = this.next[p]!) {
        offsets[k] = this.offsets[p]!;
        lengths[k++] = this.lengths[p]!;
      }
    });
    return { ids, counts, offsets, lengths };
  }
}
