// data.parquet is a real Parquet file: DuckDB (an independent reader) agrees with what was written.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LocalStore } from '@stave/backend';
import fc from 'fast-check';
import { ByteReader, ByteWriter } from './bytes';
import { COLUMN_NAMES } from './layout';
import { openBlock } from './reader';
import { readRleHybrid, writeRleHybrid } from './parquet/encodings';
import { countSpans, realisticTraces } from './testing/realistic-traces';
import { writeBlock } from './writer';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-parquet-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function query(file: string, sql: string): Promise<unknown[][]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql.replaceAll('$FILE', `'${file}'`))).getRows() as unknown[][];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

describe('data.parquet read by DuckDB', () => {
  it.each([
    ['brotli, many row groups', { codec: 'brotli' as const, rowGroupSizeBytes: 48 * 1024 }],
    ['gzip, one row group', { codec: 'gzip' as const }],
    ['uncompressed, tiny pages', { codec: 'none' as const, tracePageSizeBytes: 1, rowGroupSizeBytes: 8 * 1024 }],
  ])('has every span and trace (%s)', async (_name, opts) => {
    const store = new LocalStore(dir);
    const traces = realisticTraces(150, { seed: 21 });
    const spans = traces.reduce((a, t) => a + countSpans(t.trace), 0);
    const meta = await writeBlock(store, { tenant: 'duck', traces, ...opts });
    const file = path.join(dir, 'duck', meta.blockID, 'data.parquet');

    const [[rows, distinct, payloads]] = (await query(file, 'SELECT count(*), count(DISTINCT trace_id), count(trace) FROM read_parquet($FILE)')) as [[bigint, bigint, bigint]];
    expect(Number(rows)).toBe(spans);
    expect(Number(distinct)).toBe(traces.length);
    expect(Number(payloads)).toBe(traces.length);

    const cols = (await query(file, 'SELECT name FROM parquet_schema($FILE) WHERE num_children IS NULL')).map((r) => r[0]);
    expect(cols).toEqual([...COLUMN_NAMES]);
    const groups = await query(file, 'SELECT count(DISTINCT row_group_id) FROM parquet_metadata($FILE)');
    expect(Number(groups[0]![0])).toBe(meta.rowGroups);

    // Row-level agreement: every span's columns, in file order.
    const got = await query(
      file,
      `SELECT hex(trace_id), hex(span_id), hex(parent_span_id), service_name, name, kind, epoch_ns(start_time_unix_nano), duration_nano, status_code FROM read_parquet($FILE)`,
    );
    const want: unknown[][] = [];
    for (const t of traces) {
      for (const rs of t.trace.resourceSpans) {
        const svc = rs.resource?.attributes.find((a) => a.key === 'service.name')?.value?.value.value ?? null;
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            want.push([
              Buffer.from(t.id).toString('hex').toUpperCase(),
              Buffer.from(s.spanId).toString('hex').toUpperCase(),
              s.parentSpanId.length ? Buffer.from(s.parentSpanId).toString('hex').toUpperCase() : null,
              svc,
              s.name,
              s.kind,
              s.startTimeUnixNano,
              s.endTimeUnixNano - s.startTimeUnixNano,
              s.status?.code ?? 0,
            ]);
          }
        }
      }
    }
    expect(got).toEqual(want);

    // Statistics DuckDB can prune with, and the footer our reader gets from one ranged read.
    const [[sorted]] = (await query(file, `SELECT count(*) FROM read_parquet($FILE) WHERE trace_id = from_hex('${Buffer.from(traces[7]!.id).toString('hex')}')`)) as [[bigint]];
    expect(Number(sorted)).toBe(countSpans(traces[7]!.trace));
    const footer = await openBlock(store, meta).readFooter();
    expect(footer.numRows).toBe(spans);
    expect(footer.schema.map((c) => c.name)).toEqual([...COLUMN_NAMES]);
  });
});

describe('RLE / bit-packed hybrid', () => {
  it('round-trips any run structure at any bit width (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }).chain((width) =>
          fc.tuple(
            fc.constant(width),
            fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** width - 1 }), fc.integer({ min: 1, max: 20 })), { maxLength: 30 }),
          ),
        ),
        ([width, runs]) => {
          const values = runs.flatMap(([v, n]) => Array<number>(n).fill(v));
          const w = new ByteWriter(16);
          writeRleHybrid(w, values, values.length, width);
          const back = readRleHybrid(new ByteReader(w.toBytes()), values.length, width);
          expect(Array.from(back)).toEqual(values);
        },
      ),
      { numRuns: 300 },
    );
  });
});
