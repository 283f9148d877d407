// Block metas for the sharder's tests: only what the sharder reads is meaningful.

import type { BlockMeta } from '@stave/block';

/** A meta.json for block `name` (its ID is `name` padded into a UUID) over [start, end]. */
export function testBlockMeta(name: string, o: { start?: string; end: string; size: number; rowGroups: number; tenant?: string }): BlockMeta {
  const hex = Buffer.from(name).toString('hex').padEnd(32, '0').slice(0, 32);
  return {
    format: 'vStave1',
    blockID: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    tenantID: o.tenant ?? 't',
    startTime: o.start ?? new Date(Date.parse(o.end) - 3_600_000).toISOString(),
    endTime: o.end,
    totalObjects: o.rowGroups,
    totalSpans: o.rowGroups,
    size: o.size,
    compactionLevel: 0,
    encoding: 'none',
    dataEncoding: 'vStave1',
    bloomShards: 1,
    minID: '0'.repeat(32),
    maxID: 'f'.repeat(32),
    footerSize: 0,
    rowGroups: o.rowGroups,
    indexSize: 0,
    indexPageFirstIDs: [],
    indexPageOffsets: [0],
    createdAt: o.end,
  };
}

/** Waits until `done()` holds, letting pending promise callbacks and immediates run (bounded). */
export async function settle(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (done()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** The name testBlockMeta made a block ID from. */
export function testBlockName(blockID: string): string {
  return Buffer.from(blockID.replace(/-/g, '').replace(/(00)+$/, ''), 'hex').toString();
}
