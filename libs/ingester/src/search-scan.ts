// What an ingester's search and tag requests read for one tenant: its complete blocks through their search
// columns (as a querier reads backend blocks), then its head and cut blocks trace by trace.
//
// Every trace is evaluated whole, once. A block's columns see only that block's part of a trace, so a trace
// with parts in several places (two complete blocks, or a complete block and a head block: a trace that
// went on receiving spans after a cut) is never ruled out by one block's columns: it is gathered from every
// place that holds it and evaluated as one. Such traces are found without decoding any trace: the head
// blocks index their traces by ID in memory, and the IDs held by several complete blocks come from the
// blocks' trace-ID indexes (worked out once per set of complete blocks).

import { blockTagValues, hexID as hex, searchBlockTraces } from '@stave/block';
import { joinCombined, type TraceLike } from '@stave/model';
import type { SearchRequest, SearchTagsRequest } from '@stave/proto';
import { traceFromParts } from './block-builder';
import type { HeadBlock } from './head-block';
import type { CompleteBlock, TenantInstance } from './instance';
import type { SearchCollector, TraceSink } from './search';
import type { TagsCollector } from './search-tags';

/** The traces of a complete block a request must see (it may skip those its columns rule out). */
type BlockCandidates = (b: CompleteBlock) => AsyncIterable<{ id: Uint8Array; trace: TraceLike }>;

/** A search: complete blocks' candidates from their columns, within the collector's window. */
export function searchTenant(inst: TenantInstance, req: SearchRequest, sink: SearchCollector): Promise<void> {
  const startS = req.startUnixSeconds;
  const endS = req.endUnixSeconds;
  // As the collector's window: a trace must end at or after `start` and start before the end of `end`'s second.
  const window = { startNs: startS > 0n ? startS * 1_000_000_000n : 0n, endNs: endS > 0n ? (endS + 1n) * 1_000_000_000n : 0n };
  return scanTenant(inst, req, sink, (b) => searchBlockTraces(b.reader, { query: req.query, ...window }));
}

/**
 * Tag names or values: a column-backed tag's values without `q` come from a complete block's dictionaries;
 * else the block's traces that may match `q` (all of them without one).
 */
export function searchTagsTenant(inst: TenantInstance, req: SearchTagsRequest, sink: TagsCollector): Promise<void> {
  const tag = sink.unfilteredTag;
  return scanTenant(inst, req, sink, async function* (b) {
    const values = tag ? await blockTagValues(b.reader, tag) : undefined;
    if (values) for (const v of values) sink.addStatic(v);
    else yield* searchBlockTraces(b.reader, { query: req.query });
  });
}

/** The IDs (hex) held by more than one of a tenant's complete blocks, for the blocks it was worked out over. */
const sharedCache = new WeakMap<TenantInstance, { blocks: readonly CompleteBlock[]; shared: Set<string> }>();

async function idsInSeveralBlocks(inst: TenantInstance): Promise<Set<string>> {
  const blocks = [...inst.complete];
  const cached = sharedCache.get(inst);
  if (cached && cached.blocks.length === blocks.length && cached.blocks.every((b, i) => b === blocks[i])) return cached.shared;
  const shared = new Set<string>();
  if (blocks.length > 1) {
    const seen = new Set<string>();
    for (const b of blocks) {
      for await (const page of b.reader.traceIds()) {
        for (const id of page) {
          const key = hex(id);
          if (seen.has(key)) shared.add(key);
          else seen.add(key);
        }
      }
    }
  }
  sharedCache.set(inst, { blocks, shared });
  return shared;
}

/** Feeds `sink` the tenant's traces a request must see, each whole, until the sink is full. */
async function scanTenant(
  inst: TenantInstance,
  req: { startUnixSeconds: bigint; endUnixSeconds: bigint },
  sink: TraceSink,
  candidates: BlockCandidates,
): Promise<void> {
  const startS = Number(req.startUnixSeconds);
  const endS = Number(req.endUnixSeconds);
  const inWindow = (lo: number, hi: number) => !((startS > 0 && hi < startS) || (endS > 0 && lo > endS));
  const blocks = inst.complete.filter((b) => inWindow(Date.parse(b.meta.startTime) / 1000, Date.parse(b.meta.endTime) / 1000));
  const heads: HeadBlock[] = [...(inst.head ? [inst.head] : []), ...inst.completing];
  const inHeads = (key: string) => heads.some((h) => h.traces.has(key));
  const shared = blocks.length > 1 ? await idsInSeveralBlocks(inst) : new Set<string>();

  /** The trace's parts in the complete blocks searched (`known`: one already decoded). */
  const blockParts = async (id: Uint8Array, key: string, known?: { block: CompleteBlock; trace: TraceLike }): Promise<TraceLike[]> => {
    const parts: TraceLike[] = [];
    for (const b of blocks) {
      if (known && b === known.block) parts.push(known.trace);
      else if (id.length === 16 && !b.reader.excludes(id, key)) {
        const t = await b.reader.findTraceByID(id, key);
        if (t) parts.push(t);
      }
    }
    return parts;
  };

  const done = new Set<string>();
  for (const b of blocks) {
    sink.inspectedBlocks++;
    sink.totalBlockBytes += BigInt(b.meta.size);
  }
  for (const b of blocks) {
    for await (const { id, trace } of candidates(b)) {
      if (sink.full) return;
      const key = hex(id);
      // A trace also in a head block is evaluated with the head blocks, below.
      if (done.has(key) || inHeads(key)) continue;
      done.add(key);
      sink.add(shared.has(key) ? joinCombined(await blockParts(id, key, { block: b, trace }))! : trace);
    }
  }
  // Traces in several complete blocks that no block's columns put forward: only the whole can tell.
  for (const key of shared) {
    if (sink.full) return;
    if (done.has(key) || inHeads(key)) continue;
    done.add(key);
    const parts = await blockParts(Buffer.from(key, 'hex'), key);
    if (parts.length > 0) sink.add(joinCombined(parts)!);
  }
  // Head and cut blocks: one trace at a time (its WAL parts from every block holding it, and its parts in
  // complete blocks), so a search that reaches its limit early reads no more of the WAL.
  for (const h of heads) {
    for (const entry of h.traces.values()) {
      if (sink.full) return;
      const key = hex(entry.id);
      if (done.has(key)) continue;
      done.add(key);
      const holders = heads.filter((x) => x.traces.find(entry.id) !== undefined);
      const earlier = await blockParts(entry.id, key);
      // A trace with any part in the window is evaluated whole.
      if (
        earlier.length === 0 &&
        !holders.some((x) => {
          const e = x.traces.find(entry.id)!;
          return inWindow(e.startSeconds, e.endSeconds);
        })
      )
        continue;
      const bufs: Buffer[] = [];
      for (const x of holders) bufs.push(...(await x.read(key)));
      sink.add(
        joinCombined([...earlier, traceFromParts(bufs)])!,
        bufs.reduce((n, buf) => n + buf.length, 0),
      );
    }
  }
}
