// Columnar search of one block: which traces may match a TraceQL query, decided from the search columns
// (layout.ts) without decoding traces, then only those traces decoded from the `trace` column.
//
// The plan is a necessary condition, never a sufficient one: the caller evaluates every trace this yields
// with the exact engine (@stave/traceql), so a condition the columns cannot express is simply "true"
// (the trace is a candidate). What the columns decide:
//   - a spanset filter's comparisons of a column-backed field with a constant, joined by && and || (all
//     of them on the same span's row, as the filter requires); any other expression is "true";
//   - spanset && and structural operators (both sides must match somewhere in the trace), spanset ||;
//     negated structural operators are "true"; a pipeline needs every spanset filter in it, and
//     `count() > n` (>=, =) needs that many rows meeting the filters before it;
//   - the search window (trace_start_nano / trace_end_nano statistics).
// Each comparison runs the engine's own operator (binaryFn) on the column's value, so a value that
// passes here is exactly a value the engine could match. Columns that hold only string (or only int)
// values of an attribute are used only with positive operators and constants of that type: an absent
// value or one of another type then cannot match either way.
//
// Pruning, per row group, before any data page is read: a dictionary-encoded column's dictionary page is
// read alone and each value tested once (durations are buckets: a bucket passes when some duration in it
// could). A row group where the
// condition is false for every dictionary value / the whole range is skipped: its data pages are never
// read. Otherwise only the needed columns' chunks are read (one ranged read each), evaluated row by row,
// and rows mapped to traces through trace_id (a row group's dictionary lists its traces in row order).
//
// vStave1 blocks (no search columns) yield every trace (the trace-by-trace path).

import type { TracesData } from '@stave/proto';
import {
  binaryFn,
  KIND,
  parse,
  STATUS,
  type AttributeExpr,
  type BinaryOp,
  type FieldExpr,
  type Pipeline,
  type ScalarFilter,
  type SpansetExpr,
  type Static,
} from '@stave/traceql';
import { ColumnChunkValues, type RowGroupTraces } from './block-cache';
import { ByteReader } from './bytes';
import { bucketRange, Col, COLUMN_NAMES, OTHER_INT, OTHER_STRING, PARTIAL_DICTIONARIES_KEY } from './layout';
import { FORMAT } from './meta';
import { readRleHybrid } from './parquet/encodings';
import { Encoding, PageType, PhysicalType, Repetition, type ColumnChunkMeta, type FileMeta, type RowGroupMeta } from './parquet/format';
import { readDefinitionLevels, readPage, readPlain, type PlainValue } from './parquet/page';
import type { BlockReader } from './reader';

export interface BlockSearchOptions {
  /** TraceQL (already validated by the caller); a query that does not parse searches every trace. */
  readonly query: string;
  /** Window in unix nanoseconds (0: open): a trace must overlap [startNs, endNs). */
  readonly startNs?: bigint;
  readonly endNs?: bigint;
  /** First row group to search (default 0). */
  readonly startRowGroup?: number;
  /** Row groups to search from startRowGroup (default: to the end of the block). */
  readonly rowGroups?: number;
}

/** What a search of one block did, for tests and metrics. */
export interface BlockSearchStats {
  rowGroups: number;
  /** Row groups ruled out by statistics or dictionaries (no data page read). */
  skippedRowGroups: number;
  /** Traces decoded and handed to the caller. */
  candidates: number;
}

// ---------------------------------------------------------------------------------------------------
// The plan

interface Column {
  readonly col: Col;
  /** Trace-level: one value on the trace's first row, applying to all its spans. */
  readonly trace: boolean;
  /** The column's value as the engine would see it; 'any' for a value nothing can be ruled out for. */
  readonly toStatic: (v: PlainValue) => Static | 'any';
  /** A column of ranges (duration buckets): the numbers [lo, hi] a value stands for, or 'any'. */
  readonly range?: (v: PlainValue) => [number, number];
}

const NIL: Static = { type: 'nil' };
const OTLP_KIND = [KIND.unspecified, KIND.internal, KIND.server, KIND.client, KIND.producer, KIND.consumer];
const OTLP_STATUS = [STATUS.unset, STATUS.ok, STATUS.error];
const utf8 = (v: PlainValue): string => (v as Buffer).toString('utf8');

const stringColumn = (col: Col, trace = false): Column => ({
  col,
  trace,
  toStatic: (v) => (v === null ? NIL : utf8(v) === OTHER_STRING ? 'any' : { type: 'string', value: utf8(v) }),
});

