// @stave/query: the querier (jobs against ingesters and backend blocks) and the query-frontend API.
export { Blocklist } from './blocklist';
export { Querier, type QuerierOptions } from './querier';
export { QueryFrontend, blockRanges, type FrontendOptions, type QuerierClient } from './frontend';
