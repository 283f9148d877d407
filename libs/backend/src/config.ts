// The config types the backends take: Stave's `storage.trace` section (Tempo's keys), as parsed by
// @stave/server's schema.

import type { StaveConfig } from '@stave/server';

export type TraceStorageConfig = StaveConfig['storage']['trace'];
export type S3Config = TraceStorageConfig['s3'];
export type GcsConfig = TraceStorageConfig['gcs'];
export type AzureConfig = TraceStorageConfig['azure'];
export type ObjectCacheConfig = TraceStorageConfig['object_cache'];
