// Request metrics for a store that has no request policy of its own (the local filesystem): one
// observation per call, with the same names and labels the remote backends use.

import { codeOf, httpStatusOf } from '@stave/core';
import type { BackendMetrics, Operation } from './metrics';
import type { ListResult, ObjectInfo, ObjectStore } from './object-store';

export class InstrumentedStore implements ObjectStore {
  constructor(
    readonly inner: ObjectStore,
    private readonly metrics: BackendMetrics,
  ) {}

  private async time<T>(op: Operation, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let status = 200;
    try {
      return await fn();
    } catch (err) {
      status = httpStatusOf(codeOf(err));
      throw err;
    } finally {
      this.metrics.requestDuration.observe({ operation: op, status_code: String(status) }, (performance.now() - t0) / 1000);
    }
  }

  read(key: string): Promise<Uint8Array> {
    return this.time('read', () => this.inner.read(key));
  }
  readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    return this.time('read_range', () => this.inner.readRange(key, offset, length));
  }
  stat(key: string): Promise<ObjectInfo> {
    return this.time('stat', () => this.inner.stat(key));
  }
  write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    return this.time('write', () => this.inner.write(key, data));
  }
  list(prefix: string, opts?: { delimiter?: string }): Promise<ListResult> {
    return this.time('list', () => this.inner.list(prefix, opts));
  }
  delete(key: string): Promise<void> {
    return this.time('delete', () => this.inner.delete(key));
  }
}
