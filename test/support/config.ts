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

export function configYaml(...parts: string[][]): string {
  return [...parts.flat(), ''].join('\n');
}
