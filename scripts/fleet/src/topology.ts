// The fleet `make fleet` runs: which processes, the ports each listens on, the config they share and the
// flags that make each one a distinct member (its ring IDs, ports and data directory).

import path from 'node:path';

export type Target = 'query-frontend' | 'distributor' | 'ingester' | 'querier' | 'compactor' | 'metrics-generator';

/**
 * Where the ports come from:
 * - `tempo`: Tempo's defaults, as with `make run`: the frontend's API on 3200, the receivers on their usual
 *   ports; the other members take the next ports up (HTTP 3201.., gRPC 9095.., memberlist 7946..).
 * - `base`: one block of ports from `base` up (see `portsFor`), for a second fleet beside the first.
 * - `free`: port 0 everywhere; the launcher learns what each process bound from its logs (tests).
 */
export type PortLayout = { kind: 'tempo' } | { kind: 'base'; base: number } | { kind: 'free' };

export interface FleetOptions {
  /** Absolute; holds the shared config, the local backend (blocks/), one folder per member and logs/. */
  dir: string;
  ingesters: number;
  queriers: number;
  replicationFactor: number;
  ports: PortLayout;
  /** Flags every member gets after its own (`--stave-arg`). */
  extraArgs: string[];
}

export interface MemberSpec {
  name: string;
  target: Target;
  /** 0 = any free port (learned from the member's log). */
  http: number;
  grpc: number;
  /** 0: any free port. */
  memberlist: number;
  dataDir: string;
  log: string;
}

/** Receiver names as the distributor logs them, with the Tempo default port of each. */
export const RECEIVERS: ReadonlyArray<{ name: string; label: string; port: number; yaml: string[] }> = [
  { name: 'otlp_grpc', label: 'OTLP gRPC', port: 4317, yaml: ['otlp', 'protocols', 'grpc'] },
  { name: 'otlp_http', label: 'OTLP HTTP', port: 4318, yaml: ['otlp', 'protocols', 'http'] },
  { name: 'jaeger_grpc', label: 'Jaeger gRPC', port: 14250, yaml: ['jaeger', 'protocols', 'grpc'] },
  { name: 'jaeger_thrift_http', label: 'Jaeger thrift HTTP', port: 14268, yaml: ['jaeger', 'protocols', 'thrift_http'] },
  { name: 'jaeger_thrift_compact', label: 'Jaeger thrift compact (udp)', port: 6831, yaml: ['jaeger', 'protocols', 'thrift_compact'] },
  { name: 'jaeger_thrift_binary', label: 'Jaeger thrift binary (udp)', port: 6832, yaml: ['jaeger', 'protocols', 'thrift_binary'] },
  { name: 'zipkin', label: 'Zipkin', port: 9411, yaml: ['zipkin'] },
];

/** The members in start order of their ports: the frontend first, so that with Tempo's layout it owns 3200. */
export function members(o: FleetOptions): MemberSpec[] {
  const names: Array<[string, Target]> = [
    ['query-frontend', 'query-frontend'],
    ['distributor', 'distributor'],
    ...range(o.ingesters).map((i): [string, Target] => [`ingester-${i}`, 'ingester']),
    ...range(o.queriers).map((i): [string, Target] => [`querier-${i}`, 'querier']),
    ['compactor', 'compactor'],
    ['metrics-generator', 'metrics-generator'],
  ];
  return names.map(([name, target], k) => {
    const p = portsFor(o.ports, k, names.length);
    return {
      name,
      target,
      http: p.http,
      grpc: p.grpc,
      memberlist: p.memberlist,
      dataDir: path.join(o.dir, name),
      log: path.join(o.dir, 'logs', `${name}.log`),
    };
  });
}

