// The chaos tier on a fleet of separate processes on loopback: 1 distributor (the gossip seed), 3 ingesters
// (RF 3), 1 query-frontend and 2 queriers, on s3rver behind a fault proxy. The scenarios of
// docs/reliability.md run in order on the same fleet under a seeded load (the seed is printed; replay with
// CHAOS_SEED=<n>), and after each the invariants are checked: every acknowledged span read back exact by ID
// through the frontend (I1, I2, I3), no process exited unless killed (I4); at the end every process stops
// on SIGTERM with exit 0 within its grace period (I5).

import { poll } from '../support/poll';
import { checkLedger, CLEAN, verdict } from './support/checker';
import { chaosSeed, note, type Fleet } from './support/fleet';
import { ChaosLoad, type Target } from './support/load';
import { allActive, HEARTBEAT_TIMEOUT_MS, INGESTERS, startStack, type Stack } from './support/stack';

const SEED = chaosSeed('fleet');
/** CHAOS_FULL=1 (make chaos): the outage lasts as long as RELIABILITY.md says. */
const FULL = process.env.CHAOS_FULL === '1';
const RING_HOLDERS = ['distributor-0', ...INGESTERS, 'querier-0', 'querier-1'];

describe(`chaos on a fleet (seed ${SEED})`, () => {
  let stack: Stack;
  let fleet: Fleet;
  let load: ChaosLoad;
  let frontendPort: number;
  let receiver: Target;
  let seq = 0;
  const newLoad = (extra: Partial<ConstructorParameters<typeof ChaosLoad>[0]> = {}): ChaosLoad =>
    (load = new ChaosLoad({ seed: SEED + ++seq, targets: [receiver], concurrency: 2, pauseMs: 10, tracesPerRequest: 3, ...extra }));
  const check = async (all = false) => {
    note(`load: ${JSON.stringify(load.summary())}; checking ${load.ledger.ackedTraces().length} traces`);
    const r = await checkLedger(load.ledger, { port: frontendPort, ...(all || FULL ? {} : { sample: { max: 80, seed: SEED } }) });
    note(`checked: ${r.exact}/${r.traces} exact, ${JSON.stringify(verdict(r))} ${JSON.stringify(r.messages)}`);
    return r;
  };

  beforeAll(async () => {
    stack = await startStack();
    fleet = stack.fleet;
    frontendPort = stack.frontendPort;
    receiver = stack.receivers[0]!;
  }, 120_000);

  // Each scenario starts on a whole fleet (a failed one may have left members down).
  beforeEach(async () => {
    note(expect.getState().currentTestName ?? '');
    await stack.s3Proxy.set('pass', { latencyMs: 0 });
    for (const n of INGESTERS) if (!fleet.isRunning(n)) fleet.restart(n);
    for (const n of INGESTERS) await fleet.ready(n);
    await fleet.untilRing(
      '3 ACTIVE ingesters',
      RING_HOLDERS.filter((n) => fleet.isRunning(n)),
      allActive(3),
      60_000,
    );
  }, 120_000);

  afterEach(async () => {
    await load?.stop();
    // I4 after every scenario: nothing exited that was not killed on purpose.
    expect(fleet.unexpectedExits).toEqual([]);
  });

  afterAll(async () => {
    await load?.stop();
    await stack?.close();
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
  it('REL-02 kill -9 of one ingester under load: ≥ 99.9% writes ok, UNHEALTHY everywhere within heartbeat timeout + 1 s; REL-03 restart on the same data dir: not ready before WAL replay ends, same tokens, no duplicates', async () => {
    tokensBefore = (await fleet.ring('distributor-0')).find((s) => s.id === 'ingester-2')!.tokens;
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
    expect(verdict(await check())).toEqual(CLEAN);

    // REL-03: back on the same data dir.
    const m = fleet.restart('ingester-2');
    const url = await m.proc.url('/ready');
    await poll('ingester-2 ready', async () => (await fetch(url)).status === 200, { timeoutMs: 60_000, intervalMs: 20 });
    // The replay logged before the first 200 from /ready.
    const replayed = m.proc.logs.filter((l) => l.msg === 'replayed WAL segment');
    expect(replayed.length).toBeGreaterThan(0);
    await fleet.untilRing('3 ACTIVE ingesters', RING_HOLDERS, allActive(3));
    const tokensAfter = (await fleet.ring('distributor-0')).find((s) => s.id === 'ingester-2')!.tokens;
    expect(tokensAfter).toEqual(tokensBefore);
    newLoad().start();
    await load.untilAcked(50);
    await load.stop();
    expect(load.summary().failed).toBe(0);
    const r = await check();
    expect(verdict(r)).toEqual(CLEAN);
  }, 360_000);

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
    // LEAVING lasts only as long as the drain (no flush_all_on_shutdown: head blocks are sealed in the WAL),
    // often too short for a peer's page to show it before the tombstone: the victim's log says it went
    // LEAVING before it unregistered, and every peer's page ends with it gone.
    const watch = (page: string, until: (s: string) => boolean) =>
      (async () => {
        const seen: string[] = [];
        await poll(
          `ingester-1 on ${page}'s ring page`,
          async () => {
            const st = (await fleet.ring(page).catch(() => undefined))?.find((x) => x.id === 'ingester-1')?.state ?? 'gone';
            if (seen[seen.length - 1] !== st) seen.push(st);
            return until(st);
          },
          { timeoutMs: 30_000, intervalMs: 5 },
        ).catch((err: unknown) => {
          throw new Error(
            `${String(err)}; states seen: ${seen.join(' → ')}; ingester-1 exited: ${exited}; its last logs: ${fleet.lastLogs('ingester-1')}; ${page}'s last logs: ${fleet.lastLogs(page)}`,
          );
        });
        return seen;
      })();
    const states = Promise.all(['distributor-0', 'ingester-0', 'ingester-2'].map((p) => watch(p, (st) => st === 'gone')));
    const stopping = fleet.kill('ingester-1', 'SIGTERM');
    await notReady;
    const seen = await states;
    note(`REL-06 states seen on the peers' pages: ${JSON.stringify(seen)}`);
    for (const peer of seen) expect(peer[peer.length - 1]).toBe('gone');
    const exit = await stopping;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    const ringLog = m.proc.logs
      .filter((l) => (l.msg === 'ring state changed' && l.state === 'LEAVING') || l.msg === 'unregistered from the ring')
      .map((l) => (l.msg === 'ring state changed' ? 'LEAVING' : 'gone'));
    expect(ringLog).toEqual(['LEAVING', 'gone']);
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
    // Before the ring shows them UNHEALTHY: the quorum count; after: the ring's own count.
    for (const o of during)
      expect(o.message).toMatch(
        /write quorum not reached for trace [0-9a-f]{32}: 1 of 2 replicas required succeeded|too few healthy ingesters: 2 replicas required, 1 healthy/,
      );
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
    // Acceptance 2: every acknowledged trace, not a sample.
    const r = await check(true);
    expect(r.traces).toBe(load.ledger.ackedTraces().length);
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
    const tokens = (await fleet.ring('distributor-0')).flatMap((s) => s.tokens);
    expect(new Set(tokens).size).toBe(tokens.length);
  }, 240_000);

  it(`REL-11 object store down ${FULL ? 30 : 8} s: ingest unaffected, recent traces answered exact meanwhile (marked partial when blocks were unreadable), every block flushed after recovery`, async () => {
    newLoad().start();
    await load.untilAcked(20);
    // Blocks in the backend that the queriers know of, so lookups during the outage meet unreadable blocks.
    const listed = await fleet.metric('querier-0', 'tempodb_blocklist_length');
    for (const n of INGESTERS)
      expect((await fetch(await fleet.get(n).proc.url('/flush'), { method: 'POST', signal: AbortSignal.timeout(30_000) })).status).toBe(204);
    await poll("a new block in querier-0's blocklist", async () => (await fleet.metric('querier-0', 'tempodb_blocklist_length')) > listed, {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    await stack.s3Proxy.set('refuse');
    const downAt = Date.now();
    note('REL-11 store refused');
    const failedBefore = await fleet.metric('ingester-0', 'tempo_ingester_failed_flushes_total');
    // Something to flush that cannot reach the store: a trace that reached ingester-0 after the refusal
    // (at quorum, ingester-0 may not have had a head block when the last acknowledged push answered).
    const createdAtRefusal = await fleet.metric('ingester-0', 'tempo_ingester_traces_created_total');
    await poll(
      'a trace on ingester-0 after the refusal',
      async () => (await fleet.metric('ingester-0', 'tempo_ingester_traces_created_total')) > createdAtRefusal,
      {
        timeoutMs: 20_000,
        intervalMs: 100,
      },
    );
    // A flush during the outage cannot finish: 504 after flush_op_timeout, never a false 204.
    const flushDuring = await fetch(await fleet.get('ingester-0').proc.url('/flush'), { method: 'POST', signal: AbortSignal.timeout(30_000) });
    note(`REL-11 /flush during the outage: ${flushDuring.status}`);
    expect(flushDuring.status).toBe(504);
    await poll('flush retries on ingester-0', async () => (await fleet.metric('ingester-0', 'tempo_ingester_failed_flushes_total')) > failedBefore, {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    // Recent traces while the store is down (RELIABILITY.md: still found): the ingesters hold them, so every
    // answer is 200 with every acknowledged span; a lookup whose backend blocks could not be read is marked
    // partial (docs/reliability.md, "Object store down"), never a 5xx, a 404 or a short 200.
    const recent = load.ledger.ackedTraces().slice(-30);
    const during = await checkLedger(load.ledger, { port: frontendPort, only: recent, attempts: 1 });
    note(
      `REL-11 recent traces during the outage: ${during.exact}/${during.traces} exact ${JSON.stringify(verdict(during))} ${JSON.stringify(during.messages)}`,
    );
    expect(verdict(during)).toEqual(CLEAN);
    const v2 = await Promise.all(
      recent.slice(0, 5).map(async ([id]) => {
        const res = await fetch(`http://127.0.0.1:${frontendPort}/api/v2/traces/${id}`, { signal: AbortSignal.timeout(15_000) });
        const body = (await res.json()) as { status?: string; message?: string };
        return { status: res.status, partial: body.status ?? 'COMPLETE', header: res.headers.get('stave-partial') !== null };
      }),
    );
    note(`REL-11 v2 answers during the outage: ${JSON.stringify(v2)}`);
    for (const a of v2)
      expect({ status: a.status, partialMarkedBoth: (a.partial === 'PARTIAL') === a.header }).toEqual({ status: 200, partialMarkedBoth: true });
    await poll('the end of the outage', () => Date.now() >= downAt + (FULL ? 30_000 : 8000), { timeoutMs: 40_000, intervalMs: 200 });
    await load.stop();
    const s = load.summary(downAt);
    expect(s).toEqual({ ok: s.ok, failed: 0, kinds: {} });
    await stack.s3Proxy.set('pass');
    note('REL-11 store back');
    for (const n of INGESTERS) {
      await poll(
        `${n} /flush 204 after recovery`,
        async () => (await fetch(await fleet.get(n).proc.url('/flush'), { method: 'POST', signal: AbortSignal.timeout(20_000) })).status === 204,
        {
          timeoutMs: 30_000,
          intervalMs: 500,
        },
      );
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
    for (const r of await reading) {
      note(`REL-18 reads: ${r.exact}/${r.traces} exact ${JSON.stringify(r.messages)}`);
      expect(verdict(r)).toEqual(CLEAN);
    }

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
    expect(await fleet.stopAll(['distributor-0', 'query-frontend', 'querier-0'])).toEqual([]);
  }, 240_000);
});
