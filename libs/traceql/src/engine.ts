// Evaluates TraceQL over in-memory traces with Tempo's semantics. A query is compiled once into closures:
// field expressions become `(span) => Static`, pipeline stages `(spansets) => spansets`. Each trace enters
// the pipeline as one spanset holding all of its spans; it matches when at least one spanset comes out.
//
// - `{ f }` keeps the spans for which f is true (a filter naming `event.`/`event:` or `link.`/`link:`
//   is true for a span when it is true for any one of its events/links);
// - `A && B` / `A || B` between spansets: both / either side non-empty, result = spans of both sides;
// - structural `A op B` returns B's spans that have the relation to some span of A (`>` child, `<` parent,
//   `>>` descendant, `<<` ancestor, `~` sibling); `!op` those with no such span in A; `&op` the spans of
//   both sides that take part in the relation;
// - `| count() > 2`, `avg/min/max/sum(x)` filter spansets by an aggregate; `by(x)` splits a spanset by
//   the value of x; `coalesce()` merges them back; `select(...)` adds attributes to the reported spans.

import {
  exprToString,
  type Aggregate,
  type AttributeExpr,
  type FieldExpr,
  type Pipeline,
  type PipelineElement,
  type RootExpr,
  type SpansetExpr,
  type SpansetOp,
} from './ast';
import { TraceQLError, unsupported } from './errors';
import { parse } from './parser';
import { binaryFn, compare, duration, equals, executeUnary, int, isMatchingOperand, binaryTypesValid, NIL, str, toFloat, type Static } from './static';
import { indexTraces, type EvalEvent, type EvalLink, type EvalSpan, type EvalTrace } from './trace-model';
import { structural, unique } from './structural';
import { validate } from './validate';
import type { ResourceSpans, TracesData } from '@stave/proto';

/** A set of spans of one trace, with the attributes the pipeline attached (`by(...)`, `count()`). */
export interface Spanset {
  readonly trace: EvalTrace;
  readonly spans: readonly EvalSpan[];
  readonly attributes: readonly (readonly [string, Static])[];
  readonly scalar?: Static;
}

interface Ctx {
  readonly span: EvalSpan;
  readonly event: EvalEvent | undefined;
  readonly link: EvalLink | undefined;
}

type FieldFn = (c: Ctx) => Static;
type Stage = (input: readonly Spanset[]) => Spanset[];

export interface ResultAttribute {
  readonly key: string;
  readonly value: Static;
}

export interface ResultSpan {
  readonly spanId: string;
  readonly name: string;
  readonly startTimeUnixNano: bigint;
  readonly durationNanos: number;
  readonly attributes: readonly ResultAttribute[];
}

export interface ResultSpanset {
  readonly spans: readonly ResultSpan[];
  /** How many spans matched; `spans` holds at most spansPerSpanSet of them. */
  readonly matched: number;
  readonly attributes: readonly ResultAttribute[];
}

export interface TraceResult {
  readonly traceId: string;
  readonly rootServiceName: string | undefined;
  readonly rootTraceName: string | undefined;
  readonly startTimeUnixNano: bigint;
  readonly durationNanos: number;
  readonly spanSets: readonly ResultSpanset[];
}

export interface SearchOptions {
  /** Spans reported per spanset (Tempo's `spss`, default 3). */
  readonly spansPerSpanSet?: number;
  /** Stop after this many matching traces (0 or absent: no limit). */
  readonly limit?: number;
}

export const DEFAULT_SPANS_PER_SPANSET = 3;

export const ERR_SPANSET_OPERATION_MULTIPLE = 'spanset operators are not supported for multiple spansets per trace. consider using coalesce()';

export interface CompiledQuery {
  readonly query: string;
  readonly root: RootExpr;
  /** The spansets the query yields for one trace (empty: the trace does not match). */
  evaluate(trace: EvalTrace): Spanset[];
  /** Matching traces with their spansets, in input order. */
  search(traces: readonly EvalTrace[], options?: SearchOptions): TraceResult[];
}

