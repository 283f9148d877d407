// `GET /api/search` in Tempo's shape. A search is sharded into one job over the ingesters (recent data)
// and `blockShards` jobs over ranges of the block ID space (the querier scans the tenant's blocks in its
// range that overlap the window), queued for the queriers; answers are merged as they come (a trace found
// by several jobs is one result), and once `limit` traces are found the outstanding jobs are withdrawn.
// Results are newest first by start time. Without `start`/`end` every block is searched (Tempo searches
// only the ingesters then): Stave prefers a complete answer.

import { setMaxListeners } from 'node:events';
import type { ServerResponse } from 'node:http';
import { compileSearch, parseTagName, searchRequest, searchTagsRequest, TAG_SCOPES } from '@stave/ingester';
import { keyValueJson } from '@stave/model';
import { QueryMode, type KeyValue, type SearchMetrics, type SearchResponse, type SearchTagsResponse, type TraceSearchMetadata } from '@stave/proto';
import { Code, ConnectError } from '@stave/server';
import type { JobQueue } from './frontend';
import { SearchMerger, TagsMerger } from './search-merge';
import { parseSearchParams, parseUnixSeconds32, type SearchLimits, type SearchParams } from './search-params';

export interface SearchFrontendOptions extends SearchLimits {
  /** Deadline of one search, queueing included (`querier.search.query_timeout`). */
  timeoutMs: number;
  /** Block-range jobs per search and tenant (default SEARCH_BLOCK_SHARDS). */
  blockShards?: number;
}

/**
 * Block-range jobs per search and tenant: enough to spread a search over a few queriers; jobs over ranges
 * with no blocks cost one blocklist lookup. (Sizing jobs by `target_bytes_per_job` lands with the
 * columnar engine.)
 */
export const SEARCH_BLOCK_SHARDS = 8;

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
}

/** Tempo's `metrics` object of search and tag answers. */
function metricsJson(m: SearchMetrics | undefined, jobs: JobCounts): Record<string, unknown> {
  return {
    inspectedTraces: m?.inspectedTraces ?? 0,
    inspectedBytes: String(m?.inspectedBytes ?? 0n),
    inspectedBlocks: m?.inspectedBlocks ?? 0,
    totalBlocks: m?.inspectedBlocks ?? 0,
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

export class SearchFrontend {
  constructor(
    private readonly queue: JobQueue,
    private readonly opts: SearchFrontendOptions,
    private readonly ranges: ReadonlyArray<readonly [string, string]>,
  ) {}

  /** Parses and validates the request (400 with Tempo's messages), then searches. */
  async serve(tenants: readonly string[], url: URL, res: ServerResponse): Promise<void> {
    const params = parseSearchParams(url, this.opts);
    try {
      compileSearch(params.query);
    } catch (err) {
      const e = ConnectError.from(err);
      throw new ConnectError(`invalid TraceQL query: ${e.rawMessage}`, e.code);
    }
    const { response, totalJobs, completedJobs } = await this.search(tenants, params);
    const body = Buffer.from(searchResponseJson(response, { total: totalJobs, completed: completedJobs }));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  }

  /** Runs the jobs of one search and merges them; stops once `limit` distinct traces are found. */
  async search(tenants: readonly string[], p: SearchParams): Promise<{ response: SearchResponse; totalJobs: number; completedJobs: number }> {
    const base = {
      query: p.query,
      limit: p.limit,
      spansPerSpanSet: p.spss,
      startUnixSeconds: BigInt(p.start),
      endUnixSeconds: BigInt(p.end),
      minDurationMs: p.minDurationMs,
      maxDurationMs: p.maxDurationMs,
    };
    const jobs: Array<[string, ReturnType<typeof searchRequest>]> = [];
    for (const tenant of tenants) {
      jobs.push([tenant, searchRequest({ ...base, tenant, queryMode: QueryMode.INGESTERS })]);
      for (const [blockStart, blockEnd] of this.ranges)
        jobs.push([tenant, searchRequest({ ...base, tenant, queryMode: QueryMode.BLOCKS, blockStart, blockEnd })]);
    }
    const merged = new SearchMerger(p.spss);
    const ac = new AbortController();
    setMaxListeners(0, ac.signal);
    const timeout = setTimeout(() => ac.abort(this.deadlineError()), this.opts.timeoutMs);
    const enough = new ConnectError('enough traces found', Code.Canceled);
    try {
      await new Promise<void>((resolve, reject) => {
        let left = jobs.length;
        for (const [tenant, req] of jobs) {
          this.queue.submit(tenant, { case: 'search', value: req }, ac.signal).then(
            (a) => {
              if (a.case !== 'search') return reject(new ConnectError(`a querier answered a search job with ${a.case}`, Code.Internal));
              merged.add(a.value);
              left--;
              if (left === 0) resolve();
              else if (merged.size >= p.limit) {
                // Enough: withdraw the jobs still queued or running.
                ac.abort(enough);
                resolve();
              }
            },
            (err: unknown) => {
              if (ac.signal.aborted && ac.signal.reason === enough) return;
              reject(err);
            },
          );
        }
      });
    } catch (err) {
      ac.abort(err);
      throw err;
    } finally {
      clearTimeout(timeout);
    }
    return { response: merged.result(p.limit), totalJobs: jobs.length, completedJobs: merged.completedJobs };
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
    const jobs: Array<[string, ReturnType<typeof searchTagsRequest>]> = [];
    for (const tenant of tenants) {
      jobs.push([tenant, searchTagsRequest({ ...base, tenant, queryMode: QueryMode.INGESTERS })]);
      for (const [blockStart, blockEnd] of this.ranges)
        jobs.push([tenant, searchTagsRequest({ ...base, tenant, queryMode: QueryMode.BLOCKS, blockStart, blockEnd })]);
    }
    const merged = new TagsMerger();
    const ac = new AbortController();
    setMaxListeners(0, ac.signal);
    const timeout = setTimeout(() => ac.abort(this.deadlineError()), this.opts.timeoutMs);
    try {
      await Promise.all(
        jobs.map(async ([tenant, req]) => {
          const a = await this.queue.submit(tenant, { case: 'searchTags', value: req }, ac.signal);
          if (a.case !== 'searchTags') throw new ConnectError(`a querier answered a tag job with ${a.case}`, Code.Internal);
          merged.add(a.value);
        }),
      );
    } catch (err) {
      ac.abort(err);
      throw err;
    } finally {
      clearTimeout(timeout);
    }
    const body = Buffer.from(tagsResponseJson(merged.result(), { total: jobs.length, completed: merged.completedJobs }, kind, version));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  }

  private deadlineError(): ConnectError {
    if (this.queue.connectedWorkers() === 0)
      return new ConnectError(`no querier connected to the query-frontend within ${this.opts.timeoutMs} ms`, Code.Unavailable);
    return new ConnectError(`search did not finish within ${this.opts.timeoutMs} ms (querier.search.query_timeout)`, Code.DeadlineExceeded);
  }
}
