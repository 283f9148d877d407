// The TraceQL parser. Tempo's grammar (pkg/traceql/expr.y, v2.7) is LALR with one precedence table for
// every binary operator, lowest first:
//   |   <   && ||   <   = != < <= > >= =~ !~ >> << ~ !> !< !>> !<< &> &< &>> &<< &~   <   + -   <   ! (unary)
//   <   * / %   <   ^ (right associative); everything else is left associative.
// So `{ .a = 1 || .b = 2 && .c = 3 }` is `((.a = 1) || (.b = 2)) && (.c = 3)`, as in Tempo.
//
// This parser reads the same language in two steps: precedence climbing over that table builds a
// neutral tree of terms and operators, then `classify` maps it onto the grammar's categories (spanset
// expression, pipeline, scalar filter, ...), rejecting combinations the grammar has no rule for at the
// token where an LR parser stops. Errors use Tempo's wording: `syntax error: unexpected X[, expecting Y]`.

import type {
  AggregateOp,
  AttributeExpr,
  AttributeScope,
  ComparisonOp,
  FieldExpr,
  Hint,
  Intrinsic,
  Pipeline,
  PipelineElement,
  RootExpr,
  ScalarExpr,
  ScalarOp,
  SpansetExpr,
  SpansetOp,
} from './ast';
import { isTraceQLError, TraceQLParseError } from './errors';
import { tokenize, type Token } from './lexer';
import { binaryFn, executeUnary, KIND, STATUS, type BinaryOp, type Static } from './static';
import { validateBinary, validateUnary } from './validate';

const PREC: Record<string, number> = {
  '|': 1,
  '&&': 2,
  '||': 2,
  '+': 4,
  '-': 4,
  '*': 6,
  '/': 6,
  '%': 6,
  '^': 7,
};
for (const op of ['=', '!=', '<', '<=', '>', '>=', '=~', '!~', '>>', '<<', '~', '!>', '!<', '!>>', '!<<', '&>', '&<', '&>>', '&<<', '&~']) PREC[op] = 3;
const NOT_PREC = 5;

const FIELD_OPS = new Set(['&&', '||', '=', '!=', '<', '<=', '>', '>=', '=~', '!~', '+', '-', '*', '/', '%', '^']);
const SPANSET_OPS = new Set<string>(['&&', '||', '>', '<', '>>', '<<', '~', '!>', '!<', '!>>', '!<<', '!~', '&>', '&<', '&>>', '&<<', '&~']);
const COMPARISON_OPS = new Set<string>(['=', '!=', '<', '<=', '>', '>=']);
const SCALAR_OPS = new Set<string>(['+', '-', '*', '/', '%', '^']);
/** Operators that only join spansets: after them only `{` or `(` may follow. */
const SPANSET_ONLY_OPS = new Set<string>(['&&', '||', '>>', '<<', '~', '!>', '!<', '!>>', '!<<', '!~', '&>', '&<', '&>>', '&<<', '&~']);

const INTRINSICS: Record<string, Intrinsic> = {
  duration: 'duration',
  childCount: 'childCount',
  name: 'name',
  status: 'status',
  statusMessage: 'statusMessage',
  kind: 'kind',
  parent: 'parent',
  rootName: 'rootName',
  rootServiceName: 'rootServiceName',
  traceDuration: 'traceDuration',
  nestedSetLeft: 'nestedSetLeft',
  nestedSetRight: 'nestedSetRight',
  nestedSetParent: 'nestedSetParent',
};

/** `scope:` → the intrinsics it allows, in Tempo's token order (its error messages list them so). */
const SCOPED_INTRINSICS: Record<string, Record<string, Intrinsic>> = {
  'trace:': { duration: 'traceDuration', rootName: 'rootName', rootService: 'rootServiceName', id: 'trace:id' },
  'span:': { duration: 'duration', name: 'name', status: 'status', statusMessage: 'statusMessage', kind: 'kind', id: 'span:id' },
  'event:': { name: 'event:name', timeSinceStart: 'event:timeSinceStart' },
  'link:': { traceID: 'link:traceID', spanID: 'link:spanID' },
  'instrumentation:': { name: 'instrumentation:name', version: 'instrumentation:version' },
};