/** Parses, type-checks and compiles a query. Throws TraceQLError (PARSE_ERROR, INVALID_QUERY, UNSUPPORTED). */
export function compileQuery(query: string): CompiledQuery {
  const root = parse(query);
  validate(root);
  const stage = compilePipeline(root.pipeline);
  const reported = reportedAttributes(root);
  const evaluate = (trace: EvalTrace): Spanset[] => (trace.spans.length === 0 ? [] : stage([{ trace, spans: trace.spans, attributes: [] }]));
  return {
    query,
    root,
    evaluate,
    search(traces, options = {}) {
      const out: TraceResult[] = [];
      const spss = options.spansPerSpanSet ?? DEFAULT_SPANS_PER_SPANSET;
      for (const trace of traces) {
        const spansets = evaluate(trace);
        if (spansets.length === 0) continue;
        out.push(traceResult(trace, spansets, reported, spss));
        if (options.limit !== undefined && options.limit > 0 && out.length >= options.limit) break;
      }
      return out;
    },
  };
}

/** One-call search over OTLP data (or already indexed traces). */
export function search(
  query: string | CompiledQuery,
  data: TracesData | readonly TracesData[] | readonly ResourceSpans[] | readonly EvalTrace[],
  options?: SearchOptions,
): TraceResult[] {
  const q = typeof query === 'string' ? compileQuery(query) : query;
  const traces = isIndexed(data) ? data : indexTraces(data as TracesData | readonly TracesData[] | readonly ResourceSpans[]);
  return q.search(traces, options);
}

function isIndexed(data: unknown): data is readonly EvalTrace[] {
  return (
    Array.isArray(data) &&
    data.length > 0 &&
    typeof (data[0] as Partial<EvalTrace>).traceId === 'string' &&
    Array.isArray((data[0] as Partial<EvalTrace>).spans)
  );
}

// ---- field expressions ----

function compileField(e: FieldExpr): FieldFn {
  switch (e.kind) {
    case 'static': {
      const v = e.value;
      return () => v;
    }
    case 'attribute':
      return compileAttribute(e);
    case 'unary': {
      const inner = compileField(e.expr);
      const op = e.op;
      return (c) => executeUnary(op, inner(c));
    }
    case 'binary': {
      const l = compileField(e.lhs);
      const r = compileField(e.rhs);
      const pattern = (e.op === '=~' || e.op === '!~') && e.rhs.kind === 'static' && e.rhs.value.type === 'string' ? e.rhs.value.value : undefined;
      const fn = binaryFn(e.op, pattern);
      if (e.op === '&&' || e.op === '||') {
        const shortCircuit = e.op === '||';
        return (c) => {
          const lv = l(c);
          if (lv.type === 'bool' && lv.value === shortCircuit) return lv;
          return fn(lv, r(c));
        };
      }
      return (c) => fn(l(c), r(c));
    }
  }
}

const stringOrNil = (s: string | undefined): Static => (s === undefined || s === '' ? NIL : str(s));

