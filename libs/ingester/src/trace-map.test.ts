import { randomBytes } from 'node:crypto';
import { hexID } from '@stave/block';
import { TraceMap, traceKey } from './trace-map';

interface Entry {
  readonly id: Uint8Array;
  readonly n: number;
}

describe('TraceMap', () => {
  it.each([
    ['a few IDs', 10],
    ['enough IDs to grow the table several times', 20_000],
  ])('finds every ID added and no other (%s)', (_name, count) => {
    const m = new TraceMap<Entry>();
    const ids = Array.from({ length: count }, () => new Uint8Array(randomBytes(16)));
    ids.forEach((id, n) => m.add({ id, n }));
    expect(m.size).toBe(count);
    ids.forEach((id, n) => {
      // A copy at an offset of a larger buffer, as IDs arrive in a push.
      const view = Buffer.concat([Buffer.from([7, 7, 7]), id]).subarray(3);
      expect(m.find(view)?.n).toBe(n);
      expect(m.get(hexID(id))?.n).toBe(n);
    });
    for (let i = 0; i < 100; i++) expect(m.find(new Uint8Array(randomBytes(16)))).toBeUndefined();
    expect([...m.values()].map((e) => e.n)).toEqual(ids.map((_, n) => n));
    expect([...m.keys()]).toEqual(ids.map(hexID));
  });

  it('tells apart IDs that share a lookup key', () => {
    // The key is given, as push.ts passes it: several IDs under one key, and a key shared with a neighbour slot.
    const m = new TraceMap<Entry>();
    const ids = Array.from({ length: 50 }, (_, i) => Uint8Array.from({ length: 16 }, (_, b) => (b === 15 ? i : 0xab)));
    ids.forEach((id, n) => m.add({ id, n }, n % 3));
    ids.forEach((id, n) => expect(m.find(id, n % 3)?.n).toBe(n));
    expect(m.find(ids[0]!, 1)).toBeUndefined();
    expect(
      m.find(
        Uint8Array.from({ length: 16 }, () => 0xab),
        0,
      ),
    ).toBeUndefined();
  });

  it('keys are small integers mixed from every byte', () => {
    const id = new Uint8Array(16);
    const base = traceKey(id);
    for (let b = 0; b < 16; b++) {
      const other = new Uint8Array(16);
      other[b] = 1;
      expect(traceKey(other)).not.toBe(base);
    }
    expect(Number.isSafeInteger(traceKey(randomBytes(16)))).toBe(true);
    expect(traceKey(randomBytes(16))).toBeLessThan(2 ** 30);
  });

  it('answers undefined for a hex ID that is not 16 bytes', () => {
    const m = new TraceMap<Entry>();
    m.add({ id: new Uint8Array(16), n: 1 });
    expect(m.get('00')).toBeUndefined();
    expect(m.has('zz'.repeat(16))).toBe(false);
    expect(m.has('00'.repeat(16))).toBe(true);
  });
});
