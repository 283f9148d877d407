// Jaeger → OTLP, for the thrift model (agent UDP, collector HTTP) and the api_v2 protobuf model
// (collector gRPC). Semantics follow the OpenTelemetry Collector's Jaeger translator, so that Stave
// stores what Tempo (which embeds that receiver) stores:
//   process → resource: service.name plus typed tags; `hostname` → host.name and `jaeger.version` →
//     opencensus.exporterversion ("Jaeger-<v>") unless those keys are already set.
//   tags → typed attributes; `span.kind` → kind; `error`=true, `otel.status_code`,
//     `otel.status_description` and (as a fallback) `http.status_code` → status; `w3c.tracestate` →
//     trace_state; `otel.scope.*` (or the older `otel.library.*`) → instrumentation scope. Each of these
//     tags is removed once it has been turned into a field.
//   logs → events: name from the `event` field (removed), else DEFAULT_EVENT_NAME; µs → ns.
//   parent: the span's parentSpanId when non-zero, else the first CHILD_OF reference into the same
//     trace, else the first FOLLOWS_FROM into the same trace. Every reference except a CHILD_OF to the
//     parent becomes a link with attribute opentracing.ref_type (child_of | follows_from).
//   flags: Jaeger's sampled bit (1) → the W3C sampled bit of OTLP span flags; Jaeger's debug bit (2)
//     has no OTLP equivalent and is dropped.

import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import type { Duration, Timestamp } from '@bufbuild/protobuf/wkt';
import {
  ExportTraceServiceRequestSchema,
  JaegerProcessSchema,
  JaegerSpanRefType,
  JaegerValueType,
  Span_SpanKind,
  Status_StatusCode,
  type ExportTraceServiceRequest,
  type JaegerBatch,
  type JaegerKeyValue,
  type JaegerProcess,
  type JaegerSpan,
  type ResourceSpansSchema,
  type ScopeSpansSchema,
  type SpanSchema,
  type Span_LinkSchema,
} from '@stave/proto';
import { Code, ConnectError } from '@stave/core';
import { JaegerTagType, JaegerThriftSpanRefType, type JaegerThriftBatch, type JaegerThriftSpan, type JaegerThriftTag } from './jaeger-thrift';
import {
  AttributeMap,
  attrAsString,
  bool,
  bytes,
  bytesEqual,
  double,
  int,
  isAllZero,
  microsToNanos,
  spanIdFromU64,
  str,
  traceIdFromHighLow,
  type AttrValue,
  type KeyValueInit,
} from './otlp-build';

/** Name of an event made from a Jaeger log that has no `event` field. */
export const DEFAULT_EVENT_NAME = 'log';

/** The collector's placeholder for "no service name"; such a process yields an empty resource. */
const NO_SERVICE_NAME = 'OTLPResourceNoServiceName';

const TAG_SPAN_KIND = 'span.kind';
const TAG_ERROR = 'error';
const TAG_STATUS_CODE = 'otel.status_code';
const TAG_STATUS_DESCRIPTION = 'otel.status_description';
const TAG_HTTP_STATUS_CODE = 'http.status_code';
const TAG_HTTP_STATUS_MESSAGE = 'http.status_message';
const TAG_TRACE_STATE = 'w3c.tracestate';
const TAG_EVENT = 'event';
const REF_TYPE_ATTR = 'opentracing.ref_type';

type SpanInit = MessageInitShape<typeof SpanSchema>;
type LinkInit = MessageInitShape<typeof Span_LinkSchema>;
type ScopeSpansInit = MessageInitShape<typeof ScopeSpansSchema>;
type ResourceSpansInit = MessageInitShape<typeof ResourceSpansSchema>;

/** W3C trace-flags "sampled", in OTLP span flags' low byte. */
const SAMPLED = 0x01;

// --- the shape both models are reduced to ---

interface Ref {
  childOf: boolean;
  traceId: Uint8Array;
  spanId: Uint8Array;
}

interface NormSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  /** Thrift's explicit parentSpanId when non-zero. */
  parentSpanId: Uint8Array | undefined;
  name: string;
  refs: Ref[];
  flags: number;
  startNs: bigint;
  endNs: bigint;
  tags: AttributeMap;
  logs: Array<{ timeNs: bigint; fields: AttributeMap }>;
  blank: boolean;
}

interface NormProcess {
  serviceName: string;
  tags: AttributeMap;
}

interface NormGroup {
  process: NormProcess | undefined;
  spans: NormSpan[];
}

// --- thrift ---

/** Converts a thrift Batch (one process, many spans) into one OTLP request. */
export function jaegerThriftBatchToOtlp(batch: JaegerThriftBatch): ExportTraceServiceRequest {
  const process: NormProcess = { serviceName: batch.process.serviceName, tags: thriftTags(batch.process.tags) };
  return build([{ process, spans: batch.spans.map(normThriftSpan) }]);
}

