// Per-tenant limits. Tempo accepts two forms, and so does Stave: the scoped form
// (`overrides.defaults.ingestion.rate_limit_bytes`) and the legacy flat form
// (`overrides.ingestion_rate_limit_bytes`); a flat key that is set wins over its scoped twin. The
// per-tenant file (`per_tenant_override_config`) holds `overrides: {<tenant>: <limits in either form>}`;
// each tenant's values are laid over the defaults, key by key.

import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { ConfigError, parseConfig } from './load';
import type { Logger } from '@stave/core';
import { c, type ConfigIssue, type Infer, type ParseContext } from './schema';
import { limitsSection, overridesSection, type LimitsConfig } from './stave-config';

type OverridesConfig = Infer<typeof overridesSection>;

/** The legacy flat keys, and where each lives in the scoped form. */
export const LEGACY_OVERRIDES: ReadonlyArray<readonly [flat: string, scoped: readonly string[]]> = [
  ['ingestion_rate_strategy', ['ingestion', 'rate_strategy']],
  ['ingestion_rate_limit_bytes', ['ingestion', 'rate_limit_bytes']],
  ['ingestion_burst_size_bytes', ['ingestion', 'burst_size_bytes']],
  ['max_traces_per_user', ['ingestion', 'max_traces_per_user']],
  ['max_global_traces_per_user', ['ingestion', 'max_global_traces_per_user']],
  ['max_bytes_per_trace', ['global', 'max_bytes_per_trace']],
  ['block_retention', ['compaction', 'block_retention']],
  ['max_bytes_per_tag_values_query', ['read', 'max_bytes_per_tag_values_query']],
  ['max_search_duration', ['read', 'max_search_duration']],
  ['metrics_generator_processors', ['metrics_generator', 'processors']],
  ['metrics_generator_max_active_series', ['metrics_generator', 'max_active_series']],
];

function setIn(obj: Record<string, any>, path: readonly string[], value: unknown): void {
  let node = obj;
  for (const p of path.slice(0, -1)) node = node[p] ??= {};
  node[path[path.length - 1]!] = value;
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return over;
  if (typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(out[k], v);
  return out;
}

/** Moves legacy flat keys of a raw (YAML) tenant entry into the scoped form. */
function scopeRaw(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const flat = new Map(LEGACY_OVERRIDES);
  for (const [k, v] of Object.entries(raw)) if (!flat.has(k)) out[k] = v;
  for (const [k, v] of Object.entries(raw)) {
    const scoped = flat.get(k);
    if (scoped) setIn(out, scoped, v);
  }
  return out;
}

/** The effective default limits from the `overrides` section. */
export function defaultLimits(o: OverridesConfig): LimitsConfig {
  const raw = limitsSection.toYaml(o.defaults) as Record<string, unknown>;
  for (const [flat, scoped] of LEGACY_OVERRIDES) {
    const v = (o as Record<string, unknown>)[flat];
    const field = (overridesSection.shape as Record<string, { toYaml(v: unknown): unknown }>)[flat]!;
    if (v !== undefined) setIn(raw, scoped, field.toYaml(v));
  }
  return parseConfig(limitsSection, raw, 'overrides').config;
}

const perTenantFile = c.object({ overrides: c.map(c.ignored()) });

export class Overrides {
  private perTenant = new Map<string, LimitsConfig>();
  private readonly warned = new Set<string>();

  constructor(readonly defaults: LimitsConfig) {}

  static fromConfig(o: OverridesConfig): Overrides {
    return new Overrides(defaultLimits(o));
  }

  forTenant(tenant: string): LimitsConfig {
    return this.perTenant.get(tenant) ?? this.defaults;
  }

  /**
   * Replaces the per-tenant limits from YAML text; throws ConfigError naming every bad key. Returns the
   * warnings about ignored or pending keys that a tenant sets (`overrides.<tenant>.<key>`).
   */
  setPerTenantYaml(text: string, source: string): ConfigIssue[] {
    const doc = (parse(text) ?? {}) as Record<string, unknown>;
    const check = { errors: [], warnings: [] };
    perTenantFile.parse(doc, '', check);
    const tenants = (doc.overrides ?? {}) as Record<string, unknown>;
    const next = new Map<string, LimitsConfig>();
    const base = limitsSection.toYaml(this.defaults);
    const errors = [];
    const warnings: ConfigIssue[] = [];
    for (const [tenant, raw] of Object.entries(tenants)) {
      const scoped = scopeRaw((raw ?? {}) as Record<string, unknown>);
      // Warnings from what the tenant sets, not from the defaults it is laid over.
      const own: ParseContext = { errors: [], warnings: [] };
      limitsSection.parse(scoped, '', own);
      warnings.push(...own.warnings.map((w) => ({ path: `overrides.${tenant}.${w.path}`, message: w.message })));
      try {
        const merged = deepMerge(base, scoped);
        next.set(tenant, parseConfig(limitsSection, merged, source).config);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        errors.push(...err.issues.map((i) => ({ path: `overrides.${tenant}.${i.path}`, message: i.message })));
      }
    }
    if (errors.length) throw new ConfigError(errors, source);
    this.perTenant = next;
    return warnings;
  }

  /**
   * (Re)loads the per-tenant file. With a logger, each warning is logged once, when first seen (the file
   * is reloaded every per_tenant_override_period).
   */
  async loadPerTenantFile(path: string, logger?: Logger): Promise<void> {
    const warnings = this.setPerTenantYaml(await readFile(path, 'utf8'), path);
    for (const w of warnings) {
      const key = `${w.path}: ${w.message}`;
      if (this.warned.has(key)) continue;
      this.warned.add(key);
      logger?.warn('config', { file: path, key: w.path, problem: w.message });
    }
  }
}
