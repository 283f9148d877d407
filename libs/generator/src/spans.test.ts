// SpanBatch: forwarded spans read from the wire into offsets, whatever the order of the fields.

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnyValueSchema, ResourceSpansSchema, SpanSchema } from '@stave/proto';
import fc from 'fast-check';
import {
  AttributeKeys,
  anyValueString,
  S_ATTR_COUNT,
  S_ATTR_FIRST,
  S_END,
  S_END_HI,
  S_END_LO,
  S_ID,
  S_KIND,
  S_MESSAGE,
  S_NAME,
  S_PARENT,
  S_START,
  S_START_HI,
  S_START_LO,
  S_STATUS,
  S_TRACE,
  SpanBatch,
} from './spans';
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

  it('reads resource attributes of one- and two-byte lengths, from a Resource field given twice', () => {
    const kv = (key: string, value: string) => ({ key, value: { value: { case: 'stringValue' as const, value } } });
    const resource = (attributes: ReturnType<typeof kv>[]) => toBinary(ResourceSpansSchema, create(ResourceSpansSchema, { resource: { attributes } }));
    const scopes = toBinary(ResourceSpansSchema, create(ResourceSpansSchema, { scopeSpans: [{ spans: [span] }] }));
    const long = 'x'.repeat(200);
    const b = new SpanBatch();
    b.decode([tracesData(Uint8Array.from(Buffer.concat([resource([kv('service.name', 'frontend'), kv('long', long)]), scopes, resource([kv('zone', 'a')])])))]);
    expect(b.resourceAttrCount(0)).toBe(3);
    const keys = new AttributeKeys(['service.name', 'long', 'zone']);
    const buf = b.bufOf(0);
    keys.scanResource(b, 0, buf);
    expect([0, 1, 2].map((k) => anyValueString(buf, keys.resourceStart[k]!, keys.resourceEnd[k]!))).toEqual(['frontend', long, 'a']);
  });

  it('throws on malformed bytes', () => {
    expect(() => new SpanBatch().decode([Uint8Array.from([0x0a, 0x05, 0x12])])).toThrow(/runs past its message/);
  });
});

// Wire helpers for the properties below: fields written by hand, in any order and repeated.
function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const lenField = (tag: number, bytes: readonly number[]) => [tag, ...varint(bytes.length), ...bytes];
const utf8 = (s: string) => [...Buffer.from(s, 'utf8')];

/** TracesData of one resource (no attributes) with the given Span messages, at `offset` of shared memory. */
function batchOf(spans: readonly number[][], offset: number): { batch: SpanBatch; buf: Uint8Array } {
  const scope = lenField(
    0x12,
    spans.flatMap((s) => lenField(0x12, s)),
  );
  const bytes = lenField(0x0a, scope);
  const buf = new Uint8Array(new SharedArrayBuffer(offset + bytes.length));
  buf.set(bytes, offset);
  const batch = new SpanBatch();
  batch.decodeRanges(buf, Int32Array.from([offset, offset + bytes.length]), 1);
  return { batch, buf };
}

describe('AttributeKeys against a reading of every field', () => {
  const WANTED = ['service.name', 'db.name', 'db.system', 'peer.service', 'k'.repeat(130)];
  const KEYS = [...WANTED, 'k8s.pod.name', 'db.nam', 'db.namf', 'host.name', '', 'k'.repeat(129)];

  /**
   * The reference: for each wanted key, the value field of the first KeyValue whose key it is, each
   * KeyValue read field by field (the last key and the last value win); a KeyValue that starts with a
   * one-byte-length key of a length no wanted key has is passed over.
   */
  function reference(kvs: readonly number[][], first: number): Array<[number, number]> {
    const found: Array<[number, number]> = WANTED.map(() => [-2, -2]);
    const lengths = new Set(WANTED.map((k) => Buffer.byteLength(k)));
    let next = first;
    for (const [i, kv] of kvs.entries()) {
      // Each KeyValue follows the previous one's span field tag and length.
      const start = i === 0 ? first : next + 1 + varint(kv.length).length;
      next = start + kv.length;
      if (kv[0] === 0x0a && kv[1]! < 0x80 && !lengths.has(kv[1]!)) continue;
      let key: string | undefined;
      let value: [number, number] = [-1, -1];
      for (let p = 0; p < kv.length;) {
        const tag = kv[p++]!;
        let len = 0;
        let mul = 1;
        for (;;) {
          const b = kv[p++]!;
          len += (b & 0x7f) * mul;
          mul *= 128;
          if (b < 0x80) break;
        }
        if (tag === 0x18) continue; // a varint field: `len` was its value
        if (tag === 0x0a) key = Buffer.from(kv.slice(p, p + len)).toString('utf8');
        else if (tag === 0x12) value = [start + p, start + p + len];
        p += len;
      }
      WANTED.forEach((w, i) => {
        if (key === w && found[i]![0] === -2) found[i] = value;
      });
    }
    return found;
  }

  const field = fc.oneof(
    fc.constantFrom(...KEYS).map((k) => lenField(0x0a, utf8(k))),
    fc.uint8Array({ maxLength: 200 }).map((v) => lenField(0x12, [...v])),
    fc.nat(300).map((v) => [0x18, ...varint(v)]),
    fc.uint8Array({ maxLength: 3 }).map((v) => lenField(0x22, [...v])),
  );
  // Mostly what SDKs write (key, then value), and any order, repeated fields and missing ones.
  const keyValue = fc.oneof(
    fc.tuple(fc.constantFrom(...KEYS), fc.uint8Array({ maxLength: 200 })).map(([k, v]) => [...lenField(0x0a, utf8(k)), ...lenField(0x12, [...v])]),
    fc.constantFrom(...KEYS).map((k) => lenField(0x0a, utf8(k))),
    fc.array(field, { maxLength: 4 }).map((fs) => fs.flat()),
  );

  it('finds the same values as the reference, whatever the layout', () => {
    fc.assert(
      fc.property(fc.array(keyValue, { maxLength: 12 }), fc.nat(7), (kvs, offset) => {
        const span = kvs.flatMap((kv) => lenField(0x4a, kv));
        const { batch, buf } = batchOf([span], offset);
        const keys = new AttributeKeys(WANTED);
        keys.scanSpan(batch, 0, buf);
        // Where the span's first KeyValue starts: its attributes are its only fields.
        const first = batch.attrs[batch.get(0, S_ATTR_FIRST) * 2]!;
        const got = WANTED.map((_, i) => [keys.valueStart[i], keys.found(i) ? keys.valueEnd[i] : -2]);
        expect(got).toEqual(reference(kvs, first));
      }),
      { numRuns: 500 },
    );
  });
});