const COLUMNS = {
  name: { col: Col.Name, trace: false, toStatic: (v) => (v === null ? NIL : { type: 'string', value: utf8(v) }) },
  statusMessage: { col: Col.StatusMessage, trace: false, toStatic: (v) => ({ type: 'string', value: v === null ? '' : utf8(v) }) },
  kind: { col: Col.Kind, trace: false, toStatic: (v) => (v === null ? NIL : { type: 'kind', value: OTLP_KIND[v as number] ?? KIND.unspecified }) },
  status: { col: Col.StatusCode, trace: false, toStatic: (v) => (v === null ? NIL : { type: 'status', value: OTLP_STATUS[v as number] ?? STATUS.unset }) },
  duration: {
    col: Col.Duration,
    trace: false,
    toStatic: () => 'any',
    range: (v) => bucketRange(v as number),
  },
  httpStatusCode: {
    col: Col.HttpStatusCode,
    trace: false,
    toStatic: (v) => (v === null ? NIL : v === OTHER_INT ? 'any' : { type: 'int', value: Number(v as bigint) }),
  },
} satisfies Record<string, Column>;

/** Exact columns answer every comparison; the others only positive ones with a constant of their type. */
const POSITIVE_OPS = new Set<string>(['=', '=~', '>', '>=', '<', '<=']);
const COMPARISONS = new Set<string>(['=', '!=', '=~', '!~', '>', '>=', '<', '<=']);

interface Target {
  readonly column: Column;
  /** undefined: every comparison is exact; else the constant types it may be used with. */
  readonly types?: readonly string[];
}

function target(a: AttributeExpr): Target | undefined {
  if (a.parent) return undefined;
  switch (a.intrinsic) {
    case 'name':
      return { column: COLUMNS.name };
    case 'statusMessage':
      return { column: COLUMNS.statusMessage };
    case 'kind':
      return { column: COLUMNS.kind };
    case 'status':
      return { column: COLUMNS.status };
    case 'duration':
      return { column: COLUMNS.duration };
    case 'rootName':
      return { column: stringColumn(Col.RootName, true), types: ['string'] };
    case 'rootServiceName':
      return { column: stringColumn(Col.RootServiceName, true), types: ['string'] };
    case undefined:
      break;
    default:
      return undefined;
  }
  if (a.scope === 'resource' && a.name === 'service.name') return { column: stringColumn(Col.ServiceName), types: ['string'] };
  if (a.scope !== 'span') return undefined;
  if (a.name === 'http.method') return { column: stringColumn(Col.HttpMethod), types: ['string'] };
  if (a.name === 'http.url') return { column: stringColumn(Col.HttpUrl), types: ['string'] };
  if (a.name === 'http.status_code') return { column: COLUMNS.httpStatusCode, types: ['int', 'float'] };
  return undefined;
}

/** A condition on one span's row. */
type RowCond = { readonly k: 'true' } | { readonly k: 'and' | 'or'; readonly c: readonly RowCond[] } | Leaf;

interface Leaf {
  readonly k: 'leaf';
  readonly column: Column;
  /** Whether a value (as the engine sees it) can satisfy the comparison. */
  readonly test: (v: Static) => boolean;
  /** For range columns (duration buckets): the comparison and its numeric constant, column on the left. */
  readonly bound?: { readonly op: string; readonly value: number };
  /** `=` a string constant on a string column: its UTF-8 bytes, compared without building strings. */
  readonly equals?: Buffer;
}

const OTHER_BYTES = Buffer.from(OTHER_STRING);

/** Whether a dictionary page holds the OTHER_STRING marker: looked for once per page (a short needle is slow to find). */
const holdsOtherCache = new WeakMap<Buffer, boolean>();
function holdsOther(body: Buffer): boolean {
  let v = holdsOtherCache.get(body);
  if (v === undefined) holdsOtherCache.set(body, (v = body.indexOf(OTHER_BYTES) >= 0));
  return v;
}

/** `a` equals `b`, the lengths compared first (most dictionary values differ in length from a needle). */
const sameValue = (a: Buffer, b: Buffer): boolean => a.length === b.length && a.equals(b);

/** A condition on a trace. */
type TraceCond =
  | { readonly k: 'true' }
  | { readonly k: 'and' | 'or'; readonly c: readonly TraceCond[] }
  /** At least `min` (default 1) of the trace's rows satisfy `row`. */
  | { readonly k: 'any'; readonly row: RowCond; readonly min?: number };

const TRUE = { k: 'true' } as const;
const FLIPPED: Record<string, string> = { '>': '<', '>=': '<=', '<': '>', '<=': '>=', '=': '=' };

