// CachingStore: what it keeps (by role and size), what it serves, when it lets go, what it counts.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Code, codeOf } from '@stave/core';
import { Registry } from 'prom-client';
import { CachingStore, roleOf, type CacheRole } from './cache';
import { LocalStore } from './local';
import { BackendMetrics } from './metrics';
import type { ObjectStore } from './object-store';

/** Counts what reaches the store below the cache. */
class Counting implements ObjectStore {
  reads = 0;
  constructor(readonly inner: ObjectStore) {}
  read(key: string) {
    this.reads++;
    return this.inner.read(key);
  }
  readRange(key: string, offset: number, length: number) {
    this.reads++;
    return this.inner.readRange(key, offset, length);
  }
  stat(key: string) {
    return this.inner.stat(key);
  }
  write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>) {
    return this.inner.write(key, data);
  }
  list(prefix: string, opts?: { delimiter?: string }) {
    return this.inner.list(prefix, opts);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'stave-cache-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function setup(opts: { maxBytes?: number; maxObjectBytes?: number; roles?: CacheRole[] } = {}) {
  const registry = new Registry();
  const below = new Counting(new LocalStore(dir));
  const cache = new CachingStore(below, {
    maxBytes: opts.maxBytes ?? 1 << 20,
    maxObjectBytes: opts.maxObjectBytes ?? 64 * 1024,
    roles: opts.roles ?? ['meta', 'bloom', 'trace-id-index', 'parquet-footer'],
    metrics: new BackendMetrics(registry),
  });
  const sample = async (line: string): Promise<number> => {
    const l = (await registry.metrics()).split('\n').find((x) => x.startsWith(line + ' '));
    return l ? Number(l.split(' ')[1]) : 0;
  };
  return { below, cache, sample };
}

describe('roleOf', () => {
  it.each([
    ['t/b/meta.json', 'meta'],
    ['t/b/bloom-0', 'bloom'],
    ['t/b/bloom-17', 'bloom'],
    ['t/b/index', 'trace-id-index'],
    ['t/b/data.parquet', 'parquet-footer'],
    ['t/index.json.gz', undefined],
    ['t/b/meta.compacted.json', undefined],
    ['t/b/bloom-x', undefined],
  ])('%s → %s', (key, role) => expect(roleOf(key)).toBe(role));
});

