// The ingester's byte budgets (issue 11: memory bounded by configuration, not by the data). Everything a
// push adds is indexed in memory (a head block's entry and part references per trace) until its block
// is built, so the write path's memory follows the WAL bytes not yet in a block. Two budgets bound them:
//
// - live traces, `ingester.max_live_traces_bytes`: trace bytes in head blocks (received since the last
//   cut), all tenants together. Past it, the largest head block is cut early and goes to block building:
//   nothing is refused for it.
// - the flush backlog, `ingester.max_wal_backlog_bytes`: WAL bytes not yet built into a block (head
//   blocks, and cut blocks waiting for or in block building), all tenants together. A push that would take
//   it past the budget is refused before anything of it is written: RESOURCE_EXHAUSTED (HTTP 429) when its
//   tenant holds more than its share (the budget divided by the tenants holding a backlog), UNAVAILABLE
//   (503: "the ingester is full") otherwise. Both are retried by OpenTelemetry exporters; once block
//   building catches up, pushes are taken again. Blocks built but not yet copied to the backend do not
//   count: an object store outage does not stop ingest.
//
// Nothing here does I/O or keeps state: the ingester passes what its tenants hold at the time of the
// push (`usageOf`), and acts on the answer.

import type { PushBytesRequest } from '@stave/proto';
import { Code } from '@stave/server';
import { Counter, type Registry } from 'prom-client';
import type { TenantInstance } from './instance';
import { PAYLOAD_PREFIX, RECORD_HEADER } from './wal';

/** Why a push was refused: the message's prefix and the `reason` label of tempo_discarded_spans_total. */
export const BudgetReason = {
  /** The ingester's flush backlog is full and the tenant is within its share: 503. */
  INGESTER_FULL: 'ingester_full',
  /** The flush backlog is full and the tenant holds more than its share of it: 429. */
  TENANT_BACKLOG_EXCEEDED: 'tenant_backlog_exceeded',
} as const;
export type BudgetReason = (typeof BudgetReason)[keyof typeof BudgetReason];

/**
 * Retry-After (seconds) of a budget refusal. The WAL backlog gets room each time block building finishes
 * a block (seconds apart under load); told the receivers' default of 5 s, every exporter refused at the
 * same moment sat idle for seconds after the room was made, and so did the whole process (a collector-
 * shaped run idled 4 s at a time, bench/results/ingest.md "ingest5"). 1 s is the shortest HTTP can say;
 * a retry refused again costs one request's split.
 */
export const BUDGET_RETRY_AFTER_SECONDS = 1;

/** The budget refusal a message announces (by its prefix), if any. */
export function budgetReasonOf(message: string): BudgetReason | undefined {
  for (const r of Object.values(BudgetReason)) if (message.includes(`${r.toUpperCase()}:`)) return r;
  return undefined;
}

export interface WriteBudgetLimits {
  /** ingester.max_live_traces_bytes; 0: no budget. */
  readonly maxLiveTracesBytes: number;
  /** ingester.max_wal_backlog_bytes; 0: no budget. */
  readonly maxWalBacklogBytes: number;
  /** ingester.max_block_building_bytes (`buildPlan`); 0 or absent: no budget. */
  readonly maxBlockBuildingBytes?: number;
}

/** What one tenant holds, at the time of a push. */
export interface TenantUsage {
  readonly tenant: string;
  /** Trace bytes in the head block. */
  readonly liveBytes: number;
  /** WAL bytes of the head block and of the cut blocks not yet built (appends in flight included). */
  readonly backlogBytes: number;
  /** Cut blocks waiting for or in block building. */
  readonly building: number;
}

export function usageOf(instances: Iterable<TenantInstance>): TenantUsage[] {
  const out: TenantUsage[] = [];
  for (const inst of instances) {
    let backlogBytes = inst.head?.segment.size ?? 0;
    for (const h of inst.completing) backlogBytes += h.segment.size;
    out.push({ tenant: inst.tenant, liveBytes: inst.head?.dataBytes ?? 0, backlogBytes, building: inst.completing.length });
  }
  return out;
}

export interface Refusal {
  readonly reason: BudgetReason;
  readonly code: Code.ResourceExhausted | Code.Unavailable;
  /** Names the budget, its size and what fills it (short: the distributor quotes it inside its own). */
  readonly message: string;
}

/** The WAL bytes a push would append: each trace's data plus its record header and prefix. */
export function walBytesOf(req: PushBytesRequest): number {
  let n = 0;
  for (const t of req.traces) n += RECORD_HEADER + PAYLOAD_PREFIX + t.length;
  return n;
}

export class WriteBudget {
  private readonly refusals: Counter<'reason'> | undefined;

  constructor(
    readonly limits: WriteBudgetLimits,
    registry?: Registry,
  ) {
    this.refusals = registry
      ? new Counter({
          name: 'stave_ingester_refused_pushes_total',
          help: 'Pushes refused before being written because a byte budget was full, by reason.',
          labelNames: ['reason'],
          registers: [registry],
        })
      : undefined;
  }

