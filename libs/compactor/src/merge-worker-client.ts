// Runs compaction merges on a worker thread, so decoding, combining and encoding traces leave the event
// loop free (in `-target=all` that loop also takes pushes and queries). One worker: the compactor runs
// one job at a time. Ownership is checked here on the main thread, four times a second; when `check`
// throws, the worker is told to abandon the merge and the job rejects with check's error.
// When the compiled worker script is not there (unit tests run the TypeScript sources), `available` is
// false and the compactor merges on its own thread.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { TraceStorageConfig } from '@stave/backend';
import type { BlockMeta } from '@stave/block';
import type { MergeJob, MergeStats } from './merge';

export interface MergeRunner {
  readonly available: boolean;
  run(job: MergeJob, check: () => void): Promise<{ output: BlockMeta; stats: MergeStats }>;
  close(): Promise<void>;
}

/**
 * The merge thread's initial old-generation size (MiB). Its live heap is small (~12 MiB: one row group's
 * bookkeeping) while it allocates pages by the hundred MiB, and with V8's default limits that kept it in
 * back-to-back full collections (measured: ~50 per 350k-span job, ~10% of its CPU and ~25% more on
 * V8's helper threads); with a 64 MiB floor, a third as many and ~10–25% less CPU per job, for up to
 * ~50 MiB more RSS. A V8 flag is process-wide, but it is read when an isolate is created: it is set just
 * before the worker starts and put back once the worker runs, so other threads keep the defaults.
 */
const MERGE_INITIAL_OLD_SPACE_MB = 64;

/**
 * How long the merge thread outlives its last job. A compaction cycle runs its jobs back to back (a few
 * ms of marking and listing between them): a thread kept that long runs them all warm. A new thread per
 * job loaded the modules again and ran the merge cold (interpreted until V8 optimised it again): measured
 * ~0.4–0.6 CPU-s more per 350k-span job than the same job run a second time in one isolate, ~10% of a job.
 * Past this idle time the thread ends, so the heap and buffers it grew (~90 MiB after a 1.75M-span run)
 * are not held between cycles.
 */
export const MERGE_THREAD_IDLE_MS = 2000;

function startMergeThread(script: string): Worker {
  setFlagsFromString(`--initial-old-space-size=${MERGE_INITIAL_OLD_SPACE_MB}`);
  const restore = () => setFlagsFromString('--initial-old-space-size=0');
  let w: Worker;
  try {
    w = new Worker(script);
  } catch (err) {
    restore();
    throw err;
  }
  w.once('online', restore);
  w.once('exit', restore);
  return w;
}

type Reply = { result: { output: BlockMeta; stats: MergeStats }; error?: undefined } | { error: string };

export class MergeWorker implements MergeRunner {
  private readonly script = path.join(__dirname, 'merge-worker.js');
  private worker: Worker | undefined;
  private idle: NodeJS.Timeout | undefined;

  /** `storage`: the `storage.trace` config the worker builds its own object store from. */
  constructor(private readonly storage: TraceStorageConfig) {}

  get available(): boolean {
    return existsSync(this.script);
  }

  run(job: MergeJob, check: () => void): Promise<{ output: BlockMeta; stats: MergeStats }> {
    clearTimeout(this.idle);
    this.idle = undefined;
    if (!this.worker) {
      const started = startMergeThread(this.script);
      started.unref();
      // A thread that ends while idle is not given the next job.
      started.once('exit', () => {
        if (this.worker === started) this.worker = undefined;
      });
      this.worker = started;
    }
    const w = this.worker;
    return new Promise((resolve, reject) => {
      let abandoned: Error | undefined;
      const timer = setInterval(() => {
        try {
          check();
        } catch (err) {
          abandoned = err as Error;
          clearInterval(timer);
          w.postMessage({ abort: abandoned.message });
        }
      }, 250);
      const done = () => {
        clearInterval(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
      };
      const onMessage = (msg: Reply) => {
        done();
        // A failed or abandoned merge may have left the thread in any state: it ends with its job. After a
        // merge that succeeded it waits MERGE_THREAD_IDLE_MS for the next job.
        if (msg.error !== undefined) {
          this.retire(w);
          reject(abandoned ?? new Error(msg.error));
        } else {
          this.retireWhenIdle(w);
          resolve(msg.result);
        }
      };
      const onError = (err: Error) => {
        done();
        this.worker = undefined;
        reject(err);
      };
      const onExit = (code: number) => {
        done();
        this.worker = undefined;
        reject(abandoned ?? new Error(`compaction worker exited with code ${code}`));
      };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      // A plain copy: the config may be a wrapper object that cannot cross threads as it is.
      w.postMessage({ storage: JSON.parse(JSON.stringify(this.storage)) as TraceStorageConfig, job });
    });
  }

  /** Ends `w` once it has been idle for MERGE_THREAD_IDLE_MS (a new job cancels that). */
  private retireWhenIdle(w: Worker): void {
    if (this.worker !== w) {
      void w.terminate();
      return;
    }
    this.idle = setTimeout(() => this.retire(w), MERGE_THREAD_IDLE_MS);
    this.idle.unref();
  }

  private retire(w: Worker): void {
    if (this.worker === w) {
      clearTimeout(this.idle);
      this.idle = undefined;
      this.worker = undefined;
    }
    void w.terminate();
  }

  async close(): Promise<void> {
    clearTimeout(this.idle);
    this.idle = undefined;
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}
