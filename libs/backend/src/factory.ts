// createObjectStore: `storage.trace` config in, a ready ObjectStore out. The one place that decides the
// stack every backend gets:
//
//   CachingStore (object_cache)  →  S3Store | GcsStore | AzureStore  (each request under RequestPolicy:
//                                    deadline, retries with jittered backoff, hedged reads, metrics)
//                                →  InstrumentedStore(LocalStore)    (metrics only: a disk needs no retries)

import type http from 'node:http';
import { Code, ConnectError, type Logger } from '@stave/core';
import type { Registry } from 'prom-client';
import { CachingStore, type CacheRole } from './cache';
import type { TraceStorageConfig } from './config';
import { InstrumentedStore } from './instrumented';
import { LocalStore } from './local';
import { BackendMetrics } from './metrics';
import type { ListResult, ObjectInfo, ObjectStore } from './object-store';
import { RequestPolicy } from './policy';

export type BackendName = TraceStorageConfig['backend'];

/** A problem with the storage options, at its `storage.trace` YAML path. */
export interface StorageIssue {
  path: string;
  message: string;
}

export interface ObjectStoreDeps {
  readonly logger?: Logger;
  /** Where the backend's metrics go (the app's registry); a private one when absent. */
  readonly registry?: Registry;
  /** Tests: list page size below the service maximum, to exercise pagination. */
  readonly listPageSize?: number;
  /** Tests: host resolution for S3 virtual-host names on loopback. */
  readonly lookup?: http.AgentOptions['lookup'];
  /** Tests: waits between retries. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** An ObjectStore that owns connections: `close()` releases them (safe to call twice). */
export interface ManagedObjectStore extends ObjectStore {
  readonly backend: BackendName;
  readonly metrics: BackendMetrics;
  close(): Promise<void>;
}

/** Every problem with the storage section at once, with its YAML path. */
export function validateStorageConfig(cfg: TraceStorageConfig): StorageIssue[] {
  const issues: StorageIssue[] = [];
  const need = (path: string, value: string, why = 'is required'): void => {
    if (value === '') issues.push({ path: `storage.trace.${path}`, message: `${why} for backend ${cfg.backend}` });
  };
  switch (cfg.backend) {
    case 'local':
      need('local.path', cfg.local.path);
      break;
    case 's3':
      need('s3.bucket', cfg.s3.bucket);
      if ((cfg.s3.access_key === '') !== (cfg.s3.secret_key === '')) {
        issues.push({
          path: 'storage.trace.s3.access_key',
          message: 'access_key and secret_key go together (leave both empty for the default credential chain)',
        });
      }
      break;
    case 'gcs':
      need('gcs.bucket_name', cfg.gcs.bucket_name);
      break;
    case 'azure': {
      const a = cfg.azure;
      need('azure.container_name', a.container_name);
      if (a.connection_string === '') {
        need('azure.storage_account_name', a.storage_account_name, 'is required (or connection_string)');
        if (a.storage_account_key === '' && a.sas_token === '') {
          issues.push({
            path: 'storage.trace.azure.storage_account_key',
            message: 'set storage_account_key, sas_token or connection_string (managed identity is not supported)',
          });
        }
      }
      break;
    }
  }
  if (cfg.object_cache.max_object_size_bytes > cfg.object_cache.max_size_bytes && cfg.object_cache.max_size_bytes > 0) {
    issues.push({ path: 'storage.trace.object_cache.max_object_size_bytes', message: `exceeds max_size_bytes (${cfg.object_cache.max_size_bytes})` });
  }
  return issues;
}

class ManagedStore implements ManagedObjectStore {
  private closed = false;
  constructor(
    readonly backend: BackendName,
    readonly metrics: BackendMetrics,
    private readonly top: ObjectStore,
    private readonly onClose: () => Promise<void>,
  ) {}
  read(key: string): Promise<Uint8Array> {
    return this.top.read(key);
  }
  readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    return this.top.readRange(key, offset, length);
  }
  stat(key: string): Promise<ObjectInfo> {
    return this.top.stat(key);
  }
  write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    return this.top.write(key, data);
  }
  list(prefix: string, opts?: { delimiter?: string }): Promise<ListResult> {
    return this.top.list(prefix, opts);
  }
  delete(key: string): Promise<void> {
    return this.top.delete(key);
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.top instanceof CachingStore) this.top.clear();
    await this.onClose();
  }
}

/**
 * Builds the store `storage.trace.backend` names. Throws InvalidArgument naming every config problem.
 * Nothing is contacted here: the first request finds out whether the bucket is reachable.
 */
export function createObjectStore(cfg: TraceStorageConfig, deps: ObjectStoreDeps = {}): ManagedObjectStore {
  const issues = validateStorageConfig(cfg);
  if (issues.length > 0) {
    throw new ConnectError(`invalid storage config: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, Code.InvalidArgument);
  }
  const metrics = new BackendMetrics(deps.registry);
  const logger = deps.logger?.child({ component: 'backend', backend: cfg.backend });
  const policy = (hedge: { hedge_requests_at: number; hedge_requests_up_to: number }): RequestPolicy =>
    new RequestPolicy({
      backend: cfg.backend,
      metrics,
      timeoutMs: cfg.request_timeout,
      maxRetries: cfg.backoff.max_retries,
      minBackoffMs: cfg.backoff.min_period,
      maxBackoffMs: cfg.backoff.max_period,
      hedgeAtMs: hedge.hedge_requests_at,
      hedgeUpTo: hedge.hedge_requests_up_to,
      ...(logger ? { logger } : {}),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    });
  const pageSize = deps.listPageSize !== undefined ? { listPageSize: deps.listPageSize } : {};

  let base: ObjectStore;
  let close: () => Promise<void> = async () => {};
  let where: string;
  switch (cfg.backend) {
    case 'local':
      base = new InstrumentedStore(new LocalStore(cfg.local.path), metrics);
      where = cfg.local.path;
      break;
    case 's3': {
      // Loaded on use (hence require, not import): each SDK is large, and a process needs only its own.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { S3Store } = require('./s3') as typeof import('./s3');
      const s = new S3Store(cfg.s3, { policy: policy(cfg.s3), ...pageSize, ...(deps.lookup ? { lookup: deps.lookup } : {}) });
      base = s;
      close = () => s.close();
      where = `${cfg.s3.bucket}/${cfg.s3.prefix}`;
      break;
    }
    case 'gcs': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { GcsStore } = require('./gcs') as typeof import('./gcs');
      base = new GcsStore(cfg.gcs, { policy: policy(cfg.gcs), ...pageSize });
      where = `${cfg.gcs.bucket_name}/${cfg.gcs.prefix}`;
      break;
    }
    case 'azure': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { AzureStore } = require('./azure') as typeof import('./azure');
      base = new AzureStore(cfg.azure, { policy: policy(cfg.azure), ...pageSize });
      where = `${cfg.azure.container_name}/${cfg.azure.prefix}`;
      break;
    }
  }
  const oc = cfg.object_cache;
  const top =
    oc.max_size_bytes > 0 && oc.roles.length > 0
      ? new CachingStore(base, { maxBytes: oc.max_size_bytes, maxObjectBytes: oc.max_object_size_bytes, roles: oc.roles as CacheRole[], metrics })
      : base;
  logger?.info('object store ready', { location: where, cache_bytes: oc.max_size_bytes, request_timeout_ms: cfg.request_timeout });
  return new ManagedStore(cfg.backend, metrics, top, close);
}
