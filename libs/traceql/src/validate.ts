// Type checks Tempo runs after parsing (pkg/traceql/ast_validate.go), with its messages:
//   { .a = 1 && "x" }     → binary operations must operate on the same type: (.a = 1) && `x`
//   { duration > "foo" }  → binary operations must operate on the same type: duration > `foo`
//   { "a" + 1 = 2 }       → ...; { .a = nil } → {.a = nil} not yet supported
// plus, where Tempo fails only when the query runs, a regex that does not compile.

import {
  exprToString,
  type Aggregate,
  type AttributeExpr,
  type BinaryExpr,
  type FieldExpr,
  type Pipeline,
  type PipelineElement,
  type RootExpr,
  type ScalarExpr,
  type UnaryExpr,
} from './ast';
import { invalid, unsupported } from './errors';
import { compileRegex } from './regex';
import { binaryTypesValid, isBooleanOp, isMatchingOperand, isNumeric, unaryTypeValid, type ImpliedType } from './static';

const INTRINSIC_TYPES: Record<string, ImpliedType> = {
  duration: 'duration',
  childCount: 'int',
  name: 'string',
  status: 'status',
  statusMessage: 'string',
  kind: 'kind',
  'event:name': 'string',
  'event:timeSinceStart': 'duration',
  'link:traceID': 'string',
  'link:spanID': 'string',
  parent: 'nil',
  traceDuration: 'duration',
  rootServiceName: 'string',
  rootName: 'string',
  nestedSetLeft: 'int',
  nestedSetRight: 'int',
  nestedSetParent: 'int',
  'trace:id': 'string',
  'span:id': 'string',
};

export function impliedType(e: FieldExpr | ScalarExpr): ImpliedType {
  switch (e.kind) {
    case 'static':
      return e.value.type;
    case 'attribute':
      return e.intrinsic !== undefined ? (INTRINSIC_TYPES[e.intrinsic] ?? 'attribute') : 'attribute';
    case 'binary':
    case 'scalarOperation': {
      if (isBooleanOp(e.op)) return 'bool';
      const t = impliedType(e.lhs);
      return t !== 'attribute' ? t : impliedType(e.rhs);
    }
    case 'unary':
      return impliedType(e.expr);
    case 'aggregate':
      return e.expr === undefined ? 'int' : impliedType(e.expr);
    case 'pipeline': {
      const last = e.elements[e.elements.length - 1];
      return last?.kind === 'aggregate' ? impliedType(last) : 'spanset';
    }
  }
}

export function referencesSpan(e: FieldExpr): boolean {
  switch (e.kind) {
    case 'static':
      return false;
    case 'attribute':
      return true;
    case 'binary':
      return referencesSpan(e.lhs) || referencesSpan(e.rhs);
    case 'unary':
      return referencesSpan(e.expr);
  }
}

/** Throws the first problem Tempo would report, in the order Tempo checks. */
export function validate(root: RootExpr): void {
  validatePipeline(root.pipeline);
}

function validatePipeline(p: Pipeline): void {
  for (const el of p.elements) validateElement(el);
}

function validateElement(el: PipelineElement | ScalarExpr): void {
  switch (el.kind) {
    case 'pipeline':
      return validatePipeline(el);
    case 'groupOperation':
      if (!referencesSpan(el.expr)) throw invalid(`grouping field expressions must reference the span: ${exprToString(el)}`);
      return validateField(el.expr);
    case 'coalesceOperation':
      return;
    case 'selectOperation':
      for (const a of el.attributes) validateAttribute(a);
      return;
    case 'spansetOperation':
      validateElement(el.lhs);
      return validateElement(el.rhs);
    case 'spansetFilter': {
      validateField(el.expr);
      const t = impliedType(el.expr);
      if (t !== 'attribute' && t !== 'bool') throw invalid(`span filter field expressions must resolve to a boolean: ${exprToString(el)}`);
      return;
    }
    case 'aggregate':
      return validateAggregate(el);
    case 'static':
      return;
    case 'scalarOperation':
    case 'scalarFilter': {
      validateElement(el.lhs);
      validateElement(el.rhs);
      const lt = impliedType(el.lhs);
      const rt = impliedType(el.rhs);
      if (!isMatchingOperand(lt, rt)) throw invalid(`binary operations must operate on the same type: ${exprToString(el)}`);
      if (!binaryTypesValid(el.op, lt, rt)) throw invalid(`illegal operation for the given types: ${exprToString(el)}`);
      if (el.kind === 'scalarFilter') {
        // Tempo's own messages, unformatted placeholder included
        if (el.lhs.kind !== 'aggregate') throw unsupported('scalar filter lhs of type (%v)');
        if (el.rhs.kind !== 'static') throw unsupported('scalar filter rhs of type (%v)');
      }
      return;
    }
  }
}

function validateAggregate(a: Aggregate): void {
  if (a.expr === undefined) return;
  validateField(a.expr);
  const t = impliedType(a.expr);
  if (t !== 'attribute' && !isNumeric(t)) throw invalid(`aggregate field expressions must resolve to a number type: ${exprToString(a)}`);
  if (!referencesSpan(a.expr)) throw invalid(`aggregate field expressions must reference the span: ${exprToString(a)}`);
}

export function validateField(e: FieldExpr): void {
  switch (e.kind) {
    case 'static':
      return;
    case 'attribute':
      return validateAttribute(e);
    case 'binary':
      validateField(e.lhs);
      validateField(e.rhs);
      return validateBinary(e);
    case 'unary':
      validateField(e.expr);
      return validateUnary(e);
  }
}

/** Checks one binary operation whose operands are already valid. */
export function validateBinary(e: BinaryExpr): void {
  const lt = impliedType(e.lhs);
  const rt = impliedType(e.rhs);
  if (!isMatchingOperand(lt, rt)) throw invalid(`binary operations must operate on the same type: ${exprToString(e)}`);
  if (rt === 'nil' && e.op === '=') throw unsupported('{.a = nil}');
  if (!binaryTypesValid(e.op, lt, rt)) throw invalid(`illegal operation for the given types: ${exprToString(e)}`);
  if ((e.op === '=~' || e.op === '!~') && e.rhs.kind === 'static' && e.rhs.value.type === 'string') compileRegex(e.rhs.value.value);
}

export function validateUnary(e: UnaryExpr): void {
  const t = impliedType(e.expr);
  if (!unaryTypeValid(e.op, t)) throw invalid(`illegal operation for the given type: ${exprToString(e)}`);
}

function validateAttribute(a: AttributeExpr): void {
  if (a.parent) throw unsupported('parent');
  if (a.intrinsic === 'parent' || a.intrinsic === 'childCount') throw unsupported(`intrinsic (${a.intrinsic})`);
}
