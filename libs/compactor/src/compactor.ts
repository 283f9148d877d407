// The compactor: every `compaction_cycle`, for each tenant, (1) compacts the jobs this instance owns,
// (2) applies retention, (3) deletes blocks compacted more than `compacted_block_retention` ago and block
// folders left without any meta by a crash, and (4) writes the tenant index when the ring elects this
// instance one of the tenant's `blocklist_poll_tenant_index_builders`.
//
// Crash safety (REL-13): a job writes its output block with meta.json last (invisible until complete),
// and only then marks its inputs compacted. A crash before the output's meta.json leaves an orphan folder
// (deleted after compacted_block_retention) and the inputs live; a crash after it and before the marks
// leaves the spans in both, which readers combine and deduplicate, until the next scan finishes the job:
// the output's meta.json names its inputs (compactedFrom), and those still live are marked. No step
// removes the last visible copy of a span.
//
// Ownership: a job's key (selector.ts) and each block ID for retention and deletion are owned by exactly
// one healthy compactor of the ring (JobOwnership in @stave/ring); a job is abandoned as soon as a check,
// at most once a second while it runs, finds it owned by another instance.

import type { ObjectStore } from '@stave/backend';
import {
  clearBlock,
  markBlockCompacted,
  scanTenant,
  writeTenantIndex,
  type BlockMeta,
  type CompactedBlockMeta,
  type TenantScan,
  type WriteBlockOptions,
} from '@stave/block';
import { BasicService, type Logger } from '@stave/core';
import { Registry } from 'prom-client';
import { writeMergedBlock, type MergeJob, type MergeStats } from './merge';
import type { MergeRunner } from './merge-worker-client';
import { CompactorMetrics } from './metrics';
import { blockEndMs, selectCompactionJobs, type CompactionJob } from './selector';

export interface CompactorConfig {
  /** `compactor.compaction.block_retention`: blocks whose end time is older are deleted. */
  readonly blockRetentionMs: number;
  /** `compactor.compaction.compacted_block_retention`: how long compacted blocks stay readable. */
  readonly compactedBlockRetentionMs: number;
  readonly compactionWindowMs: number;
  readonly compactionCycleMs: number;
  readonly maxCompactionObjects: number;
  readonly maxBlockBytes: number;
  /** Time spent compacting one tenant in one cycle before moving to the next. */
  readonly maxTimePerTenantMs: number;
  /** Marks and deletions in flight at once. */
  readonly retentionConcurrency: number;
  /** `storage.trace.blocklist_poll_tenant_index_builders`. */
  readonly tenantIndexBuilders: number;
  readonly minInputBlocks?: number;
  readonly maxInputBlocks?: number;
}

export interface CompactorOptions {
  readonly store: ObjectStore;
  readonly config: CompactorConfig;
  /** Whether this instance owns a job key (the compactor ring). */
  readonly owns: (key: string) => boolean;
  /** The tenant's `block_retention` override in ms; 0 or undefined: the compactor's. */
  readonly blockRetentionFor?: (tenant: string) => number | undefined;
  /** Block writing options (`storage.trace.block`). */
  readonly write?: Pick<WriteBlockOptions, 'bloomFalsePositive' | 'bloomShardSizeBytes' | 'rowGroupSizeBytes'>;
  /** Runs merges off the event loop (MergeWorker); absent or unavailable: on the compactor's thread. */
  readonly merger?: MergeRunner;
  /** Resolves when compacting may start (the ring has settled); the loop waits for it once. */
  readonly ready?: (signal: AbortSignal) => Promise<void>;
  readonly logger: Logger;
  readonly registry?: Registry;
  readonly metrics?: CompactorMetrics;
  readonly now?: () => number;
}

export interface JobResult {
  readonly output: BlockMeta;
  readonly inputs: readonly BlockMeta[];
  readonly stats: MergeStats;
}

export interface CycleReport {
  tenants: number;
  jobs: number;
  failedJobs: number;
  markedForRetention: number;
  deleted: number;
  orphansDeleted: number;
  indexesWritten: number;
}

/** Thrown to abandon a job: not owned any more, or the compactor is stopping. */
class JobAbandoned extends Error {}

const TENANT_INDEX_JOB_PREFIX = 'build-tenant-index-';

