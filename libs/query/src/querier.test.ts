import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalStore } from '@stave/backend';
import { encodeMeta, writeBlock, type BlockMeta } from '@stave/block';
import { realisticTraces } from '@stave/block/testing';
import { searchRequest, searchTagsRequest } from '@stave/ingester';
import { QueryMode } from '@stave/proto';
import { StaticRing } from '@stave/ring';
import { Code, codeOf, nopLogger } from '@stave/server';
import { Blocklist } from './blocklist';
import { Querier } from './querier';

let dir: string;
let store: LocalStore;
let meta: BlockMeta;
let querier: Querier;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stave-querier-'));
  store = new LocalStore(dir);
  meta = await writeBlock(store, { tenant: 't', traces: realisticTraces(120, { seed: 9 }), rowGroupSizeBytes: 8 * 1024 });
  // The ingesters are never asked: these are block jobs.
  querier = new Querier({
    ring: new StaticRing({ replicationFactor: 1, heartbeatTimeoutMs: 0 }),
    ingester: () => {
      throw new Error('block jobs ask no ingester');
    },
    // Never polled: a job carries its block's meta.json.
    blocklist: new Blocklist(store, 60_000, nopLogger),
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const job = (startRowGroup: number, rowGroups: number, tenant = 't') =>
  searchRequest({ tenant, query: '{ }', queryMode: QueryMode.BLOCKS, blockMeta: encodeMeta(meta), startRowGroup, rowGroups });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('Querier block jobs over row-group ranges', () => {
  it('finds each trace of the block in exactly one job of a partition, and the jobs add up to its bytes', async () => {
    expect(meta.rowGroups).toBeGreaterThan(4);
    const whole = await querier.search(job(0, 0));
    const found: string[] = [];
    let bytes = 0n;
    for (let s = 0; s < meta.rowGroups; s += 3) {
      const r = await querier.search(job(s, 3));
      found.push(...r.traces.map((t) => hex(t.traceId)));
      bytes += r.metrics!.inspectedBytes;
      expect(r.metrics!.inspectedBlocks).toBe(1);
    }
    expect(found.sort()).toEqual(whole.traces.map((t) => hex(t.traceId)).sort());
    expect(found).toHaveLength(meta.totalObjects);
    expect(bytes).toBe(BigInt(meta.size));
    expect(whole.metrics!.inspectedBytes).toBe(BigInt(meta.size));
  });

  it("refuses a job naming another tenant's block", async () => {
    const err: unknown = await querier.search(job(0, 1, 'other')).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(Code.InvalidArgument);
    expect(String(err)).toContain('of tenant t');
  });

  it('refuses a range outside the block and a job without its meta', async () => {
    expect(codeOf(await querier.search(job(meta.rowGroups, 1)).catch((e: unknown) => e))).toBe(Code.InvalidArgument);
    const bare = searchRequest({ tenant: 't', query: '{ }', queryMode: QueryMode.BLOCKS });
    expect(codeOf(await querier.search(bare).catch((e: unknown) => e))).toBe(Code.InvalidArgument);
  });

  it('collects tag names over a row-group range', async () => {
    const r = await querier.searchTags(
      searchTagsRequest({ tenant: 't', scope: 'resource', queryMode: QueryMode.BLOCKS, blockMeta: encodeMeta(meta), startRowGroup: 0, rowGroups: 1 }),
    );
    expect(r.scopes.find((s) => s.name === 'resource')?.tags).toContain('service.name');
  });
});
