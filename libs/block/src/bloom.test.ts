import { bloomShardOf, BloomShard, bloomSizing, ShardedBloomBuilder } from './bloom';
import { Rng } from './testing/realistic-traces';

const randomIDs = (n: number, seed: number): Uint8Array[] => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.bytes(16));
};
/** Zipkin-style 64-bit IDs, zero-padded to 16 bytes, counting up: the worst case for a weak hash. */
const paddedSequentialIDs = (n: number, from: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => {
    const id = new Uint8Array(16);
    Buffer.from(id.buffer).writeBigUInt64BE(BigInt(from + i), 8);
    return id;
  });

function build(ids: Uint8Array[], fp: number, shardBytes: number) {
  const b = new ShardedBloomBuilder(bloomSizing(ids.length, fp, shardBytes));
  for (const id of ids) b.add(id);
  const shards = b.shards().map((s) => BloomShard.decode(s));
  return { sizing: b.sizing, has: (id: Uint8Array) => shards[bloomShardOf(id, shards.length)]!.mayContain(id) };
}

describe('sharded bloom filter', () => {
  it.each([
    ['random IDs', randomIDs(20_000, 1), randomIDs(50_000, 2)],
    ['zero-padded sequential 64-bit IDs', paddedSequentialIDs(20_000, 0), paddedSequentialIDs(50_000, 1_000_000)],
  ])('has no false negatives and a false-positive rate near the target (%s)', (_name, members, others) => {
    for (const fp of [0.01, 0.05]) {
      const f = build(members, fp, 4096);
      expect(f.sizing.shards).toBeGreaterThan(1);
      for (const id of members) expect(f.has(id)).toBe(true);
      const rate = others.filter((id) => f.has(id)).length / others.length;
      expect(rate).toBeGreaterThan(fp * 0.5);
      expect(rate).toBeLessThan(fp * 1.5);
    }
  });

  it('spreads structured IDs evenly over shards', () => {
    const shards = 16;
    const counts = new Array<number>(shards).fill(0);
    for (const id of paddedSequentialIDs(32_000, 0)) counts[bloomShardOf(id, shards)]!++;
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });

  it('sizes from the false-positive rate and items, within the shard size', () => {
    const s = bloomSizing(100_000, 0.01, 100 * 1024);
    // 100k items at 1%: ~958k bits (~117 KiB) → 2 shards, k = 7.
    expect(s.shards).toBe(2);
    expect(s.k).toBe(7);
    expect(s.bits / 8).toBeLessThanOrEqual(100 * 1024);
    expect(s.bits * s.shards).toBeGreaterThanOrEqual(958_506);
    expect(bloomSizing(0, 0.01, 1024)).toMatchObject({ shards: 1 });
    expect(() => bloomSizing(10, 0, 1024)).toThrow(RangeError);
  });

  it('keeps its hash stable (the hash is persisted: this test pins it)', () => {
    const f = new ShardedBloomBuilder({ shards: 4, bits: 64, k: 3 });
    f.add(new Uint8Array(16).fill(1));
    expect(bloomShardOf(new Uint8Array(16).fill(1), 1000)).toBe(776);
    expect(f.shards().map((b) => b.toString('hex'))).toEqual([
      '5342463103400000000000e00000000000',
      '5342463103400000000000000000000000',
      '5342463103400000000000000000000000',
      '5342463103400000000000000000000000',
    ]);
  });

  it('rejects a corrupt shard', () => {
    expect(() => BloomShard.decode(Buffer.from('nope'))).toThrow(RangeError);
    const ok = new ShardedBloomBuilder({ shards: 1, bits: 64, k: 2 }).shards()[0]!;
    expect(() => BloomShard.decode(ok.subarray(0, ok.length - 1))).toThrow(RangeError);
  });
});
