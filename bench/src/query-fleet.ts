// Trace-by-ID through the query path as a fleet vs the single binary, on the same workload in one run:
//  A. `-target=all` (one process; its querier pulls from its own frontend in-process);
//  B. separate processes on loopback: 2 ingesters (RF 2, memberlist), 1 distributor, 1 query-frontend and
//     2 queriers that pull jobs over `Frontend.Process`.
// Each gets the same traces through OTLP HTTP, then `--queries` random acknowledged IDs are read one at a
// time through the frontend, 1 s after the last ack (ingesters) and again after /flush (blocks).
//
//   node bench/dist/query-fleet.js [--traces 2000 --queries 300 --seed 1 --out bench/results/query-fleet.md]

import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ArgError, intArg, parseArgs } from './args';
import { httpRequest, keepAliveAgent } from './http-client';
import { runLoad } from './loadgen';
import { describeMachine, machineInfo } from './machine';
import { timeQueries, type QueryResult } from './query';
import { fmtMs, sleep } from './stats';
import { startStave, type StaveProcess } from './stave-process';
import { generatePool, type Pool } from './workload';

interface Phase {
  setup: string;
  phase: string;
  r: QueryResult;
}

async function get(port: number, p: string, method: 'GET' | 'POST' = 'GET'): Promise<{ status: number; body: string }> {
  const agent = keepAliveAgent(1);
  try {
    const res = await httpRequest(agent, { host: '127.0.0.1', port, method, path: p, timeoutMs: 120_000 });
    return { status: res.status, body: res.body.toString() };
  } finally {
    agent.destroy();
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function measure(setup: string, pool: Pool, queries: number, seed: number, otlp: number, http: number, ingesters: number[]): Promise<Phase[]> {
  const load = await runLoad(pool, { host: '127.0.0.1', port: otlp, concurrency: 8, rounds: 1, progress: false });
  if (Object.keys(load.errors).length > 0) throw new Error(`${setup}: load errors ${JSON.stringify(load.errors)}`);
  const traces = load.ledger.exactTraces();
  await sleep(Math.max(0, load.lastAckAt + 1000 - Date.now()));
  const before = await timeQueries({ host: '127.0.0.1', port: http, traces, queries, seed, label: 'before flush' });
  for (const p of ingesters) if ((await get(p, '/flush', 'POST')).status !== 204) throw new Error(`${setup}: /flush failed`);
  await sleep(2500); // two blocklist polls (1 s)
  const after = await timeQueries({ host: '127.0.0.1', port: http, traces, queries, seed: seed + 1, label: 'after flush' });
  return [
    { setup, phase: 'ingesters (before flush)', r: before },
    { setup, phase: 'blocks (after flush)', r: after },
  ];
}

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { known: ['traces', 'queries', 'seed', 'out', 'help'], booleans: ['help'] });
  if (args.has('help')) {
    process.stdout.write('node bench/dist/query-fleet.js [--traces 2000] [--queries 300] [--seed 1] [--out FILE]\n');
    return;
  }
  const traces = intArg(args, 'traces', 2000, 1);
  const queries = intArg(args, 'queries', 300, 1);
  const seed = intArg(args, 'seed', 1);
  const pool = generatePool({ seed, traces, batchSpans: 200, nowMs: Date.now() });
  const fast = [
    '-memberlist.bind-addr=127.0.0.1',
    '-memberlist.bind-port=0',
    '-ingester.lifecycler.address=127.0.0.1',
    '-ingester.lifecycler.min-ready-duration=0s',
  ];
  const tuning = ['-storage.trace.blocklist-poll=1s'];
  const phases: Phase[] = [];
  const loadAvg: string[] = [];
  const root = mkdtempSync(path.join(os.tmpdir(), 'stave-bench-fleet-'));
  const procs: StaveProcess[] = [];
  try {
    // A. the single binary.
    mkdirSync(path.join(root, 'all'));
    const all = await startStave({ dataDir: path.join(root, 'all'), extraArgs: [...fast, ...tuning] });
    procs.push(all);
    loadAvg.push(`all: ${os.loadavg()[0]!.toFixed(1)}`);
    phases.push(...(await measure('-target=all', pool, queries, seed, all.otlpHttpPort, all.httpPort, [all.httpPort])));
    await all.stop();
    procs.length = 0;

    // B. the fleet, sharing one local backend directory.
    const blocks = path.join(root, 'fleet-blocks');
    const start = async (name: string, extra: string[], otlp = false): Promise<StaveProcess> => {
      const dir = path.join(root, name);
      mkdirSync(dir);
      const p = await startStave({
        dataDir: dir,
        otlp,
        extraArgs: [...fast, ...tuning, `-storage.trace.local.path=${blocks}`, '-ingester.lifecycler.ring.replication-factor=2', ...extra],
      });
      procs.push(p);
      return p;
    };
    const ing0 = await start('ingester-0', ['-target=ingester', '-ingester.lifecycler.id=ingester-0']);
    const join = `-memberlist.join-members=127.0.0.1:${ing0.memberlistPort}`;
    const ing1 = await start('ingester-1', ['-target=ingester', '-ingester.lifecycler.id=ingester-1', join]);
    const dist = await start('distributor', ['-target=distributor', join], true);
    const frontend = await start('query-frontend', ['-target=query-frontend']);
    const worker = `-querier.frontend-worker.frontend-address=127.0.0.1:${frontend.grpcPort}`;
    for (const i of [0, 1]) await start(`querier-${i}`, ['-target=querier', join, worker]);
    await until('two ACTIVE ingesters in the distributor ring', async () => {
      const r = await get(dist.httpPort, '/ingester/ring');
      return (r.body.match(/ACTIVE/g) ?? []).length >= 2;
    });
    await until('two queriers connected to the frontend', async () =>
      /tempo_query_frontend_connected_clients 2\b/.test((await get(frontend.httpPort, '/metrics')).body),
    );
    loadAvg.push(`fleet: ${os.loadavg()[0]!.toFixed(1)}`);
    phases.push(...(await measure('frontend + 2 queriers', pool, queries, seed, dist.otlpHttpPort, frontend.httpPort, [ing0.httpPort, ing1.httpPort])));
  } finally {
    await Promise.all(procs.map((p) => p.stop(5000)));
    rmSync(root, { recursive: true, force: true });
  }

  const m = machineInfo();
  const lines = [
    `## Trace by ID: fleet vs single binary — ${m.date}`,
    '',
    `Machine: ${describeMachine(m)}. ` + `1-minute load average at the start of each setup: ${loadAvg.join(', ')}.`,
    `Workload: ${traces} traces (seed ${seed}), ${queries} sequential queries per phase, query_shards 50 (Tempo's default), RF 2 in the fleet.`,
    '',
    '| setup | phase | p50 | p90 | p99 | max | exact | errors |',
    '|---|---|---|---|---|---|---|---|',
    ...phases.map(
      ({ setup, phase, r }) =>
        `| ${setup} | ${phase} | ${fmtMs(r.latency.p50)} | ${fmtMs(r.latency.p90)} | ${fmtMs(r.latency.p99)} | ${fmtMs(r.latency.max)} | ${r.exact}/${r.queries} | ${JSON.stringify(r.errors)} |`,
    ),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  const out = args.get('out');
  if (out) appendFileSync(out, lines.join('\n') + '\n');
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof ArgError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
