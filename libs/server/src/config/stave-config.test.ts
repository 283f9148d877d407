// The markers users see: an ignored or pending key warns at start exactly when it is set, naming it; a
// pending key still shows in /status/config; Tempo's block versions load as the one Stave writes.
// (Whether unmarked keys are really read is services/stave/src/config-keys.test.ts.)

import { configToYaml, parseConfig } from './load';
import { declaredKeys, type DeclaredKey } from './schema';
import { staveConfigSchema } from './stave-config';

/** A config tree that sets exactly `key` (through one list item for `[]`, one map entry for `*`). */
function setting(key: DeclaredKey, value: unknown): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let node = root;
  const parts = key.path.split('.');
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    const list = part.endsWith('[]');
    const name = list ? part.slice(0, -2) : part === '*' ? 'x' : part;
    const child: Record<string, unknown> = {};
    if (last) node[name] = list ? [value] : value;
    else node[name] = list ? [child] : child;
    node = child;
  });
  return root;
}

/** A value the key's type accepts: its default, written as YAML would have it (anything, if ignored). */
function sample(key: DeclaredKey): unknown {
  return key.field.toYaml(key.field.defaultValue()) ?? 'anything';
}

const keys = declaredKeys(staveConfigSchema);
const marked = keys.filter((k) => k.status === 'ignored' || k.status === 'pending');

describe('the Stave config schema', () => {
  it('loads with no warning when nothing is set', () => {
    expect(parseConfig(staveConfigSchema, {}).warnings).toEqual([]);
  });

  it.each(marked.map((k) => [k.path, k] as const))('warns about %s when it is set, naming it', (_path, key) => {
    const { warnings } = parseConfig(staveConfigSchema, setting(key, sample(key)));
    const want = key.status === 'ignored' ? 'not implemented by Stave' : 'accepted but not in effect yet';
    expect(warnings.filter((w) => w.path === key.path.replace('[]', '[0]').replace('*', 'x'))).toEqual([
      { path: expect.any(String), message: expect.stringContaining(want) },
    ]);
  });

  it('shows pending keys in /status/config, with their values', () => {
    const { config, warnings } = parseConfig(staveConfigSchema, { metrics_generator: { processor: { span_metrics: { enable_target_info: true } } } });
    expect(warnings).toEqual([
      {
        path: 'metrics_generator.processor.span_metrics.enable_target_info',
        message: 'accepted but not in effect yet (traces_target_info is not generated yet)',
      },
    ]);
    expect(configToYaml(config)).toMatchObject({ metrics_generator: { processor: { span_metrics: { enable_target_info: true } } } });
  });

  it('loads a Tempo block version with a warning, and reports the format Stave writes', () => {
    const { config, warnings } = parseConfig(staveConfigSchema, { storage: { trace: { block: { version: 'vParquet4' } } } });
    expect(warnings).toEqual([
      { path: 'storage.trace.block.version', message: 'vParquet4 is accepted for Tempo compatibility; Stave writes every block as vStave2' },
    ]);
    expect(config.storage.trace.block.version).toBe('vStave2');
    expect(parseConfig(staveConfigSchema, { storage: { trace: { block: { version: 'vStave2' } } } }).warnings).toEqual([]);
    expect(() => parseConfig(staveConfigSchema, { storage: { trace: { block: { version: 'vParquet9' } } } })).toThrow(
      /storage.trace.block.version: expected vStave2 \(or one of Tempo's vStave1, v2, vParquet, vParquet2, vParquet3, vParquet4, vParquet5\), got string "vParquet9"/,
    );
  });

  it('refuses a listen network Stave cannot serve, and warns on a TCP variant', () => {
    expect(() => parseConfig(staveConfigSchema, { server: { http_listen_network: 'unix' } })).toThrow(/server.http_listen_network: expected tcp/);
    expect(parseConfig(staveConfigSchema, { server: { grpc_listen_network: 'tcp4' } }).warnings.map((w) => w.path)).toEqual(['server.grpc_listen_network']);
  });
});
