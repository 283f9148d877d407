// The ingester: appends pushed traces to a per-tenant WAL segment (acknowledged once fsynced), indexes
// them by trace ID for reads, cuts the head block on max_block_duration / max_block_bytes, builds each
// cut block into a complete block on local disk, flushes it to the backend with retries, and keeps it
// queryable for complete_block_timeout. On start it replays the WAL: nothing acknowledged is lost.
//
//   push → WAL (fsync) → head block ─cut→ completing ─build→ complete (wal/blocks) ─flush→ backend
//                                                                         └─ kept for complete_block_timeout

import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { copyBlockObjects, deleteBlockObjects, LocalStore, type ObjectStore } from '@stave/backend';
import { hexID as hex, isBlockID, openBlock, readMeta, type BlockMeta, type BlockReader } from '@stave/block';
import { combineTraces, type TraceLike } from '@stave/model';
import { BlockBuilderPool, traceFromParts } from './block-builder';
import {
  PushErrorReason,
  PushResponseSchema,
  TraceByIDResponseSchema,
  QueryMode,
  type PushBytesRequest,
  type PushResponse,
  type TraceByIDRequest,
  type TraceByIDResponse,
} from '@stave/proto';
import { BasicService, Code, ConnectError, State, type LimitsConfig, type Logger, type Overrides } from '@stave/server';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { IngesterClient } from './client';
import { HeadBlock, type TraceEntry } from './head-block';
import { decodeSegment, WalSegment } from './wal';

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
  block: { bloomFalsePositive: number; bloomShardSizeBytes: number; rowGroupSizeBytes: number };
  now?: () => number;
}

interface CompleteBlock {
  readonly meta: BlockMeta;
  readonly reader: BlockReader;
  flushedMs: number | undefined;
}

class Metrics {
  readonly liveTraces: Gauge<'tenant'>;
  readonly tracesCreated: Counter<'tenant'>;
  readonly bytesReceived: Counter<'tenant'>;
  readonly blocksFlushed: Counter;
  readonly failedFlushes: Counter;
  readonly walCorrupt: Counter;
  readonly walReplayed: Counter;
  readonly walQuarantined: Counter;

  constructor(r: Registry) {
    const reg = { registers: [r] };
    this.liveTraces = new Gauge({ name: 'tempo_ingester_live_traces', help: 'Live traces held by the ingester.', labelNames: ['tenant'], ...reg });
    this.tracesCreated = new Counter({ name: 'tempo_ingester_traces_created_total', help: 'Traces created in head blocks.', labelNames: ['tenant'], ...reg });
    this.bytesReceived = new Counter({ name: 'tempo_ingester_bytes_received_total', help: 'Trace bytes appended to the WAL.', labelNames: ['tenant'], ...reg });
    this.blocksFlushed = new Counter({ name: 'tempo_ingester_blocks_flushed_total', help: 'Complete blocks flushed to the backend.', ...reg });
    this.failedFlushes = new Counter({ name: 'tempo_ingester_failed_flushes_total', help: 'Flushes that failed and will be retried.', ...reg });
    this.walCorrupt = new Counter({ name: 'stave_ingester_wal_corrupt_records_total', help: 'Torn or corrupt WAL tails found on replay.', ...reg });
    this.walReplayed = new Counter({ name: 'stave_ingester_wal_replayed_records_total', help: 'WAL records replayed on start.', ...reg });
    this.walQuarantined = new Counter({ name: 'stave_ingester_wal_quarantined_files_total', help: 'Unreadable files moved out of the WAL.', ...reg });
  }
}

/** One tenant's blocks inside the ingester. */
/** A cut head block to build and flush, or (after replay) a complete block only to flush. */
type FlushJob = { inst: TenantInstance; head: HeadBlock; complete?: undefined } | { inst: TenantInstance; head?: undefined; complete: CompleteBlock };

class TenantInstance {
  head: HeadBlock | undefined;
  readonly completing: HeadBlock[] = [];
  readonly complete: CompleteBlock[] = [];
  liveTraces = 0;

  constructor(readonly tenant: string) {}
}

const WAL_SUFFIX = '.wal';
const COMPLETE_DIR = 'blocks';
const QUARANTINE_DIR = 'quarantine';

export class Ingester extends BasicService implements IngesterClient {
  private readonly tenants = new Map<string, TenantInstance>();
  private readonly metrics: Metrics;
  private readonly completeStore: LocalStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** Blocks waiting to be built (`head`) and/or flushed (`complete`), in order. */
  private readonly flushQueue: FlushJob[] = [];
  private activeFlushes = 0;
  private readonly flushWaiters = new Set<() => void>();
  private accepting = false;
  private readonly builders: BlockBuilderPool;