export class Compactor extends BasicService {
  private readonly store: ObjectStore;
  private readonly cfg: CompactorConfig;
  private readonly log: Logger;
  readonly metrics: CompactorMetrics;
  private readonly now: () => number;
  /** Block folders without meta, by tenant/blockID, with when this instance first saw them. */
  private readonly noMetaSeen = new Map<string, number>();
  private loop: Promise<void> | undefined;
  private readonly stopController = new AbortController();
  private cycles = 0;

  constructor(private readonly opts: CompactorOptions) {
    super('compactor');
    this.store = opts.store;
    this.cfg = opts.config;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.metrics = opts.metrics ?? new CompactorMetrics(opts.registry ?? new Registry());
  }

  /** Cycles completed since start (for tests and the status log). */
  get completedCycles(): number {
    return this.cycles;
  }

  protected override async starting(): Promise<void> {
    this.loop = this.run(this.stopController.signal);
  }

  protected override async stopping(): Promise<void> {
    this.stopController.abort();
    await this.loop;
    await this.opts.merger?.close();
  }

  private async run(signal: AbortSignal): Promise<void> {
    try {
      await this.opts.ready?.(signal);
    } catch (err) {
      if (!signal.aborted) this.log.warn('compactor ring did not settle; compacting anyway', { err: String(err) });
    }
    while (!signal.aborted) {
      try {
        await this.runCycle(signal);
      } catch (err) {
        if (!signal.aborted) this.log.error('compaction cycle failed', { err: String(err) });
      }
      this.cycles++;
      await sleep(this.cfg.compactionCycleMs, signal);
    }
  }

  /** One cycle over every tenant in the backend. */
  async runCycle(signal?: AbortSignal): Promise<CycleReport> {
    const report: CycleReport = { tenants: 0, jobs: 0, failedJobs: 0, markedForRetention: 0, deleted: 0, orphansDeleted: 0, indexesWritten: 0 };
    const { prefixes } = await this.store.list('', { delimiter: '/' });
    for (const p of prefixes) {
      if (signal?.aborted) break;
      const tenant = p.slice(0, -1);
      report.tenants++;
      try {
        await this.cycleTenant(tenant, report, signal);
      } catch (err) {
        if (signal?.aborted) break;
        this.log.error('compaction cycle failed for tenant', { tenant, err: String(err) });
      }
    }
    return report;
  }

  private async cycleTenant(tenant: string, report: CycleReport, signal?: AbortSignal): Promise<void> {
    const started = this.now();
    let scan = await this.scan(tenant);

    // 1. Compaction: select, run the owned jobs, and select again over the result until nothing owned is
    //    left or the tenant's time is up (Tempo selects once per cycle; going on converges sooner).
    let outstanding = 0;
    const failedBefore = report.failedJobs;
    for (;;) {
      if (signal?.aborted) return;
      const jobs = selectCompactionJobs(scan.metas, this.selectorOptions()).filter((j) => this.opts.owns(j.hash));
      if (jobs.length === 0) break;
      let ran = 0;
      for (const job of jobs) {
        if (signal?.aborted) return;
        if (this.now() - started >= this.cfg.maxTimePerTenantMs) break;
        ran++;
        try {
          await this.compactJob(tenant, job, signal);
          report.jobs++;
        } catch (err) {
          report.failedJobs++;
          if (err instanceof JobAbandoned) this.log.info('compaction job abandoned', { tenant, job: job.hash, reason: err.message });
          else this.log.error('compaction job failed', { tenant, job: job.hash, err: String(err) });
        }
      }
      outstanding = jobs.slice(ran).reduce((n, j) => n + j.blocks.length, 0);
      scan = await this.scan(tenant);
      // A failed job is retried next cycle, not in a loop now.
      if (ran < jobs.length || report.failedJobs > failedBefore) break;
    }
    this.metrics.outstandingBlocks.set({ tenant }, outstanding);

    // 2–3. Retention and deletion.
    if (signal?.aborted) return;
    await this.retain(tenant, scan, report);

    // 4. The tenant index, from a fresh scan so it shows this cycle's work.
    if (signal?.aborted) return;
    if (this.buildsTenantIndex(tenant)) {
      scan = await this.scan(tenant);
      await writeTenantIndex(this.store, tenant, scan.metas, scan.compacted, () => new Date(this.now()));
      this.metrics.tenantIndexWrites.inc();
      report.indexesWritten++;
    }
  }

