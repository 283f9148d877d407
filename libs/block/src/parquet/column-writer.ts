// One column of a flat Parquet schema (REQUIRED or OPTIONAL leaves, no repetition): buffers the current
// row group's pages for that column, PLAIN or dictionary (RLE_DICTIONARY) encoded, data page v1.
// Pages are compressed on the thread pool as soon as they fill; the chunk is assembled at row-group end.

import { ByteWriter } from '../bytes';
import { bitWidth, writeRleHybrid } from './encodings';
import { compress } from './compression';
import { Codec, type ColumnChunkMeta, Encoding, encodePageHeader, PageType, PhysicalType, Repetition, type SchemaLeaf, type Statistics } from './format';

export interface ColumnOptions {
  readonly leaf: SchemaLeaf;
  readonly codec: Codec;
  /** The codec's level (brotli quality, gzip level); its default when absent. */
  readonly codecLevel?: number;
  /** Dictionary-encode (falls back to PLAIN for the rest of the chunk past `dictionaryMaxBytes`). */
  readonly dictionary?: boolean;
  /** Target uncompressed size of one data page. */
  readonly pageBytes: number;
  readonly maxPageRows?: number;
  readonly dictionaryMaxBytes?: number;
  /** Keep chunk min/max statistics (INT32, INT64, FIXED_LEN_BYTE_ARRAY). */
  readonly minMax?: boolean;
}

/** Where a data page landed in the file: what a reader needs to fetch and decode it alone. */
export interface PageLocation {
  readonly offset: number;
  /** Header plus compressed body. */
  readonly length: number;
  readonly rows: number;
}

export interface ChunkOutput {
  readonly buffers: Buffer[];
  readonly meta: ColumnChunkMeta;
  readonly pages: PageLocation[];
  /** Some data pages are PLAIN: the dictionary (if any) does not list every value of the chunk. */
  readonly plainData: boolean;
}

interface PendingPage {
  readonly type: PageType;
  readonly numValues: number;
  readonly encoding: Encoding;
  readonly uncompressedSize: number;
  readonly body: Promise<Buffer>;
  settled: boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * Buffers for page bodies on their way to compression, reused once compressed. Every new buffer is memory
 * V8 counts as external, and each ~64 MiB of it starts a full collection: a compaction writes its output
 * by the GiB, so without reuse the page bodies alone started a third of them. Bounded: at most
 * `maxBytes` kept (pages in compression are bounded by the writer to 16 MiB); a buffer is reused for a body of at least half its size.
 */
export class PageBufferPool {
  private readonly free: Buffer[] = [];
  private freeBytes = 0;

  constructor(private readonly maxBytes: number) {}

  take(n: number): Buffer {
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.length >= n && b.length <= 2 * n) {
        // Oldest first (give() drops from the front): order kept.
        this.free.splice(i, 1);
        this.freeBytes -= b.length;
        return b;
      }
    }
    // Rounded up so that bodies of about the same size share buffers.
    return Buffer.allocUnsafeSlow(Math.ceil(Math.max(n, 1) / 65536) * 65536);
  }

  /**
   * `view` must be a whole-buffer view from take() (its byteOffset 0), no longer used. When the pool is
   * full, the buffers given back longest ago make room: a full pool that kept what it had ended up holding
   * only the small bodies of the search columns (64 KiB each), and 2 MiB `trace` page bodies, which are
   * most of the bytes, were allocated anew for 482 of the ~600 pages of the bench's compactions.
   */
  give(view: Buffer): void {
    const b = Buffer.from(view.buffer, 0, view.buffer.byteLength);
    if (b.length > this.maxBytes) return;
    let drop = 0;
    while (this.freeBytes + b.length > this.maxBytes) this.freeBytes -= this.free[drop++]!.length;
    if (drop > 0) this.free.splice(0, drop);
    this.free.push(b);
    this.freeBytes += b.length;
  }
}

const PAGE_BUFFERS = new PageBufferPool(16 * 1024 * 1024);

