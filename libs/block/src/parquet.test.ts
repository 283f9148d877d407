// data.parquet is a real Parquet file: DuckDB (an independent reader) agrees with what was written.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LocalStore } from '@stave/backend';
import fc from 'fast-check';
import { ByteReader, ByteWriter } from './bytes';
import { COLUMN_NAMES, durationBucket } from './layout';
import { openBlock } from './reader';
import { readRleHybrid, writeRleHybrid } from './parquet/encodings';
import { addLegacyHttpAttributes, countSpans, realisticTraces } from './testing/realistic-traces';
import { writeBlock } from './writer';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-parquet-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// DuckDB runs in a child process: its native binding keeps a handle open in the process that loads
// it, and a test leaves none. 64-bit integers come back as decimal strings.
const DUCKDB_SCRIPT = `
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const rows = (await conn.runAndReadAll(process.argv[1])).getRows();
  conn.closeSync();
  db.closeSync();
  process.stdout.write(JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
})().catch((e) => { console.error(e); process.exit(1); });
`;

async function query(file: string, sql: string): Promise<unknown[][]> {
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', DUCKDB_SCRIPT, sql.replaceAll('$FILE', `'${file}'`)], {
    cwd: path.resolve(__dirname, '..'),
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(stdout) as unknown[][];
}

const big = (v: bigint): string => v.toString();

describe('data.parquet read by DuckDB', () => {
  it.each([
    ['brotli, many row groups', { codec: 'brotli' as const, rowGroupSizeBytes: 48 * 1024 }],
    ['gzip, one row group', { codec: 'gzip' as const }],
    ['uncompressed, tiny pages', { codec: 'none' as const, tracePageSizeBytes: 1, rowGroupSizeBytes: 8 * 1024 }],
  ])('has every span and trace (%s)', async (_name, opts) => {
    const store = new LocalStore(dir);
    const traces = realisticTraces(150, { seed: 21 }).map((t) => ({ id: t.id, trace: addLegacyHttpAttributes(t.trace) }));
    const spans = traces.reduce((a, t) => a + countSpans(t.trace), 0);
    const meta = await writeBlock(store, { tenant: 'duck', traces, ...opts });
    const file = path.join(dir, 'duck', meta.blockID, 'data.parquet');

    const [[rows, distinct, payloads]] = (await query(file, 'SELECT count(*), count(DISTINCT trace_id), count(trace) FROM read_parquet($FILE)')) as [
      [string, string, string],
    ];
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
      `SELECT hex(trace_id), service_name, name, kind, duration_bucket, status_code, status_message, http_method, http_url, http_status_code, root_name, epoch_ns(trace_start_nano) FROM read_parquet($FILE)`,
    );
    const want: unknown[][] = [];
    for (const t of traces) {
      const spans = t.trace.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
      const root = spans.find((s) => s.parentSpanId.length === 0 || s.parentSpanId.every((b) => b === 0));
      const start = spans.reduce((a, s) => (s.startTimeUnixNano < a ? s.startTimeUnixNano : a), spans[0]!.startTimeUnixNano);
      let row = 0;
      for (const rs of t.trace.resourceSpans) {
        const svc = rs.resource?.attributes.find((a) => a.key === 'service.name')?.value?.value.value ?? null;
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attr = (key: string, kind: string): unknown => {
              const v = s.attributes.find((a) => a.key === key && a.value?.value.case === kind)?.value?.value.value;
              return v === undefined ? null : typeof v === 'bigint' ? v.toString() : v;
            };
            want.push([
              Buffer.from(t.id).toString('hex').toUpperCase(),
              svc,
              s.name,
              s.kind,
              durationBucket(s.endTimeUnixNano - s.startTimeUnixNano),
              s.status?.code ?? 0,
              s.status?.message ? s.status.message : null,
              attr('http.method', 'stringValue'),
              attr('http.url', 'stringValue'),
              attr('http.status_code', 'intValue'),
              row === 0 ? (root?.name ?? null) : null,
              row === 0 ? big(start) : null,
            ]);
            row++;
          }
        }
      }
    }
    expect(got).toEqual(want);

    // Statistics DuckDB can prune with, and the footer our reader gets from one ranged read.
    const [[sorted]] = (await query(
      file,
      `SELECT count(*) FROM read_parquet($FILE) WHERE trace_id = from_hex('${Buffer.from(traces[7]!.id).toString('hex')}')`,
    )) as [[string]];
    expect(Number(sorted)).toBe(countSpans(traces[7]!.trace));
    const footer = await openBlock(store, meta).readFooter();
    expect(footer.numRows).toBe(spans);
    expect(footer.schema.map((c) => c.name)).toEqual([...COLUMN_NAMES]);
  });
});

// A second, independent reader (pure JS). Its core has no brotli/gzip, so the file is uncompressed.
const HYPARQUET_SCRIPT = `
import { readFileSync } from 'node:fs';
import { parquetReadObjects } from 'hyparquet';
const buf = readFileSync(process.argv[1]);
const rows = await parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), columns: ['trace_id', 'kind', 'name', 'duration_bucket', 'trace'], utf8: false });
const hex = (b) => (b ? Buffer.from(b).toString('hex') : null);
process.stdout.write(JSON.stringify(rows.map((r) => [hex(r.trace_id), r.kind, r.name, String(r.duration_bucket), r.trace ? r.trace.length : null])));
`;

describe('data.parquet read by hyparquet', () => {
  it('has every span with the same values', async () => {
    const store = new LocalStore(dir);
    const traces = realisticTraces(40, { seed: 22 });
    const meta = await writeBlock(store, { tenant: 'hyp', traces, codec: 'none', rowGroupSizeBytes: 32 * 1024 });
    const file = path.join(dir, 'hyp', meta.blockID, 'data.parquet');
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', HYPARQUET_SCRIPT, file], {
      cwd: path.resolve(__dirname, '..'),
      maxBuffer: 64 * 1024 * 1024,
    });
    const got = JSON.parse(stdout) as [string, number, string, string, number | null][];
    const want: [string, number, string, string][] = [];
    for (const t of traces)
      for (const rs of t.trace.resourceSpans)
        for (const ss of rs.scopeSpans)
          for (const sp of ss.spans)
            want.push([Buffer.from(t.id).toString('hex'), sp.kind, sp.name, String(durationBucket(sp.endTimeUnixNano - sp.startTimeUnixNano))]);
    expect(got.map((r) => r.slice(0, 4))).toEqual(want);
    expect(got.filter((r) => r[4] !== null)).toHaveLength(traces.length);
  });
});

describe('RLE / bit-packed hybrid', () => {
  it('round-trips any run structure at any bit width (property)', () => {
    // Widths up to 24 take the writer's 32-bit path, wider ones its general one.
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 32 })
          .chain((width) =>
            fc.tuple(fc.constant(width), fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** width - 1 }), fc.integer({ min: 1, max: 20 })), { maxLength: 30 })),
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