/** Member k of n: with `base`, HTTP base+k, gRPC base+n+k, memberlist base+2n+k, receivers base+3n... */
function portsFor(layout: PortLayout, k: number, n: number): { http: number; grpc: number; memberlist: number } {
  if (layout.kind === 'free') return { http: 0, grpc: 0, memberlist: 0 };
  if (layout.kind === 'tempo') return { http: 3200 + k, grpc: 9095 + k, memberlist: 7946 + k };
  return { http: layout.base + k, grpc: layout.base + n + k, memberlist: layout.base + 2 * n + k };
}

export function receiverPort(layout: PortLayout, i: number, n: number): number {
  if (layout.kind === 'free') return 0;
  if (layout.kind === 'tempo') return RECEIVERS[i]!.port;
  return layout.base + 3 * n + i;
}

/**
 * The config every member reads. Each key is Tempo's; the per-member parts (ports, IDs, paths) are flags.
 * Only the distributor runs receivers (a receiver runs where the distributor module runs).
 */
export function sharedConfig(o: FleetOptions, memberCount: number): string {
  const lines = [
    '# Written by the fleet launcher (scripts/fleet) for every member of `make fleet`; each member adds its',
    '# ports, ring IDs and data paths as flags (see the head of its log file).',
    'distributor:',
    '  receivers:',
  ];
  let written: string[] = [];
  RECEIVERS.forEach((r, i) => {
    r.yaml.forEach((key, depth) => {
      if (written[depth] === key) return;
      written = [...written.slice(0, depth), key];
      lines.push(`${'  '.repeat(depth + 2)}${key}:`);
    });
    lines.push(`${'  '.repeat(r.yaml.length + 2)}endpoint: 127.0.0.1:${receiverPort(o.ports, i, memberCount)}`);
  });
  lines.push(
    'ingester:',
    '  # SIGTERM (Ctrl-C on the launcher) flushes every block to the backend before the ingester leaves its ring.',
    '  flush_all_on_shutdown: true',
    '  lifecycler:',
    '    min_ready_duration: 0s',
    '    ring:',
    `      replication_factor: ${o.replicationFactor}`,
    'storage:',
    '  trace:',
    '    backend: local',
    '    local:',
    `      path: ${JSON.stringify(path.join(o.dir, 'blocks'))}`,
    '',
  );
  return lines.join('\n');
}

/** A member's flags; `seed` is the memberlist port every gossiping member joins through (0: none yet). */
export function memberArgs(m: MemberSpec, configFile: string, seed: number, frontendGrpc: number, extra: readonly string[]): string[] {
  const args = [
    `-config.file=${configFile}`,
    `-target=${m.target}`,
    '-server.http-listen-address=127.0.0.1',
    `-server.http-listen-port=${m.http}`,
    '-server.grpc-listen-address=127.0.0.1',
    `-server.grpc-listen-port=${m.grpc}`,
    `-storage.trace.wal.path=${path.join(m.dataDir, 'wal')}`,
    `-metrics-generator.storage.path=${path.join(m.dataDir, 'generator')}`,
  ];
  // Every member gossips, the query-frontend too: it reads the metrics-generator ring (the explorer's
  // service graph asks every generator).
  args.push('-memberlist.bind-addr=127.0.0.1', `-memberlist.bind-port=${m.memberlist}`, `-memberlist.node-name=${m.name}`);
  if (seed !== 0 && seed !== m.memberlist) args.push(`-memberlist.join-members=127.0.0.1:${seed}`);
  // Ring IDs name the member instead of the host name they default to (all members share one host here).
  if (m.target === 'ingester') args.push(`-ingester.lifecycler.id=${m.name}`, '-ingester.lifecycler.address=127.0.0.1');
  if (m.target === 'distributor') args.push(`-distributor.ring.instance-id=${m.name}`);
  if (m.target === 'compactor') args.push(`-compactor.ring.instance-id=${m.name}`);
  if (m.target === 'metrics-generator') args.push(`-metrics-generator.ring.instance-id=${m.name}`);
  if (m.target === 'querier') args.push(`-querier.frontend-worker.frontend-address=127.0.0.1:${frontendGrpc}`);
  return [...args, ...extra];
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
