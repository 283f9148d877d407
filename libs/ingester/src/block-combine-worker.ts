// Worker thread entry: the combine half of a block build (block-combine.ts), for its share of the chunks.
// One job at a time, as messages: the thread is kept between builds (see block-combine.ts).
import { parentPort } from 'node:worker_threads';
import { combinedTraces } from './combined-traces';
import {
  BATCH_BYTES,
  CHUNK_TRACES,
  chunkOwner,
  RECORD_HEADER,
  recordBytes,
  CTRL_ABORT,
  CTRL_IN_FLIGHT,
  MAX_BATCHES_IN_FLIGHT,
  type CombineMessage,
  type CombineWorkerData,
} from './block-combine';

const post = (m: CombineMessage, transfer?: ArrayBuffer[]): void => parentPort!.postMessage(m, transfer);

/** Waits for room for one more batch; false when the build was aborted. */
function reserve(ctrl: Int32Array): boolean {
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

function run({ segmentPath, parts, index, threads, ctrl }: CombineWorkerData): void {
  let batch: Buffer = Buffer.allocUnsafeSlow(BATCH_BYTES);
  let used = 0;
  /** Sends what the batch holds (`end`: and the chunk is done); false when the build was aborted. */
  const send = (end: boolean): boolean => {
    if (used === 0) {
      if (end) post({ end });
      return true;
    }
    if (!reserve(ctrl)) return false;
    post({ batch: batch.subarray(0, used), end }, [batch.buffer as ArrayBuffer]);
    batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
    used = 0;
    return true;
  };
  const traces = parts.counts.length;
  let chunkEnd = 0;
  for (const { i, id, encoded, rows } of combinedTraces(segmentPath, parts, (t) => chunkOwner(Math.floor(t / CHUNK_TRACES), threads) === index)) {
    if (i >= chunkEnd) chunkEnd = Math.min(traces, (Math.floor(i / CHUNK_TRACES) + 1) * CHUNK_TRACES);
    const need = recordBytes(encoded.length, rows?.length ?? 0);
    if (used > 0 && used + need > batch.length && !send(false)) return;
    if (need > batch.length) batch = Buffer.allocUnsafeSlow(need); // a trace larger than a batch travels alone
    batch.writeUInt32LE(encoded.length, used);
    batch.writeUInt32LE(rows?.length ?? 0, used + 4);
    batch.set(id, used + 8);
    batch.set(encoded, used + RECORD_HEADER);
    if (rows) batch.set(new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength), used + need - rows.byteLength);
    used += need;
    if (i === chunkEnd - 1 && !send(true)) return;
  }
}

parentPort?.on('message', (job: CombineWorkerData) => {
  try {
    run(job);
  } catch (err) {
    post({ error: err instanceof Error ? err.message : String(err) });
  }
});
