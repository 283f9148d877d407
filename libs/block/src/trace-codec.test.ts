import { create, equals } from '@bufbuild/protobuf';
import { AnyValueSchema, KeyValueSchema, ResourceSpansSchema, ScopeSpansSchema, SpanSchema, TracesDataSchema } from '@stave/proto';
import fc from 'fast-check';
import { ByteWriter } from './bytes';
import { traceArb } from './testing/arbitraries';
import { realisticTraces } from './testing/realistic-traces';
import { decodeTrace, TraceEncoder } from './trace-codec';

const roundTrip = (id: Uint8Array, trace: Parameters<TraceEncoder['encode']>[1]) => {
  const w = new ByteWriter(16);
  new TraceEncoder().encode(id, trace, w);
  return decodeTrace(id, w.toBytes());
};

describe('trace encoding', () => {
  const id = new Uint8Array(16).fill(7);

  it('round-trips every OTLP field exactly (property)', () => {
    fc.assert(
      fc.property(traceArb(id), (trace) => {
        expect(equals(TracesDataSchema, roundTrip(id, trace), trace)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes strings exactly however ASCII and other bytes mix in the strings stream', () => {
    // Long values (lengths of two varint bytes, runs past the 256-byte steps the decoder checks), UTF-8
    // values, and bytes values with high bytes, in every order.
    const pieces = ['plain', 'x'.repeat(300), 'é', `${'a'.repeat(255)}ü${'b'.repeat(300)}`, '日本語のスパン', 'emoji 🚀 end', '', 'y'.repeat(130)];
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ unit: 'binary', maxLength: 40 })), { maxLength: 24 }),
        fc.boolean(),
        (vals, withBytes) => {
          const attributes = vals.map((v, i) =>
            create(KeyValueSchema, {
              key: `k${i}${[...v].slice(0, 3).join('')}`,
              value: create(AnyValueSchema, {
                value: withBytes && i % 3 === 0 ? { case: 'bytesValue', value: new Uint8Array([0xff, 0x80, i]) } : { case: 'stringValue', value: v },
              }),
            }),
          );
          const trace = create(TracesDataSchema, {
            resourceSpans: [
              create(ResourceSpansSchema, {
                scopeSpans: [create(ScopeSpansSchema, { spans: [create(SpanSchema, { traceId: id, name: vals[0] ?? '', attributes })] })],
              }),
            ],
          });
          expect(equals(TracesDataSchema, roundTrip(id, trace), trace)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps the bits of NaN, -0 and infinities, which equals() cannot compare', () => {
    const values = [NaN, -0, Infinity, -Infinity, Number.MIN_VALUE];
    const trace = create(TracesDataSchema, {
      resourceSpans: [
        create(ResourceSpansSchema, {
          scopeSpans: [
            create(ScopeSpansSchema, {
              spans: [
                create(SpanSchema, {
                  traceId: id,
                  attributes: values.map((v, i) =>
                    create(KeyValueSchema, { key: `d${i}`, value: create(AnyValueSchema, { value: { case: 'doubleValue', value: v } }) }),
                  ),
                }),
              ],
            }),
          ],
        }),
      ],
    });
    const got = roundTrip(id, trace).resourceSpans[0]!.scopeSpans[0]!.spans[0]!.attributes.map((kv) => kv.value!.value.value);
    got.forEach((v, i) => expect(Object.is(v, values[i])).toBe(true));
  });

  it('reuses the encoder across traces without leaking state between them', () => {
    const traces = realisticTraces(20, { seed: 3 });
    const enc = new TraceEncoder();
    const w = new ByteWriter(16);
    const spans: [number, number][] = [];
    for (const t of traces) {
      const start = w.length;
      enc.encode(t.id, t.trace, w);
      spans.push([start, w.length]);
    }
    traces.forEach((t, i) => expect(equals(TracesDataSchema, decodeTrace(t.id, w.view(), spans[i]![0], spans[i]![1]), t.trace)).toBe(true));
  });

  it('rejects truncated input instead of inventing data', () => {
    const [t] = realisticTraces(1, { seed: 4 });
    const w = new ByteWriter(16);
    new TraceEncoder().encode(t!.id, t!.trace, w);
    const bytes = w.toBytes();
    expect(() => decodeTrace(t!.id, bytes, 0, bytes.length - 5)).toThrow(RangeError);
  });
});
