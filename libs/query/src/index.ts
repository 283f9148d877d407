// @stave/query: the querier (jobs against ingesters and backend blocks), the query-frontend API, the
// frontend's request queue and the querier's frontend worker that pulls jobs from it.
export { Blocklist } from './blocklist';
export { Querier, type QuerierOptions } from './querier';
export { QueryFrontend, blockRanges, queryTenants, type FrontendOptions, type JobQueue } from './frontend';
export { RequestQueue, WorkerConnection, TOO_MANY_OUTSTANDING, type JobAnswer, type JobRequest, type RequestQueueOptions } from './queue';
export { frontendProcessHandler, inProcessFrontendTransport } from './frontend-stream';
export { FrontendWorker, type FrontendWorkerOptions } from './worker';
export { jobRunner, type JobRunnerOptions, type JobTarget } from './jobs';
export { SearchMerger, TagsMerger } from './search-merge';
export { parseLogfmt, parseSearchParams, tagsToTraceQL, type SearchLimits, type SearchParams } from './search-params';
export {
  DEFAULT_CONCURRENT_JOBS,
  SearchFrontend,
  searchResponseJson,
  tagsResponseJson,
  tempoTraceIDString,
  type SearchFrontendOptions,
} from './search-frontend';
export {
  planSearch,
  rowGroupsPerJob,
  SEARCH_SHARD_DEFAULTS,
  type BlockShard,
  type IngesterShard,
  type SearchPlan,
  type SearchShardOptions,
} from './search-sharder';