  /** Whether the WAL backlog is past `fraction` of ingester.max_wal_backlog_bytes (never without that budget). */
  backlogPast(usage: readonly TenantUsage[], fraction: number): boolean {
    const max = this.limits.maxWalBacklogBytes;
    if (max <= 0) return false;
    let total = 0;
    for (const u of usage) total += u.backlogBytes;
    return total > max * fraction;
  }

  /** `check`, counting a refusal. */
  admit(tenant: string, bytes: number, usage: readonly TenantUsage[]): Refusal | undefined {
    const r = this.check(tenant, bytes, usage);
    if (r) this.refusals?.inc({ reason: r.reason });
    return r;
  }

  /**
   * Whether a push of `bytes` by `tenant` fits the flush backlog. A push is always taken when nothing
   * is in the backlog, so one larger than the whole budget cannot wedge the ingester.
   */
  check(tenant: string, bytes: number, usage: readonly TenantUsage[]): Refusal | undefined {
    const max = this.limits.maxWalBacklogBytes;
    if (max <= 0) return undefined;
    let total = 0;
    let holders = 0;
    let own = 0;
    for (const u of usage) {
      total += u.backlogBytes;
      if (u.backlogBytes > 0 || u.tenant === tenant) holders++;
      if (u.tenant === tenant) own = u.backlogBytes;
    }
    if (total === 0 || total + bytes <= max) return undefined;
    if (!usage.some((u) => u.tenant === tenant)) holders++;
    const share = Math.floor(max / Math.max(1, holders));
    if (holders > 1 && own + bytes > share) {
      return {
        reason: BudgetReason.TENANT_BACKLOG_EXCEEDED,
        code: Code.ResourceExhausted,
        message: `${BudgetReason.TENANT_BACKLOG_EXCEEDED.toUpperCase()}: tenant ${tenant} holds ${own} WAL bytes awaiting block building, over its share ${share} of ingester.max_wal_backlog_bytes (${max}, ${holders} tenants)`,
      };
    }
    return {
      reason: BudgetReason.INGESTER_FULL,
      code: Code.Unavailable,
      message: `${BudgetReason.INGESTER_FULL.toUpperCase()}: ${total} WAL bytes await block building, ingester.max_wal_backlog_bytes is ${max}; retry later`,
    };
  }

  /**
   * The tenant whose head block to cut now, if any: the largest head when the head blocks hold more than
   * max_live_traces_bytes; or, after a refusal, the largest head when no cut block is waiting for block
   * building (the backlog is all in head blocks, and only a cut lets block building drain it).
   */
  headToCut(usage: readonly TenantUsage[], refused: boolean): string | undefined {
    let live = 0;
    let building = 0;
    let largest: TenantUsage | undefined;
    for (const u of usage) {
      live += u.liveBytes;
      building += u.building;
      if (u.liveBytes > 0 && (!largest || u.liveBytes > largest.liveBytes)) largest = u;
    }
    if (!largest) return undefined;
    const maxLive = this.limits.maxLiveTracesBytes;
    if (maxLive > 0 && live > maxLive) return largest.tenant;
    if (refused && building === 0) return largest.tenant;
    return undefined;
  }
}

/**
 * What each thread of a block build (the writing one, each combine thread) costs the process besides the
 * build's row groups; compaction jobs count one too. Measured, not estimated: one build of a 20,000-trace
 * collector-shaped segment (349,230 spans, bench/flush's prepare) by BlockBuilderPool in a fresh process
 * with bin/stave's malloc settings, its peak VmRSS (100 ms samples) over the process's RSS before it, less
 * two row groups, divided by its threads: 38-51 MiB per thread over 9 builds (a writing and a combine
 * thread with row groups of 8, 12 and 23 MiB, and the writing thread alone), so 52 MiB covers every one.
 * It includes the thread's V8 young generation (BUILD_THREAD_LIMITS), its loaded modules (an idle combine
 * thread ~17 MiB, block-combine-worker.ts) and its transcoder's cache of resource and scope encodings
 * (@stave/block's MAX_HEADER_CACHE_BYTES). bench/results/ingest.md, "ingest6".
 */
export const BUILD_THREAD_BYTES = 52 * 1024 * 1024;
/** The smallest row group a build budget shrinks builds to. */
export const MIN_BUILD_ROW_GROUP_BYTES = 1024 * 1024;

export interface BuildPlan {
  /** Blocks built at once. */
  readonly builders: number;
  /** Uncompressed page bytes of one row group in the blocks the ingester builds. */
  readonly rowGroupSizeBytes: number;
  /** What one build is estimated to hold: its threads and two row groups (0 without a budget). */
  readonly buildBytes: number;
}

/**
 * How the ingester builds blocks within `ingester.max_block_building_bytes` (0: no budget). A build holds
 * its threads (the writing one and its combine threads) and one row group of pages, uncompressed and
 * compressed: `BUILD_THREAD_BYTES × (1 + combineThreads) + 2 × rowGroup`. Fewer builds run at once until
 * each can have at least the smallest row group, then the row group shrinks to fit (never below
 * MIN_BUILD_ROW_GROUP_BYTES, never above storage.trace.block.row_group_size_bytes). Compaction rewrites
 * blocks at the configured row group size.
 */
