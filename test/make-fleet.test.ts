// Acceptance 3 of "Install it as a fleet", against `make fleet`'s launcher (scripts/fleet) on free ports:
// 1 distributor, 3 ingesters (RF 3), 1 query-frontend, 2 queriers, 1 compactor and 1 metrics-generator,
// separate processes gossiping through memberlist. Traces sent to the distributor's OTLP receiver are read
// exact by ID through the frontend after /flush; a fourth ingester started later joins the ring
// and takes writes; stopping it with SIGTERM flushes every trace it took to the backend, and every trace
// pushed while it was a member still reads exact. SIGTERM to the launcher then stops every member, exit 0.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { generatePool, runLoad, timeQueries } from '@stave/bench';
import { startFleet, type FleetState } from './support/fleet-launcher';
import { poll } from './support/poll';
import { metricSum, ringShards } from './support/stave-http';
import { startStave, type StaveProcess } from './support/stave-process';

type Traces = ReadonlyArray<{ id: string; spans: number }>;

// 4 trace-by-ID shards instead of Tempo's 50 (one ingester job and three block ranges): the fleet shares
// two cores with everything else here, and a handful of blocks gains nothing from 49 block-range jobs.
const LAUNCHER_ARGS = ['--stave-arg=-query-frontend.trace-by-id.query-shards=4'];

