// OTLP/JSON: the proto3 JSON mapping with OTLP's deviations (opentelemetry-proto docs/specification.md,
// "JSON Protobuf Encoding"): trace and span IDs are case-insensitive hex strings rather than base64, enums
// are integers, and unknown fields are ignored. As proto3 JSON requires, 64-bit integers are written as
// decimal strings and read from strings or numbers.
//
// The parser is written out per message rather than using protobuf-es's fromJson, for two reasons: IDs
// need hex, and every error must name the JSON path of the bad value
// ("resourceSpans[0].scopeSpans[1].spans[3].traceId: ..."), which a generic decoder cannot tell.
//
// Leniencies, on purpose: the original proto field names (trace_id) are accepted beside lowerCamelCase (as
// the proto3 JSON mapping requires of parsers, though OTLP says senders must use lowerCamelCase); enum
// names ("SPAN_KIND_SERVER") are accepted beside integers; null means "not set" for any field.

import { create } from '@bufbuild/protobuf';
import {
  AnyValueSchema,
  ArrayValueSchema,
  EntityRefSchema,
  ExportTraceServiceRequestSchema,
  InstrumentationScopeSchema,
  KeyValueListSchema,
  KeyValueSchema,
  ResourceSchema,
  ResourceSpansSchema,
  ScopeSpansSchema,
  SpanSchema,
  Span_EventSchema,
  Span_LinkSchema,
  Span_SpanKindSchema,
  StatusSchema,
  Status_StatusCodeSchema,
  type AnyValue,
  type EntityRef,
  type ExportTraceServiceRequest,
  type InstrumentationScope,
  type KeyValue,
  type Resource,
  type ResourceSpans,
  type ScopeSpans,
  type Span,
  type Span_Event,
  type Span_Link,
  type Status,
} from '@stave/proto';
import { Code, ConnectError } from '@stave/core';
import { MAX_NESTING_DEPTH } from './protobuf-wire';

type JsonObject = Record<string, unknown>;

function fail(path: string, problem: string): never {
  throw new ConnectError(`invalid OTLP JSON at ${path || '$'}: ${problem}`, Code.InvalidArgument);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** The value under the lowerCamelCase key, else under the original proto name. */
function get(obj: JsonObject, camel: string, snake?: string): unknown {
  const v = obj[camel];
  return v === undefined && snake !== undefined ? obj[snake] : v;
}

function asObject(v: unknown, path: string): JsonObject | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) fail(path, `expected an object, got ${describe(v)}`);
  return v as JsonObject;
}

function asArray(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(path, `expected an array, got ${describe(v)}`);
  return v;
}

function str(obj: JsonObject, camel: string, snake: string | undefined, path: string): string {
  const v = get(obj, camel, snake);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') fail(join(path, camel), `expected a string, got ${describe(v)}`);
  return v;
}

const DECIMAL = /^-?[0-9]+$/;

function uint32(obj: JsonObject, camel: string, snake: string | undefined, path: string): number {
  const v = get(obj, camel, snake);
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' && DECIMAL.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    fail(join(path, camel), `expected an unsigned 32-bit integer, got ${describe(v)}`);
  }
  return n;
}

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function int64Value(v: unknown, path: string, signed: boolean): bigint {
  let n: bigint | undefined;
  if (typeof v === 'string' && DECIMAL.test(v)) n = BigInt(v);
  else if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  const min = signed ? INT64_MIN : 0n;
  const max = signed ? INT64_MAX : UINT64_MAX;
  if (n === undefined || n < min || n > max) {
    fail(path, `expected ${signed ? 'a signed' : 'an unsigned'} 64-bit integer (a decimal string or a number), got ${describe(v)}`);
  }
  return n;
}

function uint64(obj: JsonObject, camel: string, snake: string, path: string): bigint {
  const v = get(obj, camel, snake);
  if (v === undefined || v === null) return 0n;
  return int64Value(v, join(path, camel), false);
}

function double(v: unknown, path: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = Number(v);
    if (v.trim() !== '' && !Number.isNaN(n)) return n;
  }
  fail(path, `expected a number, got ${describe(v)}`);
}

