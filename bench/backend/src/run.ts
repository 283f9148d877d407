// Backend benchmark: what a cold trace-by-ID lookup costs against each object store. One block is
// written (@stave/block's writeBlock, realistic traces) to a local directory, copied object by object
// to s3 (s3rver), gcs (the JSON-API test double) and azure (Azurite), each started here on loopback;
// then the same lookups run against every backend through createObjectStore, each with a fresh
// BlockReader and no caches (cold), counting the reads and bytes that reach the store. A second pass
// keeps the backend's object cache warm (a new reader per lookup, as after a blocklist poll) to show
// what the cache saves.
//
//   node_modules/.bin/tsc -b bench/backend && node bench/backend/dist/run.js [--spans 1750000] [--lookups 300] [--out bench/results/backend.md]
//
// Imports built code by path (bench/backend is not a workspace package); src/ and dist/ sit at the
// same depth, so the relative paths hold in both.

import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createObjectStore,
  LocalStore,
  type ListResult,
  type ManagedObjectStore,
  type ObjectInfo,
  type ObjectStore,
  type TraceStorageConfig,
} from '../../../libs/backend/dist/index.js';
import { BlockCache, openBlock, writeBlock, type BlockMeta } from '../../../libs/block/dist/index.js';
import { countSpans, realisticTraceStream, Rng } from '../../../libs/block/dist/testing/realistic-traces.js';
import { defaultConfig } from '../../../libs/server/dist/index.js';
import { describeMachine, machineInfo } from '../../../bench/dist/machine.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, createAzuriteContainer, S3RVER_KEY, startAzurite, startS3rver } from '../../../test/dist/support/emulators.js';
import { GcsTestServer } from '../../../test/dist/support/gcs-server.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
function argStr(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Counts what reaches the store: one entry per read call. */
class CountingStore implements ObjectStore {
  reads = 0;
  bytes = 0;
  readonly keys: string[] = [];
  constructor(private readonly inner: ObjectStore) {}
  reset(): void {
    this.reads = 0;
    this.bytes = 0;
    this.keys.length = 0;
  }
  async read(key: string): Promise<Uint8Array> {
    const b = await this.inner.read(key);
    this.reads++;
    this.bytes += b.length;
    this.keys.push(key.slice(key.lastIndexOf('/') + 1));
    return b;
  }
  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const b = await this.inner.readRange(key, offset, length);
    this.reads++;
    this.bytes += b.length;
    this.keys.push(`${key.slice(key.lastIndexOf('/') + 1)}[${length}]`);
    return b;
  }
  stat(key: string): Promise<ObjectInfo> {
    return this.inner.stat(key);
  }
  write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    return this.inner.write(key, data);
  }
  list(prefix: string, opts?: { delimiter?: string }): Promise<ListResult> {
    return this.inner.list(prefix, opts);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const MiB = 1024 * 1024;

async function* chunksOf(store: ObjectStore, key: string, total: number): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < total; off += 8 * MiB) yield store.readRange(key, off, Math.min(8 * MiB, total - off));
}

interface LookupStats {
  p50: number;
  p99: number;
  maxReads: number;
  meanReads: number;
  meanBytes: number;
  maxBytes: number;
  found: number;
  pattern: string;
}

async function lookups(store: ObjectStore, meta: BlockMeta, ids: Uint8Array[], expectFound: boolean): Promise<LookupStats> {
  const counting = new CountingStore(store);
  const lat: number[] = [];
  const bytes: number[] = [];
  const reads: number[] = [];
  let found = 0;
  let pattern = '';
  for (const id of ids) {
    const reader = openBlock(counting, meta, { cache: new BlockCache(0) });
    counting.reset();
    const t = process.hrtime.bigint();
    const tr = await reader.findTraceByID(id);
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    bytes.push(counting.bytes);
    reads.push(counting.reads);
    if (tr) found++;
    if (!pattern && tr) pattern = counting.keys.join(' → ');
  }
  if (expectFound && found !== ids.length) throw new Error(`only ${found} of ${ids.length} present traces found`);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    maxReads: Math.max(...reads),
    meanReads: mean(reads),
    meanBytes: mean(bytes),
    maxBytes: Math.max(...bytes),
    found,
    pattern,
  };
}

