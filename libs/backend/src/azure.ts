// The Azure Blob backend (`storage.trace.backend: azure`), on @azure/storage-blob: a storage account by
// name with an account key or a SAS token (Tempo's keys), or a connection string. As in Tempo, an
// `endpoint_suffix` that does not start with `blob.` is taken to be Azurite (`http://<suffix>/<account>`).
//
// Writes: an object up to `buffer_size` (and any in-memory one) is one Put Blob, retried whole by the
// request policy. A larger stream is staged as blocks of `buffer_size`, up to `max_buffers` in flight,
// each retried on its own, then committed with Put Block List: atomic, readers see the old blob or the
// whole new one. Block IDs are unique per upload, so two uploads of one blob never mix blocks; but a
// commit discards other uploads' uncommitted blocks, so of two streamed writers racing on one blob the
// later may fail with Aborted (the earlier's whole object stays).

import { randomBytes } from 'node:crypto';
import {
  AnonymousCredential,
  BlobServiceClient,
  StorageSharedKeyCredential,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { Code, ConnectError } from '@stave/server';
import { collect, forEachLimited, prepend, rechunk, slices, type Part } from './chunks';
import type { AzureConfig } from './config';
import { backendError, checkRange, notFound, outOfRange } from './errors';
import { Keyspace } from './keyspace';
import type { ListResult, ObjectInfo, ObjectStore } from './object-store';
import type { RequestPolicy } from './policy';

const BACKEND = 'azure';
/** Put Blob takes up to 5000 MiB in one request; keep in-memory objects below this in one request. */
const MAX_SINGLE_PUT = 256 * 1024 * 1024;

export interface AzureStoreOptions {
  readonly policy: RequestPolicy;
  /** Tests: a page size below the service's 5000, to exercise continuation tokens. */
  readonly listPageSize?: number;
}

interface RestErrorLike {
  statusCode?: number;
  code?: string;
}

function azureError(what: string, err: unknown): ConnectError {
  const e = err as RestErrorLike;
  if (e?.code === 'ContainerNotFound') return new ConnectError(`${BACKEND}: ${what} failed: container does not exist`, Code.FailedPrecondition, undefined, undefined, err);
  if (e?.code === 'InvalidBlockList') {
    return new ConnectError(`${BACKEND}: ${what} failed: another upload of the same blob committed first`, Code.Aborted, undefined, undefined, err);
  }
  return backendError(BACKEND, what, err, e?.statusCode);
}

function isBlobMissing(err: unknown): boolean {
  const e = err as RestErrorLike;
  return e?.statusCode === 404 && e.code !== 'ContainerNotFound';
}

/** The account URL from Tempo's keys (Azurite when the suffix is not `blob.…`, as Tempo decides). */
export function azureAccountURL(cfg: Pick<AzureConfig, 'storage_account_name' | 'endpoint_suffix'>): string {
  const suffix = cfg.endpoint_suffix.replace(/\/+$/, '');
  if (/^https?:\/\//.test(suffix)) return `${suffix}/${cfg.storage_account_name}`;
  if (!suffix.startsWith('blob.')) return `http://${suffix}/${cfg.storage_account_name}`;
  return `https://${cfg.storage_account_name}.${suffix}`;
}

export class AzureStore implements ObjectStore {
  readonly container: ContainerClient;
  private readonly keys: Keyspace;
  private readonly policy: RequestPolicy;

  constructor(
    private readonly cfg: AzureConfig,
    private readonly opts: AzureStoreOptions,
  ) {
    this.keys = new Keyspace(cfg.prefix);
    this.policy = opts.policy;
    // The request policy retries; the SDK's retries would multiply attempts and hide them from metrics.
    const pipeline: StoragePipelineOptions = { retryOptions: { maxTries: 1 }, keepAliveOptions: { enable: true } };
    let service: BlobServiceClient;
    if (cfg.connection_string !== '') {
      service = BlobServiceClient.fromConnectionString(cfg.connection_string, pipeline);
    } else if (cfg.storage_account_key !== '') {
      service = new BlobServiceClient(azureAccountURL(cfg), new StorageSharedKeyCredential(cfg.storage_account_name, cfg.storage_account_key), pipeline);
    } else {
      const sas = cfg.sas_token.replace(/^\?/, '');
      service = new BlobServiceClient(`${azureAccountURL(cfg)}?${sas}`, new AnonymousCredential(), pipeline);
    }
    this.container = service.getContainerClient(cfg.container_name);
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
    return this.policy.run('stat', k, async (abortSignal) => {
      try {
        const p = await this.container.getBlobClient(k).getProperties({ abortSignal });
        return { size: p.contentLength ?? 0 };
      } catch (err) {
        if (isBlobMissing(err)) throw notFound(BACKEND, key);
        throw azureError(`HEAD ${k}`, err);
      }
    }, { hedge: true });
  }

  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    const k = this.keys.full(key);
    if (data instanceof Uint8Array) {
      if (data.length <= MAX_SINGLE_PUT) return this.put(k, data);
      return this.staged(k, slices(data, this.cfg.buffer_size));
    }
    const parts = rechunk(data, this.cfg.buffer_size, this.cfg.max_buffers + 1);
    const first = await parts.next();
    if (first.done) return this.put(k, new Uint8Array(0));
    const second = await parts.next();
    if (second.done) return this.put(k, first.value.bytes);
    return this.staged(k, prepend([first.value, second.value], parts));
  }

  async list(prefix: string, opts: { delimiter?: string } = {}): Promise<ListResult> {
    const p = this.keys.fullPrefix(prefix);
    const objects: string[] = [];
    const prefixes: string[] = [];
    let continuationToken: string | undefined;
    const maxPageSize = this.opts.listPageSize ?? 5000;
    do {
      const page = await this.policy.run('list', p, async (abortSignal) => {
        try {
          const pages = opts.delimiter
            ? this.container.listBlobsByHierarchy(opts.delimiter, { prefix: p, abortSignal }).byPage({ continuationToken, maxPageSize })
            : this.container.listBlobsFlat({ prefix: p, abortSignal }).byPage({ continuationToken, maxPageSize });
          const r = await pages.next();
          return r.done ? undefined : r.value;
        } catch (err) {
          throw azureError(`list ${p}`, err);
        }
      });
      if (!page) break;
      for (const b of page.segment.blobItems) objects.push(this.keys.strip(b.name));
      const seg = page.segment as { blobPrefixes?: { name: string }[] };
      for (const bp of seg.blobPrefixes ?? []) prefixes.push(this.keys.strip(bp.name));
      continuationToken = page.continuationToken || undefined;
    } while (continuationToken);
    return { objects: objects.sort(), prefixes: prefixes.sort() };
  }

  async delete(key: string): Promise<void> {
    const k = this.keys.full(key);
    await this.policy.run('delete', k, async (abortSignal) => {
      try {
        await this.container.getBlobClient(k).deleteIfExists({ abortSignal });
      } catch (err) {
        throw azureError(`delete ${k}`, err);
      }
    });
  }

  async close(): Promise<void> {}

  private async download(k: string, key: string, abortSignal: AbortSignal, range?: { offset: number; length: number; total: number | undefined }): Promise<Buffer> {
    let res;
    try {
      res = await this.container.getBlobClient(k).download(range?.offset ?? 0, range?.length, { abortSignal });
    } catch (err) {
      if (isBlobMissing(err)) throw notFound(BACKEND, key);
      if ((err as RestErrorLike).statusCode === 416 && range) throw outOfRange(BACKEND, key, range.offset, range.length, undefined);
      throw azureError(`GET ${k}`, err);
    }
    if (range) {
      const total = /\/(\d+)$/.exec(res.contentRange ?? '')?.[1];
      if (total !== undefined) range.total = Number(total);
    }
    const body = res.readableStreamBody;
    if (!body) return Buffer.alloc(0);
    const onAbort = (): void => void (body as NodeJS.ReadableStream & { destroy(): void }).destroy();
    abortSignal.addEventListener('abort', onAbort, { once: true });
    try {
      return await collect(body as AsyncIterable<Uint8Array>, res.contentLength);
    } catch (err) {
      throw azureError(`GET ${k}`, err);
    } finally {
      abortSignal.removeEventListener('abort', onAbort);
    }
  }

  private async put(k: string, data: Uint8Array): Promise<void> {
    await this.policy.run('write', k, async (abortSignal) => {
      try {
        await this.container.getBlockBlobClient(k).upload(data, data.length, { abortSignal });
      } catch (err) {
        throw azureError(`PUT ${k}`, err);
      }
    });
  }

  private async staged(k: string, parts: AsyncIterable<Part>): Promise<void> {
    const blob = this.container.getBlockBlobClient(k);
    // Block IDs must have one length within a blob; a random upload ID keeps concurrent uploads apart.
    const upload = randomBytes(12).toString('hex');
    const ids: string[] = [];
    await forEachLimited(parts, this.cfg.max_buffers, async (part, i) => {
      if (i >= 50_000) throw new ConnectError(`${BACKEND}: ${k} needs more than 50000 blocks of ${this.cfg.buffer_size} bytes; raise storage.trace.azure.buffer_size`, Code.ResourceExhausted);
      const id = Buffer.from(`${upload}-${String(i).padStart(6, '0')}`).toString('base64');
      ids[i] = id;
      const body = part.bytes;
      await this.policy
        .run('write_part', k, async (abortSignal) => {
          try {
            await blob.stageBlock(id, body, body.length, { abortSignal });
          } catch (err) {
            throw azureError(`Put Block ${i} of ${k}`, err);
          }
        })
        .finally(() => part.release());
    });
    await this.policy.run('write', k, async (abortSignal) => {
      try {
        await blob.commitBlockList(ids, { abortSignal });
      } catch (err) {
        throw azureError(`Put Block List ${k}`, err);
      }
    });
  }
}
