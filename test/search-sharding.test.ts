// Search sharding end to end, on separate processes sharing one local backend: a single binary (`all`)
// whose frontend cuts searches into one job per row group (`target_bytes_per_job: 1`, 1 KiB row groups)
// with at most 4 in flight, and a separate query-frontend with Tempo's default 100 MiB per job (one job
// per block here) whose jobs a separate querier runs. Three datasets, hours apart, are flushed into three
// blocks of many row groups each. Over windows older than query_ingesters_until (so block jobs alone
// answer), both frontends return the same traces, equal to the brute-force reference; the metrics count
// the blocks and jobs the sharder made; the tag endpoints, cut the same way, agree; and a small `limit`
// stops the fine-grained search early with the newest block's traces.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema } from '@stave/proto';
import { CONFORMANCE_CASES, expectedTraceIds, generateDataset } from '@stave/traceql/testing';
import { configYaml, OTLP_HTTP_RECEIVER, UNLIMITED_INGESTION } from './support/config';
import { poll } from './support/poll';
import { startStave, type StaveProcess } from './support/stave-process';

const TENANT = 'shard-a';
const HOUR_S = 3600;
const nowS = Math.floor(Date.now() / 1000);
/** Dataset k starts (7 − 2k) hours ago: blocks in separate compaction windows, all older than 30 min. */
const startS = (k: number) => nowS - (7 - 2 * k) * HOUR_S;
const datasets = [0, 1, 2].map((k) => generateDataset({ seed: 100 + k, traces: 30, baseTimeUnixNano: BigInt(startS(k)) * 1_000_000_000n }));
const allTraces = datasets.flatMap((d) => d.traces);

const COMMON = [
  ['multitenancy_enabled: true'],
  OTLP_HTTP_RECEIVER,
  UNLIMITED_INGESTION,
  ['ingester:', '  complete_block_timeout: 1s', '  flush_check_period: 200ms', '  trace_idle_period: 200ms'],
  ['storage:', '  trace:', '    blocklist_poll: 1s', '    block:', '      row_group_size_bytes: 1024'],
];
const FINE = configYaml(...COMMON, ['query_frontend:', '  search:', '    max_result_limit: 5000', '    target_bytes_per_job: 1', '    concurrent_jobs: 4']);
const COARSE = configYaml(...COMMON, ['query_frontend:', '  search:', '    max_result_limit: 5000']);

interface SearchBody {
  traces: Array<{ traceID: string }>;
  metrics: { inspectedBlocks: number; totalBlocks: number; totalJobs: number; completedJobs: number; inspectedBytes: string; totalBlockBytes: string };
}

const padded = (id: string) => id.padStart(32, '0');

