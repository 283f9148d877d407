// The chaos tier on a fleet of separate processes on loopback: 1 distributor (the gossip seed), 3 ingesters
// (RF 3), 1 query-frontend and 2 queriers, on s3rver behind a fault proxy. The scenarios of
// docs/reliability.md run in order on the same fleet under a seeded load (the seed is printed; replay with
// CHAOS_SEED=<n>), and after each the invariants are checked: every acknowledged span read back exact by ID
// through the frontend (I1, I2, I3), no process exited unless killed (I4); at the end every process stops
// on SIGTERM with exit 0 within its grace period (I5).

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { configYaml, ingesterRing, OTLP_HTTP_RECEIVER, UNLIMITED_INGESTION } from '../support/config';
import { S3RVER_KEY, startS3rver, type EmulatorProcess } from '../support/emulators';
import { poll } from '../support/poll';
import { checkLedger, CLEAN, verdict } from './support/checker';
import { FaultProxy } from './support/fault-proxy';
import { chaosSeed, Fleet, note, type RingShard } from './support/fleet';
import { ChaosLoad, type Target } from './support/load';

const SEED = chaosSeed('fleet');
/** CHAOS_FULL=1 (make chaos): the outage lasts as long as RELIABILITY.md says. */
const FULL = process.env.CHAOS_FULL === '1';
const HEARTBEAT_TIMEOUT_MS = 3000;
const INGESTERS = ['ingester-0', 'ingester-1', 'ingester-2'];
const RING_HOLDERS = ['distributor', ...INGESTERS, 'querier-0', 'querier-1'];

function config(s3Port: number): string {
  return configYaml(OTLP_HTTP_RECEIVER, ingesterRing(3), ['  flush_op_timeout: 5s'], UNLIMITED_INGESTION, [
    'storage:',
    '  trace:',
    '    backend: s3',
    '    blocklist_poll: 1s',
    '    backoff: {min_period: 100ms, max_period: 1s, max_retries: 2}',
    '    s3:',
    '      bucket: stave',
    `      endpoint: 127.0.0.1:${s3Port}`,
    `      access_key: ${S3RVER_KEY}`,
    `      secret_key: ${S3RVER_KEY}`,
    '      forcepathstyle: true',
    '      insecure: true',
    'query_frontend:',
    '  max_outstanding_per_tenant: 40',
    '  trace_by_id:',
    '    query_shards: 2',
    'querier:',
    '  max_concurrent_queries: 4',
  ]);
}

const allActive = (n: number) => (shards: RingShard[]) => shards.length === n && shards.every((s) => s.state === 'ACTIVE');

