// The GCS backend (`storage.trace.backend: gcs`), on @google-cloud/storage: Google Cloud Storage or any
// server speaking its JSON API at `storage.trace.gcs.endpoint`. Credentials come from Google's default
// chain (GOOGLE_APPLICATION_CREDENTIALS, workload identity, metadata server); a custom endpoint is
// called without auth, as the library does for emulators.
//
// Writes: an object up to `chunk_buffer_size` is one simple upload (retried whole by the request policy).
// A larger stream is a resumable upload: the library opens the session, and Stave sends the chunks
// itself (PUT with Content-Range, GCS's documented protocol), each under the request policy, asking the
// session where it stands before resending; the final chunk carries the whole object's CRC32C, which
// GCS checks. (The library's own chunked writer keeps what it has sent until the upload ends — memory
// grew with the object in 7.22 — so it is not used; memory here is two chunks.) Both are atomic: GCS
// shows an object only once its upload completes.

import { CRC32C, Storage, type ApiError, type Bucket, type StorageOptions } from '@google-cloud/storage';
import { Code, ConnectError } from '@stave/core';
import { collect, type Part } from './chunks';
import type { GcsConfig } from './config';
import { backendError, notFound, outOfRange } from './errors';
import type { ListResult, ObjectInfo } from './object-store';
import type { RequestPolicy } from './policy';
import { RemoteStore, type ListPage, type RangeRequest, type UploadShape } from './remote-store';

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

export class GcsStore extends RemoteStore {
  private readonly storage: Storage;
  /** Every request through the library is single: the request policy retries. */
  private readonly bucket: Bucket;
  private readonly chunkSize: number;

  constructor(
    private readonly cfg: GcsConfig,
    private readonly opts: GcsStoreOptions,
  ) {
    super(BACKEND, cfg.prefix, opts.policy);
    const p = opts.policy.opts;
    const apiEndpoint = gcsApiEndpoint(cfg);
    const options: StorageOptions = {
      ...(apiEndpoint ? { apiEndpoint, projectId: 'stave' } : {}),
      ...(p.timeoutMs > 0 ? { timeout: p.timeoutMs } : {}),
      retryOptions: { autoRetry: false, maxRetries: 0 },
    };
    this.storage = new Storage(options);
    this.bucket = this.storage.bucket(cfg.bucket_name);
    this.chunkSize = Math.max(CHUNK_QUANTUM, Math.floor(cfg.chunk_buffer_size / CHUNK_QUANTUM) * CHUNK_QUANTUM);
  }

  async stat(key: string): Promise<ObjectInfo> {
    const k = this.keys.full(key);
    return this.policy.run(
      'stat',
      k,
      async () => {
        try {
          const [meta] = await this.bucket.file(k).getMetadata();
          return { size: Number(meta.size ?? 0) };
        } catch (err) {
          if (statusOf(err) === 404 && !/bucket/i.test((err as Error).message)) throw notFound(BACKEND, key);
          throw gcsError(`stat ${k}`, err);
        }
      },
      { hedge: true },
    );
  }

  protected uploadShape(): UploadShape {
    // Two buffers: the resumable upload sends one chunk while the next is read.
    return { maxSinglePut: this.chunkSize, partSize: this.chunkSize, streamBuffers: 2 };
  }

  /** As the shared listing, but a prefix GCS reports on several pages is listed once. */
  override async list(prefix: string, opts: { delimiter?: string } = {}): Promise<ListResult> {
    const { objects, prefixes } = await super.list(prefix, opts);
    return { objects, prefixes: [...new Set(prefixes)] };
  }

