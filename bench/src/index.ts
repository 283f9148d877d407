// The harness as a library, for tests that need the same load and the same ledger of acknowledged spans.
export { AckLedger, runLoad, sample, type LoadOptions, type LoadResult } from './loadgen';
export { generatePool, type Pool, type PoolOptions } from './workload';
export { timeQueries, type QueryOptions, type QueryResult } from './query';
export { Prng } from './prng';
export { httpRequest, keepAliveAgent, type HttpResult } from './http-client';