const ATTRIBUTE_SCOPES: Record<string, AttributeScope> = {
  '.': 'none',
  'span.': 'span',
  'resource.': 'resource',
  'event.': 'event',
  'link.': 'link',
  'instrumentation.': 'instrumentation',
  'parent.': 'none',
};

const STATICS: Record<string, Static> = {
  true: { type: 'bool', value: true },
  false: { type: 'bool', value: false },
  nil: { type: 'nil' },
  ok: { type: 'status', value: STATUS.ok },
  error: { type: 'status', value: STATUS.error },
  unset: { type: 'status', value: STATUS.unset },
  unspecified: { type: 'kind', value: KIND.unspecified },
  internal: { type: 'kind', value: KIND.internal },
  server: { type: 'kind', value: KIND.server },
  client: { type: 'kind', value: KIND.client },
  producer: { type: 'kind', value: KIND.producer },
  consumer: { type: 'kind', value: KIND.consumer },
};

const AGGREGATES = new Set<string>(['count', 'avg', 'min', 'max', 'sum']);

/** A neutral tree node; `start` and `end` are token indexes (end: the token after the node). */
type GNode =
  | { readonly g: 'term'; readonly el: PipelineElement | ScalarExpr; readonly start: number; readonly end: number }
  | { readonly g: 'paren'; readonly inner: GNode; readonly start: number; readonly end: number }
  | {
      readonly g: 'binary';
      readonly op: string;
      readonly opIndex: number;
      readonly lhs: GNode;
      readonly rhs: GNode;
      readonly start: number;
      readonly end: number;
    };

interface Failure {
  readonly at: number;
  readonly expecting?: string;
}

type Result<T> = { ok: true; value: T } | { ok: false; fail: Failure };
const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = <T>(at: number, expecting?: string): Result<T> => ({ ok: false, fail: expecting === undefined ? { at } : { at, expecting } });
/** Of two failures the one further right wins: an LR parser reports the last token it could not shift. */
const further = (a: Failure, b: Failure): Failure => (b.at > a.at ? b : a);

/** Parses a TraceQL query into its syntax tree. Throws TraceQLParseError; types are checked by `validate`. */
export function parse(query: string): RootExpr {
  return new Parser(tokenize(query)).root();
}

/** Parses one field expression as written inside `{ }` (used by tests and by tag-value filters later). */
export function parseFieldExpression(text: string): FieldExpr {
  const p = new Parser(tokenize(text));
  const e = p.field(0);
  p.expectEnd();
  return e;
}

