// ObjectStore wrappers for tests: count what a reader fetches, or fail a write part-way.

import type { ListResult, ObjectInfo, ObjectStore } from '@stave/backend';
import { errors } from '@stave/core';

export class CountingStore implements ObjectStore {
  /** Every read: whole objects have no offset. */
  readonly readLog: { key: string; bytes: number; offset?: number }[] = [];
  readonly writeLog: string[] = [];

  constructor(readonly inner: ObjectStore) {}

  get reads(): number {
    return this.readLog.length;
  }

  reset(): void {
    this.readLog.length = 0;
  }

  async read(key: string): Promise<Uint8Array> {
    const b = await this.inner.read(key);
    this.readLog.push({ key, bytes: b.length });
    return b;
  }

  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const b = await this.inner.readRange(key, offset, length);
    this.readLog.push({ key, bytes: b.length, offset });
    return b;
  }

  stat(key: string): Promise<ObjectInfo> {
    return this.inner.stat(key);
  }

  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    await this.inner.write(key, data);
    this.writeLog.push(key);
  }

  list(prefix: string, opts?: { delimiter?: string }): Promise<ListResult> {
    return this.inner.list(prefix, opts);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
}

/**
 * Fails the write of the first key matching `failOn`: a streamed write fails after `afterChunks` chunks
 * have gone through (so the inner store saw a partial stream), a whole-object write fails outright.
 */
export class FailingStore extends CountingStore {
  constructor(
    inner: ObjectStore,
    private readonly failOn: (key: string) => boolean,
    private readonly afterChunks = 2,
  ) {
    super(inner);
  }

  override async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    if (!this.failOn(key)) return super.write(key, data);
    if (data instanceof Uint8Array) throw errors.unavailable(`injected failure writing ${key}`);
    const limit = this.afterChunks;
    async function* cut(): AsyncGenerator<Uint8Array> {
      let n = 0;
      for await (const chunk of data as AsyncIterable<Uint8Array>) {
        if (n++ >= limit) throw errors.unavailable(`injected failure writing ${key} after ${limit} chunks`);
        yield chunk;
      }
    }
    return super.write(key, cut());
  }
}