function enumValue(obj: JsonObject, key: string, path: string, names: ReadonlyMap<string, number>): number {
  const v = obj[key];
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) return v;
  if (typeof v === 'string') {
    const n = names.get(v);
    if (n !== undefined) return n;
  }
  fail(join(path, key), `expected an enum integer (or one of ${[...names.keys()].join(', ')}), got ${describe(v)}`);
}

const SPAN_KINDS = new Map(Span_SpanKindSchema.values.map((v) => [v.name, v.number]));
const STATUS_CODES = new Map(Status_StatusCodeSchema.values.map((v) => [v.name, v.number]));

const HEX = /^[0-9a-fA-F]*$/;

/** A trace or span ID: hex, case-insensitive; the empty string is an absent ID. Lengths are checked by splitByTrace. */
function hexId(obj: JsonObject, camel: string, snake: string, path: string): Uint8Array {
  const v = get(obj, camel, snake);
  if (v === undefined || v === null || v === '') return new Uint8Array(0);
  if (typeof v !== 'string' || !HEX.test(v) || v.length % 2 !== 0) {
    fail(join(path, camel), `expected a hex string with an even number of digits, got ${describe(v)}`);
  }
  return new Uint8Array(Buffer.from(v, 'hex'));
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function base64(v: unknown, path: string): Uint8Array {
  if (typeof v !== 'string' || !BASE64.test(v) || v.replace(/=+$/, '').length % 4 === 1) {
    fail(path, `expected base64 bytes, got ${describe(v)}`);
  }
  return new Uint8Array(Buffer.from(v, 'base64'));
}

/**
 * Parses an OTLP/JSON ExportTraceServiceRequest. Bad JSON or a value of the wrong shape is a
 * ConnectError(InvalidArgument) whose message names the JSON path of the problem.
 */
export function parseOtlpJson(text: string): ExportTraceServiceRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConnectError(`invalid JSON: ${(err as Error).message}`, Code.InvalidArgument);
  }
  const root = asObject(doc, '');
  if (root === undefined) fail('', `expected an object, got ${describe(doc)}`);
  const list = asArray(get(root, 'resourceSpans', 'resource_spans'), 'resourceSpans');
  return create(ExportTraceServiceRequestSchema, { resourceSpans: list.map((v, i) => resourceSpans(v, `resourceSpans[${i}]`)) });
}

function resourceSpans(v: unknown, path: string): ResourceSpans {
  const o = asObject(v, path) ?? {};
  const res = asObject(get(o, 'resource'), join(path, 'resource'));
  const scopes = asArray(get(o, 'scopeSpans', 'scope_spans'), join(path, 'scopeSpans'));
  return create(ResourceSpansSchema, {
    resource: res === undefined ? undefined : resource(res, join(path, 'resource')),
    scopeSpans: scopes.map((s, i) => scopeSpans(s, `${path}.scopeSpans[${i}]`)),
    schemaUrl: str(o, 'schemaUrl', 'schema_url', path),
  });
}

function resource(o: JsonObject, path: string): Resource {
  return create(ResourceSchema, {
    attributes: keyValues(get(o, 'attributes'), join(path, 'attributes'), 0),
    droppedAttributesCount: uint32(o, 'droppedAttributesCount', 'dropped_attributes_count', path),
    entityRefs: asArray(get(o, 'entityRefs', 'entity_refs'), join(path, 'entityRefs')).map((e, i) => entityRef(e, `${path}.entityRefs[${i}]`)),
  });
}

function entityRef(v: unknown, path: string): EntityRef {
  const o = asObject(v, path) ?? {};
  const strings = (camel: string, snake: string): string[] =>
    asArray(get(o, camel, snake), join(path, camel)).map((s, i) => {
      if (typeof s !== 'string') fail(`${path}.${camel}[${i}]`, `expected a string, got ${describe(s)}`);
      return s;
    });
  return create(EntityRefSchema, {
    schemaUrl: str(o, 'schemaUrl', 'schema_url', path),
    type: str(o, 'type', undefined, path),
    idKeys: strings('idKeys', 'id_keys'),
    descriptionKeys: strings('descriptionKeys', 'description_keys'),
  });
}