const DEFAULT_MAX_PAGE_ROWS = 20_000;
const DEFAULT_DICT_MAX_BYTES = 1024 * 1024;
/** Integer dictionary keys in [0, SMALL_KEYS) are found by array index (ColumnWriter.smallKeys). */
const SMALL_KEYS = 1024;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export class ColumnWriter {
  // Options read for every value, copied out of `opts` (whose shape differs between columns: reading
  // them there was a megamorphic property load per value).
  private readonly pageBytes: number;
  private readonly fixed: boolean;
  private readonly minMax: boolean;
  private readonly optional: boolean;
  private readonly maxPageRows: number;
  private readonly dictMaxBytes: number;

  // Current page.
  private readonly values = new ByteWriter(64 * 1024);
  private indices = new Uint32Array(1024);
  private defs = new Uint8Array(1024);
  private pageRows = 0;
  private pageNonNull = 0;

  private readonly levelsScratch = new ByteWriter(1024);
  private readonly indicesScratch = new ByteWriter(1024);

  // Current chunk.
  private dict = new Map<string | number | bigint, number>();
  /**
   * The dictionary's small non-negative integer keys (span kind, status code, duration bucket: every span
   * adds one of each) by value, as index + 1 (0: not in the dictionary): an array read instead of a Map
   * lookup. Filled alongside `dict`, cleared with it.
   */
  private readonly smallKeys = new Int32Array(SMALL_KEYS);
  private readonly dictValues = new ByteWriter(4096);
  private useDict: boolean;
  private lastKey: string | number | bigint | undefined;
  private lastIndex = 0;
  private lastBytes: Uint8Array | undefined;
  private pages: PendingPage[] = [];
  private chunkRows = 0;
  private chunkNulls = 0;
  private chunkUncompressed = 0;
  private usedPlainData = false;
  private min: bigint | number | Uint8Array | undefined;
  private max: bigint | number | Uint8Array | undefined;

  constructor(readonly opts: ColumnOptions) {
    this.pageBytes = opts.pageBytes;
    this.fixed = opts.leaf.type === PhysicalType.FIXED_LEN_BYTE_ARRAY;
    this.minMax = opts.minMax === true;
    this.optional = opts.leaf.repetition === Repetition.OPTIONAL;
    this.maxPageRows = opts.maxPageRows ?? DEFAULT_MAX_PAGE_ROWS;
    this.dictMaxBytes = opts.dictionaryMaxBytes ?? DEFAULT_DICT_MAX_BYTES;
    this.useDict = opts.dictionary === true;
  }

  /** Rows buffered in the current chunk. */
  get rows(): number {
    return this.chunkRows;
  }

  /** Uncompressed bytes buffered for the current chunk (pages done + page in progress + dictionary). */
  get bufferedBytes(): number {
    return this.chunkUncompressed + this.currentPageBytes() + this.dictValues.length;
  }

  /** Uncompressed bytes of pages still being compressed. */
  get compressingBytes(): number {
    let n = 0;
    for (const p of this.pages) if (!p.settled) n += p.uncompressedSize;
    return n;
  }

  /** Waits for the oldest page still being compressed. */
  async settleOne(): Promise<void> {
    const p = this.pages.find((x) => !x.settled);
    if (p) await p.body;
  }

  /** Index of the data page the next value goes to (within this chunk) and its ordinal among that page's non-null values. */
  nextValuePosition(): { page: number; ordinal: number } {
    this.beforeValue();
    return { page: this.pages.length, ordinal: this.pageNonNull };
  }

  private currentPageBytes(): number {
    return this.useDict ? this.pageNonNull * 4 : this.values.length;
  }

  private beforeValue(): void {
    if (this.pageRows > 0 && (this.currentPageBytes() >= this.pageBytes || this.pageRows >= this.maxPageRows)) this.finishPage();
  }

  private def(present: boolean): void {
    if (!this.optional) return;
    if (this.pageRows === this.defs.length) {
      const next = new Uint8Array(this.defs.length * 2);
      next.set(this.defs);
      this.defs = next;
    }
    this.defs[this.pageRows] = present ? 1 : 0;
  }

  addNull(): void {
    if (!this.optional) throw new TypeError(`parquet: column ${this.opts.leaf.name} is required`);
    this.def(false);
    this.pageRows++;
    this.chunkRows++;
    this.chunkNulls++;
  }

  private pushIndex(i: number): void {
    if (this.pageNonNull === this.indices.length) {
      const next = new Uint32Array(this.indices.length * 2);
      next.set(this.indices);
      this.indices = next;
    }
    this.indices[this.pageNonNull] = i;
  }

  private counted(): void {
    this.pageRows++;
    this.pageNonNull++;
    this.chunkRows++;
  }

  /**
   * Dictionary-encodes one value: records its index and returns where its PLAIN bytes must go — the
   * dictionary (a new entry), nowhere (known value), or the page (dictionary full: PLAIN from here on).
   */
  private dictTarget(key: string | number | bigint): ByteWriter | undefined {
    if (key === this.lastKey) {
      this.pushIndex(this.lastIndex);
      return undefined;
    }
    const small = typeof key === 'number' && key >= 0 && key < SMALL_KEYS && (key | 0) === key;
    let idx = small ? this.smallKeys[key]! - 1 : this.dict.get(key);
    if (idx === -1) idx = undefined;
    let target: ByteWriter | undefined;
    if (idx === undefined) {
      if (this.dictValues.length >= this.dictMaxBytes) {
        // Too many distinct values for a dictionary to pay off: PLAIN for the rest of this chunk.
        this.finishPage();
        this.useDict = false;
        this.def(true);
        return this.values;
      }
      idx = this.dict.size;
      this.dict.set(key, idx);
      if (small) this.smallKeys[key] = idx + 1;
      target = this.dictValues;
    }
    this.lastKey = key;
    this.lastIndex = idx;
    this.pushIndex(idx);
    return target;
  }

  addBytes(v: Uint8Array): void {
    this.beforeValue();
    this.def(true);
    const fixed = this.fixed;
    if (fixed && v.length !== this.opts.leaf.typeLength) {
      throw new RangeError(`parquet: column ${this.opts.leaf.name} holds ${this.opts.leaf.typeLength}-byte values, got ${v.length}`);
    }
    if (this.useDict && this.lastBytes !== undefined && compareBytes(v, this.lastBytes) === 0) {
      // Same as the previous value (trace_id repeats for every span of a trace): no key, no lookup.
      this.pushIndex(this.lastIndex);
    } else {
      const target = this.useDict ? this.dictTarget(latin1(v)) : this.values;
      if (this.useDict) this.lastBytes = Uint8Array.from(v);
      if (target) {
        if (!fixed) target.u32le(v.length);
        target.bytes(v);
      }
      if (this.minMax) {
        if (this.min === undefined || compareBytes(v, this.min as Uint8Array) < 0) this.min = v;
        if (this.max === undefined || compareBytes(v, this.max as Uint8Array) > 0) this.max = v;
      }
    }
    this.counted();
  }

  addString(s: string): void {
    this.beforeValue();
    this.def(true);
    const target = this.useDict ? this.dictTarget(s) : this.values;
    if (target) target.plainString(s);
    this.counted();
  }

  addInt32(n: number): void {
    this.beforeValue();
    this.def(true);
    const target = this.useDict ? this.dictTarget(n) : this.values;
    if (target) target.i32le(n);
    if (this.minMax) {
      if (this.min === undefined || n < (this.min as number)) this.min = n;
      if (this.max === undefined || n > (this.max as number)) this.max = n;
    }
    this.counted();
  }

  /** Signed 64-bit; a uint64 past 2^63 is stored as its two's-complement (negative) value. */
  addInt64(n: bigint): void {
    this.beforeValue();
    this.def(true);
    const v = n >= INT64_MIN && n <= INT64_MAX ? n : BigInt.asIntN(64, n);
    // The dictionary keys a safe integer by its number (as addInt64Number does), any other by its bigint.
    const target = this.useDict ? this.dictTarget(v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v) : this.values;
    if (target) target.i64le(v);
    if (this.minMax) {
      if (this.min === undefined || v < (this.min as bigint)) this.min = v;
      if (this.max === undefined || v > (this.max as bigint)) this.max = v;
    }
    this.counted();
  }

  /** addInt64 of a safe integer, without a bigint unless the value is new to the chunk. */
  addInt64Number(n: number): void {
    if (!Number.isSafeInteger(n)) throw new RangeError(`parquet: addInt64Number needs a safe integer, got ${n}`);
    if (this.minMax || !this.useDict) {
      this.addInt64(BigInt(n));
      return;
    }
    this.beforeValue();
    this.def(true);
    const target = this.dictTarget(n);
    if (target) target.i64le(BigInt(n));
    this.counted();
  }

  private finishPage(): void {
    if (this.pageRows === 0) return;
    // Levels and dictionary indices are encoded into scratch writers kept from page to page, then the
    // page body is assembled in one buffer from PAGE_BUFFERS, returned there once compressed.
    const levels = this.levelsScratch;
    levels.reset();
    if (this.optional) writeRleHybrid(levels, this.defs, this.pageRows, 1);
    let encoding: Encoding;
    let payload: Buffer;
    if (this.useDict && this.pageNonNull === 0) {
      // Only nulls: PLAIN with no values (a dictionary-encoded page needs a dictionary page, which a chunk
      // of nulls does not get).
      encoding = Encoding.PLAIN;
      payload = EMPTY;
    } else if (this.useDict) {
      encoding = Encoding.RLE_DICTIONARY;
      const width = Math.max(1, bitWidth(this.dict.size - 1));
      const idx = this.indicesScratch;
      idx.reset();
      idx.u8(width);
      writeRleHybrid(idx, this.indices, this.pageNonNull, width);
      payload = idx.view();
    } else {
      encoding = Encoding.PLAIN;
      this.usedPlainData = true;
      payload = this.values.view();
    }
    const size = (this.optional ? 4 + levels.length : 0) + payload.length;
    const pooled = this.opts.codec !== Codec.UNCOMPRESSED;
    const raw = (pooled ? PAGE_BUFFERS.take(size) : Buffer.allocUnsafe(size)).subarray(0, size);
    let at = 0;
    if (this.optional) {
      at = raw.writeUInt32LE(levels.length, 0);
      at += levels.view().copy(raw, at);
    }
    payload.copy(raw, at);
    const page: PendingPage = {
      type: PageType.DATA_PAGE,
      numValues: this.pageRows,
      encoding,
      uncompressedSize: raw.length,
      body: compress(this.opts.codec, raw, this.opts.codecLevel),
      settled: false,
    };
    void page.body.then(
      () => {
        page.settled = true;
        if (pooled) PAGE_BUFFERS.give(raw);
      },
      () => (page.settled = true),
    );
    this.pages.push(page);
    this.chunkUncompressed += raw.length;
    this.values.reset();
    this.pageRows = 0;
    this.pageNonNull = 0;
  }

  /**
   * Ends the chunk: returns its bytes (dictionary page first), metadata for the footer and where each
   * data page landed, given the file offset the chunk will be written at. Resets for the next row group.
   */
  async finishChunk(fileOffset: number): Promise<ChunkOutput> {
    this.finishPage();
    const buffers: Buffer[] = [];
    const locations: PageLocation[] = [];
    let offset = fileOffset;
    let uncompressedTotal = 0;
    let dictionaryPageOffset: number | undefined;
    const hadDict = this.dict.size > 0;
    if (hadDict) {
      const raw = this.dictValues.toBytes();
      const body = await compress(this.opts.codec, raw, this.opts.codecLevel);
      const header = encodePageHeader({
        type: PageType.DICTIONARY_PAGE,
        uncompressedSize: raw.length,
        compressedSize: body.length,
        numValues: this.dict.size,
        encoding: Encoding.PLAIN,
      });
      dictionaryPageOffset = offset;
      buffers.push(header, body);
      offset += header.length + body.length;
      uncompressedTotal += header.length + raw.length;
    }
    const dataPageOffset = offset;
    const encodings = new Set<Encoding>();
    if (this.optional) encodings.add(Encoding.RLE);
    if (hadDict) encodings.add(Encoding.PLAIN);
    for (const p of this.pages) {
      const body = await p.body;
      const header = encodePageHeader({
        type: p.type,
        uncompressedSize: p.uncompressedSize,
        compressedSize: body.length,
        numValues: p.numValues,
        encoding: p.encoding,
      });
      buffers.push(header, body);
      locations.push({ offset, length: header.length + body.length, rows: p.numValues });
      offset += header.length + body.length;
      uncompressedTotal += header.length + p.uncompressedSize;
      encodings.add(p.encoding);
    }
    if (this.usedPlainData) encodings.add(Encoding.PLAIN);
    const plainData = this.usedPlainData;

    const statistics: Statistics = { nullCount: this.chunkNulls, ...this.minMaxStats() };
    const meta: ColumnChunkMeta = {
      type: this.opts.leaf.type,
      encodings: [...encodings].sort((a, b) => a - b),
      path: [this.opts.leaf.name],
      codec: this.opts.codec,
      numValues: this.chunkRows,
      totalUncompressedSize: uncompressedTotal,
      totalCompressedSize: offset - fileOffset,
      dataPageOffset,
      ...(dictionaryPageOffset !== undefined ? { dictionaryPageOffset } : {}),
      statistics,
    };

    this.pages = [];
    for (const k of this.dict.keys()) if (typeof k === 'number' && k >= 0 && k < SMALL_KEYS && (k | 0) === k) this.smallKeys[k] = 0;
    this.dict = new Map();
    this.dictValues.reset();
    this.useDict = this.opts.dictionary === true;
    this.lastKey = undefined;
    this.lastBytes = undefined;
    this.chunkRows = 0;
    this.chunkNulls = 0;
    this.chunkUncompressed = 0;
    this.usedPlainData = false;
    this.min = undefined;
    this.max = undefined;
    return { buffers, meta, pages: locations, plainData };
  }

  private minMaxStats(): { min?: Uint8Array; max?: Uint8Array } {
    if (this.min === undefined || this.max === undefined) return {};
    return { min: plainStat(this.min), max: plainStat(this.max) };
  }
}

function plainStat(v: bigint | number | Uint8Array): Uint8Array {
  if (v instanceof Uint8Array) return Buffer.from(v);
  const b = Buffer.alloc(typeof v === 'bigint' ? 8 : 4);
  if (typeof v === 'bigint') b.writeBigInt64LE(v);
  else b.writeInt32LE(v);
  return b;
}

function latin1(v: Uint8Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
}

/** Unsigned lexicographic order (Parquet's order for byte arrays). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
