// Worker thread entry: the combine half of a block build (block-combine.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { combinedTraces } from './block-builder';
import { BATCH_BYTES, CTRL_ABORT, CTRL_IN_FLIGHT, MAX_BATCHES_IN_FLIGHT, type CombineMessage, type CombineWorkerData } from './block-combine';

const { segmentPath, parts, ctrl } = workerData as CombineWorkerData;
const post = (m: CombineMessage, transfer?: ArrayBuffer[]): void => parentPort!.postMessage(m, transfer);

/** Waits for room for one more batch; false when the build was aborted. */
function reserve(): boolean {
  for (;;) {
    if (Atomics.load(ctrl, CTRL_ABORT) !== 0) return false;
    const n = Atomics.load(ctrl, CTRL_IN_FLIGHT);
    if (n < MAX_BATCHES_IN_FLIGHT) {
      Atomics.add(ctrl, CTRL_IN_FLIGHT, 1);
      return true;
    }
    Atomics.wait(ctrl, CTRL_IN_FLIGHT, n, 1000);
  }
}

function run(): void {
  let batch: Uint8Array = Buffer.allocUnsafeSlow(BATCH_BYTES);
  let view = Buffer.from(batch.buffer);
  let used = 0;
  const send = (): boolean => {
    if (!reserve()) return false;
    const out = batch.subarray(0, used);
    post({ batch: out }, [batch.buffer as ArrayBuffer]);
    batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
    view = Buffer.from(batch.buffer);
    used = 0;
    return true;
  };
  for (const { id, encoded } of combinedTraces(segmentPath, parts)) {
    const need = 20 + encoded.length;
    if (used > 0 && used + need > batch.length && !send()) return;
    if (need > batch.length) {
      // A trace larger than a batch travels alone.
      batch = Buffer.allocUnsafeSlow(need);
      view = Buffer.from(batch.buffer);
    }
    view.writeUInt32LE(encoded.length, used);
    view.set(id, used + 4);
    view.set(encoded, used + 20);
    used += need;
  }
  if (used > 0 && !send()) return;
  post({ done: true });
}

try {
  run();
} catch (err) {
  post({ error: err instanceof Error ? err.message : String(err) });
}
