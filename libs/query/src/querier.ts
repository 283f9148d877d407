// The querier answers trace-by-ID jobs: from the ingesters that own the trace (recent data) and from the
// backend blocks whose ID falls in the job's block range (bloom → index → ranged read); and search jobs:
// from every ingester of the ring's read set, or from the row-group range of the one backend block a
// sharded job names: columnar (@stave/block's searchBlock decodes only the traces its columns cannot rule
// out), and tag values of column-backed tags from the block's dictionaries.

import { create } from '@bufbuild/protobuf';
import { SearchCollector, searchRequest, searchTagsRequest, TagsCollector, traceByIDRequest, type IngesterClient, type TraceSink } from '@stave/ingester';
import { joinCombined, type TraceLike } from '@stave/model';
import {
  QueryMode,
  TraceByIDResponseSchema,
  type SearchRequest,
  type SearchResponse,
  type SearchTagsRequest,
  type SearchTagsResponse,
  type TraceByIDRequest,
  type TraceByIDResponse,
  type TracesData,
} from '@stave/proto';
import { RingUnavailableError, tokenFor, type InstanceDesc, type ReadRing, type ReplicationSet } from '@stave/ring';
import { BasicService, Code, ConnectError } from '@stave/server';
import { blockTagValues, checkRowGroupRange, parseMeta, searchBlock, type BlockMeta, type BlockReader, type RowGroupRange } from '@stave/block';

/** What a block job names: its tenant, the block's meta.json and a row-group range. */
type BlockJob = Pick<SearchRequest, 'tenant' | 'blockMeta' | 'startRowGroup' | 'rowGroups'>;
import type { Blocklist } from './blocklist';
import { SearchMerger, TagsMerger } from './search-merge';

export interface QuerierOptions {
  ring: ReadRing;
  ingester: (instance: InstanceDesc) => IngesterClient;
  blocklist: Blocklist;
  /**
   * `querier.query_relevant_ingesters`: ask only the ingesters that own the trace (its replication set);
   * off (Tempo's default), ask every healthy ingester of the ring.
   */
  queryRelevantIngesters?: boolean;
}

export class Querier extends BasicService {
  constructor(private readonly opts: QuerierOptions) {
    super('querier');
  }

  async findTraceByID(req: TraceByIDRequest): Promise<TraceByIDResponse> {
    const parts: TraceLike[] = [];
    let blocksInspected = 0;
    if (req.queryMode !== QueryMode.BLOCKS) parts.push(...(await this.fromIngesters(req)));
    if (req.queryMode !== QueryMode.INGESTERS) {
      const { inRange, readers } = this.opts.blocklist.candidates(req.tenant, req.traceId, {
        blockStart: req.blockStart,
        blockEnd: req.blockEnd,
        startUnixSeconds: Number(req.startUnixSeconds),
        endUnixSeconds: Number(req.endUnixSeconds),
      });
      const found = await Promise.all(readers.map((r) => r.findTraceByID(req.traceId)));
      blocksInspected += inRange;
      for (const t of found) if (t) parts.push(t);
    }
    return create(TraceByIDResponseSchema, {
      trace: joinCombined(parts),
      metrics: { blocksInspected },
    });
  }

  /** A search job: over the ingesters (QUERY_MODE_INGESTERS) or over the job's backend blocks. */
  async search(req: SearchRequest): Promise<SearchResponse> {
    return req.queryMode === QueryMode.INGESTERS ? this.searchIngesters(req) : this.searchBlocks(req);
  }

  private async searchIngesters(req: SearchRequest): Promise<SearchResponse> {
    const set = this.readSet(() => this.opts.ring.getAll());
    const ask = searchRequest({ ...req, queryMode: QueryMode.INGESTERS });
    const results = await Promise.allSettled(set.instances.map((i) => this.opts.ingester(i).search(ask)));
    this.tooManyFailures(results, set);
    const merged = new SearchMerger(req.spansPerSpanSet);
    for (const r of results) if (r.status === 'fulfilled') merged.add(r.value);
    return merged.result(req.limit);
  }

  private async searchBlocks(req: SearchRequest): Promise<SearchResponse> {
    const collector = new SearchCollector(req);
    // Columnar: only the traces the block's search columns cannot rule out are decoded and evaluated.
    const window = {
      startNs: req.startUnixSeconds > 0n ? req.startUnixSeconds * 1_000_000_000n : 0n,
      endNs: req.endUnixSeconds > 0n ? (req.endUnixSeconds + 1n) * 1_000_000_000n : 0n,
    };
    await this.scanRowGroups(req, collector, (r, range) => searchBlock(r, { query: req.query, ...window, ...range }));
    return collector.response();
  }

