// The GCS backend (`storage.trace.backend: gcs`), on @google-cloud/storage: Google Cloud Storage or any
// server speaking its JSON API at `storage.trace.gcs.endpoint`. Credentials come from Google's default
// chain (GOOGLE_APPLICATION_CREDENTIALS, workload identity, metadata server); a custom endpoint is
// called without auth, as the library does for emulators.
//
// Writes: an object up to `chunk_buffer_size` is one simple upload (retried whole by the request policy).
// A larger stream is a resumable upload in `chunk_buffer_size` chunks; the library resends a failed
// chunk (configured from the same backoff settings), since only it holds the chunk. Both are atomic:
// GCS shows an object only once its upload completes.

import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IdempotencyStrategy, Storage, type ApiError, type Bucket, type StorageOptions } from '@google-cloud/storage';
import { Code, ConnectError } from '@stave/server';
import { collect, prepend, rechunk } from './chunks';
import type { GcsConfig } from './config';
import { backendError, checkRange, codeForStatus, isNetworkError, isRetryable, notFound, outOfRange } from './errors';
import { Keyspace } from './keyspace';
import type { ListResult, ObjectInfo, ObjectStore } from './object-store';
import type { RequestPolicy } from './policy';

const BACKEND = 'gcs';
const MAX_LIST_PAGE = 1000;
/** Resumable chunks must be multiples of 256 KiB (GCS's rule). */
const CHUNK_QUANTUM = 256 * 1024;

export interface GcsStoreOptions {
  readonly policy: RequestPolicy;
  /** Tests: a page size below GCS's 1000, to exercise page tokens. */
  readonly listPageSize?: number;
}

function statusOf(err: unknown): number | undefined {
  const c = (err as ApiError | undefined)?.code;
  return typeof c === 'number' ? c : undefined;
}

function gcsError(what: string, err: unknown): ConnectError {
  const status = statusOf(err);
  if (status === 404 && /bucket/i.test((err as Error).message)) {
    return new ConnectError(`${BACKEND}: ${what} failed: bucket does not exist`, Code.FailedPrecondition, undefined, undefined, err);
  }
  return backendError(BACKEND, what, err, status);
}

/** Tempo's endpoint form is `https://storage.googleapis.com/storage/v1/`; the library wants the origin. */
export function gcsApiEndpoint(cfg: Pick<GcsConfig, 'endpoint' | 'insecure'>): string | undefined {
  if (cfg.endpoint === '') return undefined;
  const withScheme = /^https?:\/\//.test(cfg.endpoint) ? cfg.endpoint : `${cfg.insecure ? 'http' : 'https'}://${cfg.endpoint}`;
  return withScheme.replace(/\/+$/, '').replace(/\/storage\/v1$/, '');
}

export class GcsStore implements ObjectStore {
  private readonly keys: Keyspace;
  private readonly policy: RequestPolicy;
  /** Single requests: no library retries (the request policy retries). */
  private readonly bucket: Bucket;
  /** Resumable uploads: the library retries chunks, under the same backoff settings. */
  private readonly uploadBucket: Bucket;
  private readonly chunkSize: number;

  constructor(
    private readonly cfg: GcsConfig,
    private readonly opts: GcsStoreOptions,
  ) {
    this.keys = new Keyspace(cfg.prefix);
    this.policy = opts.policy;
    const p = opts.policy.opts;
    const apiEndpoint = gcsApiEndpoint(cfg);
    const base: StorageOptions = {
      ...(apiEndpoint ? { apiEndpoint, projectId: 'stave' } : {}),
      ...(p.timeoutMs > 0 ? { timeout: p.timeoutMs } : {}),
    };
    this.bucket = new Storage({ ...base, retryOptions: { autoRetry: false, maxRetries: 0 } }).bucket(cfg.bucket_name);
    this.uploadBucket = new Storage({
      ...base,
      retryOptions: {
        autoRetry: p.maxRetries > 0,
        maxRetries: p.maxRetries,
        retryDelayMultiplier: 2,
        maxRetryDelay: Math.max(1, p.maxBackoffMs / 1000),
        totalTimeout: Math.max(60, ((p.timeoutMs || 60_000) * (p.maxRetries + 1)) / 1000),
        // Our uploads replace the whole object, so repeating one is safe without generation preconditions.
        idempotencyStrategy: IdempotencyStrategy.RetryAlways,
        retryableErrorFn: (err: ApiError) => {
          const status = statusOf(err);
          if (status !== undefined && status > 0) return isRetryable(codeForStatus(status));
          return isNetworkError(err);
        },
      },
    }).bucket(cfg.bucket_name);
    this.chunkSize = Math.max(CHUNK_QUANTUM, Math.floor(cfg.chunk_buffer_size / CHUNK_QUANTUM) * CHUNK_QUANTUM);
  }

