// The flusher: turns cut head blocks into complete blocks (built on worker threads into wal/blocks) and
// copies them to the backend, `concurrent_flushes` at a time, retrying with jittered backoff while the
// ingester runs. Each copy to the backend is bounded by ingester.flush_op_timeout, so a hung object
// store costs a retry, not a stuck queue.

import { rm } from 'node:fs/promises';
import { copyBlockObjects, type LocalStore, type ObjectStore } from '@stave/backend';
import { openBlock, type BlockCache } from '@stave/block';
import { Code, ConnectError, type Logger } from '@stave/server';
import type { BlockBuilderPool } from './block-builder';
import type { CompleteBlock, FlushJob } from './instance';
import type { IngesterMetrics } from './metrics';

export interface FlusherOptions {
  store: ObjectStore;
  completeStore: LocalStore;
  /** Shared by the readers of every complete block (bloom shards and index pages). */
  blockCache: BlockCache;
  builders: BlockBuilderPool;
  metrics: IngesterMetrics;
  log: Logger;
  concurrency: number;
  /** ingester.flush_op_timeout: one copy of one block to the backend. */
  opTimeoutMs: number;
  block: { bloomFalsePositive: number; bloomShardSizeBytes: number; rowGroupSizeBytes: number };
  now: () => number;
  /** An error no retry can mend (a bug): the ingester fails. */
  onFatal: (err: unknown) => void;
}

/**
 * How failed flushes are handled: `retry` while the ingester runs; `once` while it shuts down flushing
 * (every queued block, and every block waiting out a backoff, gets one more attempt); `stop` while it
 * shuts down without flushing (queued blocks are left alone). What is not flushed stays on local disk
 * and is replayed on the next start.
 */
export type RetryMode = 'retry' | 'once' | 'stop';

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 60_000;

export class Flusher {
  /** Blocks waiting to be built (`head`) and/or flushed (`complete`), in order. */
  private readonly queue: FlushJob[] = [];
  private active = 0;
  private readonly idleWaiters = new Set<() => void>();
  private readonly sleepers = new Set<() => void>();
  private mode: RetryMode = 'retry';
  /** The last flush error, for /flush's timeout message. */
  lastError: string | undefined;
  /** Blocks given up on outside 'retry' mode: left on local disk for the next start. */
  leftOnDisk = 0;

  constructor(private readonly opts: FlusherOptions) {}

  /** Blocks queued or being built/flushed. */
  get pending(): number {
    return this.queue.length + this.active;
  }

  /** Changes how failures are handled; blocks waiting out a backoff act on it at once. */
  setMode(mode: RetryMode): void {
    this.mode = mode;
    if (mode === 'stop') this.queue.length = 0;
    for (const wake of [...this.sleepers]) wake();
  }

  enqueue(job: FlushJob): void {
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    while (this.active < this.opts.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.active++;
      this.run(job)
        .catch((err: unknown) => this.opts.onFatal(err))
        .finally(() => {
          this.active--;
          for (const w of this.idleWaiters) w();
          this.pump();
        });
    }
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.pending === 0) {
          this.idleWaiters.delete(check);
          resolve();
        }
      };
      this.idleWaiters.add(check);
      check();
    });
  }

  /**
   * Builds the block (once, when the job has a head) and flushes it, retrying with jittered backoff
   * in 'retry' mode: a block left behind is picked up by replay on the next start.
   */
  private async run(job: FlushJob): Promise<void> {
    const { inst, head } = job;
    let complete = job.complete;
    await head?.segment.seal();
    let backoff = FIRST_BACKOFF_MS;
    for (;;) {
      try {
        if (!complete) {
          const h = head!;
          const meta = await this.opts.builders.build({
            segmentPath: h.segment.path,
            parts: h.pack(),
            storeRoot: this.opts.completeStore.root,
            tenant: inst.tenant,
            blockID: h.blockID,
            ...this.opts.block,
          });
          const built: CompleteBlock = { meta, reader: openBlock(this.opts.completeStore, meta, { cache: this.opts.blockCache }), flushedMs: undefined };
          complete = built;
          inst.complete.push(built);
          inst.completing.splice(inst.completing.indexOf(h), 1);
          await h.segment.close();
          await rm(h.segment.path, { force: true });
        }
        await this.copy(inst.tenant, complete.meta.blockID);
        complete.flushedMs = this.opts.now();
        this.opts.metrics.blocksFlushed.inc();
        this.opts.log.info('flushed block', { tenant: inst.tenant, block: complete.meta.blockID, traces: complete.meta.totalObjects });
        return;
      } catch (err) {
        this.opts.metrics.failedFlushes.inc();
        this.lastError = err instanceof Error ? err.message : String(err);
        const block = complete?.meta.blockID ?? head!.blockID;
        if (this.mode !== 'retry') {
          this.leftOnDisk++;
          this.opts.log.warn('block flush failed; left on disk for the next start', { tenant: inst.tenant, block, err });
          return;
        }
        this.opts.log.warn('block flush failed; retrying', { tenant: inst.tenant, block, err, retry_in_ms: backoff });
        await this.sleep(backoff * (0.5 + Math.random()));
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        if ((this.mode as RetryMode) === 'stop') return;
      }
    }
  }

  /** A backoff that `setMode` cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  /**
   * Copies one block to the backend within flush_op_timeout. ObjectStore calls take no abort signal: a
   * copy that times out may still finish in the background, which is harmless (writes are atomic and the
   * retry writes the same bytes).
   */
  private async copy(tenant: string, blockID: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new ConnectError(`flushing block ${blockID} took longer than ingester.flush_op_timeout (${this.opts.opTimeoutMs} ms)`, Code.DeadlineExceeded)),
        this.opts.opTimeoutMs,
      );
    });
    const copying = copyBlockObjects(this.opts.completeStore, this.opts.store, tenant, blockID);
    copying.catch(() => undefined); // reported through the race below, or moot after a timeout
    try {
      await Promise.race([copying, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
