// `GET /api/search` in Tempo's shape. The sharder (search-sharder.ts) cuts a search into ingester jobs
// (the window's recent part, `query_ingesters_until`) and block jobs of about `target_bytes_per_job` over
// the row groups of the tenant's blocks (the window's part older than `query_backend_after`), newest
// first. At most `concurrent_jobs` of them are in flight at once, on the request queue for the queriers;
// answers are merged as they come (a trace found by several jobs is one result), and once `limit` traces
// are found no further job is sent and those in flight are withdrawn. Results are newest first by start
// time. Without `start`/`end` the ingesters and every block are searched (Tempo searches only the
// ingesters then): Stave prefers a complete answer.
//
// The tag endpoints are cut the same way (one ingester job, no time slices, as Tempo's tag sharder), and
// every job runs: names and values are a union.

import { setMaxListeners } from 'node:events';
import { create } from '@bufbuild/protobuf';
import type { ServerResponse } from 'node:http';
import { encodeMeta, type BlockMeta } from '@stave/block';
import { compileSearch, parseTagName, searchRequest, searchTagsRequest, TAG_SCOPES } from '@stave/ingester';
import { keyValueJson } from '@stave/model';
import {
  QueryMode,
  SearchMetricsSchema,
  type KeyValue,
  type SearchMetrics,
  type SearchResponse,
  type SearchTagsResponse,
  type TraceSearchMetadata,
} from '@stave/proto';
import { Code, ConnectError } from '@stave/server';
import type { JobQueue } from './frontend';
import { SearchMerger, TagsMerger } from './search-merge';
import { parseSearchParams, parseUnixSeconds32, type SearchLimits, type SearchParams } from './search-params';
import type { JobAnswer, JobRequest } from './queue';
import { planSearch, SEARCH_SHARD_DEFAULTS, type IngesterShard, type SearchShardOptions } from './search-sharder';

export interface SearchFrontendOptions extends SearchLimits {
  /** Deadline of one search, queueing included (`querier.search.query_timeout`). */
  timeoutMs: number;
  /** The tenant's blocks as last polled (the frontend's blocklist). */
  blocks: (tenant: string) => readonly BlockMeta[];
  /** How searches are cut into jobs (SEARCH_SHARD_DEFAULTS for what is absent). */
  sharding?: Partial<SearchShardOptions>;
  /** `query_frontend.search.concurrent_jobs`: jobs of one search in flight at once (default 1000). */
  concurrentJobs?: number;
  now?: () => number;
}

/** Tempo's default `concurrent_jobs`. */
export const DEFAULT_CONCURRENT_JOBS = 1000;

/** Tempo prints trace IDs in search results as hex without leading zeros. */
export function tempoTraceIDString(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex').replace(/^0+/, '');
}

const attributesJson = (attrs: readonly KeyValue[]): unknown[] => attrs.map(keyValueJson);

/** One trace of the answer, as Tempo's TraceSearchMetadata JSON (proto3 JSON names, 64-bit as strings). */
function traceJson(t: TraceSearchMetadata): unknown {
  const spanSets = t.spanSets.map((ss) => {
    const out: Record<string, unknown> = {
      spans: ss.spans.map((s) => {
        const span: Record<string, unknown> = {
          spanID: Buffer.from(s.spanId).toString('hex'),
          startTimeUnixNano: String(s.startTimeUnixNano),
          durationNanos: String(s.durationNanos),
        };
        if (s.name !== '') span.name = s.name;
        if (s.attributes.length > 0) span.attributes = attributesJson(s.attributes);
        return span;
      }),
      matched: ss.matched,
    };
    if (ss.attributes.length > 0) out.attributes = attributesJson(ss.attributes);
    return out;
  });
  const out: Record<string, unknown> = { traceID: tempoTraceIDString(t.traceId) };
  if (t.rootServiceName !== '') out.rootServiceName = t.rootServiceName;
  if (t.rootTraceName !== '') out.rootTraceName = t.rootTraceName;
  out.startTimeUnixNano = String(t.startTimeUnixNano);
  // Tempo's durationMs is a whole number of milliseconds, and omitted when 0 (proto3 JSON).
  const ms = Number(t.durationNanos / 1_000_000n);
  if (ms > 0) out.durationMs = ms;
  // Tempo fills the deprecated `spanSet` with the first spanset, for older clients.
  if (spanSets.length > 0) out.spanSet = spanSets[0];
  out.spanSets = spanSets;
  return out;
}

