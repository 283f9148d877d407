// Block search benchmark (issue 10, acceptance 2 and 4): 100,000 traces (~1.75M spans) written as one
// block, then searched the way a querier's block job searches it (searchBlock decides the candidate traces
// from the columns, SearchCollector evaluates them exactly, stopping at `limit`); tag values as a querier's
// tag job lists them (blockTagValues, else trace by trace).
//
// Reported: needle query p50 (`{ span.http.url = "<one value>" }`, one matching trace), top-20 queries by
// service and by status p50 (CPU and wall), the needle and a top-20 search on a block the process has not
// read yet (cold), tag values p50, block bytes per span (and per column), and scan rates in spans per CPU
// second. Baselines measured in the same run: the trace-by-trace path (every trace decoded and
// evaluated, as vStave1 blocks are searched) on the same block, and a raw read of data.parquet.
//
// The data is realisticTraceStream's (bench/block's workload) with every other HTTP span using the pre-1.21
// HTTP attribute names (addLegacyHttpAttributes: http.url has its own column); one span of one trace gets a
// URL no other span has: the needle.
//
//   make bench-search ARGS="--out bench/results/search.md"
//   node_modules/.bin/tsc -b bench/search && node bench/search/dist/run.js --help
//
// In process, no HTTP or job queue: this measures the block search itself. Imports built code by path.

import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ArgError, intArg, parseArgs } from '../../../bench/dist/args.js';
import { describeMachine, machineInfo } from '../../../bench/dist/machine.js';
import { LocalStore } from '../../../libs/backend/dist/index.js';
import { BlockCache, blockTagValues, openBlock, readMeta, searchBlock, writeBlock, type BlockMeta, type BlockReader } from '../../../libs/block/dist/index.js';
import { addLegacyHttpAttributes, countSpans, realisticTraceStream } from '../../../libs/block/dist/testing/realistic-traces.js';
import { searchRequest, searchTagsRequest, SearchCollector, TagsCollector } from '../../../libs/ingester/dist/index.js';
import { AnyValueSchema, KeyValueSchema, type TracesData } from '../../../libs/proto/dist/index.js';
import { parseFieldExpression, type AttributeExpr } from '../../../libs/traceql/dist/index.js';
import { create } from '@bufbuild/protobuf';

const HELP = `node bench/search/dist/run.js [--traces 100000] [--seed 1] [--runs 21] [--warmup 20] [--baseline-traces 10000] [--out FILE] [--dir DIR]
  --traces N            traces in the block (5–30 spans each, ~17.5 on average)
  --runs N              timed runs per query (p50 over them)
  --warmup N            untimed rounds of every query first (a querier's code is hot: without them the p50 of a
                        few runs measures the JIT compiling the decoder and engine)
  --baseline-traces N   traces the trace-by-trace baseline evaluates (its rate is per span, so a prefix suffices)
  --out FILE            append the markdown result to FILE
  --dir DIR             keep the block in DIR, and reuse the one there (same --traces and --seed) instead of writing it again`;

const TENANT = 'bench';
const NEEDLE_URL = 'http://checkout.shop.svc.cluster.local:8080/api/orders/needle-5f3c2a';

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Wall and CPU milliseconds of one call. */
async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = await f();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: (c.user + c.system) / 1000, value };
}

/** A querier's block search job over one block: columnar candidates, exact evaluation, stop at `limit`. */
async function search(reader: BlockReader, query: string, limit: number): Promise<{ found: string[]; inspected: number }> {
  const collector = new SearchCollector(searchRequest({ tenant: TENANT, query, limit, spansPerSpanSet: 3 }));
  for await (const trace of searchBlock(reader, { query })) {
    collector.add(trace);
    if (collector.full) break;
  }
  const r = collector.response();
  return { found: r.traces.map((t) => Buffer.from(t.traceId).toString('hex')), inspected: r.metrics?.inspectedTraces ?? 0 };
}

/** The trace-by-trace path on the same block (how vStave1 blocks are searched): every trace decoded and evaluated. */
async function searchTraceByTrace(reader: BlockReader, query: string, maxTraces: number): Promise<{ spans: number; found: number }> {
  const collector = new SearchCollector(searchRequest({ tenant: TENANT, query, limit: 1_000_000, spansPerSpanSet: 3 }));
  let spans = 0;
  let n = 0;
  for await (const { trace } of reader.iterateTraces()) {
    spans += countSpans(trace);
    collector.add(trace);
    if (++n >= maxTraces) break;
  }
  return { spans, found: collector.response().traces.length };
}

