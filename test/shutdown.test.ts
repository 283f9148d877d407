// REL-06 through `/shutdown`: three `bin/stave -target=scalable-single-binary` processes on loopback,
// joined by memberlist, replication factor 3, sharing one local backend directory (as they would share a
// bucket). Under load from the bench generator, `/shutdown` on one of them: its /ready answers 503 before
// it exits 0, the others' ring pages show it LEAVING and then gone, and every acknowledged span is read
// back afterwards. Then SIGTERM on a second one (flush_all_on_shutdown off): exit 0 with its data in the WAL.

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generatePool, runLoad, timeQueries } from '@stave/bench';
import { poll } from './support/poll';
import { startStave, type StaveProcess } from './support/stave-process';

const CONFIG = [
  'distributor:',
  '  receivers:',
  '    otlp:',
  '      protocols:',
  '        http:',
  '          endpoint: 127.0.0.1:0',
  'ingester:',
  '  lifecycler:',
  '    heartbeat_period: 500ms',
  '    ring:',
  '      replication_factor: 3',
  '      heartbeat_timeout: 3s',
  'storage:',
  '  trace:',
  '    blocklist_poll: 1s',
  'overrides:',
  '  defaults:',
  '    ingestion:',
  '      rate_limit_bytes: 1000000000',
  '      burst_size_bytes: 1000000000',
  '      max_traces_per_user: 1000000',
  '',
].join('\n');

interface RingJson {
  shards: Array<{ id: string; state: string }>;
}

async function ring(p: StaveProcess): Promise<RingJson> {
  const res = await fetch(await p.url('/ingester/ring'), { headers: { accept: 'application/json' } });
  return (await res.json()) as RingJson;
}

/** Non-empty WAL segments a process left in its data directory. */
function walSegments(p: StaveProcess): string[] {
  const wal = path.join(p.dataDir, 'wal');
  return readdirSync(wal, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'blocks' && d.name !== 'quarantine')
    .flatMap((d) => readdirSync(path.join(wal, d.name)).map((f) => path.join(wal, d.name, f)))
    .filter((f) => f.endsWith('.wal') && statSync(f).size > 0);
}

