// The TraceQL syntax tree, shaped like Tempo's (pkg/traceql/ast.go): a root holds one pipeline of spanset
// expressions, scalar filters and grouping/selecting stages; field expressions are evaluated per span.
// `exprToString` prints expressions the way Tempo does in its error messages.

import { staticToString, type BinaryOp, type Static, type UnaryOp } from './static';

export type AttributeScope = 'none' | 'span' | 'resource' | 'event' | 'link' | 'instrumentation';

export type Intrinsic =
  | 'duration'
  | 'name'
  | 'status'
  | 'statusMessage'
  | 'kind'
  | 'childCount'
  | 'parent'
  | 'traceDuration'
  | 'rootName'
  | 'rootServiceName'
  | 'trace:id'
  | 'span:id'
  | 'event:name'
  | 'event:timeSinceStart'
  | 'link:traceID'
  | 'link:spanID'
  | 'instrumentation:name'
  | 'instrumentation:version'
  | 'nestedSetLeft'
  | 'nestedSetRight'
  | 'nestedSetParent';

export interface StaticExpr {
  readonly kind: 'static';
  readonly value: Static;
}

export interface AttributeExpr {
  readonly kind: 'attribute';
  readonly scope: AttributeScope;
  /** `parent.` prefix (parsed; rejected by validation as in Tempo). */
  readonly parent: boolean;
  /** The attribute name, or '' for an intrinsic. */
  readonly name: string;
  readonly intrinsic?: Intrinsic;
}

export interface BinaryExpr {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  readonly lhs: FieldExpr;
  readonly rhs: FieldExpr;
}

export interface UnaryExpr {
  readonly kind: 'unary';
  readonly op: UnaryOp;
  readonly expr: FieldExpr;
}

export type FieldExpr = StaticExpr | AttributeExpr | BinaryExpr | UnaryExpr;

export type SpansetOp = '&&' | '||' | '>' | '<' | '>>' | '<<' | '~' | '!>' | '!<' | '!>>' | '!<<' | '!~' | '&>' | '&<' | '&>>' | '&<<' | '&~';

export interface SpansetFilter {
  readonly kind: 'spansetFilter';
  readonly expr: FieldExpr;
}

export interface SpansetOperation {
  readonly kind: 'spansetOperation';
  readonly op: SpansetOp;
  readonly lhs: SpansetExpr;
  readonly rhs: SpansetExpr;
}

/** A spanset expression: filters joined by spanset operators, or a parenthesised pipeline. */
export type SpansetExpr = SpansetFilter | SpansetOperation | Pipeline;

export type AggregateOp = 'count' | 'avg' | 'min' | 'max' | 'sum';

export interface Aggregate {
  readonly kind: 'aggregate';
  readonly op: AggregateOp;
  /** Absent for count(). */
  readonly expr?: FieldExpr;
}

export type ScalarOp = '+' | '-' | '*' | '/' | '%' | '^';
export type ComparisonOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

export interface ScalarOperation {
  readonly kind: 'scalarOperation';
  readonly op: ScalarOp;
  readonly lhs: ScalarExpr;
  readonly rhs: ScalarExpr;
}

/** A scalar: an aggregate, a number, arithmetic on them, or `(pipeline | aggregate)`. */
export type ScalarExpr = Aggregate | StaticExpr | ScalarOperation | Pipeline;

export interface ScalarFilter {
  readonly kind: 'scalarFilter';
  readonly op: ComparisonOp;
  readonly lhs: ScalarExpr;
  readonly rhs: ScalarExpr;
}

export interface GroupOperation {
  readonly kind: 'groupOperation';
  readonly expr: FieldExpr;
}

export interface CoalesceOperation {
  readonly kind: 'coalesceOperation';
}

export interface SelectOperation {
  readonly kind: 'selectOperation';
  readonly attributes: readonly AttributeExpr[];
}

export type PipelineElement = SpansetExpr | ScalarFilter | GroupOperation | CoalesceOperation | SelectOperation | Aggregate;

export interface Pipeline {
  readonly kind: 'pipeline';
  readonly elements: readonly PipelineElement[];
}

export interface Hint {
  readonly name: string;
  readonly value: Static;
}

export interface RootExpr {
  readonly pipeline: Pipeline;
  /** `with(name = value, ...)` query hints; parsed and kept, not acted on. */
  readonly hints: readonly Hint[];
}

export type Node = FieldExpr | PipelineElement | ScalarExpr;

export function attributeToString(a: AttributeExpr): string {
  const scopes: string[] = [];
  if (a.parent) scopes.push('parent');
  if (a.scope !== 'none') scopes.push(a.scope);
  const att = a.intrinsic ?? a.name;
  let scope = scopes.length > 0 ? scopes.join('.') + '.' : '';
  if (scope === '' && a.intrinsic === undefined && att.length > 0) scope = '.';
  return scope + att;
}

function wrap(n: Node): string {
  if (n.kind === 'static') return staticToString(n.value);
  if (n.kind === 'attribute') return attributeToString(n);
  return '(' + exprToString(n) + ')';
}

/** Prints a node as Tempo's stringer does (used in validation messages and `by()` attribute names). */
export function exprToString(n: Node): string {
  switch (n.kind) {
    case 'static':
      return staticToString(n.value);
    case 'attribute':
      return attributeToString(n);
    case 'binary':
    case 'spansetOperation':
    case 'scalarOperation':
    case 'scalarFilter':
      return `${wrap(n.lhs)} ${n.op} ${wrap(n.rhs)}`;
    case 'unary':
      return n.op + wrap(n.expr);
    case 'spansetFilter':
      return `{ ${exprToString(n.expr)} }`;
    case 'aggregate':
      return n.expr === undefined ? `${n.op}()` : `${n.op}(${exprToString(n.expr)})`;
    case 'groupOperation':
      return `by(${exprToString(n.expr)})`;
    case 'coalesceOperation':
      return 'coalesce()';
    case 'selectOperation':
      return `select(${n.attributes.map(attributeToString).join(', ')})`;
    case 'pipeline':
      return n.elements.map(exprToString).join('|');
  }
}

export function rootToString(r: RootExpr): string {
  const hints = r.hints.length > 0 ? ` with(${r.hints.map((h) => `${h.name}=${staticToString(h.value)}`).join(',')})` : '';
  return exprToString(r.pipeline) + hints;
}