  protected async listPage(p: string, delimiter: string | undefined, pageToken: string | undefined): Promise<ListPage> {
    let files, next, resp;
    try {
      [files, next, resp] = await this.bucket.getFiles({
        prefix: p,
        ...(delimiter ? { delimiter } : {}),
        autoPaginate: false,
        maxResults: Math.min(MAX_LIST_PAGE, this.opts.listPageSize ?? MAX_LIST_PAGE),
        ...(pageToken ? { pageToken } : {}),
      });
    } catch (err) {
      throw gcsError(`list ${p}`, err);
    }
    return {
      objects: files.map((f) => f.name),
      prefixes: (resp as { prefixes?: string[] } | undefined)?.prefixes ?? [],
      next: (next as { pageToken?: string } | null | undefined)?.pageToken,
    };
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

  protected download(k: string, key: string, signal: AbortSignal, range?: RangeRequest): Promise<Uint8Array> {
    const stream = this.bucket
      .file(k)
      .createReadStream(range ? { start: range.offset, end: range.offset + range.length - 1, validation: false } : { validation: 'crc32c' });
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

  /** A simple upload, retried whole by the request policy. */
  protected async putSingle(k: string, data: Uint8Array): Promise<void> {
    await this.policy.run('write', k, async () => {
      try {
        await this.bucket
          .file(k)
          .save(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { resumable: false, validation: 'crc32c', metadata: this.metadata() });
      } catch (err) {
        throw gcsError(`upload ${k}`, err);
      }
    });
  }

  /**
   * A resumable upload: open the session, then PUT the chunks in order. The total size goes with the
   * last chunk (so one chunk of look-ahead), and with it the object's CRC32C for GCS to verify.
   */
  /** A resumable upload: the library opens the session, Stave sends the chunks (see the file comment). */
  protected async putParts(k: string, parts: AsyncIterable<Part>): Promise<void> {
    const [uri] = await this.policy.run('write_part', k, async () => {
      try {
        return await this.bucket.file(k).createResumableUpload({ metadata: this.metadata() });
      } catch (err) {
        throw gcsError(`start resumable upload ${k}`, err);
      }
    });
    const crc = new CRC32C();
    const it = parts[Symbol.asyncIterator]();
    let offset = 0;
    try {
      let cur = await it.next();
      while (!cur.done) {
        const next = await it.next();
        const part = cur.value;
        crc.update(Buffer.from(part.bytes.buffer, part.bytes.byteOffset, part.bytes.byteLength));
        const total = next.done ? offset + part.bytes.length : undefined;
        await this.putChunk(k, uri, offset, part.bytes, total, total === undefined ? undefined : crc.toString());
        part.release();
        offset += part.bytes.length;
        cur = next;
      }
    } catch (err) {
      // Best effort: a cancelled session frees its bytes now rather than when GCS expires it (a week).
      await fetch(uri, {
        method: 'DELETE',
        headers: this.storage.customEndpoint ? {} : ((await this.storage.authClient.getRequestHeaders(uri).catch(() => ({}))) as Record<string, string>),
      }).catch(() => undefined);
      throw err;
    } finally {
      await it.return?.();
    }
  }

  /** One chunk of a resumable session, under the request policy; a retry first asks the session what it has. */
  private async putChunk(k: string, uri: string, start: number, bytes: Uint8Array, total: number | undefined, crc32c: string | undefined): Promise<void> {
    const end = start + bytes.length; // exclusive
    const size = total === undefined ? '*' : String(total);
    let attempt = 0;
    await this.policy.run('write_part', k, async (signal) => {
      let from = start;
      if (attempt++ > 0) {
        const status = await this.sessionRequest(k, uri, { 'content-range': `bytes */${size}` }, undefined, signal);
        if (status.done) return;
        from = Math.max(start, status.persisted);
        if (from > end)
          throw new ConnectError(`${BACKEND}: resumable upload ${k} has ${status.persisted} bytes, past this chunk (${start}..${end})`, Code.Internal);
      }
      const body = bytes.subarray(from - start);
      const headers: Record<string, string> = { 'content-range': body.length > 0 ? `bytes ${from}-${end - 1}/${size}` : `bytes */${size}` };
      if (crc32c !== undefined) headers['x-goog-hash'] = `crc32c=${crc32c}`;
      const res = await this.sessionRequest(k, uri, headers, body, signal);
      if (total !== undefined && !res.done)
        throw new ConnectError(`${BACKEND}: resumable upload ${k} not complete after its last chunk (${res.persisted} of ${total} bytes)`, Code.Unavailable);
      if (total === undefined && res.persisted < end)
        throw new ConnectError(`${BACKEND}: resumable upload ${k} kept ${res.persisted} of ${end} bytes`, Code.Unavailable);
    });
  }

  /** A PUT to the session URI: `done` on 200/201, else how many bytes it holds (308 + Range). */
  private async sessionRequest(
    k: string,
    uri: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    signal: AbortSignal,
  ): Promise<{ done: boolean; persisted: number }> {
    let res: Response;
    try {
      const auth = this.storage.customEndpoint ? {} : ((await this.storage.authClient.getRequestHeaders(uri)) as unknown as Record<string, string>);
      res = await fetch(uri, { method: 'PUT', headers: { ...auth, ...headers }, body: body ?? new Uint8Array(0), signal });
    } catch (err) {
      throw gcsError(`resumable upload ${k}`, err);
    }
    const text = await res.text().catch(() => '');
    if (res.status === 200 || res.status === 201) return { done: true, persisted: Number.NaN };
    if (res.status === 308) {
      const m = /bytes=0-(\d+)/.exec(res.headers.get('range') ?? '');
      return { done: false, persisted: m ? Number(m[1]) + 1 : 0 };
    }
    const msg = (() => {
      try {
        return (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        return text;
      }
    })();
    throw backendError(BACKEND, `resumable upload ${k}`, new Error(msg.slice(0, 300)), res.status);
  }
}
