// The exact, compact encoding of one trace that the `trace` column of data.parquet stores.
//
// Why not OTLP protobuf bytes: measured on realistic traces (bench/results/block.md), protobuf spends
// ~800 B/span before compression, interleaves random IDs with repetitive strings (which defeats the
// page codec), and protobuf-es's reflective toBinary manages ~32k spans/s. This encoding writes the
// same information into five streams that each compress well on their own and is hand-written per
// message, so it is several times faster and about a third smaller after compression.
//
// Exactness: every OTLP field (v1.8.0) is kept, including presence of optional messages (resource,
// scope, status, KeyValue.value), empty AnyValues, unknown enum numbers, IDs of any length, trace IDs
// that differ from the trace's own, and uint64 timestamps of any value. Order is kept as given, so a
// decoded trace `equals` the written one with no normalisation. Unknown protobuf fields are not kept.
//
// Layout of one encoded trace: varint lengths of streams shape, ids, times, strs; then the streams
// shape (structure: counts, presence bits, enums, small numbers), ids (raw ID bytes), times (zigzag
// deltas), strs (length-prefixed UTF-8 and bytes values), nums (int and double attribute values).
// Changing this layout changes the block format: bump FORMAT in meta.ts.

import type {
  AnyValue,
  EntityRef,
  InstrumentationScope,
  KeyValue,
  Resource,
  ResourceSpans,
  ScopeSpans,
  Span,
  Span_Event,
  Span_Link,
  Status,
  TracesData,
} from '@stave/proto';
import { isAscii } from 'node:buffer';
import { ByteReader, ByteWriter } from './bytes';

// Span presence bits (shape stream).
export const S_OWN_TRACE_ID = 1;
export const S_TRACE_STATE = 2;
export const S_STATUS = 4;
export const S_EVENTS = 8;
export const S_LINKS = 16;
export const S_DROPPED = 32;
export const S_FLAGS = 64;

// AnyValue tags (shape stream). 0 is "KeyValue.value absent".
export const V_ABSENT = 0;
export const V_EMPTY = 1;
export const V_STRING = 2;
export const V_TRUE = 3;
export const V_FALSE = 4;
export const V_INT = 5;
export const V_DOUBLE = 6;
export const V_ARRAY = 7;
export const V_KVLIST = 8;
export const V_BYTES = 9;

// Parent reference (shape stream): 0 empty, 1 explicit bytes follow, k+2 the k-th span of this trace.
export const P_EMPTY = 0;
export const P_EXPLICIT = 1;

/** Reusable encoder: one per writer (not shared between threads), streams reset per trace. */
export class TraceEncoder {
  private readonly shape = new ByteWriter(4096);
  private readonly ids = new ByteWriter(1024);
  private readonly times = new ByteWriter(1024);
  private readonly strs = new ByteWriter(8192);
  private readonly nums = new ByteWriter(512);
  private readonly spanIndex = new Map<string, number>();
  private traceId: Uint8Array = new Uint8Array(0);
  private spanCounter = 0;