function and<T extends { k: string }>(c: T[]): T | { k: 'and'; c: T[] } | typeof TRUE {
  const parts = c.filter((x) => x.k !== 'true');
  if (parts.length === 0) return TRUE;
  return parts.length === 1 ? parts[0]! : { k: 'and', c: parts };
}

function or<T extends { k: string }>(c: T[]): T | { k: 'or'; c: T[] } | typeof TRUE {
  if (c.some((x) => x.k === 'true')) return TRUE;
  return c.length === 1 ? c[0]! : { k: 'or', c };
}

function rowCond(e: FieldExpr): RowCond {
  if (e.kind !== 'binary') return TRUE;
  if (e.op === '&&') return and([rowCond(e.lhs), rowCond(e.rhs)]) as RowCond;
  if (e.op === '||') return or([rowCond(e.lhs), rowCond(e.rhs)]) as RowCond;
  if (!COMPARISONS.has(e.op)) return TRUE;
  const attrLeft = e.lhs.kind === 'attribute' && e.rhs.kind === 'static';
  const attrRight = e.rhs.kind === 'attribute' && e.lhs.kind === 'static';
  if (!attrLeft && !attrRight) return TRUE;
  const attr = (attrLeft ? e.lhs : e.rhs) as AttributeExpr;
  const constant = ((attrLeft ? e.rhs : e.lhs) as { value: Static }).value;
  const t = target(attr);
  if (!t) return TRUE;
  if (t.types && (!POSITIVE_OPS.has(e.op) || !t.types.includes(constant.type))) return TRUE;
  const fn = binaryFn(e.op as BinaryOp, (e.op === '=~' || e.op === '!~') && constant.type === 'string' ? constant.value : undefined);
  const holds = (r: Static): boolean => r.type === 'bool' && r.value;
  const test = attrLeft ? (v: Static) => holds(fn(v, constant)) : (v: Static) => holds(fn(constant, v));
  const op = attrLeft ? e.op : FLIPPED[e.op];
  const numeric = constant.type === 'int' || constant.type === 'float' || constant.type === 'duration';
  const holdsStrings = t.types?.includes('string') || t.column === COLUMNS.name || t.column === COLUMNS.statusMessage;
  const equals = e.op === '=' && constant.type === 'string' && holdsStrings ? Buffer.from(constant.value) : undefined;
  return {
    k: 'leaf',
    column: t.column,
    test,
    ...(numeric && op !== undefined ? { bound: { op, value: constant.value as number } } : {}),
    ...(equals ? { equals } : {}),
  };
}

const NEGATED = new Set<string>(['!>', '!<', '!>>', '!<<', '!~']);

function spansetCond(e: SpansetExpr): TraceCond {
  switch (e.kind) {
    case 'spansetFilter': {
      const row = rowCond(e.expr);
      return row.k === 'true' ? TRUE : { k: 'any', row };
    }
    case 'spansetOperation':
      if (NEGATED.has(e.op)) return TRUE;
      if (e.op === '||') return or([spansetCond(e.lhs), spansetCond(e.rhs)]) as TraceCond;
      return and([spansetCond(e.lhs), spansetCond(e.rhs)]) as TraceCond;
    case 'pipeline':
      return pipelineCond(e);
  }
}

function pipelineCond(p: Pipeline): TraceCond {
  const parts: TraceCond[] = [];
  // Every span of the spansets flowing through the pipeline satisfies `rows` (the filters it has passed,
  // each on the span itself); the other stages keep a subset of their input's spans (by() splits,
  // coalesce() joins, spanset operations keep spans of their input), so it stays true after them.
  let rows: RowCond = TRUE;
  for (const el of p.elements) {
    if (el.kind === 'spansetFilter' || el.kind === 'spansetOperation' || el.kind === 'pipeline') parts.push(spansetCond(el));
    if (el.kind === 'spansetFilter') rows = and([rows, rowCond(el.expr)]) as RowCond;
    if (el.kind === 'scalarFilter') {
      // count() > n: some spanset has more than n spans, so the trace has more than n such rows.
      const min = countAtLeast(el);
      if (min > 1) parts.push({ k: 'any', row: rows, min });
    }
  }
  return and(parts) as TraceCond;
}

/** The fewest spans a spanset needs to pass `count() op n` (0: no bound). */
function countAtLeast(f: ScalarFilter): number {
  if (f.lhs.kind !== 'aggregate' || f.lhs.op !== 'count' || f.rhs.kind !== 'static') return 0;
  const v = f.rhs.value;
  if (v.type !== 'int' && v.type !== 'float') return 0;
  switch (f.op) {
    case '>':
      return Math.floor(v.value) + 1;
    case '>=':
    case '=':
      return Math.ceil(v.value);
    default:
      return 0;
  }
}