describe('search sharding by row groups, on separate processes', () => {
  const procs: StaveProcess[] = [];
  const blocks = mkdtempSync(path.join(os.tmpdir(), 'stave-shard-blocks-'));
  let fine: StaveProcess;
  let coarse: StaveProcess;

  async function search(p: StaveProcess, params: Record<string, string>): Promise<SearchBody> {
    const res = await fetch(await p.url(`/api/search?${new URLSearchParams(params).toString()}`), { headers: { 'x-scope-orgid': TENANT } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${JSON.stringify(params)}: ${res.status} ${text}`);
    return JSON.parse(text) as SearchBody;
  }
  const ids = (b: SearchBody) => b.traces.map((t) => padded(t.traceID)).sort();

  beforeAll(async () => {
    const start = (configYaml: string, ...args: string[]) => {
      const p = startStave({ configYaml, args: [`-storage.trace.local.path=${blocks}`, ...args] });
      procs.push(p);
      return p;
    };
    fine = start(FINE, '-target=all');
    coarse = start(COARSE, '-target=query-frontend');
    await poll(
      'the coarse frontend to log its gRPC port',
      () => {
        if (coarse.child.exitCode !== null) throw new Error(`frontend exited: ${coarse.stderrText().slice(-2000)}`);
        return coarse.logs.some((l) => l.msg === 'grpc server listening');
      },
      { timeoutMs: 30_000 },
    );
    const l = coarse.logs.find((x) => x.msg === 'grpc server listening')!;
    const grpc = Number(l.port ?? String(l.bind).split(':').pop());
    start(COARSE, '-target=querier', '-ingester.lifecycler.id=querier-coarse', `-querier.frontend-worker.frontend-address=127.0.0.1:${grpc}`);
    for (const p of procs) {
      await p.ready();
    }
    // One block per dataset: push, then /flush.
    const port = await fine.receiverPort(/otlp.*http/);
    for (const d of datasets) {
      for (const batch of d.batches) {
        const body = toBinary(ExportTraceServiceRequestSchema, create(ExportTraceServiceRequestSchema, { resourceSpans: batch.resourceSpans }));
        const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf', 'x-scope-orgid': TENANT },
          body,
        });
        expect(res.status).toBe(200);
      }
      expect((await fetch(await fine.url('/flush'), { method: 'POST' })).status).toBe(204);
    }
    // Both frontends' blocklists list the three blocks.
    const window = { q: '{ }', limit: '5000', start: String(startS(0) - HOUR_S), end: String(nowS - HOUR_S) };
    for (const p of [fine, coarse]) {
      await poll('the blocklist lists the three blocks', async () => (await search(p, window)).metrics.totalBlocks === 3, {
        timeoutMs: 30_000,
        intervalMs: 500,
      });
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const p of procs) p.cleanup();
    rmSync(blocks, { recursive: true, force: true });
  });

  it('answers the same with one job per row group as with one job per block, and exactly', async () => {
    // Older than query_ingesters_until (30 min): block jobs only.
    const window = { start: String(startS(0) - HOUR_S), end: String(nowS - HOUR_S) };
    const cases = CONFORMANCE_CASES.filter((_, i) => i % 8 === 0);
    const failures: string[] = [];
    let fineJobs = 0;
    for (const c of cases) {
      const want = expectedTraceIds(c, allTraces).sort();
      const [a, b] = await Promise.all([search(fine, { q: c.query, limit: '5000', ...window }), search(coarse, { q: c.query, limit: '5000', ...window })]);
      if (JSON.stringify(ids(a)) !== JSON.stringify(want)) failures.push(`${c.query}: fine wants ${want.length} traces, got ${a.traces.length}`);
      if (JSON.stringify(ids(b)) !== JSON.stringify(want)) failures.push(`${c.query}: coarse wants ${want.length} traces, got ${b.traces.length}`);
      // Every job ran (no limit reached); the fine frontend made one job per row group, the coarse one per block.
      expect([a.metrics.totalBlocks, a.metrics.inspectedBlocks, b.metrics.totalBlocks, b.metrics.inspectedBlocks]).toEqual([3, 3, 3, 3]);
      expect(a.metrics.completedJobs).toBe(a.metrics.totalJobs);
      expect(b.metrics.totalJobs).toBe(3);
      expect(a.metrics.totalBlockBytes).toBe(b.metrics.totalBlockBytes);
      expect(a.metrics.inspectedBytes).toBe(b.metrics.inspectedBytes);
      fineJobs = a.metrics.totalJobs;
    }
    expect(failures).toEqual([]);
    // Several row groups per block.
    expect(fineJobs).toBeGreaterThan(3 * 5);
  }, 120_000);

  it('searches only the blocks that overlap the window', async () => {
    const window = { start: String(startS(1) - HOUR_S / 2), end: String(startS(1) + HOUR_S / 2) };
    const [a, b] = await Promise.all([search(fine, { q: '{ }', limit: '5000', ...window }), search(coarse, { q: '{ }', limit: '5000', ...window })]);
    const want = datasets[1]!.traces.map((t) => t.traceId).sort();
    expect(ids(a)).toEqual(want);
    expect(ids(b)).toEqual(want);
    expect([a.metrics.totalBlocks, b.metrics.totalBlocks, b.metrics.totalJobs]).toEqual([1, 1, 1]);
  });

  it('cuts tag searches the same way: the same names and values from row-group jobs as from block jobs', async () => {
    const window = `start=${startS(0) - HOUR_S}&end=${nowS - HOUR_S}`;
    for (const path of ['/api/v2/search/tags', '/api/v2/search/tag/resource.service.name/values', '/api/search/tag/http.method/values']) {
      const [a, b] = await Promise.all(
        [fine, coarse].map(async (p) => {
          const res = await fetch(await p.url(`${path}?${window}`), { headers: { 'x-scope-orgid': TENANT } });
          expect(res.status).toBe(200);
          return (await res.json()) as { metrics: SearchBody['metrics'] } & Record<string, unknown>;
        }),
      );
      const { metrics: ma, ...bodyA } = a;
      const { metrics: mb, ...bodyB } = b;
      expect(bodyA).toEqual(bodyB);
      expect(JSON.stringify(bodyA).length).toBeGreaterThan(40);
      expect([ma.totalBlocks, mb.totalBlocks, mb.totalJobs, ma.completedJobs]).toEqual([3, 3, 3, ma.totalJobs]);
    }
    // Values narrowed by q: only the spans q matches (the traces q may match are chosen from the columns).
    const spans = allTraces.flatMap((t) => t.spans);
    const want = [...new Set(spans.filter((s) => s.resource['service.name']!.v === 'db').map((s) => s.name))]
      .sort()
      .map((value) => ({ type: 'string', value }));
    const q = encodeURIComponent('{ resource.service.name = "db" }');
    for (const p of [fine, coarse]) {
      const res = await fetch(await p.url(`/api/v2/search/tag/name/values?q=${q}&${window}`), { headers: { 'x-scope-orgid': TENANT } });
      expect(((await res.json()) as { tagValues: unknown }).tagValues).toEqual(want);
    }
  });

  it('stops at limit with traces of the newest block, leaving jobs unrun', async () => {
    const r = await search(fine, { q: '{ }', limit: '3', start: String(startS(0) - HOUR_S), end: String(nowS - HOUR_S) });
    expect(r.traces).toHaveLength(3);
    const newest = new Set(datasets[2]!.traces.map((t) => t.traceId));
    for (const id of ids(r)) expect(newest.has(id)).toBe(true);
    expect(r.metrics.completedJobs).toBeLessThan(r.metrics.totalJobs);
  });
});
