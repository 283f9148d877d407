// The conformance suite every ObjectStore passes: call it inside a jest file with a factory for fresh,
// empty stores (a new directory, or a new prefix in a bucket). The listing expectations come from one
// reference model (`expectedListing`) that states the semantics LocalStore defines, so every backend is
// held to the same answers.
//
// What it covers: whole and ranged reads (edges included), empty objects, missing objects, overwrite,
// delete, prefix/delimiter listing, pagination past 1000 objects, concurrent writers, a failed stream
// leaving the old object in place, and an object larger than 64 MiB streamed through with bounded
// memory (RSS growth measured with forced GCs, so it counts live memory, not garbage).

import { createHash, randomBytes } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Code, codeOf } from '@stave/core';
import type { ListResult, ObjectStore } from '../object-store';

export type StoreFactory = () => Promise<ObjectStore>;

export interface ConformanceOptions {
  /** Fresh, empty store per test. */
  readonly create: StoreFactory;
  /** Size of the large-object case; default 64 MiB + 1 MiB + 7 bytes. */
  readonly largeObjectBytes?: number;
  /** Largest growth (RSS, and live heap + buffers) allowed while the large object streams through; default half its size. */
  readonly maxRssGrowthBytes?: number;
  /** Objects in the pagination case; default 1001 (one past S3's and GCS's page limit). */
  readonly manyObjects?: number;
  /** Timeout of the large-object case, ms. */
  readonly largeTimeoutMs?: number;
}

const MiB = 1024 * 1024;

async function code(p: Promise<unknown>): Promise<Code | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return codeOf(err);
  }
}

function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

async function* chunked(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

/** The listing semantics every store implements (LocalStore's, S3's): sorted, `prefixes` end in the delimiter. */
export function expectedListing(keys: readonly string[], prefix: string, delimiter?: string): ListResult {
  const under = keys.filter((k) => k.startsWith(prefix)).sort();
  if (!delimiter) return { objects: under, prefixes: [] };
  const objects: string[] = [];
  const prefixes = new Set<string>();
  for (const k of under) {
    const rest = k.slice(prefix.length);
    const i = rest.indexOf(delimiter);
    if (i < 0) objects.push(k);
    else prefixes.add(prefix + rest.slice(0, i + delimiter.length));
  }
  return { objects, prefixes: [...prefixes].sort() };
}

async function writeAll(store: ObjectStore, keys: readonly string[], concurrency = 32): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < keys.length) {
        const k = keys[next++]!;
        await store.write(k, Buffer.from(k));
      }
    }),
  );
}

let forceGc: (() => void) | undefined;
function gc(): void {
  if (!forceGc) {
    v8.setFlagsFromString('--expose-gc');
    forceGc = vm.runInNewContext('gc') as () => void;
  }
  forceGc();
}

