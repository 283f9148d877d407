// The query-frontend's trace-by-ID API, in Tempo's shape: `GET /api/traces/<id>` (v1, `{"batches":[...]}`)
// and `GET /api/v2/traces/<id>` (`{"trace":{...}}`), JSON or protobuf by `Accept`. A lookup is sharded
// into one ingester job and block-range jobs over the block ID space (`query_frontend.trace_by_id
// .query_shards`), queued on the request queue for the queriers that pull from it, each hedged after
// `hedge_requests_at` (up to `hedge_requests_up_to` copies), and the partial traces are combined with
// duplicate spans dropped. The whole lookup has one deadline (`querier.trace_by_id.query_timeout`).
//
// When the backend cannot be read (a block job fails with a backend error) but the ingesters answered,
// the lookup answers 200 with what was found, marked partial (v2: `"status":"PARTIAL"` and a message, as
// Tempo marks a partial trace; v1 and v2: a `stave-partial` header with the reason): whether a block that
// could not be read held more of the trace is not knowable. With nothing found at all it answers the
// backend's error (5xx), never a 404 (docs/reliability.md, "Object store down").

import { setMaxListeners } from 'node:events';
import { toBinary } from '@bufbuild/protobuf';
import { joinCombined, parseTraceID, tempoTraceByIDV2Json, tempoTraceByIDV2Proto, tempoTraceV1Json } from '@stave/model';
import { QueryMode, TraceSchema, type Trace, type TraceByIDRequest, type TraceByIDResponse } from '@stave/proto';
import { traceByIDRequest } from '@stave/ingester';
import { BasicService, Code, ConnectError, httpStatusOf, publicErrorMessage, resolveTenant, validateTenantID, type HttpServer } from '@stave/server';
import { Counter, type Registry } from 'prom-client';
import type { JobAnswer, JobRequest } from './queue';
import { SearchFrontend, type SearchFrontendOptions } from './search-frontend';

/** Where the frontend sends its jobs: the request queue, pulled by querier workers. */
export interface JobQueue {
  submit(tenant: string, request: JobRequest, signal?: AbortSignal): Promise<JobAnswer>;
  connectedWorkers(): number;
}

export interface FrontendOptions {
  http: HttpServer;
  apiPrefix: string;
  multitenancy: boolean;
  /** `query_frontend.multi_tenant_queries_enabled`: an org ID `a|b` reads every tenant listed. */
  multiTenantQueries: boolean;
  queue: JobQueue;
  queryShards: number;
  /** Deadline of one lookup, queueing included. */
  timeoutMs: number;
  /** Hedge a job not answered after this long (0: never), up to `hedgeUpTo` copies in all. */
  hedgeAtMs: number;
  hedgeUpTo: number;
  /** `/api/search`; absent: not served. */
  search?: SearchFrontendOptions;
  registry?: Registry;
}

