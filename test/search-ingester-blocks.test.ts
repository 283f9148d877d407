// Search of an ingester's complete blocks (searched through their columns, as backend blocks are), end to
// end on the single binary: the conformance dataset, timestamped a minute ago, is pushed in two halves
// with a /flush after each, so the ingester holds two complete blocks (kept for complete_block_timeout)
// and many traces have parts in both. A search whose window lies within query_backend_after makes no
// block job: the answers come from the ingester alone, and must equal the brute-force reference's.

import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema, type TracesData } from '@stave/proto';
import { generateDataset } from '@stave/traceql/testing';
import { configYaml, OTLP_HTTP_RECEIVER, UNLIMITED_INGESTION } from './support/config';
import { conformanceFailures } from './support/conformance';
import { startStave, type StaveProcess } from './support/stave-process';

const config = configYaml(
  OTLP_HTTP_RECEIVER,
  UNLIMITED_INGESTION,
  // Complete blocks stay on the ingester for the whole test.
  ['ingester:', '  complete_block_timeout: 1h', '  flush_check_period: 200ms', '  trace_idle_period: 200ms'],
  ['query_frontend:', '  search:', '    max_result_limit: 5000'],
);

interface SearchBody {
  traces: Array<{ traceID: string }>;
}

const nowS = Math.floor(Date.now() / 1000);
const dataset = generateDataset({ baseTimeUnixNano: BigInt(nowS - 120) * 1_000_000_000n });
const padded = (id: string) => id.padStart(32, '0');

describe("GET /api/search over an ingester's complete blocks", () => {
  let p: StaveProcess;

  async function search(q: string): Promise<SearchBody> {
    // Within the last 15 minutes (query_backend_after): ingester jobs only.
    const params = new URLSearchParams({ q, limit: '5000', start: String(nowS - 600), end: String(nowS + 60) });
    const res = await fetch(await p.url(`/api/search?${params.toString()}`));
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${q}: ${res.status} ${text}`);
    return JSON.parse(text) as SearchBody;
  }

  async function get(pathname: string, params: Record<string, string> = {}): Promise<Record<string, unknown>> {
    const q = new URLSearchParams({ ...params, start: String(nowS - 600), end: String(nowS + 60) });
    const res = await fetch(await p.url(`${pathname}?${q.toString()}`));
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }

  async function push(batches: readonly TracesData[]): Promise<void> {
    const port = await p.receiverPort(/otlp.*http/);
    for (const batch of batches) {
      const body = toBinary(ExportTraceServiceRequestSchema, create(ExportTraceServiceRequestSchema, { resourceSpans: batch.resourceSpans }));
      const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
      expect(res.status).toBe(200);
    }
  }

  async function flush(): Promise<void> {
    expect((await fetch(await p.url('/flush'), { method: 'POST' })).status).toBe(204);
  }

  beforeAll(async () => {
    p = startStave({ configYaml: config });
    await p.ready();
  }, 60_000);
  afterAll(async () => {
    await p.stop();
    p.cleanup();
  });

  it('finds spans flushed to complete blocks, a trace split over two blocks evaluated whole', async () => {
    const half = Math.floor(dataset.batches.length / 2);
    await push(dataset.batches.slice(0, half));
    await flush();
    await push(dataset.batches.slice(half));
    await flush();
    const local = path.join(p.dataDir, 'wal', 'blocks');
    const metas = existsSync(local) ? readdirSync(local, { recursive: true }).filter((f) => String(f).endsWith('meta.json')) : [];
    expect(metas).toHaveLength(2);
    const all = await search('{ }');
    expect(all.traces).toHaveLength(dataset.traces.length);
    expect(await conformanceFailures(dataset.traces, async (q) => (await search(q)).traces.map((t) => padded(t.traceID)))).toEqual([]);
  }, 120_000);

  it('lists tag names and values from the complete blocks (column-backed values from dictionaries)', async () => {
    const spans = dataset.traces.flatMap((t) => t.spans);
    const distinct = (xs: Iterable<string>) => [...new Set(xs)].sort();
    const typed = (xs: Iterable<string>) => distinct(xs).map((value) => ({ type: 'string', value }));
    expect((await get('/api/search/tags')).tagNames).toEqual(distinct(spans.flatMap((s) => [...Object.keys(s.attributes), ...Object.keys(s.resource)])));
    expect((await get('/api/v2/search/tag/resource.service.name/values')).tagValues).toEqual(typed(spans.map((s) => String(s.resource['service.name']!.v))));
    expect((await get('/api/v2/search/tag/resource.region/values')).tagValues).toEqual(typed(spans.map((s) => String(s.resource.region!.v))));
    // The root is in one block for some traces, the rest of the trace in the other.
    const roots = spans.filter((s) => s.parentSpanId === '');
    expect((await get('/api/v2/search/tag/rootServiceName/values')).tagValues).toEqual(typed(roots.map((s) => String(s.resource['service.name']!.v))));
    const db = await get('/api/v2/search/tag/name/values', { q: '{ resource.service.name = "db" }' });
    expect(db.tagValues).toEqual(typed(spans.filter((s) => s.resource['service.name']!.v === 'db').map((s) => s.name)));
  }, 60_000);
});
