// The block build's pipeline of two threads: a combine thread reads each trace's WAL parts and combines
// them into the block's trace encoding (block-combine-worker.ts), while the building thread writes them
// into the Parquet block. Combined traces cross in batches of about BATCH_BYTES (a trace larger than that
// is a batch of its own), and at most MAX_BATCHES_IN_FLIGHT batches are on their way: the combine thread
// waits (Atomics.wait on a shared counter) until the writer has taken one. So the memory between the two
// threads is bounded by those two numbers, whatever the block's size.
//
// Batch layout: records of u32 length (little-endian) | 16-byte trace ID | encoded trace, back to back.

import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PackedParts } from './block-builder';

export const BATCH_BYTES = 1024 * 1024;
export const MAX_BATCHES_IN_FLIGHT = 4;
/** Slots of the shared control array. */
export const CTRL_IN_FLIGHT = 0;
export const CTRL_ABORT = 1;

export interface CombineWorkerData {
  readonly segmentPath: string;
  readonly parts: PackedParts;
  /** Int32Array over a SharedArrayBuffer: [batches in flight, abort]. */
  readonly ctrl: Int32Array;
}

export type CombineMessage = { batch: Uint8Array } | { done: true } | { error: string };

const SCRIPT = path.join(__dirname, 'block-combine-worker.js');

/** The job's traces, combined on a thread of their own. */
export async function* combinedOnThread(segmentPath: string, parts: PackedParts): AsyncGenerator<{ id: Uint8Array; encoded: Uint8Array }> {
  const ctrl = new Int32Array(new SharedArrayBuffer(8));
  const data: CombineWorkerData = { segmentPath, parts, ctrl };
  const worker = new Worker(SCRIPT, { workerData: data });
  const batches: Uint8Array[] = [];
  let finished = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  worker.on('message', (m: CombineMessage) => {
    if ('batch' in m) batches.push(m.batch);
    else if ('error' in m) failure = new Error(m.error);
    else finished = true;
    notify();
  });
  worker.on('error', (err) => {
    failure = err;
    notify();
  });
  worker.on('exit', (code) => {
    if (!finished) failure ??= new Error(`block combine thread exited (code ${code}) before the last trace`);
    notify();
  });
  try {
    for (;;) {
      const batch = batches.shift();
      if (!batch) {
        if (failure) throw failure;
        if (finished) return;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const view = Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
      for (let p = 0; p < view.length;) {
        const n = view.readUInt32LE(p);
        yield { id: view.subarray(p + 4, p + 20), encoded: view.subarray(p + 20, p + 20 + n) };
        p += 20 + n;
      }
      Atomics.sub(ctrl, CTRL_IN_FLIGHT, 1);
      Atomics.notify(ctrl, CTRL_IN_FLIGHT);
    }
  } finally {
    // Done, or the write failed: the combine thread stops either way.
    Atomics.store(ctrl, CTRL_ABORT, 1);
    Atomics.notify(ctrl, CTRL_IN_FLIGHT);
    await worker.terminate();
  }
}
