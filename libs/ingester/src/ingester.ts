// The ingester: appends pushed traces to a per-tenant WAL segment (acknowledged once fsynced), indexes
// them by trace ID for reads, cuts the head block on max_block_duration / max_block_bytes, builds each
// cut block into a complete block on local disk, flushes it to the backend with retries, and keeps it
// queryable for complete_block_timeout. On start it replays the WAL: nothing acknowledged is lost.
//
//   push → WAL (fsync) → head block ─cut→ completing ─build→ complete (wal/blocks) ─flush→ backend
//                                                                         └─ kept for complete_block_timeout
//
// The seams: push.ts (limits and indexing), flusher.ts (build and flush queue), replay.ts (start-up).
// Shutdown (`drain`, run by the ring lifecycler while the instance is LEAVING): writes stop, then every
// head block is cut and flushed (flush_all_on_shutdown, or /shutdown) or sealed in the WAL for replay.

import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { deleteBlockObjects, LocalStore, type ObjectStore } from '@stave/backend';
import { BlockCache, hexID as hex } from '@stave/block';
import { joinCombined, type TraceLike } from '@stave/model';
import {
  PushResponseSchema,
  TraceByIDResponseSchema,
  QueryMode,
  type PushBytesRequest,
  type PushResponse,
  type SearchRequest,
  type SearchResponse,
  type SearchTagsRequest,
  type SearchTagsResponse,
  type TraceByIDRequest,
  type TraceByIDResponse,
} from '@stave/proto';
import { BasicService, Code, ConnectError, type CpuReservation, type Logger, type Overrides } from '@stave/server';
import type { Registry } from 'prom-client';
import { BlockBuilderPool, traceFromParts } from './block-builder';
import { BUILD_THREAD_BYTES, buildPlan, usageOf, walBytesOf, WorkMemoryGate, WriteBudget, type WriteBudgetLimits } from './budget';
import type { IngesterClient } from './client';
import { Flusher } from './flusher';
import { HeadBlock } from './head-block';
import { COMPLETE_DIR, TenantInstance, WAL_SUFFIX } from './instance';
import { IngesterMetrics } from './metrics';
import { admitTraces, expireIdleTraces, indexRecords, releaseLiveTraces, walRecords } from './push';
import { replayWal } from './replay';
import { SearchCollector } from './search';
import { searchTagsTenant, searchTenant } from './search-scan';
import { TagsCollector } from './search-tags';
import { SegmentSealedError, WalSegment } from './wal';

export interface IngesterOptions {
  walPath: string;
  store: ObjectStore;
  overrides: Overrides;
  logger: Logger;
  registry: Registry;
  maxBlockDurationMs: number;
  maxBlockBytes: number;
  traceIdlePeriodMs: number;
  completeBlockTimeoutMs: number;
  flushCheckPeriodMs: number;
  concurrentFlushes: number;
  /** ingester.flush_op_timeout: bounds each block's copy to the backend, and how long /flush waits. */
  flushOpTimeoutMs?: number;
  /** ingester.flush_all_on_shutdown: flush every block to the backend on shutdown (else: WAL replay). */
  flushAllOnShutdown?: boolean;
  block: { bloomFalsePositive: number; bloomShardSizeBytes: number; rowGroupSizeBytes: number };
  /** ingester.max_live_traces_bytes and ingester.max_wal_backlog_bytes (budget.ts); absent: no budgets. */
  budget?: WriteBudgetLimits;
  /**
   * The process's block cache, shared with its querier (a flushed block's copy in the backend has the same
   * keys as the complete block here, so one process reads and decompresses its pages once); else a private
   * one for blooms and index pages.
   */
  blockCache?: BlockCache;
  /**
   * The process's budget for block builds and compaction jobs together (ingester.max_block_building_bytes,
   * budget.ts), when it also compacts; else the ingester's builds have it to themselves.
   */
  workMemory?: WorkMemoryGate;
  /**
   * The process's CPU kept for its event loop (server.reserve_event_loop_cpu), if any: lifted when block
   * building falls behind (a push finds the WAL backlog near its budget, or is refused for it) and while
   * every block is flushed.
   */
  cpu?: CpuReservation;
  now?: () => number;
}

