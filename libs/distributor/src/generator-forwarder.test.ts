import { create, toBinary } from '@bufbuild/protobuf';
import { remoteGeneratorClient } from '@stave/generator';
import { splitByTrace } from '@stave/model';
import { ExportTraceServiceRequestSchema, PushResponseSchema, type PushBytesRequest, type PushSpansRequest } from '@stave/proto';
import { StaticRing, tokenFor, type InstanceDesc } from '@stave/ring';
import { defaultConfig, limitsSection, nopLogger, Overrides, parseConfig } from '@stave/server';
import { Registry } from 'prom-client';
import { Distributor } from './distributor';
import { GeneratorForwarder, type GeneratorPushClient } from './generator-forwarder';

/** A request with `n` traces of one span each; trace i's ID is 16 bytes of i+1. */
function body(n: number, first = 0): Uint8Array {
  return toBinary(
    ExportTraceServiceRequestSchema,
    create(ExportTraceServiceRequestSchema, {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: Array.from({ length: n }, (_, i) => ({ traceId: new Uint8Array(16).fill(first + i + 1), spanId: new Uint8Array(8).fill(1), name: 'op' })),
            },
          ],
        },
      ],
    }),
  );
}

function instance(i: number, tokens: number[]): InstanceDesc {
  return { id: `gen-${i}`, addr: `gen-${i}:9095`, zone: '', state: 'ACTIVE', tokens, timestamp: Date.now(), registeredTimestamp: 0 };
}

/** A generator stand-in: records each call, and answers when `release` is called (or at once). */
class Generator implements GeneratorPushClient {
  readonly calls: PushSpansRequest[] = [];
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly hold = false) {}
  pushSpans(req: PushSpansRequest): Promise<unknown> {
    this.calls.push(req);
    if (!this.hold) return Promise.resolve({});
    return new Promise((resolve) => this.waiting.push(() => resolve({})));
  }
  release(): void {
    for (const r of this.waiting.splice(0)) r();
  }
}

async function metric(reg: Registry, name: string, addr: string): Promise<number> {
  return (await reg.getSingleMetric(name)!.get()).values.find((v) => v.labels.metrics_generator === addr)?.value ?? 0;
}