/** Splits the 128-bit block ID space into `n` contiguous ranges, as UUID strings. */
export function blockRanges(n: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const space = 2n ** 128n;
  const uuid = (v: bigint): string => {
    const h = v.toString(16).padStart(32, '0');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  for (let i = 0n; i < BigInt(n); i++) {
    const lo = (space * i) / BigInt(n);
    const hi = (space * (i + 1n)) / BigInt(n) - 1n;
    out.push([uuid(lo), uuid(hi)]);
  }
  return out;
}

function parseUnixSeconds(name: string, v: string | null): bigint {
  if (v === null || v === '') return 0n;
  if (!/^\d+$/.test(v)) throw new ConnectError(`invalid ${name}: "${v}" is not a unix timestamp in seconds`, Code.InvalidArgument);
  return BigInt(v);
}

/** The tenants an org ID names: `a|b` with multi-tenant queries on (deduplicated, each validated). */
export function queryTenants(orgID: string | undefined, multitenancy: boolean, multiTenantQueries: boolean): string[] {
  if (!multitenancy || !multiTenantQueries || orgID === undefined || !orgID.includes('|')) return [resolveTenant(orgID, multitenancy)];
  const tenants = [...new Set(orgID.split('|'))];
  for (const t of tenants) validateTenantID(t);
  return tenants;
}

/** A lookup's answer: the combined trace, and why it may be short when a backend part failed. */
export interface TraceLookup {
  trace?: Trace;
  /** Set when block jobs failed and the answer holds only what the other jobs found. */
  partial?: string;
}

/** Codes of a block job that failed reading the backend (not the lookup's deadline, overload or a bad request). */
const BACKEND_FAILURE = new Set([Code.Unavailable, Code.Internal, Code.Unknown, Code.DataLoss]);

/** The `stave-partial` header value: printable ASCII, at most 300 characters. */
function headerSafe(reason: string): string {
  const s = reason.replace(/[^\x20-\x7e]/g, '?');
  return s.length > 300 ? `${s.slice(0, 299)}~` : s;
}

export class QueryFrontend extends BasicService {
  private readonly ranges: Array<[string, string]>;
  private readonly hedged: Counter | undefined;

  constructor(private readonly opts: FrontendOptions) {
    super('query-frontend');
    this.ranges = blockRanges(Math.max(1, opts.queryShards - 1));
    if (opts.registry) {
      this.hedged = new Counter({
        name: 'stave_query_frontend_hedged_jobs_total',
        help: 'Job copies sent because the first was not answered within query_frontend.trace_by_id.hedge_requests_at.',
        registers: [opts.registry],
      });
    }
    const api = opts.apiPrefix.replace(/\/$/, '');
    const r = opts.http.router;
    r.handle('GET', `${api}/api/traces/:traceID`, (req, res, params, url) => this.serve(req.headers, res, params.traceID!, url, 1));
    r.handle('GET', `${api}/api/v2/traces/:traceID`, (req, res, params, url) => this.serve(req.headers, res, params.traceID!, url, 2));
    if (opts.search) {
      const search = new SearchFrontend(opts.queue, opts.search);
      r.handle('GET', `${api}/api/search`, (req, res, _params, url) => search.serve(this.tenantsOf(req.headers), url, res));
      r.handle('GET', `${api}/api/search/tags`, (req, res, _params, url) => search.serveTags(this.tenantsOf(req.headers), url, res, 1));
      r.handle('GET', `${api}/api/v2/search/tags`, (req, res, _params, url) => search.serveTags(this.tenantsOf(req.headers), url, res, 2));
      r.handle('GET', `${api}/api/search/tag/:tagName/values`, (req, res, params, url) =>
        search.serveTagValues(this.tenantsOf(req.headers), url, res, params.tagName!, 1),
      );
      r.handle('GET', `${api}/api/v2/search/tag/:tagName/values`, (req, res, params, url) =>
        search.serveTagValues(this.tenantsOf(req.headers), url, res, params.tagName!, 2),
      );
    }
  }

  /** One lookup across `tenants`, sharded and queued; undefined when no part of the trace was found. */
  async findTraceByID(tenants: readonly string[], id: Uint8Array, start: bigint, end: bigint): Promise<Trace | undefined> {
    return (await this.lookup(tenants, id, start, end)).trace;
  }

  /**
   * One lookup across `tenants`. A block job that fails reading the backend does not fail the lookup when
   * something was found elsewhere: the answer is then marked partial. Any other failure decides the answer.
   */
  async lookup(tenants: readonly string[], id: Uint8Array, start: bigint, end: bigint): Promise<TraceLookup> {
    const jobs: Array<[string, TraceByIDRequest]> = [];
    for (const tenant of tenants) {
      jobs.push([tenant, traceByIDRequest({ tenant, traceId: id, queryMode: QueryMode.INGESTERS })]);
      for (const [blockStart, blockEnd] of this.ranges) {
        jobs.push([
          tenant,
          traceByIDRequest({ tenant, traceId: id, queryMode: QueryMode.BLOCKS, blockStart, blockEnd, startUnixSeconds: start, endUnixSeconds: end }),
        ]);
      }
    }
    const ac = new AbortController();
    // Every job (and hedged copy) of the lookup listens to this one signal.
    setMaxListeners(0, ac.signal);
    const timeout = setTimeout(() => ac.abort(this.deadlineError()), this.opts.timeoutMs);
    let results: Array<TraceByIDResponse | ConnectError>;
    try {
      results = await Promise.all(
        jobs.map(async ([tenant, req]) => {
          try {
            const a = await this.hedge(tenant, { case: 'traceById', value: req }, ac.signal);
            if (a.case !== 'traceById') throw new ConnectError(`a querier answered a trace-by-ID job with ${a.case}`, Code.Internal);
            return a.value;
          } catch (err) {
            const ce = ConnectError.from(err);
            // Decided once the other jobs have answered.
            if (req.queryMode === QueryMode.BLOCKS && BACKEND_FAILURE.has(ce.code) && !ac.signal.aborted) return ce;
            throw err;
          }
        }),
      );
    } catch (err) {
      // The first failure decides the answer: take this lookup's other jobs off the queue.
      ac.abort(err);
      throw err;
    } finally {
      clearTimeout(timeout);
    }
    const failed = results.filter((r) => r instanceof ConnectError);
    const parts = results.flatMap((r) => (!(r instanceof ConnectError) && r.trace && r.trace.resourceSpans.length > 0 ? [r.trace] : []));
    const trace = joinCombined(parts);
    if (failed.length === 0) return { trace };
    // Nothing found and a source unread: an error, never a wrong "not found".
    if (!trace) throw failed[0]!;
    const reason = publicErrorMessage(failed[0], httpStatusOf(failed[0]!.code));
    return {
      trace,
      partial: `${failed.length} of ${jobs.length - tenants.length} block jobs failed, the answer may lack spans stored in the backend: ${reason}`,
    };
  }

  /** 504 when queriers are connected but too slow, 503 when none is connected to take the jobs. */
  private deadlineError(): ConnectError {
    if (this.opts.queue.connectedWorkers() === 0) {
      return new ConnectError(`no querier connected to the query-frontend within ${this.opts.timeoutMs} ms`, Code.Unavailable);
    }
    return new ConnectError(`trace by ID lookup did not finish within ${this.opts.timeoutMs} ms (querier.trace_by_id.query_timeout)`, Code.DeadlineExceeded);
  }

  /**
   * Submits a job and, if it is not answered within `hedgeAtMs`, copies of it (up to `hedgeUpTo` in all);
   * the first answer wins and the other copies are withdrawn. Fails only when every copy has failed.
   */
  private hedge(tenant: string, req: JobRequest, signal: AbortSignal): Promise<JobAnswer> {
    const { hedgeAtMs, hedgeUpTo, queue } = this.opts;
    if (hedgeAtMs <= 0 || hedgeUpTo <= 1) return queue.submit(tenant, req, signal);
    return new Promise<JobAnswer>((resolve, reject) => {
      const copies = new AbortController();
      setMaxListeners(0, copies.signal);
      const onAbort = () => copies.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      let sent = 0;
      let pending = 0;
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        signal.removeEventListener('abort', onAbort);
        // Withdraw the other copies, if any were sent (most jobs answer before the first hedge).
        if (sent > 1) copies.abort(new ConnectError('another copy of the job answered first', Code.Canceled));
        fn();
      };
      const launch = () => {
        sent++;
        pending++;
        queue.submit(tenant, req, copies.signal).then(
          (a) => settle(() => resolve(a)),
          (err: unknown) => {
            pending--;
            // Failures are not hedged (the queue already retried them): the last copy out decides.
            if (pending === 0) settle(() => reject(err));
          },
        );
      };
      // Settling happens only in promise callbacks, after `timer` is set.
      const timer = setInterval(() => {
        if (settled || sent >= hedgeUpTo) return clearInterval(timer);
        this.hedged?.inc();
        launch();
      }, hedgeAtMs);
      launch();
    });
  }

  private async serve(
    headers: Record<string, string | string[] | undefined>,
    res: import('node:http').ServerResponse,
    rawID: string,
    url: URL,
    version: 1 | 2,
  ): Promise<void> {
    const tenants = this.tenantsOf(headers);
    const id = parseTraceID(rawID);
    const start = parseUnixSeconds('start', url.searchParams.get('start'));
    const end = parseUnixSeconds('end', url.searchParams.get('end'));
    if (start > 0n && end > 0n && end < start) throw new ConnectError(`invalid time range: end (${end}) is before start (${start})`, Code.InvalidArgument);
    const { trace, partial } = await this.lookup(tenants, id, start, end);
    const accept = String(headers.accept ?? '');
    const wantsProto = accept.includes('application/protobuf') || accept.includes('application/x-protobuf');
    if (!trace) throw new ConnectError('trace not found', Code.NotFound);
    if (partial) res.setHeader('stave-partial', headerSafe(partial));
    const v2 = partial ? { trace, status: 'PARTIAL' as const, message: partial } : { trace };
    if (wantsProto) return this.send(res, 'application/protobuf', version === 1 ? toBinary(TraceSchema, trace) : tempoTraceByIDV2Proto(v2));
    this.send(res, 'application/json', Buffer.from(version === 1 ? tempoTraceV1Json(trace) : tempoTraceByIDV2Json(v2)));
  }

  private tenantsOf(headers: Record<string, string | string[] | undefined>): string[] {
    const orgID = headers['x-scope-orgid'];
    return queryTenants(Array.isArray(orgID) ? orgID[0] : orgID, this.opts.multitenancy, this.opts.multiTenantQueries);
  }

  private send(res: import('node:http').ServerResponse, contentType: string, body: Uint8Array): void {
    res.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
    res.end(body);
  }
}