function scopeSpans(v: unknown, path: string): ScopeSpans {
  const o = asObject(v, path) ?? {};
  const sc = asObject(get(o, 'scope'), join(path, 'scope'));
  return create(ScopeSpansSchema, {
    scope: sc === undefined ? undefined : scope(sc, join(path, 'scope')),
    spans: asArray(get(o, 'spans'), join(path, 'spans')).map((s, i) => span(s, `${path}.spans[${i}]`)),
    schemaUrl: str(o, 'schemaUrl', 'schema_url', path),
  });
}

function scope(o: JsonObject, path: string): InstrumentationScope {
  return create(InstrumentationScopeSchema, {
    name: str(o, 'name', undefined, path),
    version: str(o, 'version', undefined, path),
    attributes: keyValues(get(o, 'attributes'), join(path, 'attributes'), 0),
    droppedAttributesCount: uint32(o, 'droppedAttributesCount', 'dropped_attributes_count', path),
  });
}

function span(v: unknown, path: string): Span {
  const o = asObject(v, path) ?? {};
  const st = asObject(get(o, 'status'), join(path, 'status'));
  return create(SpanSchema, {
    traceId: hexId(o, 'traceId', 'trace_id', path),
    spanId: hexId(o, 'spanId', 'span_id', path),
    traceState: str(o, 'traceState', 'trace_state', path),
    parentSpanId: hexId(o, 'parentSpanId', 'parent_span_id', path),
    flags: uint32(o, 'flags', undefined, path),
    name: str(o, 'name', undefined, path),
    kind: enumValue(o, 'kind', path, SPAN_KINDS),
    startTimeUnixNano: uint64(o, 'startTimeUnixNano', 'start_time_unix_nano', path),
    endTimeUnixNano: uint64(o, 'endTimeUnixNano', 'end_time_unix_nano', path),
    attributes: keyValues(get(o, 'attributes'), join(path, 'attributes'), 0),
    droppedAttributesCount: uint32(o, 'droppedAttributesCount', 'dropped_attributes_count', path),
    events: asArray(get(o, 'events'), join(path, 'events')).map((e, i) => spanEvent(e, `${path}.events[${i}]`)),
    droppedEventsCount: uint32(o, 'droppedEventsCount', 'dropped_events_count', path),
    links: asArray(get(o, 'links'), join(path, 'links')).map((l, i) => spanLink(l, `${path}.links[${i}]`)),
    droppedLinksCount: uint32(o, 'droppedLinksCount', 'dropped_links_count', path),
    status: st === undefined ? undefined : status(st, join(path, 'status')),
  });
}

function spanEvent(v: unknown, path: string): Span_Event {
  const o = asObject(v, path) ?? {};
  return create(Span_EventSchema, {
    timeUnixNano: uint64(o, 'timeUnixNano', 'time_unix_nano', path),
    name: str(o, 'name', undefined, path),
    attributes: keyValues(get(o, 'attributes'), join(path, 'attributes'), 0),
    droppedAttributesCount: uint32(o, 'droppedAttributesCount', 'dropped_attributes_count', path),
  });
}

function spanLink(v: unknown, path: string): Span_Link {
  const o = asObject(v, path) ?? {};
  return create(Span_LinkSchema, {
    traceId: hexId(o, 'traceId', 'trace_id', path),
    spanId: hexId(o, 'spanId', 'span_id', path),
    traceState: str(o, 'traceState', 'trace_state', path),
    attributes: keyValues(get(o, 'attributes'), join(path, 'attributes'), 0),
    droppedAttributesCount: uint32(o, 'droppedAttributesCount', 'dropped_attributes_count', path),
    flags: uint32(o, 'flags', undefined, path),
  });
}

function status(o: JsonObject, path: string): Status {
  return create(StatusSchema, {
    message: str(o, 'message', undefined, path),
    code: enumValue(o, 'code', path, STATUS_CODES),
  });
}

function keyValues(v: unknown, path: string, depth: number): KeyValue[] {
  return asArray(v, path).map((kv, i) => keyValue(kv, `${path}[${i}]`, depth));
}

function keyValue(v: unknown, path: string, depth: number): KeyValue {
  const o = asObject(v, path) ?? {};
  const val = asObject(get(o, 'value'), join(path, 'value'));
  return create(KeyValueSchema, {
    key: str(o, 'key', undefined, path),
    value: val === undefined ? undefined : anyValue(val, join(path, 'value'), depth + 1),
  });
}