describe('SpanBatch against protobuf-es', () => {
  const id = (n: number) => fc.uint8Array({ minLength: 0, maxLength: n });
  const spanMessage = fc.record({
    traceId: id(16),
    spanId: id(8),
    parentSpanId: id(8),
    name: fc.string({ maxLength: 40 }),
    kind: fc.nat(5),
    startTimeUnixNano: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    endTimeUnixNano: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    attributes: fc.array(fc.record({ key: fc.string({ maxLength: 20 }), value: fc.constant({ value: { case: 'stringValue' as const, value: 'v' } }) }), {
      maxLength: 6,
    }),
    events: fc.array(fc.record({ name: fc.string({ maxLength: 10 }) }), { maxLength: 2 }),
    status: fc.option(fc.record({ code: fc.nat(2), message: fc.string({ maxLength: 10 }) }), { nil: undefined }),
  });

  it('reads the fields the processors use as a protobuf decoder does, also from two messages merged', () => {
    fc.assert(
      fc.property(spanMessage, fc.option(spanMessage, { nil: undefined }), fc.nat(7), (a, b, offset) => {
        // Concatenated messages merge: the last scalar wins, repeated fields add up. (The status of at most
        // one of them: ours replaces a status whole, a merge would merge them.)
        if (b && a.status && b.status) b.status = undefined;
        const bytes = [...toBinary(SpanSchema, create(SpanSchema, a)), ...(b ? toBinary(SpanSchema, create(SpanSchema, b)) : [])];
        const want = fromBinary(SpanSchema, Uint8Array.from(bytes));
        const { batch, buf } = batchOf([bytes], offset);
        const range = (f: number) => Buffer.from(buf.slice(batch.get(0, f), batch.get(0, f + 1)));
        expect(batch.n).toBe(1);
        expect(range(S_TRACE)).toEqual(Buffer.from(want.traceId));
        expect(range(S_ID)).toEqual(Buffer.from(want.spanId));
        expect(range(S_PARENT)).toEqual(Buffer.from(want.parentSpanId));
        expect(range(S_NAME).toString('utf8')).toBe(want.name);
        expect(batch.get(0, S_KIND)).toBe(want.kind);
        expect(batch.get(0, S_STATUS)).toBe(want.status?.code ?? 0);
        expect(range(S_MESSAGE).toString('utf8')).toBe(want.status?.message ?? '');
        expect(batch.get(0, S_ATTR_COUNT)).toBe(want.attributes.length);
        const u64 = (hi: number, lo: number) => (BigInt(batch.get(0, hi) >>> 0) << 32n) | BigInt(batch.get(0, lo) >>> 0);
        expect(u64(S_START_HI, S_START_LO)).toBe(want.startTimeUnixNano);
        expect(u64(S_END_HI, S_END_LO)).toBe(want.endTimeUnixNano);
        const d = want.endTimeUnixNano > want.startTimeUnixNano ? Number(want.endTimeUnixNano - want.startTimeUnixNano) / 1e9 : 0;
        expect(batch.durationSeconds(0)).toBe(d);
        expect(batch.get(0, S_END) - batch.get(0, S_START)).toBe(bytes.length);
      }),
      { numRuns: 300 },
    );
  });
});
