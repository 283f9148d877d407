// TraceQL search end to end on the single binary: the conformance dataset is pushed over OTLP HTTP, and
// every query of the conformance table goes through GET /api/search (query-frontend queue → querier
// worker → ingesters or backend blocks); the trace-ID set must equal the brute-force reference's, first
// from the ingester, then after /flush from the backend blocks alone. Bad requests get Tempo's 400s.

import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema } from '@stave/proto';
import { CONFORMANCE_CASES, generateDataset } from '@stave/traceql/testing';
import { configYaml, OTLP_HTTP_RECEIVER, UNLIMITED_INGESTION } from './support/config';
import { conformanceFailures } from './support/conformance';
import { poll } from './support/poll';
import { startStave, type StaveProcess } from './support/stave-process';

const config = configYaml(
  ['multitenancy_enabled: true'],
  OTLP_HTTP_RECEIVER,
  UNLIMITED_INGESTION,
  // Complete blocks leave the ingester a second after their flush, so the second half reads the backend.
  ['ingester:', '  complete_block_timeout: 1s', '  flush_check_period: 200ms', '  trace_idle_period: 200ms'],
  ['storage:', '  trace:', '    blocklist_poll: 1s'],
  ['query_frontend:', '  search:', '    max_result_limit: 5000'],
);

interface SearchBody {
  traces: Array<{ traceID: string; rootServiceName?: string; startTimeUnixNano: string; spanSets: Array<{ matched: number; spans: unknown[] }> }>;
  metrics: { inspectedTraces: number; inspectedBlocks: number };
}

const TENANT = 'search-a';
const OTHER = 'search-b';
const dataset = generateDataset();
// Another tenant's traces (other IDs): never in the first tenant's answers, and the only ones in its own.
const other = generateDataset({ seed: 7, traces: 5 });
const headers = (tenant = TENANT) => ({ 'x-scope-orgid': tenant });
const padded = (id: string) => id.padStart(32, '0');