function anyValue(o: JsonObject, path: string, depth: number): AnyValue {
  if (depth > MAX_NESTING_DEPTH) fail(path, `values nested deeper than ${MAX_NESTING_DEPTH} levels`);
  let value: AnyValue['value'] = { case: undefined };
  const set = (key: string, next: AnyValue['value']): void => {
    if (value.case !== undefined) fail(path, `more than one value is set (${value.case} and ${key})`);
    value = next;
  };
  const pick = (camel: string, snake: string): unknown => get(o, camel, snake) ?? undefined;

  const s = pick('stringValue', 'string_value');
  if (s !== undefined && s !== null) {
    if (typeof s !== 'string') fail(join(path, 'stringValue'), `expected a string, got ${describe(s)}`);
    set('stringValue', { case: 'stringValue', value: s });
  }
  const b = pick('boolValue', 'bool_value');
  if (b !== undefined && b !== null) {
    if (typeof b !== 'boolean') fail(join(path, 'boolValue'), `expected true or false, got ${describe(b)}`);
    set('boolValue', { case: 'boolValue', value: b });
  }
  const i = pick('intValue', 'int_value');
  if (i !== undefined && i !== null) set('intValue', { case: 'intValue', value: int64Value(i, join(path, 'intValue'), true) });
  const d = pick('doubleValue', 'double_value');
  if (d !== undefined && d !== null) set('doubleValue', { case: 'doubleValue', value: double(d, join(path, 'doubleValue')) });
  const a = pick('arrayValue', 'array_value');
  if (a !== undefined && a !== null) {
    const ap = join(path, 'arrayValue');
    const ao = asObject(a, ap)!;
    const values = asArray(get(ao, 'values'), join(ap, 'values')).map((e, k) => {
      const ep = `${ap}.values[${k}]`;
      return anyValue(asObject(e, ep) ?? {}, ep, depth + 1);
    });
    set('arrayValue', { case: 'arrayValue', value: create(ArrayValueSchema, { values }) });
  }
  const kv = pick('kvlistValue', 'kvlist_value');
  if (kv !== undefined && kv !== null) {
    const kp = join(path, 'kvlistValue');
    const ko = asObject(kv, kp)!;
    set('kvlistValue', { case: 'kvlistValue', value: create(KeyValueListSchema, { values: keyValues(get(ko, 'values'), join(kp, 'values'), depth + 1) }) });
  }
  const by = pick('bytesValue', 'bytes_value');
  if (by !== undefined && by !== null) set('bytesValue', { case: 'bytesValue', value: base64(by, join(path, 'bytesValue')) });
  return create(AnyValueSchema, { value });
}

// --- writing --------------------------------------------------------------------------------------------

type Out = Record<string, unknown>;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function doubleJson(n: number): number | string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return n;
}

/**
 * Writes OTLP/JSON: lowerCamelCase keys, hex IDs, integer enums, 64-bit integers as decimal strings, other
 * bytes as base64, and (as proto3 JSON does) fields holding their default value left out. Accepts an
 * ExportTraceServiceRequest, a TracesData or a stave.v1.Trace.
 */
export function toOtlpJson(msg: { readonly resourceSpans: readonly ResourceSpans[] }): string {
  return JSON.stringify(msg.resourceSpans.length ? { resourceSpans: msg.resourceSpans.map(resourceSpansJson) } : {});
}

function resourceSpansJson(rs: ResourceSpans): Out {
  const o: Out = {};
  if (rs.resource) o.resource = resourceJson(rs.resource);
  if (rs.scopeSpans.length) o.scopeSpans = rs.scopeSpans.map(scopeSpansJson);
  if (rs.schemaUrl) o.schemaUrl = rs.schemaUrl;
  return o;
}

function resourceJson(r: Resource): Out {
  const o: Out = {};
  if (r.attributes.length) o.attributes = r.attributes.map(keyValueJson);
  if (r.droppedAttributesCount) o.droppedAttributesCount = r.droppedAttributesCount;
  if (r.entityRefs.length) {
    o.entityRefs = r.entityRefs.map((e) => {
      const x: Out = {};
      if (e.schemaUrl) x.schemaUrl = e.schemaUrl;
      if (e.type) x.type = e.type;
      if (e.idKeys.length) x.idKeys = e.idKeys;
      if (e.descriptionKeys.length) x.descriptionKeys = e.descriptionKeys;
      return x;
    });
  }
  return o;
}

