// Sharded bloom filters over trace IDs: `bloom-0..n-1` beside each block. A by-ID lookup hashes the
// ID once, picks its shard, reads that one object (small and cacheable) and skips the block when the
// ID is absent. Sizing follows the textbook optimum for the configured false-positive rate:
// m = -n·ln(p)/ln(2)² bits and k = (m/n)·ln(2) hash functions; the bits are split into shards of at
// most `shardSizeBytes`, and an ID's shard comes from a hash independent of its bit positions.
//
// Shard object layout: "SBF1" | u8 k | u32le bit count | bit array (LSB-first bytes).

import { ByteWriter } from './bytes';

const SHARD_MAGIC = Buffer.from('SBF1', 'latin1');
const HEADER_SIZE = SHARD_MAGIC.length + 1 + 4;

// hash is persisted in bloom filters: do not change. Murmur3 (x86, 32-bit) over the ID's bytes with
// three fixed seeds: its finaliser avalanches every input bit, so structured IDs (Zipkin's 64-bit IDs
// zero-padded to 16 bytes, sequential test IDs) spread as well as random ones.
const SEED_A = 0x9747b28c;
const SEED_B = 0x5bd1e995;
const SEED_SHARD = 0x1b873593;

function murmur3(key: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const n = key.length;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = n & 3;
  if (tail) {
    let k = 0;
    if (tail === 3) k ^= key[blocks + 2]! << 16;
    if (tail >= 2) k ^= key[blocks + 1]! << 8;
    k ^= key[blocks]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The shard an ID belongs to. */
export function bloomShardOf(id: Uint8Array, shards: number): number {
  return murmur3(id, SEED_SHARD) % shards;
}

/** Bit positions by double hashing (Kirsch–Mitzenmacher): g_i = h1 + i·h2 mod m. */
function positions(id: Uint8Array, k: number, m: number, visit: (bit: number) => void): void {
  const h1 = murmur3(id, SEED_A);
  const h2 = (murmur3(id, SEED_B) | 1) >>> 0;
  for (let i = 0; i < k; i++) visit((h1 + i * h2) % m);
}

export interface BloomSizing {
  readonly shards: number;
  /** Bits per shard. */
  readonly bits: number;
  readonly k: number;
}

/** Shard count, bits per shard and hash count for `items` IDs at false-positive rate `fp`. */
export function bloomSizing(items: number, fp: number, shardSizeBytes: number): BloomSizing {
  if (!(fp > 0 && fp < 1)) throw new RangeError(`bloom false-positive rate must be in (0, 1), got ${fp}`);
  if (!(shardSizeBytes >= 1)) throw new RangeError(`bloom shard size must be at least 1 byte, got ${shardSizeBytes}`);
  const n = Math.max(1, items);
  const totalBits = Math.ceil((-n * Math.log(fp)) / (Math.LN2 * Math.LN2));
  const shards = Math.max(1, Math.ceil(totalBits / 8 / shardSizeBytes));
  // Whole bytes per shard, at least 64 bits so tiny blocks still get a usable filter.
  const bits = Math.max(64, Math.ceil(totalBits / shards / 8) * 8);
  const k = Math.max(1, Math.min(30, Math.round((bits * shards * Math.LN2) / n)));
  return { shards, bits, k };
}

/** Builds every shard of a block's filter. */
export class ShardedBloomBuilder {
  private readonly shardBits: Uint8Array[];

  constructor(readonly sizing: BloomSizing) {
    this.shardBits = Array.from({ length: sizing.shards }, () => new Uint8Array(sizing.bits / 8));
  }

  add(id: Uint8Array): void {
    const bits = this.shardBits[bloomShardOf(id, this.sizing.shards)]!;
    positions(id, this.sizing.k, this.sizing.bits, (b) => (bits[b >>> 3]! |= 1 << (b & 7)));
  }

  /** Encoded shard objects, `bloom-0` first. */
  shards(): Buffer[] {
    return this.shardBits.map((bits) => {
      const w = new ByteWriter(HEADER_SIZE + bits.length);
      w.bytes(SHARD_MAGIC);
      w.u8(this.sizing.k);
      w.u32le(this.sizing.bits);
      w.bytes(bits);
      return w.toBytes();
    });
  }
}

/** One decoded shard. */
export class BloomShard {
  private constructor(
    private readonly k: number,
    private readonly m: number,
    private readonly bits: Uint8Array,
  ) {}

  static decode(data: Uint8Array): BloomShard {
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (b.length < HEADER_SIZE || !b.subarray(0, 4).equals(SHARD_MAGIC)) throw new RangeError('bloom shard: bad magic');
    const k = b[4]!;
    const m = b.readUInt32LE(5);
    if (k < 1 || m < 8 || b.length !== HEADER_SIZE + m / 8) throw new RangeError(`bloom shard: inconsistent header (k=${k}, bits=${m}, ${b.length} bytes)`);
    return new BloomShard(k, m, b.subarray(HEADER_SIZE));
  }

  get byteSize(): number {
    return this.bits.length + HEADER_SIZE;
  }

  /** False means the ID is certainly absent. */
  mayContain(id: Uint8Array): boolean {
    let all = true;
    positions(id, this.k, this.m, (b) => {
      if ((this.bits[b >>> 3]! & (1 << (b & 7))) === 0) all = false;
    });
    return all;
  }
}