  constructor(private readonly opts: IngesterOptions) {
    super('ingester');
    this.metrics = new Metrics(opts.registry);
    this.completeStore = new LocalStore(path.join(opts.walPath, COMPLETE_DIR));
    this.log = opts.logger.child({ component: 'ingester' });
    this.now = opts.now ?? Date.now;
    // Block building is CPU-bound: leave a core to the event loop.
    this.builders = new BlockBuilderPool(Math.max(1, Math.min(opts.concurrentFlushes, availableParallelism() - 1)));
  }

  protected override async starting(): Promise<void> {
    await mkdir(this.opts.walPath, { recursive: true });
    await this.replay();
    this.accepting = true;
    this.timer = setInterval(() => this.sweep(), Math.max(100, Math.min(this.opts.flushCheckPeriodMs, this.opts.traceIdlePeriodMs)));
    this.timer.unref();
  }

  protected override async stopping(): Promise<void> {
    this.accepting = false;
    if (this.timer) clearInterval(this.timer);
    // Everything pushed is already durable in the WAL; seal the heads so no write is half-done, and let
    // running flushes finish. Sealed segments are replayed on the next start.
    // Builds in progress are abandoned (their WAL segments are rebuilt on the next start), so shutdown
    // is not held up by a large block.
    for (const inst of this.tenants.values()) await inst.head?.segment.close();
    await this.builders.close();
    await this.waitForFlushes();
    for (const inst of this.tenants.values()) for (const h of inst.completing) await h.segment.close();
  }

  // ---- write path ----

  async pushBytes(req: PushBytesRequest): Promise<PushResponse> {
    if (!this.accepting) throw new ConnectError('ingester is not accepting writes (starting or stopping)', Code.Unavailable);
    if (req.traces.length !== req.ids.length) {
      throw new ConnectError(`push has ${req.traces.length} traces but ${req.ids.length} IDs`, Code.InvalidArgument);
    }
    const tenant = req.tenant;
    const inst = this.instance(tenant);
    const limits = this.opts.overrides.forTenant(tenant);
    const head = await this.headFor(inst);
    const now = this.now();
    const errors: PushErrorReason[] = new Array<PushErrorReason>(req.traces.length).fill(PushErrorReason.NO_ERROR);
    const accepted: number[] = [];
    const pendingNew = new Map<string, number>();
    for (let i = 0; i < req.traces.length; i++) {
      const id = req.ids[i]!;
      if (id.length !== 16) throw new ConnectError(`trace ID must be 16 bytes, got ${id.length}`, Code.InvalidArgument);
      const reason = this.admit(inst, head, hex(id), req.traces[i]!.length, limits, pendingNew);
      if (reason === PushErrorReason.NO_ERROR) accepted.push(i);
      else errors[i] = reason;
    }
    if (accepted.length > 0) {
      const refs = await head.segment.append(accepted.map((i) => ({ traceID: req.ids[i]!, startSeconds: 0, endSeconds: 0, data: req.traces[i]! })));
      let bytes = 0;
      for (let k = 0; k < accepted.length; k++) {
        const i = accepted[k]!;
        const key = hex(req.ids[i]!);
        let e = head.traces.get(key);
        if (!e) {
          e = { id: new Uint8Array(req.ids[i]!), refs: [], bytes: 0, startSeconds: 0, endSeconds: 0, lastAppendMs: now, live: false };
          head.traces.set(key, e);
          this.metrics.tracesCreated.inc({ tenant });
        }
        if (!e.live) {
          e.live = true;
          inst.liveTraces++;
        }
        e.refs.push(refs[k]!);
        e.bytes += req.traces[i]!.length;
        e.lastAppendMs = now;
        bytes += req.traces[i]!.length;
      }
      head.dataBytes += bytes;
      this.metrics.bytesReceived.inc({ tenant }, bytes);
      this.metrics.liveTraces.set({ tenant }, inst.liveTraces);
      if (head.dataBytes >= this.opts.maxBlockBytes) this.cut(inst);
    }
    return create(PushResponseSchema, { errorsByTrace: errors });
  }