interface JobCounts {
  total: number;
  completed: number;
  /** Blocks the search's window selected (Tempo's totalBlocks); the inspected blocks when absent. */
  totalBlocks?: number;
}

/** Tempo's `metrics` object of search and tag answers. */
function metricsJson(m: SearchMetrics | undefined, jobs: JobCounts): Record<string, unknown> {
  return {
    inspectedTraces: m?.inspectedTraces ?? 0,
    inspectedBytes: String(m?.inspectedBytes ?? 0n),
    inspectedBlocks: m?.inspectedBlocks ?? 0,
    totalBlocks: jobs.totalBlocks ?? m?.inspectedBlocks ?? 0,
    completedJobs: jobs.completed,
    totalJobs: jobs.total,
    totalBlockBytes: String(m?.totalBlockBytes ?? 0n),
  };
}

/** The response body: `{"traces":[...],"metrics":{...}}`. */
export function searchResponseJson(res: SearchResponse, jobs: JobCounts): string {
  return JSON.stringify({ traces: res.traces.map(traceJson), metrics: metricsJson(res.metrics, jobs) });
}

/**
 * The tag endpoints' bodies: v1 tags `{"tagNames":[...]}` (attribute names of every scope but intrinsics),
 * v2 tags `{"scopes":[{"name","tags"}]}`, v1 values `{"tagValues":["..."]}` (string values only), v2 values
 * `{"tagValues":[{"type","value"}]}`; each with `metrics`.
 */
export function tagsResponseJson(res: SearchTagsResponse, jobs: JobCounts, kind: 'names' | 'values', version: 1 | 2): string {
  const metrics = metricsJson(res.metrics, jobs);
  if (kind === 'values') {
    const tagValues =
      version === 2 ? res.values.map((v) => ({ type: v.type, value: v.value })) : res.values.filter((v) => v.type === 'string').map((v) => v.value);
    return JSON.stringify({ tagValues, metrics });
  }
  if (version === 2) return JSON.stringify({ scopes: res.scopes.map((s) => ({ name: s.name, tags: s.tags })), metrics });
  const names = new Set(res.scopes.filter((s) => s.name !== 'intrinsic').flatMap((s) => s.tags));
  return JSON.stringify({ tagNames: [...names].sort(), metrics });
}

/** One job of a search or tag request, built when it is sent; `blockKey` (tenant/blockID) for block jobs. */
interface Job {
  tenant: string;
  request: () => JobRequest;
  blockKey?: string;
  endMs?: number;
}

interface Plan {
  jobs: Job[];
  /** Blocks the window selected, and their bytes. */
  totalBlocks: number;
  totalBlockBytes: bigint;
}

/** Builds the requests of one kind of job (search or tags). */
interface JobMaker {
  ingesters(tenant: string, window: IngesterShard): JobRequest;
  block(tenant: string, range: { blockMeta: Uint8Array; startRowGroup: number; rowGroups: number }): JobRequest;
}

export class SearchFrontend {
  private readonly sharding: SearchShardOptions;

  constructor(
    private readonly queue: JobQueue,
    private readonly opts: SearchFrontendOptions,
  ) {
    this.sharding = { ...SEARCH_SHARD_DEFAULTS, ...opts.sharding };
    // Tempo's check: otherwise a window's middle part would be searched by neither.
    if (this.sharding.queryIngestersUntilMs < this.sharding.queryBackendAfterMs) {
      throw new ConnectError('query backend after should be less than or equal to query ingester until', Code.InvalidArgument);
    }
  }

  /** Parses and validates the request (400 with Tempo's messages), then searches. */
  async serve(tenants: readonly string[], url: URL, res: ServerResponse): Promise<void> {
    const params = parseSearchParams(url, this.opts);
    try {
      compileSearch(params.query);
    } catch (err) {
      const e = ConnectError.from(err);
      throw new ConnectError(`invalid TraceQL query: ${e.rawMessage}`, e.code);
    }
    const { response, totalJobs, completedJobs, totalBlocks } = await this.search(tenants, params);
    const body = Buffer.from(searchResponseJson(response, { total: totalJobs, completed: completedJobs, totalBlocks }));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  }

