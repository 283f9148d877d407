// The distributor: resolves the tenant, applies the tenant's ingestion rate limit, cuts each request into
// per-trace byte slices (without decoding spans), and pushes every trace to its replication set of
// ingesters. A push is answered only once each trace has reached a write quorum.

import { availableParallelism } from 'node:os';
import { SplitPool, type SplitResult, type TraceSplit } from '@stave/model';
import { BUDGET_RETRY_AFTER_SECONDS, budgetReasonOf, type IngesterClient } from '@stave/ingester';
import { PushErrorReason } from '@stave/proto';
import type { PushContext, PushOutcome, TracePusher } from '@stave/receivers';
import { RingUnavailableError, tokenFor, type InstanceDesc, type ReadRing } from '@stave/ring';
import { BasicService, Code, ConnectError, codeOf, resolveTenant, type Logger, type Overrides } from '@stave/server';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { GeneratorForwarder } from './generator-forwarder';
import { PushBatcher, type PushPart } from './push-batcher';
import { RateLimiter } from './rate-limiter';

/**
 * Calls to one ingester (per tenant) in flight before the parts of further requests wait and travel
 * together in the next call (push-batcher.ts). WAL syncs overlap up to 8 per segment on the ingester.
 */
const PUSHES_IN_FLIGHT_PER_INGESTER = 4;
/** Trace bytes in one merged push: a quarter of the default gRPC message limit (16 MiB). */
const MAX_MERGED_PUSH_BYTES = 4 * 1024 * 1024;
/** Trace bytes waiting for one ingester before its further parts fail fast (a hung replica). */
const MAX_WAITING_PUSH_BYTES = 64 * 1024 * 1024;

/** Why spans were discarded: the `reason` label of tempo_discarded_spans_total, as Tempo names them. */
export const DiscardReason = {
  RATE_LIMITED: 'rate_limited',
  TRACE_TOO_LARGE: 'trace_too_large',
  LIVE_TRACES_EXCEEDED: 'live_traces_exceeded',
  INTERNAL_ERROR: 'internal_error',
} as const;
export type DiscardReason = (typeof DiscardReason)[keyof typeof DiscardReason];

export interface DistributorOptions {
  multitenancy: boolean;
  ring: ReadRing;
  /** The client for an ingester instance (in-process or remote). */
  ingester: (instance: InstanceDesc) => IngesterClient;
  overrides: Overrides;
  /** Healthy distributors sharing a global rate limit (1 without a distributor ring). */
  healthyDistributors?: () => number;
  /**
   * distributor.retry_after_on_resource_exhausted: the retry delay a rate-limited client is told. 0 (the
   * default): the time until the tenant's bucket holds the request again.
   */
  retryAfterOnResourceExhaustedMs?: number;
  /**
   * Forwards the spans of tenants whose overrides enable metrics-generator processors
   * (metrics_generator_processors), after the ingesters accepted them; never fails or slows the push.
   */
  generators?: GeneratorForwarder;
  /**
   * Worker threads that split requests by trace and frame the WAL records (split-pool.ts in @stave/model);
   * default one per core but one, at least one. 0: split on the event loop.
   */
  splitThreads?: number;
  logger: Logger;
  registry: Registry;
  now?: () => number;
}

/**
 * What a push's split waits for before the splitter may reuse it: its traces are views of one arena,
 * released only when every call carrying them has ended (the slowest replica's too, after the quorum
 * answered), and never when a metrics-generator's queue kept them (this process's own generator copies
 * them at once).
 */
interface SplitUse {
  /** Settles once every call to the ingesters has ended. */
  calls: Promise<unknown>;
  /** A metrics-generator's queue holds views of the traces. */
  kept: boolean;
}

export class Distributor extends BasicService implements TracePusher {
  private readonly limiter: RateLimiter;
  private readonly spansReceived: Counter<'tenant'>;
  private readonly bytesReceived: Counter<'tenant'>;
  private readonly discarded: Counter<'tenant' | 'reason'>;
  private readonly pushDuration: Histogram;
  private readonly log: Logger;
  /** One batcher per ingester and tenant with calls in flight (dropped when idle). */
  private readonly batchers = new Map<string, PushBatcher>();
  private readonly splitter: SplitPool;