/**
 * The eighths of ingester.max_wal_backlog_bytes past which a push lifts the CPU kept for the event loop, so
 * that block building has every CPU before pushes are refused. Above the backlog's peaks under a load that
 * block building keeps up with: at the metrics-generator bench's fixed rate (half of what the process
 * sustains) it peaked at 81% of the default budget between builds (bench/results/ingest.md, fourteenth
 * session), and there the reservation stays.
 */
const LIFT_CPU_AT_BACKLOG_EIGHTHS = 7;

/** Building threads idle longer than this after the last push end (BlockBuilderPool's `expectBuilds`). */
const PUSHES_EXPECT_BUILDS_MS = 2_000;

/** Tempo's default flush_op_timeout. */
const DEFAULT_FLUSH_OP_TIMEOUT_MS = 5 * 60_000;
/** Bloom and index-page cache for the complete blocks an ingester serves by ID (a few at a time). */
const COMPLETE_BLOCK_CACHE_BYTES = 32 * 1024 * 1024;

export class Ingester extends BasicService implements IngesterClient {
  private readonly tenants = new Map<string, TenantInstance>();
  private readonly metrics: IngesterMetrics;
  private readonly completeStore: LocalStore;
  private readonly blockCache: BlockCache;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly flushOpTimeoutMs: number;
  private timer: NodeJS.Timeout | undefined;
  private accepting = false;
  private readonly builders: BlockBuilderPool;
  private readonly flusher: Flusher;
  private readonly headPromises = new Map<TenantInstance, Promise<HeadBlock>>();
  private draining: Promise<void> | undefined;
  private readonly budget: WriteBudget;
  /** When the last push was taken (`now()`), for keeping building threads between builds. */
  private lastPushMs = -Infinity;
  /** Flush everything to the backend on shutdown (flush_all_on_shutdown; /shutdown sets it). */
  flushOnShutdown: boolean;

  constructor(private readonly opts: IngesterOptions) {
    super('ingester');
    this.metrics = new IngesterMetrics(opts.registry);
    this.completeStore = new LocalStore(path.join(opts.walPath, COMPLETE_DIR));
    // One byte budget for the blooms and index pages of every complete block this ingester serves by ID,
    // so the cache does not grow with the number of blocks awaiting flush or `complete_block_timeout`.
    this.blockCache = opts.blockCache ?? new BlockCache(COMPLETE_BLOCK_CACHE_BYTES);
    this.log = opts.logger.child({ component: 'ingester' });
    this.budget = new WriteBudget(opts.budget ?? { maxLiveTracesBytes: 0, maxWalBacklogBytes: 0 }, opts.registry);
    this.now = opts.now ?? Date.now;
    this.flushOpTimeoutMs = opts.flushOpTimeoutMs ?? DEFAULT_FLUSH_OP_TIMEOUT_MS;
    this.flushOnShutdown = opts.flushAllOnShutdown ?? false;
    // Block building is CPU-bound: leave a core to the event loop. Within ingester.max_block_building_bytes.
    const combineThreads = Math.max(1, availableParallelism() - 1);
    const plan = buildPlan({
      maxBuildingBytes: opts.budget?.maxBlockBuildingBytes ?? 0,
      builders: Math.max(1, Math.min(opts.concurrentFlushes, availableParallelism() - 1)),
      combineThreads,
      rowGroupSizeBytes: opts.block.rowGroupSizeBytes,
    });
    const workMemory = opts.workMemory ?? new WorkMemoryGate(opts.budget?.maxBlockBuildingBytes ?? 0);
    // Building threads are kept between builds only while pushes arrive (a cut, so a build, may follow).
    this.builders = new BlockBuilderPool(
      plan.builders,
      combineThreads,
      { memory: workMemory, buildBytes: plan.buildBytes, narrowBuildBytes: plan.buildBytes - (plan.buildBytes > 0 ? combineThreads * BUILD_THREAD_BYTES : 0) },
      () => this.flusher.pending > 0 || this.now() - this.lastPushMs < PUSHES_EXPECT_BUILDS_MS,
    );
    this.flusher = new Flusher({
      store: opts.store,
      completeStore: this.completeStore,
      blockCache: this.blockCache,
      builders: this.builders,
      metrics: this.metrics,
      log: this.log,
      concurrency: opts.concurrentFlushes,
      opTimeoutMs: this.flushOpTimeoutMs,
      block: { ...opts.block, rowGroupSizeBytes: plan.rowGroupSizeBytes },
      now: this.now,
      onFatal: (err) => {
        this.log.error('flush queue failed', { err });
        this.fail(err);
      },
    });
    this.metrics.observeBacklog(() => {
      let walBytes = 0;
      for (const inst of this.tenants.values()) {
        walBytes += inst.head?.segment.size ?? 0;
        for (const h of inst.completing) walBytes += h.segment.size;
      }
      return { blocksPending: this.flusher.pending, walBytes };
    });
  }