/** A querier's tag-values job over one block. */
async function tagValues(reader: BlockReader, tag: string): Promise<number> {
  const collector = new TagsCollector(searchTagsRequest({ tenant: TENANT, tagName: tag }));
  const values = await blockTagValues(reader, parseFieldExpression(tag) as AttributeExpr);
  if (values) for (const v of values) collector.addStatic(v);
  else for await (const { trace } of reader.iterateTraces()) collector.add(trace);
  return collector.response().values.length;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { known: ['traces', 'seed', 'runs', 'warmup', 'baseline-traces', 'out', 'dir', 'help'], booleans: ['help'] });
  if (args.has('help')) {
    console.log(HELP);
    return;
  }
  const traceCount = intArg(args, 'traces', 100_000, 1);
  const seed = intArg(args, 'seed', 1);
  const runs = intArg(args, 'runs', 21, 1);
  const warmup = intArg(args, 'warmup', 20, 0);
  const baselineTraces = intArg(args, 'baseline-traces', 10_000, 1);
  const out = args.get('out');
  const load0 = os.loadavg();
  const keep = args.get('dir');
  const dir = keep ?? mkdtempSync(path.join(os.tmpdir(), 'stave-bench-search-'));
  try {
    const store = new LocalStore(dir);
    const needleAt = Math.floor(traceCount * 0.61);
    let spans = 0;
    let needleId = '';
    const services = new Set<string>();
    function* traces(): Generator<{ id: Uint8Array; trace: TracesData }> {
      let i = 0;
      for (const t of realisticTraceStream(traceCount, { seed })) {
        addLegacyHttpAttributes(t.trace);
        if (i === needleAt) {
          const span = t.trace.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
          span.attributes.push(
            create(KeyValueSchema, { key: 'http.url', value: create(AnyValueSchema, { value: { case: 'stringValue', value: NEEDLE_URL } }) }),
          );
          needleId = Buffer.from(t.id).toString('hex');
        }
        if (i < 2000)
          for (const rs of t.trace.resourceSpans) {
            const svc = rs.resource?.attributes.find((a) => a.key === 'service.name')?.value?.value;
            if (svc?.case === 'stringValue') services.add(svc.value);
          }
        spans += countSpans(t.trace);
        i++;
        yield t;
      }
    }
    const saved = path.join(dir, 'bench-search.json');
    let w: { ms: number; value: BlockMeta };
    if (keep && existsSync(saved)) {
      // A block this bench wrote before with the same flags: only the queries run again.
      const s = JSON.parse(readFileSync(saved, 'utf8')) as { blockID: string; spans: number; needleId: string; services: string[]; writeMs: number };
      if (s.spans === 0) throw new Error(`${saved} is empty`);
      w = { ms: s.writeMs, value: await readMeta(store, TENANT, s.blockID) };
      spans = s.spans;
      needleId = s.needleId;
      for (const x of s.services) services.add(x);
    } else {
      w = await timed(() => writeBlock(store, { tenant: TENANT, traces: traces() }));
      if (keep) writeFileSync(saved, JSON.stringify({ blockID: w.value.blockID, spans, needleId, services: [...services], writeMs: w.ms }));
    }
    const meta: BlockMeta = w.value;
    const prefix = `${TENANT}/${meta.blockID}/`;
    let bloomBytes = 0;
    for (let i = 0; i < meta.bloomShards; i++) bloomBytes += (await store.stat(`${prefix}bloom-${i}`)).size;
    const indexBytes = (await store.stat(`${prefix}index`)).size;
    const stored = meta.size + indexBytes + bloomBytes;
    console.log(`block: ${meta.totalObjects} traces, ${spans} spans, ${meta.rowGroups} row groups, written in ${(w.ms / 1000).toFixed(1)} s`);
    console.log(
      `stored: ${(stored / spans).toFixed(1)} B/span (data.parquet ${(meta.size / spans).toFixed(1)}, index ${(indexBytes / spans).toFixed(2)}, bloom ${(bloomBytes / spans).toFixed(2)})`,
    );

    // One reader for the run, as a querier keeps one per block, with the querier's default cache sizes.
    const reader = openBlock(store, meta, { cache: new BlockCache(128 * 1024 * 1024, 64 * 1024 * 1024) });
    const footer = await reader.footer();
    const perColumn = footer.schema.map((leaf, c) => ({
      name: leaf.name,
      bytes: footer.rowGroups.reduce((a, rg) => a + rg.columns[c]!.totalCompressedSize, 0),
    }));
    for (const c of perColumn) console.log(`  ${c.name.padEnd(20)} ${(c.bytes / spans).toFixed(2)} B/span`);

    // Baseline 1: a raw read of data.parquet (the bytes any engine reading the whole block must read).
    const file = path.join(dir, TENANT, meta.blockID, 'data.parquet');
    const raw = await timed(async () => readFileSync(file).length);
    // Baseline 2: the trace-by-trace path on the same block, over a prefix.
    const needleQuery = `{ span.http.url = "${NEEDLE_URL}" }`;
    const tbt = await timed(() => searchTraceByTrace(reader, needleQuery, baselineTraces));
    const tbtRate = tbt.value.spans / (tbt.cpuMs / 1000);
    console.log(
      `baseline: raw read ${raw.ms.toFixed(0)} ms (${(((meta.size / raw.ms) * 1000) / 1048576).toFixed(0)} MiB/s); trace by trace ${tbt.value.spans} spans in ${tbt.ms.toFixed(0)} ms (${Math.round(tbtRate)} spans/CPU-s; whole block ≈ ${(spans / tbtRate).toFixed(1)} CPU-s)`,
    );

    const svcList = [...services].sort().slice(0, 8);
    const cases: { name: string; queries: string[]; limit: number; expectOne?: string }[] = [
      { name: 'needle `{ span.http.url = "…" }`', queries: [needleQuery], limit: 20, expectOne: needleId },
      { name: 'top-20 by service `{ resource.service.name = "…" }`', queries: svcList.map((s) => `{ resource.service.name = "${s}" }`), limit: 20 },
      { name: 'top-20 by status `{ status = error }`', queries: ['{ status = error }'], limit: 20 },
      { name: 'top-20 `{ }`', queries: ['{ }'], limit: 20 },
      { name: 'no match, pruned by dictionaries `{ name = "nope" }`', queries: ['{ name = "nope" }'], limit: 20 },
      { name: 'pipeline `{ status = error } | count() > 2`', queries: ['{ status = error } | count() > 2'], limit: 20 },
    ];
    const rows: { name: string; p50: number; p90: number; cpuP50: number; spansPerCpuS: number; found: number; inspected: number }[] = [];
    for (let w = 0; w < warmup; w++) for (const c of cases) await search(reader, c.queries[w % c.queries.length]!, c.limit);
    for (const c of cases) {
      const lat: number[] = [];
      const cpu: number[] = [];
      let found = 0;
      let inspected = 0;
      for (let i = 0; i < runs; i++) {
        const q = c.queries[i % c.queries.length]!;
        const r = await timed(() => search(reader, q, c.limit));
        if (c.expectOne !== undefined && (r.value.found.length !== 1 || r.value.found[0] !== c.expectOne)) {
          throw new Error(`needle query found ${JSON.stringify(r.value.found)}, expected ${c.expectOne}`);
        }
        lat.push(r.ms);
        cpu.push(r.cpuMs);
        found = r.value.found.length;
        inspected = r.value.inspected;
      }
      const cpuP50 = pct(cpu, 50);
      rows.push({ name: c.name, p50: pct(lat, 50), p90: pct(lat, 90), cpuP50, spansPerCpuS: spans / (Math.max(cpuP50, 0.001) / 1000), found, inspected });
      console.log(
        `${c.name}: p50 ${pct(lat, 50).toFixed(1)} ms, p90 ${pct(lat, 90).toFixed(1)} ms, CPU p50 ${cpuP50.toFixed(1)} ms, ${found} found, ${inspected} traces decoded`,
      );
    }

    const tagRows: { tag: string; p50: number; values: number }[] = [];
    for (const tag of ['resource.service.name', 'name', 'status', 'span.http.method']) {
      const lat: number[] = [];
      let values = 0;
      for (let i = 0; i <= runs; i++) {
        const r = await timed(() => tagValues(reader, tag));
        values = r.value;
        if (i > 0) lat.push(r.ms);
      }
      tagRows.push({ tag, p50: pct(lat, 50), values });
      console.log(`tag values ${tag}: p50 ${pct(lat, 50).toFixed(1)} ms, ${values} values`);
    }

    // Cold needle: a new reader and cache (footer, dictionaries, index page and trace page all read).
    const coldLat: number[] = [];
    const coldTop: { ms: number; cpuMs: number }[] = [];
    for (let i = 0; i < 5; i++) {
      const fresh = openBlock(store, meta, { cache: new BlockCache(128 * 1024 * 1024, 64 * 1024 * 1024) });
      coldLat.push((await timed(() => search(fresh, needleQuery, 20))).ms);
      // A top-20 search on a block this process has not read yet: footer, column chunks, `trace` pages.
      const other = openBlock(store, meta, { cache: new BlockCache(128 * 1024 * 1024, 64 * 1024 * 1024) });
      coldTop.push(await timed(() => search(other, `{ resource.service.name = "${svcList[i % svcList.length]!}" }`, 20)));
    }
    const coldTopMs = coldTop.map((c) => c.ms);
    const coldTopCpu = coldTop.map((c) => c.cpuMs);
    const needle = rows[0]!;
    const load1 = os.loadavg();
    const m = machineInfo(path.resolve(__dirname, '../../..'));
    const md = [
      `## ${m.date.slice(0, 10)} — ${traceCount.toLocaleString('en-US')} traces, ${spans.toLocaleString('en-US')} spans, one block`,
      '',
      `Machine: ${describeMachine(m)}; ` +
        `load average ${load0.map((x) => x.toFixed(1)).join(' ')} at start, ${load1.map((x) => x.toFixed(1)).join(' ')} at end (shared machine).`,
      '',
      `Block: ${meta.rowGroups} row groups, written in ${(w.ms / 1000).toFixed(1)} s. **${(stored / spans).toFixed(1)} B/span** stored ` +
        `(data.parquet ${(meta.size / spans).toFixed(1)}, index ${(indexBytes / spans).toFixed(2)}, bloom ${(bloomBytes / spans).toFixed(2)}).`,
      '',
      '| column | B/span |',
      '|---|---|',
      ...perColumn.map((c) => `| \`${c.name}\` | ${(c.bytes / spans).toFixed(2)} |`),
      '',
      `p50/p90 over ${runs} runs after ${warmup} untimed rounds of every query (hot code, as in a querier), one reader kept (as a querier keeps one per block, 128 MiB + 64 MiB page cache); ` +
        `"spans/CPU-s" is the block's spans over the query's CPU time.`,
      '',
      '| query (limit 20) | p50 ms | p90 ms | CPU p50 ms | spans/CPU-s | found | traces decoded |',
      '|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.name.replaceAll('|', '\\|')} | ${r.p50.toFixed(1)} | ${r.p90.toFixed(1)} | ${r.cpuP50.toFixed(1)} | ${Math.round(r.spansPerCpuS).toLocaleString('en-US')} | ${r.found} | ${r.inspected} |`,
      ),
      '',
      `Needle cold (new reader and cache each time): p50 ${pct(coldLat, 50).toFixed(1)} ms over ${coldLat.length}. ` +
        `Top-20 by service cold: p50 ${pct(coldTopMs, 50).toFixed(1)} ms, CPU p50 ${pct(coldTopCpu, 50).toFixed(1)} ms over ${coldTop.length}.`,
      '',
      '| tag values | p50 ms | values |',
      '|---|---|---|',
      ...tagRows.map((t) => `| \`${t.tag}\` | ${t.p50.toFixed(1)} | ${t.values} |`),
      '',
      `Baselines in the same run: trace-by-trace path (every trace decoded and evaluated, as vStave1 blocks are searched) ` +
        `${Math.round(tbtRate).toLocaleString('en-US')} spans/CPU-s over the first ${baselineTraces.toLocaleString('en-US')} traces: the whole block would take ≈ ${(spans / tbtRate).toFixed(1)} CPU-s, ` +
        `so the needle query is **${(((spans / tbtRate) * 1000) / needle.cpuP50).toFixed(0)}×** cheaper in CPU (${(((spans / tbtRate) * 1000) / needle.p50).toFixed(0)}× in wall time). ` +
        `A raw read of data.parquet (${(meta.size / 1048576).toFixed(0)} MiB, page cache warm) took ${raw.ms.toFixed(0)} ms: the needle p50 is ${(needle.p50 / raw.ms).toFixed(2)}× that.`,
      '',
    ].join('\n');
    console.log('\n' + md);
    if (out) appendFileSync(out, md + '\n');
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  if (err instanceof ArgError) {
    console.error(err.message);
    console.error(HELP);
    process.exitCode = 2;
    return;
  }
  console.error(err);
  process.exitCode = 1;
});