  constructor(private readonly opts: DistributorOptions) {
    super('distributor');
    this.limiter = new RateLimiter(opts.now);
    this.log = opts.logger.child({ component: 'distributor' });
    this.splitter = new SplitPool(opts.splitThreads ?? Math.max(1, availableParallelism() - 1));
    const reg = { registers: [opts.registry] };
    this.spansReceived = new Counter({ name: 'tempo_distributor_spans_received_total', help: 'Spans received.', labelNames: ['tenant'], ...reg });
    this.bytesReceived = new Counter({ name: 'tempo_distributor_bytes_received_total', help: 'Bytes received.', labelNames: ['tenant'], ...reg });
    this.discarded = new Counter({ name: 'tempo_discarded_spans_total', help: 'Spans discarded, by reason.', labelNames: ['tenant', 'reason'], ...reg });
    const splitter = this.splitter;
    new Counter({
      name: 'stave_distributor_split_arenas_total',
      help: 'Arenas the push splits wrote WAL records into: reused from the pool, or made (none kept was large enough); dropped: handed back to a full pool.',
      labelNames: ['outcome'],
      ...reg,
      collect() {
        const st = splitter.arenaStats();
        this.reset();
        this.inc({ outcome: 'reused' }, st.reused);
        this.inc({ outcome: 'made' }, st.made);
        this.inc({ outcome: 'dropped' }, st.dropped);
      },
    });
    new Gauge({
      name: 'stave_distributor_split_arena_pool_bytes',
      help: 'Bytes of free arenas the push splits keep for reuse.',
      ...reg,
      collect() {
        this.set(splitter.arenaStats().bytes);
      },
    });
    this.pushDuration = new Histogram({
      name: 'tempo_distributor_push_duration_seconds',
      help: 'Time to push a batch to the ingesters.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      ...reg,
    });
  }

  protected override async stopping(): Promise<void> {
    await this.splitter.close();
  }

  async pushOtlp(ctx: PushContext, body: Uint8Array): Promise<PushOutcome> {
    const tenant = resolveTenant(ctx.orgID, this.opts.multitenancy);
    const limits = this.opts.overrides.forTenant(tenant);
    const bodyBytes = body.length; // the body may be moved to a split worker
    const split = await this.splitter.split(body, ctx.bodyDisposable === true);
    const use: SplitUse = { calls: Promise.resolve(), kept: false };
    try {
      return await this.pushSplit(tenant, limits, bodyBytes, split, use);
    } finally {
      if (!use.kept) void use.calls.then(() => this.splitter.release(split));
    }
  }

  private async pushSplit(
    tenant: string,
    limits: ReturnType<Overrides['forTenant']>,
    bodyBytes: number,
    split: SplitResult,
    use: SplitUse,
  ): Promise<PushOutcome> {
    if (split.spanCount === 0) return { rejectedSpans: 0, errorMessage: '' };

    const global = limits.ingestion.rate_strategy === 'global';
    const share = global ? Math.max(1, this.opts.healthyDistributors?.() ?? 1) : 1;
    const limit = { bytesPerSecond: limits.ingestion.rate_limit_bytes / share, burstBytes: limits.ingestion.burst_size_bytes / share };
    const wait = this.limiter.check(tenant, bodyBytes, limit);
    if (wait !== undefined) {
      this.discarded.inc({ tenant, reason: DiscardReason.RATE_LIMITED }, split.spanCount);
      throw new ConnectError(
        `RATE_LIMITED: ingestion rate limit (local: ${Math.round(limit.bytesPerSecond)} bytes/s, burst ${Math.round(limit.burstBytes)} bytes) exceeded while adding ${bodyBytes} bytes for tenant ${tenant}`,
        Code.ResourceExhausted,
        { 'retry-after': String(this.opts.retryAfterOnResourceExhaustedMs ? Math.ceil(this.opts.retryAfterOnResourceExhaustedMs / 1000) : wait) },
      );
    }
    this.spansReceived.inc({ tenant }, split.spanCount);
    this.bytesReceived.inc({ tenant }, bodyBytes);

    const end = this.pushDuration.startTimer();
    let outcome: PushOutcome;
    try {
      outcome = await this.replicate(tenant, split.traces, use);
    } finally {
      end();
    }
    if (limits.metrics_generator.processors.length > 0 && this.opts.generators?.send(tenant, split.traces)) use.kept = true;
    return outcome;
  }

