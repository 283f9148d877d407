// The Parquet schema of data.parquet (format vStave2): one row per span, rows sorted by trace ID.
//
//   trace_id               FIXED_LEN_BYTE_ARRAY(16)  dictionary; sorted; chunk min/max. A row group's
//                                                    dictionary lists its traces in row order, so a
//                                                    row's dictionary index is its trace's ordinal
//   service_name           STRING                    dictionary; resource attribute service.name (the
//                                                    first value TraceQL sees; OTHER_STRING if not a string)
//   name                   STRING                    dictionary
//   kind                   INT32                     dictionary; OTLP SpanKind number
//   duration_bucket        INT32                     dictionary; end − start rounded to 4 significant
//                                                    bits (durationBucket: ≤ 1/8 wide), -1 if negative
//   status_code            INT32                     dictionary; OTLP StatusCode number
//   status_message         STRING                    dictionary; null when empty
//   http_method            STRING                    dictionary; span attribute http.method (or OTHER_STRING)
//   http_url               STRING                    dictionary; span attribute http.url (or OTHER_STRING)
//   http_status_code       INT64                     dictionary; span attribute http.status_code (int);
//                                                    OTHER_INT when it is not an int
//   root_service_name      STRING                    dictionary; trace-level, on the trace's first row
//   root_name              STRING                    dictionary; trace-level, on the first row
//   trace_start_nano       INT64                     PLAIN; trace-level (first span start); min/max
//   trace_end_nano         INT64                     PLAIN; trace-level (last span end); min/max
//   trace                  BYTE_ARRAY                PLAIN; the whole trace, exactly (trace-codec.ts),
//                                                    on the trace's first row, null on the others
//
// Why this layout (numbers in bench/results/block.md and search.md): by-ID must cost one ranged read of
// data, and a row group's column chunks are contiguous per column, so the only way to fetch a whole trace
// with one small read is to hold it in one column: `trace`. Its pages hold whole traces, so brotli sees
// hundreds of traces' resources and attribute keys at once. The other columns are what search filters on
// (block-search.ts): it decides from them which traces can match, then decodes only those from `trace`
// and evaluates them exactly, so the columns need not hold everything a span has. Span and parent IDs and
// span start times are not columns (vStave1 had them): results and structural queries take them from
// the decoded trace, and time windows prune on the trace-level start/end. Every column is derived from
// the trace encoding alone (trace-scan.ts), so writeBlock builds the same block from encoded traces.
// Span columns are OPTIONAL so that a trace with no spans can still have its one row.

import { Codec, PhysicalType, Repetition, type SchemaLeaf } from './parquet/format';
import type { ColumnOptions } from './parquet/column-writer';

export enum Col {
  TraceId = 0,
  ServiceName,
  Name,
  Kind,
  Duration,
  StatusCode,
  StatusMessage,
  HttpMethod,
  HttpUrl,
  HttpStatusCode,
  RootServiceName,
  RootName,
  TraceStart,
  TraceEnd,
  Trace,
}

export const COLUMN_NAMES = [
  'trace_id',
  'service_name',
  'name',
  'kind',
  'duration_bucket',
  'status_code',
  'status_message',
  'http_method',
  'http_url',
  'http_status_code',
  'root_service_name',
  'root_name',
  'trace_start_nano',
  'trace_end_nano',
  'trace',
] as const;

/** The columns of the previous format, vStave1 (read by the trace-by-trace path only). */
export const V1_COLUMN_NAMES = [
  'trace_id',
  'span_id',
  'parent_span_id',
  'service_name',
  'name',
  'kind',
  'start_time_unix_nano',
  'duration_nano',
  'status_code',
  'trace',
] as const;

/** http_status_code's value for a span whose http.status_code is a double or an array: search cannot rule it out. */
export const OTHER_INT = -(2n ** 63n);
/**
 * The value of a string column (service_name, root_service_name, http_method, http_url) when the attribute's
 * first value is of another type: search cannot rule it out, tag values read such blocks trace by trace.
 */
export const OTHER_STRING = '\u0000other';

/**
 * A span duration's bucket: the duration itself below 16 ns, else its top 4 bits and its bit length, so
 * buckets sort as durations do and each spans at most 1/8 of its lower bound. Negative: -1.
 */
export function durationBucket(ns: bigint): number {
  if (ns < TWO_53 && ns > -TWO_53) return durationBucketSmall(Number(ns));
  if (ns < 0n) return -1;
  const e = ns.toString(2).length - 4;
  return e * 16 + Number(ns >> BigInt(e));
}

