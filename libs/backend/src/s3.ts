// The S3 backend (`storage.trace.backend: s3`), on @aws-sdk/client-s3: AWS or any S3-compatible store
// (MinIO, Ceph, s3rver), path-style or virtual-host addressing, static keys or the SDK's default
// credential chain (env, profile, web identity, instance role).
//
// Writes: an object up to `part_size` is one PutObject; anything larger, and any stream that outgrows
// one part, is a multipart upload whose parts are retried one by one and which is aborted on failure, so
// memory stays at a few parts whatever the object size. Both are atomic: S3 shows an object only
// once PutObject or CompleteMultipartUpload succeeds.

import http from 'node:http';
import https from 'node:https';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Code, ConnectError } from '@stave/core';
import { collect, forEachLimited, type Part } from './chunks';
import type { S3Config } from './config';
import { backendError, notFound, outOfRange } from './errors';
import type { ObjectInfo } from './object-store';
import type { RequestPolicy } from './policy';
import { RemoteStore, type ListPage, type RangeRequest, type UploadShape } from './remote-store';

const BACKEND = 's3';
/** S3's own limit on ListObjectsV2 pages. */
const MAX_LIST_PAGE = 1000;
/** Parts uploaded at once by one streamed write: memory is (this + 1) × part_size. */
const PART_CONCURRENCY = 2;

export interface S3StoreOptions {
  readonly policy: RequestPolicy;
  /** Tests: a page size below S3's 1000, to exercise continuation tokens. */
  readonly listPageSize?: number;
  /** Tests: resolve virtual-host names (`<bucket>.s3.localhost`) without DNS. */
  readonly lookup?: http.AgentOptions['lookup'];
}

interface SdkError {
  name?: string;
  $metadata?: { httpStatusCode?: number };
  ActualObjectSize?: string;
}

function s3Error(what: string, err: unknown): ConnectError {
  const e = err as SdkError;
  if (e?.name === 'NoSuchBucket')
    return new ConnectError(`${BACKEND}: ${what} failed: bucket does not exist`, Code.FailedPrecondition, undefined, undefined, err);
  return backendError(BACKEND, what, err, e?.$metadata?.httpStatusCode);
}