  protected override async starting(): Promise<void> {
    await replayWal({
      walPath: this.opts.walPath,
      completeStore: this.completeStore,
      blockCache: this.blockCache,
      metrics: this.metrics,
      log: this.log,
      instance: (t) => this.instance(t),
      enqueue: (job) => this.flusher.enqueue(job),
    });
    this.accepting = true;
    this.timer = setInterval(() => this.sweep(), Math.max(100, Math.min(this.opts.flushCheckPeriodMs, this.opts.traceIdlePeriodMs)));
    this.timer.unref();
  }

  /**
   * The first half of shutdown, safe to call twice: writes are refused from now on; then, with
   * `flushOnShutdown`, every head block is cut and every block flushed to the backend (one attempt each,
   * bounded by flush_op_timeout; what fails stays on disk for replay); without it, head blocks are sealed
   * and stay in the WAL for replay. Every push acknowledged before is in one or the other.
   */
  drain(): Promise<void> {
    this.draining ??= this.runDrain();
    return this.draining;
  }

  private async runDrain(): Promise<void> {
    this.accepting = false;
    if (this.timer) clearInterval(this.timer);
    // A head being created for a push in flight must be seen by the cut below.
    await Promise.all([...this.headPromises.values()].map((p) => p.catch(() => undefined)));
    if (this.flushOnShutdown) {
      this.flusher.setMode('once');
      for (const inst of this.tenants.values()) this.cut(inst);
      this.log.info('flushing every block before shutdown', { blocks: this.flusher.pending });
      const release = this.opts.cpu?.hold('every block is flushed before shutdown');
      await this.flusher.idle().finally(release);
      this.log.info('flushed before shutdown', { left_on_disk_for_replay: this.flusher.leftOnDisk });
    } else {
      for (const inst of this.tenants.values()) await inst.head?.segment.seal();
    }
  }

  protected override async stopping(): Promise<void> {
    await this.drain();
    // Builds still running are abandoned (their WAL segments are rebuilt on the next start), so shutdown
    // is not held up by a large block; flushes to the backend finish their current attempt.
    this.flusher.setMode('stop');
    await this.builders.close();
    await this.flusher.idle();
    for (const inst of this.tenants.values()) {
      await inst.head?.segment.close();
      for (const h of inst.completing) await h.segment.close();
    }
  }

  // ---- write path ----