function compileAttribute(a: AttributeExpr): FieldFn {
  if (a.intrinsic !== undefined) {
    switch (a.intrinsic) {
      case 'duration':
        return (c) => duration(c.span.durationNanos);
      case 'name':
        return (c) => str(c.span.name);
      case 'status':
        return (c) => ({ type: 'status', value: c.span.status });
      case 'statusMessage':
        return (c) => str(c.span.statusMessage);
      case 'kind':
        return (c) => ({ type: 'kind', value: c.span.kind });
      case 'traceDuration':
        return (c) => duration(c.span.trace.durationNanos);
      case 'rootName':
        return (c) => stringOrNil(c.span.trace.root?.name);
      case 'rootServiceName':
        return (c) => stringOrNil(c.span.trace.rootServiceName);
      case 'trace:id':
        return (c) => str(c.span.trace.traceId);
      case 'span:id':
        return (c) => str(c.span.spanId);
      case 'event:name':
        return (c) => (c.event === undefined ? NIL : str(c.event.name));
      case 'event:timeSinceStart':
        return (c) => (c.event === undefined ? NIL : duration(c.event.timeSinceStartNanos));
      case 'link:traceID':
        return (c) => (c.link === undefined ? NIL : str(c.link.traceId));
      case 'link:spanID':
        return (c) => (c.link === undefined ? NIL : str(c.link.spanId));
      case 'instrumentation:name':
        return (c) => stringOrNil(c.span.scopeName);
      case 'instrumentation:version':
        return (c) => stringOrNil(c.span.scopeVersion);
      case 'nestedSetLeft':
        return (c) => int(c.span.left);
      case 'nestedSetRight':
        return (c) => int(c.span.right);
      case 'nestedSetParent':
        return (c) => int(c.span.parent?.left ?? (c.span.left !== 0 ? -1 : 0));
      case 'parent':
      case 'childCount':
        // rejected by validation, as in Tempo
        throw unsupported(`intrinsic (${a.intrinsic})`);
    }
  }
  const name = a.name;
  switch (a.scope) {
    case 'span':
      return (c) => c.span.attributes.get(name) ?? NIL;
    case 'resource':
      return (c) => c.span.resourceAttributes.get(name) ?? NIL;
    case 'event':
      return (c) => c.event?.attributes.get(name) ?? NIL;
    case 'link':
      return (c) => c.link?.attributes.get(name) ?? NIL;
    case 'instrumentation':
      return (c) => c.span.scopeAttributes.get(name) ?? NIL;
    case 'none':
      // unscoped: the span's own attribute wins over its resource's
      return (c) => c.span.attributes.get(name) ?? c.span.resourceAttributes.get(name) ?? NIL;
  }
}

function usesScope(e: FieldExpr, scope: 'event' | 'link'): boolean {
  switch (e.kind) {
    case 'static':
      return false;
    case 'attribute':
      return e.scope === scope || (e.intrinsic?.startsWith(scope + ':') ?? false);
    case 'binary':
      return usesScope(e.lhs, scope) || usesScope(e.rhs, scope);
    case 'unary':
      return usesScope(e.expr, scope);
  }
}

/** A span predicate; with event/link references it holds when it holds for any one event/link. */
function compilePredicate(e: FieldExpr): (span: EvalSpan) => boolean {
  const fn = compileField(e);
  const truthy = (c: Ctx): boolean => {
    const v = fn(c);
    return v.type === 'bool' && v.value;
  };
  const events = usesScope(e, 'event');
  const links = usesScope(e, 'link');
  if (!events && !links) return (span) => truthy({ span, event: undefined, link: undefined });
  const each = <T>(xs: readonly T[]): readonly (T | undefined)[] => (xs.length === 0 ? [undefined] : xs);
  return (span) => {
    for (const event of events ? each(span.events) : [undefined]) {
      for (const link of links ? each(span.links) : [undefined]) {
        if (truthy({ span, event, link })) return true;
      }
    }
    return false;
  };
}

// ---- pipeline stages ----

function compilePipeline(p: Pipeline): Stage {
  const stages = p.elements.map(compileElement);
  return (input) => {
    let cur: readonly Spanset[] = input;
    for (const s of stages) {
      if (cur.length === 0) return [];
      cur = s(cur);
    }
    return cur as Spanset[];
  };
}

