// Building a complete block from a sealed WAL segment: read every trace's parts, combine them, and
// write the Parquet block in trace-ID order. It is the ingester's heaviest CPU work (decode, combine,
// encode, compress), so it runs on worker threads and keeps the event loop free for pushes and queries.

import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { create } from '@bufbuild/protobuf';
import { LocalStore } from '@stave/backend';
import { writeBlock, type BlockMeta } from '@stave/block';
import { combineTraceBytes } from '@stave/model';
import { TracesDataSchema, type TracesData } from '@stave/proto';
import type { RecordRef } from './wal';

export interface BuildJob {
  /** The sealed WAL segment. */
  readonly segmentPath: string;
  /** Every trace of the segment, ascending by ID (hex order is byte order), with where its parts are. */
  readonly traces: ReadonlyArray<{ readonly id: Uint8Array; readonly refs: readonly RecordRef[] }>;
  /** Root of the local store that receives the complete block. */
  readonly storeRoot: string;
  readonly tenant: string;
  readonly blockID: string;
  readonly bloomFalsePositive: number;
  readonly bloomShardSizeBytes: number;
  readonly rowGroupSizeBytes: number;
}

/** One trace from the TracesData encodings of its parts: resources merged, duplicate spans dropped. */
export function traceFromParts(parts: readonly Uint8Array[]): TracesData {
  return create(TracesDataSchema, { resourceSpans: combineTraceBytes(parts).resourceSpans });
}

/** Builds one block; usable in any thread. */
export async function buildBlock(job: BuildJob): Promise<BlockMeta> {
  // Synchronous reads: this runs on a worker thread, and a trace's parts are many small reads that the
  // page cache answers; going through the libuv pool for each one cost more than the reads (profiled).
  const fd = openSync(job.segmentPath, 'r');
  try {
    const read = (ref: RecordRef): Buffer => {
      const buf = Buffer.allocUnsafe(ref.length);
      let done = 0;
      while (done < ref.length) {
        const n = readSync(fd, buf, done, ref.length - done, ref.offset + done);
        if (n === 0) throw new Error(`short read at ${ref.offset} in ${job.segmentPath}`);
        done += n;
      }
      return buf;
    };
    function* traces() {
      for (const t of job.traces) {
        yield { id: t.id, trace: traceFromParts(t.refs.map(read)) };
      }
    }
    return await writeBlock(new LocalStore(job.storeRoot), {
      tenant: job.tenant,
      blockID: job.blockID,
      traces: traces(),
      bloomFalsePositive: job.bloomFalsePositive,
      bloomShardSizeBytes: job.bloomShardSizeBytes,
      rowGroupSizeBytes: job.rowGroupSizeBytes,
    });
  } finally {
    closeSync(fd);
  }
}

interface Pending {
  resolve: (m: BlockMeta) => void;
  reject: (e: Error) => void;
}

/**
 * A small pool of worker threads running `buildBlock`. When the compiled worker script is not there (unit
 * tests run the TypeScript sources), jobs run on the calling thread instead.
 */
export class BlockBuilderPool {
  private readonly script = path.join(__dirname, 'block-builder-worker.js');
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly queue: Array<{ job: BuildJob; p: Pending }> = [];
  private readonly busy = new Map<Worker, Pending>();
  private closed = false;

  constructor(private readonly size: number) {}

  get usesWorkers(): boolean {
    return existsSync(this.script);
  }

  build(job: BuildJob): Promise<BlockMeta> {
    if (this.closed) return Promise.reject(new Error('block builder pool is closed'));
    if (!this.usesWorkers) return buildBlock(job);
    return new Promise<BlockMeta>((resolve, reject) => {
      this.queue.push({ job, p: { resolve, reject } });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let w = this.idle.pop();
      if (!w && this.all.size < this.size) w = this.spawn();
      if (!w) return;
      const { job, p } = this.queue.shift()!;
      this.busy.set(w, p);
      w.postMessage(job);
    }
  }

  private spawn(): Worker {
    const w = new Worker(this.script);
    this.all.add(w);
    w.on('message', (msg: { meta?: BlockMeta; error?: string }) => {
      const p = this.busy.get(w);
      this.busy.delete(w);
      if (msg.error !== undefined) p?.reject(new Error(msg.error));
      else p?.resolve(msg.meta!);
      this.idle.push(w);
      this.dispatch();
    });
    w.on('error', (err) => {
      this.busy.get(w)?.reject(err);
      this.busy.delete(w);
      this.all.delete(w);
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
      this.dispatch();
    });
    w.on('exit', () => {
      this.busy.get(w)?.reject(new Error('block builder worker exited'));
      this.busy.delete(w);
      this.all.delete(w);
    });
    w.unref();
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { p } of this.queue.splice(0)) p.reject(new Error('block builder pool is closed'));
    await Promise.all([...this.all].map((w) => w.terminate()));
    this.all.clear();
  }
}
