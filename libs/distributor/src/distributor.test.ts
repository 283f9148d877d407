import { create, toBinary } from '@bufbuild/protobuf';
import type { IngesterClient, PushPiece } from '@stave/ingester';
import { ExportTraceServiceRequestSchema, PushErrorReason, PushResponseSchema, type PushBytesRequest } from '@stave/proto';
import { StaticRing, tokenFor, type InstanceDesc } from '@stave/ring';
import { Code, ConnectError, defaultConfig, limitsSection, nopLogger, Overrides, parseConfig } from '@stave/server';
import { Registry } from 'prom-client';
import { Distributor } from './distributor';

/** An ingester stand-in that records what it is sent and fails or rejects on request. */
class RecordingIngester implements IngesterClient {
  readonly pushes: PushBytesRequest[] = [];
  /** The pieces each push came with (what a remote client would encode). */
  readonly pieces: Array<readonly PushPiece[] | undefined> = [];
  fail: Error | undefined;
  /** When set, pushes wait for it (a replica that hangs, as under SIGSTOP). */
  hang: Promise<void> | undefined;
  reject: PushErrorReason = PushErrorReason.NO_ERROR;
  /** Each push's trace bytes as they were when the call was made (hex), to compare with what it reads later. */
  readonly sent: string[][] = [];
  async pushBytes(req: PushBytesRequest, pieces?: readonly PushPiece[]) {
    this.sent.push(req.traces.map((t) => Buffer.from(t).toString('hex')));
    if (this.hang) await this.hang;
    if (this.fail) throw this.fail;
    this.pushes.push(req);
    this.pieces.push(pieces);
    return create(PushResponseSchema, { errorsByTrace: req.ids.map(() => this.reject) });
  }
  findTraceByID(): never {
    throw new Error('not used');
  }
  search(): never {
    throw new Error('not used');
  }
  searchTags(): never {
    throw new Error('not used');
  }
}

function body(traces: number, spansPerTrace = 2): Uint8Array {
  return bodyOf(1, traces, spansPerTrace);
}

/** A request of `traces` traces whose ID bytes are `first`, `first + 1`, ... */
function bodyOf(first: number, traces: number, spansPerTrace = 2): Uint8Array {
  return toBinary(
    ExportTraceServiceRequestSchema,
    create(ExportTraceServiceRequestSchema, {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: Array.from({ length: traces * spansPerTrace }, (_, i) => ({
                traceId: new Uint8Array(16).fill(first + Math.floor(i / spansPerTrace)),
                spanId: new Uint8Array(8).fill(1 + i),
                name: 'op',
              })),
            },
          ],
        },
      ],
    }),
  );
}

function setup(rf: number, limits: Record<string, unknown> = {}, multitenancy = false, retryAfterOnResourceExhaustedMs = 0, ingesterCount = rf) {
  const ingesters = Array.from({ length: ingesterCount }, () => new RecordingIngester());
  const ring = new StaticRing({ replicationFactor: rf, heartbeatTimeoutMs: 60_000 });
  const instances: InstanceDesc[] = ingesters.map((_, i) => ({
    id: `ing-${i}`,
    addr: `ing-${i}:9095`,
    zone: '',
    state: 'ACTIVE',
    tokens: [i * 1000, i * 1000 + 7, 0x8000_0000 + i],
    timestamp: Date.now(),
    registeredTimestamp: 0,
  }));
  ring.set(instances);
  const base = limitsSection.toYaml(defaultConfig().overrides.defaults) as Record<string, Record<string, unknown>>;
  const merged = { ...base, ...Object.fromEntries(Object.entries(limits).map(([k, v]) => [k, { ...base[k], ...(v as object) }])) };
  let now = 0;
  const registry = new Registry();
  const d = new Distributor({
    multitenancy,
    ring,
    ingester: (inst) => ingesters[Number(inst.id.slice(4))]!,
    overrides: new Overrides(parseConfig(limitsSection, merged).config),
    retryAfterOnResourceExhaustedMs,
    logger: nopLogger,
    registry,
    now: () => now,
  });
  return { d, ingesters, ring, registry, tick: (ms: number) => (now += ms) };
}

const ctx = { orgID: undefined, protocol: 'otlp_http_proto' as const };

/** Waits (bounded) until `until` holds, letting the promises in flight run. */
async function poll(until: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await until()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('condition not reached');
}

