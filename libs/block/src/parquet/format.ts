// Parquet file structures (apache/parquet-format, parquet.thrift): the subset Stave writes and reads.
// Field ids are the facts of the spec; everything else here is ours.

import { ByteReader } from '../bytes';
import { CompactWriter, readStruct, type TStruct, type TValue } from './thrift';

export const MAGIC = Buffer.from('PAR1', 'latin1');

export enum PhysicalType {
  BOOLEAN = 0,
  INT32 = 1,
  INT64 = 2,
  INT96 = 3,
  FLOAT = 4,
  DOUBLE = 5,
  BYTE_ARRAY = 6,
  FIXED_LEN_BYTE_ARRAY = 7,
}

export enum Encoding {
  PLAIN = 0,
  PLAIN_DICTIONARY = 2,
  RLE = 3,
  BIT_PACKED = 4,
  DELTA_BINARY_PACKED = 5,
  DELTA_LENGTH_BYTE_ARRAY = 6,
  DELTA_BYTE_ARRAY = 7,
  RLE_DICTIONARY = 8,
  BYTE_STREAM_SPLIT = 9,
}

export enum Codec {
  UNCOMPRESSED = 0,
  SNAPPY = 1,
  GZIP = 2,
  LZO = 3,
  BROTLI = 4,
  LZ4 = 5,
  ZSTD = 6,
  LZ4_RAW = 7,
}

export enum PageType {
  DATA_PAGE = 0,
  INDEX_PAGE = 1,
  DICTIONARY_PAGE = 2,
  DATA_PAGE_V2 = 3,
}

export enum Repetition {
  REQUIRED = 0,
  OPTIONAL = 1,
  REPEATED = 2,
}

/** The logical types Stave's columns use. */
export type LogicalType =
  | { kind: 'string' }
  | { kind: 'json' }
  | { kind: 'timestamp'; unit: 'millis' | 'micros' | 'nanos'; utc: boolean }
  | { kind: 'integer'; bits: 8 | 16 | 32 | 64; signed: boolean };

export interface SchemaLeaf {
  readonly name: string;
  readonly type: PhysicalType;
  readonly typeLength?: number;
  readonly repetition: Repetition;
  readonly logical?: LogicalType;
}

export interface Statistics {
  readonly nullCount?: number;
  /** PLAIN-encoded min/max (no length prefix for byte arrays). */
  readonly min?: Uint8Array;
  readonly max?: Uint8Array;
}

export interface ColumnChunkMeta {
  readonly type: PhysicalType;
  readonly encodings: Encoding[];
  readonly path: string[];
  readonly codec: Codec;
  readonly numValues: number;
  readonly totalUncompressedSize: number;
  readonly totalCompressedSize: number;
  readonly dataPageOffset: number;
  readonly dictionaryPageOffset?: number;
  readonly statistics?: Statistics;
}

export interface RowGroupMeta {
  readonly columns: ColumnChunkMeta[];
  readonly totalByteSize: number;
  readonly numRows: number;
  readonly fileOffset: number;
  readonly totalCompressedSize: number;
  readonly ordinal: number;
  /** Index of a column the rows are sorted by, ascending. */
  readonly sortedBy?: number;
}

export interface FileMeta {
  readonly schema: SchemaLeaf[];
  readonly numRows: number;
  readonly rowGroups: RowGroupMeta[];
  readonly keyValue: Record<string, string>;
  readonly createdBy: string;
}

export interface PageHeader {
  readonly type: PageType;
  readonly uncompressedSize: number;
  readonly compressedSize: number;
  /** DATA_PAGE: values incl. nulls; DICTIONARY_PAGE: entries. */
  readonly numValues: number;
  readonly encoding: Encoding;
}

// ---- writing ----

function writeLogical(w: CompactWriter, l: LogicalType): void {
  switch (l.kind) {
    case 'string':
      w.struct(1, () => {});
      return;
    case 'json':
      w.struct(12, () => {});
      return;
    case 'timestamp':
      w.struct(8, (t) => {
        t.bool(1, l.utc);
        t.struct(2, (u) => u.struct(l.unit === 'millis' ? 1 : l.unit === 'micros' ? 2 : 3, () => {}));
      });
      return;
    case 'integer':
      w.struct(10, (t) => {
        t.i8(1, l.bits);
        t.bool(2, l.signed);
      });
      return;
  }
}

