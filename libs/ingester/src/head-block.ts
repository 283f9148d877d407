// A head block: the traces of one tenant received since the last cut, indexed by trace ID, with their
// bytes in one WAL segment. Once cut it is sealed and waits to become a complete block.
//
// Memory (issue 11): the index lives until the block is built, for every trace of every head and cut
// block, so it is kept small. A trace's parts are a chain in the block's part table (typed arrays, 20
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
  // The part table: file offset and length of each part, the next part of the same trace (-1: last), and
  // the trace's first part (which names the trace in pack).
  private offsets = new Float64Array(FIRST_PART_CAPACITY);
  private lengths = new Uint32Array(FIRST_PART_CAPACITY);
  private next = new Int32Array(FIRST_PART_CAPACITY);
  private first = new Int32Array(FIRST_PART_CAPACITY);
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
    this.first[p] = e.firstPart;
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
    const first = new Int32Array(n);
    first.set(this.first);
    this.offsets = offsets;
    this.lengths = lengths;
    this.next = next;
    this.first = first;
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
    // This runs on the event loop at every cut (~100,000 traces in a collector-shaped block), so it reads
    // each entry object once, in the order they were made (which is mostly their order in memory), and
    // works on typed arrays after: in sorted order, each entry's object and ID view were two or three
    // cache misses one after another (bench/flush/src/cut.ts).
    const n = this.traces.size;
    const entryIds = new Uint8Array(16 * n);
    const entryParts = new Uint32Array(n);
    const entryFirst = new Int32Array(n);
    let made = 0;
    for (const e of this.traces.values()) {
      copyID(e.id, 0, entryIds, 16 * made);
      entryParts[made] = e.parts;
      entryFirst[made++] = e.firstPart;
    }
    const order = ascendingByID(entryIds);
    const { ids, counts, offsets, lengths } = allocPackedParts(n, this.partCount);
    // Where each trace's parts go, by the trace's first part; then the parts in the order they were added
    // (so each trace's stay in order), each to its trace's next place. Following each trace's chain
    // instead was a cache miss per part, one after another.
    const place = new Uint32Array(this.partCount);
    let k = 0;
    for (let i = 0; i < n; i++) {
      const t = order[i]!;
      copyID(entryIds, 16 * t, ids, 16 * i);
      counts[i] = entryParts[t]!;
      place[entryFirst[t]!] = k;
      k += entryParts[t]!;
    }
    const first = this.first;
    for (let p = 0; p < this.partCount; p++) {
      const at = place[first[p]!]!++;
      offsets[at] = this.offsets[p]!;
      lengths[at] = this.lengths[p]!;
    }
    return { ids, counts, offsets, lengths };
  }
}

/** Copies 16 ID bytes: a loop, as `set` of a `subarray` view took 2.6× as long (100,000 IDs: 7.9 against 3.0 ms). */
function copyID(from: Uint8Array, fromAt: number, to: Uint8Array, toAt: number): void {
  for (let b = 0; b < 16; b++) to[toAt + b] = from[fromAt + b]!;
}

/** Which 32-bit half of a 64-bit element lies first in memory on this machine (the other holds an index). */
const HIGH = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0;
const LOW = 1 - HIGH;

/**
 * The order of the 16-byte IDs in `ids` ascending (unsigned bytes, as hex order), as their indexes. Each ID
 * becomes one 64-bit key, a 32-bit word of it (big-endian) above its index, and the keys are sorted
 * natively; IDs that share the word (X-Ray IDs begin with a timestamp) are sorted the same way by the next
 * word. For 100,000 random IDs ~6 ms, against ~30 ms for a sort with a JavaScript comparator over the IDs'
 * four words, which showed as an event-loop stall at every cut (bench/flush/src/cut.ts).
 */
function ascendingByID(ids: Uint8Array): Uint32Array {
  const order = new Uint32Array(ids.length >> 4);
  for (let i = 0; i < order.length; i++) order[i] = i;
  sortByWord(ids, order, 0);
  return order;
}

/** Sorts `order` (indexes of IDs in `ids`) in place by the IDs' word `w` and, where that ties, by the words after it. */
function sortByWord(ids: Uint8Array, order: Uint32Array, w: number): void {
  const n = order.length;
  if (n < 2 || w === 4) return;
  const keys = new BigUint64Array(n);
  const halves = new Uint32Array(keys.buffer);
  for (let i = 0; i < n; i++) {
    const at = 16 * order[i]! + 4 * w;
    halves[2 * i + HIGH] = ((ids[at]! << 24) | (ids[at + 1]! << 16) | (ids[at + 2]! << 8) | ids[at + 3]!) >>> 0;
    halves[2 * i + LOW] = order[i]!;
  }
  keys.sort();
  for (let i = 0; i < n; i++) order[i] = halves[2 * i + LOW]!;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && halves[2 * end + HIGH] === halves[2 * start + HIGH]) end++;
    if (end - start > 1) sortByWord(ids, order.subarray(start, end), w + 1);
    start = end;
  }
}
