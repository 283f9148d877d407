// The query-frontend's trace-by-ID API, in Tempo's shape: `GET /api/traces/<id>` (v1, `{"batches":[...]}`)
// and `GET /api/v2/traces/<id>` (`{"trace":{...}}`), JSON or protobuf by `Accept`. A lookup is sharded
// into one ingester job and block-range jobs over the block ID space (`query_frontend.trace_by_id
// .query_shards`), run on the queriers, and the partial traces are combined with duplicate spans dropped.

import { toBinary } from '@bufbuild/protobuf';
import { combineTraces, parseTraceID, tempoTraceByIDV2Json, tempoTraceByIDV2Proto, tempoTraceV1Json } from '@stave/model';
import { QueryMode, TraceSchema, type Trace, type TraceByIDRequest, type TraceByIDResponse } from '@stave/proto';
import { traceByIDRequest } from '@stave/ingester';
import { BasicService, Code, ConnectError, resolveTenant, type HttpServer } from '@stave/server';

export interface QuerierClient {
  findTraceByID(req: TraceByIDRequest): Promise<TraceByIDResponse>;
}

export interface FrontendOptions {
  http: HttpServer;
  apiPrefix: string;
  multitenancy: boolean;
  querier: QuerierClient;
  queryShards: number;
  /** Jobs in flight per query. */
  concurrency?: number;
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

export class QueryFrontend extends BasicService {
  private readonly ranges: Array<[string, string]>;

  constructor(private readonly opts: FrontendOptions) {
    super('query-frontend');
    this.ranges = blockRanges(Math.max(1, opts.queryShards - 1));
    const api = opts.apiPrefix.replace(/\/$/, '');
    const r = opts.http.router;
    r.handle('GET', `${api}/api/traces/:traceID`, (req, res, params, url) => this.serve(req.headers, res, params.traceID!, url, 1));
    r.handle('GET', `${api}/api/v2/traces/:traceID`, (req, res, params, url) => this.serve(req.headers, res, params.traceID!, url, 2));
  }

  async findTraceByID(tenant: string, id: Uint8Array, start: bigint, end: bigint): Promise<Trace | undefined> {
    const jobs = [
      traceByIDRequest({ tenant, traceId: id, queryMode: QueryMode.INGESTERS }),
      ...this.ranges.map(([blockStart, blockEnd]) =>
        traceByIDRequest({ tenant, traceId: id, queryMode: QueryMode.BLOCKS, blockStart, blockEnd, startUnixSeconds: start, endUnixSeconds: end }),
      ),
    ];
    const results: TraceByIDResponse[] = [];
    const limit = this.opts.concurrency ?? 20;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(limit, jobs.length) }, async () => {
        while (next < jobs.length) results.push(await this.opts.querier.findTraceByID(jobs[next++]!));
      }),
    );
    const parts = results.flatMap((r) => (r.trace && r.trace.resourceSpans.length > 0 ? [r.trace] : []));
    if (parts.length === 0) return undefined;
    return parts.length === 1 ? parts[0]! : combineTraces(parts);
  }

  private async serve(
    headers: Record<string, string | string[] | undefined>,
    res: import('node:http').ServerResponse,
    rawID: string,
    url: URL,
    version: 1 | 2,
  ): Promise<void> {
    const orgID = headers['x-scope-orgid'];
    const tenant = resolveTenant(Array.isArray(orgID) ? orgID[0] : orgID, this.opts.multitenancy);
    const id = parseTraceID(rawID);
    const start = parseUnixSeconds('start', url.searchParams.get('start'));
    const end = parseUnixSeconds('end', url.searchParams.get('end'));
    if (start > 0n && end > 0n && end < start) throw new ConnectError(`invalid time range: end (${end}) is before start (${start})`, Code.InvalidArgument);
    const trace = await this.findTraceByID(tenant, id, start, end);
    const accept = String(headers.accept ?? '');
    const wantsProto = accept.includes('application/protobuf') || accept.includes('application/x-protobuf');
    if (!trace) throw new ConnectError('trace not found', Code.NotFound);
    if (wantsProto) return this.send(res, 'application/protobuf', version === 1 ? toBinary(TraceSchema, trace) : tempoTraceByIDV2Proto({ trace }));
    this.send(res, 'application/json', Buffer.from(version === 1 ? tempoTraceV1Json(trace) : tempoTraceByIDV2Json({ trace })));
  }

  private send(res: import('node:http').ServerResponse, contentType: string, body: Uint8Array): void {
    res.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
    res.end(body);
  }
}