/** ConvertedType for readers that predate LogicalType. */
function convertedType(l: LogicalType | undefined): number | undefined {
  if (!l) return undefined;
  if (l.kind === 'string') return 0; // UTF8
  if (l.kind === 'json') return 19; // JSON
  if (l.kind === 'timestamp') return l.unit === 'millis' ? 9 : l.unit === 'micros' ? 10 : undefined;
  if (l.kind === 'integer') return l.signed ? { 8: 15, 16: 16, 32: 17, 64: 18 }[l.bits] : { 8: 11, 16: 12, 32: 13, 64: 14 }[l.bits];
  return undefined;
}

function writeStats(w: CompactWriter, s: Statistics): void {
  if (s.max) w.binary(5, s.max);
  if (s.min) w.binary(6, s.min);
  if (s.nullCount !== undefined) w.i64(3, s.nullCount);
}

export function encodeFileMeta(m: FileMeta): Buffer {
  const w = new CompactWriter();
  w.i32(1, 2);
  const elements: (SchemaLeaf | { root: number })[] = [{ root: m.schema.length }, ...m.schema];
  w.listStruct(2, elements, (e, el) => {
    if ('root' in el) {
      e.binary(4, 'schema');
      e.i32(5, el.root);
      return;
    }
    e.i32(1, el.type);
    if (el.typeLength !== undefined) e.i32(2, el.typeLength);
    e.i32(3, el.repetition);
    e.binary(4, el.name);
    const ct = convertedType(el.logical);
    if (ct !== undefined) e.i32(6, ct);
    if (el.logical) e.struct(10, (l) => writeLogical(l, el.logical!));
  });
  w.i64(3, m.numRows);
  w.listStruct(4, m.rowGroups, (g, rg) => {
    g.listStruct(1, rg.columns, (cc, c) => {
      cc.i64(2, c.dictionaryPageOffset ?? c.dataPageOffset);
      cc.struct(3, (cm) => {
        cm.i32(1, c.type);
        cm.listI32(2, c.encodings);
        cm.listBinary(3, c.path);
        cm.i32(4, c.codec);
        cm.i64(5, c.numValues);
        cm.i64(6, c.totalUncompressedSize);
        cm.i64(7, c.totalCompressedSize);
        cm.i64(9, c.dataPageOffset);
        if (c.dictionaryPageOffset !== undefined) cm.i64(11, c.dictionaryPageOffset);
        if (c.statistics) cm.struct(12, (s) => writeStats(s, c.statistics!));
      });
    });
    g.i64(2, rg.totalByteSize);
    g.i64(3, rg.numRows);
    if (rg.sortedBy !== undefined) {
      g.listStruct(4, [rg.sortedBy], (s, idx) => {
        s.i32(1, idx);
        s.bool(2, false);
        s.bool(3, true);
      });
    }
    g.i64(5, rg.fileOffset);
    g.i64(6, rg.totalCompressedSize);
    g.i32(7, rg.ordinal);
  });
  const kv = Object.entries(m.keyValue);
  if (kv.length) {
    w.listStruct(5, kv, (e, [k, v]) => {
      e.binary(1, k);
      e.binary(2, v);
    });
  }
  w.binary(6, m.createdBy);
  // column_orders: TYPE_ORDER for every leaf, so readers trust min_value/max_value.
  w.listStruct(7, m.schema, (e) => e.struct(1, () => {}));
  return w.end();
}

export function encodePageHeader(h: PageHeader & { defEncoding?: Encoding }): Buffer {
  const w = new CompactWriter();
  w.i32(1, h.type);
  w.i32(2, h.uncompressedSize);
  w.i32(3, h.compressedSize);
  if (h.type === PageType.DICTIONARY_PAGE) {
    w.struct(7, (d) => {
      d.i32(1, h.numValues);
      d.i32(2, h.encoding);
    });
  } else {
    w.struct(5, (d) => {
      d.i32(1, h.numValues);
      d.i32(2, h.encoding);
      d.i32(3, Encoding.RLE);
      d.i32(4, Encoding.RLE);
    });
  }
  return w.end();
}

// ---- reading ----

