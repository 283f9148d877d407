import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalStore } from '@stave/backend';
import { clearBlock, COMPACTED_META_NAME, markBlockCompacted, parseCompactedMeta, scanTenant } from './compacted';
import { listBlocks } from './tenant-index';
import { realisticTraces } from './testing/realistic-traces';
import { writeBlock } from './writer';

let dir: string;
let store: LocalStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-compacted-'));
  store = new LocalStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const block = (seed: number) => writeBlock(store, { tenant: 't', traces: realisticTraces(3, { seed }), codec: 'none' });

describe('compacted blocks (meta.compacted.json)', () => {
  it('a marked block leaves listBlocks at once, stays readable, and scanTenant sorts every folder by state', async () => {
    const [live, marked, half] = [await block(1), await block(2), await block(3)];
    const at = new Date('2026-01-02T03:04:05.000Z');
    const c = await markBlockCompacted(store, marked, at);
    expect(c).toEqual({ ...marked, compactedTime: at.toISOString() });
    // A mark a crash interrupted: marker written, meta.json still there.
    await store.write(`t/${half.blockID}/${COMPACTED_META_NAME}`, Buffer.from(JSON.stringify({ ...half, compactedTime: at.toISOString() })));
    // A folder with data and no meta (a write that never finished).
    await store.write('t/00000000-0000-4000-8000-000000000001/data.parquet', new Uint8Array(8));

    expect((await listBlocks(store, 't')).map((m) => m.blockID).sort()).toEqual([live.blockID, half.blockID].sort());
    expect((await store.list(`t/${marked.blockID}/`)).objects).toContain(`t/${marked.blockID}/data.parquet`);
    const scan = await scanTenant(store, 't');
    expect(scan.metas.map((m) => m.blockID)).toEqual([live.blockID]);
    expect(scan.compacted).toEqual([c]);
    expect(scan.halfMarked.map((m) => m.blockID)).toEqual([half.blockID]);
    expect(scan.noMeta).toEqual(['00000000-0000-4000-8000-000000000001']);
    expect(scan.invalid).toEqual([]);
  });

  it('clearBlock deletes every object of the block and nothing else; marking twice is harmless', async () => {
    const [a, b] = [await block(4), await block(5)];
    await markBlockCompacted(store, a);
    await markBlockCompacted(store, a);
    expect(await clearBlock(store, 't', a.blockID)).toBeGreaterThan(3);
    expect((await store.list(`t/${a.blockID}/`)).objects).toEqual([]);
    expect((await listBlocks(store, 't')).map((m) => m.blockID)).toEqual([b.blockID]);
  });

  it('rejects a marker without compactedTime, naming the field', () => {
    expect(() => parseCompactedMeta('{"blockID":"x"}')).toThrow(/compactedTime must be a string/);
    expect(() => parseCompactedMeta('nope')).toThrow(/not JSON/);
  });
});