  /** Whether this instance is one of the tenant's index builders (Tempo's poller rule). */
  buildsTenantIndex(tenant: string): boolean {
    for (let i = 0; i < this.cfg.tenantIndexBuilders; i++) if (this.opts.owns(`${TENANT_INDEX_JOB_PREFIX}${i}-${tenant}`)) return true;
    return false;
  }

  private selectorOptions() {
    return {
      windowMs: this.cfg.compactionWindowMs,
      maxCompactionObjects: this.cfg.maxCompactionObjects,
      maxBlockBytes: this.cfg.maxBlockBytes,
      now: this.now(),
      ...(this.cfg.minInputBlocks !== undefined ? { minInputBlocks: this.cfg.minInputBlocks } : {}),
      ...(this.cfg.maxInputBlocks !== undefined ? { maxInputBlocks: this.cfg.maxInputBlocks } : {}),
    };
  }

  /**
   * The tenant's blocks, with what a crash interrupted finished: a mark (marker and meta.json both there)
   * is completed, and a live block that a live compaction output names in `compactedFrom` (the crash came
   * between the output's meta.json and the inputs' marks) is marked compacted, as its job would have.
   */
  private async scan(tenant: string): Promise<TenantScan> {
    const scan = await scanTenant(this.store, tenant);
    for (const { blockID, err } of scan.invalid) this.log.warn('block meta unreadable; block left alone', { tenant, block: blockID, err: String(err) });
    for (const c of scan.halfMarked) {
      if (!this.opts.owns(c.blockID)) continue;
      await markBlockCompacted(this.store, c, new Date(Date.parse(c.compactedTime)));
      scan.compacted.push(c);
    }
    const replaced = new Set(scan.metas.flatMap((m) => m.compactedFrom ?? []));
    if (replaced.size === 0) return scan;
    const live: BlockMeta[] = [];
    for (const m of scan.metas) {
      if (!replaced.has(m.blockID) || !this.opts.owns(m.blockID)) {
        live.push(m);
        continue;
      }
      this.log.info('finishing an interrupted compaction: marking an input its output replaced', { tenant, block: m.blockID });
      scan.compacted.push(await markBlockCompacted(this.store, m, new Date(this.now())));
    }
    scan.metas.splice(0, scan.metas.length, ...live);
    return scan;
  }

  /** Runs one job: merge the inputs into one block at the next level, then mark the inputs compacted. */
  async compactJob(tenant: string, job: CompactionJob, signal?: AbortSignal): Promise<JobResult> {
    const end = this.metrics.jobDuration.startTimer();
    const inputs = job.blocks;
    const level = Math.max(...inputs.map((m) => m.compactionLevel)) + 1;
    const startedAt = this.now();
    let lastCheck = startedAt;
    const check = () => {
      if (signal?.aborted) throw new JobAbandoned('the compactor is stopping');
      const t = this.now();
      if (t - lastCheck < 1000) return;
      lastCheck = t;
      if (!this.opts.owns(job.hash)) throw new JobAbandoned('the job is owned by another compactor now');
      // Its unfinished output is a folder without meta, which compactors delete as an orphan once they
      // have seen it for compacted_block_retention: a job must be done well before that.
      if (t - startedAt > this.cfg.compactedBlockRetentionMs / 2) {
        throw new JobAbandoned(`the job ran longer than half of compacted_block_retention (${this.cfg.compactedBlockRetentionMs} ms)`);
      }
    };
    const rfs = new Set(inputs.map((m) => m.replicationFactor));
    const rf = rfs.size === 1 ? inputs[0]!.replicationFactor : undefined;
    try {
      this.log.info('compacting blocks', { tenant, job: job.hash, compactionLevel: level, blocks: inputs.map((m) => m.blockID) });
      const mj: MergeJob = {
        tenant,
        inputs,
        level,
        ...(rf !== undefined ? { replicationFactor: rf } : {}),
        ...(this.opts.write ? { write: this.opts.write } : {}),
        createdAtMs: this.now(),
      };
      const merger = this.opts.merger?.available ? this.opts.merger : undefined;
      const { output, stats } = merger ? await merger.run(mj, check) : await writeMergedBlock(this.store, mj, check);
      // The output is visible (its meta.json is written): only now may the inputs go.
      const compactedAt = new Date(this.now());
      for (const m of inputs) await markBlockCompacted(this.store, m, compactedAt);

      const lv = String(level);
      this.metrics.blocks.inc({ level: lv }, inputs.length);
      this.metrics.objectsWritten.inc({ level: lv }, output.totalObjects);
      this.metrics.bytesWritten.inc({ level: lv }, output.size);
      this.metrics.objectsCombined.inc({ level: lv }, stats.combined);
      // Tempo's label: 0 for ingester blocks (which carry no replicationFactor), 1 for RF-1 blocks.
      this.metrics.spansCombined.inc({ replication_factor: String(rf ?? 0) }, stats.spansIn - stats.spansOut);
      this.metrics.spansIn.inc(stats.spansIn);
      this.metrics.outputBlockSize.observe(output.size);
      this.metrics.jobs.inc({ result: 'ok' });
      this.log.info('compacted blocks', {
        tenant,
        compactionLevel: level,
        inputs: inputs.length,
        output: output.blockID,
        traces: output.totalObjects,
        spans: output.totalSpans,
        duplicateSpans: stats.spansIn - stats.spansOut,
        thread: merger ? 'worker' : 'main',
      });
      return { output, inputs, stats };
    } catch (err) {
      if (err instanceof JobAbandoned) {
        this.metrics.jobs.inc({ result: 'aborted' });
      } else {
        this.metrics.jobs.inc({ result: 'error' });
        this.metrics.errors.inc();
      }
      throw err;
    } finally {
      end();
    }
  }

