// A config schema is declared once per component: each field carries its type, its default and its doc,
// and the TypeScript type of the parsed config is inferred from the declaration. Parsing collects every
// problem at once (with the YAML path that has it) instead of stopping at the first.

import { formatDuration, parseDuration } from './duration';

export interface ConfigIssue {
  /** Dotted YAML path, e.g. `server.http_listen_port`. */
  readonly path: string;
  readonly message: string;
}

export interface ParseContext {
  readonly errors: ConfigIssue[];
  readonly warnings: ConfigIssue[];
}

export abstract class Field<T> {
  constructor(readonly doc = '') {}
  abstract defaultValue(): T;
  /** Parses `raw` (never undefined); on a problem records it in ctx and returns the default. */
  abstract parse(raw: unknown, path: string, ctx: ParseContext): T;
  /** The value as it would be written in YAML (durations back to Go strings). */
  toYaml(value: T): unknown {
    return value;
  }
}

export type Infer<F> = F extends Field<infer T> ? T : never;

function describe(raw: unknown): string {
  if (raw === null) return 'null';
  if (Array.isArray(raw)) return 'a list';
  if (typeof raw === 'object') return 'a map';
  return `${typeof raw} ${JSON.stringify(raw)}`;
}

function wrongType(ctx: ParseContext, path: string, want: string, raw: unknown): void {
  ctx.errors.push({ path, message: `expected ${want}, got ${describe(raw)}` });
}

export class StringField extends Field<string> {
  constructor(
    private readonly def: string,
    doc?: string,
  ) {
    super(doc);
  }
  defaultValue(): string {
    return this.def;
  }
  parse(raw: unknown, path: string, ctx: ParseContext): string {
    if (typeof raw === 'string') return raw;
    // YAML turns `endpoint: 4317` into a number; a string field takes scalars as written.
    if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
    wrongType(ctx, path, 'a string', raw);
    return this.def;
  }
}

/** A listen address as the collector writes it: "0.0.0.0:4317", "[::1]:0", ":9411" (all interfaces). */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parses "host:port" (port 0-65535; 0 asks the OS for a free one); undefined when it is not one. */
export function parseHostPort(s: string): HostPort | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s.trim());
  if (!m || Number(m[3]) > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port: Number(m[3]) };
}

/** A listen address, checked when the config loads (so `-config.verify` catches a bad one). */
export class HostPortField extends StringField {
  override parse(raw: unknown, path: string, ctx: ParseContext): string {
    const v = super.parse(raw, path, ctx);
    if (!parseHostPort(v)) ctx.errors.push({ path, message: `invalid address ${JSON.stringify(v)}: want "host:port" with a port 0-65535` });
    return v;
  }
}

export interface IntOptions {
  min?: number;
  max?: number;
}

export class IntField extends Field<number> {
  constructor(
    private readonly def: number,
    private readonly opts: IntOptions,
    doc?: string,
  ) {
    super(doc);
  }
  defaultValue(): number {
    return this.def;
  }
  parse(raw: unknown, path: string, ctx: ParseContext): number {
    const n = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
      wrongType(ctx, path, 'an integer', raw);
      return this.def;
    }
    if (this.opts.min !== undefined && n < this.opts.min) {
      ctx.errors.push({ path, message: `must be at least ${this.opts.min}, got ${n}` });
      return this.def;
    }
    if (this.opts.max !== undefined && n > this.opts.max) {
      ctx.errors.push({ path, message: `must be at most ${this.opts.max}, got ${n}` });
      return this.def;
    }
    return n;
  }
}

export class FloatField extends Field<number> {
  constructor(
    private readonly def: number,
    doc?: string,
  ) {
    super(doc);
  }
  defaultValue(): number {
    return this.def;
  }
  parse(raw: unknown, path: string, ctx: ParseContext): number {
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      wrongType(ctx, path, 'a number', raw);
      return this.def;
    }
    return n;
  }
}

export class BoolField extends Field<boolean> {
  constructor(
    private readonly def: boolean,
    doc?: string,
  ) {
    super(doc);
  }
  defaultValue(): boolean {
    return this.def;
  }
  parse(raw: unknown, path: string, ctx: ParseContext): boolean {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    wrongType(ctx, path, 'true or false', raw);
    return this.def;
  }
}

