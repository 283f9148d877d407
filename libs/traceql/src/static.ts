// TraceQL values ("statics") and the operators over them, with Tempo's typing rules:
// - numbers (int, float, duration) compare with each other as floats; int op int stays an int;
// - a string never equals a number, a kind only equals a kind, a status equals a status or an int code;
// - operands of mismatched types make a comparison false (never an error), so a missing attribute (nil)
//   matches nothing except `!= nil`... which is true for every present attribute;
// - an array attribute matches a scalar when any element does (`{ .tags = "a" }`);
// - regexes are fully anchored (`=~ "GET"` matches only "GET"), as since Tempo 2.7.
//
// Ints are JavaScript numbers: exact up to 2^53, which covers durations in nanoseconds (104 days) and
// the attribute values real instrumentation writes. A larger int64 attribute is rounded.

import { compileRegex, type CompiledRegex } from './regex';

export type StaticType = 'nil' | 'int' | 'float' | 'string' | 'bool' | 'intArray' | 'floatArray' | 'stringArray' | 'boolArray' | 'duration' | 'status' | 'kind';

export type Static =
  | { readonly type: 'nil' }
  | { readonly type: 'int' | 'float' | 'duration' | 'status' | 'kind'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'intArray' | 'floatArray'; readonly value: readonly number[] }
  | { readonly type: 'stringArray'; readonly value: readonly string[] }
  | { readonly type: 'boolArray'; readonly value: readonly boolean[] };

/** The type an expression has before it runs; `attribute` means "known only at query time". */
export type ImpliedType = StaticType | 'attribute' | 'spanset';

/** Tempo's status enum (not OTLP's numbering: `{ status = 0 }` is not how one asks for unset). */
export const STATUS = { error: 0, ok: 1, unset: 2 } as const;
/** Tempo's kind enum (client and server are swapped relative to OTLP's numbering). */
export const KIND = { unspecified: 0, internal: 1, client: 2, server: 3, producer: 4, consumer: 5 } as const;

const STATUS_NAMES = ['error', 'ok', 'unset'];
const KIND_NAMES = ['unspecified', 'internal', 'client', 'server', 'producer', 'consumer'];

export const NIL: Static = { type: 'nil' };
export const TRUE: Static = { type: 'bool', value: true };
export const FALSE: Static = { type: 'bool', value: false };
export const bool = (b: boolean): Static => (b ? TRUE : FALSE);
export const int = (n: number): Static => ({ type: 'int', value: n });
export const float = (n: number): Static => ({ type: 'float', value: n });
export const str = (s: string): Static => ({ type: 'string', value: s });
export const duration = (ns: number): Static => ({ type: 'duration', value: ns });

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '^' | '=' | '!=' | '=~' | '!~' | '>' | '>=' | '<' | '<=' | '&&' | '||';
export type UnaryOp = '-' | '!';

const BOOLEAN_OPS = new Set<string>(['&&', '||', '=', '!=', '=~', '!~', '>', '>=', '<', '<=', '!']);
export const isBooleanOp = (op: string): boolean => BOOLEAN_OPS.has(op);

export const isNumeric = (t: ImpliedType): boolean => t === 'int' || t === 'float' || t === 'duration';
export const isArray = (t: ImpliedType): boolean => t === 'intArray' || t === 'floatArray' || t === 'stringArray' || t === 'boolArray';

const ELEMENT: Partial<Record<ImpliedType, ImpliedType>> = { intArray: 'int', floatArray: 'float', stringArray: 'string', boolArray: 'bool' };

/** Whether two types may meet in a binary operation (the operator is checked by binaryTypeValid). */
export function isMatchingOperand(t: ImpliedType, o: ImpliedType): boolean {
  if (t === 'attribute' || o === 'attribute' || t === o || o === 'nil') return true;
  if (isNumeric(t) && isNumeric(o)) return true;
  return isMatchingArrayElement(t, o);
}

function isMatchingArrayElement(t: ImpliedType, o: ImpliedType): boolean {
  const te = ELEMENT[t];
  if (te !== undefined) return isMatchingOperand(te, o);
  const oe = ELEMENT[o];
  if (oe !== undefined) return isMatchingOperand(oe, t);
  return false;
}

/** Which operators a type supports (Tempo's binaryTypeValid). */
export function binaryTypeValid(op: string, t: ImpliedType): boolean {
  switch (t) {
    case 'attribute':
      return true;
    case 'bool':
    case 'boolArray':
      return op === '&&' || op === '||' || op === '=' || op === '!=';
    case 'int':
    case 'float':
    case 'duration':
    case 'intArray':
    case 'floatArray':
      return ['+', '-', '*', '/', '%', '^', '=', '!=', '>', '>=', '<', '<='].includes(op);
    case 'string':
    case 'stringArray':
      return ['=', '!=', '=~', '!~', '>', '>=', '<', '<='].includes(op);
    case 'nil':
    case 'status':
    case 'kind':
      return op === '=' || op === '!=';
    default:
      return false;
  }
}

