// The options the backends take: plain objects whose keys are Tempo's `storage.trace` keys (so Tempo's
// storage docs describe them), durations in milliseconds. services/stave builds them from Stave's config;
// this library never sees the config file. Only what the backends read is here.

export interface HedgeOptions {
  /** Send a second request when the first has not answered after this long; 0 turns hedging off. */
  hedge_requests_at: number;
  /** At most this many requests per operation, the first included. */
  hedge_requests_up_to: number;
}

export interface S3Config extends HedgeOptions {
  bucket: string;
  prefix: string;
  endpoint: string;
  region: string;
  access_key: string;
  secret_key: string;
  session_token: string;
  insecure: boolean;
  insecure_skip_verify: boolean;
  forcepathstyle: boolean;
  /** 0 auto, 1 virtual-hosted, 2 path-style (Tempo's values). */
  bucket_lookup_type: number;
  part_size: number;
  tags: Record<string, string>;
  storage_class: string;
}

export interface GcsConfig extends HedgeOptions {
  bucket_name: string;
  prefix: string;
  endpoint: string;
  chunk_buffer_size: number;
  insecure: boolean;
  object_cache_control: string;
  object_metadata: Record<string, string>;
}

export interface AzureConfig extends HedgeOptions {
  container_name: string;
  prefix: string;
  storage_account_name: string;
  storage_account_key: string;
  connection_string: string;
  sas_token: string;
  endpoint_suffix: string;
  max_buffers: number;
  buffer_size: number;
}

export interface ObjectCacheConfig {
  /** 0 turns the cache off. */
  max_size_bytes: number;
  max_object_size_bytes: number;
  roles: string[];
}

export interface TraceStorageConfig {
  backend: 'local' | 's3' | 'gcs' | 'azure';
  local: { path: string };
  s3: S3Config;
  gcs: GcsConfig;
  azure: AzureConfig;
  /** Bounds each attempt (every retry and every hedged request gets its own). */
  request_timeout: number;
  backoff: { min_period: number; max_period: number; max_retries: number };
  object_cache: ObjectCacheConfig;
}
