// The read path as a fleet of separate processes on loopback: 1 distributor, 2 ingesters (RF 2), 1
// query-frontend and 2 queriers that pull jobs from it over `Frontend.Process`, all but the frontend joined
// through memberlist, sharing one local backend directory. 2,000 traces pushed to the distributor are read
// exact through the frontend before and after /flush; 8 clients reading in a loop lose no query while a
// querier is killed with SIGKILL, and a querier started afterwards takes jobs; a tenant flooding the
// frontend gets 429 while another tenant's reads still succeed.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generatePool, runLoad, timeQueries, type QueryResult } from '@stave/bench';
import { configYaml, ingesterRing, OTLP_HTTP_RECEIVER, UNLIMITED_INGESTION } from './support/config';
import { poll } from './support/poll';
import { metricSum, ringShards } from './support/stave-http';
import { startStave, type StaveProcess } from './support/stave-process';

const TENANT = 'tenant-a';
const CONFIG = configYaml(['multitenancy_enabled: true'], OTLP_HTTP_RECEIVER, ingesterRing(2), UNLIMITED_INGESTION, [
  'storage:',
  '  trace:',
  '    blocklist_poll: 1s',
  'query_frontend:',
  '  max_outstanding_per_tenant: 40',
  '  trace_by_id:',
  '    query_shards: 2',
  'querier:',
  '  max_concurrent_queries: 8',
]);

function logPort(p: StaveProcess, what: string, match: (l: Record<string, unknown>) => boolean): Promise<number> {
  return poll(what, () => {
    if (p.child.exitCode !== null) throw new Error(`process exited: ${p.stderrText().slice(-2000)}`);
    const l = p.logs.find(match);
    return l ? Number(l.port ?? String(l.bind).split(':').pop()) : undefined;
  });
}

async function metric(p: StaveProcess, name: string): Promise<number> {
  return metricSum(await p.url('/metrics'), name);
}

/** `clients` concurrent readers over disjoint slices (or `queries` random picks each), merged. */
async function readAll(
  port: number,
  traces: ReadonlyArray<{ id: string; spans: number }>,
  clients: number,
  queries?: number,
  seed = 1,
): Promise<Pick<QueryResult, 'exact' | 'errors' | 'queries'>> {
  const per = Math.ceil(traces.length / clients);
  const results = await Promise.all(
    Array.from({ length: clients }, (_, i) => {
      const slice = queries === undefined ? traces.slice(i * per, (i + 1) * per) : traces;
      return timeQueries({ host: '127.0.0.1', port, traces: slice, queries: queries ?? slice.length, seed: seed + i, tenant: TENANT, timeoutMs: 20_000 });
    }),
  );
  const errors: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  return { exact: results.reduce((n, r) => n + r.exact, 0), queries: results.reduce((n, r) => n + r.queries, 0), errors };
}

