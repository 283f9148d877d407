// The trace-ID index (`index` beside data.parquet): for every trace, where its exact encoding sits in
// data.parquet — the byte range of one Parquet data page of the `trace` column and the trace's
// ordinal among that page's values — plus its span count. Sorted by trace ID and cut into pages
// of ~`pageSizeBytes`; meta.json lists each page's first ID and offset, so a lookup reads exactly one
// index page, then exactly one data page, and never the Parquet footer.
//
// Index page layout:
//   u32le entries | varint data pages | per data page: varint offset delta, varint length |
//   entries × 16-byte trace ID (ascending) | per entry: varint data page, varint ordinal, varint spans

import { ByteReader, ByteWriter } from './bytes';

const RECORD = 16 + 8 + 4 + 4 + 4;

export interface TraceLocation {
  /** Byte offset of the data page (its header) in data.parquet. */
  readonly pageOffset: number;
  /** Header plus compressed body. */
  readonly pageLength: number;
  /** Index of the trace among the page's non-null `trace` values. */
  readonly ordinal: number;
  readonly spans: number;
}

/** Collects one fixed-size record per trace (36 bytes) while the block is written. */
export class TraceIndexBuilder {
  private readonly records = new ByteWriter(64 * 1024);
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(id: Uint8Array, loc: TraceLocation): void {
    const w = this.records;
    w.bytes(id);
    w.f64le(loc.pageOffset);
    w.u32le(loc.pageLength);
    w.u32le(loc.ordinal);
    w.u32le(loc.spans);
    this.count++;
  }

  /** Every trace ID added, in order. */
  *ids(): Generator<Uint8Array> {
    const b = this.records.buf;
    for (let i = 0; i < this.count; i++) yield b.subarray(i * RECORD, i * RECORD + 16);
  }

  build(pageSizeBytes: number): { bytes: Buffer; firstIDs: string[]; offsets: number[] } {
    const b = this.records.buf;
    // Per entry the page costs ~16 bytes of ID plus ~3 bytes of varints.
    const perPage = Math.max(1, Math.floor(pageSizeBytes / 19));
    const out = new ByteWriter(this.count * 20 + 64);
    const firstIDs: string[] = [];
    const offsets: number[] = [];
    for (let start = 0; start < this.count; start += perPage) {
      const end = Math.min(this.count, start + perPage);
      offsets.push(out.length);
      firstIDs.push(b.toString('hex', start * RECORD, start * RECORD + 16));
      const pageOffsets: number[] = [];
      const pageLengths: number[] = [];
      const pageOf = new Uint32Array(end - start);
      for (let i = start; i < end; i++) {
        const at = i * RECORD + 16;
        const off = b.readDoubleLE(at);
        const len = b.readUInt32LE(at + 8);
        if (pageOffsets.length === 0 || pageOffsets[pageOffsets.length - 1] !== off) {
          pageOffsets.push(off);
          pageLengths.push(len);
        }
        pageOf[i - start] = pageOffsets.length - 1;
      }
      out.u32le(end - start);
      out.varint(pageOffsets.length);
      let prev = 0;
      for (let p = 0; p < pageOffsets.length; p++) {
        out.varint(pageOffsets[p]! - prev);
        out.varint(pageLengths[p]!);
        prev = pageOffsets[p]!;
      }
      for (let i = start; i < end; i++) out.bytes(b.subarray(i * RECORD, i * RECORD + 16));
      for (let i = start; i < end; i++) {
        const at = i * RECORD + 16;
        out.varint(pageOf[i - start]!);
        out.varint(b.readUInt32LE(at + 12));
        out.varint(b.readUInt32LE(at + 16));
      }
    }
    offsets.push(out.length);
    return { bytes: out.toBytes(), firstIDs, offsets };
  }
}

/** One decoded index page. */
export class IndexPage {
  private constructor(
    private readonly ids: Buffer,
    private readonly pageOffsets: Float64Array,
    private readonly pageLengths: Uint32Array,
    private readonly pageOf: Uint32Array,
    private readonly ordinals: Uint32Array,
    private readonly spanCounts: Uint32Array,
  ) {}

  static decode(data: Uint8Array): IndexPage {
    const r = new ByteReader(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const n = r.u32le();
    const pages = r.varint();
    const pageOffsets = new Float64Array(pages);
    const pageLengths = new Uint32Array(pages);
    let prev = 0;
    for (let p = 0; p < pages; p++) {
      prev += r.varint();
      pageOffsets[p] = prev;
      pageLengths[p] = r.varint();
    }
    const ids = Buffer.from(r.bytes(n * 16));
    const pageOf = new Uint32Array(n);
    const ordinals = new Uint32Array(n);
    const spanCounts = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      pageOf[i] = r.varint();
      if (pageOf[i]! >= pages) throw new RangeError(`index page: entry ${i} refers to data page ${pageOf[i]} of ${pages}`);
      ordinals[i] = r.varint();
      spanCounts[i] = r.varint();
    }
    if (r.remaining !== 0) throw new RangeError(`index page: ${r.remaining} trailing bytes`);
    return new IndexPage(ids, pageOffsets, pageLengths, pageOf, ordinals, spanCounts);
  }

  get length(): number {
    return this.pageOf.length;
  }

  /** Approximate memory held, for cache accounting. */
  get byteSize(): number {
    return this.ids.length + this.pageOf.length * 12 + this.pageOffsets.length * 12;
  }

  idAt(i: number): Buffer {
    return this.ids.subarray(i * 16, i * 16 + 16);
  }

  locationAt(i: number): TraceLocation {
    const p = this.pageOf[i]!;
    return { pageOffset: this.pageOffsets[p]!, pageLength: this.pageLengths[p]!, ordinal: this.ordinals[i]!, spans: this.spanCounts[i]! };
  }

  /** Binary search; undefined when the ID is not in this page. */
  find(id: Uint8Array): TraceLocation | undefined {
    const key = Buffer.from(id.buffer, id.byteOffset, id.byteLength);
    let lo = 0;
    let hi = this.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.ids.compare(key, 0, 16, mid * 16, mid * 16 + 16);
      if (c === 0) return this.locationAt(mid);
      // c > 0: stored ID sorts after the key.
      if (c > 0) hi = mid - 1;
      else lo = mid + 1;
    }
    return undefined;
  }
}

/** Which index page may hold `idHex` (the last page whose first ID ≤ it); -1 when before the first. */
export function indexPageFor(firstIDs: readonly string[], idHex: string): number {
  let lo = 0;
  let hi = firstIDs.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (firstIDs[mid]! <= idHex) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}
