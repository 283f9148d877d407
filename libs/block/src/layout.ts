// The Parquet schema of data.parquet (format vStave1): one row per span, rows sorted by trace ID.
//
//   trace_id               FIXED_LEN_BYTE_ARRAY(16)  dictionary; sorted; chunk min/max
//   span_id                BYTE_ARRAY                PLAIN
//   parent_span_id         BYTE_ARRAY                PLAIN; null for root spans
//   service_name           STRING                    dictionary; resource attribute service.name
//   name                   STRING                    dictionary
//   kind                   INT32                     dictionary; OTLP SpanKind number
//   start_time_unix_nano   INT64 TIMESTAMP(NANOS)    PLAIN; chunk min/max; UTC nanoseconds, flagged
//                                                    isAdjustedToUTC=false because DuckDB reads UTC
//                                                    nanos as µs TIMESTAMPTZ and drops the ns
//   duration_nano          INT64                     PLAIN; end − start; chunk min/max
//   status_code            INT32                     dictionary; OTLP StatusCode number
//   trace                  BYTE_ARRAY                PLAIN; the whole trace, exactly (trace-codec.ts),
//                                                    on the trace's first row, null on the others
//
// Why this layout (numbers in bench/results/block.md): by-ID must cost one ranged read of data, and a
// row group's column chunks are contiguous per column, so the only way to fetch a whole trace with
// one small read is to hold it in one column: `trace`. Its pages are ~1 MiB before compression and
// hold whole traces, so brotli sees hundreds of traces' resources and attribute keys at once.
// The span columns are what search filters on first (TraceQL's intrinsics and service name); they
// cost ~20 B/span next to the `trace` column's ~50. Column and row-group pruning come from chunk
// statistics and the trace-ID sort. Span columns are OPTIONAL only so that a trace with no spans can
// still have its one row (all span columns null).

import { Codec, PhysicalType, Repetition, type SchemaLeaf } from './parquet/format';
import type { ColumnOptions } from './parquet/column-writer';

export enum Col {
  TraceId = 0,
  SpanId,
  ParentSpanId,
  ServiceName,
  Name,
  Kind,
  Start,
  Duration,
  StatusCode,
  Trace,
}

export const COLUMN_NAMES = [
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

const leaf = (name: string, type: PhysicalType, extra: Partial<SchemaLeaf> = {}): SchemaLeaf => ({
  name,
  type,
  repetition: Repetition.OPTIONAL,
  ...extra,
});

export interface LayoutOptions {
  readonly codec: Codec;
  /** Uncompressed size of one `trace` page: the unit a by-ID lookup reads (after compression). */
  readonly tracePageBytes: number;
  /** Uncompressed size of pages of the other columns. */
  readonly pageBytes: number;
}

export function blockColumns(o: LayoutOptions): ColumnOptions[] {
  const base = { codec: o.codec, pageBytes: o.pageBytes };
  return [
    { ...base, leaf: leaf('trace_id', PhysicalType.FIXED_LEN_BYTE_ARRAY, { typeLength: 16, repetition: Repetition.REQUIRED }), dictionary: true, minMax: true },
    { ...base, leaf: leaf('span_id', PhysicalType.BYTE_ARRAY) },
    { ...base, leaf: leaf('parent_span_id', PhysicalType.BYTE_ARRAY) },
    { ...base, leaf: leaf('service_name', PhysicalType.BYTE_ARRAY, { logical: { kind: 'string' } }), dictionary: true },
    { ...base, leaf: leaf('name', PhysicalType.BYTE_ARRAY, { logical: { kind: 'string' } }), dictionary: true },
    { ...base, leaf: leaf('kind', PhysicalType.INT32), dictionary: true },
    { ...base, leaf: leaf('start_time_unix_nano', PhysicalType.INT64, { logical: { kind: 'timestamp', unit: 'nanos', utc: false } }), minMax: true },
    { ...base, leaf: leaf('duration_nano', PhysicalType.INT64), minMax: true },
    { ...base, leaf: leaf('status_code', PhysicalType.INT32), dictionary: true },
    // One value per trace: no row cap, so a page breaks only between traces.
    { ...base, leaf: leaf('trace', PhysicalType.BYTE_ARRAY), pageBytes: o.tracePageBytes, maxPageRows: Number.MAX_SAFE_INTEGER },
  ];
}