describe(`chaos on a fleet (seed ${SEED})`, () => {
  let s3: EmulatorProcess;
  let proxy: FaultProxy;
  let fleet: Fleet;
  let load: ChaosLoad;
  let frontendPort: number;
  let receiver: Target;
  let seq = 0;
  const newLoad = (extra: Partial<ConstructorParameters<typeof ChaosLoad>[0]> = {}): ChaosLoad =>
    (load = new ChaosLoad({ seed: SEED + ++seq, targets: [receiver], concurrency: 2, pauseMs: 10, ...extra }));
  const check = async () => {
    note(`load: ${JSON.stringify(load.summary())}; checking ${load.ledger.ackedTraces().length} traces`);
    const r = await checkLedger(load.ledger, { port: frontendPort });
    note(`checked: ${r.exact}/${r.traces} exact, ${JSON.stringify(verdict(r))}`);
    return r;
  };

  beforeAll(async () => {
    s3 = await startS3rver(['stave']);
    proxy = new FaultProxy({ host: '127.0.0.1', port: s3.port }, 's3');
    await proxy.start();
    fleet = new Fleet(config(proxy.port));
    const join = async () => [`-memberlist.join-members=127.0.0.1:${await fleet.memberlistPort('distributor')}`];
    let seedJoin: string[] = [];
    fleet.start('distributor', 'distributor', () => ['-ingester.lifecycler.id=distributor', '-distributor.ring.instance-id=distributor']);
    seedJoin = await join();
    for (const name of INGESTERS) {
      fleet.start(name, 'ingester', () => {
        const dir = path.join(fleet.get(name).dataDir);
        mkdirSync(dir, { recursive: true });
        return [`-ingester.lifecycler.id=${name}`, `-ingester.lifecycler.tokens-file-path=${path.join(dir, 'tokens.json')}`, ...seedJoin];
      });
    }
    fleet.start('query-frontend', 'query-frontend');
    const frontendGrpc = await fleet.logPort('query-frontend', 'grpc server listening');
    for (const q of ['querier-0', 'querier-1']) {
      fleet.start(q, 'querier', () => [`-ingester.lifecycler.id=${q}`, `-querier.frontend-worker.frontend-address=127.0.0.1:${frontendGrpc}`, ...seedJoin]);
    }
    for (const m of fleet.members.keys()) await fleet.ready(m);
    await fleet.untilRing('3 ACTIVE ingesters', RING_HOLDERS, allActive(3));
    await poll('both queriers connected', async () => (await fleet.metric('query-frontend', 'tempo_query_frontend_connected_clients')) === 2, {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    frontendPort = await fleet.get('query-frontend').proc.httpPort();
    receiver = { host: '127.0.0.1', port: await fleet.get('distributor').proc.receiverPort(/otlp.*http/) };
  }, 120_000);

  beforeEach(() => note(expect.getState().currentTestName ?? ''));

  afterEach(async () => {
    await load?.stop();
    // I4 after every scenario: nothing exited that was not killed on purpose.
    expect(fleet.unexpectedExits).toEqual([]);
  });

  afterAll(async () => {
    await load?.stop();
    fleet?.cleanup();
    await proxy?.close();
    await s3?.stop();
  }, 240_000);

  it('REL-01 steady load on 3 ingesters (RF 3): every write acknowledged, every ring page 3 ACTIVE', async () => {
    newLoad().start();
    await load.untilAcked(60);
    await load.stop();
    expect(load.summary()).toEqual({ ok: load.outcomes.length, failed: 0, kinds: {} });
    await fleet.untilRing('3 ACTIVE ingesters', RING_HOLDERS, allActive(3), 1000);
    const r = await check();
    expect(verdict(r)).toEqual(CLEAN);
    expect(r.exact).toBe(r.traces);
  }, 240_000);

  let tokensBefore: number[] = [];
  it('REL-02 kill -9 of one ingester under load: ≥ 99.9% writes ok, UNHEALTHY everywhere within heartbeat timeout + 1 s', async () => {
    tokensBefore = (await fleet.ring('distributor')).find((s) => s.id === 'ingester-2')!.tokens;
    newLoad().start();
    await load.untilAcked(30);
    const killedAt = Date.now();
    await fleet.kill('ingester-2', 'SIGKILL');
    const seenAt = await Promise.all(
      RING_HOLDERS.filter((n) => n !== 'ingester-2').map(async (n) => {
        await poll(`ingester-2 UNHEALTHY on ${n}`, async () => (await fleet.ring(n)).find((s) => s.id === 'ingester-2')?.state === 'UNHEALTHY', {
          timeoutMs: 15_000,
          intervalMs: 50,
        });
        return Date.now() - killedAt;
      }),
    );
    expect(Math.max(...seenAt)).toBeLessThanOrEqual(HEARTBEAT_TIMEOUT_MS + 1000 + 1000 /* heartbeat period: the last beat may be that old */);
    await load.untilAcked(50);
    await load.stop();
    const s = load.summary(killedAt);
    expect(s.ok / (s.ok + s.failed)).toBeGreaterThanOrEqual(0.999);
    const r = await check();
    expect(verdict(r)).toEqual(CLEAN);
  }, 240_000);

  it('REL-03 restart on the same data dir: not ready before WAL replay ends, same tokens, no duplicates', async () => {
    const m = fleet.restart('ingester-2');
    const url = await m.proc.url('/ready');
    await poll('ingester-2 ready', async () => (await fetch(url)).status === 200, { timeoutMs: 60_000, intervalMs: 20 });
    // The replay logged before the first 200 from /ready.
    const replayed = m.proc.logs.filter((l) => l.msg === 'replayed WAL segment');
    expect(replayed.length).toBeGreaterThan(0);
    await fleet.untilRing('3 ACTIVE ingesters', RING_HOLDERS, allActive(3));
    const tokensAfter = (await fleet.ring('distributor')).find((s) => s.id === 'ingester-2')!.tokens;
    expect(tokensAfter).toEqual(tokensBefore);
    newLoad().start();
    await load.untilAcked(50);
    await load.stop();
    expect(load.summary().failed).toBe(0);
    const r = await check();
    expect(verdict(r)).toEqual(CLEAN);
  }, 240_000);

  it('REL-06 SIGTERM of an ingester under load: ready 503 at once, LEAVING then gone, exit 0, data in WAL or backend', async () => {
    newLoad().start();
    await load.untilAcked(30);
    const m = fleet.get('ingester-1');
    const readyUrl = await m.proc.url('/ready');
    let exited = false;
    void m.proc.exited.then(() => (exited = true));
    const notReady = poll('ingester-1 /ready 503 while still running', async () => (await fetch(readyUrl)).status === 503 && !exited, {
      timeoutMs: 20_000,
      intervalMs: 5,
    });
    const states = (async () => {
      const seen: string[] = [];
      await poll(
        'ingester-1 LEAVING then gone',
        async () => {
          const s = (await fleet.ring('distributor')).find((x) => x.id === 'ingester-1')?.state ?? 'gone';
          if (seen[seen.length - 1] !== s) seen.push(s);
          return s === 'gone';
        },
        { timeoutMs: 30_000, intervalMs: 5 },
      );
      return seen;
    })();
    const stopping = fleet.kill('ingester-1', 'SIGTERM');
    await notReady;
    expect((await states).slice(-2)).toEqual(['LEAVING', 'gone']);
    const exit = await stopping;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    await load.untilAcked(30);
    await load.stop();
    const s = load.summary();
    expect(s.ok / (s.ok + s.failed)).toBeGreaterThanOrEqual(0.999);
    // Back on its data dir: whatever it held is in its WAL (replayed) or in the backend.
    fleet.restart('ingester-1');
    await fleet.ready('ingester-1');
    await fleet.untilRing('3 ACTIVE ingesters', RING_HOLDERS, allActive(3));
    const r = await check();
    expect(verdict(r)).toEqual(CLEAN);
  }, 240_000);

  it('REL-05 kill -9 of 2 of 3 ingesters: writes answer 503 naming replicas required vs live, fast; nothing lost after restart', async () => {
    newLoad().start();
    await load.untilAcked(30);
    await load.stop();
    await Promise.all([fleet.kill('ingester-0', 'SIGKILL'), fleet.kill('ingester-1', 'SIGKILL')]);
    const killedAt = Date.now();
    await load.send(20);
    const during = load.between(killedAt);
    expect(during.filter((o) => o.status === 200)).toEqual([]);
    expect(during.filter((o) => o.status !== 503)).toEqual([]);
    expect(during.every((o) => o.ms < 5000)).toBe(true);
    expect(during[during.length - 1]!.message).toMatch(/write quorum not reached for trace [0-9a-f]{32}: 1 of 2 replicas required succeeded/);
    for (const n of ['ingester-0', 'ingester-1']) fleet.restart(n);
    for (const n of ['ingester-0', 'ingester-1']) await fleet.ready(n);
    await fleet.untilRing('3 ACTIVE ingesters', RING_HOLDERS, allActive(3));
    const r = await check();
    expect(verdict(r)).toEqual(CLEAN);
  }, 240_000);

  it('REL-04 kill -9 of every ingester at once under load: writes fail fast (503, never 200), zero acknowledged spans lost after restart', async () => {
    newLoad({ concurrency: 3 }).start();
    await load.untilAcked(60);
    await Promise.all(INGESTERS.map((n) => fleet.kill(n, 'SIGKILL')));
    const allDeadAt = Date.now();
    await poll('writes refused during the outage', () => load.between(allDeadAt + 200).length >= 10, { timeoutMs: 20_000 });
    const during = load.between(allDeadAt + 200);
    expect(during.filter((o) => o.status === 200)).toEqual([]);
    expect(during.filter((o) => o.status !== 503)).toEqual([]);
    expect(during.every((o) => o.ms < 5000)).toBe(true);
    for (const n of INGESTERS) fleet.restart(n);
    for (const n of INGESTERS) await fleet.ready(n);
    await fleet.untilRing('3 ACTIVE ingesters', RING_HOLDERS, allActive(3));
    await load.untilAcked(30);
    await load.stop();
    const r = await check();
    expect(r.traces).toBeGreaterThan(0);
    expect(verdict(r)).toEqual(CLEAN);
  }, 240_000);

  it('REL-17 gossip: kill -9 one member, SIGTERM another, restart both: every ring view converges within 5 s, no token owned twice', async () => {
    await fleet.kill('ingester-0', 'SIGKILL');
    const term = await fleet.kill('ingester-2', 'SIGTERM');
    expect(term.code).toBe(0);
    for (const n of ['ingester-0', 'ingester-2']) fleet.restart(n);
    for (const n of ['ingester-0', 'ingester-2']) await fleet.ready(n);
    const readyAt = Date.now();
    await Promise.all(RING_HOLDERS.map((n) => fleet.untilRing('3 ACTIVE ingesters', [n], allActive(3), 5000)));
    expect(Date.now() - readyAt).toBeLessThanOrEqual(5000);
    const views = await Promise.all(RING_HOLDERS.map(async (n) => JSON.stringify((await fleet.ring(n)).map((s) => [s.id, s.tokens]).sort())));
    expect(new Set(views).size).toBe(1);
    const tokens = (await fleet.ring('distributor')).flatMap((s) => s.tokens);
    expect(new Set(tokens).size).toBe(tokens.length);
  }, 240_000);

  it(`REL-11 object store down ${FULL ? 30 : 8} s: ingest unaffected, recent traces found, every block flushed after recovery`, async () => {
    newLoad().start();
    await load.untilAcked(20);
    await proxy.set('refuse');
    const downAt = Date.now();
    const failedBefore = await fleet.metric('ingester-0', 'tempo_ingester_failed_flushes_total');
    // A flush during the outage cannot finish: 504 after flush_op_timeout, never a false 204.
    const flushDuring = await fetch(await fleet.get('ingester-0').proc.url('/flush'), { method: 'POST' });
    expect(flushDuring.status).toBe(504);
    await poll('flush retries on ingester-0', async () => (await fleet.metric('ingester-0', 'tempo_ingester_failed_flushes_total')) > failedBefore, {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    // Recent traces are found while the store is down.
    const recent = load.ledger.ackedTraces().slice(-30);
    const during = await checkLedger(load.ledger, { port: frontendPort, only: recent });
    expect(verdict(during)).toEqual(CLEAN);
    await poll('the end of the outage', () => Date.now() >= downAt + (FULL ? 30_000 : 8000), { timeoutMs: 40_000, intervalMs: 200 });
    await load.stop();
    const s = load.summary(downAt);
    expect(s).toEqual({ ok: s.ok, failed: 0, kinds: {} });
    await proxy.set('pass');
    for (const n of INGESTERS) {
      await poll(`${n} /flush 204 after recovery`, async () => (await fetch(await fleet.get(n).proc.url('/flush'), { method: 'POST' })).status === 204, {
        timeoutMs: 30_000,
        intervalMs: 500,
      });
    }
    const r = await check();
    expect(verdict(r)).toEqual(CLEAN);
  }, 240_000);

  it('REL-18 a querier killed mid-query: the query is retried and answered; an overfull frontend queue answers 429, not 500', async () => {
    newLoad().start();
    await load.untilAcked(40);
    await load.stop();
    const traces = load.ledger.ackedTraces();
    const jobsBefore = await fleet.metric('querier-1', 'stave_querier_jobs_total');
    const reading = (async () => {
      const reports = [];
      for (let i = 0; i < 3; i++) reports.push(await checkLedger(load.ledger, { port: frontendPort, only: traces, concurrency: 4, attempts: 1 }));
      return reports;
    })();
    await poll('jobs on querier-1', async () => (await fleet.metric('querier-1', 'stave_querier_jobs_total')) > jobsBefore + 10, { intervalMs: 20 });
    await fleet.kill('querier-1', 'SIGKILL');
    for (const r of await reading) expect(verdict(r)).toEqual(CLEAN);

    const flood = await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        const res = await fetch(`http://127.0.0.1:${frontendPort}/api/traces/${(i + 1).toString(16).padStart(32, '0')}`);
        return res.status;
      }),
    );
    expect(flood.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(flood.filter((s) => s !== 429 && s !== 404)).toEqual([]);
  }, 240_000);

  it('I5 every process stops on SIGTERM with exit 0 within its grace period', async () => {
    expect(await fleet.stopAll(['distributor', 'query-frontend', 'querier-0'])).toEqual([]);
  }, 240_000);
});