describe('make fleet', () => {
  const fleet = startFleet(LAUNCHER_ARGS);
  let fourth: StaveProcess | undefined;
  afterAll(async () => {
    if (fourth) {
      await fourth.stop();
      fourth.cleanup();
    }
    await fleet.stop();
    fleet.cleanup();
  });

  it('reads exact through the frontend, and a fourth ingester joins, takes writes and leaves on SIGTERM losing nothing', async () => {
    const state: FleetState = await fleet.ready();
    const member = (name: string) => state.members.find((m) => m.name === name)!;
    const url = (name: string, p: string) => `http://127.0.0.1:${member(name).http}${p}`;
    expect(state.members.map((m) => m.target).sort()).toEqual([
      'compactor',
      'distributor',
      'ingester',
      'ingester',
      'ingester',
      'metrics-generator',
      'querier',
      'querier',
      'query-frontend',
    ]);
    expect(fleet.output()).toContain(state.api);
    // The compactor and the metrics-generator joined their rings over the same gossip.
    expect((await ringShards(url('compactor', '/compactor/ring'))).map((s) => s.id)).toEqual(['compactor']);
    await poll('the metrics-generator in its ring', async () => (await ringShards(url('metrics-generator', '/metrics-generator/ring'))).length === 1);

    const send = async (seed: number, traces: number): Promise<Traces> => {
      const pool = generatePool({ seed, traces, batchSpans: 50, nowMs: Date.now() });
      const load = await runLoad(pool, { host: '127.0.0.1', port: state.receivers.otlp_http!, concurrency: 4, rounds: 1, progress: false });
      expect(load.errors).toEqual({});
      return load.ledger.exactTraces();
    };
    // Every trace once, by 6 concurrent readers over disjoint slices.
    const readExact = async (traces: Traces) => {
      const per = Math.ceil(traces.length / 6);
      const slices = Array.from({ length: 6 }, (_, i) => traces.slice(i * per, (i + 1) * per));
      const port = Number(new URL(state.api).port);
      const rs = await Promise.all(slices.map((t, i) => timeQueries({ host: '127.0.0.1', port, traces: t, queries: t.length, seed: i, timeoutMs: 20_000 })));
      return { exact: rs.reduce((n, r) => n + r.exact, 0), errors: Object.assign({}, ...rs.map((r) => r.errors)) as Record<string, number> };
    };
    const activeIngesters = async (name: string) =>
      (await ringShards(url(name, '/ingester/ring')))
        .filter((s) => s.state === 'ACTIVE')
        .map((s) => s.id)
        .sort();

    // receivers → distributor → 3 ingesters (RF 3) → /flush → queriers through the frontend.
    for (const name of ['distributor', 'querier-0', 'querier-1']) expect(await activeIngesters(name)).toEqual(['ingester-0', 'ingester-1', 'ingester-2']);
    const first = await send(14, 300);
    expect(first).toHaveLength(300);
    // A push is answered at its write quorum (2 of 3); the third replica's call may still be on its way.
    const created = (u: string) => metricSum(u, 'tempo_ingester_traces_created_total');
    for (const name of ['ingester-0', 'ingester-1', 'ingester-2']) {
      await poll(`${name} to have every trace`, async () => (await created(url(name, '/metrics'))) === 300, { timeoutMs: 30_000, intervalMs: 100 });
      expect((await fetch(url(name, '/flush'), { method: 'POST' })).status).toBe(204);
      expect(await metricSum(url(name, '/metrics'), 'tempo_ingester_blocks_flushed_total')).toBeGreaterThan(0);
    }
    expect(await readExact(first)).toEqual({ exact: 300, errors: {} });

    // A fourth ingester, started later with the fleet's config and joining through any member's gossip port.
    fourth = startStave({
      configYaml: readFileSync(state.config, 'utf8'),
      args: [
        '-target=ingester',
        '-ingester.lifecycler.id=ingester-3',
        `-memberlist.join-members=127.0.0.1:${member('distributor').memberlist}`,
        `-storage.trace.local.path=${path.join(state.dir, 'blocks')}`,
      ],
    });
    const all4 = ['ingester-0', 'ingester-1', 'ingester-2', 'ingester-3'];
    for (const name of ['distributor', 'querier-0', 'querier-1']) {
      await poll(`${name} to see 4 ACTIVE ingesters`, async () => (await activeIngesters(name)).join() === all4.join(), { timeoutMs: 30_000, intervalMs: 200 });
    }
    const second = await send(15, 200);
    expect(second).toHaveLength(200);
    // With 4 ingesters and RF 3 each trace goes to 3 of them: the newcomer takes about three quarters.
    // Every trace on 3 ingesters: wait for the replicas answered after the quorum before counting.
    const fourthMetrics = await fourth.url('/metrics');
    await poll(
      'every replica of both batches written',
      async () =>
        (await Promise.all([...['ingester-0', 'ingester-1', 'ingester-2'].map((n) => created(url(n, '/metrics'))), created(fourthMetrics)])).reduce(
          (a, b) => a + b,
          0,
        ) ===
        3 * (300 + 200),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const taken = await created(fourthMetrics);
    expect(taken).toBeGreaterThan(50);
    expect(taken).toBeLessThan(200);

    // SIGTERM: it goes LEAVING, flushes every trace it took to the backend, leaves the ring and exits 0.
    expect((await fourth.stop('SIGTERM', 60_000)).code).toBe(0);
    const flushed = fourth.logs.filter((l) => l.msg === 'flushed block');
    expect(flushed.reduce((n, l) => n + Number(l.traces), 0)).toBe(taken);
    expect(fourth.logs.find((l) => l.msg === 'flushed before shutdown')).toMatchObject({ left_on_disk_for_replay: 0 });
    for (const l of flushed) expect(existsSync(path.join(state.dir, 'blocks', String(l.tenant), String(l.block)))).toBe(true);
    // Its ring entry went LEAVING before the flush (writes go elsewhere at once) and then LEFT, a tombstone
    // that memberlist hands to a few members as it leaves; the others learn it at their next push/pull, so
    // queriers may still list it for a while: reads must not need it.
    const leaver = (await ringShards(url('distributor', '/ingester/ring'))).find((s) => s.id === 'ingester-3');
    expect(leaver === undefined || leaver.state === 'LEAVING').toBe(true);
    expect(await readExact(second)).toEqual({ exact: 200, errors: {} });

    // SIGTERM to the launcher stops every member (ingesters last, flushing) with exit 0.
    expect(await fleet.stop('SIGTERM')).toBe(0);
    for (const m of state.members) expect(fleet.output()).toMatch(new RegExp(`stopped ${m.name} +exit 0`));
    for (const m of state.members) expect(() => process.kill(m.pid, 0)).toThrow();
  }, 180_000);
});
