import { blockRanges } from './frontend';

describe('blockRanges', () => {
  it('covers the whole block ID space in contiguous, ordered ranges', () => {
    const hex = (u: string) => BigInt('0x' + u.replace(/-/g, ''));
    for (const n of [1, 2, 7, 49]) {
      const r = blockRanges(n);
      expect(r).toHaveLength(n);
      expect(hex(r[0]![0])).toBe(0n);
      expect(hex(r[n - 1]![1])).toBe(2n ** 128n - 1n);
      for (let i = 1; i < n; i++) expect(hex(r[i]![0])).toBe(hex(r[i - 1]![1]) + 1n);
      for (const [lo, hi] of r) {
        expect(lo).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        expect(hex(hi)).toBeGreaterThan(hex(lo));
      }
    }
  });
});
