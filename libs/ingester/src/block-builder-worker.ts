// Worker thread entry: builds blocks for BlockBuilderPool, one job at a time.
import { parentPort } from 'node:worker_threads';
import { buildBlock, type BuildJob } from './block-builder';

parentPort?.on('message', (job: BuildJob) => {
  buildBlock(job).then(
    (meta) => parentPort!.postMessage({ meta }),
    (err: unknown) => parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) }),
  );
});