const num = (v: TValue | undefined): number => {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new RangeError('parquet: expected a number in metadata');
};
const buf = (v: TValue | undefined): Buffer | undefined => (Buffer.isBuffer(v) ? v : undefined);
const str = (v: TValue | undefined): string => (Buffer.isBuffer(v) ? v.toString('utf8') : '');
const list = (v: TValue | undefined): TValue[] => (Array.isArray(v) ? v : []);
const struct = (v: TValue | undefined): TStruct | undefined =>
  v !== undefined && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) ? (v as TStruct) : undefined;

function readLogical(s: TStruct | undefined): LogicalType | undefined {
  if (!s) return undefined;
  if (s[1]) return { kind: 'string' };
  if (s[12]) return { kind: 'json' };
  const ts = struct(s[8]);
  if (ts) {
    const u = struct(ts[2]) ?? {};
    return { kind: 'timestamp', utc: ts[1] === true, unit: u[1] ? 'millis' : u[2] ? 'micros' : 'nanos' };
  }
  const it = struct(s[10]);
  if (it) return { kind: 'integer', bits: num(it[1]) as 8 | 16 | 32 | 64, signed: it[2] === true };
  return undefined;
}

export function decodeFileMeta(data: Buffer): FileMeta {
  const s = readStruct(new ByteReader(data));
  const elements = list(s[2]).map((e) => struct(e)!);
  const schema: SchemaLeaf[] = elements.slice(1).map((e) => {
    const logical = readLogical(struct(e[10]));
    return {
      name: str(e[4]),
      type: num(e[1]) as PhysicalType,
      ...(e[2] !== undefined ? { typeLength: num(e[2]) } : {}),
      repetition: num(e[3]) as Repetition,
      ...(logical ? { logical } : {}),
    };
  });
  const rowGroups: RowGroupMeta[] = list(s[4]).map((g, i) => {
    const rg = struct(g)!;
    const columns = list(rg[1]).map((c) => {
      const cm = struct(struct(c)![3])!;
      const st = struct(cm[12]);
      const statistics: Statistics | undefined = st
        ? { min: buf(st[6]) ?? buf(st[2]), max: buf(st[5]) ?? buf(st[1]), ...(st[3] !== undefined ? { nullCount: num(st[3]) } : {}) }
        : undefined;
      return {
        type: num(cm[1]) as PhysicalType,
        encodings: list(cm[2]).map((e) => num(e) as Encoding),
        path: list(cm[3]).map((p) => str(p)),
        codec: num(cm[4]) as Codec,
        numValues: num(cm[5]),
        totalUncompressedSize: num(cm[6]),
        totalCompressedSize: num(cm[7]),
        dataPageOffset: num(cm[9]),
        ...(cm[11] !== undefined ? { dictionaryPageOffset: num(cm[11]) } : {}),
        ...(statistics ? { statistics } : {}),
      };
    });
    const sorting = list(rg[4]).map((x) => struct(x)!);
    return {
      columns,
      totalByteSize: num(rg[2]),
      numRows: num(rg[3]),
      fileOffset: rg[5] !== undefined ? num(rg[5]) : (columns[0]?.dictionaryPageOffset ?? columns[0]?.dataPageOffset ?? 0),
      totalCompressedSize: rg[6] !== undefined ? num(rg[6]) : columns.reduce((a, c) => a + c.totalCompressedSize, 0),
      ordinal: rg[7] !== undefined ? num(rg[7]) : i,
      ...(sorting[0] ? { sortedBy: num(sorting[0][1]) } : {}),
    };
  });
  const keyValue: Record<string, string> = {};
  for (const kv of list(s[5])) {
    const e = struct(kv)!;
    keyValue[str(e[1])] = str(e[2]);
  }
  return { schema, numRows: num(s[3]), rowGroups, keyValue, createdBy: str(s[6]) };
}

/** Reads a page header at `r.pos`; leaves `r` at the first byte of the page body. */
export function decodePageHeader(r: ByteReader): PageHeader {
  const s = readStruct(r);
  const type = num(s[1]) as PageType;
  const body = struct(s[type === PageType.DICTIONARY_PAGE ? 7 : type === PageType.DATA_PAGE_V2 ? 8 : 5]);
  if (!body) throw new RangeError(`parquet: page type ${type} has no header body`);
  return {
    type,
    uncompressedSize: num(s[2]),
    compressedSize: num(s[3]),
    numValues: num(body[1]),
    encoding: num(body[type === PageType.DATA_PAGE_V2 ? 4 : 2]) as Encoding,
  };
}
