// A hash table keyed by short byte strings, for the processors' per-span lookups without building a
// string per span: the caller writes a key into the table's scratch buffer (begin, add*), then get/set.
// Keys are hashed (FNV-1a) and compared in full, so two keys are equal only when their bytes are.
// Open addressing with linear probing; no deletion (the owners clear the whole table instead, when it
// passes its cap or when what it points at may be gone).
//
// Hashing and comparing go a 32-bit word at a time: the scratch key and the stored keys are zero-padded
// to whole words (a key's length is compared first, so the padding never makes two keys equal), and read
// through an Int32Array over the same bytes, one load per word instead of four byte loads and shifts.
// (Word order is the platform's: hashes live only in this process.)

const EMPTY = -1;

export class ByteKeyTable<T> {
  /** The key being written, with room for its padding (see reserve); `keyWords` views the same bytes. */
  private key = new Uint8Array(256);
  private keyWords = new Int32Array(this.key.buffer);
  private keyView = new DataView(this.key.buffer);
  private keyLen = 0;
  /** A view of the buffer addBytes read last (the span ring's, mostly: the same buffer push after push). */
  private source: Uint8Array | undefined;
  private sourceView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private hash = 0;
  /** Slot → entry index, or EMPTY. Size a power of two, at most half full. */
  private slots = new Int32Array(1024).fill(EMPTY);
  private hashes = new Int32Array(512);
  /** Where each entry's key starts in `arena`, in words. */
  private keyOffsets = new Int32Array(512);
  private keyLengths = new Int32Array(512);
  /** Stored keys, each padded with zeros to whole words; in words. */
  private arena = new Int32Array(4 * 1024);
  private arenaUsed = 0;
  private values: T[] = [];
  /** The slot the last get() ended on (its entry, or the empty slot where set() puts the key). */
  private slot = 0;

  /** Entries at most; set() past it clears the table first. */
  constructor(private readonly maxEntries = 1 << 20) {}

  get size(): number {
    return this.values.length;
  }

  begin(): void {
    this.keyLen = 0;
  }

  /** Room for n more bytes, and for the up to 3 bytes of padding get() writes after the key. */
  private reserve(n: number): void {
    if (this.keyLen + n + 3 <= this.key.length) return;
    const k = new Uint8Array(Math.max(this.key.length * 2, (this.keyLen + n + 3 + 3) & ~3));
    k.set(this.key.subarray(0, this.keyLen));
    this.key = k;
    this.keyWords = new Int32Array(k.buffer);
    this.keyView = new DataView(k.buffer);
  }

  addByte(v: number): void {
    this.reserve(1);
    this.key[this.keyLen++] = v;
  }

  /** A small number (a kind, a status code): one byte when it fits. */
  addSmall(v: number): void {
    if (v >= 0 && v < 255) this.addByte(v);
    else {
      this.addByte(255);
      this.addU32(v);
    }
  }

  /** A 32-bit number. */
  addU32(v: number): void {
    this.reserve(4);
    const k = this.key;
    let n = this.keyLen;
    k[n++] = v;
    k[n++] = v >>> 8;
    k[n++] = v >>> 16;
    k[n++] = v >>> 24;
    this.keyLen = n;
  }