export const binaryTypesValid = (op: string, l: ImpliedType, r: ImpliedType): boolean => binaryTypeValid(op, l) && binaryTypeValid(op, r);

export function unaryTypeValid(op: UnaryOp, t: ImpliedType): boolean {
  if (t === 'attribute') return true;
  return op === '-' ? isNumeric(t) : t === 'bool';
}

export function toFloat(s: Static): number {
  return s.type === 'int' || s.type === 'float' || s.type === 'duration' ? s.value : NaN;
}

/** Tempo's Static.Equals: numbers by value, a status against its int code, everything else by type and value. */
export function equals(a: Static, b: Static): boolean {
  switch (a.type) {
    case 'int':
    case 'duration':
      if (b.type === 'int' || b.type === 'duration') return a.value === b.value;
      if (b.type === 'status') return a.type === 'int' && a.value === b.value;
      if (b.type === 'float') return a.value === b.value;
      return false;
    case 'status':
      return (b.type === 'int' || b.type === 'status') && a.value === b.value;
    case 'float':
      return a.value === toFloat(b);
    case 'kind':
    case 'bool':
    case 'string':
      return b.type === a.type && a.value === b.value;
    case 'intArray':
    case 'floatArray':
    case 'stringArray':
    case 'boolArray':
      return b.type === a.type && a.value.length === b.value.length && a.value.every((v, i) => v === b.value[i]);
    case 'nil':
      return b.type === 'nil';
  }
}

const TYPE_ORDER: StaticType[] = ['nil', 'int', 'float', 'string', 'bool', 'intArray', 'floatArray', 'stringArray', 'boolArray', 'duration', 'status', 'kind'];

/** Ordering used by min()/max(): numbers by value, otherwise by type then value. */
export function compare(a: Static, b: Static): number {
  if (a.type !== b.type) {
    if (isNumeric(a.type) && isNumeric(b.type)) return Math.sign(toFloat(a) - toFloat(b));
    return Math.sign(TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type));
  }
  if (a.type === 'nil' || b.type === 'nil') return 0;
  const av = a.value;
  const bv = b.value;
  if (Array.isArray(av) && Array.isArray(bv)) {
    for (let i = 0; i < Math.min(av.length, bv.length); i++) {
      const c = av[i] < bv[i] ? -1 : av[i] > bv[i] ? 1 : 0;
      if (c !== 0) return c;
    }
    return Math.sign(av.length - bv.length);
  }
  return av < bv ? -1 : av > bv ? 1 : 0;
}

/** A binary operator compiled once: regexes are compiled at compile time when the pattern is a constant. */
export type BinaryFn = (l: Static, r: Static) => Static;

export function binaryFn(op: BinaryOp, constantPattern?: string): BinaryFn {
  let cached: { pattern: string; re: CompiledRegex } | undefined;
  if (constantPattern !== undefined) cached = { pattern: constantPattern, re: compileRegex(constantPattern) };
  const regex = (pattern: string): CompiledRegex => {
    if (cached === undefined || cached.pattern !== pattern) cached = { pattern, re: compileRegex(pattern) };
    return cached.re;
  };
  const fn: BinaryFn = (l, r) => executeBinary(op, l, r, regex, fn);
  return fn;
}

const ARITHMETIC: Partial<Record<BinaryOp, (a: number, b: number) => number>> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
  // a ^ b is a to the power b (Tempo 2.7 computes b to the power a for two ints: not copied)
  '^': (a, b) => a ** b,
};

const ORDER: Partial<Record<BinaryOp, (a: number, b: number) => boolean>> = {
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
};

const FLIPPED: Partial<Record<BinaryOp, BinaryOp>> = { '>': '<', '>=': '<=', '<': '>', '<=': '>=' };

function elements(s: Static): Static[] {
  switch (s.type) {
    case 'intArray':
      return s.value.map(int);
    case 'floatArray':
      return s.value.map(float);
    case 'stringArray':
      return s.value.map(str);
    case 'boolArray':
      return s.value.map(bool);
    default:
      return [s];
  }
}

