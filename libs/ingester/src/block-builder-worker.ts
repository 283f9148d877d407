// Worker thread entry: builds blocks for BlockBuilderPool, one job at a time.
import { parentPort } from 'node:worker_threads';
import { buildBlock, type BuildJob } from './block-builder';
import { collectGarbage } from './thread-memory';
import { releasePageBuffers } from '@stave/block';

parentPort?.on('message', (job: BuildJob) => {
  buildBlock(job)
    .then(
      (meta) => parentPort!.postMessage({ meta }),
      (err: unknown) => parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) }),
    )
    // After the answer, so that the build's wall time does not include it (the next job waits ~10-25 ms):
    // the page buffers kept for reuse and the build's garbage are not held while the thread is idle.
    .finally(() => {
      releasePageBuffers();
      collectGarbage();
    });
});
