// The varint helpers' fast paths (numbers in two 32-bit halves instead of bigint arithmetic) against the
// plain definition: 7 bits per byte, low bits first, the high bit set on every byte but the last.
import fc from 'fast-check';
import { ByteReader, ByteWriter } from './bytes';

/** The definition, one bigint operation per byte. */
function reference(v: bigint): string {
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out).toString('hex');
}

/** Values around every power of two up to 2^70, and random ones in each range. */
const unsigned = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 0n, max: 2n ** 70n }),
  fc.tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: -2, max: 2 })).map(([e, d]) => {
    const v = 2n ** BigInt(e) + BigInt(d);
    return v < 0n ? 0n : v;
  }),
);

describe('varints of 64-bit values', () => {
  it('varintBig and varint64 write the definition, and varintBig reads it back (property)', () => {
    fc.assert(
      fc.property(unsigned, (v) => {
        const w = new ByteWriter(4);
        w.varintBig(v);
        expect(w.view().toString('hex')).toBe(reference(v));
        if (v < 2n ** 64n) {
          const w64 = new ByteWriter(4);
          w64.varint64(Number(v >> 32n), Number(v & 0xffffffffn));
          expect(w64.view().toString('hex')).toBe(reference(v));
        }
        const r = new ByteReader(Buffer.concat([w.view(), Buffer.from([0x2a])]));
        expect(r.varintBig()).toBe(v);
        expect(r.u8()).toBe(0x2a);
      }),
      { numRuns: 2000 },
    );
  });

  it('a timestamp, and the largest uint64', () => {
    for (const v of [1_764_480_000_123_456_789n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 52n, 2n ** 49n - 1n, 2n ** 49n]) {
      const w = new ByteWriter(4);
      w.varintBig(v);
      expect(w.view().toString('hex')).toBe(reference(v));
      expect(new ByteReader(w.view()).varintBig()).toBe(v);
    }
  });
});