function thriftTagValue(t: JaegerThriftTag): AttrValue {
  switch (t.vType) {
    case JaegerTagType.STRING:
      return str(t.vStr ?? '');
    case JaegerTagType.BOOL:
      return bool(t.vBool ?? false);
    case JaegerTagType.LONG:
      return int(t.vLong ?? 0n);
    case JaegerTagType.DOUBLE:
      return double(t.vDouble ?? 0);
    case JaegerTagType.BINARY:
      return bytes(t.vBinary ? t.vBinary.slice() : new Uint8Array(0));
    default:
      return str(`<Unknown Jaeger TagType ${t.vType}>`);
  }
}

function thriftTags(tags: JaegerThriftTag[]): AttributeMap {
  const m = new AttributeMap();
  for (const t of tags) m.put(t.key, thriftTagValue(t));
  return m;
}

function normThriftSpan(s: JaegerThriftSpan): NormSpan {
  const startNs = microsToNanos(s.startTime);
  const endNs = microsToNanos(s.startTime + s.duration);
  return {
    traceId: traceIdFromHighLow(s.traceIdHigh, s.traceIdLow),
    spanId: spanIdFromU64(s.spanId),
    parentSpanId: s.parentSpanId !== 0n ? spanIdFromU64(s.parentSpanId) : undefined,
    name: s.operationName,
    refs: s.references.map((r) => ({
      childOf: r.refType === JaegerThriftSpanRefType.CHILD_OF,
      traceId: traceIdFromHighLow(r.traceIdHigh, r.traceIdLow),
      spanId: spanIdFromU64(r.spanId),
    })),
    flags: s.flags,
    startNs,
    endNs: endNs < startNs ? startNs : endNs,
    tags: thriftTags(s.tags),
    logs: s.logs.map((l) => ({ timeNs: microsToNanos(l.timestamp), fields: thriftTags(l.fields) })),
    blank:
      s.traceIdLow === 0n &&
      s.traceIdHigh === 0n &&
      s.spanId === 0n &&
      s.parentSpanId === 0n &&
      s.flags === 0 &&
      s.operationName === '' &&
      s.startTime === 0n &&
      s.duration === 0n &&
      s.tags.length === 0 &&
      s.logs.length === 0 &&
      s.references.length === 0,
  };
}

// --- api_v2 protobuf ---

/** Converts one api_v2 Batch (as posted to CollectorService/PostSpans). */
export function jaegerProtoBatchToOtlp(batch: JaegerBatch): ExportTraceServiceRequest {
  return jaegerProtoBatchesToOtlp([batch]);
}

/**
 * Converts api_v2 batches. A span may carry its own process, which overrides the batch's: spans are
 * regrouped so that each distinct process becomes one resource.
 */
export function jaegerProtoBatchesToOtlp(batches: JaegerBatch[]): ExportTraceServiceRequest {
  const groups = new Map<string, NormGroup>();
  const groupFor = (p: JaegerProcess | undefined): NormGroup => {
    const key = p ? Buffer.from(toBinary(JaegerProcessSchema, p)).toString('latin1') : '';
    let g = groups.get(key);
    if (!g) {
      g = { process: p ? { serviceName: p.serviceName, tags: protoTags(p.tags) } : undefined, spans: [] };
      groups.set(key, g);
    }
    return g;
  };
  batches.forEach((batch, b) => {
    const batchGroup = groupFor(batch.process);
    batch.spans.forEach((span, i) => {
      const where = batches.length > 1 ? `jaeger batch[${b}] span[${i}]` : `jaeger span[${i}]`;
      (span.process ? groupFor(span.process) : batchGroup).spans.push(normProtoSpan(span, where));
    });
  });
  return build([...groups.values()]);
}

function protoTagValue(t: JaegerKeyValue): AttrValue {
  switch (t.vType) {
    case JaegerValueType.STRING:
      return str(t.vStr);
    case JaegerValueType.BOOL:
      return bool(t.vBool);
    case JaegerValueType.INT64:
      return int(t.vInt64);
    case JaegerValueType.FLOAT64:
      return double(t.vFloat64);
    case JaegerValueType.BINARY:
      return bytes(t.vBinary);
    default:
      return str(`<Unknown Jaeger TagType ${String(t.vType)}>`);
  }
}

function protoTags(tags: JaegerKeyValue[]): AttributeMap {
  const m = new AttributeMap();
  for (const t of tags) m.put(t.key, protoTagValue(t));
  return m;
}

