// Worker thread entry for MergeWorker: runs one merge at a time against its own object store (built from
// the same storage config as the main thread's). A message {abort: reason} abandons the running merge at
// the next trace.
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { createObjectStore, type ManagedObjectStore, type TraceStorageConfig } from '@stave/backend';
import { writeMergedBlock, type MergeJob } from './merge';

/**
 * Compaction is background work. On Linux a thread's nice value is its own (pid 0 names the calling thread),
 * so this lowers only the merge thread: when cores are short, queries and pushes on the main thread get the
 * CPU first and compaction takes what is left.
 */
const MERGE_THREAD_NICE = 10;
if (parentPort) setPriority(0, MERGE_THREAD_NICE);

let store: ManagedObjectStore | undefined;
let abort: string | undefined;

parentPort?.on('message', (msg: { storage: TraceStorageConfig; job: MergeJob } | { abort: string }) => {
  if ('abort' in msg) {
    abort = msg.abort;
    return;
  }
  abort = undefined;
  store ??= createObjectStore(msg.storage);
  const check = () => {
    if (abort !== undefined) throw new Error(abort);
  };
  writeMergedBlock(store, msg.job, check).then(
    (result) => parentPort!.postMessage({ result }),
    (err: unknown) => parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) }),
  );
});