  /** Appends the encoding of `trace` (whose trace ID is `traceId`) to `out`. */
  encode(traceId: Uint8Array, trace: TracesData, out: ByteWriter): void {
    this.shape.reset();
    this.ids.reset();
    this.times.reset();
    this.strs.reset();
    this.nums.reset();
    this.spanIndex.clear();
    this.traceId = traceId;
    this.spanCounter = 0;

    // First pass: index span IDs (so parents become small back-references) and find the base time.
    let base: bigint | undefined;
    let k = 0;
    for (const rs of trace.resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          const key = idKey(span.spanId);
          if (!this.spanIndex.has(key)) this.spanIndex.set(key, k);
          k++;
          if (base === undefined || span.startTimeUnixNano < base) base = span.startTimeUnixNano;
        }
      }
    }
    base ??= 0n;
    this.times.varintBig(base);

    const shape = this.shape;
    shape.varint(trace.resourceSpans.length);
    for (const rs of trace.resourceSpans) this.resourceSpans(rs, base);

    out.varint(shape.length);
    out.varint(this.ids.length);
    out.varint(this.times.length);
    out.varint(this.strs.length);
    out.bytes(shape.view());
    out.bytes(this.ids.view());
    out.bytes(this.times.view());
    out.bytes(this.strs.view());
    out.bytes(this.nums.view());
  }

  private resourceSpans(rs: ResourceSpans, base: bigint): void {
    const shape = this.shape;
    const r = rs.resource;
    shape.varint((r ? 1 : 0) | (rs.schemaUrl ? 2 : 0));
    if (r) {
      this.attrs(r.attributes);
      shape.varint(r.droppedAttributesCount);
      shape.varint(r.entityRefs.length);
      for (const e of r.entityRefs) {
        this.strs.string(e.schemaUrl);
        this.strs.string(e.type);
        shape.varint(e.idKeys.length);
        for (const s of e.idKeys) this.strs.string(s);
        shape.varint(e.descriptionKeys.length);
        for (const s of e.descriptionKeys) this.strs.string(s);
      }
    }
    if (rs.schemaUrl) this.strs.string(rs.schemaUrl);
    shape.varint(rs.scopeSpans.length);
    for (const ss of rs.scopeSpans) {
      const sc = ss.scope;
      shape.varint((sc ? 1 : 0) | (ss.schemaUrl ? 2 : 0));
      if (sc) {
        this.strs.string(sc.name);
        this.strs.string(sc.version);
        this.attrs(sc.attributes);
        shape.varint(sc.droppedAttributesCount);
      }
      if (ss.schemaUrl) this.strs.string(ss.schemaUrl);
      shape.varint(ss.spans.length);
      for (const span of ss.spans) this.span(span, base);
    }
  }

  private span(span: Span, base: bigint): void {
    const { shape, ids, times, strs } = this;
    const ownTraceId = bytesEqual(span.traceId, this.traceId);
    const dropped = span.droppedAttributesCount !== 0 || span.droppedEventsCount !== 0 || span.droppedLinksCount !== 0;
    const bits =
      (ownTraceId ? S_OWN_TRACE_ID : 0) |
      (span.traceState ? S_TRACE_STATE : 0) |
      (span.status ? S_STATUS : 0) |
      (span.events.length ? S_EVENTS : 0) |
      (span.links.length ? S_LINKS : 0) |
      (dropped ? S_DROPPED : 0) |
      (span.flags !== 0 ? S_FLAGS : 0);
    shape.varint(bits);
    if (!ownTraceId) {
      shape.varint(span.traceId.length);
      ids.bytes(span.traceId);
    }
    shape.varint(span.spanId.length);
    ids.bytes(span.spanId);
    this.spanCounter++;
    if (span.parentSpanId.length === 0) {
      shape.varint(P_EMPTY);
    } else {
      const k = this.spanIndex.get(idKey(span.parentSpanId));
      if (k !== undefined) {
        shape.varint(k + 2);
      } else {
        shape.varint(P_EXPLICIT);
        shape.varint(span.parentSpanId.length);
        ids.bytes(span.parentSpanId);
      }
    }
    if (span.traceState) strs.string(span.traceState);
    if (span.flags !== 0) shape.varint(span.flags >>> 0);
    strs.string(span.name);
    shape.zigzag(span.kind);
    times.zigzagBig(span.startTimeUnixNano - base);
    times.zigzagBig(span.endTimeUnixNano - span.startTimeUnixNano);
    this.attrs(span.attributes);
    if (dropped) {
      shape.varint(span.droppedAttributesCount);
      shape.varint(span.droppedEventsCount);
      shape.varint(span.droppedLinksCount);
    }
    if (span.events.length) {
      shape.varint(span.events.length);
      for (const ev of span.events) {
        times.zigzagBig(ev.timeUnixNano - span.startTimeUnixNano);
        strs.string(ev.name);
        this.attrs(ev.attributes);
        shape.varint(ev.droppedAttributesCount);
      }
    }
    if (span.links.length) {
      shape.varint(span.links.length);
      for (const l of span.links) {
        shape.varint(l.traceId.length);
        ids.bytes(l.traceId);
        shape.varint(l.spanId.length);
        ids.bytes(l.spanId);
        strs.string(l.traceState);
        this.attrs(l.attributes);
        shape.varint(l.droppedAttributesCount);
        shape.varint(l.flags >>> 0);
      }
    }
    if (span.status) {
      strs.string(span.status.message);
      shape.zigzag(span.status.code);
    }
  }

  private attrs(kvs: KeyValue[]): void {
    this.shape.varint(kvs.length);
    for (const kv of kvs) {
      this.strs.string(kv.key);
      if (kv.value === undefined) this.shape.u8(V_ABSENT);
      else this.anyValue(kv.value);
    }
  }

  private anyValue(v: AnyValue): void {
    const { shape, strs, nums } = this;
    const val = v.value;
    switch (val.case) {
      case undefined:
        shape.u8(V_EMPTY);
        return;
      case 'stringValue':
        shape.u8(V_STRING);
        strs.string(val.value);
        return;
      case 'boolValue':
        shape.u8(val.value ? V_TRUE : V_FALSE);
        return;
      case 'intValue':
        shape.u8(V_INT);
        nums.zigzagBig(val.value);
        return;
      case 'doubleValue':
        shape.u8(V_DOUBLE);
        nums.f64le(val.value);
        return;
      case 'arrayValue':
        shape.u8(V_ARRAY);
        shape.varint(val.value.values.length);
        for (const x of val.value.values) this.anyValue(x);
        return;
      case 'kvlistValue':
        shape.u8(V_KVLIST);
        this.attrs(val.value.values);
        return;
      case 'bytesValue':
        shape.u8(V_BYTES);
        strs.lenBytes(val.value);
        return;
    }
  }
}