function protoId(b: Uint8Array, len: 8 | 16, where: string, field: string): Uint8Array {
  // Empty means zero: proto3 omits an all-zero custom ID only when the sender chose to.
  if (b.length === 0) return new Uint8Array(len);
  if (b.length !== len) throw new ConnectError(`${where}: ${field} must be ${len} bytes, got ${b.length}`, Code.InvalidArgument);
  return b;
}

function timestampNanos(t: Timestamp | undefined): bigint {
  if (!t) return 0n;
  const ns = t.seconds * 1_000_000_000n + BigInt(t.nanos);
  return ns < 0n ? 0n : ns;
}

function durationNanos(d: Duration | undefined): bigint {
  if (!d) return 0n;
  const ns = d.seconds * 1_000_000_000n + BigInt(d.nanos);
  return ns < 0n ? 0n : ns;
}

function normProtoSpan(s: JaegerSpan, where: string): NormSpan {
  const traceId = protoId(s.traceId, 16, where, 'trace_id');
  const spanId = protoId(s.spanId, 8, where, 'span_id');
  const startNs = timestampNanos(s.startTime);
  return {
    traceId,
    spanId,
    parentSpanId: undefined,
    name: s.operationName,
    refs: s.references.map((r, j) => ({
      childOf: r.refType === JaegerSpanRefType.CHILD_OF,
      traceId: protoId(r.traceId, 16, `${where} reference[${j}]`, 'trace_id'),
      spanId: protoId(r.spanId, 8, `${where} reference[${j}]`, 'span_id'),
    })),
    flags: s.flags,
    startNs,
    endNs: startNs + durationNanos(s.duration),
    tags: protoTags(s.tags),
    logs: s.logs.map((l) => ({ timeNs: timestampNanos(l.timestamp), fields: protoTags(l.fields) })),
    blank:
      isAllZero(traceId) &&
      isAllZero(spanId) &&
      s.flags === 0 &&
      s.operationName === '' &&
      s.startTime === undefined &&
      s.duration === undefined &&
      s.tags.length === 0 &&
      s.logs.length === 0 &&
      s.references.length === 0,
  };
}

// --- building OTLP ---

function build(groups: NormGroup[]): ExportTraceServiceRequest {
  const resourceSpans: ResourceSpansInit[] = [];
  for (const g of groups) {
    if (!g.process && g.spans.length === 0) continue;
    const scopes = new Map<string, ScopeSpansInit & { spans: SpanInit[] }>();
    for (const s of g.spans) {
      if (s.blank) continue;
      const scope = takeScope(s.tags);
      const key = `${scope.name}\u0000${scope.version}`;
      let ss = scopes.get(key);
      if (!ss) {
        ss = { scope, spans: [] };
        scopes.set(key, ss);
      }
      ss.spans.push(spanInit(s));
    }
    resourceSpans.push({ resource: { attributes: resourceAttributes(g.process) }, scopeSpans: [...scopes.values()] });
  }
  return create(ExportTraceServiceRequestSchema, { resourceSpans });
}

function resourceAttributes(p: NormProcess | undefined): KeyValueInit[] {
  if (!p || p.serviceName === NO_SERVICE_NAME) return [];
  const attrs = new AttributeMap();
  if (p.serviceName !== '') attrs.put('service.name', str(p.serviceName));
  for (const [k, v] of p.tags.entries()) attrs.put(k, v);
  const hostname = attrs.get('hostname');
  if (hostname !== undefined && !attrs.has('host.name')) {
    attrs.take('hostname');
    attrs.put('host.name', hostname);
  }
  const jaegerVersion = attrs.get('jaeger.version');
  if (jaegerVersion !== undefined && !attrs.has('opencensus.exporterversion')) {
    attrs.take('jaeger.version');
    attrs.put('opencensus.exporterversion', str(`Jaeger-${attrAsString(jaegerVersion)}`));
  }
  return attrs.toInit();
}

function takeScope(tags: AttributeMap): { name: string; version: string } {
  const scopeName = tags.take('otel.scope.name');
  const scopeVersion = tags.take('otel.scope.version');
  const libName = tags.take('otel.library.name');
  const libVersion = tags.take('otel.library.version');
  if (scopeName !== undefined) return { name: attrAsString(scopeName), version: attrAsString(scopeVersion) };
  if (libName !== undefined) return { name: attrAsString(libName), version: attrAsString(libVersion) };
  return { name: '', version: '' };
}

function kindOf(tag: AttrValue | undefined): Span_SpanKind {
  switch (tag?.case === 'stringValue' ? tag.value.toLowerCase() : '') {
    case 'client':
      return Span_SpanKind.CLIENT;
    case 'server':
      return Span_SpanKind.SERVER;
    case 'producer':
      return Span_SpanKind.PRODUCER;
    case 'consumer':
      return Span_SpanKind.CONSUMER;
    case 'internal':
      return Span_SpanKind.INTERNAL;
    default:
      return Span_SpanKind.UNSPECIFIED;
  }
}