function executeBinary(op: BinaryOp, l: Static, r: Static, regex: (p: string) => CompiledRegex, self: BinaryFn): Static {
  if (!isMatchingOperand(l.type, r.type) || !binaryTypesValid(op, l.type, r.type)) return FALSE;

  if (l.type === 'string' && r.type === 'string') {
    switch (op) {
      case '>':
        return bool(l.value > r.value);
      case '>=':
        return bool(l.value >= r.value);
      case '<':
        return bool(l.value < r.value);
      case '<=':
        return bool(l.value <= r.value);
      case '=~':
        return bool(regex(r.value).test(l.value));
      case '!~':
        return bool(!regex(r.value).test(l.value));
    }
  }

  const arithmetic = ARITHMETIC[op];
  const order = ORDER[op];
  if (l.type === 'int' && r.type === 'int') {
    if (order !== undefined) return bool(order(l.value, r.value));
    if (arithmetic !== undefined) {
      // Go panics on an integer division by zero; here the expression is simply nil (matches nothing)
      if ((op === '/' || op === '%') && r.value === 0) return NIL;
      return int(Math.trunc(arithmetic(l.value, r.value)));
    }
  }

  if (l.type === 'bool' && r.type === 'bool') {
    if (op === '&&') return bool(l.value && r.value);
    if (op === '||') return bool(l.value || r.value);
  }

  if (isArray(l.type) !== isArray(r.type)) {
    // an array against a scalar: true when any element satisfies the operator (the scalar stays the
    // right-hand side so a regex is always the pattern)
    if (!isBooleanOp(op)) return NIL;
    const arrayOnLeft = isArray(l.type);
    const elemOp = arrayOnLeft ? op : (FLIPPED[op] ?? op);
    const other = arrayOnLeft ? r : l;
    const elemFn = elemOp === op ? self : binaryFn(elemOp);
    for (const e of elements(arrayOnLeft ? l : r)) {
      const res = elemFn(e, other);
      if (res.type === 'bool' && res.value) return res;
    }
    return FALSE;
  }

  if (order !== undefined) return bool(order(toFloat(l), toFloat(r)));
  if (arithmetic !== undefined) return float(arithmetic(toFloat(l), toFloat(r)));
  if (op === '=') return bool(equals(l, r));
  if (op === '!=') return bool(!equals(l, r));
  return FALSE;
}

export function executeUnary(op: UnaryOp, v: Static): Static {
  if (op === '!') return v.type === 'bool' ? bool(!v.value) : NIL;
  if (v.type === 'int' || v.type === 'float' || v.type === 'duration') return { type: v.type, value: -v.value };
  return NIL;
}

/** How Tempo prints a static in an expression (`\`str\`` with backticks when quoted, `10ms`, `error`). */
export function staticToString(s: Static, quotes = true): string {
  switch (s.type) {
    case 'nil':
      return 'nil';
    case 'int':
      return String(s.value);
    case 'float':
      return formatFloat(s.value);
    case 'string':
      return quotes ? '`' + s.value + '`' : s.value;
    case 'bool':
      return String(s.value);
    case 'duration':
      return formatDuration(s.value);
    case 'status':
      return STATUS_NAMES[s.value] ?? `status(${s.value})`;
    case 'kind':
      return KIND_NAMES[s.value] ?? `kind(${s.value})`;
    case 'stringArray':
      return '[' + s.value.map((v) => `"${v}"`).join(', ') + ']';
    case 'intArray':
      return '[' + s.value.join(', ') + ']';
    case 'floatArray':
      return '[' + s.value.map(formatFloat).join(', ') + ']';
    case 'boolArray':
      return '[' + s.value.join(', ') + ']';
  }
}

/** Go's strconv.FormatFloat(f, 'g', -1, 64): shortest digits, exponent form below 1e-4 and from 1e6. */
function formatFloat(f: number): string {
  if (!Number.isFinite(f)) return Number.isNaN(f) ? 'NaN' : f > 0 ? '+Inf' : '-Inf';
  const [mantissa, e] = f.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (f === 0 || (exp >= -4 && exp < 6)) return String(f);
  return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** Go's time.Duration.String(): `1.5s`, `10ms`, `1h2m3s`, `0s`. */
export function formatDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let d = Math.abs(ns);
  let out: string;
  if (d < 1e3) out = `${d}ns`;
  else if (d < 1e6) out = `${trimFraction(d / 1e3)}µs`;
  else if (d < 1e9) out = `${trimFraction(d / 1e6)}ms`;
  else {
    const h = Math.floor(d / 3600e9);
    d -= h * 3600e9;
    const m = Math.floor(d / 60e9);
    d -= m * 60e9;
    const s = `${trimFraction(d / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? '-' + out : out;
}

const trimFraction = (n: number): string => String(Number(n.toFixed(9)));