describe('GeneratorForwarder', () => {
  it('sends each trace to the generator that owns its token in the generator ring, one call per tenant', async () => {
    const ring = new StaticRing({ replicationFactor: 1, heartbeatTimeoutMs: 60_000 });
    ring.set([instance(0, [0x4000_0000]), instance(1, [0xc000_0000])]);
    const gens = [new Generator(), new Generator()];
    const registry = new Registry();
    const f = new GeneratorForwarder({ ring, client: (i) => gens[Number(i.id.slice(4))]!, logger: nopLogger, registry });
    await f.start();
    const traces = splitByTrace(body(20)).traces;
    f.send('t1', traces);
    await f.idle();
    const owner = (id: Uint8Array) => {
      const t = tokenFor('t1', id);
      return t <= 0x4000_0000 || t > 0xc000_0000 ? 0 : 1;
    };
    for (const g of [0, 1]) {
      const want = traces.filter((t) => owner(t.id) === g).map((t) => Buffer.from(t.bytes).toString('hex'));
      expect(want.length).toBeGreaterThan(0);
      expect(gens[g]!.calls).toHaveLength(1);
      expect(gens[g]!.calls[0]!.tenant).toBe('t1');
      expect(gens[g]!.calls[0]!.traces.map((b) => Buffer.from(b).toString('hex'))).toEqual(want);
      expect(await metric(registry, 'tempo_distributor_metrics_generator_pushes_total', `gen-${g}:9095`)).toBe(1);
    }
    await f.stop();
  });

  it('keeps at most queue_size pushes waiting per generator; the overflow is dropped and counted', async () => {
    const ring = new StaticRing({ replicationFactor: 1, heartbeatTimeoutMs: 60_000 });
    ring.set([instance(0, [1])]);
    const gen = new Generator(true);
    const registry = new Registry();
    const f = new GeneratorForwarder({ ring, client: () => gen, queueSize: 2, concurrency: 1, logger: nopLogger, registry });
    await f.start();
    const kept: boolean[] = [];
    for (let i = 0; i < 5; i++) kept.push(f.send(`t${i}`, splitByTrace(body(1, i)).traces)); // distinct tenants: no merging
    // One in flight, two waiting, two dropped: only the queued ones keep views of their bytes.
    expect(kept).toEqual([true, true, true, false, false]);
    expect(gen.calls).toHaveLength(1);
    expect(await metric(registry, 'tempo_distributor_metrics_generator_pushes_failures_total', 'gen-0:9095')).toBe(2);
    for (let i = 0; i < 3; i++) {
      gen.release();
      await new Promise((r) => setImmediate(r));
    }
    await f.idle();
    expect(gen.calls.map((c) => c.tenant)).toEqual(['t0', 't1', 't2']);
    expect(await metric(registry, 'tempo_distributor_metrics_generator_pushes_failures_total', 'gen-0:9095')).toBe(2);
    await f.stop();
  });

  it('merges waiting pushes of one tenant into one call', async () => {
    const ring = new StaticRing({ replicationFactor: 1, heartbeatTimeoutMs: 60_000 });
    ring.set([instance(0, [1])]);
    const gen = new Generator(true);
    const f = new GeneratorForwarder({ ring, client: () => gen, concurrency: 1, logger: nopLogger, registry: new Registry() });
    await f.start();
    for (let i = 0; i < 4; i++) f.send('t', splitByTrace(body(1, i)).traces);
    gen.release();
    await new Promise((r) => setImmediate(r));
    gen.release();
    await f.idle();
    expect(gen.calls.map((c) => c.traces.length)).toEqual([1, 3]);
    await f.stop();
  });

  it('counts a push with no healthy generator in the ring as a failure', async () => {
    const ring = new StaticRing({ replicationFactor: 1, heartbeatTimeoutMs: 60_000 });
    const registry = new Registry();
    const f = new GeneratorForwarder({ ring, client: () => new Generator(), logger: nopLogger, registry });
    await f.start();
    expect(f.send('t', splitByTrace(body(3)).traces)).toBe(false);
    expect(await metric(registry, 'tempo_distributor_metrics_generator_pushes_failures_total', '')).toBe(3);
    await f.stop();
  });

  it('keeps no view of the bytes a generator took a copy of at once (offer), taken or refused', async () => {
    const ring = new StaticRing({ replicationFactor: 1, heartbeatTimeoutMs: 60_000 });
    ring.set([instance(0, [1])]);
    const offered: string[][] = [];
    let room = 1;
    const local: GeneratorPushClient = {
      pushSpans: () => Promise.reject(new Error('an offering client is not called')),
      offer: (_tenant, traces) => {
        if (room-- <= 0) return false;
        offered.push(traces.map((b) => Buffer.from(b).toString('hex')));
        return true;
      },
    };
    const registry = new Registry();
    const f = new GeneratorForwarder({ ring, client: () => local, logger: nopLogger, registry });
    await f.start();
    const traces = splitByTrace(body(4)).traces;
    expect(f.send('t', traces)).toBe(false);
    expect(offered).toEqual([traces.map((t) => Buffer.from(t.bytes).toString('hex'))]);
    expect(f.send('t', splitByTrace(body(2, 1)).traces)).toBe(false); // refused: counted, nothing kept
    expect(await metric(registry, 'tempo_distributor_metrics_generator_pushes_failures_total', 'gen-0:9095')).toBe(1);
    await f.stop();
  });
});

