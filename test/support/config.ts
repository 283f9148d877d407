// YAML fragments that several tests' config files share, joined with `configYaml(...)`.

/** The OTLP HTTP receiver on a free loopback port (read back with `receiverPort(/otlp.*http/)`). */
export const OTLP_HTTP_RECEIVER = ['distributor:', '  receivers:', '    otlp:', '      protocols:', '        http:', '          endpoint: 127.0.0.1:0'];

/** Ingestion limits high enough that load tests measure Stave, not its rate limiter. */
export const UNLIMITED_INGESTION = [
  'overrides:',
  '  defaults:',
  '    ingestion:',
  '      rate_limit_bytes: 1000000000',
  '      burst_size_bytes: 1000000000',
  '      max_traces_per_user: 1000000',
];

/** A fast-beating ingester ring with replication factor `rf`, so a killed member is UNHEALTHY in 3 s. */
export function ingesterRing(rf: number): string[] {
  return ['ingester:', '  lifecycler:', '    heartbeat_period: 500ms', '    ring:', `      replication_factor: ${rf}`, '      heartbeat_timeout: 3s'];
}

/** Both metrics-generator processors on for every tenant. */
export const GENERATOR_PROCESSORS = ['overrides:', '  defaults:', '    metrics_generator:', '      processors: [span-metrics, service-graphs]'];

/**
 * metrics_generator settings that make a test quick: collect every second, pair client and server within
 * `wait`; with `remoteWriteUrl`, remote write there (flush deadline 5 s), each series labelled with
 * `deployment` when given, so several Staves can write to one Prometheus.
 */
export function generatorYaml(o: { wait: string; deployment?: string; remoteWriteUrl?: string; remoteTimeout?: string; sendExemplars?: boolean }): string[] {
  return [
    'metrics_generator:',
    '  registry:',
    '    collection_interval: 1s',
    ...(o.deployment ? ['    external_labels:', `      deployment: ${o.deployment}`] : []),
    '  processor:',
    '    service_graphs:',
    `      wait: ${o.wait}`,
    ...(o.remoteWriteUrl
      ? [
          '  storage:',
          '    remote_write_flush_deadline: 5s',
          '    remote_write:',
          `      - url: ${o.remoteWriteUrl}`,
          ...(o.sendExemplars ? ['        send_exemplars: true'] : []),
          ...(o.remoteTimeout ? [`        remote_timeout: ${o.remoteTimeout}`] : []),
        ]
      : []),
  ];
}

export function configYaml(...parts: string[][]): string {
  return [...parts.flat(), ''].join('\n');
}
