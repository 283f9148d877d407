// The hot path's small tables (byte-strings.ts, id-table.ts) and durationBucket's fast path against their
// plain definitions.
import fc from 'fast-check';
import { ByteStrings } from './byte-strings';
import { IdTable } from './id-table';
import { durationBucket } from './layout';

/** durationBucket as the layout defines it: 16 buckets per power of two past 16 ns. */
function bucketByString(ns: bigint): number {
  if (ns < 0n) return -1;
  if (ns < 16n) return Number(ns);
  const e = ns.toString(2).length - 4;
  return e * 16 + Number(ns >> BigInt(e));
}

describe('durationBucket', () => {
  it('equals the definition around every power of two and on random 64-bit values', () => {
    for (let b = 0; b < 66; b++) {
      const p = 1n << BigInt(b);
      for (const v of [p - 1n, p, p + 1n, (p * 3n) / 2n, -p]) expect(durationBucket(v)).toBe(bucketByString(v));
    }
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }), fc.integer({ min: 0, max: 63 }), (v, shift) => {
        const x = v >> BigInt(shift);
        expect(durationBucket(x)).toBe(bucketByString(x));
      }),
      { seed: 11, numRuns: 5000 },
    );
  });
});

describe('ByteStrings', () => {
  it('gives what decoding gives, for repeated, colliding and long values, past its bound', () => {
    const strings = new ByteStrings();
    const values = ['', 'GET', 'GET ', 'é', '日本', 'x'.repeat(300), ...Array.from({ length: 20_000 }, (_, i) => `op-${i % 17_000}`)];
    for (const v of values) {
      const buf = Buffer.concat([Buffer.from('##'), Buffer.from(v), Buffer.from('#')]);
      expect(strings.get(buf, 2, buf.length - 1)).toBe(v);
    }
  });
});

describe('IdTable', () => {
  it('finds exactly the (bytes, tag) pairs added since the last reset', () => {
    const t = new IdTable();
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.uint8Array({ minLength: 0, maxLength: 3 }), fc.integer({ min: -2, max: 2 })), { maxLength: 200 }), (items) => {
        t.reset(items.length % 7); // grows past it
        const seen = new Map<string, number>();
        for (const [bytes, tag] of items) {
          const buf = Buffer.concat([Buffer.from([9]), bytes]);
          const key = `${Buffer.from(bytes).toString('hex')}/${tag}`;
          const e = t.find(buf, 1, buf.length, tag);
          if (seen.has(key)) expect(e).toBe(seen.get(key));
          else {
            expect(e).toBe(-1);
            const added = t.add(buf, 1, buf.length, tag, seen.size * 3);
            expect(t.value(added)).toBe(seen.size * 3);
            seen.set(key, added);
          }
        }
        expect(t.size).toBe(seen.size);
      }),
      { seed: 5, numRuns: 300 },
    );
  });
});