/** The necessary condition a query puts on the traces it can match ("true" when it cannot be told). */
export function planQuery(query: string): TraceCond {
  const q = query.trim();
  if (q === '' || q === '{}') return TRUE;
  try {
    return pipelineCond(parse(q).pipeline);
  } catch {
    return TRUE;
  }
}

function leaves(c: TraceCond | RowCond, out: Leaf[] = []): Leaf[] {
  if (c.k === 'leaf') out.push(c);
  else if (c.k === 'any') leaves(c.row, out);
  else if (c.k === 'and' || c.k === 'or') for (const x of c.c) leaves(x, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Reading columns

/** A column chunk decoded (cached by the reader's BlockCache with `trace` pages). */
type ChunkValues = ColumnChunkValues;

class RowGroupReader {
  private readonly dicts = new Map<Col, Promise<PlainValue[] | undefined>>();
  private readonly dictBodies = new Map<Col, Promise<Buffer | undefined>>();
  private readonly dictSizes = new Map<Col, number>();
  private readonly chunks = new Map<Col, Promise<ChunkValues>>();

  constructor(
    private readonly reader: BlockReader,
    private readonly footer: FileMeta,
    private readonly rg: RowGroupMeta,
    private readonly partial: ReadonlySet<string>,
  ) {}

  meta(col: Col): ColumnChunkMeta {
    return this.rg.columns[col]!;
  }

  /** Whether the chunk's dictionary lists every value of the chunk (no page fell back to PLAIN). */
  completeDictionary(col: Col): boolean {
    return this.meta(col).dictionaryPageOffset !== undefined && !this.partial.has(`${this.rg.ordinal}:${col}`);
  }

  /** The chunk's dictionary (one ranged read of the dictionary page alone), or undefined without one. */
  dictionary(col: Col): Promise<PlainValue[] | undefined> {
    let d = this.dicts.get(col);
    if (!d) {
      d = this.readDictionary(col);
      this.dicts.set(col, d);
    }
    return d;
  }

  private async readDictionary(col: Col): Promise<PlainValue[] | undefined> {
    const body = await this.dictionaryBody(col);
    if (!body) return undefined;
    const m = this.meta(col);
    const n = this.dictSizes.get(col)!;
    if (m.type !== PhysicalType.BYTE_ARRAY && m.type !== PhysicalType.FIXED_LEN_BYTE_ARRAY) return readPlain(new ByteReader(body), m.type, n);
    // Views into the page, not copies: a dictionary can hold a row group's every trace ID or URL.
    const width = this.footer.schema[col]!.typeLength ?? 0;
    const out: PlainValue[] = new Array<PlainValue>(n);
    let p = 0;
    for (let i = 0; i < n; i++) {
      const len = m.type === PhysicalType.FIXED_LEN_BYTE_ARRAY ? width : body.readUInt32LE((p += 4) - 4);
      out[i] = body.subarray(p, (p += len));
    }
    return out;
  }

  /** The chunk's dictionary page, decompressed (one ranged read), or undefined without one. */
  dictionaryBody(col: Col): Promise<Buffer | undefined> {
    let d = this.dictBodies.get(col);
    if (!d) {
      d = this.readDictionaryBody(col);
      this.dictBodies.set(col, d);
    }
    return d;
  }

  private async readDictionaryBody(col: Col): Promise<Buffer | undefined> {
    const m = this.meta(col);
    if (m.dictionaryPageOffset === undefined) return undefined;
    const page = await this.reader.dictionaryPage(m.dictionaryPageOffset, m.dataPageOffset - m.dictionaryPageOffset);
    this.dictSizes.set(col, page.entries);
    return page.body;
  }

  /** Every row's value of the column (the data pages in one ranged read). */
  values(col: Col): Promise<ChunkValues> {
    let c = this.chunks.get(col);
    if (!c) {
      c = this.reader.columnChunk(this.meta(col).dataPageOffset, () => this.readValues(col));
      this.chunks.set(col, c);
    }
    return c;
  }

  private async readValues(col: Col): Promise<ChunkValues> {
    const m = this.meta(col);
    const leaf = this.footer.schema[col]!;
    const optional = leaf.repetition === Repetition.OPTIONAL;
    const dict = (await this.dictionary(col)) ?? [];
    const values: PlainValue[] = dict.slice();
    const start = m.dictionaryPageOffset ?? m.dataPageOffset;
    const buf = await this.reader.readData(m.dataPageOffset, start + m.totalCompressedSize - m.dataPageOffset);
    const ids = new Int32Array(this.rg.numRows);
    let row = 0;
    let off = 0;
    while (off < buf.length && row < ids.length) {
      const page = readPage(buf, off, this.reader.codec);
      off = page.end;
      if (page.header.type !== PageType.DATA_PAGE) continue;
      const n = page.header.numValues;
      const r = new ByteReader(page.body);
      const defs = optional ? readDefinitionLevels(r, n) : undefined;
      let present = n;
      if (defs) {
        present = 0;
        for (let i = 0; i < n; i++) present += defs[i]!;
      }
      let pageIds: ArrayLike<number>;
      if (page.header.encoding === Encoding.RLE_DICTIONARY || page.header.encoding === Encoding.PLAIN_DICTIONARY) {
        pageIds = readRleHybrid(r, present, r.u8());
      } else {
        // PLAIN (a dictionary that overflowed, or a page of nulls): each value gets its own ID.
        const base = values.length;
        for (const v of readPlain(r, leaf.type, present, leaf.typeLength ?? 0)) values.push(v);
        const seq = new Int32Array(present);
        for (let i = 0; i < present; i++) seq[i] = base + i;
        pageIds = seq;
      }
      let k = 0;
      for (let i = 0; i < n; i++) ids[row++] = !defs || defs[i] ? pageIds[k++]! : -1;
    }
    if (row !== ids.length) throw new RangeError(`parquet: column ${COLUMN_NAMES[col]} has ${row} rows in a row group of ${ids.length}`);
    return new ColumnChunkValues(ids, values, col === Col.TraceId ? groupTraces(ids, values) : undefined);
  }
}

// ---------------------------------------------------------------------------------------------------
// Evaluating

/** Whether some number in [lo, hi] satisfies `x op value`. */
function rangeMayPass(lo: number, hi: number, op: string, value: number): boolean {
  switch (op) {
    case '>':
      return hi > value;
    case '>=':
      return hi >= value;
    case '<':
      return lo < value;
    case '<=':
      return lo <= value;
    case '=':
      return lo <= value && value <= hi;
    default:
      return true;
  }
}

/** Whether a column value can satisfy the leaf. */
function valuePasses(leaf: Leaf, v: PlainValue): boolean {
  if (leaf.equals && v !== null) return sameValue(leaf.equals, v as Buffer) || sameValue(OTHER_BYTES, v as Buffer);
  const { range } = leaf.column;
  if (range) {
    // null: a row without a span (an empty trace), which no spanset filter matches
    if (v === null) return false;
    const r = range(v);
    return leaf.bound === undefined || rangeMayPass(r[0], r[1], leaf.bound.op, leaf.bound.value);
  }
  const s = leaf.column.toStatic(v);
  return s === 'any' || leaf.test(s);
}

/** Per value ID (and null): can it satisfy the leaf? Computed once per distinct value. */
function passTable(leaf: Leaf, values: PlainValue[]): { pass: Uint8Array; nullPass: boolean } {
  const pass = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) pass[i] = valuePasses(leaf, values[i]!) ? 1 : 0;
  return { pass, nullPass: valuePasses(leaf, null) };
}

/** Whether the row group may hold a row satisfying the leaf, from its dictionary or statistics alone. */
async function leafMayMatch(rg: RowGroupReader, leaf: Leaf): Promise<boolean> {
  const m = rg.meta(leaf.column.col);
  const nulls = m.statistics?.nullCount;
  if (valuePasses(leaf, null) && nulls !== 0) return true;
  if (rg.completeDictionary(leaf.column.col)) {
    if (leaf.equals) {
      // A needle: absent from the dictionary page's bytes, it is in no value (no value decoded).
      const body = await rg.dictionaryBody(leaf.column.col);
      if (body && !holdsOther(body) && body.indexOf(leaf.equals) < 0) return false;
    }
    const dict = await rg.dictionary(leaf.column.col);
    if (dict) return passTable(leaf, dict).pass.includes(1);
  }
  return true;
}

async function mayMatch(rg: RowGroupReader, c: TraceCond | RowCond): Promise<boolean> {
  switch (c.k) {
    case 'true':
      return true;
    case 'leaf':
      return leafMayMatch(rg, c);
    case 'any':
      return mayMatch(rg, c.row);
    case 'and':
      for (const x of c.c) if (!(await mayMatch(rg, x))) return false;
      return true;
    case 'or':
      for (const x of c.c) if (await mayMatch(rg, x)) return true;
      return false;
  }
}

type TraceRows = RowGroupTraces;

/** Groups a row group's trace_id values into traces (once per chunk: cached with it). */
function groupTraces(vids: Int32Array, values: readonly PlainValue[]): TraceRows {
  const ordinal = new Int32Array(vids.length);
  const ids: Buffer[] = [];
  const first: number[] = [];
  let prev = -1;
  let same = true;
  for (let r = 0; r < vids.length; r++) {
    const v = vids[r]!;
    if (r === 0 || (v !== prev && !(values[v] as Buffer).equals(values[prev] as Buffer))) {
      ids.push(values[v] as Buffer);
      first.push(r);
    }
    prev = v;
    ordinal[r] = ids.length - 1;
    same &&= ordinal[r] === v;
  }
  // With a complete dictionary a row's value ID is its trace's ordinal (the dictionary lists the traces
  // in row order): keep one array.
  return { ordinal: same ? vids : ordinal, ids, first: Int32Array.from(first) };
}

async function traceRows(rg: RowGroupReader): Promise<TraceRows> {
  return (await rg.values(Col.TraceId)).traces!;
}

/** A leaf's column in one row group: each row's value ID, and which IDs (and null) can satisfy it. */
interface LeafColumn {
  readonly ids: Int32Array;
  readonly pass: Uint8Array;
  readonly nul: number;
}

/** What evaluating a condition over a row group needs, loaded: then masks are computed without I/O. */
interface Loaded {
  readonly tr: TraceRows;
  readonly columns: Map<Leaf, LeafColumn>;
}

async function loadLeaves(rg: RowGroupReader, needed: readonly Leaf[], tr: TraceRows): Promise<Loaded> {
  const columns = new Map<Leaf, LeafColumn>();
  for (const leaf of needed) {
    const { ids, values } = await rg.values(leaf.column.col);
    const { pass, nullPass } = passTable(leaf, values);
    columns.set(leaf, { ids, pass, nul: nullPass ? 1 : 0 });
  }
  return { tr, columns };
}

/** The rows [r0, r1) of traces [t0, t1). */
function rowsOf(tr: TraceRows, t0: number, t1: number): [number, number] {
  return [tr.first[t0] ?? tr.ordinal.length, t1 < tr.ids.length ? tr.first[t1]! : tr.ordinal.length];
}

/** Per row of [r0, r1): may it satisfy the condition? */
function rowMask(L: Loaded, c: RowCond, r0: number, r1: number): Uint8Array {
  const n = r1 - r0;
  switch (c.k) {
    case 'true':
      return new Uint8Array(n).fill(1);
    case 'leaf': {
      const { ids, pass, nul } = L.columns.get(c)!;
      const { first, ordinal } = L.tr;
      const out = new Uint8Array(n);
      for (let r = r0; r < r1; r++) {
        // A trace-level value sits on the trace's first row and applies to all of its rows.
        const v = c.column.trace ? ids[first[ordinal[r]!]!]! : ids[r]!;
        out[r - r0] = v < 0 ? nul : pass[v]!;
      }
      return out;
    }
    case 'and':
    case 'or': {
      const out = rowMask(L, c.c[0]!, r0, r1);
      for (let i = 1; i < c.c.length; i++) {
        const m = rowMask(L, c.c[i]!, r0, r1);
        if (c.k === 'and') for (let r = 0; r < n; r++) out[r]! &= m[r]!;
        else for (let r = 0; r < n; r++) out[r]! |= m[r]!;
      }
      return out;
    }
  }
}

/** Per trace of [t0, t1): does some row of it satisfy the leaf (one pass, no row mask)? */
function leafTraceMask(L: Loaded, leaf: Leaf, t0: number, t1: number): Uint8Array {
  const { ids, pass, nul } = L.columns.get(leaf)!;
  const { first, ordinal } = L.tr;
  const out = new Uint8Array(t1 - t0);
  if (leaf.column.trace) {
    // A trace-level value sits on the trace's first row.
    for (let t = t0; t < t1; t++) {
      const v = ids[first[t]!]!;
      out[t - t0] = v < 0 ? nul : pass[v]!;
    }
    return out;
  }
  const [r0, r1] = rowsOf(L.tr, t0, t1);
  for (let r = r0; r < r1; r++) {
    const v = ids[r]!;
    if (v < 0 ? nul : pass[v]) out[ordinal[r]! - t0] = 1;
  }
  return out;
}

/** Per trace of [t0, t1): may it satisfy the condition? */
function traceMask(L: Loaded, c: TraceCond, t0: number, t1: number): Uint8Array {
  const n = t1 - t0;
  switch (c.k) {
    case 'true':
      return new Uint8Array(n).fill(1);
    case 'any': {
      const min = c.min ?? 1;
      if (c.row.k === 'leaf' && min === 1) return leafTraceMask(L, c.row, t0, t1);
      const [r0, r1] = rowsOf(L.tr, t0, t1);
      const rows = rowMask(L, c.row, r0, r1);
      const { ordinal } = L.tr;
      const out = new Uint8Array(n);
      if (min === 1) {
        for (let r = r0; r < r1; r++) if (rows[r - r0]) out[ordinal[r]! - t0] = 1;
        return out;
      }
      const counts = new Uint32Array(n);
      for (let r = r0; r < r1; r++) if (rows[r - r0]) counts[ordinal[r]! - t0]!++;
      for (let t = 0; t < n; t++) out[t] = counts[t]! >= min ? 1 : 0;
      return out;
    }
    case 'and':
    case 'or': {
      const out = traceMask(L, c.c[0]!, t0, t1);
      for (let i = 1; i < c.c.length; i++) {
        const m = traceMask(L, c.c[i]!, t0, t1);
        if (c.k === 'and') for (let t = 0; t < n; t++) out[t]! &= m[t]!;
        else for (let t = 0; t < n; t++) out[t]! |= m[t]!;
      }
      return out;
    }
  }
}

/**
 * Traces evaluated at a time: a search that stops at `limit` after a few matches evaluates the columns
 * of a few hundred traces, not of the whole row group.
 */
const TRACE_CHUNK = 256;

function int64Stat(b: Uint8Array | undefined): bigint | undefined {
  return b && b.length === 8 ? Buffer.from(b).readBigInt64LE() : undefined;
}

/** Whether a row group's traces can overlap the window, from trace_start/trace_end statistics. */
function inWindow(rg: RowGroupMeta, startNs: bigint, endNs: bigint): boolean {
  const minStart = int64Stat(rg.columns[Col.TraceStart]?.statistics?.min);
  const maxEnd = int64Stat(rg.columns[Col.TraceEnd]?.statistics?.max);
  if (startNs > 0n && maxEnd !== undefined && BigInt.asUintN(64, maxEnd) < startNs) return false;
  if (endNs > 0n && minStart !== undefined && BigInt.asUintN(64, minStart) >= endNs) return false;
  return true;
}

/** The `rowGroup:column` chunks whose dictionary does not list every value (from the footer). */
function partialDictionaries(footer: FileMeta): ReadonlySet<string> {
  return new Set((footer.keyValue[PARTIAL_DICTIONARIES_KEY] ?? '').split(',').filter((x) => x !== ''));
}

/** One past the last row group of a range starting at `first` (`count` undefined: to the end). */
function rangeEnd(footer: FileMeta, first: number, count: number | undefined): number {
  return Math.min(footer.rowGroups.length, count === undefined ? Infinity : first + count);
}

/** Whether this block has the search columns (format and schema): else it is searched trace by trace. */
export function hasSearchColumns(reader: BlockReader, footer?: FileMeta): boolean {
  if (reader.meta.format !== FORMAT) return false;
  if (!footer) return true;
  return COLUMN_NAMES.every((n, i) => footer.schema[i]?.name === n);
}

/**
 * The traces of the block (or of its row groups [startRowGroup, startRowGroup + rowGroups)) that may
 * match the query, decoded, in trace-ID order. Every trace that matches is among them; the caller
 * evaluates each exactly. Stop iterating to stop reading.
 */
export async function* searchBlock(reader: BlockReader, opts: BlockSearchOptions, stats?: BlockSearchStats): AsyncGenerator<TracesData> {
  for await (const { trace } of searchBlockTraces(reader, opts, stats)) yield trace;
}

/** searchBlock's traces with their IDs. */
export async function* searchBlockTraces(
  reader: BlockReader,
  opts: BlockSearchOptions,
  stats?: BlockSearchStats,
): AsyncGenerator<{ id: Uint8Array; trace: TracesData }> {
  const first = opts.startRowGroup ?? 0;
  if (!hasSearchColumns(reader)) {
    // vStave1: no search columns; the range is read trace by trace.
    const range = { startRowGroup: first, rowGroups: opts.rowGroups ?? Math.max(1, reader.meta.rowGroups - first) };
    for await (const t of reader.iterateTraces(range)) {
      if (stats) stats.candidates++;
      yield t;
    }
    return;
  }
  const footer = await reader.footer();
  if (!hasSearchColumns(reader, footer)) throw new RangeError(`block ${reader.meta.blockID}: data.parquet's columns do not match format ${FORMAT}`);
  const cond = planQuery(opts.query);
  const partial = partialDictionaries(footer);
  const needed = leaves(cond);
  const last = rangeEnd(footer, first, opts.rowGroups);
  for (let g = first; g < last; g++) {
    const meta = footer.rowGroups[g]!;
    if (stats) stats.rowGroups++;
    if (!inWindow(meta, opts.startNs ?? 0n, opts.endNs ?? 0n)) {
      if (stats) stats.skippedRowGroups++;
      continue;
    }
    const rg = new RowGroupReader(reader, footer, meta, partial);
    if (needed.length > 0 && !(await mayMatch(rg, cond))) {
      if (stats) stats.skippedRowGroups++;
      continue;
    }
    if (cond.k === 'true') {
      const ids = rg.completeDictionary(Col.TraceId) ? ((await rg.dictionary(Col.TraceId)) as Buffer[]) : (await traceRows(rg)).ids;
      for (const id of ids) {
        const trace = await reader.findIndexed(id);
        if (!trace) continue;
        if (stats) stats.candidates++;
        yield { id, trace };
      }
      continue;
    }
    const tr = await traceRows(rg);
    const loaded = await loadLeaves(rg, needed, tr);
    for (let t0 = 0; t0 < tr.ids.length; t0 += TRACE_CHUNK) {
      const t1 = Math.min(tr.ids.length, t0 + TRACE_CHUNK);
      const mask = traceMask(loaded, cond, t0, t1);
      for (let t = t0; t < t1; t++) {
        if (!mask[t - t0]) continue;
        const id = tr.ids[t]!;
        const trace = await reader.findIndexed(id);
        if (!trace) continue;
        if (stats) stats.candidates++;
        yield { id, trace };
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Tag values

/** The column holding every value TraceQL sees for a tag, and how to read a value of it. */
function tagColumn(a: AttributeExpr): Column | undefined {
  if (a.parent) return undefined;
  switch (a.intrinsic) {
    case 'name':
      return COLUMNS.name;
    case 'status':
      return COLUMNS.status;
    case 'kind':
      return COLUMNS.kind;
    case 'statusMessage':
      return COLUMNS.statusMessage;
    case 'rootName':
      return stringColumn(Col.RootName, true);
    case 'rootServiceName':
      return stringColumn(Col.RootServiceName, true);
    case undefined:
      break;
    default:
      return undefined;
  }
  if (a.scope === 'resource' && a.name === 'service.name') return stringColumn(Col.ServiceName);
  if (a.scope !== 'span') return undefined;
  if (a.name === 'http.method') return stringColumn(Col.HttpMethod);
  if (a.name === 'http.url') return stringColumn(Col.HttpUrl);
  if (a.name === 'http.status_code') return COLUMNS.httpStatusCode;
  return undefined;
}

/**
 * The distinct values of a tag over every span of the block (or of its row groups in range), from the
 * column's dictionaries (a dictionary page per row group; a chunk whose dictionary is partial is read
 * whole). Undefined when the block cannot answer from columns — no column for the tag, a vStave1 block,
 * or a value of another type than the column's — and the caller reads the block trace by trace.
 */
export async function blockTagValues(
  reader: BlockReader,
  tag: AttributeExpr,
  range: Pick<BlockSearchOptions, 'startRowGroup' | 'rowGroups'> = {},
): Promise<Static[] | undefined> {
  const column = tagColumn(tag);
  if (!column || !hasSearchColumns(reader)) return undefined;
  const footer = await reader.footer();
  if (!hasSearchColumns(reader, footer)) return undefined;
  const partial = partialDictionaries(footer);
  const first = range.startRowGroup ?? 0;
  const last = rangeEnd(footer, first, range.rowGroups);
  const seen = new Map<string, Static>();
  for (let g = first; g < last; g++) {
    const rg = new RowGroupReader(reader, footer, footer.rowGroups[g]!, partial);
    const values = rg.completeDictionary(column.col) ? await rg.dictionary(column.col) : (await rg.values(column.col)).values;
    for (const v of values ?? []) {
      const s = column.toStatic(v);
      if (s === 'any') return undefined;
      if (s.type === 'nil' || (column === COLUMNS.statusMessage && s.value === '')) continue;
      seen.set(`${s.type}\u0000${String(s.value)}`, s);
    }
  }
  return [...seen.values()];
}