  /**
   * The jobs of one search or tag request, in the order they are sent: every tenant's ingester jobs, then
   * block jobs newest first. Requests are built as they are sent (a search that stops at `limit` never
   * builds most of them), with one meta.json per block, shared by its jobs.
   */
  private plan(tenants: readonly string[], window: { start: number; end: number }, ingesterShards: number, make: JobMaker): Plan {
    const now = (this.opts.now ?? Date.now)();
    const ingesters: Job[] = [];
    const blocks: Job[] = [];
    let totalBlocks = 0;
    let totalBlockBytes = 0n;
    for (const tenant of tenants) {
      const plan = planSearch(window, () => this.opts.blocks(tenant), now, { ...this.sharding, ingesterShards });
      totalBlocks += plan.totalBlocks;
      totalBlockBytes += plan.totalBlockBytes;
      for (const w of plan.ingesters) ingesters.push({ tenant, request: () => make.ingesters(tenant, w) });
      let encoded: { blockID: string; bytes: Uint8Array } | undefined;
      const metaOf = (m: BlockMeta): Uint8Array => {
        if (encoded?.blockID !== m.blockID) encoded = { blockID: m.blockID, bytes: encodeMeta(m) };
        return encoded.bytes;
      };
      for (const shard of plan.blocks) {
        const { meta, startRowGroup, rowGroups } = shard;
        const request = () => make.block(tenant, { blockMeta: metaOf(meta), startRowGroup, rowGroups });
        blocks.push({ tenant, request, blockKey: `${tenant}/${meta.blockID}`, endMs: Date.parse(meta.endTime) });
      }
    }
    // Several tenants: their blocks interleave newest first (stable: a block's jobs stay in row-group order).
    if (tenants.length > 1) blocks.sort((x, y) => y.endMs! - x.endMs!);
    return { jobs: [...ingesters, ...blocks], totalBlocks, totalBlockBytes };
  }

  /**
   * Runs `jobs` in order, at most `concurrent_jobs` in flight, under the search deadline. `take` gets each
   * answer and says whether that is enough: then no further job is sent and those queued or running are
   * withdrawn. Resolves with the blocks (tenant/blockID) of which a job was answered; fails with the first
   * job's error.
   */
  private async run(jobs: readonly Job[], take: (a: JobAnswer) => boolean): Promise<Set<string>> {
    const inspected = new Set<string>();
    const ac = new AbortController();
    setMaxListeners(0, ac.signal);
    const timeout = setTimeout(() => ac.abort(this.deadlineError()), this.opts.timeoutMs);
    const concurrency = Math.max(1, this.opts.concurrentJobs ?? DEFAULT_CONCURRENT_JOBS);
    try {
      await new Promise<void>((resolve, reject) => {
        let next = 0;
        let running = 0;
        let done = false;
        const finish = (err?: unknown) => {
          if (done) return;
          done = true;
          if (err === undefined) resolve();
          else reject(err);
        };
        const launch = (): void => {
          while (!done && running < concurrency && next < jobs.length) {
            const job = jobs[next++]!;
            running++;
            this.queue.submit(job.tenant, job.request(), ac.signal).then(
              (a) => {
                running--;
                if (done) return;
                let enough: boolean;
                try {
                  enough = take(a);
                } catch (err) {
                  return finish(err);
                }
                if (job.blockKey !== undefined) inspected.add(job.blockKey);
                if (enough && (running > 0 || next < jobs.length)) {
                  // Enough: withdraw the jobs still queued or running, and send no more.
                  finish();
                  ac.abort(new ConnectError('enough traces found', Code.Canceled));
                } else if (running === 0 && next >= jobs.length) finish();
                else launch();
              },
              (err: unknown) => {
                running--;
                finish(err);
              },
            );
          }
        };
        if (jobs.length === 0) finish();
        else launch();
      });
    } catch (err) {
      ac.abort(err);
      throw err;
    } finally {
      clearTimeout(timeout);
    }
    return inspected;
  }

  /**
   * Runs the jobs of one search and merges them; once `limit` distinct traces are found, sends no more
   * and withdraws those in flight.
   */
  async search(
    tenants: readonly string[],
    p: SearchParams,
  ): Promise<{ response: SearchResponse; totalJobs: number; completedJobs: number; totalBlocks: number }> {
    const base = {
      query: p.query,
      limit: p.limit,
      spansPerSpanSet: p.spss,
      startUnixSeconds: BigInt(p.start),
      endUnixSeconds: BigInt(p.end),
      minDurationMs: p.minDurationMs,
      maxDurationMs: p.maxDurationMs,
    };
    const { jobs, totalBlocks, totalBlockBytes } = this.plan(tenants, p, this.sharding.ingesterShards, {
      ingesters: (tenant, w) => ({
        case: 'search',
        value: searchRequest({ ...base, tenant, queryMode: QueryMode.INGESTERS, startUnixSeconds: BigInt(w.start), endUnixSeconds: BigInt(w.end) }),
      }),
      block: (tenant, range) => ({ case: 'search', value: searchRequest({ ...base, tenant, queryMode: QueryMode.BLOCKS, ...range }) }),
    });
    const merged = new SearchMerger(p.spss);
    const inspected = await this.run(jobs, (a) => {
      if (a.case !== 'search') throw new ConnectError(`a querier answered a search job with ${a.case}`, Code.Internal);
      merged.add(a.value);
      return merged.size >= p.limit;
    });
    const response = merged.result(p.limit);
    // A block cut into several jobs is one inspected block; the window's blocks are the sharder's.
    response.metrics = create(SearchMetricsSchema, { ...merged.metrics, inspectedBlocks: inspected.size, totalBlockBytes });
    return { response, totalJobs: jobs.length, completedJobs: merged.completedJobs, totalBlocks };
  }

