// @stave/model: the trace model — OTLP wire scanning and JSON, combining/deduplicating traces, and
// Jaeger/Zipkin ↔ OTLP conversion. Each section below is owned by one area; list exports explicitly, and
// only what other packages use (test support is @stave/model/testing).

// --- OTLP (otlp/) ---
export { splitByTrace, type SplitOptions, type SplitResult, type TraceSplit } from './otlp/split';
export { type ArenaPoolStats } from './otlp/arena-pool';
export { frameArena, frameWalRecord, SplitPool, WAL_FRAME_PREFIX, walFrameOf } from './otlp/split-pool';
export { varintSize, writeVarint } from './otlp/protobuf-wire';
export { keyValueJson, parseOtlpJson } from './otlp/json';
export { COMBINE_RULES, combineTraceBytes, combineTraces, countSpans, joinCombined, resourceKey, scopeKey, type TraceLike } from './otlp/combine';
export { parseTraceID, tempoTraceByIDV2Json, tempoTraceByIDV2Proto, tempoTraceV1Json, type TempoTraceByIDResponse } from './otlp/tempo-json';

// --- Jaeger and Zipkin (jaeger/, zipkin/) ---
export { decodeJaegerAgentEmitBatch, decodeJaegerThriftBatch, JaegerTagType, type JaegerThriftBatch } from './jaeger/jaeger-thrift';
export { jaegerProtoBatchToOtlp, jaegerThriftBatchToOtlp } from './jaeger/jaeger-to-otlp';
export { zipkinProtoToOtlp, zipkinV1JsonToOtlp, zipkinV2JsonToOtlp } from './zipkin/zipkin-to-otlp';

// --- invalid UTF-8 (one rule for every receiver) ---
export { decodeProtobufStringsLeniently, fromBinaryLenientUtf8 } from './lenient-utf8';
