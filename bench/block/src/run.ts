// Block format benchmark: generates realistic traces, writes one block to a LocalStore in a temp dir,
// and reports write throughput, stored bytes per span and by-ID lookup latency / bytes read.
//
//   node_modules/.bin/tsc -b bench/block && node bench/block/dist/run.js [--spans 200000] [--seed 1]
//
// Imports the built libraries by path (bench/block is not a workspace package); src/ and dist/ sit at
// the same depth, so the relative paths hold in both.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalStore, type ObjectStore } from '../../../libs/backend/dist/index.js';
import { BlockCache, openBlock, writeBlock, type BlockMeta } from '../../../libs/block/dist/index.js';
import { countSpans, realisticTraceStream, Rng } from '../../../libs/block/dist/testing/realistic-traces.js';
import type { TracesData } from '../../../libs/proto/dist/index.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

/** Counts reads and bytes read, to show what a lookup costs against object storage. */
class CountingStore implements ObjectStore {
  reads = 0;
  bytes = 0;
  constructor(private readonly inner: ObjectStore) {}
  async read(key: string): Promise<Uint8Array> {
    const b = await this.inner.read(key);
    this.reads++;
    this.bytes += b.length;
    return b;
  }
  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const b = await this.inner.readRange(key, offset, length);
    this.reads++;
    this.bytes += b.length;
    return b;
  }
  stat(key: string) {
    return this.inner.stat(key);
  }
  write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>) {
    return this.inner.write(key, data);
  }
  list(prefix: string, opts?: { delimiter?: string }) {
    return this.inner.list(prefix, opts);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main(): Promise<void> {
  const targetSpans = arg('spans', 200_000);
  const seed = arg('seed', 1);
  const lookups = arg('lookups', 1000);
  // 5–30 spans per trace, ~17.5 on average.
  const traceCount = Math.round(targetSpans / 17.5);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-block-'));
  try {
    const store = new LocalStore(dir);
    const ids: Uint8Array[] = [];
    let spans = 0;
    let genNs = 0n;
    // Traces are built as the writer pulls them (as an ingester replays its WAL); the time spent
    // building them is measured and reported apart.
    function* timed(): Generator<{ id: Uint8Array; trace: TracesData }> {
      const gen = realisticTraceStream(traceCount, { seed });
      for (;;) {
        const t = process.hrtime.bigint();
        const r = gen.next();
        genNs += process.hrtime.bigint() - t;
        if (r.done) return;
        ids.push(r.value.id);
        spans += countSpans(r.value.trace);
        yield r.value;
      }
    }
    const heapBefore = process.memoryUsage().rss;
    const t0 = process.hrtime.bigint();
    const meta: BlockMeta = await writeBlock(store, { tenant: 'bench', traces: timed() });
    const wallNs = process.hrtime.bigint() - t0;
    const rssAfter = process.memoryUsage().rss;
    const writeNs = wallNs - genNs;

    const prefix = `bench/${meta.blockID}/`;
    const sizeOf = async (k: string): Promise<number> => (await store.stat(prefix + k)).size;
    const dataBytes = await sizeOf('data.parquet');
    const indexBytes = await sizeOf('index');
    let bloomBytes = 0;
    for (let i = 0; i < meta.bloomShards; i++) bloomBytes += await sizeOf(`bloom-${i}`);

    // Lookups: present IDs picked at random, and random absent IDs.
    const rng = new Rng(seed + 7);
    const present = Array.from({ length: lookups }, () => ids[Math.floor(rng.next() * ids.length)]!);
    const absent = Array.from({ length: lookups }, () => rng.bytes(16));
    const counting = new CountingStore(store);

    const cold = async (list: Uint8Array[], expectFound: boolean) => {
      const lat: number[] = [];
      const bytes: number[] = [];
      let maxReads = 0;
      let found = 0;
      for (const id of list) {
        // A fresh reader with no cache: every lookup is cold.
        const reader = openBlock(counting, meta, { cache: new BlockCache(0) });
        counting.reads = 0;
        counting.bytes = 0;
        const t = process.hrtime.bigint();
        const tr = await reader.findTraceByID(id);
        lat.push(Number(process.hrtime.bigint() - t) / 1e6);
        bytes.push(counting.bytes);
        maxReads = Math.max(maxReads, counting.reads);
        if (tr) found++;
      }
      if (expectFound && found !== list.length) throw new Error(`only ${found} of ${list.length} present traces found`);
      return { p50: pct(lat, 50), p99: pct(lat, 99), bytesP50: pct(bytes, 50), bytesMean: bytes.reduce((a, b) => a + b, 0) / bytes.length, maxReads, found };
    };
    const coldPresent = await cold(present, true);
    const coldAbsent = await cold(absent, false);

    const shared = openBlock(counting, meta, { cache: new BlockCache(64 * 1024 * 1024, 64 * 1024 * 1024) });
    for (const id of present) await shared.findTraceByID(id); // fill the cache
    counting.bytes = 0;
    counting.reads = 0;
    const warmLat: number[] = [];
    for (const id of present) {
      const t = process.hrtime.bigint();
      await shared.findTraceByID(id);
      warmLat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const warm = {
      p50: pct(warmLat, 50),
      p99: pct(warmLat, 99),
      bytesPerLookup: counting.bytes / present.length,
      readsPerLookup: counting.reads / present.length,
    };

    const stored = dataBytes + indexBytes + bloomBytes;
    const result = {
      spans,
      traces: meta.totalObjects,
      rowGroups: meta.rowGroups,
      writeSpansPerSec: Math.round(spans / (Number(writeNs) / 1e9)),
      writeSpansPerSecIncludingGeneration: Math.round(spans / (Number(wallNs) / 1e9)),
      rssGrowthMiB: Math.round((rssAfter - heapBefore) / 1048576),
      bytesPerSpan: {
        total: +(stored / spans).toFixed(1),
        data: +(dataBytes / spans).toFixed(1),
        index: +(indexBytes / spans).toFixed(2),
        bloom: +(bloomBytes / spans).toFixed(2),
      },
      lookupColdPresent: coldPresent,
      lookupColdAbsent: coldAbsent,
      lookupWarm: warm,
    };
    console.log(`spans ${spans} in ${meta.totalObjects} traces, ${meta.rowGroups} row group(s)`);
    console.log(`write: ${result.writeSpansPerSec} spans/s (${result.writeSpansPerSecIncludingGeneration} spans/s including trace generation)`);
    console.log(
      `stored: ${result.bytesPerSpan.total} B/span (data.parquet ${result.bytesPerSpan.data}, index ${result.bytesPerSpan.index}, bloom ${result.bytesPerSpan.bloom})`,
    );
    console.log(
      `by-ID cold, present: p50 ${coldPresent.p50.toFixed(2)} ms, p99 ${coldPresent.p99.toFixed(2)} ms, ${Math.round(coldPresent.bytesMean / 1024)} KiB read (mean), max ${coldPresent.maxReads} reads`,
    );
    console.log(
      `by-ID cold, absent: p50 ${coldAbsent.p50.toFixed(2)} ms, p99 ${coldAbsent.p99.toFixed(2)} ms, ${Math.round(coldAbsent.bytesMean / 1024)} KiB read (mean), ${coldAbsent.found} found`,
    );
    console.log(
      `by-ID warm (bloom + index cached): p50 ${warm.p50.toFixed(2)} ms, p99 ${warm.p99.toFixed(2)} ms, ${Math.round(warm.bytesPerLookup / 1024)} KiB and ${warm.readsPerLookup} reads per lookup`,
    );
    console.log(JSON.stringify(result));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
