// What a querier does with a job pulled from a query-frontend: the job's request → the Querier's method,
// under the job's deadline (`querier.trace_by_id.query_timeout` for trace-by-ID, `querier.search.query_timeout`
// for search, as in Tempo).

import type { SearchRequest, SearchResponse, SearchTagsRequest, SearchTagsResponse, TraceByIDRequest, TraceByIDResponse } from '@stave/proto';
import { Code, ConnectError } from '@stave/server';
import type { JobAnswer, JobRequest } from './queue';

export interface JobTarget {
  findTraceByID(req: TraceByIDRequest): Promise<TraceByIDResponse>;
  search(req: SearchRequest): Promise<SearchResponse>;
  searchTags(req: SearchTagsRequest): Promise<SearchTagsResponse>;
}

export interface JobRunnerOptions {
  traceByIDTimeoutMs: number;
  /** `querier.search.query_timeout`. */
  searchTimeoutMs: number;
}

export function jobRunner(querier: JobTarget, opts: JobRunnerOptions): (job: JobRequest, signal: AbortSignal) => Promise<JobAnswer> {
  return async (job, signal) => {
    switch (job.case) {
      case 'traceById': {
        const value = await withDeadline(
          querier.findTraceByID(job.value),
          opts.traceByIDTimeoutMs,
          signal,
          'trace by ID job',
          'querier.trace_by_id.query_timeout',
        );
        return { case: 'traceById', value };
      }
      case 'search': {
        const value = await withDeadline(querier.search(job.value), opts.searchTimeoutMs, signal, 'search job', 'querier.search.query_timeout');
        return { case: 'search', value };
      }
      case 'searchTags': {
        const value = await withDeadline(querier.searchTags(job.value), opts.searchTimeoutMs, signal, 'tag search job', 'querier.search.query_timeout');
        return { case: 'searchTags', value };
      }
      default:
        throw new ConnectError(`this querier does not run ${String(job.case)} jobs`, Code.Unimplemented);
    }
  };
}

function withDeadline<T>(p: Promise<T>, ms: number, signal: AbortSignal, what: string, key: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (err: ConnectError) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      reject(err);
    };
    const timer = setTimeout(() => fail(new ConnectError(`${what} did not finish within ${ms} ms (${key})`, Code.DeadlineExceeded)), ms);
    const onAbort = () => fail(new ConnectError(`${what} cancelled: the frontend stream closed`, Code.Canceled));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => fail(ConnectError.from(err)),
    );
  });
}