  /** Applies max_bytes_per_trace and max_traces_per_user to one incoming trace. */
  private admit(inst: TenantInstance, head: HeadBlock, key: string, size: number, limits: LimitsConfig, pendingNew: Map<string, number>): PushErrorReason {
    const e: TraceEntry | undefined = head.traces.get(key);
    const maxBytes = limits.global.max_bytes_per_trace;
    const soFar = (e?.bytes ?? 0) + (pendingNew.get(key) ?? 0);
    if (maxBytes > 0 && soFar + size > maxBytes) return PushErrorReason.TRACE_TOO_LARGE;
    const maxLive = limits.ingestion.max_traces_per_user;
    if ((!e || !e.live) && !pendingNew.has(key) && maxLive > 0 && inst.liveTraces + pendingNew.size >= maxLive) {
      return PushErrorReason.MAX_LIVE_TRACES;
    }
    pendingNew.set(key, (pendingNew.get(key) ?? 0) + size);
    return PushErrorReason.NO_ERROR;
  }

  private instance(tenant: string): TenantInstance {
    let inst = this.tenants.get(tenant);
    if (!inst) {
      inst = new TenantInstance(tenant);
      this.tenants.set(tenant, inst);
    }
    return inst;
  }

  private headPromises = new Map<TenantInstance, Promise<HeadBlock>>();