/** durationBucket of a duration a number holds exactly (|ns| < 2^53). */
export function durationBucketSmall(n: number): number {
  if (n < 0) return -1;
  if (n < 16) return n;
  // The bit length without making a string.
  const hi = Math.floor(n / 4294967296);
  if (hi === 0) {
    // Below 2^32 (durations up to ~4.3 s): shifts, no floating-point power.
    const e = 28 - Math.clz32(n);
    return e * 16 + (n >>> e);
  }
  const e = 60 - Math.clz32(hi);
  return e * 16 + Math.floor(n / 2 ** e);
}

const TWO_53 = 2n ** 53n;

/** The durations [lo, hi] a bucket holds (nanoseconds, as numbers: TraceQL compares durations as numbers). */
export function bucketRange(b: number): [number, number] {
  if (b < 0) return [-Infinity, -1];
  const e = b >> 4;
  const m = b & 15;
  if (e === 0) return [m, m];
  return [m * 2 ** e, (m + 1) * 2 ** e - 1];
}

/** Footer key-value: the `rowGroup:column` chunks whose dictionary does not list every value (search reads their pages). */
export const PARTIAL_DICTIONARIES_KEY = 'stave.partial_dictionaries';

/** Columns with one value per trace, on its first row. */
export const TRACE_LEVEL = [Col.RootServiceName, Col.RootName, Col.TraceStart, Col.TraceEnd, Col.Trace] as const;

const leaf = (name: string, type: PhysicalType, extra: Partial<SchemaLeaf> = {}): SchemaLeaf => ({
  name,
  type,
  repetition: Repetition.OPTIONAL,
  ...extra,
});

const str = { logical: { kind: 'string' } } as const;

export interface LayoutOptions {
  readonly codec: Codec;
  /** Uncompressed size of one `trace` page: the unit a by-ID lookup reads (after compression). */
  readonly tracePageBytes: number;
  /** Uncompressed size of pages of the other columns. */
  readonly pageBytes: number;
}

export function blockColumns(o: LayoutOptions): ColumnOptions[] {
  const base = { codec: o.codec, pageBytes: o.pageBytes };
  // A URL dictionary grows with the row group; past 1 MiB it would turn PLAIN and stop pruning.
  const bigDict = { dictionaryMaxBytes: 16 * 1024 * 1024 };
  return [
    {
      ...base,
      leaf: leaf('trace_id', PhysicalType.FIXED_LEN_BYTE_ARRAY, { typeLength: 16, repetition: Repetition.REQUIRED }),
      dictionary: true,
      minMax: true,
      ...bigDict,
    },
    { ...base, leaf: leaf('service_name', PhysicalType.BYTE_ARRAY, str), dictionary: true },
    { ...base, leaf: leaf('name', PhysicalType.BYTE_ARRAY, str), dictionary: true },
    { ...base, leaf: leaf('kind', PhysicalType.INT32), dictionary: true },
    { ...base, leaf: leaf('duration_bucket', PhysicalType.INT32), dictionary: true },
    { ...base, leaf: leaf('status_code', PhysicalType.INT32), dictionary: true },
    { ...base, leaf: leaf('status_message', PhysicalType.BYTE_ARRAY, str), dictionary: true, ...bigDict },
    { ...base, leaf: leaf('http_method', PhysicalType.BYTE_ARRAY, str), dictionary: true },
    { ...base, leaf: leaf('http_url', PhysicalType.BYTE_ARRAY, str), dictionary: true, ...bigDict },
    { ...base, leaf: leaf('http_status_code', PhysicalType.INT64), dictionary: true },
    { ...base, leaf: leaf('root_service_name', PhysicalType.BYTE_ARRAY, str), dictionary: true },
    { ...base, leaf: leaf('root_name', PhysicalType.BYTE_ARRAY, str), dictionary: true, ...bigDict },
    { ...base, leaf: leaf('trace_start_nano', PhysicalType.INT64, { logical: { kind: 'timestamp', unit: 'nanos', utc: false } }), minMax: true },
    { ...base, leaf: leaf('trace_end_nano', PhysicalType.INT64, { logical: { kind: 'timestamp', unit: 'nanos', utc: false } }), minMax: true },
    // One value per trace: no row cap, so a page breaks only between traces.
    { ...base, leaf: leaf('trace', PhysicalType.BYTE_ARRAY), pageBytes: o.tracePageBytes, maxPageRows: Number.MAX_SAFE_INTEGER },
  ];
}
