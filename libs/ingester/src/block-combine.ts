// The block build's pipeline: combine threads read each trace's WAL parts and combine them into the
// block's trace encoding (block-combine-worker.ts), while the building thread writes them into the
// Parquet block in trace-ID order. The traces are dealt to the combine threads in chunks of CHUNK_TRACES,
// round-robin (chunk c to thread c mod n), and the writer takes the chunks back in order. With a single
// combine thread, combining (~2/3 of the work) would leave the writing thread waiting: that thread combines
// every LOCAL_EVERY-th chunk itself (chunkOwner), which evens the two out (profiled on the bench workload).
//
// Combined traces cross in batches of about BATCH_BYTES (a trace larger than that is a batch of its own;
// a batch never spans two chunks), and each combine thread has at most MAX_BATCHES_IN_FLIGHT batches on
// their way: it waits (Atomics.wait on a shared counter) until the writer has taken one. So the memory
// between the threads is bounded by those numbers, whatever the block's size.
//
// Batch layout: records of u32 encoded length | u32 column values (int32s, 0 when none) | 16-byte trace ID
// | encoded trace | padding to 4 bytes | the trace's column values (@stave/block's trace rows, so the writer
// does not scan the trace again), back to back; every record starts 4-byte aligned.

import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { combinedTraces, type PackedParts } from './combined-traces';

/**
 * V8 limits of every block-building thread (the writing one and its combine threads). The young
 * generation is what a thread's heap fills before each scavenge: V8's default (48 MiB: 16 MiB
 * semi-spaces) is resident in every thread while a build runs. A build's objects are few and short-lived
 * (no per-span objects), so a third of it costs ~5% more CPU for ~25 MiB less per thread
 * (bench/results/flush.md).
 */
export const BUILD_THREAD_LIMITS = { maxYoungGenerationSizeMb: 16 } as const;

export const BATCH_BYTES = 1024 * 1024;
export const MAX_BATCHES_IN_FLIGHT = 4;
export const CHUNK_TRACES = 512;
/** With one combine thread, the writing thread combines one chunk in this many. */
export const LOCAL_EVERY = 4;

/** The combine thread of chunk `c` among `threads`, or -1 when the writing thread combines it. */
export function chunkOwner(c: number, threads: number): number {
  if (threads === 1) return c % LOCAL_EVERY === LOCAL_EVERY - 1 ? -1 : 0;
  return c % threads;
}

/** Bytes before a record's encoded trace. */
export const RECORD_HEADER = 24;

/** A batch record's size: header, encoding padded to 4 bytes, column values. */
export function recordBytes(encodedLength: number, rowsInts: number): number {
  return RECORD_HEADER + ((encodedLength + 3) & ~3) + 4 * rowsInts;
}

/** Slots of the shared control array. */
export const CTRL_IN_FLIGHT = 0;
export const CTRL_ABORT = 1;

export interface CombineWorkerData {
  readonly segmentPath: string;
  readonly parts: PackedParts;
  /** This thread combines chunks `index`, `index + threads`, ... */
  readonly index: number;
  readonly threads: number;
  /** Int32Array over a SharedArrayBuffer: [batches in flight, abort]. */
  readonly ctrl: Int32Array;
}

/** A batch of combined traces; `end` marks the last batch of a chunk (it may carry no batch). */
export type CombineMessage = { batch?: Uint8Array; end: boolean } | { error: string };

const SCRIPT = path.join(__dirname, 'block-combine-worker.js');

interface Lane {
  readonly worker: Worker;
  readonly ctrl: Int32Array;
  readonly queue: Array<{ batch?: Uint8Array; end: boolean }>;
  exited: boolean;
  /** Removes this build's listeners from the thread. */
  detach(): void;
}

/**
 * Combine threads of this (building) thread between builds: starting one costs ~0.4 s of CPU (loading
 * the modules, warming the JIT), several percent of a build. They end with the building thread, which
 * BlockBuilderPool ends once it has been idle for a while.
 */
const spare: Worker[] = [];