  /** `/api/search/tags` (v1) and `/api/v2/search/tags`: `scope`, `q`, `start`, `end`. */
  async serveTags(tenants: readonly string[], url: URL, res: ServerResponse, version: 1 | 2): Promise<void> {
    const scope = url.searchParams.get('scope') ?? '';
    if (!(TAG_SCOPES as readonly string[]).includes(scope)) throw new ConnectError(`invalid scope: ${scope}`, Code.InvalidArgument);
    await this.runTags(tenants, url, res, { scope, tagName: '' }, 'names', version);
  }

  /** `/api/search/tag/<name>/values` (v1: an attribute key) and `/api/v2/search/tag/<name>/values` (TraceQL). */
  async serveTagValues(tenants: readonly string[], url: URL, res: ServerResponse, name: string, version: 1 | 2): Promise<void> {
    if (name === '') throw new ConnectError('please provide a non-empty tagName', Code.InvalidArgument);
    // v1 names are attribute keys of any scope: the unscoped TraceQL attribute.
    const tagName = version === 2 ? name : `.${/^[\w.-]+$/.test(name) ? name : JSON.stringify(name)}`;
    parseTagName(tagName);
    await this.runTags(tenants, url, res, { scope: '', tagName }, 'values', version);
  }

  private async runTags(
    tenants: readonly string[],
    url: URL,
    res: ServerResponse,
    what: { scope: string; tagName: string },
    kind: 'names' | 'values',
    version: 1 | 2,
  ): Promise<void> {
    const p = url.searchParams;
    const start = parseUnixSeconds32('start', p.get('start'));
    const end = parseUnixSeconds32('end', p.get('end'));
    const query = p.get('q') ?? '';
    if (query.trim() !== '') {
      try {
        compileSearch(query);
      } catch (err) {
        const e = ConnectError.from(err);
        throw new ConnectError(`invalid TraceQL query: ${e.rawMessage}`, e.code);
      }
    }
    const base = { ...what, query, startUnixSeconds: BigInt(start), endUnixSeconds: BigInt(end) };
    // As Tempo's tag sharder: one ingester job (no time slices), block jobs as a search's, all run.
    const { jobs, totalBlocks, totalBlockBytes } = this.plan(tenants, { start, end }, 1, {
      ingesters: (tenant, w) => ({
        case: 'searchTags',
        value: searchTagsRequest({ ...base, tenant, queryMode: QueryMode.INGESTERS, startUnixSeconds: BigInt(w.start), endUnixSeconds: BigInt(w.end) }),
      }),
      block: (tenant, range) => ({ case: 'searchTags', value: searchTagsRequest({ ...base, tenant, queryMode: QueryMode.BLOCKS, ...range }) }),
    });
    const merged = new TagsMerger();
    const inspected = await this.run(jobs, (a) => {
      if (a.case !== 'searchTags') throw new ConnectError(`a querier answered a tag job with ${a.case}`, Code.Internal);
      merged.add(a.value);
      return false;
    });
    const result = merged.result();
    result.metrics = create(SearchMetricsSchema, { ...merged.metrics, inspectedBlocks: inspected.size, totalBlockBytes });
    const body = Buffer.from(tagsResponseJson(result, { total: jobs.length, completed: merged.completedJobs, totalBlocks }, kind, version));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  }

  private deadlineError(): ConnectError {
    if (this.queue.connectedWorkers() === 0)
      return new ConnectError(`no querier connected to the query-frontend within ${this.opts.timeoutMs} ms`, Code.Unavailable);
    return new ConnectError(`search did not finish within ${this.opts.timeoutMs} ms (querier.search.query_timeout)`, Code.DeadlineExceeded);
  }
}