  /**
   * Walks the ring for each trace and cuts the request into one call per ingester (batchesByIngester).
   * Two passes, so each group's lists are allocated once at their size.
   */
  private partsByIngester(tenant: string, traces: readonly TraceSplit[], need: number[], maxErrors: number[]): IngesterBatch[] {
    const groups: Array<{ instances: readonly InstanceDesc[]; count: number }> = [];
    const groupOf = new Array<number>(traces.length);
    const byKey = new Map<string, number>();
    let last = -1;
    for (let i = 0; i < traces.length; i++) {
      let set;
      try {
        set = this.opts.ring.get(tokenFor(tenant, traces[i]!.id));
      } catch (err) {
        if (err instanceof RingUnavailableError) throw new ConnectError(`cannot write: ${err.message}`, Code.Unavailable);
        throw err;
      }
      need[i] = set.instances.length - set.maxErrors;
      maxErrors[i] = set.maxErrors;
      // With few ingesters most traces share the previous trace's set (in some order); else by the set's IDs.
      let g = last >= 0 && sameInstances(groups[last]!.instances, set.instances) ? last : -1;
      if (g < 0) {
        const key = set.instances.map((x) => x.id).join('\u0000');
        g = byKey.get(key) ?? -1;
        if (g < 0) {
          g = groups.push({ instances: set.instances, count: 0 }) - 1;
          byKey.set(key, g);
        }
      }
      last = g;
      groups[g]!.count++;
      groupOf[i] = g;
    }
    const filled = groups.map(({ instances, count }) => ({
      instances,
      idx: new Array<number>(count),
      part: {
        traces: new Array<Uint8Array>(count),
        ids: new Array<Uint8Array>(count),
        startSeconds: new Array<number>(count),
        endSeconds: new Array<number>(count),
      },
      n: 0,
    }));
    for (let i = 0; i < traces.length; i++) {
      const t = traces[i]!;
      const g = filled[groupOf[i]!]!;
      const k = g.n++;
      g.idx[k] = i;
      g.part.traces[k] = t.bytes;
      g.part.ids[k] = t.id;
      g.part.startSeconds[k] = t.startSeconds;
      g.part.endSeconds[k] = t.endSeconds;
    }
    return batchesByIngester(filled);
  }

  /**
   * Sends each trace to its replication set; every trace must reach its write quorum. Sets `use.calls` to
   * a promise that settles once every call has ended, quorum or not.
   */
  private async replicate(tenant: string, traces: readonly TraceSplit[], use: SplitUse): Promise<PushOutcome> {
    const need = new Array<number>(traces.length);
    const maxErrors = new Array<number>(traces.length);
    const batches = this.partsByIngester(tenant, traces, need, maxErrors);
    const ok = new Array<number>(traces.length).fill(0);
    const failed = new Array<number>(traces.length).fill(0);
    const rejected = new Map<number, PushErrorReason>();
    let lastErr: unknown;
    const send = async ({ instance, idx, part }: IngesterBatch): Promise<void> => {
      const key = `${instance.id}\u0000${tenant}`;
      let batcher = this.batchers.get(key);
      if (!batcher) {
        const created: PushBatcher = new PushBatcher({
          tenant,
          maxInFlight: PUSHES_IN_FLIGHT_PER_INGESTER,
          maxBatchBytes: MAX_MERGED_PUSH_BYTES,
          maxWaitingBytes: MAX_WAITING_PUSH_BYTES,
          onIdle: () => {
            if (this.batchers.get(key) === created) this.batchers.delete(key);
          },
        });
        this.batchers.set(key, (batcher = created));
      }
      try {
        const errorsByTrace = await batcher.push(this.opts.ingester(instance), part);
        for (let k = 0; k < idx.length; k++) {
          const i = idx[k]!;
          const reason = errorsByTrace[k] ?? PushErrorReason.NO_ERROR;
          if (reason === PushErrorReason.NO_ERROR) ok[i]!++;
          else rejected.set(i, reason);
        }
      } catch (err) {
        lastErr = err;
        this.log.warn('push to ingester failed', { ingester: instance.addr, err: err instanceof Error ? err.message : String(err) });
        for (const i of idx) failed[i]!++;
      }
    };
    // Answer as soon as every trace has its quorum: a replica that hangs (SIGSTOP, a full disk) must not
    // hold every push until the client timeout. The slow call goes on and only adds to the counts.
    await new Promise<void>((resolve) => {
      let pending = batches.length;
      if (pending === 0) resolve();
      const quorum = () => ok.every((n, i) => n >= need[i]!);
      const calls = batches.map((b) =>
        send(b).finally(() => {
          pending--;
          if (pending === 0 || quorum()) resolve();
        }),
      );
      use.calls = Promise.all(calls);
    });
    let rejectedSpans = 0;
    const byReason = new Map<string, number>();
    for (let i = 0; i < traces.length; i++) {
      if (ok[i]! >= need[i]!) continue;
      const reason = rejected.get(i);
      if (reason !== undefined && failed[i]! <= maxErrors[i]!) {
        const r =
          reason === PushErrorReason.TRACE_TOO_LARGE
            ? DiscardReason.TRACE_TOO_LARGE
            : reason === PushErrorReason.MAX_LIVE_TRACES
              ? DiscardReason.LIVE_TRACES_EXCEEDED
              : DiscardReason.INTERNAL_ERROR;
        byReason.set(r, (byReason.get(r) ?? 0) + traces[i]!.spanCount);
        rejectedSpans += traces[i]!.spanCount;
        continue;
      }
      // Quorum not reached: the whole request fails so the client retries (ingesters dedupe on read).
      const code = codeOf(lastErr);
      // An ingester's byte budget refused it (libs/ingester/src/budget.ts): its message names the budget.
      const budget = lastErr === undefined ? undefined : budgetReasonOf(ConnectError.from(lastErr).rawMessage);
      if (budget !== undefined) {
        let spans = 0;
        for (const t of traces) spans += t.spanCount;
        this.discarded.inc({ tenant, reason: budget }, spans);
        throw new ConnectError(ConnectError.from(lastErr).rawMessage, code === Code.ResourceExhausted ? code : Code.Unavailable, {
          'retry-after': String(BUDGET_RETRY_AFTER_SECONDS),
        });
      }
      throw new ConnectError(
        `write quorum not reached for trace ${Buffer.from(traces[i]!.id).toString('hex')}: ${ok[i]} of ${need[i]} replicas required succeeded (${lastErr === undefined ? 'no error' : ConnectError.from(lastErr).rawMessage})`,
        code === Code.InvalidArgument || code === Code.ResourceExhausted ? code : Code.Unavailable,
      );
    }
    for (const [reason, n] of byReason) this.discarded.inc({ tenant, reason }, n);
    const msg = [...byReason]
      .map(
        ([r, n]) =>
          `${n} spans discarded: ${r === DiscardReason.TRACE_TOO_LARGE ? 'trace too large (max_bytes_per_trace)' : r === DiscardReason.LIVE_TRACES_EXCEEDED ? 'max live traces per tenant exceeded (max_traces_per_user)' : r}`,
      )
      .join('; ');
    return { rejectedSpans, errorMessage: msg };
  }
}