function compileElement(el: PipelineElement): Stage {
  switch (el.kind) {
    case 'pipeline':
      return compilePipeline(el);
    case 'spansetFilter':
      return compileFilter(el.expr);
    case 'spansetOperation':
      return compileSpansetOperation(el.op, compileElement(el.lhs), compileElement(el.rhs));
    case 'scalarFilter': {
      if (el.lhs.kind !== 'aggregate' || el.rhs.kind !== 'static')
        throw new TraceQLError('UNSUPPORTED', `scalar filter (${exprToString(el)}) not yet supported`);
      const agg = compileAggregate(el.lhs);
      const rhs = el.rhs.value;
      const op = el.op;
      return (input) => agg(input).filter((ss) => scalarCompare(op, ss.scalar ?? NIL, rhs));
    }
    case 'groupOperation':
      return compileGroup(el.expr, exprToString(el));
    case 'coalesceOperation':
      return (input) => (input.length === 0 ? [] : [{ trace: input[0]!.trace, spans: input.flatMap((ss) => ss.spans), attributes: [] }]);
    case 'selectOperation':
      // selected attributes are attached when results are reported
      return (input) => [...input];
    case 'aggregate':
      return compileAggregate(el);
  }
}

function compileFilter(e: FieldExpr): Stage {
  const pred = compilePredicate(e);
  return (input) => {
    const out: Spanset[] = [];
    for (const ss of input) {
      const spans = ss.spans.filter(pred);
      if (spans.length === 0) continue;
      out.push(spans.length === ss.spans.length ? ss : { ...ss, spans });
    }
    return out;
  };
}

function compileSpansetOperation(op: SpansetOp, lhs: Stage, rhs: Stage): Stage {
  return (input) => {
    const out: Spanset[] = [];
    for (const ss of input) {
      const l = lhs([ss]);
      const r = rhs([ss]);
      let spans: EvalSpan[];
      if (op === '&&' || op === '||') {
        if (op === '&&' ? l.length === 0 || r.length === 0 : l.length === 0 && r.length === 0) continue;
        spans = unique([...l.flatMap((x) => x.spans), ...r.flatMap((x) => x.spans)]);
      } else {
        if (l.length === 0 || r.length === 0) continue;
        // Tempo pairs one spanset with one: after by() a structural operator needs coalesce() first
        if (l.length > 1 || r.length > 1) throw new TraceQLError('UNSUPPORTED', ERR_SPANSET_OPERATION_MULTIPLE);
        spans = structural(op, l[0]!.spans, r[0]!.spans);
      }
      if (spans.length > 0) out.push({ ...ss, spans });
    }
    return out;
  };
}

function compileGroup(e: FieldExpr, key: string): Stage {
  const fn = compileField(e);
  return (input) => {
    const out: Spanset[] = [];
    for (const ss of input) {
      const groups = new Map<string, { value: Static; spans: EvalSpan[] }>();
      for (const span of ss.spans) {
        const value = fn({ span, event: undefined, link: undefined });
        const k = mapKey(value);
        let g = groups.get(k);
        if (g === undefined) {
          g = { value, spans: [] };
          groups.set(k, g);
        }
        g.spans.push(span);
      }
      for (const g of groups.values()) out.push({ trace: ss.trace, spans: g.spans, attributes: [...ss.attributes, [key, g.value]] });
    }
    return out;
  };
}

const mapKey = (v: Static): string => (v.type === 'nil' ? 'nil' : `${v.type}:${JSON.stringify(v.value)}`);

function compileAggregate(a: Aggregate): Stage {
  const key = exprToString(a);
  const fn = a.expr === undefined ? undefined : compileField(a.expr);
  const value = (span: EvalSpan): Static => fn!({ span, event: undefined, link: undefined });
  const reduce = (spans: readonly EvalSpan[]): Static => {
    switch (a.op) {
      case 'count':
        return int(spans.length);
      case 'sum':
        return spans.map(value).reduce(sumInto);
      case 'avg':
        return divideBy(spans.map(value).reduce(sumInto), spans.length);
      case 'max':
        return spans.map(value).reduce((m, v) => (compare(v, m) > 0 ? v : m));
      case 'min':
        return spans.map(value).reduce((m, v) => (compare(v, m) < 0 ? v : m));
    }
  };
  return (input) =>
    input.map((ss) => {
      const scalar = reduce(ss.spans);
      return { ...ss, scalar, attributes: [...ss.attributes, [key, scalar] as const] };
    });
}

