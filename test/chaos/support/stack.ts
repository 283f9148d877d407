// The fleet the chaos scenarios run on: distributors (the first is the gossip seed), 3 ingesters (RF 3)
// with their tokens kept in their data dirs, a query-frontend and queriers, on s3rver behind a fault proxy.

import path from 'node:path';
import { configYaml, ingesterRing, OTLP_HTTP_RECEIVER, UNLIMITED_INGESTION } from '../../support/config';
import { S3RVER_KEY, startS3rver, type EmulatorProcess } from '../../support/emulators';
import { poll } from '../../support/poll';
import { FaultProxy } from './fault-proxy';
import { Fleet, type RingShard } from './fleet';
import type { Target } from './load';

export const INGESTERS = ['ingester-0', 'ingester-1', 'ingester-2'];
export const HEARTBEAT_TIMEOUT_MS = 3000;

export interface Stack {
  s3: EmulatorProcess;
  /** Between every Stave process and s3rver. */
  s3Proxy: FaultProxy;
  fleet: Fleet;
  distributors: string[];
  queriers: string[];
  /** Every member that shows the ingester ring. */
  ringHolders: string[];
  frontendPort: number;
  /** The OTLP/HTTP receivers of the distributors. */
  receivers: Target[];
  close(): Promise<void>;
}

export interface StackOptions {
  distributors?: number;
  queriers?: number;
  /** More `storage.trace.s3` keys (e.g. hedging), indented for that section. */
  s3?: string[];
  /** Start a compactor with these `compactor:` lines (indented for that section). */
  compactor?: string[];
}

export function stackConfig(s3Port: number, opts: StackOptions = {}): string {
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
    ...(opts.s3 ?? []),
    'query_frontend:',
    // Each lookup is 2 jobs, so 40 outstanding jobs are 20 lookups: a flood of 150 overflows the queue.
    '  max_outstanding_per_tenant: 40',
    '  trace_by_id:',
    '    query_shards: 2',
    'querier:',
    '  max_concurrent_queries: 4',
    ...(opts.compactor ? ['compactor:', ...opts.compactor] : []),
  ]);
}

export const allActive =
  (n: number) =>
  (shards: RingShard[]): boolean =>
    shards.length === n && shards.every((s) => s.state === 'ACTIVE');

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const s3 = await startS3rver(['stave']);
  const s3Proxy = new FaultProxy({ host: '127.0.0.1', port: s3.port }, 's3');
  await s3Proxy.start();
  const fleet = new Fleet(stackConfig(s3Proxy.port, opts));
  const distributors = Array.from({ length: opts.distributors ?? 1 }, (_, i) => `distributor-${i}`);
  const queriers = Array.from({ length: opts.queriers ?? 2 }, (_, i) => `querier-${i}`);
  // Gossip seeds: the running distributors (other than the member starting), at the port each logged.
  const join = (self: string) => () => {
    const seeds = distributors
      .filter((d) => d !== self && fleet.members.has(d) && fleet.isRunning(d))
      .map((d) => fleet.get(d).proc.logs.find((l) => l.msg === 'memberlist listening'))
      .filter((l) => l !== undefined)
      .map((l) => `127.0.0.1:${String(l.bind).split(':').pop()}`);
    return seeds.length ? [`-memberlist.join-members=${seeds.join(',')}`] : [];
  };
  for (const d of distributors) {
    fleet.start(d, 'distributor', () => [`-ingester.lifecycler.id=${d}`, `-distributor.ring.instance-id=${d}`, ...join(d)()]);
    await fleet.memberlistPort(d);
  }
  for (const name of INGESTERS) {
    fleet.start(name, 'ingester', () => [
      `-ingester.lifecycler.id=${name}`,
      `-ingester.lifecycler.tokens-file-path=${path.join(fleet.get(name).dataDir, 'tokens.json')}`,
      ...join(name)(),
    ]);
  }
  // The queriers are configured with the frontend's gRPC port and readers with its HTTP port: a restarted
  // frontend binds the same ones.
  let frontendGrpc = 0;
  let frontendHttp = 0;
  fleet.start('query-frontend', 'query-frontend', () =>
    frontendGrpc ? [`-server.grpc-listen-port=${frontendGrpc}`, `-server.http-listen-port=${frontendHttp}`] : [],
  );
  frontendGrpc = await fleet.logPort('query-frontend', 'grpc server listening');
  frontendHttp = await fleet.get('query-frontend').proc.httpPort();
  for (const q of queriers) {
    fleet.start(q, 'querier', () => [`-ingester.lifecycler.id=${q}`, `-querier.frontend-worker.frontend-address=127.0.0.1:${frontendGrpc}`, ...join(q)()]);
  }
  if (opts.compactor) fleet.start('compactor', 'compactor', () => ['-ingester.lifecycler.id=compactor', ...join('compactor')()]);
  for (const m of fleet.members.keys()) await fleet.ready(m);
  const ringHolders = [...distributors, ...INGESTERS, ...queriers];
  await fleet.untilRing('3 ACTIVE ingesters', ringHolders, allActive(3));
  await poll(
    `${queriers.length} queriers connected`,
    async () => (await fleet.metric('query-frontend', 'tempo_query_frontend_connected_clients')) === queriers.length,
    {
      timeoutMs: 30_000,
      intervalMs: 200,
    },
  );
  const receivers: Target[] = [];
  for (const d of distributors) receivers.push({ host: '127.0.0.1', port: await fleet.get(d).proc.receiverPort(/otlp.*http/) });
  return {
    s3,
    s3Proxy,
    fleet,
    distributors,
    queriers,
    ringHolders,
    frontendPort: frontendHttp,
    receivers,
    async close() {
      fleet.cleanup();
      await s3Proxy.close();
      await s3.stop();
    },
  };
}
