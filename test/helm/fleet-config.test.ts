// The chart's stave.yaml runs: the microservices config rendered for the local backend (3 ingesters,
// replication factor 3, memberlist with the release's cluster label) starts a fleet of separate processes
// on loopback, one per workload the chart creates, and serves a trace pushed to the distributor exact
// through the query-frontend. Only what Kubernetes would supply is replaced: addresses (the gossip and
// frontend DNS names become loopback ports), ports (free ports) and paths (temp folders; the shared
// ReadWriteMany claim becomes one shared folder).

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generatePool, runLoad, timeQueries } from '@stave/bench';
import { parse, stringify } from 'yaml';
import { poll } from '../support/poll';
import { startStave, type StaveProcess } from '../support/stave-process';
import { buildRenderer, container, parseManifests, renderChart, staveYaml, workloads } from './chart';

/** Receivers on free loopback ports instead of the chart's 0.0.0.0:<default port>. */
function onLoopback(yamlText: string): string {
  const config = parse(yamlText) as any;
  const visit = (node: any): void => {
    for (const [k, v] of Object.entries(node ?? {})) {
      if (k === 'endpoint' && typeof v === 'string') node[k] = '127.0.0.1:0';
      else if (typeof v === 'object') visit(v);
    }
  };
  visit(config.distributor.receivers);
  return stringify(config);
}

function logPort(p: StaveProcess, what: string, match: (l: Record<string, unknown>) => boolean): Promise<number> {
  // Generous: seven Node processes start at once on a small, shared machine.
  return poll(
    what,
    () => {
      if (p.child.exitCode !== null) throw new Error(`process exited: ${p.stderrText().slice(-2000)}`);
      const l = p.logs.find(match);
      return l ? Number(l.port ?? String(l.bind).split(':').pop()) : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

describe("the chart's microservices stave.yaml", () => {
  const procs: StaveProcess[] = [];
  const blocks = mkdtempSync(path.join(os.tmpdir(), 'stave-chart-blocks-'));
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const p of procs) p.cleanup();
    rmSync(blocks, { recursive: true, force: true });
  });

  it('runs a fleet of its workloads that reads a pushed trace back exact through the frontend', async () => {
    const renderer = await buildRenderer();
    const { text } = await renderChart(renderer, { valueFiles: [path.join(__dirname, 'scenarios', 'local.yaml')] });
    const objects = parseManifests(text);
    const configYaml = onLoopback(staveYaml(objects));
    expect(parse(configYaml).ingester.lifecycler.ring.replication_factor).toBe(3);
    // Each workload's own arguments, as its container runs them (the config file path aside).
    const argsOf = (component: string): string[] => {
      const w = workloads(objects).find((o) => o.metadata.labels?.['app.kubernetes.io/component'] === component)!;
      return (container(w).args as string[]).filter((a) => !a.startsWith('-config.file='));
    };
    const start = (component: string, id: string, ...args: string[]) => {
      const p = startStave({ configYaml, args: [...argsOf(component), `-storage.trace.local.path=${blocks}`, `-ingester.lifecycler.id=${id}`, ...args] });
      procs.push(p);
      return p;
    };
    const ing0 = start('ingester', 'ingester-0');
    const join = `-memberlist.join-members=127.0.0.1:${await logPort(ing0, 'memberlist to listen', (l) => l.msg === 'memberlist listening')}`;
    const ingesters = [ing0, start('ingester', 'ingester-1', join), start('ingester', 'ingester-2', join)];
    const distributor = start('distributor', 'distributor-0', join);
    const frontend = start('query-frontend', 'query-frontend-0');
    const worker = `-querier.frontend-worker.frontend-address=127.0.0.1:${await logPort(frontend, 'the frontend gRPC port', (l) => l.msg === 'grpc server listening')}`;
    const querier = start('querier', 'querier-0', join, worker);
    const compactor = start('compactor', 'compactor-0', join);
    for (const [name, p] of [
      ...ingesters.map((p, i) => [`ingester-${i}`, p] as const),
      ['distributor', distributor],
      ['query-frontend', frontend],
      ['querier', querier],
      ['compactor', compactor],
    ] as const) {
      const url = await p.url('/ready');
      await poll(`${name} to be ready`, async () => (await fetch(url)).status === 200, { timeoutMs: 60_000, intervalMs: 250 });
    }
    await poll(
      'the querier connected to the frontend',
      async () => (await (await fetch(await frontend.url('/metrics'))).text()).includes('tempo_query_frontend_connected_clients 1'),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await poll(
      'three ACTIVE ingesters in the distributor ring view',
      async () => {
        const r = (await (await fetch(await distributor.url('/ingester/ring'), { headers: { accept: 'application/json' } })).json()) as {
          shards: Array<{ state: string }>;
        };
        return r.shards.length === 3 && r.shards.every((s) => s.state === 'ACTIVE');
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    const pool = generatePool({ seed: 14, traces: 50, batchSpans: 20, nowMs: Date.now() });
    const load = await runLoad(pool, { host: '127.0.0.1', port: await distributor.receiverPort(/otlp.*http/), concurrency: 2, rounds: 1, progress: false });
    expect(load.errors).toEqual({});
    const traces = load.ledger.exactTraces();
    expect(traces).toHaveLength(50);
    // Read-your-writes: every acknowledged trace is exact at once.
    const read = await timeQueries({ host: '127.0.0.1', port: await frontend.httpPort(), traces, queries: traces.length, seed: 1, timeoutMs: 20_000 });
    expect({ exact: read.exact, errors: read.errors }).toEqual({ exact: 50, errors: {} });
  }, 240_000);
});
