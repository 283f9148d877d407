// Complete backend options for tests: a local store, no hedging, short timeouts. Tests override what they
// exercise (`{ ...storageOptions(), backend: 's3', s3: { ...storageOptions().s3, bucket: 'b' } }`).

import type { TraceStorageConfig } from '../config';

const hedge = { hedge_requests_at: 0, hedge_requests_up_to: 2 };

export function storageOptions(): TraceStorageConfig {
  return {
    backend: 'local',
    local: { path: './data/blocks' },
    s3: {
      ...hedge,
      bucket: '',
      prefix: '',
      endpoint: '',
      region: '',
      access_key: '',
      secret_key: '',
      session_token: '',
      insecure: false,
      insecure_skip_verify: false,
      forcepathstyle: false,
      bucket_lookup_type: 0,
      part_size: 5 * 1024 * 1024,
      tags: {},
      storage_class: '',
    },
    gcs: {
      ...hedge,
      bucket_name: '',
      prefix: '',
      endpoint: '',
      chunk_buffer_size: 10 * 1024 * 1024,
      insecure: false,
      object_cache_control: '',
      object_metadata: {},
    },
    azure: {
      ...hedge,
      container_name: '',
      prefix: '',
      storage_account_name: '',
      storage_account_key: '',
      connection_string: '',
      sas_token: '',
      endpoint_suffix: 'blob.core.windows.net',
      max_buffers: 4,
      buffer_size: 3 * 1024 * 1024,
    },
    request_timeout: 5_000,
    backoff: { min_period: 10, max_period: 100, max_retries: 2 },
    object_cache: { max_size_bytes: 1024 * 1024, max_object_size_bytes: 64 * 1024, roles: ['meta', 'bloom', 'trace-id-index', 'parquet-footer'] },
  };
}
