// A head block's traces by ID, looked up by the ID's 16 bytes on the write path. A collector-shaped push
// carries ~190 traces, each looked up (and most created) once per replica: keying a Map by a hex string
// cost a 32-character string, its hash and a string compare per trace. Here the key is a small integer
// mixed from all 16 bytes and the table is typed arrays (TraceMap); the hex form is only made on the read
// side (by-ID lookups and iteration), which is rare by comparison.

import { hexID } from '@stave/block';

/** What a TraceMap holds: anything with its 16-byte trace ID. */
export interface HasTraceID {
  readonly id: Uint8Array;
}

/**
 * The lookup key of a trace ID: its four 32-bit words mixed, kept to 30 bits so that V8 stores it as a
 * small integer. Not all IDs are random in every byte (X-Ray IDs start with a timestamp), hence the mix.
 */
export function traceKey(id: Uint8Array, off = 0): number {
  const h = word(id, off) ^ Math.imul(word(id, off + 4), 0x9e3779b1) ^ Math.imul(word(id, off + 8), 0x85ebca6b) ^ Math.imul(word(id, off + 12), 0xc2b2ae35);
  return (h ^ (h >>> 15)) & 0x3fffffff;
}

/** Bytes `off`..`off + 3` of an ID as one little-endian int32. */
function word(id: Uint8Array, off: number): number {
  return id[off]! | (id[off + 1]! << 8) | (id[off + 2]! << 16) | (id[off + 3]! << 24);
}

/** Parses 32 hex characters; undefined for anything else. */
function idFromHex(hex: string): Uint8Array | undefined {
  if (hex.length !== 32) return undefined;
  const id = Buffer.from(hex, 'hex');
  return id.length === 16 ? id : undefined;
}

const FIRST_SLOTS = 1024;

/**
 * Entries by trace ID: an open-addressing table in typed arrays (linear probing, at most half full). A
 * slot holds the key + 1 (0: empty) and the entry's index; the IDs are kept again as four int32 words per
 * entry. A lookup in the collector-shaped load is one random trace among ~100,000 per span: with a `Map`
 * of entry objects it followed the hash bucket, the chain entry, the entry object, its ID's typed array and
 * the bytes (a cache miss each); here it reads one slot and one ID row, and the entry object only when
 * found. Entries are only ever added. The Map-like read methods take and give hex IDs.
 */
export class TraceMap<E extends HasTraceID> {
  private slots = new Int32Array(2 * FIRST_SLOTS);
  private mask = FIRST_SLOTS - 1;
  private words = new Int32Array(2 * FIRST_SLOTS);
  private readonly entries: E[] = [];

  get size(): number {
    return this.entries.length;
  }

  /** The entry of `id` (16 bytes), whose key is `key` (traceKey(id)). */
  find(id: Uint8Array, key = traceKey(id)): E | undefined {
    const slots = this.slots;
    const words = this.words;
    const mask = this.mask;
    const k = key + 1;
    for (let s = key & mask; ; s = (s + 1) & mask) {
      const sk = slots[2 * s]!;
      if (sk === 0) return undefined;
      if (sk === k) {
        const i = slots[2 * s + 1]!;
        const w = 4 * i;
        if (words[w] === word(id, 0) && words[w + 1] === word(id, 4) && words[w + 2] === word(id, 8) && words[w + 3] === word(id, 12)) return this.entries[i];
      }
    }
  }

  /** Adds an entry whose ID is not in the map yet. */
  add(e: E, key = traceKey(e.id)): void {
    const i = this.entries.length;
    if (2 * (i + 1) > this.mask + 1) this.grow();
    if (4 * (i + 1) > this.words.length) {
      const words = new Int32Array(2 * this.words.length);
      words.set(this.words);
      this.words = words;
    }
    const id = e.id;
    this.words[4 * i] = word(id, 0);
    this.words[4 * i + 1] = word(id, 4);
    this.words[4 * i + 2] = word(id, 8);
    this.words[4 * i + 3] = word(id, 12);
    this.entries.push(e);
    this.place(key, i);
  }

  private place(key: number, i: number): void {
    const slots = this.slots;
    let s = key & this.mask;
    while (slots[2 * s] !== 0) s = (s + 1) & this.mask;
    slots[2 * s] = key + 1;
    slots[2 * s + 1] = i;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(2 * old.length);
    this.mask = old.length - 1;
    for (let s = 0; s < old.length; s += 2) if (old[s] !== 0) this.place(old[s]! - 1, old[s + 1]!);
  }

  /** By hex ID (the read side). */
  get(hex: string): E | undefined {
    const id = idFromHex(hex);
    return id ? this.find(id) : undefined;
  }

  has(hex: string): boolean {
    return this.get(hex) !== undefined;
  }

  /** Every entry, in the order they were added. */
  values(): IterableIterator<E> {
    return this.entries.values();
  }

  /** Hex IDs, in the order they were added. */
  *keys(): IterableIterator<string> {
    for (const e of this.entries) yield hexID(e.id);
  }
}
