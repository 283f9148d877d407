// The scenarios that run only from `make chaos` (test/chaos/jest.chaos.config.js): REL-09 (strange files
// in the WAL dir), REL-10 (SIGSTOP an ingester), REL-07 (rolling restart of every component), REL-20
// (SIGTERM a distributor under load, run 3 times) and the seeded
// soak REL-19 (CHAOS_SOAK_MINUTES, default 20: random faults under load, then I1–I5 over everything
// acknowledged, RSS and file descriptors of the processes never restarted stay flat). The seed is printed;
// replay with CHAOS_SEED=<n>.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { httpRequest, keepAliveAgent, Prng } from '@stave/bench';
import { configYaml, OTLP_HTTP_RECEIVER } from '../support/config';
import { poll } from '../support/poll';
import { checkLedger, CLEAN, verdict } from './support/checker';
import { chaosSeed, Fleet, note } from './support/fleet';
import { ChaosLoad } from './support/load';
import { allActive, INGESTERS, startStack, type Stack } from './support/stack';

const SEED = chaosSeed('extended');
const SOAK_MINUTES = Number(process.env.CHAOS_SOAK_MINUTES ?? 20);
// The soak's bound: the soak itself, then checking every acknowledged trace by ID through the frontend,
// which grows with the soak (~40 requests/s of 3 traces each) and runs at a few hundred traces a second on
// this machine; a 30-minute soak's check alone once took longer than 15 minutes under load.
const SOAK_TIMEOUT_MS = (2 * SOAK_MINUTES + 15) * 60_000;