/** Traces of one request that go to the same replication set, in request order. */
interface ReplicaGroup {
  readonly instances: readonly InstanceDesc[];
  readonly idx: number[];
  readonly part: PushPart;
}

/** What one ingester is sent for a request: the indexes of its traces and their part. */
interface IngesterBatch {
  readonly instance: InstanceDesc;
  readonly idx: number[];
  readonly part: PushPart;
}

function emptyPart(): PushPart {
  return { traces: [], ids: [], startSeconds: [], endSeconds: [] };
}

function sameInstances(a: readonly InstanceDesc[], b: readonly InstanceDesc[]): boolean {
  if (a.length !== b.length) return false;
  for (const x of a) if (!b.some((y) => y.id === x.id)) return false;
  return true;
}

/**
 * The calls of one request, one per ingester. Traces are grouped by replication set first, each group
 * filling one part as the ring is walked, so each trace is added to one part however many replicas it
 * has; an ingester in one group is sent that group's part, and every ingester in that group the same
 * object, which a remote client encodes once for all of them (every ingester of a ring no larger than the
 * replication factor). An ingester in several groups gets their parts joined, shared again with any other
 * ingester in exactly the same groups.
 */
function batchesByIngester(groups: readonly ReplicaGroup[]): IngesterBatch[] {
  const of = new Map<string, { instance: InstanceDesc; groups: number[] }>();
  groups.forEach((g, k) => {
    for (const inst of g.instances) {
      const e = of.get(inst.id);
      if (e) e.groups.push(k);
      else of.set(inst.id, { instance: inst, groups: [k] });
    }
  });
  const joined = new Map<string, { idx: number[]; part: PushPart }>();
  const out: IngesterBatch[] = [];
  for (const { instance, groups: ks } of of.values()) {
    if (ks.length === 1) {
      const g = groups[ks[0]!]!;
      out.push({ instance, idx: g.idx, part: g.part });
      continue;
    }
    const key = ks.join(',');
    let j = joined.get(key);
    if (!j) {
      j = { idx: [], part: emptyPart() };
      for (const k of ks) {
        const g = groups[k]!;
        for (let n = 0; n < g.idx.length; n++) {
          j.idx.push(g.idx[n]!);
          j.part.traces.push(g.part.traces[n]!);
          j.part.ids.push(g.part.ids[n]!);
          j.part.startSeconds.push(g.part.startSeconds[n]!);
          j.part.endSeconds.push(g.part.endSeconds[n]!);
        }
      }
      joined.set(key, j);
    }
    out.push({ instance, idx: j.idx, part: j.part });
  }
  return out;
}
