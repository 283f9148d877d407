// A hash set of byte ranges (span IDs, with a small integer beside them, the span kind) for the merge of
// one trace: open addressing over typed arrays, the bytes compared where they lie. No string keys, no
// object per entry; cleared and reused from trace to trace.

import { hashBytes, rangeEqual } from './byte-strings';

export class IdTable {
  /** Entry + 1 per slot; 0 empty. */
  private slots = new Int32Array(64);
  private mask = 63;
  private bufs: Buffer[] = [];
  private starts = new Int32Array(32);
  private ends = new Int32Array(32);
  private tags = new Int32Array(32);
  /** Where the last unsuccessful `find` stopped: `add` fills it. */
  private free = -1;
  size = 0;

  /** Empties the table for at most `capacity` entries. */
  reset(capacity: number): void {
    let cap = 64;
    while (cap < 2 * capacity) cap *= 2;
    if (cap > this.slots.length) this.slots = new Int32Array(cap);
    else this.slots.fill(0, 0, cap);
    this.mask = cap - 1;
    if (capacity > this.starts.length) {
      const n = Math.max(capacity, 2 * this.starts.length);
      this.starts = new Int32Array(n);
      this.ends = new Int32Array(n);
      this.tags = new Int32Array(n);
    }
    this.bufs.length = 0;
    this.size = 0;
    this.free = -1;
  }

  /** The entry of `buf[a, b)` with `tag`, or -1 (then `add` may add it). */
  find(buf: Buffer, a: number, b: number, tag: number): number {
    const n = b - a;
    let i = hashBytes(buf, a, b, (0x811c9dc5 ^ Math.imul(tag, 0x9e3779b1)) >>> 0) & this.mask;
    for (;;) {
      const s = this.slots[i]!;
      if (s === 0) {
        this.free = i;
        return -1;
      }
      const e = s - 1;
      if (this.tags[e] === tag && this.ends[e]! - this.starts[e]! === n && rangeEqual(this.bufs[e]!, this.starts[e]!, buf, a, n)) return e;
      i = (i + 1) & this.mask;
    }
  }

  /** Adds the range the last `find` did not find (the buffer must stay unchanged while the table is used); returns its entry. */
  add(buf: Buffer, a: number, b: number, tag: number): number {
    const e = this.size++;
    if (e >= this.starts.length) throw new RangeError('IdTable: more entries than reset() allowed for');
    this.bufs[e] = buf;
    this.starts[e] = a;
    this.ends[e] = b;
    this.tags[e] = tag;
    this.slots[this.free] = e + 1;
    this.free = -1;
    return e;
  }
}
