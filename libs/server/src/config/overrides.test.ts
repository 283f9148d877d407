import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Logger } from '@stave/core';
import { parseConfig } from './load';
import { Overrides } from './overrides';
import { overridesSection } from './stave-config';

const overrides = (raw: unknown) => Overrides.fromConfig(parseConfig(overridesSection, raw).config);

describe('Overrides', () => {
  it('takes Tempo’s defaults when nothing is set', () => {
    const o = overrides({});
    expect(o.forTenant('x').ingestion).toMatchObject({ rate_limit_bytes: 15_000_000, burst_size_bytes: 20_000_000, max_traces_per_user: 10_000 });
    expect(o.forTenant('x').global.max_bytes_per_trace).toBe(5_000_000);
  });

  it('reads the scoped form, and lets a set legacy flat key win over it', () => {
    const o = overrides({
      defaults: { ingestion: { rate_limit_bytes: 100, burst_size_bytes: 200 }, global: { max_bytes_per_trace: 300 } },
      ingestion_burst_size_bytes: 999,
      block_retention: '48h',
    });
    const l = o.forTenant('any');
    expect(l.ingestion.rate_limit_bytes).toBe(100);
    expect(l.ingestion.burst_size_bytes).toBe(999);
    expect(l.global.max_bytes_per_trace).toBe(300);
    expect(l.compaction.block_retention).toBe(48 * 3_600_000);
  });

  it('lays per-tenant values (either form) over the defaults, key by key', () => {
    const o = overrides({ defaults: { ingestion: { rate_limit_bytes: 100, burst_size_bytes: 200 } } });
    o.setPerTenantYaml(
      ['overrides:', '  team-a:', '    ingestion:', '      burst_size_bytes: 5000', '  team-b:', '    max_bytes_per_trace: 77', ''].join('\n'),
      'f.yaml',
    );
    expect(o.forTenant('team-a').ingestion).toMatchObject({ rate_limit_bytes: 100, burst_size_bytes: 5000 });
    expect(o.forTenant('team-b').global.max_bytes_per_trace).toBe(77);
    expect(o.forTenant('team-b').ingestion.rate_limit_bytes).toBe(100);
    expect(o.forTenant('other').ingestion.burst_size_bytes).toBe(200);
  });

  it('names every bad key of a per-tenant file and keeps the limits it had', () => {
    const o = overrides({});
    o.setPerTenantYaml('overrides:\n  t:\n    max_bytes_per_trace: 10\n', 'f.yaml');
    expect(() => o.setPerTenantYaml('overrides:\n  t:\n    ingestion:\n      rate_limit_byts: 1\n    max_bytes_per_trace: lots\n', 'f.yaml')).toThrow(
      /overrides\.t\.ingestion\.rate_limit_byts: unknown config key \(did you mean rate_limit_bytes\?\)\n\s*overrides\.t\.global\.max_bytes_per_trace: expected an integer, got string "lots"/,
    );
    expect(o.forTenant('t').global.max_bytes_per_trace).toBe(10);
  });

  it('warns about the ignored or pending keys a tenant sets, once each, and not about the defaults', async () => {
    const o = overrides({});
    expect(o.setPerTenantYaml('overrides:\n  t:\n    max_bytes_per_trace: 10\n', 'f.yaml')).toEqual([]);
    const yaml = 'overrides:\n  t:\n    max_global_traces_per_user: 100\n    ingestion:\n      tenant_shard_size: 3\n';
    expect(o.setPerTenantYaml(yaml, 'f.yaml')).toEqual([
      {
        path: 'overrides.t.ingestion.max_global_traces_per_user',
        message: 'accepted but not in effect yet (the global live-trace limit is not enforced yet; max_traces_per_user is)',
      },
      { path: 'overrides.t.ingestion.tenant_shard_size', message: expect.stringContaining('not implemented by Stave') as string },
    ]);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'stave-overrides-')), 'overrides.yaml');
    writeFileSync(file, yaml);
    const lines: string[] = [];
    const logger = new Logger('warn', 'json', {}, { write: (l) => void lines.push(l) });
    await o.loadPerTenantFile(file, logger);
    await o.loadPerTenantFile(file, logger);
    expect(lines.map((l) => (JSON.parse(l) as { key: string }).key)).toEqual([
      'overrides.t.ingestion.max_global_traces_per_user',
      'overrides.t.ingestion.tenant_shard_size',
    ]);
  });
});
