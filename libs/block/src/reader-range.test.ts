import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalStore } from '@stave/backend';
import { Code, codeOf } from '@stave/core';
import fc from 'fast-check';
import { hexID } from './meta';
import { openBlock } from './reader';
import { tracesArb } from './testing/arbitraries';
import { realisticTraces } from './testing/realistic-traces';
import { CountingStore } from './testing/stores';
import { writeBlock } from './writer';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-block-range-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function ids(it: AsyncIterable<{ id: Uint8Array }>): Promise<string[]> {
  const out: string[] = [];
  for await (const t of it) out.push(hexID(t.id));
  return out;
}

describe('BlockReader.iterateTraces over a row-group range', () => {
  it('yields each trace exactly once over any cut of the row groups into ranges (property)', async () => {
    await fc.assert(
      fc.asyncProperty(tracesArb(10), fc.integer({ min: 1, max: 2048 }), fc.integer({ min: 1, max: 4 }), async (traces, rowGroup, step) => {
        const sub = await mkdtemp(path.join(dir, 'p-'));
        try {
          const s = new LocalStore(sub);
          const meta = await writeBlock(s, { tenant: 'range', traces, rowGroupSizeBytes: rowGroup, indexPageSizeBytes: 40 });
          const reader = openBlock(s, meta);
          const seen: string[] = [];
          for (let start = 0; start < meta.rowGroups; start += step) seen.push(...(await ids(reader.iterateTraces({ startRowGroup: start, rowGroups: step }))));
          expect(seen).toEqual(traces.map((t) => hexID(t.id)));
        } finally {
          await rm(sub, { recursive: true, force: true });
        }
      }),
      { numRuns: 25 },
    );
  });

  it('reads only the index pages and trace pages of its row groups', async () => {
    const store = new CountingStore(new LocalStore(dir));
    const traces = realisticTraces(400, { seed: 3 });
    const meta = await writeBlock(store, { tenant: 't', traces, rowGroupSizeBytes: 16 * 1024, indexPageSizeBytes: 512, tracePageSizeBytes: 4096 });
    expect(meta.rowGroups).toBeGreaterThan(8);
    const reader = openBlock(store, meta);
    store.reset();
    await ids(reader.iterateTraces());
    const whole = store.reads;
    store.reset();
    const part = await ids(reader.iterateTraces({ startRowGroup: Math.floor(meta.rowGroups / 2), rowGroups: 1 }));
    expect(part.length).toBeGreaterThan(0);
    expect(store.reads).toBeLessThan(whole / 4);
  });

  it('rejects a range outside the block, naming it', async () => {
    const store = new LocalStore(dir);
    const meta = await writeBlock(store, { tenant: 't', traces: realisticTraces(5, { seed: 4 }) });
    const reader = openBlock(store, meta);
    const err: unknown = await ids(reader.iterateTraces({ startRowGroup: meta.rowGroups, rowGroups: 1 })).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(Code.InvalidArgument);
    expect(String(err)).toContain(`has ${meta.rowGroups} row groups`);
  });
});