/** A duration in milliseconds, written in YAML as a Go duration string. */
export class DurationField extends Field<number> {
  private readonly def: number;
  constructor(def: string, doc?: string) {
    super(doc);
    const ms = parseDuration(def);
    if (ms === undefined) throw new TypeError(`bad default duration ${def}`);
    this.def = ms;
  }
  defaultValue(): number {
    return this.def;
  }
  parse(raw: unknown, path: string, ctx: ParseContext): number {
    if (raw === 0) return 0;
    const ms = typeof raw === 'string' ? parseDuration(raw) : undefined;
    if (ms === undefined) {
      wrongType(ctx, path, 'a duration such as "30s" or "1h30m"', raw);
      return this.def;
    }
    if (ms < 0) {
      ctx.errors.push({ path, message: `must not be negative, got ${String(raw)}` });
      return this.def;
    }
    return ms;
  }
  override toYaml(value: number): unknown {
    return formatDuration(value);
  }
}

export class EnumField<V extends string> extends Field<V> {
  constructor(
    private readonly values: readonly V[],
    private readonly def: V,
    doc?: string,
  ) {
    super(doc);
  }
  defaultValue(): V {
    return this.def;
  }
  parse(raw: unknown, path: string, ctx: ParseContext): V {
    if (typeof raw === 'string' && (this.values as readonly string[]).includes(raw)) return raw as V;
    ctx.errors.push({ path, message: `expected one of ${this.values.join(', ')}, got ${describe(raw)}` });
    return this.def;
  }
}

export class ListField<T> extends Field<T[]> {
  constructor(
    readonly item: Field<T>,
    private readonly def: () => T[],
    doc?: string,
  ) {
    super(doc);
  }
  defaultValue(): T[] {
    return this.def();
  }
  parse(raw: unknown, path: string, ctx: ParseContext): T[] {
    // A comma-separated string is accepted for lists of scalars, as Tempo's flags do.
    if (typeof raw === 'string') raw = raw === '' ? [] : raw.split(',').map((s) => s.trim());
    if (!Array.isArray(raw)) {
      wrongType(ctx, path, 'a list', raw);
      return this.def();
    }
    return raw.map((v, i) => (v === undefined || v === null ? this.item.defaultValue() : this.item.parse(v, `${path}[${i}]`, ctx)));
  }
  override toYaml(value: T[]): unknown {
    return value.map((v) => this.item.toYaml(v));
  }
}

export class OptionalField<T> extends Field<T | undefined> {
  constructor(readonly inner: Field<T>) {
    super(inner.doc);
  }
  defaultValue(): T | undefined {
    return undefined;
  }
  parse(raw: unknown, path: string, ctx: ParseContext): T | undefined {
    return this.inner.parse(raw, path, ctx);
  }
  override toYaml(value: T | undefined): unknown {
    return value === undefined ? undefined : this.inner.toYaml(value);
  }
}

/**
 * A Tempo setting Stave knows but does not implement: accepted with a warning naming it, so that an
 * existing Tempo config loads unchanged.
 */
export class IgnoredField extends Field<undefined> {
  defaultValue(): undefined {
    return undefined;
  }
  parse(_raw: unknown, path: string, ctx: ParseContext): undefined {
    ctx.warnings.push({ path, message: `Tempo setting not implemented by Stave; ignored${this.doc ? ` (${this.doc})` : ''}` });
    return undefined;
  }
  override toYaml(): unknown {
    return undefined;
  }
}

/**
 * A Tempo setting Stave will implement but has not yet (its component has not landed): the value is
 * parsed, validated and shown in /status/config like any other, and setting it warns, naming each key
 * set, that it is accepted but not in effect yet. When the code that reads it lands, drop the wrapper.
 */
export class PendingField<T> extends Field<T> {
  constructor(
    readonly inner: Field<T>,
    doc: string,
  ) {
    super(doc);
  }
  defaultValue(): T {
    return this.inner.defaultValue();
  }
  parse(raw: unknown, path: string, ctx: ParseContext): T {
    for (const p of keysSet(this.inner, raw, path)) ctx.warnings.push({ path: p, message: `accepted but not in effect yet (${this.doc})` });
    return this.inner.parse(raw, path, ctx);
  }
  override toYaml(value: T): unknown {
    return this.inner.toYaml(value);
  }
}