/** Spans the distributor has taken so far, from its own metric. */
async function spansReceived(p: StaveProcess): Promise<number> {
  const text = await (await fetch(await p.url('/metrics'))).text();
  const m = /^tempo_distributor_spans_received_total\{[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('/shutdown of one ingester of three (RF 3) under load', () => {
  const procs: StaveProcess[] = [];
  const backend = mkdtempSync(path.join(os.tmpdir(), 'stave-shared-backend-'));
  afterAll(async () => {
    for (const p of procs) {
      await p.stop();
      p.cleanup();
    }
    rmSync(backend, { recursive: true, force: true });
  });

  it('goes not ready, LEAVING, then gone, exits 0, and loses no acknowledged span', async () => {
    const start = (i: number, join: string[] = []) =>
      startStave({
        configYaml: CONFIG,
        args: [
          '-target=scalable-single-binary',
          // One ID per process in every ring (the default, the host name, is the same for all three here).
          `-ingester.lifecycler.id=ingester-${i}`,
          `-distributor.ring.instance-id=distributor-${i}`,
          `-compactor.ring.instance-id=compactor-${i}`,
          `-metrics-generator.ring.instance-id=generator-${i}`,
          `-storage.trace.local.path=${backend}`,
          ...join,
        ],
      });
    procs.push(start(0));
    const seed = await poll('memberlist to listen', () => {
      const l = procs[0]!.logs.find((x) => x.msg === 'memberlist listening');
      return l ? Number(String(l.bind).split(':').pop()) : undefined;
    });
    for (const i of [1, 2]) procs.push(start(i, [`-memberlist.join-members=127.0.0.1:${seed}`]));
    for (const p of procs) {
      await poll(
        'three ACTIVE ingesters on every ring page',
        async () => {
          const r = await ring(p);
          return r.shards.length === 3 && r.shards.every((s) => s.state === 'ACTIVE');
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    }
    const [entry, other, victim] = procs as [StaveProcess, StaveProcess, StaveProcess];

    const pool = generatePool({ seed: 6, traces: 1200, batchSpans: 200, nowMs: Date.now() });
    const loading = runLoad(pool, {
      host: '127.0.0.1',
      port: await entry.receiverPort(/otlp.*http/),
      concurrency: 4,
      rounds: 1,
      progress: false,
      timeoutMs: 10_000,
    });
    await poll('a third of the load received', async () => (await spansReceived(entry)) >= pool.spanCount / 3, { timeoutMs: 60_000, intervalMs: 20 });

    // Watch the victim's readiness and the others' ring pages from before the request on.
    let exited = false;
    void victim.exited.then(() => (exited = true));
    const notReadyBeforeExit = poll(
      'the victim to answer /ready 503 while still running',
      async () => {
        const res = await fetch(await victim.url('/ready'));
        return res.status === 503 && !exited;
      },
      { timeoutMs: 30_000, intervalMs: 5 },
    );
    const states = [entry, other].map(async (p) => {
      const seen: string[] = [];
      await poll(
        'the victim LEAVING, then gone',
        async () => {
          const s = (await ring(p)).shards.find((x) => x.id === 'ingester-2')?.state ?? 'gone';
          if (seen[seen.length - 1] !== s) seen.push(s);
          return s === 'gone';
        },
        { timeoutMs: 30_000, intervalMs: 5 },
      );
      return seen;
    });

    const shutdownAt = Date.now();
    const res = await fetch(await victim.url('/shutdown'), { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('shutdown job acknowledged\n');
    await notReadyBeforeExit;
    for (const seen of await Promise.all(states)) expect(seen.slice(-2)).toEqual(['LEAVING', 'gone']);
    expect(await victim.exited).toEqual({ code: 0, signal: null });
    // The survivors are in service (their readiness latched once reached; a peer leaving does not undo it).
    for (const p of [entry, other]) {
      const r = await fetch(await p.url('/ready'));
      expect(`${r.status} ${await r.text()}`).toBe('200 ready\n');
    }

    const load = await loading;
    expect(load.ackedSpans).toBeGreaterThan(pool.spanCount / 3);
    // Under load: acknowledgements went on after the shutdown began.
    expect(load.lastAckAt).toBeGreaterThan(shutdownAt);
    // Every block flushed to the shared backend: the victim left no WAL segment behind.
    expect(victim.logs.some((l) => l.msg === 'flushed before shutdown')).toBe(true);
    expect(walSegments(victim)).toEqual([]);

    const traces = load.ledger.exactTraces();
    // Read back through the query-frontend of a survivor, four readers at once over disjoint quarters.
    const quarters = [0, 1, 2, 3].map((q) => traces.filter((_, i) => i % 4 === q));
    const port = await entry.httpPort();
    const results = await Promise.all(quarters.map((part, q) => timeQueries({ host: '127.0.0.1', port, traces: part, queries: part.length, seed: q })));
    const sum = (k: 'queries' | 'notFound' | 'short' | 'missingSpans' | 'duplicateSpans') => results.reduce((a, r) => a + r[k], 0);
    // A request refused after reaching one replica may add spans ("long"); none may be missing.
    expect({
      queries: sum('queries'),
      notFound: sum('notFound'),
      short: sum('short'),
      missingSpans: sum('missingSpans'),
      duplicates: sum('duplicateSpans'),
      errors: Object.assign({}, ...results.map((r) => r.errors)) as Record<string, number>,
    }).toEqual({ queries: traces.length, notFound: 0, short: 0, missingSpans: 0, duplicates: 0, errors: {} });

    // SIGTERM without flush_all_on_shutdown: not ready while it drains, gone from the ring, exit 0, and
    // the data kept in its WAL for replay.
    const ready = poll('the second one to answer /ready 503 while still running', async () => (await fetch(await other.url('/ready'))).status === 503, {
      intervalMs: 5,
    });
    other.child.kill('SIGTERM');
    await ready;
    expect(await other.exited).toEqual({ code: 0, signal: null });
    await poll('the second one gone from the ring', async () => !(await ring(entry)).shards.some((x) => x.id === 'ingester-1'), { intervalMs: 50 });
    expect(walSegments(other).length).toBeGreaterThan(0);
  }, 240_000);
});
