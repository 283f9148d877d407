// Worker thread entry for SplitPool (split-pool.ts): splits one request at a time into framed WAL records.
import { parentPort } from 'node:worker_threads';
import { splitFramed, type SplitTask } from './split-pool';

parentPort?.on('message', (task: SplitTask) => {
  const { answer, transfer } = splitFramed(task);
  parentPort!.postMessage(answer, transfer);
});
