// Building a complete block from a sealed WAL segment: read every trace's parts, combine them, and
// write the Parquet block in trace-ID order. It is the ingester's heaviest CPU work, so it runs on worker
// threads and keeps the event loop free for pushes and queries. No message objects are built: each part's
// OTLP bytes are transcoded into the block's trace encoding and the parts combined at the wire level
// (@stave/block's OtlpTraceCombiner, byte for byte what decoding and combining the messages gives), and
// the writer takes the encoded trace as it is. Memory: one trace's parts and encodings at a time, plus the
// writer's row group and its compression backlog.

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { buildReservation, type WorkMemoryGate } from './budget';
import { BUILD_THREAD_LIMITS, combinedOnThreads } from './block-combine';
import { allocPackedParts, combinedTraces, type PackedParts } from './combined-traces';
import { create } from '@bufbuild/protobuf';
import { LocalStore } from '@stave/backend';
import { writeBlock, type BlockMeta } from '@stave/block';
import { combineTraceBytes } from '@stave/model';
import { TracesDataSchema, type TracesData } from '@stave/proto';
import type { RecordRef } from './wal';

export function packParts(traces: ReadonlyArray<{ readonly id: Uint8Array; readonly refs: readonly RecordRef[] }>): PackedParts {
  let n = 0;
  for (const t of traces) n += t.refs.length;
  const { ids, counts, offsets, lengths } = allocPackedParts(traces.length, n);
  let k = 0;
  traces.forEach((t, i) => {
    ids.set(t.id, 16 * i);
    counts[i] = t.refs.length;
    for (const r of t.refs) {
      offsets[k] = r.offset;
      lengths[k++] = r.length;
    }
  });
  return { ids, counts, offsets, lengths };
}

export interface BuildJob {
  /** The sealed WAL segment. */
  readonly segmentPath: string;
  readonly parts: PackedParts;
  /** Root of the local store that receives the complete block. */
  readonly storeRoot: string;
  readonly tenant: string;
  readonly blockID: string;
  readonly bloomFalsePositive: number;
  readonly bloomShardSizeBytes: number;
  readonly rowGroupSizeBytes: number;
  /**
   * Threads that combine traces while this one writes the block (block-combine.ts); 0: this thread does
   * both.
   */
  readonly combineThreads?: number;
}

/** One trace from the TracesData encodings of its parts: resources merged, duplicate spans dropped. */
export function traceFromParts(parts: readonly Uint8Array[]): TracesData {
  return create(TracesDataSchema, { resourceSpans: combineTraceBytes(parts).resourceSpans });
}

/**
 * Brotli quality of the blocks an ingester builds. Compaction compresses their pages again at the
 * writer's default (5); until then they are ~28% larger, and building them costs a quarter of the
 * compression time (measured on the bench workload's `trace` pages: 0.23 s against 0.99 s per 350k spans).
 */
export const INGESTER_CODEC_LEVEL = 1;

/**
 * Uncompressed size of one `trace` page in the blocks an ingester builds: a by-ID read of such a block
 * decompresses one page, on the querier's event loop. Recent traces are the ones looked up, and under a
 * collector-shaped load (every trace live across cuts) each one sits in every block cut while it was live,
 * so a lookup reads one page per block: with the writer's 2 MiB pages that was ~4 ms of brotli per block,
 * by-ID p50 35–44 ms over five blocks and ~70 MiB of page buffers on the main thread between collections
 * (the whole run's peak RSS). At 256 KiB: p50 13 ms, peak RSS ~480 MiB, blocks ~12% larger until
 * compaction writes them again with the writer's default (bench/results/ingest.md, fifteenth session).
 */
export const INGESTER_TRACE_PAGE_BYTES = 256 * 1024;

/** Builds one block; usable in any thread. */
export async function buildBlock(job: BuildJob): Promise<BlockMeta> {
  return writeBlock(new LocalStore(job.storeRoot), {
    tenant: job.tenant,
    blockID: job.blockID,
    traces: job.combineThreads ? combinedOnThreads(job.segmentPath, job.parts, job.combineThreads) : combinedTraces(job.segmentPath, job.parts),
    bloomFalsePositive: job.bloomFalsePositive,
    bloomShardSizeBytes: job.bloomShardSizeBytes,
    rowGroupSizeBytes: job.rowGroupSizeBytes,
    codecLevel: INGESTER_CODEC_LEVEL,
    tracePageSizeBytes: INGESTER_TRACE_PAGE_BYTES,
  });
}