describe('the query path as a fleet', () => {
  const procs: StaveProcess[] = [];
  const blocks = mkdtempSync(path.join(os.tmpdir(), 'stave-fleet-blocks-'));
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const p of procs) p.cleanup();
    rmSync(blocks, { recursive: true, force: true });
  });

  it('reads exact through a separate frontend and queriers, survives kill -9 of a querier, and keeps tenants apart', async () => {
    const start = (target: string, ...args: string[]) => {
      const p = startStave({ configYaml: CONFIG, args: [`-target=${target}`, `-storage.trace.local.path=${blocks}`, ...args] });
      procs.push(p);
      return p;
    };
    const ing0 = start('ingester', '-ingester.lifecycler.id=ingester-0');
    const seed = await logPort(ing0, 'memberlist to listen', (l) => l.msg === 'memberlist listening');
    const join = `-memberlist.join-members=127.0.0.1:${seed}`;
    const ing1 = start('ingester', '-ingester.lifecycler.id=ingester-1', join);
    const dist = start('distributor', '-ingester.lifecycler.id=distributor-0', join);
    const frontend = start('query-frontend');
    const frontendGrpc = await logPort(frontend, 'the frontend gRPC port', (l) => l.msg === 'grpc server listening');
    const worker = `-querier.frontend-worker.frontend-address=127.0.0.1:${frontendGrpc}`;
    const queriers = [start('querier', '-ingester.lifecycler.id=querier-0', join, worker), start('querier', '-ingester.lifecycler.id=querier-1', join, worker)];
    for (const p of [ing0, ing1, dist, frontend, ...queriers]) await p.ready();
    for (const p of [dist, ...queriers]) {
      await poll(
        'two ACTIVE ingesters in the ring',
        async () => {
          const shards = await ringShards(await p.url('/ingester/ring'));
          return shards.length === 2 && shards.every((s) => s.state === 'ACTIVE');
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
    }
    await poll('both queriers connected to the frontend', async () => (await metric(frontend, 'tempo_query_frontend_connected_clients')) === 2, {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    const http = await frontend.httpPort();
    // The querier serves no query API; the frontend does.
    expect((await fetch(await queriers[0]!.url(`/api/traces/${'ab'.repeat(16)}`), { headers: { 'x-scope-orgid': TENANT } })).status).toBe(404);

    // 2,000 traces through the distributor, every one read back exact through the frontend.
    const pool = generatePool({ seed: 8, traces: 2000, batchSpans: 100, nowMs: Date.now() });
    const load = await runLoad(pool, {
      host: '127.0.0.1',
      port: await dist.receiverPort(/otlp.*http/),
      concurrency: 4,
      rounds: 1,
      progress: false,
      tenant: TENANT,
    });
    expect(load.errors).toEqual({});
    const traces = load.ledger.exactTraces();
    expect(traces).toHaveLength(2000);
    expect(await readAll(http, traces, 8)).toEqual({ exact: 2000, queries: 2000, errors: {} });

    // Search through the frontend: the queriers ask both ingesters (RF 2) over Connect; each trace is one
    // result and its matched count is not doubled by the replica.
    const found = (await (await fetch(`http://127.0.0.1:${http}/api/search?q=%7B%7D&limit=5000&spss=1`, { headers: { 'x-scope-orgid': TENANT } })).json()) as {
      traces: Array<{ traceID: string; spanSets: Array<{ matched: number }> }>;
    };
    const spansByID = new Map(traces.map((t) => [t.id, t.spans]));
    expect(found.traces).toHaveLength(2000);
    expect(found.traces.filter((t) => spansByID.get(t.traceID.padStart(32, '0')) !== t.spanSets[0]!.matched)).toEqual([]);

    // 8 clients reading in a loop; one querier is killed with SIGKILL while they read.
    const jobsBefore = await metric(queriers[1]!, 'stave_querier_jobs_total');
    expect(jobsBefore).toBeGreaterThan(0);
    const reading = readAll(http, traces, 8, 40, 100);
    await poll('jobs running on the querier to kill', async () => (await metric(queriers[1]!, 'stave_querier_jobs_total')) > jobsBefore + 20, {
      intervalMs: 20,
    });
    await queriers[1]!.stop('SIGKILL');
    expect(await reading).toEqual({ exact: 320, queries: 320, errors: {} });
    await poll('the frontend to drop the killed querier', async () => (await metric(frontend, 'tempo_query_frontend_connected_clients')) === 1);

    // A querier started afterwards connects and takes jobs.
    const late = start('querier', '-ingester.lifecycler.id=querier-2', join, worker);
    await late.ready();
    await poll('the new querier connected', async () => (await metric(frontend, 'tempo_query_frontend_connected_clients')) === 2, { intervalMs: 200 });
    expect(await readAll(http, traces, 8, 10, 200)).toEqual({ exact: 80, queries: 80, errors: {} });
    expect(await metric(late, 'stave_querier_jobs_total')).toBeGreaterThan(0);

    // A flooding tenant is refused with 429 while tenant-a's reads keep succeeding.
    const flood = Array.from({ length: 150 }, async (_, i) => {
      const res = await fetch(`http://127.0.0.1:${http}/api/traces/${i.toString(16).padStart(32, '0')}`, { headers: { 'x-scope-orgid': 'flood' } });
      return { status: res.status, body: await res.text() };
    });
    const fair = readAll(http, traces, 2, 20, 300);
    const floodResults = await Promise.all(flood);
    const refused = floodResults.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]!.body).toContain('too many outstanding requests');
    expect(floodResults.filter((r) => r.status !== 429 && r.status !== 404)).toEqual([]);
    expect(await fair).toEqual({ exact: 40, queries: 40, errors: {} });
    // Counted per refused job, as Tempo does (a lookup is refused when any of its jobs is).
    expect(await metric(frontend, 'tempo_query_frontend_discarded_requests_total')).toBeGreaterThanOrEqual(refused.length);

    // After /flush on both ingesters the block-range jobs find every trace in the backend blocks too (the
    // ingesters keep complete blocks for complete_block_timeout, so both halves answer and are combined).
    for (const p of [ing0, ing1]) expect((await fetch(await p.url('/flush'), { method: 'POST' })).status).toBe(204);
    const flushedAt = Date.now();
    await poll('two blocklist polls (1 s) after the flush', () => Date.now() >= flushedAt + 2500);
    expect(await readAll(http, traces, 8)).toEqual({ exact: 2000, queries: 2000, errors: {} });
  }, 300_000);
});