/** The leaf paths under `field` that `raw` sets (ignored and pending keys warn for themselves). */
function keysSet(field: Field<unknown>, raw: unknown, path: string): string[] {
  if (raw === undefined || raw === null || field instanceof IgnoredField || field instanceof PendingField) return [];
  if (field instanceof OptionalField) return keysSet(field.inner, raw, path);
  if (field instanceof ObjectField && isPlainObject(raw)) {
    return Object.entries(field.shape as Shape).flatMap(([k, f]) => keysSet(f, raw[k], `${path}.${k}`));
  }
  if (field instanceof ListField && field.item instanceof ObjectField && Array.isArray(raw)) {
    return raw.flatMap((item, i) => keysSet(field.item as Field<unknown>, item, `${path}[${i}]`));
  }
  return [path];
}

/**
 * Tempo's setting, where Stave supports exactly one value: Tempo's other values load with a warning and
 * are replaced by Stave's, so /status/config shows what Stave really does.
 */
export class OnlyField<V extends string> extends Field<V> {
  constructor(
    private readonly value: V,
    private readonly tempoValues: readonly string[],
    doc: string,
  ) {
    super(doc);
  }
  defaultValue(): V {
    return this.value;
  }
  parse(raw: unknown, path: string, ctx: ParseContext): V {
    if (raw === this.value) return this.value;
    if (typeof raw === 'string' && this.tempoValues.includes(raw)) {
      ctx.warnings.push({ path, message: `${raw} is accepted for Tempo compatibility; ${this.doc} ${this.value}` });
    } else {
      ctx.errors.push({ path, message: `expected ${this.value} (or one of Tempo's ${this.tempoValues.join(', ')}), got ${describe(raw)}` });
    }
    return this.value;
  }
}

/**
 * How a declared key is treated: read by the code, `c.ignored()` (never), `c.pending()` (not yet), or
 * `c.only()` (one value, the one the code does, so there is nothing to read).
 */
export type KeyStatus = 'read' | 'ignored' | 'pending' | 'fixed';

export interface DeclaredKey {
  /** Dotted path; `[]` stands for every item of a list of maps, `*` for every key of a free-form map. */
  readonly path: string;
  readonly status: KeyStatus;
  readonly note: string;
  /** The key's own type (optional and pending wrappers taken off). */
  readonly field: Field<unknown>;
}

/**
 * Every leaf key a schema declares, with its status. Lists and maps of scalars are leaves; lists of maps
 * are walked through `[]`, maps of maps through `*`.
 */
export function declaredKeys(field: Field<unknown>, path = '', inherited?: { status: KeyStatus; note: string }): DeclaredKey[] {
  if (field instanceof IgnoredField) return [{ path, status: 'ignored', note: field.doc, field }];
  if (field instanceof PendingField) return declaredKeys(field.inner, path, { status: 'pending', note: field.doc });
  if (field instanceof OnlyField) return [{ path, status: 'fixed', note: field.doc, field }];
  if (field instanceof OptionalField) return declaredKeys(field.inner, path, inherited);
  if (field instanceof ObjectField) {
    return Object.entries(field.shape as Shape).flatMap(([k, f]) => declaredKeys(f, path ? `${path}.${k}` : k, inherited));
  }
  if (field instanceof ListField && field.item instanceof ObjectField) return declaredKeys(field.item, `${path}[]`, inherited);
  if (field instanceof MapField && field.value instanceof ObjectField) return declaredKeys(field.value, `${path}.*`, inherited);
  return [{ path, ...(inherited ?? { status: 'read', note: '' }), field }];
}

function isPlainObject(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw);
}

type Shape = Record<string, Field<unknown>>;
type InferShape<S extends Shape> = { [K in keyof S]: Infer<S[K]> };

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** A rule across a section's keys, run once the section parsed: records its problems (usually warnings). */
export type SectionCheck<T> = (value: T, path: string, ctx: ParseContext) => void;