async function main(): Promise<void> {
  const targetSpans = arg('spans', 200_000);
  const seed = arg('seed', 1);
  const nLookups = arg('lookups', 300);
  const out = argStr('out');
  const only = argStr('backends')?.split(',') ?? ['local', 's3', 'gcs', 'azure'];
  const traceCount = Math.round(targetSpans / 17.5);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-backend-'));
  const cleanups: (() => Promise<void>)[] = [];
  try {
    // 1. One block, on local disk.
    const local = new LocalStore(path.join(tmp, 'blocks'));
    const ids: Uint8Array[] = [];
    let spans = 0;
    const t0 = Date.now();
    const meta = await writeBlock(local, {
      tenant: 'bench',
      traces: (function* () {
        for (const t of realisticTraceStream(traceCount, { seed })) {
          ids.push(t.id);
          spans += countSpans(t.trace);
          yield t;
        }
      })(),
    });
    const buildMs = Date.now() - t0;
    const prefix = `bench/${meta.blockID}/`;
    const { objects } = await local.list(prefix);
    const sizes = new Map<string, number>();
    for (const k of objects) sizes.set(k, (await local.stat(k)).size);
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    console.log(
      `block: ${spans} spans, ${meta.totalObjects} traces, ${objects.length} objects, ${(total / MiB).toFixed(1)} MiB (built in ${(buildMs / 1000).toFixed(1)} s)`,
    );

    const rng = new Rng(seed + 7);
    const present = Array.from({ length: nLookups }, () => ids[Math.floor(rng.next() * ids.length)]!);
    const absent = Array.from({ length: nLookups }, () => rng.bytes(16));

    // 2. The backends, each with a fresh bucket/container and the default config otherwise.
    const d = defaultConfig().storage.trace;
    const noCache = { ...d.object_cache, max_size_bytes: 0 };
    const backends: { name: string; make: (cache: boolean) => Promise<ManagedObjectStore> }[] = [];
    const withCache = (cfg: TraceStorageConfig, cache: boolean): TraceStorageConfig => ({ ...cfg, object_cache: cache ? d.object_cache : noCache });
    if (only.includes('local'))
      backends.push({
        name: 'local',
        make: async (c) => createObjectStore(withCache({ ...d, backend: 'local', local: { path: path.join(tmp, 'blocks') } }, c)),
      });
    if (only.includes('s3')) {
      const s3 = await startS3rver(['bench']);
      cleanups.push(() => s3.stop());
      backends.push({
        name: 's3 (s3rver)',
        make: async (c) =>
          createObjectStore(
            withCache(
              {
                ...d,
                backend: 's3',
                s3: { ...d.s3, bucket: 'bench', endpoint: s3.endpoint, forcepathstyle: true, access_key: S3RVER_KEY, secret_key: S3RVER_KEY },
              },
              c,
            ),
          ),
      });
    }
    if (only.includes('gcs')) {
      const gcs = await GcsTestServer.start({ buckets: ['bench'] });
      cleanups.push(() => gcs.stop());
      backends.push({
        name: 'gcs (JSON-API double)',
        make: async (c) => createObjectStore(withCache({ ...d, backend: 'gcs', gcs: { ...d.gcs, bucket_name: 'bench', endpoint: gcs.endpoint } }, c)),
      });
    }
    if (only.includes('azure')) {
      const az = await startAzurite();
      cleanups.push(() => az.stop());
      await createAzuriteContainer(az, 'bench');
      backends.push({
        name: 'azure (Azurite)',
        make: async (c) =>
          createObjectStore(
            withCache(
              {
                ...d,
                backend: 'azure',
                azure: {
                  ...d.azure,
                  container_name: 'bench',
                  storage_account_name: AZURITE_ACCOUNT,
                  storage_account_key: AZURITE_KEY,
                  endpoint_suffix: `127.0.0.1:${az.port}`,
                },
              },
              c,
            ),
          ),
      });
    }

    const rows: string[] = [];
    const results: Record<string, unknown> = {};
    for (const b of backends) {
      const cold = await b.make(false);
      cleanups.push(() => cold.close());
      let copyMs = 0;
      if (b.name !== 'local') {
        const t = Date.now();
        for (const k of objects) await cold.write(k, chunksOf(local, k, sizes.get(k)!));
        copyMs = Date.now() - t;
      }
      const hit = await lookups(cold, meta, present, true);
      const miss = await lookups(cold, meta, absent, false);
      const warm = await b.make(true);
      cleanups.push(() => warm.close());
      await lookups(warm, meta, present, true); // fill the object cache
      // Requests that reach the backend (below the cache), from the store's own request metric.
      const backendReads = async (): Promise<number> => {
        let n = 0;
        for (const op of ['read', 'read_range'])
          for (const code of ['200', '404', '416'])
            n += await warm.metrics.value('tempodb_backend_request_duration_seconds_count', { operation: op, status_code: code });
        return n;
      };
      const before = await backendReads();
      const warmed = await lookups(warm, meta, present, true);
      const warmRequests = ((await backendReads()) - before) / present.length;
      results[b.name] = { copyMs, hit, miss, warmed, warmRequests };
      const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
      rows.push(
        `| ${b.name} | ${hit.maxReads} (mean ${hit.meanReads.toFixed(2)}) | ${kib(hit.meanBytes)} / ${kib(hit.maxBytes)} | ${hit.p50.toFixed(2)} / ${hit.p99.toFixed(2)} ms | ${miss.meanReads.toFixed(2)} reads, ${kib(miss.meanBytes)} | ${warmRequests.toFixed(2)} backend requests, p50 ${warmed.p50.toFixed(2)} ms | ${copyMs ? `${(total / MiB / (copyMs / 1000)).toFixed(0)} MiB/s` : '—'} |`,
      );
      console.log(
        `${b.name}: cold present ${hit.maxReads} reads max, ${kib(hit.meanBytes)} mean (${hit.pattern}); p50 ${hit.p50.toFixed(2)} ms p99 ${hit.p99.toFixed(2)} ms; absent ${miss.meanReads.toFixed(2)} reads; object cache warm: ${warmRequests.toFixed(2)} backend requests per lookup, p50 ${warmed.p50.toFixed(2)} ms`,
      );
    }

    const m = machineInfo(path.resolve(__dirname, '../../..'));
    const objs = objects.map((k) => `${k.slice(prefix.length)} ${(sizes.get(k)! / 1024).toFixed(0)} KiB`).join(', ');
    const block = [
      `### Cold trace-by-ID per backend — ${m.date}`,
      '',
      `- machine: ${describeMachine(m)}`,
      `- block: seed ${seed}, ${spans.toLocaleString('en-US')} spans in ${meta.totalObjects.toLocaleString('en-US')} traces, ${meta.rowGroups} row group(s), ${(total / MiB).toFixed(1)} MiB in ${objects.length} objects (${objs})`,
      `- lookups: ${nLookups} present + ${nLookups} absent trace IDs, each through a fresh BlockReader with no cache; backends on loopback (emulators), object cache off for "cold". "Object cache warm": the default 64 MiB object cache, filled by one pass over the same IDs, then requests that still reach the backend (the data page).`,
      `- read pattern of a present lookup: ${(Object.values(results)[0] as { hit: LookupStats } | undefined)?.hit.pattern ?? ''}`,
      `- command: \`node bench/backend/dist/run.js ${process.argv.slice(2).join(' ')}\``,
      '',
      '| backend | reads per lookup, max (mean) | bytes read, mean / max | latency p50 / p99 | absent ID (mean) | object cache warm, per lookup | block copy to the emulator |',
      '|---|---|---|---|---|---|---|',
      ...rows,
      '',
      'Target (issue 5, acceptance 4): at most 3 ranged reads and ≤ 1 MB per cold lookup on a 1.75M-span block.',
      '',
    ].join('\n');
    console.log(JSON.stringify({ spans, traces: meta.totalObjects, objects: Object.fromEntries(sizes), results }));
    if (out) {
      if (!existsSync(out))
        writeFileSync(
          out,
          '# Backend results\n\nAppended by `node bench/backend/dist/run.js --out bench/results/backend.md`, newest last. See bench/backend/src/run.ts for what is measured.\n\n',
        );
      appendFileSync(out, block + '\n');
      console.log(`appended to ${out}`);
    } else {
      console.log(block);
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