class Parser {
  private i = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)]!;
  }

  private take(): Token {
    const t = this.peek();
    if (this.i < this.tokens.length - 1) this.i++;
    return t;
  }

  private error(at: number, expecting?: string): never {
    const t = this.tokens[at]!;
    throw new TraceQLParseError(`syntax error: unexpected ${tokenName(t)}${expecting !== undefined ? `, expecting ${expecting}` : ''}`, t.line, t.col);
  }

  /** Takes a token of `type`, else fails naming `expecting` (null: name nothing, as when many would do). */
  private expect(type: string, expecting: string | null = type): Token {
    if (this.peek().type !== type) this.error(this.i, expecting ?? undefined);
    return this.take();
  }

  expectEnd(): void {
    if (this.peek().type !== 'EOF') this.error(this.i);
  }

  root(): RootExpr {
    const tree = this.top(0);
    const pipeline = this.asRoot(tree, true);
    const hints: Hint[] = [];
    if (this.peek().type === 'with') {
      this.take();
      this.expect('(');
      for (;;) {
        const name = this.expect('IDENTIFIER');
        this.expect('=');
        hints.push({ name: String(name.value), value: this.hintValue() });
        if (this.peek().type !== ',') break;
        this.take();
      }
      this.expect(')', ') or ,');
    }
    if (this.peek().type !== 'EOF') this.error(this.i, hints.length > 0 ? undefined : 'with');
    return { pipeline, hints };
  }

  private hintValue(): Static {
    const e = this.fieldTerm();
    if (e.kind !== 'static') this.error(this.i - 1);
    return e.value;
  }

  // ---- step 1: precedence climbing over the top level (outside braces) ----

  private top(minPrec: number): GNode {
    let left = this.topTerm();
    for (;;) {
      const op = String(this.peek().type);
      const prec = PREC[op];
      if (prec === undefined || prec < minPrec) return left;
      const opIndex = this.i;
      this.take();
      const right = this.top(op === '^' ? prec : prec + 1);
      left = { g: 'binary', op, opIndex, lhs: left, rhs: right, start: left.start, end: right.end };
    }
  }

  private topTerm(): GNode {
    const start = this.i;
    const t = this.peek();
    const term = (el: PipelineElement | ScalarExpr): GNode => ({ g: 'term', el, start, end: this.i });
    // after an operator that only joins spansets, only a spanset can follow
    if (this.afterSpansetOnlyOp(start) && t.type !== '{' && t.type !== '(') this.error(start, '{ or (');
    switch (t.type) {
      case '{': {
        this.take();
        if (this.peek().type === '}') {
          this.take();
          return term({ kind: 'spansetFilter', expr: { kind: 'static', value: { type: 'bool', value: true } } });
        }
        const expr = this.field(0);
        this.expect('}', null);
        return term({ kind: 'spansetFilter', expr });
      }
      case '(': {
        this.take();
        const inner = this.top(0);
        if (this.peek().type !== ')') this.error(this.i, inner.g === 'binary' && inner.op === '|' ? ') or |' : undefined);
        this.take();
        return { g: 'paren', inner, start, end: this.i };
      }
      case 'by': {
        this.take();
        this.expect('(');
        const expr = this.field(0);
        this.expect(')', null);
        return term({ kind: 'groupOperation', expr });
      }
      case 'coalesce':
        this.take();
        this.expect('(');
        this.expect(')');
        return term({ kind: 'coalesceOperation' });
      case 'select': {
        this.take();
        this.expect('(');
        const attributes: AttributeExpr[] = [this.attribute()];
        while (this.peek().type === ',') {
          this.take();
          attributes.push(this.attribute());
        }
        this.expect(')', ') or ,');
        return term({ kind: 'selectOperation', attributes });
      }
      case 'INTEGER':
      case 'FLOAT':
      case 'DURATION':
        this.take();
        return term({ kind: 'static', value: numberStatic(t, 1) });
      case '-': {
        this.take();
        const n = this.peek();
        if (n.type !== 'INTEGER' && n.type !== 'FLOAT' && n.type !== 'DURATION') this.error(this.i);
        this.take();
        return term({ kind: 'static', value: numberStatic(n, -1) });
      }
      default:
        if (AGGREGATES.has(String(t.type))) {
          this.take();
          this.expect('(');
          if (t.type === 'count') {
            this.expect(')');
            return term({ kind: 'aggregate', op: 'count' });
          }
          const expr = this.field(0);
          this.expect(')', null);
          return term({ kind: 'aggregate', op: t.type as AggregateOp, expr });
        }
        return this.error(start, this.afterSpansetOnlyOp(start) ? '{ or (' : undefined);
    }
  }

  private afterSpansetOnlyOp(at: number): boolean {
    return at > 0 && SPANSET_ONLY_OPS.has(String(this.tokens[at - 1]!.type));
  }

  // ---- field expressions (inside braces and function arguments) ----

  field(minPrec: number): FieldExpr {
    let left = this.fieldUnary();
    for (;;) {
      const op = String(this.peek().type);
      const prec = PREC[op];
      if (!FIELD_OPS.has(op) || prec === undefined || prec < minPrec) return left;
      this.take();
      const right = this.field(op === '^' ? prec : prec + 1);
      left = foldBinary(op as BinaryOp, left, right);
    }
  }

  private fieldUnary(): FieldExpr {
    const t = this.peek();
    if (t.type === '-' || t.type === '!') {
      this.take();
      // `-x` binds like binary minus (so `-a * b` is `-(a * b)`), `!x` like its own level above + and -
      const expr = this.field(t.type === '-' ? PREC['-']! + 1 : NOT_PREC + 1);
      return foldUnary(t.type, expr);
    }
    if (t.type === '(') {
      this.take();
      const e = this.field(0);
      this.expect(')', null);
      return e;
    }
    return this.fieldTerm();
  }

  private fieldTerm(): FieldExpr {
    const t = this.peek();
    switch (t.type) {
      case 'STRING':
        this.take();
        return { kind: 'static', value: { type: 'string', value: String(t.value) } };
      case 'INTEGER':
      case 'FLOAT':
      case 'DURATION':
        this.take();
        return { kind: 'static', value: numberStatic(t, 1) };
    }
    const s = STATICS[String(t.type)];
    if (s !== undefined) {
      this.take();
      return { kind: 'static', value: s };
    }
    return this.attribute();
  }

  /** An intrinsic (`duration`), scoped intrinsic (`span:name`) or attribute (`span.http.url`). */
  private attribute(): AttributeExpr {
    const t = this.peek();
    const type = String(t.type);
    const intrinsic = INTRINSICS[type];
    if (intrinsic !== undefined) {
      this.take();
      return { kind: 'attribute', scope: 'none', parent: false, name: '', intrinsic };
    }
    const scoped = SCOPED_INTRINSICS[type];
    if (scoped !== undefined) {
      this.take();
      const n = this.peek();
      const which = scoped[String(n.type)];
      if (which === undefined) {
        const names = Object.keys(scoped);
        this.error(this.i, names.length <= 4 ? names.join(' or ') : undefined);
      }
      this.take();
      return { kind: 'attribute', scope: 'none', parent: false, name: '', intrinsic: which };
    }
    const scope = ATTRIBUTE_SCOPES[type];
    if (scope === undefined) this.error(this.i);
    this.take();
    const parent = type === 'parent.';
    let finalScope = scope;
    if (parent && (this.peek().type === 'span.' || this.peek().type === 'resource.')) {
      finalScope = ATTRIBUTE_SCOPES[String(this.take().type)]!;
    }
    const name = this.expect('IDENTIFIER', parent && finalScope === 'none' ? 'IDENTIFIER or resource. or span.' : 'IDENTIFIER');
    this.expect('END_ATTRIBUTE');
    return { kind: 'attribute', scope: finalScope, parent, name: String(name.value) };
  }

  // ---- step 2: map the neutral tree onto the grammar's categories ----

  private asRoot(g: GNode, atTop: boolean): Pipeline {
    const p = this.spansetPipeline(g);
    if (p.ok) return p.value;
    const spe = this.spansetPipelineExpr(g);
    if (spe.ok) return asPipeline(spe.value);
    const sf = this.scalarPipelineFilter(g);
    if (sf.ok) return { kind: 'pipeline', elements: [sf.value] };
    const f = further(further(p.fail, spe.fail), sf.fail);
    // a complete query followed by an operator it cannot take: Tempo's parser then only expects hints
    let expecting = f.expecting;
    const at = atTop ? binaryAt(g, f.at) : undefined;
    if (at !== undefined && at.start === 0 && this.isRoot(at.lhs)) expecting = 'with';
    return this.error(f.at, expecting);
  }

  private isRoot(g: GNode): boolean {
    return this.spansetPipeline(g).ok || this.spansetPipelineExpr(g).ok || this.scalarPipelineFilter(g).ok;
  }

  private failAt(g: GNode): Failure {
    if (g.g === 'binary') return { at: g.opIndex };
    // an aggregate or number alone is incomplete: the parser stops at what follows it
    if (g.g === 'term' && (g.el.kind === 'aggregate' || g.el.kind === 'static')) return { at: g.end };
    return { at: g.start };
  }

  private spansetExpr(g: GNode): Result<SpansetExpr> {
    if (g.g === 'term') return g.el.kind === 'spansetFilter' ? ok(g.el) : { ok: false, fail: this.failAt(g) };
    if (g.g === 'paren') return this.spansetExpr(g.inner);
    return this.binary(g, SPANSET_OPS, (x) => this.spansetExpr(x), spansetOperation);
  }

  private spansetPipeline(g: GNode): Result<Pipeline> {
    if (g.g === 'binary' && g.op === '|') {
      const l = this.spansetPipeline(g.lhs);
      if (!l.ok) return l;
      const r = this.pipelineStage(g.rhs, true);
      if (!r.ok) return r;
      return ok({ kind: 'pipeline', elements: [...l.value.elements, r.value] });
    }
    const first = this.pipelineStage(g, false);
    return first.ok ? ok({ kind: 'pipeline', elements: [first.value] }) : first;
  }

  private pipelineStage(g: GNode, afterPipe: boolean): Result<PipelineElement> {
    if (g.g === 'term') {
      const k = g.el.kind;
      if (k === 'groupOperation' || k === 'selectOperation' || k === 'spansetFilter' || (afterPipe && k === 'coalesceOperation')) {
        return ok(g.el as PipelineElement);
      }
    }
    const se = this.spansetExpr(g);
    if (se.ok) return se;
    const sf = this.scalarFilter(g);
    if (sf.ok) return sf;
    return { ok: false, fail: further(se.fail, sf.fail) };
  }

  /** A binary node with an operator from `ops` whose sides both read as `side`. */
  private binary<T, U>(g: GNode, ops: ReadonlySet<string>, side: (g: GNode) => Result<T>, build: (op: string, l: T, r: T) => U): Result<U> {
    if (g.g !== 'binary') return { ok: false, fail: this.failAt(g) };
    const l = side(g.lhs);
    // an LR parser stops at the first token no query can continue with: inside the left operand when
    // that is already wrong, else at this operator
    if (!ops.has(g.op)) return l.ok ? { ok: false, fail: this.failAt(g) } : l;
    if (!l.ok) return l;
    const r = side(g.rhs);
    if (!r.ok) return r;
    return ok(build(g.op, l.value, r.value));
  }

  private scalarFilter(g: GNode): Result<PipelineElement> {
    return this.binary(
      g,
      COMPARISON_OPS,
      (x) => this.scalarExpr(x),
      (op, lhs, rhs) => ({ kind: 'scalarFilter', op: op as ComparisonOp, lhs, rhs }),
    );
  }

  private scalarExpr(g: GNode): Result<ScalarExpr> {
    if (g.g === 'term') return g.el.kind === 'aggregate' || g.el.kind === 'static' ? ok(g.el) : fail(g.start);
    if (g.g === 'paren') return this.scalarExpr(g.inner);
    return this.binary(g, SCALAR_OPS, (x) => this.scalarExpr(x), scalarOperation);
  }

  private spansetPipelineExpr(g: GNode): Result<SpansetExpr> {
    if (g.g === 'paren') {
      const inner = this.spansetPipelineExpr(g.inner);
      if (inner.ok) return inner;
      const wrapped = this.spansetPipeline(g.inner);
      return wrapped.ok ? wrapped : { ok: false, fail: further(inner.fail, wrapped.fail) };
    }
    return this.binary(g, SPANSET_OPS, (x) => this.spansetPipelineExpr(x), spansetOperation);
  }

  private scalarPipelineFilter(g: GNode): Result<PipelineElement> {
    if (g.g !== 'binary' || !COMPARISON_OPS.has(g.op)) return { ok: false, fail: this.failAt(g) };
    const l = this.scalarPipelineExpr(g.lhs);
    if (!l.ok) return l;
    const r = g.rhs.g === 'term' && g.rhs.el.kind === 'static' ? ok<ScalarExpr>(g.rhs.el) : this.scalarPipelineExpr(g.rhs);
    if (!r.ok) return r;
    return ok({ kind: 'scalarFilter', op: g.op as ComparisonOp, lhs: l.value, rhs: r.value });
  }

  private scalarPipelineExpr(g: GNode): Result<ScalarExpr> {
    if (g.g === 'paren') {
      const inner = this.scalarPipelineExpr(g.inner);
      if (inner.ok) return inner;
      const i = g.inner;
      if (i.g === 'binary' && i.op === '|' && i.rhs.g === 'term' && i.rhs.el.kind === 'aggregate') {
        const p = this.spansetPipeline(i.lhs);
        if (!p.ok) return p;
        return ok({ kind: 'pipeline', elements: [...p.value.elements, i.rhs.el] });
      }
      return inner;
    }
    return this.binary(g, SCALAR_OPS, (x) => this.scalarPipelineExpr(x), scalarOperation);
  }
}