  /** Marks blocks past retention, clears compacted blocks past compacted_block_retention, and orphans. */
  private async retain(tenant: string, scan: TenantScan, report: CycleReport): Promise<void> {
    const endTimer = this.metrics.retentionDuration.startTimer();
    const now = this.now();
    const override = this.opts.blockRetentionFor?.(tenant);
    const retention = override ? override : this.cfg.blockRetentionMs;
    const cutoff = now - retention;
    const expired = scan.metas.filter((m) => blockEndMs(m) < cutoff && this.opts.owns(m.blockID));
    const doomed = scan.compacted.filter((c) => Date.parse(c.compactedTime) < now - this.cfg.compactedBlockRetentionMs && this.opts.owns(c.blockID));

    // Folders with no meta: a block being written, or what a crash left. Deleted once this instance has
    // seen them without meta for compacted_block_retention (a write takes far less).
    const seen = new Set<string>();
    const orphans: string[] = [];
    for (const id of scan.noMeta) {
      const k = `${tenant}/${id}`;
      seen.add(k);
      const first = this.noMetaSeen.get(k);
      if (first === undefined) this.noMetaSeen.set(k, now);
      else if (now - first >= this.cfg.compactedBlockRetentionMs && this.opts.owns(id)) orphans.push(id);
    }
    for (const k of this.noMetaSeen.keys()) if (k.startsWith(`${tenant}/`) && !seen.has(k)) this.noMetaSeen.delete(k);

    const tasks: Array<() => Promise<void>> = [
      ...expired.map((m) => async () => {
        this.log.info('marking block for deletion: past retention', { tenant, block: m.blockID, endTime: m.endTime, retentionMs: retention });
        await markBlockCompacted(this.store, m, new Date(now));
        this.metrics.retentionMarked.inc();
        report.markedForRetention++;
      }),
      ...doomed.map((c: CompactedBlockMeta) => async () => {
        this.log.info('deleting compacted block', { tenant, block: c.blockID, compactedTime: c.compactedTime });
        await clearBlock(this.store, tenant, c.blockID);
        this.metrics.retentionDeleted.inc();
        report.deleted++;
      }),
      ...orphans.map((id) => async () => {
        this.log.warn('deleting block folder without meta (left by a crashed write)', { tenant, block: id });
        await clearBlock(this.store, tenant, id);
        this.noMetaSeen.delete(`${tenant}/${id}`);
        this.metrics.orphansDeleted.inc();
        report.orphansDeleted++;
      }),
    ];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < tasks.length) {
        const t = tasks[next++]!;
        try {
          await t();
        } catch (err) {
          this.metrics.retentionErrors.inc();
          this.log.error('retention task failed', { tenant, err: String(err) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.cfg.retentionConcurrency, tasks.length)) }, worker));
    endTimer();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