  async read(key: string): Promise<Uint8Array> {
    const k = this.keys.full(key);
    return this.policy.run('read', k, (signal) => this.download(k, key, signal), { hedge: true });
  }

  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    checkRange(BACKEND, key, offset, length);
    const k = this.keys.full(key);
    if (length === 0) {
      const { size } = await this.stat(key);
      if (offset > size) throw outOfRange(BACKEND, key, offset, length, size);
      return new Uint8Array(0);
    }
    return this.policy.run('read_range', k, async (signal) => {
      const r = { offset, length, total: undefined as number | undefined };
      const bytes = await this.download(k, key, signal, r);
      if (bytes.length !== length) throw outOfRange(BACKEND, key, offset, length, r.total);
      return bytes;
    }, { hedge: true });
  }

  async stat(key: string): Promise<ObjectInfo> {
    const k = this.keys.full(key);
    return this.policy.run('stat', k, async () => {
      try {
        const [meta] = await this.bucket.file(k).getMetadata();
        return { size: Number(meta.size ?? 0) };
      } catch (err) {
        if (statusOf(err) === 404 && !/bucket/i.test((err as Error).message)) throw notFound(BACKEND, key);
        throw gcsError(`stat ${k}`, err);
      }
    }, { hedge: true });
  }

  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    const k = this.keys.full(key);
    if (data instanceof Uint8Array) {
      if (data.length <= this.chunkSize) return this.simpleUpload(k, data);
      return this.resumableUpload(k, (async function* () {
        yield data;
      })());
    }
    const parts = rechunk(data, this.chunkSize);
    const first = await parts.next();
    if (first.done) return this.simpleUpload(k, new Uint8Array(0));
    const second = await parts.next();
    if (second.done) return this.simpleUpload(k, first.value);
    return this.resumableUpload(k, prepend([first.value, second.value], parts));
  }

  async list(prefix: string, opts: { delimiter?: string } = {}): Promise<ListResult> {
    const p = this.keys.fullPrefix(prefix);
    const objects: string[] = [];
    const prefixes: string[] = [];
    let pageToken: string | undefined;
    do {
      const [files, next, resp] = await this.policy.run('list', p, async () => {
        try {
          return await this.bucket.getFiles({
            prefix: p,
            ...(opts.delimiter ? { delimiter: opts.delimiter } : {}),
            autoPaginate: false,
            maxResults: Math.min(MAX_LIST_PAGE, this.opts.listPageSize ?? MAX_LIST_PAGE),
            ...(pageToken ? { pageToken } : {}),
          });
        } catch (err) {
          throw gcsError(`list ${p}`, err);
        }
      });
      for (const f of files) objects.push(this.keys.strip(f.name));
      for (const cp of ((resp as { prefixes?: string[] } | undefined)?.prefixes ?? [])) prefixes.push(this.keys.strip(cp));
      pageToken = (next as { pageToken?: string } | null | undefined)?.pageToken;
    } while (pageToken);
    return { objects: objects.sort(), prefixes: [...new Set(prefixes)].sort() };
  }

  async delete(key: string): Promise<void> {
    const k = this.keys.full(key);
    await this.policy.run('delete', k, async () => {
      try {
        await this.bucket.file(k).delete({ ignoreNotFound: true });
      } catch (err) {
        throw gcsError(`delete ${k}`, err);
      }
    });
  }

  async close(): Promise<void> {}

  private metadata(): { cacheControl?: string; metadata?: Record<string, string> } {
    return {
      ...(this.cfg.object_cache_control ? { cacheControl: this.cfg.object_cache_control } : {}),
      ...(Object.keys(this.cfg.object_metadata).length > 0 ? { metadata: this.cfg.object_metadata } : {}),
    };
  }

  private download(k: string, key: string, signal: AbortSignal, range?: { offset: number; length: number; total: number | undefined }): Promise<Buffer> {
    const stream = this.bucket.file(k).createReadStream(
      range ? { start: range.offset, end: range.offset + range.length - 1, validation: false } : { validation: 'crc32c' },
    );
    stream.on('response', (res: { headers?: Record<string, string | undefined> }) => {
      const total = /\/(\d+)$/.exec(res.headers?.['content-range'] ?? '')?.[1];
      if (range && total !== undefined) range.total = Number(total);
    });
    const onAbort = (): void => void stream.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    return collect(stream)
      .catch((err: unknown) => {
        if (statusOf(err) === 404 && !/bucket/i.test((err as Error).message)) throw notFound(BACKEND, key);
        if (statusOf(err) === 416 && range) throw outOfRange(BACKEND, key, range.offset, range.length, range.total);
        throw gcsError(`GET ${k}`, err);
      })
      .finally(() => signal.removeEventListener('abort', onAbort));
  }

  private async simpleUpload(k: string, data: Uint8Array): Promise<void> {
    await this.policy.run('write', k, async () => {
      try {
        await this.bucket.file(k).save(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { resumable: false, validation: 'crc32c', metadata: this.metadata() });
      } catch (err) {
        throw gcsError(`upload ${k}`, err);
      }
    });
  }

  /** One resumable session: not repeatable as a whole (the stream is consumed), so no policy retry or deadline. */
  private async resumableUpload(k: string, parts: AsyncIterable<Uint8Array>): Promise<void> {
    await this.policy.run('write', k, async () => {
      const sink: Writable = this.uploadBucket.file(k).createWriteStream({ resumable: true, chunkSize: this.chunkSize, validation: 'crc32c', metadata: this.metadata() });
      try {
        await pipeline(Readable.from(parts, { objectMode: false }), sink);
      } catch (err) {
        throw gcsError(`resumable upload ${k}`, err);
      }
    }, { retry: false, timeout: false });
  }
}
