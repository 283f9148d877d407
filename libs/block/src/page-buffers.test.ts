// Page buffers: decompression into reused buffers (compaction's reads) and the pool of page bodies on their
// way to compression (every block written). Both only move bytes around: what they must keep is the bytes.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { LocalStore } from '@stave/backend';
import { hexID } from './meta';
import { PageBufferPool } from './parquet/column-writer';
import { brotliDecodesInPlace, decompress, decompressInto } from './parquet/compression';
import { Codec } from './parquet/format';
import { openBlock } from './reader';
import { realisticTraces } from './testing/realistic-traces';
import { writeBlock } from './writer';

const page = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * seed + (i >> 7)) & 0xff;
  return b;
};
const brotli = (b: Buffer): Buffer => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } });

describe('decompressInto', () => {
  it('gives the bytes decompress gives, as a view of the buffer, through the native handle', () => {
    const out = Buffer.alloc(70_001);
    for (const [n, seed] of [
      [70_000, 3],
      [1, 5],
      [0, 7],
      [40_000, 11],
    ] as const) {
      const raw = page(n, seed);
      const got = decompressInto(Codec.BROTLI, brotli(raw), n, out);
      expect(got.equals(raw)).toBe(true);
      expect(got.equals(decompress(Codec.BROTLI, brotli(raw), n))).toBe(true);
      expect(got.buffer === out.buffer).toBe(true);
    }
    // Node's zlib still has the handle this drives: when it does not, pages take the public path (correct, slower).
    expect(brotliDecodesInPlace()).toBe(true);
  });

  it('rejects a page whose size differs from its header, and a corrupt page, then decodes the next', () => {
    const out = Buffer.alloc(10_001);
    const raw = page(10_000, 13);
    expect(() => decompressInto(Codec.BROTLI, brotli(raw), 9_999, out)).toThrow(/more than 9999 bytes, header says 9999/);
    expect(() => decompressInto(Codec.BROTLI, brotli(raw).subarray(0, 50), 10_000, out)).toThrow(RangeError);
    const corrupt = Buffer.from(brotli(raw));
    corrupt.fill(0xff, 2, 40);
    expect(() => decompressInto(Codec.BROTLI, corrupt, 10_000, out)).toThrow(RangeError);
    expect(decompressInto(Codec.BROTLI, brotli(raw), 10_000, out).equals(raw)).toBe(true);
  });

  it('takes a new buffer when the given one is too small, and handles the other codecs', () => {
    const raw = page(5_000, 17);
    const small = Buffer.alloc(5_000);
    const got = decompressInto(Codec.BROTLI, brotli(raw), 5_000, small);
    expect(got.equals(raw)).toBe(true);
    expect(got.buffer === small.buffer).toBe(false);
    expect(decompressInto(Codec.GZIP, zlib.gzipSync(raw), 5_000, Buffer.alloc(6_000)).equals(raw)).toBe(true);
    expect(decompressInto(Codec.UNCOMPRESSED, raw, 5_000, Buffer.alloc(6_000))).toBe(raw);
  });
});

describe('BlockReader.iterateEncodedTraces with reuseBuffers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stave-page-buffers-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('yields the same traces; each holds until the page after the next is read', async () => {
    const store = new LocalStore(dir);
    const traces = realisticTraces(300, { seed: 21 });
    const meta = await writeBlock(store, { tenant: 't', traces, tracePageSizeBytes: 8 * 1024, codecLevel: 1 });
    const plain: Array<{ id: string; encoded: Buffer; spans: number }> = [];
    const pages = new Set<ArrayBufferLike>();
    for await (const t of openBlock(store, meta).iterateEncodedTraces()) {
      plain.push({ id: hexID(t.id), encoded: Buffer.from(t.encoded), spans: t.spans });
      pages.add(t.encoded.buffer);
    }
    expect(plain.length).toBe(300);
    expect(pages.size).toBeGreaterThan(20);

    // Hold the previous trace while the next is read (what the k-way merge does), check both then.
    let prev: { id: Uint8Array; encoded: Uint8Array } | undefined;
    let i = 0;
    const buffers = new Set<ArrayBufferLike>();
    for await (const t of openBlock(store, meta).iterateEncodedTraces(undefined, { reuseBuffers: true })) {
      if (prev) expect(Buffer.from(prev.encoded).equals(plain[i - 1]!.encoded)).toBe(true);
      expect(hexID(t.id)).toBe(plain[i]!.id);
      expect(Buffer.from(t.encoded).equals(plain[i]!.encoded)).toBe(true);
      expect(t.spans).toBe(plain[i]!.spans);
      buffers.add(t.encoded.buffer);
      prev = t;
      i++;
    }
    expect(i).toBe(300);
    // Many pages, few buffers: two in turn, and a new one when a page outgrows its buffer.
    expect(buffers.size).toBeLessThan(8);
  });
});

describe('PageBufferPool', () => {
  it('makes room for a large body by dropping the buffers given back longest ago', () => {
    const pool = new PageBufferPool(1024 * 1024);
    const small = Array.from({ length: 16 }, () => pool.take(40 * 1024));
    for (const b of small) pool.give(b);
    // Full of 64 KiB buffers: a 512 KiB body given back is kept, and served to the next body of its size.
    const large = pool.take(500 * 1024);
    pool.give(large);
    expect(pool.take(480 * 1024).buffer === large.buffer).toBe(true);
    // Oldest small buffers went; the newest are still served.
    const next = pool.take(40 * 1024).buffer;
    expect(small.slice(8).some((b) => b.buffer === next)).toBe(true);
  });

  it('never keeps more than its bound, nor a buffer larger than it', () => {
    const pool = new PageBufferPool(256 * 1024);
    const huge = pool.take(300 * 1024);
    pool.give(huge);
    expect(pool.take(300 * 1024).buffer === huge.buffer).toBe(false);
    const held = Array.from({ length: 6 }, () => pool.take(64 * 1024));
    for (const b of held) pool.give(b);
    const served = new Set(Array.from({ length: 6 }, () => pool.take(64 * 1024).buffer));
    expect(held.filter((b) => served.has(b.buffer)).length).toBe(4);
  });
});