describe('CachingStore', () => {
  it('serves a second read of a hot object from memory, counting a miss then a hit', async () => {
    const { below, cache, sample } = setup();
    await cache.write('t/b/bloom-0', Buffer.from('bloom bits'));
    expect(Buffer.from(await cache.read('t/b/bloom-0')).toString()).toBe('bloom bits');
    expect(Buffer.from(await cache.read('t/b/bloom-0')).toString()).toBe('bloom bits');
    expect(below.reads).toBe(1);
    expect(await sample('stave_backend_cache_misses_total{role="bloom"}')).toBe(1);
    expect(await sample('stave_backend_cache_hits_total{role="bloom"}')).toBe(1);
    expect(await sample('stave_backend_cache_objects')).toBe(1);
  });

  it('serves ranges of a cached whole object, and caches ranged reads (index pages) by range', async () => {
    const { below, cache } = setup();
    await cache.write('t/b/index', Buffer.from('0123456789'));
    await cache.read('t/b/index');
    expect(Buffer.from(await cache.readRange('t/b/index', 2, 3)).toString()).toBe('234');
    expect(below.reads).toBe(1);
    await cache.write('t/c/index', Buffer.from('abcdefghij'));
    await cache.readRange('t/c/index', 4, 2);
    await cache.readRange('t/c/index', 4, 2);
    expect(below.reads).toBe(2);
    expect(codeOf(await cache.readRange('t/c/index', 8, 5).catch((e: unknown) => e))).toBe(Code.OutOfRange);
  });

  it('caches a Parquet footer read, and not the data pages', async () => {
    const { below, cache, sample } = setup();
    const file = Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(100, 1), Buffer.from('footer'), Buffer.from([6, 0, 0, 0]), Buffer.from('PAR1')]);
    await cache.write('t/b/data.parquet', file);
    const tail = file.length - 14;
    await cache.readRange('t/b/data.parquet', tail, 14);
    await cache.readRange('t/b/data.parquet', tail, 14);
    await cache.readRange('t/b/data.parquet', 4, 50);
    await cache.readRange('t/b/data.parquet', 4, 50);
    expect(below.reads).toBe(3);
    expect(await sample('stave_backend_cache_hits_total{role="parquet-footer"}')).toBe(1);
    expect(await sample('stave_backend_cache_misses_total{role="parquet-footer"}')).toBe(1);
  });

  it('passes through objects outside its roles, and the tenant index always', async () => {
    const { below, cache } = setup({ roles: ['bloom'] });
    await cache.write('t/b/meta.json', Buffer.from('{}'));
    await cache.write('t/index.json.gz', Buffer.from('gz'));
    for (let i = 0; i < 2; i++) {
      await cache.read('t/b/meta.json');
      await cache.read('t/index.json.gz');
    }
    expect(below.reads).toBe(4);
  });

  it('does not keep objects above max_object_size_bytes', async () => {
    const { below, cache } = setup({ maxObjectBytes: 8 });
    await cache.write('t/b/bloom-0', Buffer.alloc(9));
    await cache.read('t/b/bloom-0');
    await cache.read('t/b/bloom-0');
    expect(below.reads).toBe(2);
  });

  it('stays within its byte budget, evicting the least recently used', async () => {
    const { cache, sample } = setup({ maxBytes: 3 * 1200 });
    for (let i = 0; i < 3; i++) await cache.write(`t/b/bloom-${i}`, Buffer.alloc(1000, i));
    for (let i = 0; i < 3; i++) await cache.read(`t/b/bloom-${i}`);
    expect(cache.size).toBe(3);
    await cache.read('t/b/bloom-0'); // now bloom-1 is the least recently used
    await cache.write('t/b/bloom-3', Buffer.alloc(1000, 3));
    await cache.read('t/b/bloom-3');
    expect(cache.size).toBe(3);
    expect(cache.bytes).toBeLessThanOrEqual(3 * 1200);
    expect(await sample('stave_backend_cache_evictions_total')).toBe(1);
    const { reads } = cache.inner as Counting;
    await cache.read('t/b/bloom-1');
    expect((cache.inner as Counting).reads).toBe(reads + 1);
  });

  it('drops an object on overwrite and on delete', async () => {
    const { cache } = setup();
    await cache.write('t/b/meta.json', Buffer.from('v1'));
    await cache.read('t/b/meta.json');
    await cache.readRange('t/b/meta.json', 0, 1);
    await cache.write('t/b/meta.json', Buffer.from('v2'));
    expect(Buffer.from(await cache.read('t/b/meta.json')).toString()).toBe('v2');
    await cache.delete('t/b/meta.json');
    expect(codeOf(await cache.read('t/b/meta.json').catch((e: unknown) => e))).toBe(Code.NotFound);
    expect(codeOf(await cache.stat('t/b/meta.json').catch((e: unknown) => e))).toBe(Code.NotFound);
  });

  it('shares one backend read between concurrent misses, and hands each caller its own copy', async () => {
    const { below, cache } = setup();
    await cache.write('t/b/bloom-0', Buffer.from('shared'));
    const [a, b] = await Promise.all([cache.read('t/b/bloom-0'), cache.read('t/b/bloom-0')]);
    expect(below.reads).toBe(1);
    a[0] = 0x58;
    expect(Buffer.from(b).toString()).toBe('shared');
    expect(Buffer.from(await cache.read('t/b/bloom-0')).toString()).toBe('shared');
  });

  it('does not cache a read that raced with a write of the same object', async () => {
    const { cache } = setup();
    await cache.write('t/b/meta.json', Buffer.from('old'));
    const reading = cache.read('t/b/meta.json');
    await cache.write('t/b/meta.json', Buffer.from('new'));
    await reading;
    expect(Buffer.from(await cache.read('t/b/meta.json')).toString()).toBe('new');
  });
});