  /** A tag job: names or values over the ingesters (QUERY_MODE_INGESTERS) or a block job's row groups. */
  async searchTags(req: SearchTagsRequest): Promise<SearchTagsResponse> {
    if (req.queryMode === QueryMode.INGESTERS) {
      const set = this.readSet(() => this.opts.ring.getAll());
      const ask = searchTagsRequest({ ...req, queryMode: QueryMode.INGESTERS });
      const results = await Promise.allSettled(set.instances.map((i) => this.opts.ingester(i).searchTags(ask)));
      this.tooManyFailures(results, set);
      const merged = new TagsMerger();
      for (const r of results) if (r.status === 'fulfilled') merged.add(r.value);
      return merged.result();
    }
    const collector = new TagsCollector(req);
    const tag = collector.unfilteredTag;
    await this.scanRowGroups(req, collector, async function* (r, range) {
      // A column-backed tag's values without q come from the block's dictionaries; else the range's traces
      // that q may match (every trace without one), decided from the columns.
      const values = tag ? await blockTagValues(r, tag, range) : undefined;
      if (values) for (const v of values) collector.addStatic(v);
      else yield* searchBlock(r, { query: req.query, ...range });
    });
    return collector.response();
  }

  /**
   * A sharder's block job: feeds `sink` the traces of row groups [startRowGroup, startRowGroup + rowGroups)
   * of the block whose meta.json the job carries (the frontend's blocklist may know a block this querier
   * has not polled yet), until it is full.
   */
  private async scanRowGroups(req: BlockJob, sink: TraceSink, traces: (r: BlockReader, range: RowGroupRange) => AsyncIterable<TracesData>): Promise<void> {
    if (req.blockMeta.length === 0) throw new ConnectError('block search job without block_meta', Code.InvalidArgument);
    let meta: BlockMeta;
    try {
      meta = parseMeta(req.blockMeta);
    } catch (err) {
      throw new ConnectError(`search job: ${ConnectError.from(err).rawMessage}`, Code.InvalidArgument);
    }
    // Tenant isolation: a job reads only its own tenant's blocks, whatever meta it carries.
    if (meta.tenantID !== req.tenant) {
      throw new ConnectError(`search job for tenant ${req.tenant} names block ${meta.blockID} of tenant ${meta.tenantID}`, Code.InvalidArgument);
    }
    const total = meta.rowGroups;
    const start = req.startRowGroup;
    const count = req.rowGroups > 0 ? Math.min(req.rowGroups, total - start) : total - start;
    checkRowGroupRange(meta, { startRowGroup: start, rowGroups: Math.max(1, count) });
    sink.inspectedBlocks++;
    sink.totalBlockBytes += BigInt(meta.size);
    // The range's share of the block's bytes (the shares of a partition of the row groups add up to the size).
    const share = (rg: number): bigint => (BigInt(meta.size) * BigInt(rg)) / BigInt(Math.max(1, total));
    if (count > 0) sink.inspectedBytes += share(start + count) - share(start);
    for await (const trace of traces(this.opts.blocklist.reader(meta), { startRowGroup: start, rowGroups: Math.max(1, count) })) {
      sink.add(trace);
      if (sink.full) break;
    }
  }

  private readSet(get: () => ReplicationSet): ReplicationSet {
    try {
      return get();
    } catch (err) {
      if (err instanceof RingUnavailableError) throw new ConnectError(`cannot read recent traces: ${err.message}`, Code.Unavailable);
      throw err;
    }
  }

  /** Never a wrong empty: too many ingesters failed to be sure nothing was missed. */
  private tooManyFailures(results: PromiseSettledResult<unknown>[], set: ReplicationSet): void {
    const failures = results.filter((r) => r.status === 'rejected');
    if (failures.length > set.maxErrors) {
      throw new ConnectError(
        `${failures.length} of ${set.instances.length} ingesters failed: ${String((failures[0] as PromiseRejectedResult).reason)}`,
        Code.Unavailable,
      );
    }
  }

  private async fromIngesters(req: TraceByIDRequest): Promise<TraceLike[]> {
    const set = this.readSet(() =>
      this.opts.queryRelevantIngesters ? this.opts.ring.get(tokenFor(req.tenant, req.traceId), 'read') : this.opts.ring.getAll(),
    );
    const ask = traceByIDRequest({ tenant: req.tenant, traceId: req.traceId, queryMode: QueryMode.INGESTERS });
    const results = await Promise.allSettled(set.instances.map((i) => this.opts.ingester(i).findTraceByID(ask)));
    this.tooManyFailures(results, set);
    const out: TraceLike[] = [];
    for (const r of results) if (r.status === 'fulfilled' && r.value.trace) out.push(r.value.trace);
    return out;
  }
}