/** `host[:port]` (Tempo's form, scheme from `insecure`) or a full URL. */
export function s3EndpointURL(cfg: Pick<S3Config, 'endpoint' | 'insecure'>): string | undefined {
  if (cfg.endpoint === '') return undefined;
  if (/^https?:\/\//.test(cfg.endpoint)) return cfg.endpoint;
  return `${cfg.insecure ? 'http' : 'https'}://${cfg.endpoint}`;
}

export class S3Store extends RemoteStore {
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly agents: (http.Agent | https.Agent)[];

  constructor(
    private readonly cfg: S3Config,
    private readonly opts: S3StoreOptions,
  ) {
    super(BACKEND, cfg.prefix, opts.policy);
    this.bucket = cfg.bucket;
    const endpoint = s3EndpointURL(cfg);
    const agentOpts = { keepAlive: true, maxSockets: 64, ...(opts.lookup ? { lookup: opts.lookup } : {}) };
    const httpAgent = new http.Agent(agentOpts);
    const httpsAgent = new https.Agent({ ...agentOpts, rejectUnauthorized: !cfg.insecure_skip_verify });
    this.agents = [httpAgent, httpsAgent];
    const config: S3ClientConfig = {
      region: cfg.region || (endpoint ? 'us-east-1' : undefined),
      endpoint,
      // bucket_lookup_type: 0 auto (virtual-host unless forcepathstyle), 1 virtual-host, 2 path-style.
      forcePathStyle: cfg.bucket_lookup_type === 2 || (cfg.bucket_lookup_type === 0 && cfg.forcepathstyle),
      // The request policy retries; the SDK's own retries would multiply attempts and hide them from metrics.
      maxAttempts: 1,
      // Checksums only where S3 requires them: S3-compatible stores (s3rver, older MinIO/Ceph) reject or
      // mangle the SDK's default CRC32 trailers, and TLS already guards the bytes in flight.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({ httpAgent, httpsAgent, connectionTimeout: Math.min(10_000, opts.policy.opts.timeoutMs || 10_000) }),
    };
    if (cfg.access_key !== '' || cfg.secret_key !== '') {
      config.credentials = { accessKeyId: cfg.access_key, secretAccessKey: cfg.secret_key, ...(cfg.session_token ? { sessionToken: cfg.session_token } : {}) };
    }
    this.client = new S3Client(config);
  }

  async stat(key: string): Promise<ObjectInfo> {
    const k = this.keys.full(key);
    return this.policy.run(
      'stat',
      k,
      async (signal) => {
        try {
          const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: k }), { abortSignal: signal });
          return { size: res.ContentLength ?? 0 };
        } catch (err) {
          if ((err as SdkError).$metadata?.httpStatusCode === 404) throw notFound(BACKEND, key);
          throw s3Error(`HEAD ${k}`, err);
        }
      },
      { hedge: true },
    );
  }

  protected uploadShape(): UploadShape {
    return { maxSinglePut: this.cfg.part_size, partSize: this.cfg.part_size, streamBuffers: PART_CONCURRENCY + 1 };
  }

  protected async listPage(p: string, delimiter: string | undefined, token: string | undefined, signal: AbortSignal): Promise<ListPage> {
    let page;
    try {
      page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: p,
          Delimiter: delimiter,
          ContinuationToken: token,
          MaxKeys: Math.min(MAX_LIST_PAGE, this.opts.listPageSize ?? MAX_LIST_PAGE),
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      throw s3Error(`LIST ${p}`, err);
    }
    return {
      objects: (page.Contents ?? []).flatMap((o) => (o.Key !== undefined ? [o.Key] : [])),
      prefixes: (page.CommonPrefixes ?? []).flatMap((cp) => (cp.Prefix !== undefined ? [cp.Prefix] : [])),
      next: page.IsTruncated ? page.NextContinuationToken : undefined,
    };
  }

  async delete(key: string): Promise<void> {
    const k = this.keys.full(key);
    await this.policy.run('delete', k, async (signal) => {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: k }), { abortSignal: signal });
      } catch (err) {
        // S3 answers 204 for a missing key; some S3-compatible stores answer 404.
        if ((err as SdkError).$metadata?.httpStatusCode === 404 && (err as SdkError).name !== 'NoSuchBucket') return;
        throw s3Error(`DELETE ${k}`, err);
      }
    });
  }

  async close(): Promise<void> {
    this.client.destroy();
    for (const a of this.agents) a.destroy();
  }

  protected async download(k: string, key: string, signal: AbortSignal, r?: RangeRequest): Promise<Uint8Array> {
    const res = await this.get(k, key, signal, r);
    const bytes = await this.body(res.Body, res.ContentLength, signal, `GET ${k}`);
    if (!r) return bytes;
    const { offset, length } = r;
    // HTTP lets a server ignore Range and send the whole object (200): take the range from it.
    const cr = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.ContentRange ?? '');
    const start = cr ? Number(cr[1]) : 0;
    const total = cr && cr[2] !== '*' ? Number(cr[2]) : cr ? undefined : bytes.length;
    if (start > offset || start + bytes.length < offset + length) throw outOfRange(BACKEND, key, offset, length, total);
    return bytes.length === length && start === offset ? bytes : bytes.subarray(offset - start, offset - start + length);
  }

  private async get(k: string, key: string, signal: AbortSignal, r?: RangeRequest) {
    const range = r ? `bytes=${r.offset}-${r.offset + r.length - 1}` : undefined;
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: k, Range: range }), { abortSignal: signal });
    } catch (err) {
      const e = err as SdkError;
      if (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket') throw notFound(BACKEND, key);
      if (e.$metadata?.httpStatusCode === 416 && r)
        throw outOfRange(BACKEND, key, r.offset, r.length, e.ActualObjectSize ? Number(e.ActualObjectSize) : undefined);
      throw s3Error(`GET ${k}`, err);
    }
  }

  private async body(body: unknown, length: number | undefined, signal: AbortSignal, what: string): Promise<Buffer> {
    const stream = body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    if (!stream) return Buffer.alloc(0);
    // The SDK's signal stops applying once headers are in: a deadline must also stop the body.
    const onAbort = (): void => stream.destroy?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await collect(stream, length);
    } catch (err) {
      throw s3Error(what, err);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private extra(): { StorageClass?: StorageClass; Tagging?: string } {
    const tags = Object.entries(this.cfg.tags);
    return {
      ...(this.cfg.storage_class ? { StorageClass: this.cfg.storage_class as StorageClass } : {}),
      ...(tags.length > 0 ? { Tagging: new URLSearchParams(tags).toString() } : {}),
    };
  }

  protected async putSingle(k: string, body: Uint8Array): Promise<void> {
    await this.policy.run('write', k, async (signal) => {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: k, Body: body, ContentLength: body.length, ...this.extra() }), {
          abortSignal: signal,
        });
      } catch (err) {
        throw s3Error(`PUT ${k}`, err);
      }
    });
  }

  protected async putParts(k: string, parts: AsyncIterable<Part>): Promise<void> {
    const created = await this.policy.run('write_part', k, async (signal) => {
      try {
        return await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: k, ...this.extra() }), { abortSignal: signal });
      } catch (err) {
        throw s3Error(`CreateMultipartUpload ${k}`, err);
      }
    });
    const uploadId = created.UploadId!;
    const etags: { PartNumber: number; ETag: string }[] = [];
    try {
      await forEachLimited(parts, PART_CONCURRENCY, async (part, i) => {
        const n = i + 1;
        if (n > 10_000)
          throw new ConnectError(
            `${BACKEND}: ${k} needs more than 10000 parts of ${this.cfg.part_size} bytes; raise storage.trace.s3.part_size`,
            Code.ResourceExhausted,
          );
        const body = part.bytes;
        const res = await this.policy
          .run('write_part', k, async (signal) => {
            try {
              return await this.client.send(
                new UploadPartCommand({ Bucket: this.bucket, Key: k, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: body.length }),
                { abortSignal: signal },
              );
            } catch (err) {
              throw s3Error(`UploadPart ${n} of ${k}`, err);
            }
          })
          .finally(() => part.release());
        etags.push({ PartNumber: n, ETag: res.ETag! });
      });
      etags.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.policy.run('write', k, async (signal) => {
        try {
          await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: k, UploadId: uploadId, MultipartUpload: { Parts: etags } }), {
            abortSignal: signal,
          });
        } catch (err) {
          throw s3Error(`CompleteMultipartUpload ${k}`, err);
        }
      });
    } catch (err) {
      // Best effort: an upload left behind costs storage until a bucket lifecycle rule removes it.
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: k, UploadId: uploadId })).catch(() => undefined);
      throw err;
    }
  }
}
