// @stave/traceql: the TraceQL language as Tempo 2.7 defines it — lexer, parser, Tempo's parse-time type
// checks, and an evaluator over in-memory OTLP traces. List exports explicitly.

export type {
  Aggregate,
  AggregateOp,
  AttributeExpr,
  AttributeScope,
  BinaryExpr,
  CoalesceOperation,
  ComparisonOp,
  FieldExpr,
  GroupOperation,
  Hint,
  Intrinsic,
  Pipeline,
  PipelineElement,
  RootExpr,
  ScalarExpr,
  ScalarFilter,
  ScalarOperation,
  SelectOperation,
  SpansetExpr,
  SpansetFilter,
  SpansetOp,
  SpansetOperation,
  StaticExpr,
  UnaryExpr,
} from './ast';
export { attributeToString, exprToString, rootToString } from './ast';
export {
  compileQuery,
  DEFAULT_SPANS_PER_SPANSET,
  ERR_SPANSET_OPERATION_MULTIPLE,
  search,
  type CompiledQuery,
  type ResultAttribute,
  type ResultSpan,
  type ResultSpanset,
  type SearchOptions,
  type Spanset,
  type TraceResult,
} from './engine';
export { isTraceQLError, TraceQLError, TraceQLParseError, type TraceQLErrorReason } from './errors';
export { parseDuration, tokenize, type Token } from './lexer';
export { parse, parseFieldExpression } from './parser';
export { binaryFn, KIND, STATUS, staticToString, type BinaryOp, type ImpliedType, type Static, type StaticType } from './static';
export { anyValueToStatic, indexTraces, toHex, type EvalEvent, type EvalLink, type EvalSpan, type EvalTrace } from './trace-model';
export { impliedType, validate } from './validate';