  private async headFor(inst: TenantInstance): Promise<HeadBlock> {
    if (inst.head) return inst.head;
    let p = this.headPromises.get(inst);
    if (!p) {
      p = (async () => {
        const blockID = randomUUID();
        const dir = path.join(this.opts.walPath, inst.tenant);
        await mkdir(dir, { recursive: true });
        const seg = await WalSegment.open(path.join(dir, blockID + WAL_SUFFIX));
        const head = new HeadBlock(inst.tenant, blockID, seg, this.now());
        inst.head = head;
        this.headPromises.delete(inst);
        return head;
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
    for (const e of head.traces.values()) {
      if (e.live) {
        e.live = false;
        inst.liveTraces--;
      }
    }
    this.metrics.liveTraces.set({ tenant: inst.tenant }, inst.liveTraces);
    inst.completing.push(head);
    this.flushQueue.push({ inst, head });
    this.pump();
  }

  private sweep(): void {
    const now = this.now();
    for (const inst of this.tenants.values()) {
      const head = inst.head;
      if (head) {
        for (const e of head.traces.values()) {
          if (e.live && now - e.lastAppendMs >= this.opts.traceIdlePeriodMs) {
            e.live = false;
            inst.liveTraces--;
          }
        }
        this.metrics.liveTraces.set({ tenant: inst.tenant }, inst.liveTraces);
        if (head.traces.size > 0 && now - head.createdMs >= this.opts.maxBlockDurationMs) this.cut(inst);
      }
      // Complete blocks are dropped once queriers can be expected to find them in the backend.
      for (let i = inst.complete.length - 1; i >= 0; i--) {
        const b = inst.complete[i]!;
        if (b.flushedMs !== undefined && now - b.flushedMs >= this.opts.completeBlockTimeoutMs) {
          inst.complete.splice(i, 1);
          void deleteBlockObjects(this.completeStore, inst.tenant, b.meta.blockID);
        }
      }
    }
  }

  private pump(): void {
    while (this.activeFlushes < this.opts.concurrentFlushes && this.flushQueue.length > 0) {
      const job = this.flushQueue.shift()!;
      this.activeFlushes++;
      void this.completeAndFlush(job).finally(() => {
        this.activeFlushes--;
        for (const w of this.flushWaiters) w();
        this.pump();
      });
    }
  }

  /**
   * Builds the block (once, when the job has a head) and flushes it, retrying with jittered backoff
   * until it lands or the ingester stops: a stopped flush is picked up by replay on the next start.
   */
  private async completeAndFlush(job: FlushJob): Promise<void> {
    const { inst, head } = job;
    let complete = job.complete;
    await head?.segment.seal();
    let backoff = 500;
    while (this.state === State.Starting || this.state === State.Running) {
      try {
        if (!complete) {
          const h = head!;
          const meta = await this.builders.build({
            segmentPath: h.segment.path,
            traces: h.sortedIDs().map((k) => h.traces.get(k)!),
            storeRoot: this.completeStore.root,
            tenant: inst.tenant,
            blockID: h.blockID,
            ...this.opts.block,
          });
          complete = { meta, reader: openBlock(this.completeStore, meta), flushedMs: undefined };
          inst.complete.push(complete);
          inst.completing.splice(inst.completing.indexOf(h), 1);
          await h.segment.close();
          await rm(h.segment.path, { force: true });
        }
        await copyBlockObjects(this.completeStore, this.opts.store, inst.tenant, complete.meta.blockID);
        complete.flushedMs = this.now();
        this.metrics.blocksFlushed.inc();
        this.log.info('flushed block', { tenant: inst.tenant, block: complete.meta.blockID, traces: complete.meta.totalObjects });
        return;
      } catch (err) {
        this.metrics.failedFlushes.inc();
        this.log.warn('block flush failed; retrying', { tenant: inst.tenant, block: complete?.meta.blockID ?? head!.blockID, err, retry_in_ms: backoff });
        if (!this.accepting && this.state !== State.Starting) return;
        await new Promise((r) => setTimeout(r, backoff * (0.5 + Math.random())));
        backoff = Math.min(backoff * 2, 60_000);
      }
    }
  }

  /** Cuts every head block and waits until everything cut is flushed (`/flush`). */
  async flushAll(): Promise<void> {
    for (const inst of this.tenants.values()) this.cut(inst);
    await this.waitForFlushes();
  }

  private waitForFlushes(): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.activeFlushes === 0 && this.flushQueue.length === 0) {
          this.flushWaiters.delete(check);
          resolve();
        }
      };
      this.flushWaiters.add(check);
      check();
    });
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
      for (const b of inst.complete) {
        const t = await b.reader.findTraceByID(req.traceId);
        if (t) parts.push(t);
      }
    }
    return create(TraceByIDResponseSchema, { trace: parts.length === 0 ? undefined : combineTraces(parts) });
  }

  // ---- replay ----

  private async replay(): Promise<void> {
    const root = this.opts.walPath;
    // Complete blocks that were built (meta.json present) flush again; partial ones are rebuilt from WAL.
    const completeIDs = new Set<string>();
    for (const tenant of await listDirs(path.join(root, COMPLETE_DIR))) {
      for (const blockID of await listDirs(path.join(root, COMPLETE_DIR, tenant))) {
        try {
          const meta = await readMeta(this.completeStore, tenant, blockID);
          completeIDs.add(blockID);
          const inst = this.instance(tenant);
          const complete: CompleteBlock = { meta, reader: openBlock(this.completeStore, meta), flushedMs: undefined };
          inst.complete.push(complete);
          this.flushQueue.push({ inst, complete });
        } catch {
          await rm(path.join(root, COMPLETE_DIR, tenant, blockID), { recursive: true, force: true });
        }
      }
    }
    for (const tenant of await listDirs(root)) {
      if (tenant === COMPLETE_DIR || tenant === QUARANTINE_DIR) continue;
      const dir = path.join(root, tenant);
      for (const name of await readdir(dir)) {
        const file = path.join(dir, name);
        const blockID = name.slice(0, -WAL_SUFFIX.length);
        const st = await stat(file);
        if (!st.isFile() || !name.endsWith(WAL_SUFFIX) || !isBlockID(blockID)) {
          await this.quarantine(file, 'not a WAL segment');
          continue;
        }
        if (st.size === 0) {
          await rm(file, { force: true });
          continue;
        }
        if (completeIDs.has(blockID)) {
          await rm(file, { force: true });
          continue;
        }
        const buf = await readFile(file);
        const res = decodeSegment(buf);
        if (res.tear) {
          this.metrics.walCorrupt.inc();
          this.log.warn('WAL segment has a torn or corrupt tail; replaying the records before it', {
            file,
            offset: res.tear.offset,
            reason: res.tear.reason,
            records: res.records.length,
          });
          if (res.records.length === 0) {
            await this.quarantine(file, res.tear.reason);
            continue;
          }
        }
        const seg = await WalSegment.open(file, res.validBytes);
        const inst = this.instance(tenant);
        const head = new HeadBlock(tenant, blockID, seg, st.mtimeMs);
        for (const r of res.records) {
          const key = hex(r.traceID);
          let e = head.traces.get(key);
          if (!e) {
            e = { id: r.traceID, refs: [], bytes: 0, startSeconds: 0, endSeconds: 0, lastAppendMs: 0, live: false };
            head.traces.set(key, e);
          }
          e.refs.push({ offset: r.dataOffset, length: r.data.length });
          e.bytes += r.data.length;
          head.dataBytes += r.data.length;
        }
        this.metrics.walReplayed.inc(res.records.length);
        this.log.info('replayed WAL segment', { tenant, block: blockID, records: res.records.length, traces: head.traces.size });
        inst.completing.push(head);
        this.flushQueue.push({ inst, head });
      }
    }
    this.pump();
  }

  private async quarantine(file: string, reason: string): Promise<void> {
    const dir = path.join(this.opts.walPath, QUARANTINE_DIR);
    await mkdir(dir, { recursive: true });
    const dest = path.join(dir, `${Date.now()}-${path.basename(file)}`);
    await rename(file, dest);
    this.metrics.walQuarantined.inc();
    this.log.warn('moved an unreadable file out of the WAL', { file, moved_to: dest, reason });
  }
}

async function listDirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}
