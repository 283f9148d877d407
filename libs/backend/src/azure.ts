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
import { AnonymousCredential, BlobServiceClient, StorageSharedKeyCredential, type ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { Code, ConnectError } from '@stave/core';
import { collect, forEachLimited, type Part } from './chunks';
import type { AzureConfig } from './config';
import { backendError, notFound, outOfRange } from './errors';
import type { ObjectInfo } from './object-store';
import type { RequestPolicy } from './policy';
import { RemoteStore, type ListPage, type RangeRequest, type UploadShape } from './remote-store';

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
  if (e?.code === 'ContainerNotFound')
    return new ConnectError(`${BACKEND}: ${what} failed: container does not exist`, Code.FailedPrecondition, undefined, undefined, err);
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

export class AzureStore extends RemoteStore {
  readonly container: ContainerClient;

  constructor(
    private readonly cfg: AzureConfig,
    private readonly opts: AzureStoreOptions,
  ) {
    super(BACKEND, cfg.prefix, opts.policy);
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

  async stat(key: string): Promise<ObjectInfo> {
    const k = this.keys.full(key);
    return this.policy.run(
      'stat',
      k,
      async (abortSignal) => {
        try {
          const p = await this.container.getBlobClient(k).getProperties({ abortSignal });
          return { size: p.contentLength ?? 0 };
        } catch (err) {
          if (isBlobMissing(err)) throw notFound(BACKEND, key);
          throw azureError(`HEAD ${k}`, err);
        }
      },
      { hedge: true },
    );
  }

  protected uploadShape(): UploadShape {
    return { maxSinglePut: MAX_SINGLE_PUT, partSize: this.cfg.buffer_size, streamBuffers: this.cfg.max_buffers + 1 };
  }

  protected async listPage(
    p: string,
    delimiter: string | undefined,
    continuationToken: string | undefined,
    abortSignal: AbortSignal,
  ): Promise<ListPage | undefined> {
    const maxPageSize = this.opts.listPageSize ?? 5000;
    let page;
    try {
      const pages = delimiter
        ? this.container.listBlobsByHierarchy(delimiter, { prefix: p, abortSignal }).byPage({ continuationToken, maxPageSize })
        : this.container.listBlobsFlat({ prefix: p, abortSignal }).byPage({ continuationToken, maxPageSize });
      const r = await pages.next();
      if (r.done) return undefined;
      page = r.value;
    } catch (err) {
      throw azureError(`list ${p}`, err);
    }
    const seg = page.segment as { blobPrefixes?: { name: string }[] };
    return {
      objects: page.segment.blobItems.map((b) => b.name),
      prefixes: (seg.blobPrefixes ?? []).map((bp) => bp.name),
      next: page.continuationToken,
    };
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

  protected async download(k: string, key: string, abortSignal: AbortSignal, range?: RangeRequest): Promise<Uint8Array> {
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

  protected async putSingle(k: string, data: Uint8Array): Promise<void> {
    await this.policy.run('write', k, async (abortSignal) => {
      try {
        await this.container.getBlockBlobClient(k).upload(data, data.length, { abortSignal });
      } catch (err) {
        throw azureError(`PUT ${k}`, err);
      }
    });
  }

  protected async putParts(k: string, parts: AsyncIterable<Part>): Promise<void> {
    const blob = this.container.getBlockBlobClient(k);
    // Block IDs must have one length within a blob; a random upload ID keeps concurrent uploads apart.
    const upload = randomBytes(12).toString('hex');
    const ids: string[] = [];
    await forEachLimited(parts, this.cfg.max_buffers, async (part, i) => {
      if (i >= 50_000)
        throw new ConnectError(
          `${BACKEND}: ${k} needs more than 50000 blocks of ${this.cfg.buffer_size} bytes; raise storage.trace.azure.buffer_size`,
          Code.ResourceExhausted,
        );
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