/** How long a block-building thread waits for the next build before it ends (BlockBuilderPool.linger). */
export const BUILD_THREAD_LINGER_MS = 15_000;

/** How often a lingering thread asks whether builds are still expected (BlockBuilderPool's `expectBuilds`). */
export const BUILD_THREAD_LINGER_CHECK_MS = 1_000;

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
  private readonly lingering = new Map<Worker, NodeJS.Timeout>();
  private closed = false;
  /** Builds waiting for or holding the gate (`build`). */
  private gated = 0;
  /** The gate's bytes this pool holds while it has threads (`build`), and how to give each part back. */
  private reserved = 0;
  private readonly releases: Array<() => void> = [];
  private watching = false;

  /**
   * @param size worker threads building blocks at once.
   * @param combineThreads threads that combine traces for each build while its own writes (jobs may say
   *   otherwise). Combining costs about twice what writing does (profiled on the bench workload); by
   *   default one thread per core but one, at least one: each thread costs ~50 MiB of memory (budget.ts's BUILD_THREAD_BYTES), and on two
   *   cores a second one only shares them with the writer and page compression.
   * @param gate the process's budget for block builds and compaction jobs together (budget.ts); the pool
   *   holds `size × buildBytes` of it while it has threads (`build`), or `size × narrowBuildBytes` (the
   *   writing thread alone) while other work holds the rest.
   * @param expectBuilds whether another build is expected soon (the ingester: pushes are arriving); when it
   *   says no, an idle thread ends at its next check instead of lingering the whole BUILD_THREAD_LINGER_MS.
   */
  constructor(
    private readonly size: number,
    private readonly combineThreads = Math.max(1, availableParallelism() - 1),
    private readonly gate?: { readonly memory: WorkMemoryGate; readonly buildBytes: number; readonly narrowBuildBytes?: number },
    private readonly expectBuilds: () => boolean = () => true,
  ) {}

  get usesWorkers(): boolean {
    return existsSync(this.script);
  }

  /**
   * With a gate: the pool takes `size × buildBytes` of it at its first build, without waiting for a
   * compaction job that holds the rest (the write path waits for builds), holds it until its threads end
   * (they keep their heaps between builds), and ends idle threads at once when a compaction job waits for
   * room. When the rest of the gate is held (a compaction job runs), a build starts anyway but narrow:
   * without combine threads, taking only `narrowBuildBytes` (slower, one thread, but a compaction job and
   * a full build side by side were the whole run's RSS peak: bench/results/ingest.md, "ingest5"); the
   * pool widens at a later build once the gate has room.
   */
  build(job: BuildJob): Promise<BlockMeta> {
    const g = this.gate;
    if (!g) return this.buildNow(job);
    if (!this.usesWorkers) {
      const release = g.memory.take(g.buildBytes);
      return this.buildNow(job).finally(release);
    }
    if (!this.watching) {
      this.watching = true;
      g.memory.onPressure(() => this.giveWay());
    }
    this.gated++;
    return (async () => {
      try {
        return await this.buildNow(this.reserve(g) ? job : { ...job, combineThreads: 0 });
      } finally {
        this.gated--;
        this.releaseIfIdle();
      }
    })();
  }

  /** Takes the gate's bytes for this pool's threads; false when builds must go narrow (no combine threads). */
  private reserve(g: NonNullable<BlockBuilderPool['gate']>): boolean {
    const wide = this.size * g.buildBytes;
    const target = buildReservation({
      held: this.reserved,
      wide,
      narrow: this.size * (g.narrowBuildBytes ?? g.buildBytes),
      capacity: g.memory.capacity,
      inUse: g.memory.inUse,
    });
    if (target > this.reserved) {
      this.releases.push(g.memory.take(target - this.reserved));
      this.reserved = target;
    }
    return target >= wide;
  }

  /** Gives the gate's bytes back once no build is pending and every thread has ended. */
  private releaseIfIdle(): void {
    if (this.reserved === 0 || this.gated > 0 || this.all.size > 0) return;
    this.reserved = 0;
    for (const release of this.releases.splice(0)) release();
  }

  /** Other work waits for the gate: idle threads end now instead of after their linger. */
  private giveWay(): void {
    if (this.gated > 0) return;
    for (const w of this.idle.splice(0)) this.end(w);
    this.releaseIfIdle();
  }

  private end(w: Worker): void {
    clearTimeout(this.lingering.get(w));
    this.lingering.delete(w);
    this.all.delete(w);
    void w.terminate();
  }

  private buildNow(job: BuildJob): Promise<BlockMeta> {
    if (this.closed) return Promise.reject(new Error('block builder pool is closed'));
    if (!this.usesWorkers) return buildBlock({ ...job, combineThreads: 0 });
    return new Promise<BlockMeta>((resolve, reject) => {
      this.queue.push({ job, p: { resolve, reject } });
      this.dispatch();
    });
  }

  /**
   * An idle thread (and its combine threads) ends after BUILD_THREAD_LINGER_MS without a build, or sooner
   * once no build is expected (`expectBuilds`, asked every BUILD_THREAD_LINGER_CHECK_MS): idle, the
   * building threads still hold ~75-110 MiB together (measured on 2 cores, one writing and one combine
   * thread, after a collector-shaped build; a forced GC in them gave back ~10 MiB), which was a large part
   * of the RSS of the reads that follow an ingest (bench/results/ingest.md, "ingest5"). While builds follow
   * each other (cuts under load) the threads are kept: starting them costs ~1 s of CPU per build (loading
   * the modules, warming the JIT; bench/results/flush.md).
   */
  private linger(w: Worker): void {
    const since = Date.now();
    const check = (): void => {
      const i = this.idle.indexOf(w);
      if (i < 0) {
        this.lingering.delete(w);
        return;
      }
      const waited = Date.now() - since;
      if (waited < BUILD_THREAD_LINGER_MS && this.expectBuilds()) {
        schedule(Math.min(BUILD_THREAD_LINGER_CHECK_MS, BUILD_THREAD_LINGER_MS - waited));
        return;
      }
      this.lingering.delete(w);
      this.idle.splice(i, 1);
      this.end(w);
      this.releaseIfIdle();
    };
    const schedule = (ms: number): void => {
      const timer = setTimeout(check, ms);
      timer.unref();
      this.lingering.set(w, timer);
    };
    schedule(Math.min(BUILD_THREAD_LINGER_CHECK_MS, BUILD_THREAD_LINGER_MS));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let w = this.idle.pop();
      if (w) {
        clearTimeout(this.lingering.get(w));
        this.lingering.delete(w);
      }
      if (!w && this.all.size < this.size) w = this.spawn();
      if (!w) return;
      const { job, p } = this.queue.shift()!;
      this.busy.set(w, p);
      w.postMessage({ ...job, combineThreads: job.combineThreads ?? this.combineThreads });
    }
  }

  private spawn(): Worker {
    const w = new Worker(this.script, { resourceLimits: BUILD_THREAD_LIMITS });
    this.all.add(w);
    w.on('message', (msg: { meta?: BlockMeta; error?: string }) => {
      const p = this.busy.get(w);
      this.busy.delete(w);
      if (msg.error !== undefined) p?.reject(new Error(msg.error));
      else p?.resolve(msg.meta!);
      this.idle.push(w);
      if (this.queue.length > 0) this.dispatch();
      else this.linger(w);
    });
    w.on('error', (err) => {
      this.busy.get(w)?.reject(err);
      this.busy.delete(w);
      this.all.delete(w);
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
      this.dispatch();
      this.releaseIfIdle();
    });
    w.on('exit', () => {
      this.busy.get(w)?.reject(new Error('block builder worker exited'));
      this.busy.delete(w);
      this.all.delete(w);
      this.releaseIfIdle();
    });
    w.unref();
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.lingering.values()) clearTimeout(t);
    this.lingering.clear();
    for (const { p } of this.queue.splice(0)) p.reject(new Error('block builder pool is closed'));
    await Promise.all([...this.all].map((w) => w.terminate()));
    this.all.clear();
    this.releaseIfIdle();
  }
}