function procStats(pid: number): { rssMb: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

describe(`REL-09 strange files in the WAL dir (seed ${SEED})`, () => {
  const fleet = new Fleet(configYaml(OTLP_HTTP_RECEIVER));
  afterAll(() => fleet.cleanup());

  it('starts; removes empty segments; quarantines garbage and unknown files, never deletes them', async () => {
    fleet.start('stave', 'all');
    await fleet.ready('stave');
    const receiver = { host: '127.0.0.1', port: await fleet.get('stave').proc.receiverPort(/otlp.*http/) };
    const load = new ChaosLoad({ seed: SEED, targets: [receiver] });
    await load.send(20);
    await fleet.kill('stave', 'SIGKILL');
    const tenantDir = path.join(fleet.get('stave').dataDir, 'wal', 'single-tenant');
    mkdirSync(tenantDir, { recursive: true });
    const empty = path.join(tenantDir, '00000000-0000-4000-8000-000000000001.wal');
    const garbage = path.join(tenantDir, '00000000-0000-4000-8000-000000000002.wal');
    const unknown = path.join(tenantDir, 'notes.txt');
    writeFileSync(empty, '');
    writeFileSync(garbage, new Prng(SEED).bytes(new Uint8Array(4096)));
    writeFileSync(unknown, 'an operator left this here\n');
    fleet.restart('stave');
    await fleet.ready('stave');
    expect(existsSync(empty)).toBe(false);
    expect(existsSync(garbage)).toBe(false);
    expect(existsSync(unknown)).toBe(false);
    const quarantined = readdirSync(path.join(fleet.get('stave').dataDir, 'wal', 'quarantine'), { recursive: true }).map(String);
    note(`REL-09 quarantine: ${quarantined.join(', ')}`);
    expect(quarantined.some((f) => f.includes('00000000-0000-4000-8000-000000000002'))).toBe(true);
    expect(quarantined.some((f) => f.includes('notes.txt'))).toBe(true);
    const port = await fleet.get('stave').proc.httpPort();
    expect(verdict(await checkLedger(load.ledger, { port }))).toEqual(CLEAN);
    expect(await fleet.stopAll()).toEqual([]);
    expect(fleet.unexpectedExits).toEqual([]);
  }, 180_000);
});

describe(`chaos on a fleet with two distributors (seed ${SEED})`, () => {
  let stack: Stack;
  let fleet: Fleet;
  let seq = 0;
  const load = (targets = stack.receivers) => new ChaosLoad({ seed: SEED + ++seq, targets, concurrency: 2, pauseMs: 10, tracesPerRequest: 3 });
  beforeAll(async () => {
    stack = await startStack({ distributors: 2 });
    fleet = stack.fleet;
  }, 180_000);
  afterEach(() => expect(fleet.unexpectedExits).toEqual([]));
  afterAll(() => stack?.close());

  it('REL-10 SIGSTOP of an ingester for 10 s: ≥ 99.9% writes ok, p99 within the client timeout + 250 ms', async () => {
    const l = load().start();
    await l.untilAcked(20);
    const pid = fleet.get('ingester-1').proc.child.pid!;
    const t0 = Date.now();
    process.kill(pid, 'SIGSTOP');
    try {
      await poll('10 s of SIGSTOP', () => Date.now() >= t0 + 10_000, { timeoutMs: 20_000, intervalMs: 200 });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await l.untilAcked(20);
    await l.stop();
    const s = l.summary(t0);
    const lat = l
      .between(t0)
      .map((o) => o.ms)
      .sort((a, b) => a - b);
    const p99 = lat[Math.floor(lat.length * 0.99)] ?? 0;
    note(`REL-10 ${JSON.stringify(s)} p99 ${p99.toFixed(0)} ms ${l.failureMessages(t0).join(' | ')}`);
    expect(s.ok / (s.ok + s.failed)).toBeGreaterThanOrEqual(0.999);
    expect(p99).toBeLessThanOrEqual(5000 + 250);
    await fleet.untilRing('3 ACTIVE ingesters', stack.ringHolders, allActive(3));
    expect(verdict(await checkLedger(l.ledger, { port: stack.frontendPort }))).toEqual(CLEAN);
  }, 180_000);

  it('REL-07 rolling restart of every component (SIGTERM, restart, ready, next): ≥ 99.9% writes and ≥ 99.5% queries ok', async () => {
    const l = load().start();
    await l.untilAcked(30);
    // Readers: lookups of acknowledged traces through the frontend, one after another, all along.
    const reads: Array<{ at: number; status: number }> = [];
    let reading = true;
    const reader = (async () => {
      const agent = keepAliveAgent(2);
      const rng = new Prng(SEED ^ 0x07);
      try {
        while (reading) {
          const acked = l.ledger.ackedTraces();
          const [id] = acked[rng.int(0, acked.length - 1)]!;
          const res = await httpRequest(agent, {
            host: '127.0.0.1',
            port: stack.frontendPort,
            method: 'GET',
            path: `/api/traces/${id}`,
            headers: {},
            timeoutMs: 15_000,
          });
          reads.push({ at: Date.now(), status: res.status });
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        agent.destroy();
      }
    })();
    // One component at a time, as a rollout does: a distributor leaves the load balancer (the targets)
    // before its SIGTERM and comes back once ready; the others are found through the ring and the frontend.
    const order = [...stack.distributors, ...INGESTERS, ...stack.queriers, 'query-frontend'];
    let frontendDown: [number, number] | undefined;
    try {
      for (const name of order) {
        const isDistributor = stack.distributors.includes(name);
        const index = stack.distributors.indexOf(name);
        if (isDistributor) l.targets = stack.receivers.filter((_, i) => i !== index);
        const t0 = Date.now();
        const exit = await fleet.kill(name, 'SIGTERM');
        expect({ name, code: exit.code, signal: exit.signal }).toEqual({ name, code: 0, signal: null });
        fleet.restart(name);
        await fleet.ready(name);
        if (name === 'query-frontend') {
          frontendDown = [t0, Date.now()];
          await poll(
            'queriers connected to the restarted frontend',
            async () => (await fleet.metric('query-frontend', 'tempo_query_frontend_connected_clients')) === stack.queriers.length,
            {
              timeoutMs: 60_000,
              intervalMs: 200,
            },
          );
        }
        if (isDistributor) {
          stack.receivers[index] = { host: '127.0.0.1', port: await fleet.get(name).proc.receiverPort(/otlp.*http/) };
          l.targets = stack.receivers;
        }
        await fleet.untilRing('3 ACTIVE ingesters', stack.ringHolders, allActive(3), 60_000);
        note(`REL-07 ${name} restarted in ${Date.now() - t0} ms`);
        await l.untilAcked(10, 60_000);
      }
    } finally {
      reading = false;
      await reader;
      await l.stop();
    }
    const s = l.summary();
    // With one query-frontend its own restart is downtime for readers (docs/reliability.md): counted apart.
    const [downFrom, downTo] = frontendDown ?? [0, 0];
    const counted = reads.filter((r) => r.at < downFrom || r.at > downTo);
    const readsOk = counted.filter((r) => r.status === 200).length;
    const during = reads.filter((r) => r.at >= downFrom && r.at <= downTo);
    note(
      `REL-07 writes ${JSON.stringify(s)}; reads ${readsOk}/${counted.length} ok outside the frontend's restart, ${during.filter((r) => r.status === 200).length}/${during.length} during it (${downTo - downFrom} ms)`,
    );
    expect(s.ok / (s.ok + s.failed)).toBeGreaterThanOrEqual(0.999);
    expect(readsOk / counted.length).toBeGreaterThanOrEqual(0.995);
    expect(verdict(await checkLedger(l.ledger, { port: stack.frontendPort }))).toEqual(CLEAN);
  }, 600_000);

  it('REL-20 SIGTERM of a distributor under load, 3 times: requests it accepted complete (no reset), exit 0, the other takes the rest', async () => {
    const l = load().start();
    try {
      for (let round = 1; round <= 3; round++) {
        l.targets = stack.receivers;
        await l.untilAcked(30);
        const t0 = Date.now();
        const r = await fleet.kill('distributor-1', 'SIGTERM');
        expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
        l.targets = [stack.receivers[0]!];
        await l.untilAcked(30);
        const s = l.summary(t0);
        note(`REL-20 round ${round}: ${JSON.stringify(s)} (stopped in ${r.ms} ms)`);
        fleet.restart('distributor-1');
        await fleet.ready('distributor-1');
        stack.receivers[1] = { host: '127.0.0.1', port: await fleet.get('distributor-1').proc.receiverPort(/otlp.*http/) };
      }
    } finally {
      await l.stop();
    }
    const s = l.summary();
    note(`REL-20 ${JSON.stringify(s)}`);
    // A connection refused after the listener closed is a client's cue to go elsewhere; an accepted
    // request answered with an error or cut off (ECONNRESET, EPIPE, a 5xx) is not allowed.
    expect(Object.keys(s.kinds).filter((k) => k !== 'ECONNREFUSED')).toEqual([]);
    expect(verdict(await checkLedger(l.ledger, { port: stack.frontendPort }))).toEqual(CLEAN);
    await fleet.untilRing('3 ACTIVE ingesters', stack.ringHolders, allActive(3), 60_000);
  }, 400_000);

  it(
    `REL-19 seeded soak, ${SOAK_MINUTES} min of random faults under load: I1–I5, RSS and fds flat`,
    async () => {
      const rng = new Prng(SEED);
      const l = load([stack.receivers[0]!]).start();
      const steady = ['distributor-0', 'query-frontend'];
      let first: Record<string, { rssMb: number; fds: number }> | undefined;
      let rounds = 0;
      try {
        await l.untilAcked(50);
        first = Object.fromEntries(steady.map((n) => [n, procStats(fleet.get(n).proc.child.pid!)]));
        const end = Date.now() + SOAK_MINUTES * 60_000;
        const faults = ['kill -9 ingester', 'SIGTERM ingester', 'SIGSTOP ingester', 's3 outage', 's3 latency', 'kill -9 querier'] as const;
        while (Date.now() < end) {
          const fault = rng.pick(faults);
          const ingester = rng.pick(INGESTERS);
          note(`REL-19 round ${++rounds}: ${fault}${fault.includes('ingester') ? ` (${ingester})` : ''}`);
          if (fault === 'kill -9 ingester' || fault === 'SIGTERM ingester') {
            await fleet.kill(ingester, fault === 'kill -9 ingester' ? 'SIGKILL' : 'SIGTERM');
            await l.untilAcked(10, 60_000);
            fleet.restart(ingester);
            await fleet.ready(ingester);
          } else if (fault === 'SIGSTOP ingester') {
            const pid = fleet.get(ingester).proc.child.pid!;
            process.kill(pid, 'SIGSTOP');
            const t = Date.now();
            await poll('5 s stopped', () => Date.now() >= t + 5000, { timeoutMs: 10_000, intervalMs: 100 }).finally(() => process.kill(pid, 'SIGCONT'));
          } else if (fault === 's3 outage' || fault === 's3 latency') {
            await stack.s3Proxy.set(fault === 's3 outage' ? 'refuse' : 'pass', { latencyMs: fault === 's3 latency' ? 200 : 0 });
            const t = Date.now();
            await poll('10 s of store trouble', () => Date.now() >= t + 10_000, { timeoutMs: 20_000, intervalMs: 200 });
            await stack.s3Proxy.set('pass', { latencyMs: 0 });
          } else {
            const q = rng.pick(stack.queriers);
            await fleet.kill(q, 'SIGKILL');
            fleet.restart(q);
            await fleet.ready(q);
          }
          await fleet.untilRing('3 ACTIVE ingesters', stack.ringHolders, allActive(3), 60_000);
          await l.untilAcked(20, 60_000);
          expect(fleet.unexpectedExits).toEqual([]);
        }
      } finally {
        await l.stop();
      }
      for (const n of INGESTERS) {
        await poll(`${n} /flush 204`, async () => (await fetch(await fleet.get(n).proc.url('/flush'), { method: 'POST' })).status === 204, {
          timeoutMs: 60_000,
          intervalMs: 1000,
        });
      }
      const last = Object.fromEntries(steady.map((n) => [n, procStats(fleet.get(n).proc.child.pid!)]));
      note(`REL-19 ${rounds} rounds; load ${JSON.stringify(l.summary())}; first ${JSON.stringify(first)} last ${JSON.stringify(last)}`);
      const checkStart = Date.now();
      const r = await checkLedger(l.ledger, { port: stack.frontendPort, concurrency: 8 });
      note(`REL-19 checked ${r.exact}/${r.traces} exact in ${((Date.now() - checkStart) / 1000).toFixed(0)} s: ${JSON.stringify(verdict(r))}`);
      expect(verdict(r)).toEqual(CLEAN);
      for (const n of steady) {
        expect(last[n]!.rssMb - first![n]!.rssMb).toBeLessThan(100);
        expect(last[n]!.fds - first![n]!.fds).toBeLessThan(50);
      }
      expect(await fleet.stopAll(['distributor-0', 'distributor-1', 'query-frontend', ...stack.queriers])).toEqual([]);
    },
    SOAK_TIMEOUT_MS,
  );
});