  /** buf[start, end), after its length (so that consecutive fields cannot run into each other). */
  addBytes(buf: Uint8Array, start: number, end: number): void {
    const len = end - start;
    this.reserve(len + 5);
    const k = this.key;
    let n = this.keyLen;
    let v = len;
    while (v >= 0x80) {
      k[n++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    k[n++] = v;
    // Four bytes at a time for the usual short values: set(subarray()) would make an object per call.
    if (len > 256) k.set(buf.subarray(start, end), n);
    else {
      if (buf !== this.source) {
        this.source = buf;
        this.sourceView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      }
      copyBytes(this.sourceView, start, end, this.keyView, n);
    }
    this.keyLen = n + len;
  }

  /** The value of the key written since begin(), or undefined. */
  get(): T | undefined {
    const k = this.key;
    const n = this.keyLen;
    k[n] = 0;
    k[n + 1] = 0;
    k[n + 2] = 0;
    const kw = this.keyWords;
    const words = (n + 3) >>> 2;
    // FNV-1a over 32-bit words (the tail zero-padded), then Murmur3's finaliser to spread the bits.
    let h = 0x811c9dc5 ^ n;
    for (let w = 0; w < words; w++) h = Math.imul(h ^ kw[w]!, 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    this.hash = h;
    const mask = this.slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const e = this.slots[s]!;
      if (e === EMPTY) {
        this.slot = s;
        return undefined;
      }
      if (this.hashes[e] === h && this.sameKey(e)) {
        this.slot = s;
        return this.values[e];
      }
    }
  }

  /** Whether entry e's key is the key written since begin() (padded by get()). */
  private sameKey(e: number): boolean {
    if (this.keyLengths[e] !== this.keyLen) return false;
    const a = this.arena;
    const kw = this.keyWords;
    const off = this.keyOffsets[e]!;
    const words = (this.keyLen + 3) >>> 2;
    for (let w = 0; w < words; w++) if (a[off + w] !== kw[w]) return false;
    return true;
  }

  /** Sets the value of the key written since begin(); get() must have been called for this key just before. */
  set(v: T): void {
    const e = this.slots[this.slot]!;
    if (e !== EMPTY) {
      this.values[e] = v;
      return;
    }
    if (this.values.length >= this.maxEntries) {
      this.clear();
      this.get();
    }
    const idx = this.values.length;
    if (idx >= this.hashes.length) {
      this.hashes = growInt32(this.hashes);
      this.keyOffsets = growInt32(this.keyOffsets);
      this.keyLengths = growInt32(this.keyLengths);
    }
    const words = (this.keyLen + 3) >>> 2;
    if (this.arenaUsed + words > this.arena.length) {
      const a = new Int32Array(Math.max(this.arena.length * 2, this.arenaUsed + words));
      a.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = a;
    }
    this.arena.set(this.keyWords.subarray(0, words), this.arenaUsed);
    this.hashes[idx] = this.hash;
    this.keyOffsets[idx] = this.arenaUsed;
    this.keyLengths[idx] = this.keyLen;
    this.arenaUsed += words;
    this.values.push(v);
    this.slots[this.slot] = idx;
    if (this.values.length * 2 > this.slots.length) this.rehash(this.slots.length * 2);
  }

  private rehash(size: number): void {
    const slots = new Int32Array(size).fill(EMPTY);
    const mask = size - 1;
    for (let e = 0; e < this.values.length; e++) {
      let s = this.hashes[e]! & mask;
      while (slots[s] !== EMPTY) s = (s + 1) & mask;
      slots[s] = e;
    }
    this.slots = slots;
  }

  /** Forgets every entry (keeps the memory). */
  clear(): void {
    this.slots.fill(EMPTY);
    this.values = [];
    this.arenaUsed = 0;
  }
}

function growInt32(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/**
 * Copies from[start, end) to `to` at `at`, four bytes at a time while four are left (a typed array's
 * element access in a loop is ~10 instructions of checks; a DataView's reads four bytes for about as many).
 */
export function copyBytes(from: DataView<ArrayBufferLike>, start: number, end: number, to: DataView<ArrayBufferLike>, at: number): void {
  let i = start;
  for (; i + 4 <= end; i += 4, at += 4) to.setInt32(at, from.getInt32(i, true), true);
  for (; i < end; i++, at++) to.setUint8(at, from.getUint8(i));
}

/**
 * Strings decoded from bytes, kept by their bytes: a label value seen again (a service name, a span
 * name) is the same string object, decoded once. Bounded: cleared when full.
 */
export class Interner {
  private readonly table = new ByteKeyTable<string>(64 * 1024);

  /** `decode(buf, start, end)` of the bytes, decoded once per distinct bytes and `kind`. */
  intern(kind: number, buf: Uint8Array, start: number, end: number, decode: (buf: Uint8Array, start: number, end: number) => string): string {
    const t = this.table;
    t.begin();
    t.addByte(kind);
    t.addBytes(buf, start, end);
    let s = t.get();
    if (s === undefined) {
      s = decode(buf, start, end);
      t.set(s);
    }
    return s;
  }
}
