// Worker thread entry for MergeWorker: runs one merge at a time against its own object store (built from
// the same storage config as the main thread's). A message {abort: reason} abandons the running merge at
// the next trace.
import { parentPort } from 'node:worker_threads';
import { createObjectStore, type ManagedObjectStore, type TraceStorageConfig } from '@stave/backend';
import { writeMergedBlock, type MergeJob } from './merge';

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
