// Loading: defaults → YAML file → command-line flags, then one validation pass that reports every
// problem with its YAML path. The result is frozen: nothing changes config after start.

import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { ConfigIssue, Field, ParseContext } from './schema';
import { staveConfigSchema, type StaveConfig } from './stave-config';

export class ConfigError extends Error {
  constructor(
    readonly issues: readonly ConfigIssue[],
    readonly source: string,
  ) {
    super(`invalid config${source ? ` in ${source}` : ''}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** Path of the YAML file; none means defaults (plus flags). */
  file?: string;
  /** Replace `${VAR}` and `${VAR:-default}` from `env` before parsing (`-config.expand-env=true`). */
  expandEnv?: boolean;
  env?: Record<string, string | undefined>;
  /** Overrides by YAML path, `server.http_listen_port` (dashes in names are read as underscores). */
  overrides?: ReadonlyArray<readonly [path: string, value: string]>;
}

export interface LoadedConfig<T> {
  readonly config: T;
  readonly warnings: readonly ConfigIssue[];
}

/** Expands `${VAR}`, `${VAR:-default}` and `$VAR` the way Tempo's -config.expand-env does. */
export function expandEnv(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, braced, def, bare) => {
    const name = (braced ?? bare) as string;
    const v = env[name];
    return v !== undefined && v !== '' ? v : ((def as string | undefined) ?? '');
  });
}

function parseYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({ path: `(line ${e.linePos?.[0].line ?? '?'})`, message: e.message.split('\n')[0]! })),
      source,
    );
  }
  return doc.toJS() ?? {};
}

function setPath(tree: Record<string, unknown>, path: string, value: string): void {
  const parts = path.split('.').map((p) => p.replace(/-/g, '_'));
  let node = tree;
  for (const p of parts.slice(0, -1)) {
    const next = node[p];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Parses an already-read config tree against a schema; throws ConfigError listing every problem. */
export function parseConfig<T>(schema: Field<T>, raw: unknown, source = ''): LoadedConfig<T> {
  const ctx: ParseContext = { errors: [], warnings: [] };
  const config = schema.parse(raw ?? {}, '', ctx);
  if (ctx.errors.length > 0) throw new ConfigError(ctx.errors, source);
  return { config: deepFreeze(config), warnings: ctx.warnings };
}

export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig<StaveConfig>> {
  let raw: unknown = {};
  const source = opts.file ?? '';
  if (opts.file) {
    let text: string;
    try {
      text = await readFile(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError([{ path: '(file)', message: `cannot read ${opts.file}: ${(err as Error).message}` }], source);
    }
    if (opts.expandEnv) text = expandEnv(text, opts.env ?? {});
    raw = parseYaml(text, source);
  }
  if (opts.overrides?.length) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) raw = {};
    for (const [path, value] of opts.overrides) setPath(raw as Record<string, unknown>, path, value);
  }
  return parseConfig(staveConfigSchema, raw, source);
}

/** The config as YAML-shaped data (durations as Go strings), for /status/config. */
export function configToYaml(config: StaveConfig): unknown {
  return staveConfigSchema.toYaml(config);
}

export function defaultConfig(): StaveConfig {
  return deepFreeze(staveConfigSchema.defaultValue());
}