export class ObjectField<S extends Shape> extends Field<InferShape<S>> {
  constructor(
    readonly shape: S,
    doc?: string,
  ) {
    super(doc);
  }
  private readonly checks: SectionCheck<InferShape<S>>[] = [];
  /** Adds a rule across the section's keys, run after every parse. */
  addCheck(check: SectionCheck<InferShape<S>>): this {
    this.checks.push(check);
    return this;
  }
  defaultValue(): InferShape<S> {
    const out: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(this.shape)) out[k] = f.defaultValue();
    return out as InferShape<S>;
  }
  parse(raw: unknown, path: string, ctx: ParseContext): InferShape<S> {
    if (raw === null) return this.defaultValue();
    if (!isPlainObject(raw)) {
      wrongType(ctx, path || '(top level)', 'a map', raw);
      return this.defaultValue();
    }
    const out: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(this.shape)) {
      const v = raw[k];
      const p = path ? `${path}.${k}` : k;
      if (v === undefined) out[k] = f.defaultValue();
      // `otlp:` with an empty body lists the section: it is present, with its defaults.
      else if (v === null) out[k] = f instanceof OptionalField ? f.inner.defaultValue() : f instanceof IgnoredField ? f.parse(v, p, ctx) : f.defaultValue();
      else out[k] = f.parse(v, p, ctx);
    }
    for (const k of Object.keys(raw)) {
      if (k in this.shape) continue;
      const p = path ? `${path}.${k}` : k;
      const near = Object.keys(this.shape)
        .map((c) => [c, editDistance(k, c)] as const)
        .filter(([, d]) => d <= 2)
        .sort((x, y) => x[1] - y[1])[0];
      ctx.errors.push({ path: p, message: `unknown config key${near ? ` (did you mean ${near[0]}?)` : ''}` });
    }
    for (const check of this.checks) check(out as InferShape<S>, path, ctx);
    return out as InferShape<S>;
  }
  override toYaml(value: InferShape<S>): unknown {
    const out: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(this.shape)) {
      const y = f.toYaml((value as Record<string, unknown>)[k]);
      if (y !== undefined) out[k] = y;
    }
    return out;
  }
}

/** A map from free-form keys (tenant IDs, say) to values of one schema. */
export class MapField<T> extends Field<Record<string, T>> {
  constructor(
    readonly value: Field<T>,
    doc?: string,
  ) {
    super(doc);
  }
  defaultValue(): Record<string, T> {
    return {};
  }
  parse(raw: unknown, path: string, ctx: ParseContext): Record<string, T> {
    if (!isPlainObject(raw)) {
      wrongType(ctx, path, 'a map', raw);
      return {};
    }
    const out: Record<string, T> = {};
    for (const [k, v] of Object.entries(raw)) {
      out[k] = v === null || v === undefined ? this.value.defaultValue() : this.value.parse(v, `${path}.${k}`, ctx);
    }
    return out;
  }
  override toYaml(value: Record<string, T>): unknown {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.value.toYaml(v)]));
  }
}

/** The schema builders. */
export const c = {
  string: (def = '', doc?: string) => new StringField(def, doc),
  hostPort: (def: string, doc?: string) => new HostPortField(def, doc),
  int: (def: number, opts: IntOptions = {}, doc?: string) => new IntField(def, opts, doc),
  float: (def: number, doc?: string) => new FloatField(def, doc),
  bool: (def: boolean, doc?: string) => new BoolField(def, doc),
  duration: (def: string, doc?: string) => new DurationField(def, doc),
  enum: <const V extends string>(values: readonly V[], def: V, doc?: string) => new EnumField(values, def, doc),
  list: <T>(item: Field<T>, def: () => T[] = () => [], doc?: string) => new ListField(item, def, doc),
  object: <S extends Shape>(shape: S, doc?: string) => new ObjectField(shape, doc),
  map: <T>(value: Field<T>, doc?: string) => new MapField(value, doc),
  optional: <T>(inner: Field<T>) => new OptionalField(inner),
  ignored: (note = '') => new IgnoredField(note),
  pending: <T>(inner: Field<T>, note: string) => new PendingField(inner, note),
  only: <const V extends string>(value: V, tempoValues: readonly string[], doc: string) => new OnlyField(value, tempoValues, doc),
};
