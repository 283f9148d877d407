// What the remote backends (S3, GCS, Azure) share: the ObjectStore methods whose logic does not depend on
// the service — range checks, the request-policy wrappers around reads, the single-versus-streamed upload
// choice and list pagination. Each store supplies only its primitives (download, stat, a single PUT, a
// parted upload, one page of a listing) and keeps its own error mapping inside them.

import { rechunk, prepend, slices, type Part } from './chunks';
import { checkRange, outOfRange } from './errors';
import { Keyspace } from './keyspace';
import type { ListResult, ObjectInfo, ObjectStore } from './object-store';
import type { RequestPolicy } from './policy';

/** A ranged download; the store sets `total` when the service reports the object's size. */
export interface RangeRequest {
  readonly offset: number;
  readonly length: number;
  total: number | undefined;
}

/** How a store splits writes. */
export interface UploadShape {
  /** An in-memory object up to this size is one single PUT. */
  readonly maxSinglePut: number;
  /** Part size of a parted upload; a stream that fits in one part is a single PUT. */
  readonly partSize: number;
  /** Parts a streamed write buffers at once (see `rechunk`). */
  readonly streamBuffers: number;
}

/** One page of a listing, keys still carrying the store's prefix; `next` is the token of the next page. */
export interface ListPage {
  readonly objects: string[];
  readonly prefixes: string[];
  readonly next: string | undefined;
}

export abstract class RemoteStore implements ObjectStore {
  protected readonly keys: Keyspace;

  constructor(
    /** The backend's name in error messages (`s3`, `gcs`, `azure`). */
    protected readonly backend: string,
    prefix: string,
    protected readonly policy: RequestPolicy,
  ) {
    this.keys = new Keyspace(prefix);
  }

  /** The whole object, or with `range` exactly those bytes; maps a missing object to NotFound. */
  protected abstract download(fullKey: string, key: string, signal: AbortSignal, range?: RangeRequest): Promise<Uint8Array>;
  /** One request writing the whole object, under the request policy. */
  protected abstract putSingle(fullKey: string, data: Uint8Array): Promise<void>;
  /** A multi-request upload of `parts` that the service shows only once complete. */
  protected abstract putParts(fullKey: string, parts: AsyncIterable<Part>): Promise<void>;
  /** One page of a listing (run under the request policy), or undefined when there is none. */
  protected abstract listPage(fullPrefix: string, delimiter: string | undefined, token: string | undefined, signal: AbortSignal): Promise<ListPage | undefined>;
  protected abstract uploadShape(): UploadShape;

  abstract stat(key: string): Promise<ObjectInfo>;
  abstract delete(key: string): Promise<void>;
  abstract close(): Promise<void>;

  async read(key: string): Promise<Uint8Array> {
    const k = this.keys.full(key);
    return this.policy.run('read', k, (signal) => this.download(k, key, signal), { hedge: true });
  }

  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.backend, key, offset, length);
    const k = this.keys.full(key);
    if (length === 0) {
      // HTTP has no empty range: check the bounds with a stat.
      const { size } = await this.stat(key);
      if (offset > size) throw outOfRange(this.backend, key, offset, length, size);
      return new Uint8Array(0);
    }
    return this.policy.run(
      'read_range',
      k,
      async (signal) => {
        const r: RangeRequest = { offset, length, total: undefined };
        const bytes = await this.download(k, key, signal, r);
        if (bytes.length !== length) throw outOfRange(this.backend, key, offset, length, r.total);
        return bytes;
      },
      { hedge: true },
    );
  }

  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    const k = this.keys.full(key);
    const shape = this.uploadShape();
    if (data instanceof Uint8Array) {
      if (data.length <= shape.maxSinglePut) return this.putSingle(k, data);
      return this.putParts(k, slices(data, shape.partSize));
    }
    // Peek at the first two parts: a stream that fits in one part is a single (retryable) PUT.
    const parts = rechunk(data, shape.partSize, shape.streamBuffers);
    const first = await parts.next();
    if (first.done) return this.putSingle(k, new Uint8Array(0));
    const second = await parts.next();
    if (second.done) return this.putSingle(k, first.value.bytes);
    return this.putParts(k, prepend([first.value, second.value], parts));
  }

  async list(prefix: string, opts: { delimiter?: string } = {}): Promise<ListResult> {
    const p = this.keys.fullPrefix(prefix);
    const objects: string[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.policy.run('list', p, (signal) => this.listPage(p, opts.delimiter || undefined, token, signal));
      if (!page) break;
      for (const o of page.objects) objects.push(this.keys.strip(o));
      for (const cp of page.prefixes) prefixes.push(this.keys.strip(cp));
      token = page.next || undefined;
    } while (token);
    return { objects: objects.sort(), prefixes: prefixes.sort() };
  }
}