  async pushBytes(req: PushBytesRequest): Promise<PushResponse> {
    if (!this.accepting) throw new ConnectError('ingester is not accepting writes (starting or stopping)', Code.Unavailable);
    if (req.traces.length !== req.ids.length) {
      throw new ConnectError(`push has ${req.traces.length} traces but ${req.ids.length} IDs`, Code.InvalidArgument);
    }
    for (const id of req.ids) if (id.length !== 16) throw new ConnectError(`trace ID must be 16 bytes, got ${id.length}`, Code.InvalidArgument);
    const tenant = req.tenant;
    const inst = this.instance(tenant);
    this.lastPushMs = this.now();
    for (let attempt = 1; ; attempt++) {
      const head = await this.headFor(inst);
      // The byte budgets, checked where nothing awaits until the append reserves its bytes.
      const usage = usageOf(this.tenants.values());
      const refusal = this.budget.admit(tenant, walBytesOf(req), usage);
      if (refusal) {
        this.opts.cpu?.lift('block building is behind: a push was refused for the WAL backlog');
        this.cutForBudget(true);
        throw new ConnectError(refusal.message, refusal.code);
      }
      if (this.opts.cpu && this.budget.backlogPast(usage, LIFT_CPU_AT_BACKLOG_EIGHTHS / 8)) {
        this.opts.cpu.lift(`block building is behind: the WAL backlog is past ${LIFT_CPU_AT_BACKLOG_EIGHTHS}/8 of ingester.max_wal_backlog_bytes`);
      }
      const admission = admitTraces(inst, head, req, this.opts.overrides.forTenant(tenant));
      const { errors, accepted } = admission;
      if (accepted.length > 0) {
        const records = walRecords(req, accepted);
        let refs;
        try {
          refs = await head.segment.append(records);
        } catch (err) {
          // The head was sealed under this push by a cut or by shutdown: nothing of it was acknowledged.
          if (!this.accepting) throw new ConnectError('ingester is stopping; push not written', Code.Unavailable, undefined, undefined, err);
          // A cut sealed the head between choosing it and appending (nothing was written): the push goes to
          // the new head, once more at most, instead of failing the client's request.
          if (err instanceof SegmentSealedError && attempt < 3) continue;
          throw err;
        }
        const bytes = indexRecords(inst, head, records, refs, this.now(), () => this.metrics.tracesCreated.inc({ tenant }), admission);
        this.metrics.bytesReceived.inc({ tenant }, bytes);
        this.metrics.liveTraces.set({ tenant }, inst.liveTraces);
        if (head.dataBytes >= this.opts.maxBlockBytes && inst.head === head) this.cut(inst);
        else this.cutForBudget(false);
      }
      return create(PushResponseSchema, { errorsByTrace: errors });
    }
  }

  private instance(tenant: string): TenantInstance {
    let inst = this.tenants.get(tenant);
    if (!inst) {
      inst = new TenantInstance(tenant);
      this.tenants.set(tenant, inst);
    }
    return inst;
  }

  private async headFor(inst: TenantInstance): Promise<HeadBlock> {
    if (inst.head) return inst.head;
    let p = this.headPromises.get(inst);
    if (!p) {
      p = (async () => {
        try {
          const blockID = randomUUID();
          const dir = path.join(this.opts.walPath, inst.tenant);
          await mkdir(dir, { recursive: true });
          const seg = await WalSegment.open(path.join(dir, blockID + WAL_SUFFIX));
          const head = new HeadBlock(inst.tenant, blockID, seg, this.now());
          inst.head = head;
          return head;
        } finally {
          this.headPromises.delete(inst);
        }
      })();
      this.headPromises.set(inst, p);
    }
    return p;
  }

  // ---- cutting and flushing ----

  /** Seals the tenant's head block and queues it to become a complete block. */
  private cut(inst: TenantInstance): void {
    const head = inst.head;
    if (!head) return;
    inst.head = undefined;
    releaseLiveTraces(inst, head);
    this.metrics.liveTraces.set({ tenant: inst.tenant }, inst.liveTraces);
    inst.completing.push(head);
    this.flusher.enqueue({ inst, head });
  }

  /** Cuts the head block the byte budgets point at (budget.ts), if any. */
  private cutForBudget(refused: boolean): void {
    const tenant = this.budget.headToCut(usageOf(this.tenants.values()), refused);
    const inst = tenant === undefined ? undefined : this.tenants.get(tenant);
    if (inst) this.cut(inst);
  }

