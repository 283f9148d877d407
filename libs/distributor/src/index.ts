// @stave/distributor: tenant resolution, rate limits, per-trace replication to ingesters.
export { Distributor, DiscardReason, type DistributorOptions } from './distributor';
export { RateLimiter, TokenBucket, type RateLimit } from './rate-limiter';
export { GeneratorForwarder, type GeneratorForwarderOptions, type GeneratorPushClient } from './generator-forwarder';
