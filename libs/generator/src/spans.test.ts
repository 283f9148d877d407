// SpanBatch: forwarded spans read from the wire into offsets, whatever the order of the fields.

import { create, toBinary } from '@bufbuild/protobuf';
import { AnyValueSchema, ResourceSpansSchema } from '@stave/proto';
import { AttributeKeys, anyValueString, S_KIND, S_NAME, SpanBatch } from './spans';
import { testSpan } from './testing';

const span = testSpan({ traceId: 'a'.repeat(32), spanId: '1'.repeat(16), name: 'GET /', kind: 2, startUnixMs: 1_700_000_000_000, durationMs: 250 });

/** TracesData { 1: ResourceSpans } around the given ResourceSpans bytes (lengths below 2^14). */
function tracesData(resourceSpans: Uint8Array): Uint8Array {
  const n = resourceSpans.length;
  return Uint8Array.from([0x0a, (n & 0x7f) | 0x80, n >> 7, ...resourceSpans]);
}

describe('SpanBatch', () => {
  it('reads the resource of spans that come before it on the wire', () => {
    const resource = toBinary(
      ResourceSpansSchema,
      create(ResourceSpansSchema, { resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'frontend' } } }] } }),
    );
    const scopes = toBinary(ResourceSpansSchema, create(ResourceSpansSchema, { scopeSpans: [{ spans: [span, span] }] }));
    for (const order of [
      [resource, scopes],
      [scopes, resource],
    ]) {
      const b = new SpanBatch();
      b.decode([tracesData(Uint8Array.from(Buffer.concat(order)))]);
      expect(b.n).toBe(2);
      const keys = new AttributeKeys(['service.name']);
      const buf = b.bufOf(1);
      keys.scanResource(b, b.resourceOf(1), buf);
      expect(anyValueString(buf, keys.resourceStart[0]!, keys.resourceEnd[0]!)).toBe('frontend');
      expect(Buffer.from(buf).toString('utf8', b.get(1, S_NAME), b.get(1, S_NAME + 1))).toBe('GET /');
      expect(b.get(1, S_KIND)).toBe(2);
      expect(b.durationSeconds(1)).toBe(0.25);
    }
  });

  it('prints attribute values read in shared memory (the span ring), scalars and arrays', () => {
    const shared = (b: Uint8Array) => {
      const s = new Uint8Array(new SharedArrayBuffer(b.length + 3));
      s.set(b, 3);
      return s;
    };
    const str = shared(toBinary(AnyValueSchema, create(AnyValueSchema, { value: { case: 'stringValue', value: 'café' } })));
    expect(anyValueString(str, 3, str.length)).toBe('café');
    const arr = shared(
      toBinary(
        AnyValueSchema,
        create(AnyValueSchema, {
          value: { case: 'arrayValue', value: { values: [{ value: { case: 'stringValue', value: 'a' } }, { value: { case: 'intValue', value: 2n } }] } },
        }),
      ),
    );
    expect(anyValueString(arr, 3, arr.length)).toBe(anyValueString(arr.slice(), 3, arr.length));
  });

  it('throws on malformed bytes', () => {
    expect(() => new SpanBatch().decode([Uint8Array.from([0x0a, 0x05, 0x12])])).toThrow(/runs past its message/);
  });
});