/** Tempo's sumInto: the running sum keeps the first value's type; values of another type are skipped. */
function sumInto(acc: Static, v: Static): Static {
  if (acc.type !== v.type) return acc;
  if (acc.type === 'int' || acc.type === 'float' || acc.type === 'duration') return { type: acc.type, value: acc.value + (v as { value: number }).value };
  return acc;
}

function divideBy(s: Static, n: number): Static {
  if (s.type === 'int' || s.type === 'float') return { type: 'float', value: s.value / n };
  if (s.type === 'duration') return duration(Math.trunc(s.value / n));
  return s;
}

/** Comparison of an aggregate with a constant (Tempo's binOp): numbers as floats, = and != by equality. */
function scalarCompare(op: string, l: Static, r: Static): boolean {
  if (!isMatchingOperand(l.type, r.type) || !binaryTypesValid(op, l.type, r.type)) return false;
  switch (op) {
    case '>':
      return toFloat(l) > toFloat(r);
    case '>=':
      return toFloat(l) >= toFloat(r);
    case '<':
      return toFloat(l) < toFloat(r);
    case '<=':
      return toFloat(l) <= toFloat(r);
    case '=':
      return equals(l, r);
    case '!=':
      return !equals(l, r);
    default:
      return false;
  }
}

// ---- results ----

interface ReportedAttribute {
  readonly key: string;
  readonly fn: FieldFn;
}

/** Attributes reported on result spans: service.name, the attributes the query filters on, and select()ed ones. */
function reportedAttributes(root: RootExpr): ReportedAttribute[] {
  const seen = new Map<string, ReportedAttribute>();
  const add = (a: AttributeExpr): void => {
    if (a.intrinsic !== undefined || a.parent || a.scope === 'event' || a.scope === 'link') return;
    if (!seen.has(a.name)) seen.set(a.name, { key: a.name, fn: compileAttribute(a) });
  };
  add({ kind: 'attribute', scope: 'resource', parent: false, name: 'service.name' });
  const walkField = (e: FieldExpr): void => {
    if (e.kind === 'attribute') add(e);
    else if (e.kind === 'binary') {
      walkField(e.lhs);
      walkField(e.rhs);
    } else if (e.kind === 'unary') walkField(e.expr);
  };
  const walk = (el: PipelineElement | SpansetExpr): void => {
    switch (el.kind) {
      case 'pipeline':
        return el.elements.forEach(walk);
      case 'spansetFilter':
        return walkField(el.expr);
      case 'spansetOperation':
        walk(el.lhs);
        return walk(el.rhs);
      case 'selectOperation':
        return el.attributes.forEach(add);
      default:
        return;
    }
  };
  walk(root.pipeline);
  return [...seen.values()];
}

function traceResult(trace: EvalTrace, spansets: readonly Spanset[], reported: readonly ReportedAttribute[], spss: number): TraceResult {
  return {
    traceId: trace.traceId,
    rootServiceName: trace.rootServiceName,
    rootTraceName: trace.root?.name,
    startTimeUnixNano: trace.startTimeUnixNano,
    durationNanos: trace.durationNanos,
    spanSets: spansets.map((ss) => ({
      matched: ss.spans.length,
      attributes: ss.attributes.map(([key, value]) => ({ key, value })),
      spans: ss.spans.slice(0, spss).map((span) => {
        const attributes: ResultAttribute[] = [];
        for (const r of reported) {
          const value = r.fn({ span, event: undefined, link: undefined });
          if (value.type !== 'nil') attributes.push({ key: r.key, value });
        }
        return { spanId: span.spanId, name: span.name, startTimeUnixNano: span.startTimeUnixNano, durationNanos: span.durationNanos, attributes };
      }),
    })),
  };
}
