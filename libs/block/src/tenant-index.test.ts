import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { LocalStore } from '@stave/backend';
import { Code, codeOf } from '@stave/core';
import { type BlockMeta } from './meta';
import { listBlocks, readTenantIndex, tenantIndexKey, writeTenantIndex } from './tenant-index';
import { realisticTraces } from './testing/realistic-traces';
import { writeBlock } from './writer';

let dir: string;
let store: LocalStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-tenant-'));
  store = new LocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const twoBlocks = async (tenant: string): Promise<BlockMeta[]> => [
  await writeBlock(store, { tenant, traces: realisticTraces(5, { seed: 31 }) }),
  await writeBlock(store, { tenant, traces: realisticTraces(7, { seed: 32 }), compactionLevel: 1 }),
];

describe('tenant index', () => {
  it('round-trips metas and compacted metas through <tenant>/index.json.gz', async () => {
    const [a, b] = await twoBlocks('acme');
    const written = await writeTenantIndex(store, 'acme', [a!], [{ ...b!, compactedTime: '2025-01-01T00:00:00Z' }], () => new Date('2025-01-02T03:04:05Z'));
    expect(written.createdAt).toBe('2025-01-02T03:04:05.000Z');
    expect(await readTenantIndex(store, 'acme')).toEqual(written);
    // Plain gzip JSON, readable by anything.
    const raw = JSON.parse(gunzipSync(await store.read(tenantIndexKey('acme'))).toString('utf8'));
    expect(Object.keys(raw)).toEqual(['createdAt', 'meta', 'compacted']);
    expect(raw.meta[0].blockID).toBe(a!.blockID);
  });

  it('is undefined for a tenant without one, and an error when corrupt', async () => {
    expect(await readTenantIndex(store, 'nobody')).toBeUndefined();
    await store.write(tenantIndexKey('broken'), Buffer.from('not gzip'));
    expect(codeOf(await readTenantIndex(store, 'broken').catch((e: unknown) => e))).toBe(Code.InvalidArgument);
  });

  it('caps decompression', async () => {
    const [a] = await twoBlocks('big');
    await writeTenantIndex(store, 'big', [a!]);
    expect(codeOf(await readTenantIndex(store, 'big', { maxBytes: 100 }).catch((e: unknown) => e))).toBe(Code.InvalidArgument);
  });
});

describe('listBlocks', () => {
  it('finds complete blocks and skips ones without meta.json or with a broken one', async () => {
    const metas = await twoBlocks('acme');
    await writeBlock(store, { tenant: 'other', traces: realisticTraces(2) });
    // A block still being written: data but no meta.json.
    await store.write('acme/00000000-0000-4000-8000-000000000000/data.parquet', Buffer.from('PAR1'));
    await store.write('acme/11111111-0000-4000-8000-000000000000/meta.json', Buffer.from('{"format":'));
    await writeTenantIndex(store, 'acme', metas);
    const invalid: string[] = [];
    const found = await listBlocks(store, 'acme', { onInvalid: (id) => invalid.push(id) });
    expect(found.map((m) => m.blockID)).toEqual(metas.map((m) => m.blockID).sort());
    expect(found.find((m) => m.blockID === metas[1]!.blockID)).toEqual(metas[1]);
    expect(invalid).toEqual(['11111111-0000-4000-8000-000000000000']);
    expect(await listBlocks(store, 'empty')).toEqual([]);
  });
});
