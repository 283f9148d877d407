// The byte-keyed table behind the processors' per-span series lookups: equal bytes find the entry, any
// other bytes do not, through growth and past the cap.

import fc from 'fast-check';
import { ByteKeyTable, Interner } from './byte-table';

function key(t: ByteKeyTable<number>, parts: Array<string | number>): void {
  t.begin();
  for (const p of parts) {
    if (typeof p === 'number') t.addSmall(p);
    else {
      const b = Buffer.from(p, 'utf8');
      t.addBytes(b, 0, b.length);
    }
  }
}

describe('ByteKeyTable', () => {
  it('finds a key only by the same bytes; field boundaries are part of the key', () => {
    const t = new ByteKeyTable<number>();
    key(t, ['ab', 'c', 2]);
    expect(t.get()).toBeUndefined();
    t.set(1);
    key(t, ['ab', 'c', 2]);
    expect(t.get()).toBe(1);
    key(t, ['a', 'bc', 2]); // same bytes, other split
    expect(t.get()).toBeUndefined();
    key(t, ['ab', 'c', 3]);
    expect(t.get()).toBeUndefined();
    key(t, ['ab', 'c', 300]); // a number past one byte
    expect(t.get()).toBeUndefined();
    t.set(2);
    key(t, ['ab', 'c', 300]);
    expect(t.get()).toBe(2);
  });

  it('keeps every entry through growth, with long keys, and overwrites on set after a hit', () => {
    const t = new ByteKeyTable<number>();
    const long = 'x'.repeat(300);
    for (let i = 0; i < 20_000; i++) {
      key(t, [`service-${i % 97}`, `span ${i}`, i % 6, long.slice(0, i % 300)]);
      expect(t.get()).toBeUndefined();
      t.set(i);
    }
    expect(t.size).toBe(20_000);
    for (let i = 0; i < 20_000; i++) {
      key(t, [`service-${i % 97}`, `span ${i}`, i % 6, long.slice(0, i % 300)]);
      expect(t.get()).toBe(i);
    }
    key(t, ['service-0', 'span 0', 0, '']);
    t.get();
    t.set(-1);
    key(t, ['service-0', 'span 0', 0, '']);
    expect(t.get()).toBe(-1);
    expect(t.size).toBe(20_000);
  });

  it('starts over when a new key would pass its cap', () => {
    const t = new ByteKeyTable<number>(3);
    for (const k of ['a', 'b', 'c']) {
      key(t, [k]);
      t.get();
      t.set(1);
    }
    key(t, ['d']);
    t.get();
    t.set(4);
    expect(t.size).toBe(1);
    key(t, ['a']);
    expect(t.get()).toBeUndefined();
    key(t, ['d']);
    expect(t.get()).toBe(4);
  });
});

describe('Interner', () => {
  it('decodes each distinct byte string once per kind and returns the same string after', () => {
    const i = new Interner();
    const buf = Buffer.from('xfrontendx');
    let decodes = 0;
    const decode = (b: Uint8Array, s: number, e: number) => {
      decodes++;
      return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8', s, e);
    };
    expect(i.intern(1, buf, 1, 9, decode)).toBe('frontend');
    expect(i.intern(1, Buffer.from('frontend'), 0, 8, decode)).toBe('frontend');
    expect(decodes).toBe(1);
    expect(i.intern(2, buf, 1, 9, decode)).toBe('frontend');
    expect(decodes).toBe(2);
  });
});

describe('ByteKeyTable against a map of the same bytes', () => {
  // The parts a key is written from, and the bytes the table's contract says they make.
  type Part = { bytes: Uint8Array; offset: number; shared: boolean } | { small: number } | { u32: number } | { byte: number };

  function encode(parts: readonly Part[]): string {
    const out: number[] = [];
    const u32 = (v: number) => out.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
    for (const p of parts) {
      if ('bytes' in p) {
        let v = p.bytes.length;
        while (v >= 0x80) {
          out.push((v & 0x7f) | 0x80);
          v >>>= 7;
        }
        out.push(v, ...p.bytes);
      } else if ('small' in p) {
        if (p.small >= 0 && p.small < 255) out.push(p.small);
        else {
          out.push(255);
          u32(p.small);
        }
      } else if ('u32' in p) u32(p.u32);
      else out.push(p.byte & 255);
    }
    return Buffer.from(out).toString('hex');
  }

  function write(t: ByteKeyTable<number>, parts: readonly Part[]): void {
    t.begin();
    for (const p of parts) {
      if ('bytes' in p) {
        // The value at an offset of a larger buffer, in shared memory or not (as the span ring's).
        const n = p.offset + p.bytes.length + 5;
        const buf = p.shared ? new Uint8Array(new SharedArrayBuffer(n)) : new Uint8Array(n);
        buf.set(p.bytes, p.offset);
        t.addBytes(buf, p.offset, p.offset + p.bytes.length);
      } else if ('small' in p) t.addSmall(p.small);
      else if ('u32' in p) t.addU32(p.u32);
      else t.addByte(p.byte);
    }
  }

  // Few byte values and short lengths make keys that differ in one byte or only in where a part ends;
  // some values pass 256 bytes (copied another way).
  const part: fc.Arbitrary<Part> = fc.oneof(
    fc.record({
      bytes: fc.oneof(fc.uint8Array({ min: 0, max: 2, maxLength: 9 }), fc.uint8Array({ min: 0, max: 2, minLength: 250, maxLength: 300 })),
      offset: fc.nat(7),
      shared: fc.boolean(),
    }),
    fc.record({ small: fc.oneof(fc.nat(3), fc.constant(254), fc.constant(255), fc.constant(300)) }),
    fc.record({ u32: fc.oneof(fc.nat(3), fc.constant(0xffffffff)) }),
    fc.record({ byte: fc.nat(3) }),
  );

  it('finds exactly the keys of the same bytes, through growth and its cap', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(part, { maxLength: 5 }), { minLength: 1, maxLength: 80 }),
        fc.oneof(fc.constant(1 << 20), fc.integer({ min: 1, max: 20 })),
        (keys, cap) => {
          const t = new ByteKeyTable<number>(cap);
          const ref = new Map<string, number>();
          keys.forEach((parts, i) => {
            const k = encode(parts);
            write(t, parts);
            expect(t.get()).toBe(ref.get(k));
            if (!ref.has(k) && ref.size >= cap) ref.clear(); // a new key past the cap: the table starts over
            ref.set(k, i);
            t.set(i);
          });
          expect(t.size).toBe(ref.size);
          for (const parts of keys) {
            write(t, parts);
            expect(t.get()).toBe(ref.get(encode(parts)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
