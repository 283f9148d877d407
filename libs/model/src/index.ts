// @stave/model: the trace model — OTLP wire scanning and JSON, combining/deduplicating traces, and
// Jaeger/Zipkin ↔ OTLP conversion. Each section below is owned by one area; list exports explicitly.

// --- OTLP (otlp/) ---
export { splitByTrace, type SplitOptions, type SplitResult, type TraceSplit } from './otlp/split';
export { isValidUtf8, MAX_NESTING_DEPTH } from './otlp/protobuf-wire';
export { parseOtlpJson, toOtlpJson } from './otlp/json';
export { combineTraceBytes, combineTraces, countSpans, type TraceLike } from './otlp/combine';
export {
  parseTempoTraceJson,
  parseTraceID,
  tempoTraceByIDV2Json,
  tempoTraceByIDV2Proto,
  tempoTraceV1Json,
  traceIDToHex,
  type TempoPartialStatus,
  type TempoTraceByIDResponse,
} from './otlp/tempo-json';

// --- Jaeger and Zipkin (jaeger/, zipkin/) ---
export {
  BinaryReader,
  CompactReader,
  MAX_THRIFT_DEPTH,
  MessageType as ThriftMessageType,
  TType,
  thriftReader,
  type FieldHeader as ThriftFieldHeader,
  type ListHeader as ThriftListHeader,
  type MapHeader as ThriftMapHeader,
  type MessageHeader as ThriftMessageHeader,
  type ThriftProtocol,
  type ThriftReader,
} from './jaeger/thrift-reader';
export {
  decodeJaegerAgentEmitBatch,
  decodeJaegerThriftBatch,
  JaegerTagType,
  JaegerThriftSpanRefType,
  type JaegerThriftBatch,
  type JaegerThriftClientStats,
  type JaegerThriftLog,
  type JaegerThriftProcess,
  type JaegerThriftSpan,
  type JaegerThriftSpanRef,
  type JaegerThriftTag,
} from './jaeger/jaeger-thrift';
export {
  DEFAULT_EVENT_NAME as JAEGER_DEFAULT_EVENT_NAME,
  jaegerProtoBatchesToOtlp,
  jaegerProtoBatchToOtlp,
  jaegerThriftBatchToOtlp,
} from './jaeger/jaeger-to-otlp';
export type { ZipkinAnnotationModel, ZipkinEndpointModel, ZipkinKind, ZipkinSpanModel } from './zipkin/zipkin-model';
export { parseZipkinV1Json, parseZipkinV2Json } from './zipkin/zipkin-json';
export { decodeZipkinProto, zipkinProtoToModel } from './zipkin/zipkin-proto';
export {
  RESOURCE_TAG_PREFIXES as ZIPKIN_RESOURCE_TAG_PREFIXES,
  ZIPKIN_ATTR,
  zipkinProtoToOtlp,
  zipkinSpansToOtlp,
  zipkinV1JsonToOtlp,
  zipkinV2JsonToOtlp,
} from './zipkin/zipkin-to-otlp';