  private sweep(): void {
    const now = this.now();
    for (const inst of this.tenants.values()) {
      expireIdleTraces(inst, now, this.opts.traceIdlePeriodMs);
      this.metrics.liveTraces.set({ tenant: inst.tenant }, inst.liveTraces);
      const head = inst.head;
      if (head && head.traces.size > 0 && now - head.createdMs >= this.opts.maxBlockDurationMs) this.cut(inst);
      // Complete blocks are dropped once queriers can be expected to find them in the backend.
      for (let i = inst.complete.length - 1; i >= 0; i--) {
        const b = inst.complete[i]!;
        if (b.flushedMs !== undefined && now - b.flushedMs >= this.opts.completeBlockTimeoutMs) {
          inst.complete.splice(i, 1);
          b.reader.evict();
          deleteBlockObjects(this.completeStore, inst.tenant, b.meta.blockID).catch((err: unknown) =>
            this.log.warn('flushed block not removed from local disk; retried on the next start', { tenant: inst.tenant, block: b.meta.blockID, err }),
          );
        }
      }
    }
  }

  /**
   * Cuts every head block and waits until everything cut is flushed (`/flush`), for at most
   * flush_op_timeout: past it, rejects with DeadlineExceeded (504) naming the timeout and the last flush
   * error; the flushes go on retrying.
   */
  async flushAll(): Promise<void> {
    for (const inst of this.tenants.values()) this.cut(inst);
    const flushed = this.flusher.idle();
    // Held until the flush ends, not only until this call times out: the blocks go on building.
    const release = this.opts.cpu?.hold('every block is flushed (/flush)');
    if (release) void flushed.finally(release);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.flushOpTimeoutMs)));
    try {
      if (await Promise.race([flushed.then(() => false), timedOut])) {
        const last = this.flusher.lastError ? `; last error: ${this.flusher.lastError}` : '';
        throw new ConnectError(
          `flush did not finish within ingester.flush_op_timeout (${this.flushOpTimeoutMs} ms): ${this.flusher.pending} blocks still pending, retrying${last}`,
          Code.DeadlineExceeded,
        );
      }
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- read path ----

  async findTraceByID(req: TraceByIDRequest): Promise<TraceByIDResponse> {
    const inst = this.tenants.get(req.tenant);
    const key = hex(req.traceId);
    const parts: TraceLike[] = [];
    if (inst && req.queryMode !== QueryMode.BLOCKS) {
      const heads = [...(inst.head ? [inst.head] : []), ...inst.completing];
      for (const h of heads) {
        const bufs = await h.read(key);
        if (bufs.length) parts.push(traceFromParts(bufs));
      }
      // Blocks whose ID range or cached bloom rule the trace out cost no I/O and no promise; the rest are
      // read concurrently (each at most bloom → index page → data page).
      const maybe = inst.complete.filter((b) => !b.reader.excludes(req.traceId, key));
      for (const t of await Promise.all(maybe.map((b) => b.reader.findTraceByID(req.traceId, key)))) if (t) parts.push(t);
    }
    return create(TraceByIDResponseSchema, { trace: joinCombined(parts) });
  }

  /**
   * A TraceQL search over what this ingester holds for the tenant: the head block, blocks being built and
   * complete blocks not yet dropped (these through their search columns, search-scan.ts). The parts of a
   * trace found in several of them are combined first, so a trace is evaluated whole. Stops at `limit`
   * matches.
   */
  async search(req: SearchRequest): Promise<SearchResponse> {
    const collector = new SearchCollector(req);
    const inst = this.tenants.get(req.tenant);
    if (inst) await searchTenant(inst, req, collector);
    return collector.response();
  }

  /** Attribute names, or one attribute's values, over the same data as `search`. */
  async searchTags(req: SearchTagsRequest): Promise<SearchTagsResponse> {
    const collector = new TagsCollector(req);
    const inst = this.tenants.get(req.tenant);
    if (inst) await searchTagsTenant(inst, req, collector);
    return collector.response();
  }
}
