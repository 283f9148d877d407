// fast-check arbitraries for OTLP traces that reach every field and edge the block format must keep:
// all AnyValue kinds nested (arrays, kvlists, bytes, empty values, absent values), IDs of any length,
// unknown enum numbers, full-range uint64 times and int64 values, presence of optional messages.

import { create } from '@bufbuild/protobuf';
import {
  type AnyValue,
  AnyValueSchema,
  EntityRefSchema,
  type KeyValue,
  KeyValueSchema,
  ResourceSpansSchema,
  ScopeSpansSchema,
  Span_EventSchema,
  Span_LinkSchema,
  SpanSchema,
  StatusSchema,
  type TracesData,
  TracesDataSchema,
} from '@stave/proto';
import fc from 'fast-check';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const smallU32 = fc.oneof(fc.constant(0), u32);
const str = fc.string({ unit: 'grapheme', maxLength: 12 });
const shortStr = fc.oneof(fc.constant(''), str);
const uint64 = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 1_700_000_000_000_000_000n, max: 1_800_000_000_000_000_000n }));
const enumNum = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: -3, max: 100 }));
const id = (n: number) =>
  fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: n, maxLength: n }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 20 }) });

const { keyValues } = fc.letrec<{ anyValue: AnyValue; keyValues: KeyValue[] }>((tie) => ({
  anyValue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(create(AnyValueSchema, {})),
    str.map((v) => create(AnyValueSchema, { value: { case: 'stringValue', value: v } })),
    fc.boolean().map((v) => create(AnyValueSchema, { value: { case: 'boolValue', value: v } })),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v) => create(AnyValueSchema, { value: { case: 'intValue', value: v } })),
    // NaN never `equals` itself (protobuf-es compares with ===); its bits are checked in a unit test.
    fc.double({ noNaN: true }).map((v) => create(AnyValueSchema, { value: { case: 'doubleValue', value: v } })),
    fc.uint8Array({ maxLength: 16 }).map((v) => create(AnyValueSchema, { value: { case: 'bytesValue', value: v } })),
    fc
      .array(tie('anyValue') as fc.Arbitrary<AnyValue>, { maxLength: 3 })
      .map((values) => create(AnyValueSchema, { value: { case: 'arrayValue', value: { values } } })),
    (tie('keyValues') as fc.Arbitrary<KeyValue[]>).map((values) => create(AnyValueSchema, { value: { case: 'kvlistValue', value: { values } } })),
  ),
  keyValues: fc.array(
    fc.record({ key: shortStr, value: fc.option(tie('anyValue') as fc.Arbitrary<AnyValue>, { nil: undefined }) }).map((kv) => create(KeyValueSchema, kv)),
    { maxLength: 3 },
  ),
}));

const attrs = keyValues;

const event = fc.record({ timeUnixNano: uint64, name: shortStr, attributes: attrs, droppedAttributesCount: smallU32 }).map((e) => create(Span_EventSchema, e));
const link = fc
  .record({ traceId: id(16), spanId: id(8), traceState: shortStr, attributes: attrs, droppedAttributesCount: smallU32, flags: smallU32 })
  .map((l) => create(Span_LinkSchema, l));

/** A trace; `traceId` is what most spans carry (some carry another, as malformed input may). */
export function traceArb(traceId: Uint8Array): fc.Arbitrary<TracesData> {
  const span = fc
    .record({
      traceId: fc.oneof({ weight: 5, arbitrary: fc.constant(traceId) }, { weight: 1, arbitrary: id(16) }),
      spanId: id(8),
      traceState: shortStr,
      parentSpanId: fc.oneof(fc.constant(new Uint8Array(0)), id(8)),
      flags: smallU32,
      name: shortStr,
      kind: enumNum,
      startTimeUnixNano: uint64,
      endTimeUnixNano: uint64,
      attributes: attrs,
      droppedAttributesCount: smallU32,
      events: fc.array(event, { maxLength: 2 }),
      droppedEventsCount: smallU32,
      links: fc.array(link, { maxLength: 2 }),
      droppedLinksCount: smallU32,
      status: fc.option(
        fc.record({ message: shortStr, code: enumNum }).map((s) => create(StatusSchema, s)),
        { nil: undefined },
      ),
    })
    .map((s) => create(SpanSchema, s));
  // Parents that point at other spans of the trace (the common case the encoding shortens).
  const spans = fc.array(span, { maxLength: 5 }).chain((ss) =>
    fc.array(fc.nat({ max: Math.max(0, ss.length - 1) }), { minLength: ss.length, maxLength: ss.length }).map((parents) => {
      ss.forEach((s, i) => {
        if (i > 0 && parents[i]! % 3 !== 0 && ss[parents[i]!]) s.parentSpanId = ss[parents[i]!]!.spanId;
      });
      return ss;
    }),
  );
  const scope = fc.record({ name: shortStr, version: shortStr, attributes: attrs, droppedAttributesCount: smallU32 });
  const scopeSpans = fc.record({ scope: fc.option(scope, { nil: undefined }), spans, schemaUrl: shortStr }).map((s) => create(ScopeSpansSchema, s));
  const entityRef = fc
    .record({ schemaUrl: shortStr, type: shortStr, idKeys: fc.array(shortStr, { maxLength: 2 }), descriptionKeys: fc.array(shortStr, { maxLength: 2 }) })
    .map((e) => create(EntityRefSchema, e));
  const resource = fc.record({ attributes: attrs, droppedAttributesCount: smallU32, entityRefs: fc.array(entityRef, { maxLength: 2 }) });
  const resourceSpans = fc
    .record({ resource: fc.option(resource, { nil: undefined }), scopeSpans: fc.array(scopeSpans, { maxLength: 3 }), schemaUrl: shortStr })
    .map((r) => create(ResourceSpansSchema, r));
  return fc.array(resourceSpans, { maxLength: 3 }).map((resourceSpans) => create(TracesDataSchema, { resourceSpans }));
}

/** Several traces with unique 16-byte IDs, sorted by ID as writeBlock wants them. */
export const tracesArb = (maxTraces: number): fc.Arbitrary<{ id: Uint8Array; trace: TracesData }[]> =>
  fc
    .uniqueArray(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 1, maxLength: maxTraces, selector: (b) => Buffer.from(b).toString('hex') })
    .chain((ids) => fc.tuple(...ids.map((i) => traceArb(i).map((trace) => ({ id: i, trace })))))
    .map((ts) => ts.sort((a, b) => Buffer.compare(a.id, b.id)));