describe('Distributor forwarding to metrics-generators', () => {
  function setup(processors: string[], client: (i: InstanceDesc) => GeneratorPushClient) {
    const ingesterRing = new StaticRing({ replicationFactor: 1, heartbeatTimeoutMs: 60_000 });
    ingesterRing.set([{ ...instance(0, [1]), id: 'ing-0', addr: 'ing-0:9095' }]);
    const pushed: PushBytesRequest[] = [];
    const generatorRing = new StaticRing({ replicationFactor: 1, heartbeatTimeoutMs: 60_000 });
    generatorRing.set([instance(0, [1])]);
    const registry = new Registry();
    const generators = new GeneratorForwarder({ ring: generatorRing, client, logger: nopLogger, registry });
    const base = limitsSection.toYaml(defaultConfig().overrides.defaults) as Record<string, Record<string, unknown>>;
    const d = new Distributor({
      multitenancy: false,
      ring: ingesterRing,
      ingester: () => ({
        pushBytes: async (req: PushBytesRequest) => {
          pushed.push(req);
          return create(PushResponseSchema, {});
        },
        findTraceByID: () => Promise.reject(new Error('not used')),
        search: () => Promise.reject(new Error('not used')),
        searchTags: () => Promise.reject(new Error('not used')),
      }),
      overrides: new Overrides(parseConfig(limitsSection, { ...base, metrics_generator: { ...base.metrics_generator, processors } }).config),
      generators,
      logger: nopLogger,
      registry,
    });
    return { d, generators, pushed, registry };
  }
  const ctx = { orgID: undefined, protocol: 'otlp_http_proto' as const };

  it('forwards only for tenants whose overrides enable processors', async () => {
    for (const [processors, calls] of [
      [[], 0],
      [['span-metrics'], 1],
    ] as const) {
      const gen = new Generator();
      const { d, generators } = setup([...processors], () => gen);
      await generators.start();
      await d.pushOtlp(ctx, body(3));
      await generators.idle();
      expect(gen.calls).toHaveLength(calls);
      await generators.stop();
    }
  });

  it('answers pushes at once while the generator hangs, and counts what it cannot queue', async () => {
    const gen = new Generator(true);
    const { d, generators, pushed, registry } = setup(['service-graphs'], () => gen);
    await generators.start();
    for (let i = 0; i < 110; i++) expect(await d.pushOtlp(ctx, body(1, i))).toEqual({ rejectedSpans: 0, errorMessage: '' });
    expect(pushed).toHaveLength(110);
    // 2 calls in flight (the first two pushes; nothing to merge yet), 100 waiting (merged per call later), 8 dropped.
    expect(gen.calls).toHaveLength(2);
    expect(await metric(registry, 'tempo_distributor_metrics_generator_pushes_failures_total', 'gen-0:9095')).toBe(8);
    gen.release();
    await new Promise((r) => setImmediate(r));
    gen.release();
    await new Promise((r) => setImmediate(r));
    gen.release();
    await generators.idle();
    await generators.stop();
  });

  it('reuses push arenas when the generator copies the spans at once, never while a queue keeps them', async () => {
    const reused = async (registry: Registry) =>
      (await registry.getSingleMetric('stave_distributor_split_arenas_total')!.get()).values.find((v) => v.labels.outcome === 'reused')?.value ?? 0;
    const local: GeneratorPushClient = { pushSpans: () => Promise.reject(new Error('an offering client is not called')), offer: () => true };
    const copying = setup(['span-metrics'], () => local);
    await copying.generators.start();
    for (let i = 0; i < 4; i++) await copying.d.pushOtlp(ctx, body(2, i));
    expect(await reused(copying.registry)).toBe(3); // the first push's arena is new, each next one reused
    await copying.generators.stop();

    const gen = new Generator(true);
    const queueing = setup(['span-metrics'], () => gen);
    await queueing.generators.start();
    for (let i = 0; i < 4; i++) await queueing.d.pushOtlp(ctx, body(2, i));
    expect(await reused(queueing.registry)).toBe(0);
    for (let i = 0; i < 3; i++) {
      gen.release();
      await new Promise((r) => setImmediate(r));
    }
    await queueing.generators.idle();
    await queueing.generators.stop();
  });

  it('answers pushes normally when the generator is down (nothing listens), counting each failed call', async () => {
    const client = remoteGeneratorClient({ address: '127.0.0.1:1', timeoutMs: 2000, maxMessageBytes: 4 << 20 });
    const { d, generators, pushed, registry } = setup(['span-metrics'], () => client);
    await generators.start();
    expect(await d.pushOtlp(ctx, body(2))).toEqual({ rejectedSpans: 0, errorMessage: '' });
    expect(pushed).toHaveLength(1);
    await generators.idle();
    expect(await metric(registry, 'tempo_distributor_metrics_generator_pushes_failures_total', 'gen-0:9095')).toBe(1);
    await generators.stop();
  });
});
