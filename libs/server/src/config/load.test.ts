import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, configToYaml, defaultConfig, expandEnv, loadConfig } from './load';

const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-config-'));
function file(yaml: string): string {
  const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, yaml);
  return f;
}

async function problems(yaml: string): Promise<string[]> {
  try {
    await loadConfig({ file: file(yaml) });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('declares Tempo’s defaults once', () => {
    const c = defaultConfig();
    expect(c.server.http_listen_port).toBe(3200);
    expect(c.server.grpc_listen_port).toBe(9095);
    expect(c.ingester.max_block_duration).toBe(30 * 60_000);
    expect(c.ingester.trace_idle_period).toBe(10_000);
    expect(c.compactor.compaction.block_retention).toBe(336 * 3_600_000);
    expect(c.overrides.defaults.ingestion.rate_limit_bytes).toBe(15_000_000);
    expect(c.overrides.defaults.global.max_bytes_per_trace).toBe(5_000_000);
    expect(c.distributor.receivers.otlp).toBeUndefined();
  });

  it('reports every problem at once, each with its path', async () => {
    expect(
      await problems(
        [
          'server:',
          '  htp_listen_port: 1',
          '  http_listen_port: -5',
          'ingester:',
          '  trace_idle_period: 10',
          'bogus: 1',
          'storage:',
          '  trace:',
          '    backend: ftp',
        ].join('\n'),
      ),
    ).toEqual([
      'server.http_listen_port: must be at least 0, got -5',
      'server.htp_listen_port: unknown config key (did you mean http_listen_port?)',
      'ingester.trace_idle_period: expected a duration such as "30s" or "1h30m", got number 10',
      'storage.trace.backend: expected one of local, s3, gcs, azure, got string "ftp"',
      'bogus: unknown config key',
    ]);
  });

  it('rejects a receiver endpoint that is not host:port with a port 0-65535 when the config loads', async () => {
    const yaml = (at: string) => `distributor:\n  receivers:\n    jaeger:\n      protocols:\n        grpc:\n          endpoint: ${at}\n`;
    expect(await problems(yaml('0.0.0.0:114250'))).toEqual([
      'distributor.receivers.jaeger.protocols.grpc.endpoint: invalid address "0.0.0.0:114250": want "host:port" with a port 0-65535',
    ]);
    expect(await problems(yaml('localhost'))).toEqual([
      'distributor.receivers.jaeger.protocols.grpc.endpoint: invalid address "localhost": want "host:port" with a port 0-65535',
    ]);
    expect(await problems(yaml('"[::1]:0"'))).toEqual([]);
    expect(await problems(yaml('":14250"'))).toEqual([]);
  });

  it('rejects a section that is not a map, and duplicate keys', async () => {
    expect(await problems('server: 3200\n')).toEqual(['server: expected a map, got number 3200']);
    const dup = await problems('server:\n  http_listen_port: 1\n  http_listen_port: 2\n');
    expect(dup).toHaveLength(1);
    expect(dup[0]).toMatch(/line 3.*unique/i);
  });

  it('treats a listed receiver with an empty body as enabled with Tempo’s default endpoint', async () => {
    const { config } = await loadConfig({
      file: file('distributor:\n  receivers:\n    otlp:\n      protocols:\n        http:\n    zipkin:\n'),
    });
    expect(config.distributor.receivers.otlp?.protocols.http?.endpoint).toBe('0.0.0.0:4318');
    expect(config.distributor.receivers.otlp?.protocols.grpc).toBeUndefined();
    expect(config.distributor.receivers.zipkin?.endpoint).toBe('0.0.0.0:9411');
    expect(config.distributor.receivers.jaeger).toBeUndefined();
  });

  it('warns, naming the key, about Tempo settings Stave does not implement', async () => {
    const { warnings } = await loadConfig({ file: file('usage_report:\n  reporting_enabled: false\nserver:\n  grpc_tls_config: {}\n') });
    expect(warnings.map((w) => w.path)).toEqual(['usage_report', 'server.grpc_tls_config']);
  });

  it('warns when query_frontend.max_outstanding_per_tenant is below trace_by_id.query_shards (every lookup would be 429)', async () => {
    const qf = (outstanding: number) => `query_frontend:\n  max_outstanding_per_tenant: ${outstanding}\n  trace_by_id:\n    query_shards: 20\n`;
    const { warnings } = await loadConfig({ file: file(qf(10)) });
    expect(warnings.map((w) => `${w.path}: ${w.message}`)).toEqual([
      'query_frontend.max_outstanding_per_tenant: 10 is below trace_by_id.query_shards (20): every trace-by-ID lookup queues query_shards jobs and would be answered 429',
    ]);
    expect((await loadConfig({ file: file(qf(20)) })).warnings).toEqual([]);
  });

  it('applies flags over the file over defaults', async () => {
    const { config } = await loadConfig({
      file: file('server:\n  http_listen_port: 3300\n  grpc_listen_port: 9000\n'),
      overrides: [['server.http-listen-port', '3400']],
    });
    expect(config.server.http_listen_port).toBe(3400);
    expect(config.server.grpc_listen_port).toBe(9000);
    expect(config.server.http_listen_address).toBe('');
  });

  it('validates flags like file keys', async () => {
    await expect(loadConfig({ overrides: [['server.no-such-key', '1']] })).rejects.toThrow('server.no_such_key: unknown config key');
  });

  it('returns a frozen config', async () => {
    const { config } = await loadConfig({});
    expect(Object.isFrozen(config.server)).toBe(true);
  });

  it('writes durations back as Go strings', () => {
    const y = configToYaml(defaultConfig()) as { ingester: { max_block_duration: string } };
    expect(y.ingester.max_block_duration).toBe('30m0s');
  });
});

describe('expandEnv', () => {
  it.each([
    ['${A}', { A: 'x' }, 'x'],
    ['$A/b', { A: 'x' }, 'x/b'],
    ['${A:-def}', {}, 'def'],
    ['${A:-def}', { A: '' }, 'def'],
    ['${A}', {}, ''],
    ['port: ${P:-3200}', { P: '80' }, 'port: 80'],
  ])('%s with %j is %j', (text, env, out) => expect(expandEnv(text, env)).toBe(out));
});