describe('Distributor', () => {
  it("sends each trace's span time range in whole seconds (start rounded down, end up)", async () => {
    const { d, ingesters } = setup(1);
    const req = create(ExportTraceServiceRequestSchema, {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: new Uint8Array(16).fill(1),
                  spanId: new Uint8Array(8).fill(1),
                  startTimeUnixNano: 1_700_000_000_500_000_000n,
                  endTimeUnixNano: 1_700_000_002_000_000_000n,
                },
                {
                  traceId: new Uint8Array(16).fill(1),
                  spanId: new Uint8Array(8).fill(2),
                  startTimeUnixNano: 1_700_000_001_000_000_000n,
                  endTimeUnixNano: 1_700_000_003_000_000_001n,
                },
                { traceId: new Uint8Array(16).fill(2), spanId: new Uint8Array(8).fill(3) },
              ],
            },
          ],
        },
      ],
    });
    await d.pushOtlp(ctx, toBinary(ExportTraceServiceRequestSchema, req));
    const [push] = ingesters[0]!.pushes;
    expect(push!.ids.map((id) => id[0])).toEqual([1, 2]);
    expect(push!.startSeconds).toEqual([1_700_000_000, 0]);
    expect(push!.endSeconds).toEqual([1_700_000_004, 0]);
  });

  it('sends each trace, as its own slice, to every replica', async () => {
    const { d, ingesters } = setup(3);
    expect(await d.pushOtlp(ctx, body(4))).toEqual({ rejectedSpans: 0, errorMessage: '' });
    for (const ing of ingesters) {
      expect(ing.pushes.flatMap((p) => p.ids.map((id) => id[0]))).toEqual(expect.arrayContaining([1, 2, 3, 4]));
      expect(ing.pushes[0]!.tenant).toBe('single-tenant');
    }
  });

  it('with as many ingesters as replicas, sends every replica the same part (encoded once by a remote client)', async () => {
    const { d, ingesters } = setup(3);
    await d.pushOtlp(ctx, body(6));
    const parts = ingesters.map((ing) => ing.pieces[0]?.[0]);
    expect(parts[0]).toBeDefined();
    expect(parts[1]).toBe(parts[0]);
    expect(parts[2]).toBe(parts[0]);
  });

  it('with more ingesters than replicas, sends each trace to exactly its replication set, once each', async () => {
    const { d, ingesters, ring } = setup(2, {}, false, 0, 5);
    // Tokens spread over the ring, so the traces fall into several replication sets and each ingester
    // is in more than one of them.
    ring.set(
      ingesters.map((_, i) => ({
        id: `ing-${i}`,
        addr: `ing-${i}:9095`,
        zone: '',
        state: 'ACTIVE' as const,
        tokens: [i * 0x3000_0000, i * 0x3000_0000 + 0x1800_0000],
        timestamp: Date.now(),
        registeredTimestamp: 0,
      })),
    );
    await d.pushOtlp(ctx, body(60));
    const got = new Map<number, number[]>();
    ingesters.forEach((ing, n) => {
      for (const p of ing.pushes) {
        expect(p.traces).toHaveLength(p.ids.length);
        expect(p.startSeconds).toHaveLength(p.ids.length);
        for (const id of p.ids) got.set(id[0]!, [...(got.get(id[0]!) ?? []), n]);
      }
    });
    expect(got.size).toBe(60);
    const sets = new Set<string>();
    for (const [b, where] of got) {
      const want = ring.get(tokenFor('single-tenant', new Uint8Array(16).fill(b))).instances.map((i) => Number(i.id.slice(4)));
      expect(where.sort()).toEqual(want.sort());
      sets.add(want.join());
    }
    expect(sets.size).toBeGreaterThanOrEqual(3);
  });

  it('succeeds with one of three replicas down, and fails Unavailable with two down', async () => {
    const { d, ingesters } = setup(3);
    ingesters[0]!.fail = new ConnectError('connection refused', Code.Unavailable);
    await expect(d.pushOtlp(ctx, body(2))).resolves.toEqual({ rejectedSpans: 0, errorMessage: '' });
    ingesters[1]!.fail = new ConnectError('connection refused', Code.Unavailable);
    const err = await d.pushOtlp(ctx, body(2)).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unavailable);
    expect((err as ConnectError).rawMessage).toMatch(
      /^write quorum not reached for trace (01){16}: 1 of 2 replicas required succeeded \(connection refused\)$/,
    );
  });

  it('answers once every trace has its quorum, without waiting for a replica that hangs (REL-10)', async () => {
    const { d, ingesters } = setup(3);
    let release!: () => void;
    ingesters[2]!.hang = new Promise((r) => (release = r));
    await expect(d.pushOtlp(ctx, body(4))).resolves.toEqual({ rejectedSpans: 0, errorMessage: '' });
    expect(ingesters[2]!.pushes).toEqual([]);
    release();
  });

  it('reuses a split arena only once every replica call carrying it has ended, the hung one included', async () => {
    const { d, ingesters, registry } = setup(3);
    const arenas = async (outcome: string) =>
      (await registry.getSingleMetric('stave_distributor_split_arenas_total')!.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
    let release!: () => void;
    ingesters[2]!.hang = new Promise((r) => (release = r));
    // Answered by the quorum while replica 2 still holds views of the first push's arena.
    await d.pushOtlp(ctx, body(4));
    // Further pushes (other trace IDs and bytes) while it hangs: none may be split into that arena.
    for (let i = 0; i < 5; i++) await d.pushOtlp(ctx, bodyOf(60 + i * 10, 3));
    release();
    // 4 + 5 × 3 traces, in 5 or 6 calls (pushes waiting behind 4 calls in flight travel together).
    await poll(() => ingesters[2]!.pushes.reduce((n, p) => n + p.ids.length, 0) === 19);
    // What the hung replica reads now is what it was sent then.
    expect(ingesters[2]!.pushes.map((p) => p.traces.map((t) => Buffer.from(t).toString('hex')))).toEqual(ingesters[2]!.sent);
    expect(ingesters[2]!.sent[0]).toEqual(ingesters[0]!.sent[0]);
    // Once every call has ended the arenas are kept and the next pushes reuse them.
    const reusedBefore = await arenas('reused');
    await poll(async () => (await registry.getSingleMetric('stave_distributor_split_arena_pool_bytes')!.get()).values[0]!.value > 0);
    ingesters[2]!.hang = undefined;
    await d.pushOtlp(ctx, body(4));
    expect(await arenas('reused')).toBe(reusedBefore + 1);
  });

  it('reports spans an ingester refused as rejected, naming the limit', async () => {
    const { d, ingesters } = setup(1);
    ingesters[0]!.reject = PushErrorReason.TRACE_TOO_LARGE;
    expect(await d.pushOtlp(ctx, body(3, 2))).toEqual({ rejectedSpans: 6, errorMessage: '6 spans discarded: trace too large (max_bytes_per_trace)' });
  });

  it('answers ResourceExhausted with Retry-After past the tenant’s rate limit, and recovers', async () => {
    const b = body(5);
    const limit = Math.floor(b.length * 1.5);
    const { d, tick } = setup(1, { ingestion: { rate_limit_bytes: limit, burst_size_bytes: limit } });
    await d.pushOtlp(ctx, b);
    const err = ConnectError.from(await d.pushOtlp(ctx, b).catch((e: unknown) => e));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toBe(
      `RATE_LIMITED: ingestion rate limit (local: ${limit} bytes/s, burst ${limit} bytes) exceeded while adding ${b.length} bytes for tenant single-tenant`,
    );
    expect(Number(err.metadata.get('retry-after'))).toBeGreaterThanOrEqual(1);
    tick(1000);
    await expect(d.pushOtlp(ctx, b)).resolves.toMatchObject({ rejectedSpans: 0 });
  });

  it('tells a rate-limited client distributor.retry_after_on_resource_exhausted when it is set', async () => {
    const b = body(5);
    const { d } = setup(1, { ingestion: { rate_limit_bytes: b.length, burst_size_bytes: b.length } }, false, 7_500);
    await d.pushOtlp(ctx, b);
    const err = ConnectError.from(await d.pushOtlp(ctx, b).catch((e: unknown) => e));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.metadata.get('retry-after')).toBe('8');
  });

  it.each([
    [undefined, Code.Unauthenticated, 'no org id'],
    ['', Code.Unauthenticated, 'no org id'],
    ['bad/tenant', Code.InvalidArgument, 'unsupported characters'],
    ['..', Code.InvalidArgument, 'not allowed'],
  ])('with multitenancy, org ID %j is refused (%s)', async (orgID, code, msg) => {
    const { d } = setup(1, {}, true);
    const err = ConnectError.from(await d.pushOtlp({ ...ctx, orgID }, body(1)).catch((e: unknown) => e));
    expect(err.code).toBe(code);
    expect(err.rawMessage).toContain(msg);
  });

  it('routes a tenant’s traces under its own name', async () => {
    const { d, ingesters } = setup(1, {}, true);
    await d.pushOtlp({ ...ctx, orgID: 'team-a' }, body(1));
    expect(ingesters[0]!.pushes[0]!.tenant).toBe('team-a');
  });
});