function spawnCombineThread(): Worker {
  const w = new Worker(SCRIPT, { resourceLimits: BUILD_THREAD_LIMITS });
  const forget = (): void => {
    const i = spare.indexOf(w);
    if (i >= 0) spare.splice(i, 1);
  };
  // A spare thread that fails or exits is not used again; a build's own listeners report it to the build.
  w.on('error', forget);
  w.on('exit', forget);
  w.unref();
  return w;
}

/** The job's traces, combined on `threads` threads of their own, in order. */
export async function* combinedOnThreads(
  segmentPath: string,
  parts: PackedParts,
  threads: number,
): AsyncGenerator<{ id: Uint8Array; encoded: Uint8Array; rows?: Int32Array }> {
  const chunks = Math.ceil(parts.counts.length / CHUNK_TRACES);
  const n = Math.max(1, Math.min(threads, chunks));
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const lanes: Lane[] = [];
  for (let index = 0; index < n; index++) {
    const ctrl = new Int32Array(new SharedArrayBuffer(8));
    const data: CombineWorkerData = { segmentPath, parts, index, threads: n, ctrl };
    const worker = spare.pop() ?? spawnCombineThread();
    const onMessage = (m: CombineMessage): void => {
      if ('error' in m) failure ??= new Error(m.error);
      else lane.queue.push(m);
      notify();
    };
    const onError = (err: Error): void => {
      failure ??= err;
      notify();
    };
    const onExit = (): void => {
      lane.exited = true;
      notify();
    };
    const lane: Lane = {
      worker,
      ctrl,
      queue: [],
      exited: false,
      detach: () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      },
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage(data);
    lanes.push(lane);
  }
  // This thread's chunks, combined as the writer reaches them.
  const local = combinedTraces(segmentPath, parts, (t) => chunkOwner(Math.floor(t / CHUNK_TRACES), n) < 0);
  let complete = false;
  try {
    for (let c = 0; c < chunks; c++) {
      const owner = chunkOwner(c, n);
      if (owner < 0) {
        const last = Math.min(parts.counts.length, (c + 1) * CHUNK_TRACES) - 1;
        for (;;) {
          const r = local.next();
          if (r.done) throw new Error(`block combine: trace ${last} missing from this thread's chunks`);
          const { id, encoded, rows } = r.value;
          yield rows ? { id, encoded, rows } : { id, encoded };
          if (r.value.i === last) break;
        }
        continue;
      }
      const lane = lanes[owner]!;
      for (;;) {
        const m = lane.queue.shift();
        if (!m) {
          if (failure) throw failure;
          if (lane.exited) throw new Error('block combine thread exited before its last trace');
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        if (m.batch) {
          const view = Buffer.from(m.batch.buffer, m.batch.byteOffset, m.batch.byteLength);
          for (let p = 0; p < view.length;) {
            const len = view.readUInt32LE(p);
            const ints = view.readUInt32LE(p + 4);
            const next = p + recordBytes(len, ints);
            const id = view.subarray(p + 8, p + RECORD_HEADER);
            const encoded = view.subarray(p + RECORD_HEADER, p + RECORD_HEADER + len);
            yield ints > 0 ? { id, encoded, rows: new Int32Array(view.buffer, view.byteOffset + next - 4 * ints, ints) } : { id, encoded };
            p = next;
          }
          Atomics.sub(lane.ctrl, CTRL_IN_FLIGHT, 1);
          Atomics.notify(lane.ctrl, CTRL_IN_FLIGHT);
        }
        if (m.end) break;
      }
    }
    complete = true;
  } finally {
    local.return(undefined);
    for (const lane of lanes) lane.detach();
    if (complete) {
      // Every thread has sent its last chunk and nothing else: each is ready for the next build.
      for (const lane of lanes) if (!lane.exited) spare.push(lane.worker);
    } else {
      // The write failed (or a thread did): the combine threads stop, and are not used again.
      for (const lane of lanes) {
        Atomics.store(lane.ctrl, CTRL_ABORT, 1);
        Atomics.notify(lane.ctrl, CTRL_IN_FLIGHT);
      }
      await Promise.all(lanes.map((l) => l.worker.terminate()));
    }
  }
}
