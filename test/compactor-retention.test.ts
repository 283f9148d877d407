// Retention on an object store (issue 12, acceptance 4): against s3rver through the real S3 backend, the
// compactor marks exactly the blocks past each tenant's retention (a per-tenant override beats the
// default), keeps them readable for compacted_block_retention, then deletes every object of them and
// nothing else. The same on local disk is in libs/compactor's unit tests.

import { createObjectStore, type ManagedObjectStore } from '@stave/backend';
import { listBlocks, readTenantIndex, scanTenant, type BlockMeta } from '@stave/block';
import { Compactor } from '@stave/compactor';
import { writeTestBlock } from '@stave/compactor/testing';
import { defaultConfig, nopLogger } from '@stave/server';
import { S3RVER_KEY, startS3rver, type EmulatorProcess } from './support/emulators';

const HOUR = 3_600_000;

describe('retention on s3rver', () => {
  let emu: EmulatorProcess & { endpoint: string };
  let store: ManagedObjectStore;
  beforeAll(async () => {
    emu = await startS3rver(['stave']);
    const trace = defaultConfig().storage.trace;
    store = createObjectStore({
      ...trace,
      backend: 's3',
      s3: { ...trace.s3, bucket: 'stave', endpoint: emu.endpoint, access_key: S3RVER_KEY, secret_key: S3RVER_KEY, forcepathstyle: true, insecure: true },
    });
  });
  afterAll(async () => {
    await store.close();
    await emu.stop();
  });

  it('marks exactly the expired blocks per tenant, then deletes them after compacted_block_retention', async () => {
    const now = Date.now();
    // Per tenant: blocks ending 30 h, 10 h and 1 h ago. Default retention 5 h; tenant `long` keeps 20 h.
    const blocks: Record<string, BlockMeta[]> = {};
    for (const tenant of ['short', 'long']) {
      blocks[tenant] = [];
      for (const [i, agoH] of [30, 10, 1].entries()) blocks[tenant].push(await writeTestBlock(store, tenant, new Map([[i, [0, 1, 2]]]), now - agoH * HOUR));
    }
    let clock = now;
    const c = new Compactor({
      store,
      owns: () => true,
      logger: nopLogger,
      now: () => clock,
      blockRetentionFor: (t) => (t === 'long' ? 20 * HOUR : 0),
      config: {
        blockRetentionMs: 5 * HOUR,
        compactedBlockRetentionMs: HOUR,
        compactionWindowMs: HOUR,
        compactionCycleMs: 30_000,
        maxCompactionObjects: 6_000_000,
        maxBlockBytes: 2 ** 40,
        maxTimePerTenantMs: 60_000,
        retentionConcurrency: 4,
        tenantIndexBuilders: 1,
        // Retention alone: no two blocks here may be compacted together.
        minInputBlocks: 99,
      },
    });
    const ids = (ms: readonly BlockMeta[]) => ms.map((m) => m.blockID).sort();
    const [s30, s10, s1] = blocks.short!;
    const [l30, l10, l1] = blocks.long!;

    expect((await c.runCycle()).markedForRetention).toBe(3);
    expect(ids(await listBlocks(store, 'short'))).toEqual(ids([s1!]));
    expect(ids(await listBlocks(store, 'long'))).toEqual(ids([l10!, l1!]));
    expect(ids((await scanTenant(store, 'short')).compacted)).toEqual(ids([s30!, s10!]));
    expect(ids((await readTenantIndex(store, 'long'))!.compacted)).toEqual(ids([l30!]));

    clock += HOUR + 1;
    expect((await c.runCycle()).deleted).toBe(3);
    for (const gone of [s30!, s10!, l30!]) expect((await store.list(`${gone.tenantID}/${gone.blockID}/`)).objects).toEqual([]);
    for (const kept of [s1!, l10!, l1!])
      expect((await store.list(`${kept.tenantID}/${kept.blockID}/`)).objects).toContain(`${kept.tenantID}/${kept.blockID}/meta.json`);
    expect((await readTenantIndex(store, 'short'))!.compacted).toEqual([]);
  });
});