function scopeSpansJson(ss: ScopeSpans): Out {
  const o: Out = {};
  if (ss.scope) {
    const s: Out = {};
    if (ss.scope.name) s.name = ss.scope.name;
    if (ss.scope.version) s.version = ss.scope.version;
    if (ss.scope.attributes.length) s.attributes = ss.scope.attributes.map(keyValueJson);
    if (ss.scope.droppedAttributesCount) s.droppedAttributesCount = ss.scope.droppedAttributesCount;
    o.scope = s;
  }
  if (ss.spans.length) o.spans = ss.spans.map(spanJson);
  if (ss.schemaUrl) o.schemaUrl = ss.schemaUrl;
  return o;
}

function spanJson(s: Span): Out {
  const o: Out = {};
  if (s.traceId.length) o.traceId = hex(s.traceId);
  if (s.spanId.length) o.spanId = hex(s.spanId);
  if (s.traceState) o.traceState = s.traceState;
  if (s.parentSpanId.length) o.parentSpanId = hex(s.parentSpanId);
  if (s.flags) o.flags = s.flags;
  if (s.name) o.name = s.name;
  if (s.kind) o.kind = s.kind;
  if (s.startTimeUnixNano) o.startTimeUnixNano = s.startTimeUnixNano.toString();
  if (s.endTimeUnixNano) o.endTimeUnixNano = s.endTimeUnixNano.toString();
  if (s.attributes.length) o.attributes = s.attributes.map(keyValueJson);
  if (s.droppedAttributesCount) o.droppedAttributesCount = s.droppedAttributesCount;
  if (s.events.length) {
    o.events = s.events.map((e) => {
      const x: Out = {};
      if (e.timeUnixNano) x.timeUnixNano = e.timeUnixNano.toString();
      if (e.name) x.name = e.name;
      if (e.attributes.length) x.attributes = e.attributes.map(keyValueJson);
      if (e.droppedAttributesCount) x.droppedAttributesCount = e.droppedAttributesCount;
      return x;
    });
  }
  if (s.droppedEventsCount) o.droppedEventsCount = s.droppedEventsCount;
  if (s.links.length) {
    o.links = s.links.map((l) => {
      const x: Out = {};
      if (l.traceId.length) x.traceId = hex(l.traceId);
      if (l.spanId.length) x.spanId = hex(l.spanId);
      if (l.traceState) x.traceState = l.traceState;
      if (l.attributes.length) x.attributes = l.attributes.map(keyValueJson);
      if (l.droppedAttributesCount) x.droppedAttributesCount = l.droppedAttributesCount;
      if (l.flags) x.flags = l.flags;
      return x;
    });
  }
  if (s.droppedLinksCount) o.droppedLinksCount = s.droppedLinksCount;
  if (s.status) {
    const x: Out = {};
    if (s.status.message) x.message = s.status.message;
    if (s.status.code) x.code = s.status.code;
    o.status = x;
  }
  return o;
}

/** One attribute in OTLP/JSON form (as Tempo prints attributes in its JSON answers). */
export function keyValueJson(kv: KeyValue): Out {
  const o: Out = {};
  if (kv.key) o.key = kv.key;
  if (kv.value) o.value = anyValueJson(kv.value);
  return o;
}

function anyValueJson(v: AnyValue): Out {
  const x = v.value;
  switch (x.case) {
    case 'stringValue':
      return { stringValue: x.value };
    case 'boolValue':
      return { boolValue: x.value };
    case 'intValue':
      return { intValue: x.value.toString() };
    case 'doubleValue':
      return { doubleValue: doubleJson(x.value) };
    case 'arrayValue':
      return { arrayValue: x.value.values.length ? { values: x.value.values.map(anyValueJson) } : {} };
    case 'kvlistValue':
      return { kvlistValue: x.value.values.length ? { values: x.value.values.map(keyValueJson) } : {} };
    case 'bytesValue':
      return { bytesValue: Buffer.from(x.value.buffer, x.value.byteOffset, x.value.byteLength).toString('base64') };
    default:
      return {};
  }
}