/** A Map key for an ID: two bytes per UTF-16 unit, then the length (so keys of different lengths differ). */
export function idKey(id: Uint8Array): string {
  return idKeyAt(id, 0, id.length);
}

/** idKey of `buf[a, b)`, without a view. */
export function idKeyAt(buf: Uint8Array, a: number, b: number): string {
  const n = b - a;
  if (n === 8) {
    return String.fromCharCode(
      (buf[a]! << 8) | buf[a + 1]!,
      (buf[a + 2]! << 8) | buf[a + 3]!,
      (buf[a + 4]! << 8) | buf[a + 5]!,
      (buf[a + 6]! << 8) | buf[a + 7]!,
      8,
    );
  }
  let s = '';
  for (let i = a; i < b; i += 2) s += String.fromCharCode((buf[i]! << 8) | (i + 1 < b ? buf[i + 1]! : 0));
  return s + String.fromCharCode(n);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Decodes one trace written by TraceEncoder from `buf[start, end)`. Messages are built as plain
 * protobuf-es message objects (the shape `create()` returns), which is several times faster than
 * `create()` and compares `equals` to it.
 */
export function decodeTrace(traceId: Uint8Array, buf: Buffer, start = 0, end = buf.length): TracesData {
  const hdr = new ByteReader(buf, start, end);
  const shapeLen = hdr.varint();
  const idsLen = hdr.varint();
  const timesLen = hdr.varint();
  const strsLen = hdr.varint();
  let p = hdr.pos;
  const d = new Decoder(
    traceId,
    new ByteReader(buf, p, (p += shapeLen)),
    new ByteReader(buf, p, (p += idsLen)),
    new ByteReader(buf, p, (p += timesLen)),
    new StringsReader(buf, p, (p += strsLen)),
    new ByteReader(buf, p, end),
  );
  return d.trace();
}

/**
 * The strs stream, turned into one latin1 string at once: a value whose bytes are all ASCII is a substring
 * of it, which costs a fraction of decoding each value's bytes on its own (string decoding was most of a
 * trace's decoding time, bench/results/search.md); a value with a byte >= 0x80 is decoded as UTF-8.
 * Values are read in stream order, so the next such byte is searched for once over the whole stream.
 */
class StringsReader extends ByteReader {
  private readonly text: string | undefined;
  private readonly base: number;
  /** The first byte >= 0x80 at or after the last value read (`end` when none). */
  private high = -1;

  constructor(buf: Buffer, start: number, end: number) {
    super(buf, start, end);
    this.base = start;
    this.text = end - start >= 64 ? buf.toString('latin1', start, end) : undefined;
  }

  override string(): string {
    if (this.text === undefined) return super.string();
    const n = this.varint();
    const at = this.pos;
    this.skip(n);
    if (this.high < at) this.high = this.nextHigh(at);
    if (this.high < at + n) return this.buf.toString('utf8', at, at + n);
    return this.text.substring(at - this.base, at - this.base + n);
  }

  private nextHigh(from: number): number {
    const b = this.buf;
    let i = from;
    while (i < this.end) {
      // isAscii (native) passes over ASCII runs; only a run holding such a byte is looked at byte by byte.
      const stop = Math.min(this.end, i + 256);
      if (isAscii(b.subarray(i, stop))) {
        i = stop;
        continue;
      }
      for (; i < stop; i++) if (b[i]! >= 0x80) return i;
    }
    return this.end;
  }
}

class Decoder {
  private readonly spans: Span[] = [];
  /** Parent references to spans that may come later in the trace: resolved at the end. */
  private readonly pending: { span: Span; k: number }[] = [];

  constructor(
    private readonly traceId: Uint8Array,
    private readonly shape: ByteReader,
    private readonly ids: ByteReader,
    private readonly times: ByteReader,
    private readonly strs: ByteReader,
    private readonly nums: ByteReader,
  ) {}

  trace(): TracesData {
    const base = this.times.varintBig();
    const n = this.shape.varint();
    const resourceSpans: ResourceSpans[] = new Array<ResourceSpans>(n);
    for (let i = 0; i < n; i++) resourceSpans[i] = this.resourceSpans(base);
    for (const { span, k } of this.pending) {
      const target = this.spans[k];
      if (!target) throw new RangeError(`corrupt trace encoding: parent reference ${k} of ${this.spans.length} spans`);
      span.parentSpanId = new Uint8Array(target.spanId);
    }
    return { $typeName: 'opentelemetry.proto.trace.v1.TracesData', resourceSpans } as TracesData;
  }

  private resourceSpans(base: bigint): ResourceSpans {
    const { shape, strs } = this;
    const bits = shape.varint();
    let resource: Resource | undefined;
    if (bits & 1) {
      const attributes = this.attrs();
      const droppedAttributesCount = shape.varint();
      const nRefs = shape.varint();
      const entityRefs: EntityRef[] = new Array<EntityRef>(nRefs);
      for (let i = 0; i < nRefs; i++) {
        const schemaUrl = strs.string();
        const type = strs.string();
        const idKeys = new Array<string>(shape.varint());
        for (let j = 0; j < idKeys.length; j++) idKeys[j] = strs.string();
        const descriptionKeys = new Array<string>(shape.varint());
        for (let j = 0; j < descriptionKeys.length; j++) descriptionKeys[j] = strs.string();
        entityRefs[i] = { $typeName: 'opentelemetry.proto.common.v1.EntityRef', schemaUrl, type, idKeys, descriptionKeys } as EntityRef;
      }
      resource = { $typeName: 'opentelemetry.proto.resource.v1.Resource', attributes, droppedAttributesCount, entityRefs } as Resource;
    }
    const schemaUrl = bits & 2 ? strs.string() : '';
    const nss = shape.varint();
    const scopeSpans: ScopeSpans[] = new Array<ScopeSpans>(nss);
    for (let i = 0; i < nss; i++) {
      const sbits = shape.varint();
      let scope: InstrumentationScope | undefined;
      if (sbits & 1) {
        const name = strs.string();
        const version = strs.string();
        const attributes = this.attrs();
        const droppedAttributesCount = shape.varint();
        scope = { $typeName: 'opentelemetry.proto.common.v1.InstrumentationScope', name, version, attributes, droppedAttributesCount } as InstrumentationScope;
      }
      const ssUrl = sbits & 2 ? strs.string() : '';
      const nspans = shape.varint();
      const spans: Span[] = new Array<Span>(nspans);
      for (let j = 0; j < nspans; j++) spans[j] = this.span(base);
      const ss = { $typeName: 'opentelemetry.proto.trace.v1.ScopeSpans', spans, schemaUrl: ssUrl } as ScopeSpans;
      if (scope) ss.scope = scope;
      scopeSpans[i] = orderScopeSpans(ss);
    }
    const T = 'opentelemetry.proto.trace.v1.ResourceSpans';
    return (resource ? { $typeName: T, resource, scopeSpans, schemaUrl } : { $typeName: T, scopeSpans, schemaUrl }) as ResourceSpans;
  }

  private span(base: bigint): Span {
    const { shape, ids, times, strs } = this;
    const bits = shape.varint();
    const traceId = bits & S_OWN_TRACE_ID ? new Uint8Array(this.traceId) : new Uint8Array(ids.bytes(shape.varint()));
    const spanId = new Uint8Array(ids.bytes(shape.varint()));
    const pref = shape.varint();
    let parentSpanId: Uint8Array;
    let pendingParent = -1;
    if (pref === P_EMPTY) parentSpanId = new Uint8Array(0);
    else if (pref === P_EXPLICIT) parentSpanId = new Uint8Array(ids.bytes(shape.varint()));
    else {
      parentSpanId = new Uint8Array(0);
      pendingParent = pref - 2;
    }
    const traceState = bits & S_TRACE_STATE ? strs.string() : '';
    const flags = bits & S_FLAGS ? shape.varint() : 0;
    const name = strs.string();
    const kind = shape.zigzag();
    const startTimeUnixNano = BigInt.asUintN(64, base + times.zigzagBig());
    const endTimeUnixNano = BigInt.asUintN(64, startTimeUnixNano + times.zigzagBig());
    const attributes = this.attrs();
    let droppedAttributesCount = 0;
    let droppedEventsCount = 0;
    let droppedLinksCount = 0;
    if (bits & S_DROPPED) {
      droppedAttributesCount = shape.varint();
      droppedEventsCount = shape.varint();
      droppedLinksCount = shape.varint();
    }
    const events: Span_Event[] = [];
    if (bits & S_EVENTS) {
      const n = shape.varint();
      for (let i = 0; i < n; i++) {
        const timeUnixNano = BigInt.asUintN(64, startTimeUnixNano + times.zigzagBig());
        const evName = strs.string();
        const evAttrs = this.attrs();
        const evDropped = shape.varint();
        events.push({
          $typeName: 'opentelemetry.proto.trace.v1.Span.Event',
          timeUnixNano,
          name: evName,
          attributes: evAttrs,
          droppedAttributesCount: evDropped,
        } as Span_Event);
      }
    }
    const links: Span_Link[] = [];
    if (bits & S_LINKS) {
      const n = shape.varint();
      for (let i = 0; i < n; i++) {
        const lTrace = new Uint8Array(ids.bytes(shape.varint()));
        const lSpan = new Uint8Array(ids.bytes(shape.varint()));
        const lState = strs.string();
        const lAttrs = this.attrs();
        const lDropped = shape.varint();
        const lFlags = shape.varint();
        links.push({
          $typeName: 'opentelemetry.proto.trace.v1.Span.Link',
          traceId: lTrace,
          spanId: lSpan,
          traceState: lState,
          attributes: lAttrs,
          droppedAttributesCount: lDropped,
          flags: lFlags,
        } as Span_Link);
      }
    }
    const span = {
      $typeName: 'opentelemetry.proto.trace.v1.Span',
      traceId,
      spanId,
      traceState,
      parentSpanId,
      flags,
      name,
      kind,
      startTimeUnixNano,
      endTimeUnixNano,
      attributes,
      droppedAttributesCount,
      events,
      droppedEventsCount,
      links,
      droppedLinksCount,
    } as Span;
    if (bits & S_STATUS) {
      const message = strs.string();
      const code = shape.zigzag();
      span.status = { $typeName: 'opentelemetry.proto.trace.v1.Status', message, code } as Status;
    }
    this.spans.push(span);
    if (pendingParent >= 0) this.pending.push({ span, k: pendingParent });
    return span;
  }

  private attrs(): KeyValue[] {
    const n = this.shape.varint();
    const out: KeyValue[] = new Array<KeyValue>(n);
    for (let i = 0; i < n; i++) {
      const key = this.strs.string();
      const tag = this.shape.u8();
      out[i] =
        tag === V_ABSENT
          ? ({ $typeName: 'opentelemetry.proto.common.v1.KeyValue', key } as KeyValue)
          : ({ $typeName: 'opentelemetry.proto.common.v1.KeyValue', key, value: this.anyValue(tag) } as KeyValue);
    }
    return out;
  }

  private anyValue(tag: number): AnyValue {
    const T = 'opentelemetry.proto.common.v1.AnyValue';
    switch (tag) {
      case V_EMPTY:
        return { $typeName: T, value: { case: undefined } } as AnyValue;
      case V_STRING:
        return { $typeName: T, value: { case: 'stringValue', value: this.strs.string() } } as AnyValue;
      case V_TRUE:
        return { $typeName: T, value: { case: 'boolValue', value: true } } as AnyValue;
      case V_FALSE:
        return { $typeName: T, value: { case: 'boolValue', value: false } } as AnyValue;
      case V_INT:
        return { $typeName: T, value: { case: 'intValue', value: BigInt.asIntN(64, this.nums.zigzagBig()) } } as AnyValue;
      case V_DOUBLE:
        return { $typeName: T, value: { case: 'doubleValue', value: this.nums.f64le() } } as AnyValue;
      case V_ARRAY: {
        const n = this.shape.varint();
        const values: AnyValue[] = new Array<AnyValue>(n);
        for (let i = 0; i < n; i++) values[i] = this.anyValue(this.shape.u8());
        return { $typeName: T, value: { case: 'arrayValue', value: { $typeName: 'opentelemetry.proto.common.v1.ArrayValue', values } } } as AnyValue;
      }
      case V_KVLIST:
        return {
          $typeName: T,
          value: { case: 'kvlistValue', value: { $typeName: 'opentelemetry.proto.common.v1.KeyValueList', values: this.attrs() } },
        } as AnyValue;
      case V_BYTES:
        return { $typeName: T, value: { case: 'bytesValue', value: this.strs.lenBytesCopy() } } as AnyValue;
      default:
        throw new RangeError(`corrupt trace encoding: AnyValue tag ${tag}`);
    }
  }
}

/** Field order as create() lays it out (scope first), so decoded objects print like created ones. */
function orderScopeSpans(ss: ScopeSpans): ScopeSpans {
  return ss.scope ? ({ $typeName: ss.$typeName, scope: ss.scope, spans: ss.spans, schemaUrl: ss.schemaUrl } as ScopeSpans) : ss;
}