const spansetOperation = (op: string, lhs: SpansetExpr, rhs: SpansetExpr): SpansetExpr => ({ kind: 'spansetOperation', op: op as SpansetOp, lhs, rhs });
const scalarOperation = (op: string, lhs: ScalarExpr, rhs: ScalarExpr): ScalarExpr => ({ kind: 'scalarOperation', op: op as ScalarOp, lhs, rhs });

/** The binary node whose operator is the token at `index`. */
function binaryAt(g: GNode, index: number): Extract<GNode, { g: 'binary' }> | undefined {
  if (g.g === 'paren') return binaryAt(g.inner, index);
  if (g.g !== 'binary') return undefined;
  if (g.opIndex === index) return g;
  return index < g.opIndex ? binaryAt(g.lhs, index) : binaryAt(g.rhs, index);
}

/** Tempo's root wraps a lone spanset expression in a one-element pipeline. */
function asPipeline(e: SpansetExpr): Pipeline {
  return e.kind === 'pipeline' ? e : { kind: 'pipeline', elements: [e] };
}

function tokenName(t: Token): string {
  if (t.type === 'EOF') return '$end';
  return String(t.type);
}

function numberStatic(t: Token, sign: 1 | -1): Static {
  const v = sign * Number(t.value);
  if (t.type === 'INTEGER') return { type: 'int', value: v };
  if (t.type === 'FLOAT') return { type: 'float', value: v };
  return { type: 'duration', value: v };
}

/** Folds an operation on constants as Tempo does (`{ 1 + 1 = 2 }` becomes `{ true }`) when it is valid. */
function foldBinary(op: BinaryOp, lhs: FieldExpr, rhs: FieldExpr): FieldExpr {
  const node: FieldExpr = { kind: 'binary', op, lhs, rhs };
  if (lhs.kind !== 'static' || rhs.kind !== 'static') return node;
  try {
    validateBinary(node);
    return { kind: 'static', value: binaryFn(op)(lhs.value, rhs.value) };
  } catch (e) {
    if (isTraceQLError(e)) return node; // left for validation to report
    throw e;
  }
}

function foldUnary(op: '-' | '!', expr: FieldExpr): FieldExpr {
  const node: FieldExpr = { kind: 'unary', op, expr };
  if (expr.kind !== 'static') return node;
  try {
    validateUnary(node);
  } catch (e) {
    if (isTraceQLError(e)) return node;
    throw e;
  }
  return { kind: 'static', value: executeUnary(op, expr.value) };
}
