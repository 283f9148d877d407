// Command-line flags for the bench entry points: `--name value`, `--name=value`, bare booleans.

export class ArgError extends Error {}

export interface FlagSpec {
  /** Flags that take no value. */
  booleans?: readonly string[];
  /** Every accepted flag name (booleans included). */
  known: readonly string[];
}

export function parseArgs(argv: readonly string[], spec: FlagSpec): Map<string, string> {
  const out = new Map<string, string>();
  const booleans = new Set(spec.booleans ?? []);
  const known = new Set(spec.known);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ArgError(`unexpected argument "${arg}" (flags look like --name value)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    if (!known.has(name)) throw new ArgError(`unknown flag --${name} (known: ${[...known].map((k) => '--' + k).join(' ')})`);
    let value = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (value === undefined) {
      if (booleans.has(name)) value = 'true';
      else if (i + 1 < argv.length) value = argv[++i]!;
      else throw new ArgError(`flag --${name} needs a value`);
    }
    out.set(name, value);
  }
  return out;
}

export function intArg(args: Map<string, string>, name: string, def: number, min = 0): number {
  const raw = args.get(name);
  if (raw === undefined) return def;
  const v = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(v) || v < min) throw new ArgError(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
  return v;
}

export function boolArg(args: Map<string, string>, name: string): boolean {
  const raw = args.get(name);
  if (raw === undefined) return false;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ArgError(`--${name} is a boolean, got "${raw}"`);
}

export function floatArg(args: Map<string, string>, name: string, def: number): number {
  const raw = args.get(name);
  if (raw === undefined) return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new ArgError(`--${name} must be a positive number, got "${raw}"`);
  return v;
}

/** A duration such as `10m`, `90s`, `1500ms` (a bare number is seconds), in milliseconds. */
export function durationArg(args: Map<string, string>, name: string, defMs: number): number {
  const raw = args.get(name);
  if (raw === undefined) return defMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) throw new ArgError(`--${name} must be a duration like 10m, 90s or 1500ms, got "${raw}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}
