// Decoding single data pages (v1) of flat columns: enough to read the `trace` column page a by-ID
// lookup fetched, and to check other columns in tests.

import { ByteReader } from '../bytes';
import { decompress, decompressInto } from './compression';
import { type Codec, decodePageHeader, Encoding, type PageHeader, PageType, PhysicalType } from './format';
import { readRleHybrid } from './encodings';

export interface RawPage {
  readonly header: PageHeader;
  /** Decompressed page body. */
  readonly body: Buffer;
  /** Offset just past this page in the source buffer. */
  readonly end: number;
}

/**
 * Reads the page (header + body) starting at `offset` of `buf` and decompresses its body: into `into`
 * when given and large enough (decompressInto: the body is then a view of it), else into a new buffer.
 */
export function readPage(buf: Buffer, offset: number, codec: Codec, into?: Buffer): RawPage {
  const r = new ByteReader(buf, offset);
  const header = decodePageHeader(r);
  const start = r.pos;
  const end = start + header.compressedSize;
  if (end > buf.length) throw new RangeError(`parquet: page at ${offset} needs ${header.compressedSize} bytes, ${buf.length - start} available`);
  const data = buf.subarray(start, end);
  const body = into ? decompressInto(codec, data, header.uncompressedSize, into) : decompress(codec, data, header.uncompressedSize);
  return { header, body, end };
}

/** Definition levels (max level 1) of an OPTIONAL column's data page; the reader is left at the values. */
export function readDefinitionLevels(r: ByteReader, numValues: number): Uint32Array {
  const len = r.u32le();
  const levels = new ByteReader(r.buf, r.pos, r.pos + len);
  r.pos += len;
  return readRleHybrid(levels, numValues, 1);
}

/**
 * The start/end offsets (in `body`) of each non-null PLAIN BYTE_ARRAY value of a data page, in order.
 * `optional` says whether the page carries definition levels.
 */
export function byteArrayValueOffsets(page: RawPage, optional: boolean): { starts: Uint32Array; ends: Uint32Array } {
  if (page.header.type !== PageType.DATA_PAGE) throw new RangeError(`parquet: expected a data page, got type ${page.header.type}`);
  if (page.header.encoding !== Encoding.PLAIN) throw new RangeError(`parquet: expected PLAIN values, got encoding ${page.header.encoding}`);
  const r = new ByteReader(page.body);
  let present = page.header.numValues;
  if (optional) {
    const defs = readDefinitionLevels(r, page.header.numValues);
    present = 0;
    for (let i = 0; i < defs.length; i++) present += defs[i]!;
  }
  const starts = new Uint32Array(present);
  const ends = new Uint32Array(present);
  for (let i = 0; i < present; i++) {
    const len = r.u32le();
    starts[i] = r.pos;
    r.bytes(len);
    ends[i] = r.pos;
  }
  return { starts, ends };
}

export type PlainValue = Buffer | number | bigint | null;

/** Every value of a data page (nulls included), PLAIN or dictionary encoded; for tests and tools. */
export function decodeValues(page: RawPage, type: PhysicalType, optional: boolean, dictionary?: PlainValue[], typeLength = 0): PlainValue[] {
  const r = new ByteReader(page.body);
  const n = page.header.numValues;
  let defs: Uint32Array | undefined;
  let present = n;
  if (optional) {
    defs = readDefinitionLevels(r, n);
    present = defs.reduce((a, b) => a + b, 0);
  }
  let vals: PlainValue[];
  if (page.header.encoding === Encoding.RLE_DICTIONARY || page.header.encoding === Encoding.PLAIN_DICTIONARY) {
    if (!dictionary) throw new RangeError('parquet: dictionary-encoded page without a dictionary');
    const width = r.u8();
    const idx = readRleHybrid(r, present, width);
    vals = Array.from(idx, (i) => dictionary[i] ?? null);
  } else {
    vals = readPlain(r, type, present, typeLength);
  }
  if (!defs) return vals;
  const out: PlainValue[] = new Array<PlainValue>(n);
  let k = 0;
  for (let i = 0; i < n; i++) out[i] = defs[i] ? vals[k++]! : null;
  return out;
}

export function readPlain(r: ByteReader, type: PhysicalType, count: number, typeLength = 0): PlainValue[] {
  const out: PlainValue[] = new Array<PlainValue>(count);
  for (let i = 0; i < count; i++) {
    switch (type) {
      case PhysicalType.INT32:
        out[i] = r.i32le();
        break;
      case PhysicalType.INT64:
        out[i] = r.i64le();
        break;
      case PhysicalType.DOUBLE:
        out[i] = r.f64le();
        break;
      case PhysicalType.BYTE_ARRAY:
        out[i] = Buffer.from(r.bytes(r.u32le()));
        break;
      case PhysicalType.FIXED_LEN_BYTE_ARRAY:
        out[i] = Buffer.from(r.bytes(typeLength));
        break;
      default:
        throw new RangeError(`parquet: reading ${PhysicalType[type]} is not supported`);
    }
  }
  return out;
}