describe('GET /api/search on the single binary', () => {
  let p: StaveProcess;

  async function search(params: Record<string, string>): Promise<{ status: number; text: string }> {
    const res = await fetch(await p.url(`/api/search?${new URLSearchParams(params).toString()}`), { headers: headers() });
    return { status: res.status, text: await res.text() };
  }

  async function ids(q: string): Promise<string[]> {
    const r = await search({ q, limit: '5000' });
    if (r.status !== 200) throw new Error(`${q}: ${r.status} ${r.text}`);
    return (JSON.parse(r.text) as SearchBody).traces.map((t) => padded(t.traceID)).sort();
  }

  async function conformance(): Promise<void> {
    expect(await conformanceFailures(dataset.traces, ids)).toEqual([]);
  }

  beforeAll(async () => {
    p = startStave({ configYaml: config });
    await p.ready();
    const port = await p.receiverPort(/otlp.*http/);
    for (const [tenant, batches] of [
      [TENANT, dataset.batches],
      [OTHER, other.batches],
    ] as const) {
      for (const batch of batches) {
        const body = toBinary(ExportTraceServiceRequestSchema, create(ExportTraceServiceRequestSchema, { resourceSpans: batch.resourceSpans }));
        const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf', ...headers(tenant) },
          body,
        });
        expect(res.status).toBe(200);
      }
    }
  }, 60_000);
  afterAll(async () => {
    await p.stop();
    p.cleanup();
  });

  it(`answers the ${CONFORMANCE_CASES.length} conformance queries exactly from the ingester`, async () => {
    await conformance();
  }, 60_000);

  it('answers in Tempo shape: newest first, trace IDs without leading zeros, limit honoured', async () => {
    const r = await search({ q: '{ }', limit: '5' });
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text) as SearchBody;
    expect(body.traces).toHaveLength(5);
    const starts = body.traces.map((t) => BigInt(t.startTimeUnixNano));
    for (let i = 1; i < starts.length; i++) expect(starts[i - 1]! >= starts[i]!).toBe(true);
    for (const t of body.traces) {
      expect(t.traceID).not.toMatch(/^0/);
      expect(t.spanSets[0]!.matched).toBeGreaterThan(0);
    }
    expect(body.metrics.inspectedTraces).toBeGreaterThan(0);
  });

  it("sees only the caller's tenant", async () => {
    const res = await fetch(await p.url('/api/search?q=%7B%7D&limit=5000'), { headers: headers(OTHER) });
    const body = (await res.json()) as SearchBody;
    expect(body.traces.map((t) => padded(t.traceID)).sort()).toEqual(other.traces.map((t) => t.traceId).sort());
    expect((await fetch(await p.url('/api/search?q=%7B%7D'))).status).toBe(401);
  });

  it.each([
    [{ q: '{ }', tags: 'a=b' }, "invalid request: can't specify tags and q in the same query"],
    [{ q: '{ }', start: '200', end: '100' }, 'http parameter start must be before end. received start=200 end=100'],
    [{ limit: '0' }, 'invalid limit: must be a positive number'],
    [{ limit: 'x' }, 'invalid limit: strconv.Atoi: parsing "x": invalid syntax'],
    [{ limit: '6000' }, 'limit 6000 exceeds max limit 5000'],
    [{ start: 'x', end: '10' }, 'invalid start: strconv.ParseInt: parsing "x": invalid syntax'],
    [{ minDuration: '2s', maxDuration: '1s' }, 'invalid maxDuration: must be greater than minDuration'],
    [{ q: '{ .a = }' }, 'invalid TraceQL query: parse error'],
    [{ q: '{ .a =~ "(" }' }, 'invalid TraceQL query: invalid regex: "("'],
  ])('answers 400 to %j', async (params, message) => {
    const r = await search(params as Record<string, string>);
    expect(r.status).toBe(400);
    expect(r.text).toContain(message);
  });

  describe('tag endpoints', () => {
    const spans = dataset.traces.flatMap((t) => t.spans);
    const distinct = (xs: Iterable<string>) => [...new Set(xs)].sort();
    const get = async (pathname: string) => {
      const res = await fetch(await p.url(pathname), { headers: headers() });
      return { status: res.status, body: (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined };
    };

    it('lists attribute names: v1 flat, v2 by scope', async () => {
      const v1 = await get('/api/search/tags');
      expect(v1.status).toBe(200);
      expect(v1.body!.tagNames).toEqual(distinct(spans.flatMap((s) => [...Object.keys(s.attributes), ...Object.keys(s.resource)])));
      const v2 = await get('/api/v2/search/tags?scope=resource');
      expect(v2.body!.scopes).toEqual([{ name: 'resource', tags: distinct(spans.flatMap((s) => Object.keys(s.resource))) }]);
      const all = await get('/api/v2/search/tags');
      expect((all.body!.scopes as Array<{ name: string }>).map((s) => s.name).sort()).toEqual(['intrinsic', 'resource', 'span']);
      expect((await get('/api/v2/search/tags?scope=bogus')).status).toBe(400);
    });

    it('lists values: v1 strings, v2 typed, v2 filtered by q', async () => {
      const services = distinct(spans.map((s) => String(s.resource['service.name']!.v)));
      const v1 = await get('/api/search/tag/service.name/values');
      expect((v1.body!.tagValues as string[]).sort()).toEqual(services);
      const v2 = await get('/api/v2/search/tag/resource.service.name/values');
      expect(v2.body!.tagValues).toEqual(services.map((value) => ({ type: 'string', value })));
      const statuses = await get('/api/v2/search/tag/status/values');
      expect(statuses.body!.tagValues).toEqual(distinct(spans.map((s) => s.status)).map((value) => ({ type: 'keyword', value })));
      const q = encodeURIComponent('{ resource.service.name = "db" }');
      const dbNames = await get(`/api/v2/search/tag/name/values?q=${q}`);
      expect(dbNames.body!.tagValues).toEqual(
        distinct(spans.filter((s) => s.resource['service.name']!.v === 'db').map((s) => s.name)).map((value) => ({ type: 'string', value })),
      );
      expect((await get('/api/v2/search/tag/a%20b/values')).status).toBe(400);
    });
  });

  it('answers the same from the backend blocks after /flush', async () => {
    expect((await fetch(await p.url('/flush'), { method: 'POST' })).status).toBe(204);
    // Wait until the ingester has dropped its local copies: from then on only the backend holds the traces.
    const local = path.join(p.dataDir, 'wal', 'blocks');
    await poll(
      'ingester dropped its complete blocks',
      () => !existsSync(local) || !readdirSync(local, { recursive: true }).some((f) => String(f).endsWith('meta.json')),
      {
        timeoutMs: 20_000,
      },
    );
    await poll(
      'the blocklist lists the flushed blocks',
      async () => {
        const body = JSON.parse((await search({ q: '{ }', limit: '5000' })).text) as SearchBody;
        return body.metrics.inspectedBlocks >= 1 && body.traces.length === dataset.traces.length;
      },
      { timeoutMs: 20_000 },
    );
    await conformance();
  }, 60_000);
});