function httpStatusCode(v: AttrValue): number | undefined {
  if (v?.case === 'intValue') return Number(v.value);
  if (v?.case === 'stringValue' && /^-?\d+$/.test(v.value.trim())) return Number(v.value.trim());
  return undefined;
}

/**
 * Status from tags. `error=true` is the last word on a Jaeger span's error state; otherwise
 * `otel.status_code` decides; otherwise an `http.status_code` (4xx is an error for clients only).
 */
function takeStatus(attrs: AttributeMap, kind: Span_SpanKind): { code: Status_StatusCode; message: string } | undefined {
  let code = Status_StatusCode.UNSET;
  let message = '';
  let exists = false;
  const takeDescription = (): string | undefined => {
    const d = attrs.take(TAG_STATUS_DESCRIPTION);
    return d === undefined ? undefined : attrAsString(d);
  };

  const err = attrs.get(TAG_ERROR);
  if (err?.case === 'boolValue' && err.value) {
    attrs.take(TAG_ERROR);
    code = Status_StatusCode.ERROR;
    exists = true;
    const desc = takeDescription();
    if (desc !== undefined) message = desc;
    else if (attrs.has(TAG_HTTP_STATUS_MESSAGE)) message = attrAsString(attrs.get(TAG_HTTP_STATUS_MESSAGE));
  }

  const otelCode = attrs.get(TAG_STATUS_CODE);
  if (otelCode !== undefined) {
    if (!exists) {
      exists = true;
      const c = attrAsString(otelCode).toUpperCase();
      if (c === 'OK') code = Status_StatusCode.OK;
      else if (c === 'ERROR') code = Status_StatusCode.ERROR;
      const desc = takeDescription();
      if (desc !== undefined) message = desc;
    }
    attrs.take(TAG_STATUS_CODE);
  } else if (!exists) {
    const httpAttr = attrs.get(TAG_HTTP_STATUS_CODE);
    const status = httpAttr === undefined ? undefined : httpStatusCode(httpAttr);
    if (status !== undefined) {
      let c: Status_StatusCode;
      if (status >= 400 && status < 500 && kind === Span_SpanKind.SERVER) c = Status_StatusCode.UNSET;
      else c = status >= 100 && status < 400 ? Status_StatusCode.UNSET : Status_StatusCode.ERROR;
      if (c !== Status_StatusCode.UNSET) {
        exists = true;
        code = c;
        if (attrs.has(TAG_HTTP_STATUS_MESSAGE)) message = attrAsString(attrs.get(TAG_HTTP_STATUS_MESSAGE));
      }
    }
  }
  return exists ? { code, message } : undefined;
}

function refTypeAttr(childOf: boolean): KeyValueInit {
  return { key: REF_TYPE_ATTR, value: { value: str(childOf ? 'child_of' : 'follows_from') } };
}

function parentOf(s: NormSpan): Uint8Array | undefined {
  if (s.parentSpanId) return s.parentSpanId;
  let followsFrom: Ref | undefined;
  for (const r of s.refs) {
    if (!bytesEqual(r.traceId, s.traceId)) continue;
    if (r.childOf) return isAllZero(r.spanId) ? undefined : r.spanId;
    followsFrom ??= r;
  }
  return followsFrom && !isAllZero(followsFrom.spanId) ? followsFrom.spanId : undefined;
}

function spanInit(s: NormSpan): SpanInit {
  const attrs = s.tags;
  const kind = kindOf(attrs.take(TAG_SPAN_KIND));
  const status = takeStatus(attrs, kind);
  const traceState = attrs.take(TAG_TRACE_STATE);
  const parent = parentOf(s);

  const events = s.logs.map((l) => {
    const name = l.fields.take(TAG_EVENT);
    return {
      timeUnixNano: l.timeNs,
      name: name === undefined ? DEFAULT_EVENT_NAME : attrAsString(name),
      attributes: l.fields.toInit(),
    };
  });

  const links: LinkInit[] = [];
  for (const r of s.refs) {
    if (r.childOf && parent && bytesEqual(r.spanId, parent)) continue;
    links.push({
      traceId: r.traceId,
      spanId: r.spanId,
      attributes: [refTypeAttr(r.childOf)],
    });
  }

  return {
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: parent ?? new Uint8Array(0),
    traceState: traceState === undefined ? '' : attrAsString(traceState),
    flags: s.flags & SAMPLED,
    name: s.name,
    kind,
    startTimeUnixNano: s.startNs,
    endTimeUnixNano: s.endNs,
    attributes: attrs.toInit(),
    events,
    links,
    ...(status ? { status } : {}),
  };
}
