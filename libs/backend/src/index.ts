// @stave/backend: object storage behind one small interface, four implementations, one factory.
export type { ListResult, ObjectInfo, ObjectStore } from './object-store';
export { LocalStore } from './local';
export { createObjectStore, validateStorageConfig, type BackendName, type ManagedObjectStore, type ObjectStoreDeps } from './factory';
export type { TraceStorageConfig, S3Config, GcsConfig, AzureConfig, ObjectCacheConfig } from './config';
export { CachingStore, CACHE_ROLES, roleOf, type CacheRole, type ObjectCacheOptions } from './cache';
export { RequestPolicy, type RequestPolicyOptions, type RunOptions } from './policy';
export { BackendMetrics, OPERATIONS, type Operation } from './metrics';
export { InstrumentedStore } from './instrumented';
export { isRetryable, codeForStatus } from './errors';
export { Keyspace } from './keyspace';
export { listTenants, listBlockIDs, blockObjectKey, copyBlockObjects, deleteBlockObjects } from './helpers';
export { describeObjectStoreConformance, type ConformanceOptions, type StoreFactory } from './testing/conformance';
