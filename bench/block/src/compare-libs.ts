// Parquet writer candidates on the same data: Stave's span columns plus the exact `trace` payload,
// for ~100k realistic spans. Reports write time and file size per library (the reason for the choice
// recorded in libs/block/src/parquet/file-writer.ts and bench/results/block.md).
//
//   node_modules/.bin/tsc -b bench/block && node bench/block/dist/compare-libs.js [--spans 100000]

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { blockColumns, Col } from '../../../libs/block/dist/layout.js';
import { Codec } from '../../../libs/block/dist/parquet/format.js';
import { ParquetFileWriter } from '../../../libs/block/dist/parquet/file-writer.js';
import { realisticTraceStream } from '../../../libs/block/dist/testing/realistic-traces.js';
import type { TracesData } from '../../../libs/proto/dist/index.js';
import { ByteWriter } from '../../../libs/block/dist/bytes.js';
import { TraceEncoder } from '../../../libs/block/dist/trace-codec.js';

// The candidates are devDependencies of @stave/block.
const requireFromBlock = createRequire(path.resolve(__dirname, '../../../libs/block/package.json'));

interface Rows {
  traceId: Buffer[];
  spanId: Buffer[];
  parent: (Buffer | null)[];
  service: (string | null)[];
  name: string[];
  kind: number[];
  start: bigint[];
  duration: bigint[];
  status: number[];
  trace: (Buffer | null)[];
}

function rowsOf(traces: Iterable<{ id: Uint8Array; trace: TracesData }>): Rows {
  const r: Rows = { traceId: [], spanId: [], parent: [], service: [], name: [], kind: [], start: [], duration: [], status: [], trace: [] };
  const enc = new TraceEncoder();
  const w = new ByteWriter(1 << 16);
  for (const t of traces) {
    w.reset();
    enc.encode(t.id, t.trace, w);
    const payload = w.toBytes();
    let first = true;
    for (const rs of t.trace.resourceSpans) {
      const svc = rs.resource?.attributes.find((a) => a.key === 'service.name')?.value?.value.value;
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          r.traceId.push(Buffer.from(t.id));
          r.spanId.push(Buffer.from(s.spanId));
          r.parent.push(s.parentSpanId.length ? Buffer.from(s.parentSpanId) : null);
          r.service.push(typeof svc === 'string' ? svc : null);
          r.name.push(s.name);
          r.kind.push(s.kind);
          r.start.push(s.startTimeUnixNano);
          r.duration.push(s.endTimeUnixNano - s.startTimeUnixNano);
          r.status.push(s.status?.code ?? 0);
          r.trace.push(first ? payload : null);
          first = false;
        }
      }
    }
  }
  return r;
}

async function time<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = process.hrtime.bigint();
  const v = await f();
  return [v, Number(process.hrtime.bigint() - t) / 1e6];
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--spans');
  const target = i >= 0 ? Number(process.argv[i + 1]) : 100_000;
  const traceCount = Math.round(target / 17.5);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-compare-'));
  try {
    // The shared encoding of the exact payload is not part of any library's cost: done once, up front.
    // Only the rows stay in memory (not the trace objects), so no writer pays for a bloated heap.
    const rows = rowsOf(realisticTraceStream(traceCount, { seed: 1 }));
    const spans = rows.traceId.length;
    const report = (lib: string, ms: number, bytes: number, note = '') =>
      console.log(
        `${lib.padEnd(34)} ${String(Math.round(spans / (ms / 1000))).padStart(8)} spans/s  ${(bytes / spans).toFixed(1).padStart(6)} B/span  ${note}`,
      );
    console.log(`${spans} spans, ${traceCount} traces (exact payload encoded once up front for all writers; writeBlock end to end: run.js)`);

    for (let run = 0; run < 2; run++) {
      // The Parquet layer alone, fed the same rows as the libraries below (second run is warm).
      const pw = new ParquetFileWriter(blockColumns({ codec: Codec.BROTLI, tracePageBytes: 2 << 20, pageBytes: 1 << 20 }), Col.TraceId);
      const c = pw.columns;
      const [bytes, ms] = await time(async () => {
        let n = pw.head().length;
        for (let r = 0; r < spans; r++) {
          c[Col.TraceId]!.addBytes(rows.traceId[r]!);
          if (rows.service[r] !== null) c[Col.ServiceName]!.addString(rows.service[r]!);
          else c[Col.ServiceName]!.addNull();
          c[Col.Name]!.addString(rows.name[r]!);
          c[Col.Kind]!.addInt32(rows.kind[r]!);
          c[Col.Duration]!.addInt64(rows.duration[r]!);
          c[Col.StatusCode]!.addInt32(rows.status[r]!);
          for (let k = Col.StatusMessage; k <= Col.RootName; k++) c[k]!.addNull();
          if (rows.trace[r]) c[Col.TraceStart]!.addInt64(rows.start[r]!);
          else c[Col.TraceStart]!.addNull();
          c[Col.TraceEnd]!.addNull();
          if (rows.trace[r]) c[Col.Trace]!.addBytes(rows.trace[r]!);
          else c[Col.Trace]!.addNull();
        }
        const rg = await pw.flushRowGroup();
        for (const b of rg!.buffers) n += b.length;
        return n + pw.footer({}, 'compare').bytes.length;
      });
      if (run === 1) report('stave Parquet layer (brotli)', ms, bytes, 'streams row groups; knows page offsets');
    }

    {
      const hw = (await import(pathToFileURL(requireFromBlock.resolve('hyparquet-writer')).href)) as any; // not resolvable for types from bench/
      const brotli = (input: Uint8Array) => zlib.brotliCompressSync(input, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });
      for (const codec of ['SNAPPY', 'BROTLI'] as const) {
        const file = path.join(dir, `hyparquet-${codec}.parquet`);
        const [, ms] = await time(async () =>
          hw.parquetWriteFile({
            filename: file,
            codec,
            compressors: codec === 'BROTLI' ? { BROTLI: brotli } : {},
            rowGroupSize: spans,
            columnData: [
              { name: 'trace_id', data: rows.traceId, type: 'BYTE_ARRAY' },
              { name: 'span_id', data: rows.spanId, type: 'BYTE_ARRAY' },
              { name: 'parent_span_id', data: rows.parent, type: 'BYTE_ARRAY' },
              { name: 'service_name', data: rows.service, type: 'STRING' },
              { name: 'name', data: rows.name, type: 'STRING' },
              { name: 'kind', data: rows.kind, type: 'INT32' },
              { name: 'start_time_unix_nano', data: rows.start, type: 'INT64' },
              { name: 'duration_nano', data: rows.duration, type: 'INT64' },
              { name: 'status_code', data: rows.status, type: 'INT32' },
              { name: 'trace', data: rows.trace, type: 'BYTE_ARRAY' },
            ],
          }),
        );
        report(`hyparquet-writer (${codec.toLowerCase()})`, ms, statSync(file).size, 'takes column arrays; page offsets only by reading its offset index back');
      }
    }

    console.log('@dsnp/parquetjs 1.9.3: not run (its npm tarball has no dist/: it builds on install, and pnpm runs no build scripts here)');
    console.log('parquet-wasm: not run (needs the data as an Arrow table first: a second in-memory copy of the block)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