export function buildPlan(o: { maxBuildingBytes: number; builders: number; combineThreads: number; rowGroupSizeBytes: number }): BuildPlan {
  if (o.maxBuildingBytes <= 0) return { builders: o.builders, rowGroupSizeBytes: o.rowGroupSizeBytes, buildBytes: 0 };
  const threads = BUILD_THREAD_BYTES * (1 + o.combineThreads);
  let builders = Math.max(1, o.builders);
  while (builders > 1 && o.maxBuildingBytes / builders < threads + 2 * MIN_BUILD_ROW_GROUP_BYTES) builders--;
  const fit = Math.floor((o.maxBuildingBytes / builders - threads) / 2);
  const rowGroupSizeBytes = Math.min(o.rowGroupSizeBytes, Math.max(MIN_BUILD_ROW_GROUP_BYTES, fit));
  return { builders, rowGroupSizeBytes, buildBytes: threads + 2 * rowGroupSizeBytes };
}

/**
 * The memory of the heavy work a process does beside serving: block builds and, when the same process
 * compacts (`-target=all`, `scalable-single-binary`), compaction jobs. One byte budget,
 * `ingester.max_block_building_bytes`, for both: each takes its estimated bytes (at most the whole budget,
 * so a job larger than the budget still runs, alone). Compaction jobs wait, first come first served, until
 * they fit (`acquire`); block builds never wait (`take`): the write path waits for them, and a build held
 * behind a compaction job (which may run for many seconds) lets the WAL backlog fill until pushes are
 * refused (ingester.max_wal_backlog_bytes). Measured before the budget: a compaction thread
 * (~50 MiB of heap and ~50 MiB of buffers) running beside a block build was the whole run's RSS peak; a
 * job now starts only when it fits beside the builds, but a build may still start beside a running job.
 */
export class WorkMemoryGate {
  private used = 0;
  private readonly waiting: Array<{ bytes: number; go: () => void }> = [];
  private readonly pressure = new Set<() => void>();

  /** @param capacity bytes; 0: no budget (nothing waits). */
  constructor(readonly capacity: number) {}

  /** Bytes held by the work running now. */
  get inUse(): number {
    return this.used;
  }

  /** Work waiting for room. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Called whenever work starts waiting: a holder that keeps its bytes while idle (block-building threads
   * kept between builds) gives them back now.
   */
  onPressure(fn: () => void): void {
    this.pressure.add(fn);
  }

  /**
   * Takes `bytes` (clamped to the capacity) now, past the budget if need be, for work that must not wait
   * (block building); work waiting in `acquire` starts only once it fits beside it. Gives them back once.
   */
  take(bytes: number): () => void {
    if (this.capacity <= 0) return () => undefined;
    const n = Math.min(Math.max(0, bytes), this.capacity);
    this.used += n;
    return this.releaser(n);
  }

  /** Waits until `bytes` (clamped to the capacity) fit; the answer gives them back (once). */
  async acquire(bytes: number): Promise<() => void> {
    if (this.capacity <= 0) return () => undefined;
    const n = Math.min(Math.max(0, bytes), this.capacity);
    if (this.waiting.length > 0 || this.used + n > this.capacity) {
      const fits = new Promise<void>((go) => this.waiting.push({ bytes: n, go }));
      for (const fn of this.pressure) fn();
      await fits;
    } else this.used += n;
    return this.releaser(n);
  }

  private releaser(n: number): () => void {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.used -= n;
      this.admit();
    };
  }

  /** Runs `work` once `bytes` fit, and gives them back when it settles. */
  async run<T>(bytes: number, work: () => Promise<T>): Promise<T> {
    const release = await this.acquire(bytes);
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** Starts waiting work in order while the first in line fits. */
  private admit(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.bytes <= this.capacity) {
      const w = this.waiting.shift()!;
      this.used += w.bytes;
      w.go();
    }
  }
}

/**
 * The gate's bytes block-building threads should hold for their next build (BlockBuilderPool): all they
 * need (`wide`: the writing threads and their combine threads) when it fits beside what other work holds
 * or is already held; else `narrow` (the writing threads alone), taken past the budget if need be, since
 * the write path cannot wait for a compaction job. Never less than what they hold: threads that went wide
 * stay so until they end.
 */
export function buildReservation(o: { held: number; wide: number; narrow: number; capacity: number; inUse: number }): number {
  if (o.held >= o.wide || o.capacity <= 0 || o.wide - o.held <= o.capacity - o.inUse) return Math.max(o.held, o.wide);
  return Math.max(o.held, Math.min(o.wide, o.narrow));
}

/** What one compaction job holds while it runs: its thread and a row group of pages (uncompressed and compressed). */
export function compactionJobBytes(rowGroupSizeBytes: number): number {
  return BUILD_THREAD_BYTES + 2 * rowGroupSizeBytes;
}
