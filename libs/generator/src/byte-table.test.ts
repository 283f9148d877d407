// The byte-keyed table behind the processors' per-span series lookups: equal bytes find the entry, any
// other bytes do not, through growth and past the cap.

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
