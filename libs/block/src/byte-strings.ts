// Strings of byte ranges that repeat (span and service names: a block's columns hold few distinct values
// many times): the bytes are hashed and compared in place, and a value seen before gives back the string
// made the first time, so the hot path decodes no UTF-8 and allocates nothing for it. Not for values that
// rarely repeat (URLs, messages): each new value costs a copy and an entry. Bounded: past MAX_ENTRIES
// distinct values the table starts over.

import { FNV1A_BASIS, hashBytes } from '@stave/core';

const MAX_ENTRIES = 16_384;
/** Values longer than this are decoded every time (rarely repeated, and costly to hash). */
const MAX_BYTES = 256;

/**
 * A hash of `buf[a, b)` from its length and at most ~64 of its bytes, evenly spread: for long values
 * (resource headers) that a full compare confirms anyway. Continues from `h`.
 */
export function sampleHash(buf: Uint8Array, a: number, b: number, h = FNV1A_BASIS): number {
  const n = b - a;
  h = Math.imul(h ^ n, 0x01000193);
  const step = n > 64 ? Math.floor(n / 64) : 1;
  for (let i = a; i < b; i += step) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}

/** Whether `x[xa, xa + n)` equals `y[ya, ya + n)`. */
export function rangeEqual(x: Buffer, xa: number, y: Buffer, ya: number, n: number): boolean {
  if (n >= 32) return x.compare(y, ya, ya + n, xa, xa + n) === 0;
  for (let i = 0; i < n; i++) if (x[xa + i] !== y[ya + i]) return false;
  return true;
}

/** Bytes of the entries, copied into slabs of this size (one allocation per slab, not per value). */
const SLAB_BYTES = 64 * 1024;

interface Entry {
  readonly bytes: Buffer;
  readonly str: string;
  next: Entry | undefined;
}

export class ByteStrings {
  private readonly table = new Map<number, Entry>();
  private size = 0;
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private used = 0;

  /** `buf.toString('utf8', a, b)`, from the table when these bytes were seen before. */
  get(buf: Buffer, a: number, b: number): string {
    const n = b - a;
    if (n > MAX_BYTES) return buf.toString('utf8', a, b);
    const h = hashBytes(buf, a, b);
    const head = this.table.get(h);
    for (let e = head; e !== undefined; e = e.next) {
      if (e.bytes.length === n && rangeEqual(e.bytes, 0, buf, a, n)) return e.str;
    }
    if (this.size >= MAX_ENTRIES) {
      this.table.clear();
      this.size = 0;
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
    }
    const str = buf.toString('utf8', a, b);
    // Slabs of its own: a copy from Node's shared pool would keep the 8 KiB slab it lands in alive.
    if (this.used + n > SLAB_BYTES) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
    }
    const bytes = this.slab.subarray(this.used, this.used + n);
    buf.copy(bytes, 0, a, b);
    this.used += n;
    this.table.set(h, { bytes, str, next: this.table.get(h) });
    this.size++;
    return str;
  }
}