export function describeObjectStoreConformance(name: string, opts: ConformanceOptions): void {
  const large = opts.largeObjectBytes ?? 64 * MiB + MiB + 7;
  const maxGrowth = opts.maxRssGrowthBytes ?? Math.floor(large * 0.5);
  const many = opts.manyObjects ?? 1001;

  describe(`ObjectStore conformance: ${name}`, () => {
    let store: ObjectStore;
    beforeEach(async () => {
      store = await opts.create();
    });

    // First, so the baseline is taken before other cases have grown the process.
    it(
      `streams a ${(large / MiB).toFixed(1)} MiB object through with bounded memory`,
      async () => {
        const chunk = MiB;
        const base = randomBytes(chunk);
        const written = createHash('sha256');
        // Two measures after forced GCs: RSS (what the brief asks) and live JS memory (heap + buffers),
        // which the allocator's retained pages cannot hide when earlier tests already grew the RSS.
        const live = (): number => {
          const m = process.memoryUsage();
          return m.heapUsed + m.arrayBuffers;
        };
        // Warm up first: the first multi-part upload loads SDK code, which is growth but not buffering.
        await store.write(
          'large/warm-up',
          (async function* () {
            for (let i = 0; i < 12; i++) yield Buffer.alloc(MiB, i);
          })(),
        );
        await store.readRange('large/warm-up', 0, MiB);
        await store.delete('large/warm-up');
        gc();
        const rss0 = process.memoryUsage.rss();
        const live0 = live();
        let peak = rss0;
        let peakLive = live0;
        let produced = 0;
        const sample = (): void => {
          gc();
          peak = Math.max(peak, process.memoryUsage.rss());
          peakLive = Math.max(peakLive, live());
        };
        async function* source(): AsyncGenerator<Uint8Array> {
          for (let i = 0; produced < large; i++) {
            const n = Math.min(chunk, large - produced);
            const b = Buffer.allocUnsafe(n);
            base.copy(b, 0, 0, n);
            b.writeUInt32LE(i, 0); // every chunk differs, so a misplaced part changes the hash
            written.update(b);
            produced += n;
            if (i % 8 === 7) sample();
            yield b;
          }
        }
        await store.write('large/obj', source());
        sample();
        expect(produced).toBe(large);
        expect(await store.stat('large/obj')).toEqual({ size: large });

        // Read it back in ranges (as readers do), hashing as we go.
        const read = createHash('sha256');
        const step = 8 * MiB;
        for (let off = 0; off < large; off += step) {
          const len = Math.min(step, large - off);
          const part = await store.readRange('large/obj', off, len);
          expect(part.length).toBe(len);
          read.update(part);
        }
        expect(read.digest('hex')).toBe(written.digest('hex'));
        // Edges of the large object.
        expect((await store.readRange('large/obj', large - 1, 1)).length).toBe(1);
        expect(await code(store.readRange('large/obj', large - 1, 2))).toBe(Code.OutOfRange);
        const growth = peak - rss0;
        const liveGrowth = peakLive - live0;
        if (process.env.STAVE_CONFORMANCE_REPORT) {
          process.stderr.write(
            `[conformance ${name}] ${large} bytes streamed; peak growth: RSS ${(growth / MiB).toFixed(1)} MiB, live heap+buffers ${(liveGrowth / MiB).toFixed(1)} MiB\n`,
          );
        }
        expect(growth).toBeLessThan(maxGrowth);
        expect(liveGrowth).toBeLessThan(maxGrowth);
        await store.delete('large/obj');
        expect(await code(store.stat('large/obj'))).toBe(Code.NotFound);
      },
      opts.largeTimeoutMs ?? 120_000,
    );

    it('reads back what it wrote, whole and by stat', async () => {
      const data = bytes(300_000, 2);
      await store.write('t/b/data.parquet', data);
      expect(Buffer.from(await store.read('t/b/data.parquet')).equals(data)).toBe(true);
      expect(await store.stat('t/b/data.parquet')).toEqual({ size: data.length });
    });

    it('stores empty objects', async () => {
      await store.write('t/empty', new Uint8Array(0));
      expect((await store.read('t/empty')).length).toBe(0);
      expect(await store.stat('t/empty')).toEqual({ size: 0 });
      expect((await store.readRange('t/empty', 0, 0)).length).toBe(0);
      await store.write('t/empty-stream', chunked());
      expect(await store.stat('t/empty-stream')).toEqual({ size: 0 });
    });

    it('writes a stream of uneven chunks, empty ones included', async () => {
      const parts = [bytes(10, 3), new Uint8Array(0), bytes(70_000, 4), bytes(1, 5), new Uint8Array(0), bytes(4097, 6)];
      await store.write('t/stream', chunked(...parts));
      expect(Buffer.from(await store.read('t/stream')).equals(Buffer.concat(parts))).toBe(true);
    });

    it('keeps odd but legal key characters', async () => {
      const key = 'odd/with space/a+b=c,d@e;f(1)~!$.json';
      await store.write(key, Buffer.from('odd'));
      expect(Buffer.from(await store.read(key)).toString()).toBe('odd');
      expect((await store.list('odd/')).objects).toEqual([key]);
    });

    describe('ranged reads', () => {
      const N = 1000;
      const data = bytes(N, 7);
      const cases: [string, number, number][] = [
        ['first byte', 0, 1],
        ['whole object', 0, N],
        ['last byte', N - 1, 1],
        ['middle', 123, 456],
        ['empty at the end', N, 0],
        ['empty inside', 500, 0],
      ];
      it.each(cases)('%s (%i+%i)', async (_name, offset, length) => {
        await store.write('r/obj', data);
        const got = await store.readRange('r/obj', offset, length);
        expect(got.length).toBe(length);
        expect(Buffer.from(got).equals(data.subarray(offset, offset + length))).toBe(true);
      });

      const bad: [string, number, number][] = [
        ['one past the end', N - 1, 2],
        ['starting at the end', N, 1],
        ['starting past the end', N + 10, 5],
        ['empty past the end', N + 1, 0],
        ['negative offset', -1, 1],
        ['negative length', 0, -1],
      ];
      it.each(bad)('%s (%i+%i) is OutOfRange', async (_name, offset, length) => {
        await store.write('r/obj', data);
        expect(await code(store.readRange('r/obj', offset, length))).toBe(Code.OutOfRange);
      });
    });

    it('answers NotFound for a missing object, and deleting one succeeds', async () => {
      expect(await code(store.read('missing/x'))).toBe(Code.NotFound);
      expect(await code(store.readRange('missing/x', 0, 1))).toBe(Code.NotFound);
      expect(await code(store.readRange('missing/x', 0, 0))).toBe(Code.NotFound);
      expect(await code(store.stat('missing/x'))).toBe(Code.NotFound);
      expect(await code(store.delete('missing/x'))).toBe('ok');
      expect(await store.list('missing/')).toEqual({ objects: [], prefixes: [] });
      expect(await store.list('missing/', { delimiter: '/' })).toEqual({ objects: [], prefixes: [] });
    });

    it('overwrites an object with a smaller one, then with a stream', async () => {
      await store.write('o/k', bytes(5000, 8));
      const small = bytes(10, 9);
      await store.write('o/k', small);
      expect(Buffer.from(await store.read('o/k')).equals(small)).toBe(true);
      expect(await store.stat('o/k')).toEqual({ size: 10 });
      const streamed = [bytes(3000, 10), bytes(3000, 11)];
      await store.write('o/k', chunked(...streamed));
      expect(Buffer.from(await store.read('o/k')).equals(Buffer.concat(streamed))).toBe(true);
    });

    it('deletes an object and only that object', async () => {
      await store.write('d/a', Buffer.from('a'));
      await store.write('d/b', Buffer.from('b'));
      await store.delete('d/a');
      expect(await code(store.read('d/a'))).toBe(Code.NotFound);
      expect(await code(store.stat('d/a'))).toBe(Code.NotFound);
      expect(Buffer.from(await store.read('d/b')).toString()).toBe('b');
      expect((await store.list('d/')).objects).toEqual(['d/b']);
    });

    describe('listing with prefixes and delimiters', () => {
      const keys = [
        'single-tenant/0001/meta.json',
        'single-tenant/0001/data.parquet',
        'single-tenant/0001/bloom-0',
        'single-tenant/0001/bloom-1',
        'single-tenant/0002/meta.json',
        'single-tenant/index.json.gz',
        'single-tenant-2/0003/meta.json',
        'tenant-b/0004/index',
        'top-level.txt',
      ];
      const cases: [string, string | undefined][] = [
        ['', undefined],
        ['', '/'],
        ['single-tenant', undefined],
        ['single-tenant', '/'],
        ['single-tenant/', '/'],
        ['single-tenant/', undefined],
        ['single-tenant/0001/', '/'],
        ['single-tenant/0001/bloom', '/'],
        ['single-tenant/000', '/'],
        ['tenant-b/0004/index', '/'],
        ['no-such/', '/'],
        ['no-such', undefined],
      ];
      it.each(cases)('prefix %j, delimiter %j', async (prefix, delimiter) => {
        await writeAll(store, keys);
        const got = await store.list(prefix, delimiter === undefined ? {} : { delimiter });
        expect(got).toEqual(expectedListing(keys, prefix, delimiter));
      });
    });

    it(`lists past one page: ${many} objects and ${many} prefixes`, async () => {
      const keys = Array.from({ length: many }, (_, i) => `many/${String(i).padStart(5, '0')}/x`);
      await writeAll(store, keys);
      const flat = await store.list('many/');
      expect(flat.objects).toEqual(keys);
      expect(flat.prefixes).toEqual([]);
      const folders = await store.list('many/', { delimiter: '/' });
      expect(folders.objects).toEqual([]);
      expect(folders.prefixes).toEqual(keys.map((k) => k.slice(0, -1)));
    }, 120_000);

    it('concurrent whole-object writers to one key leave exactly one of their objects', async () => {
      const versions = Array.from({ length: 8 }, (_, i) => bytes(1000 + i * 977, 20 + i));
      await Promise.all(versions.map((v) => store.write('c/same', v)));
      const got = Buffer.from(await store.read('c/same'));
      expect(versions.some((v) => v.equals(got))).toBe(true);
      expect(await store.stat('c/same')).toEqual({ size: got.length });
    });

    it('concurrent writers to different keys all land', async () => {
      const keys = Array.from({ length: 24 }, (_, i) => `c/k-${String(i).padStart(2, '0')}`);
      await Promise.all(
        keys.map((k, i) => (i % 2 === 0 ? store.write(k, bytes(2000 + i, i)) : store.write(k, chunked(bytes(1000, i), bytes(1000 + i, i + 100))))),
      );
      expect((await store.list('c/')).objects).toEqual(keys);
      for (const [i, k] of keys.entries()) expect((await store.stat(k)).size).toBe(2000 + i);
    });

    it('concurrent multi-part streams to one key: each finishes whole or fails Aborted, the object is one of them', async () => {
      // 11 MiB: more than one part on every backend (S3 5 MiB parts, GCS 10 MiB chunks, Azure 3 MiB blocks).
      const size = 11 * MiB;
      const seeds = [31, 32];
      const gen = async function* (seed: number): AsyncGenerator<Uint8Array> {
        const block = bytes(MiB, seed);
        for (let off = 0; off < size; off += MiB) yield block;
      };
      const results = await Promise.all(seeds.map((s) => code(store.write('c/big', gen(s)))));
      for (const r of results) expect(['ok', Code.Aborted]).toContain(r);
      expect(results).toContain('ok');
      expect((await store.stat('c/big')).size).toBe(size);
      // The whole object is one writer's: its first and last MiB carry the same seed.
      const head = Buffer.from(await store.readRange('c/big', 0, 64));
      const tail = Buffer.from(await store.readRange('c/big', size - MiB, 64));
      const winner = seeds.find((s) => bytes(64, s).equals(head));
      expect(winner).toBeDefined();
      expect(tail.equals(bytes(64, winner!))).toBe(true);
    }, 60_000);

    it('a stream that fails part-way leaves the previous object in place', async () => {
      const old = bytes(1234, 40);
      await store.write('f/k', old);
      const failing = async function* (): AsyncGenerator<Uint8Array> {
        const block = bytes(MiB, 41);
        for (let i = 0; i < 11; i++) yield block;
        throw new Error('producer failed');
      };
      expect(await code(store.write('f/k', failing()))).not.toBe('ok');
      expect(Buffer.from(await store.read('f/k')).equals(old)).toBe(true);
      await expect(store.write('f/new', failing())).rejects.toThrow();
      expect(await code(store.stat('f/new'))).toBe(Code.NotFound);
    }, 60_000);
  });
}
