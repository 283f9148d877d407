// A hash map from byte ranges (span IDs, with a small integer beside them, the span kind) to an int32, for
// the work on one trace: open addressing over typed arrays, the bytes compared where they lie. No string
// keys, no object per entry; cleared and reused from trace to trace, grown when a trace needs it.

import { FNV1A_BASIS, hashBytes } from '@stave/core';
import { rangeEqual } from './byte-strings';

export class IdTable {
  /** Entry + 1 per slot; 0 empty. */
  private slots = new Int32Array(64);
  private mask = 63;
  private bufs: Buffer[] = [];
  private starts = new Int32Array(32);
  private ends = new Int32Array(32);
  private tags = new Int32Array(32);
  private values = new Int32Array(32);
  /** Where the last unsuccessful `find` stopped: `add` fills it. */
  private free = -1;
  size = 0;

  /** Empties the table, sized for about `capacity` entries (it grows past them). */
  reset(capacity: number): void {
    let cap = 64;
    while (cap < 2 * capacity) cap *= 2;
    if (cap > this.slots.length) this.slots = new Int32Array(cap);
    else this.slots.fill(0, 0, cap);
    this.mask = cap - 1;
    if (capacity > this.starts.length) this.growEntries(capacity);
    this.bufs.length = 0;
    this.size = 0;
    this.free = -1;
  }

  /** The entry of `buf[a, b)` with `tag`, or -1 (then `add` may add it). */
  find(buf: Buffer, a: number, b: number, tag: number): number {
    const n = b - a;
    let i = IdTable.hash(buf, a, b, tag) & this.mask;
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

  /**
   * Adds the range the last `find` did not find, with `value`; returns its entry (entries count from 0 in
   * the order added). The buffer must stay unchanged while the table is used.
   */
  add(buf: Buffer, a: number, b: number, tag: number, value = 0): number {
    const e = this.size++;
    if (e >= this.starts.length) this.growEntries(2 * this.starts.length);
    this.bufs[e] = buf;
    this.starts[e] = a;
    this.ends[e] = b;
    this.tags[e] = tag;
    this.values[e] = value;
    this.slots[this.free] = e + 1;
    this.free = -1;
    if (2 * this.size > this.mask) this.rehash();
    return e;
  }

  /** The value of entry `e`. */
  value(e: number): number {
    return this.values[e]!;
  }

  private static hash(buf: Buffer, a: number, b: number, tag: number): number {
    return hashBytes(buf, a, b, (FNV1A_BASIS ^ Math.imul(tag, 0x9e3779b1)) >>> 0);
  }

  private growEntries(n: number): void {
    const grow = (old: Int32Array): Int32Array<ArrayBuffer> => {
      const next = new Int32Array(n);
      next.set(old.subarray(0, Math.min(old.length, n)));
      return next;
    };
    this.starts = grow(this.starts);
    this.ends = grow(this.ends);
    this.tags = grow(this.tags);
    this.values = grow(this.values);
  }

  private rehash(): void {
    const cap = 2 * (this.mask + 1);
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    for (let e = 0; e < this.size; e++) {
      let i = IdTable.hash(this.bufs[e]!, this.starts[e]!, this.ends[e]!, this.tags[e]!) & this.mask;
      while (this.slots[i] !== 0) i = (i + 1) & this.mask;
      this.slots[i] = e + 1;
    }
  }
}
