import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { LocalStore, type ObjectStore } from '@stave/backend';
import { KeyValueSchema, PushErrorReason, QueryMode, TracesDataSchema } from '@stave/proto';
import { Code, defaultConfig, nopLogger, Overrides, parseConfig, limitsSection } from '@stave/server';
import { Registry } from 'prom-client';
import { pushBytesRequest, searchRequest, traceByIDRequest } from './client';
import { walBytesOf } from './budget';
import { Ingester, type IngesterOptions } from './ingester';
import { decodeSegment } from './wal';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function id(n: number): Uint8Array {
  const b = new Uint8Array(16);
  b[15] = n;
  b[0] = 0xab;
  return b;
}

/** TracesData bytes of `spans` spans of trace `n`, span IDs starting at `first`. */
function traceBytes(n: number, spans: number, first = 1, attrBytes = 0): Uint8Array {
  const attributes: Array<MessageInitShape<typeof KeyValueSchema>> = attrBytes
    ? [{ key: 'pad', value: { value: { case: 'stringValue', value: 'x'.repeat(attrBytes) } } }]
    : [];
  return toBinary(
    TracesDataSchema,
    create(TracesDataSchema, {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'svc' } } }] },
          scopeSpans: [
            {
              spans: Array.from({ length: spans }, (_, i) => ({
                traceId: id(n),
                spanId: new Uint8Array(8).fill(first + i),
                name: `op-${i}`,
                startTimeUnixNano: 1_700_000_000_000_000_000n,
                endTimeUnixNano: 1_700_000_001_000_000_000n,
                attributes,
              })),
            },
          ],
        },
      ],
    }),
  );
}

function setup(over: Partial<IngesterOptions> = {}, limits: Record<string, unknown> = {}) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'stave-ingester-'));
  dirs.push(root);
  const store = new LocalStore(path.join(root, 'backend'));
  const cfg = defaultConfig();
  const overrides = new Overrides(parseConfig(limitsSection, { ...(limitsSection.toYaml(cfg.overrides.defaults) as object), ...limits }).config);
  let now = 1_000_000;
  const make = (more: Partial<IngesterOptions> = {}) =>
    new Ingester({
      walPath: path.join(root, 'wal'),
      store,
      overrides,
      logger: nopLogger,
      registry: new Registry(),
      maxBlockDurationMs: 60_000,
      maxBlockBytes: 10 * 1024 * 1024,
      traceIdlePeriodMs: 10_000,
      completeBlockTimeoutMs: 60_000,
      flushCheckPeriodMs: 60_000,
      concurrentFlushes: 1,
      block: { bloomFalsePositive: 0.01, bloomShardSizeBytes: 1024, rowGroupSizeBytes: 64 * 1024 },
      now: () => now,
      ...over,
      ...more,
    });
  return { root, store, make, tick: (ms: number) => (now += ms) };
}

async function spans(ing: Ingester, n: number, mode = QueryMode.ALL): Promise<number> {
  const res = await ing.findTraceByID(traceByIDRequest({ tenant: 't', traceId: id(n), queryMode: mode }));
  return res.trace?.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)).length ?? 0;
}

const push = (ing: Ingester, traces: Array<[number, Uint8Array]>) =>
  ing.pushBytes(pushBytesRequest({ tenant: 't', ids: traces.map(([n]) => id(n)), traces: traces.map(([, b]) => b) }));

describe('Ingester', () => {
  it('reads its writes at once, combining the parts of a trace and dropping duplicate spans', async () => {
    const { make } = setup();
    const ing = make();
    await ing.start();
    await push(ing, [
      [1, traceBytes(1, 3)],
      [2, traceBytes(2, 1)],
    ]);
    await push(ing, [[1, traceBytes(1, 2, 3)]]); // span 3 again, plus span 4
    expect(await spans(ing, 1)).toBe(4);
    expect(await spans(ing, 2)).toBe(1);
    expect(await spans(ing, 9)).toBe(0);
    await ing.stop();
  });

  it('refuses a trace past max_bytes_per_trace and keeps the others', async () => {
    const { make } = setup({}, { global: { max_bytes_per_trace: 2000 } });
    const ing = make();
    await ing.start();
    const res = await push(ing, [
      [1, traceBytes(1, 1, 1, 3000)],
      [2, traceBytes(2, 1)],
    ]);
    expect(res.errorsByTrace).toEqual([PushErrorReason.TRACE_TOO_LARGE, PushErrorReason.NO_ERROR]);
    expect(await spans(ing, 1)).toBe(0);
    expect(await spans(ing, 2)).toBe(1);
    await ing.stop();
  });

  it('limits live traces per tenant until idle traces free their slots', async () => {
    const { make, tick } = setup({ flushCheckPeriodMs: 100, traceIdlePeriodMs: 100 }, { ingestion: { max_traces_per_user: 2 } });
    const ing = make();
    await ing.start();
    const first = await push(ing, [
      [1, traceBytes(1, 1)],
      [2, traceBytes(2, 1)],
      [3, traceBytes(3, 1)],
    ]);
    expect(first.errorsByTrace).toEqual([PushErrorReason.NO_ERROR, PushErrorReason.NO_ERROR, PushErrorReason.MAX_LIVE_TRACES]);
    // A live trace may still grow.
    expect((await push(ing, [[1, traceBytes(1, 1, 5)]])).errorsByTrace).toEqual([PushErrorReason.NO_ERROR]);
    tick(1000);
    await waitFor(async () => (await push(ing, [[3, traceBytes(3, 1)]])).errorsByTrace[0] === PushErrorReason.NO_ERROR);
    await ing.stop();
  });

  it('cuts, builds and flushes a block to the backend, and still answers from it', async () => {
    const { make, store } = setup();
    const ing = make();
    await ing.start();
    await push(ing, [
      [1, traceBytes(1, 2)],
      [2, traceBytes(2, 3)],
    ]);
    await ing.flushAll();
    const { objects } = await store.list('t/');
    expect(objects.some((k) => k.endsWith('/data.parquet'))).toBe(true);
    expect(objects.some((k) => k.endsWith('/meta.json'))).toBe(true);
    expect(await spans(ing, 2)).toBe(3);
    // The WAL segment is gone once the block is built.
    expect(readdirSync(path.join(ing['opts'].walPath, 't'))).toEqual([]);
    await ing.stop();
  });

  it('sends a push whose head was cut and sealed before its append to the new head instead of failing it', async () => {
    const { make } = setup();
    const ing = make();
    await ing.start();
    await push(ing, [[1, traceBytes(1, 2)]]);
    const inst = ing['tenants'].get('t')!;
    const chosen = inst.head!;
    // The push chooses the head, then waits a tick; meanwhile a cut (max_block_bytes, another push) seals it.
    const racing = push(ing, [[2, traceBytes(2, 3)]]);
    ing['cut'](inst);
    void chosen.segment.seal();
    await expect(racing).resolves.toBeDefined();
    expect(await spans(ing, 1)).toBe(2);
    expect(await spans(ing, 2)).toBe(3);
    await ing.stop();
  });

  it('searches its head and complete blocks for one tenant only, a trace evaluated whole, bounded by limit', async () => {
    const { make } = setup();
    const ing = make();
    await ing.start();
    await push(ing, [
      [1, traceBytes(1, 2)],
      [2, traceBytes(2, 3)],
    ]);
    await ing.flushAll();
    // More of trace 1 after the cut: it now sits in a complete block and in the head block.
    await push(ing, [[1, traceBytes(1, 2, 3)]]);
    await ing.pushBytes(pushBytesRequest({ tenant: 'other', ids: [id(3)], traces: [traceBytes(3, 4)] }));
    const found = async (tenant: string, query: string, limit = 0) =>
      (await ing.search(searchRequest({ tenant, query, limit }))).traces.map((t) => t.traceId[15]).sort();
    expect(await found('t', '{ } | count() = 4')).toEqual([1]);
    expect(await found('t', '{ name = "op-0" }')).toEqual([1, 2]);
    expect(await found('t', '{ }', 1)).toHaveLength(1);
    expect(await found('other', '{ }')).toEqual([3]);
    expect(await found('nobody', '{ }')).toEqual([]);
    const res = await ing.search(searchRequest({ tenant: 't', query: '{ }' }));
    expect(res.metrics?.inspectedBlocks).toBe(1);
    expect(res.traces.find((t) => t.traceId[15] === 2)?.spanSets[0]?.matched).toBe(3);
    await expect(ing.search(searchRequest({ tenant: 't', query: '{ .a = }' }))).rejects.toMatchObject({ code: Code.InvalidArgument });
    await ing.stop();
  });

  it('searches complete blocks through their columns, a trace split over blocks evaluated whole', async () => {
    const { make } = setup();
    const ing = make();
    await ing.start();
    /** Trace n with one span per name, span IDs from `first`; span 1 is the root, the parent of every other span. */
    const named = (n: number, names: string[], first: number): Uint8Array =>
      toBinary(
        TracesDataSchema,
        create(TracesDataSchema, {
          resourceSpans: [
            {
              resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: `svc-${n}` } } }] },
              scopeSpans: [
                {
                  spans: names.map((name, i) => ({
                    traceId: id(n),
                    spanId: new Uint8Array(8).fill(first + i),
                    parentSpanId: first === 1 && i === 0 ? new Uint8Array(0) : new Uint8Array(8).fill(1),
                    name,
                    startTimeUnixNano: 1_700_000_000_000_000_000n,
                    endTimeUnixNano: 1_700_000_001_000_000_000n,
                  })),
                },
              ],
            },
          ],
        }),
      );
    // Trace 1's root and `a` in the first complete block, its `b` (a child of the root) in the second; trace
    // 2 in the second only; trace 3 in the first block and in the head block; 20 more traces in the first.
    await push(ing, [
      [1, named(1, ['root', 'a'], 1)],
      [3, named(3, ['root3'], 1)],
      ...Array.from({ length: 20 }, (_, i): [number, Uint8Array] => [100 + i, named(100 + i, ['filler'], 1)]),
    ]);
    await ing.flushAll();
    await push(ing, [
      [1, named(1, ['b'], 7)],
      [2, named(2, ['a', 'b'], 1)],
    ]);
    await ing.flushAll();
    await push(ing, [[3, named(3, ['c'], 9)]]);
    expect(ing['tenants'].get('t')!.complete).toHaveLength(2);
    const search = (query: string) => ing.search(searchRequest({ tenant: 't', query }));
    const found = async (query: string) => (await search(query)).traces.map((t) => t.traceId[15]).sort((x, y) => x! - y!);
    // Neither block's columns alone can tell that trace 1 has both `a` and `b`.
    expect(await found('{ name = "a" } && { name = "b" }')).toEqual([1, 2]);
    expect(await found('{ name = "root" } > { name = "b" }')).toEqual([1]);
    expect(await found('{ resource.service.name = "svc-1" } | count() = 3')).toEqual([1]);
    expect(await found('{ name = "root3" } && { name = "c" }')).toEqual([3]);
    // A selective query decodes only what the columns cannot rule out (and the traces held in several places).
    const res = await search('{ resource.service.name = "svc-105" }');
    expect(res.traces.map((t) => t.traceId[15])).toEqual([105]);
    expect(res.metrics?.inspectedTraces).toBeLessThanOrEqual(3);
    expect(res.metrics?.inspectedBlocks).toBe(2);
    expect(await found('{ }')).toEqual([1, 2, 3, ...Array.from({ length: 20 }, (_, i) => 100 + i)]);
    await ing.stop();
  });

  it('replays the WAL after a stop without flush: nothing acknowledged is lost', async () => {
    const { make, store } = setup();
    const a = make();
    await a.start();
    await push(a, [
      [1, traceBytes(1, 2)],
      [2, traceBytes(2, 1)],
    ]);
    await a.stop();
    const b = make();
    await b.start();
    expect(await spans(b, 1)).toBe(2);
    expect(await spans(b, 2)).toBe(1);
    await b.flushAll();
    expect((await store.list('t/')).objects.some((k) => k.endsWith('/meta.json'))).toBe(true);
    await b.stop();
  });

  it('replays up to a torn tail, removes empty files and quarantines garbage', async () => {
    const { make, root } = setup();
    const a = make();
    await a.start();
    await push(a, [[1, traceBytes(1, 2)]]);
    await a.stop();
    const tenantDir = path.join(root, 'wal', 't');
    const [segment] = readdirSync(tenantDir);
    appendFileSync(path.join(tenantDir, segment!), Buffer.from([9, 9, 9, 0, 1, 2, 3, 4, 5]));
    writeFileSync(path.join(tenantDir, '0f6d3a3e-1111-4222-8333-444455556666.wal'), '');
    writeFileSync(path.join(tenantDir, 'notes.txt'), 'not a segment');
    writeFileSync(path.join(tenantDir, '1f6d3a3e-1111-4222-8333-444455556666.wal'), 'garbage from the start');
    mkdirSync(path.join(root, 'wal', 'other'), { recursive: true });
    const b = make();
    await b.start();
    expect(await spans(b, 1)).toBe(2);
    expect(existsSync(path.join(tenantDir, '0f6d3a3e-1111-4222-8333-444455556666.wal'))).toBe(false);
    const quarantined = readdirSync(path.join(root, 'wal', 'quarantine'));
    expect(quarantined.some((f) => f.endsWith('notes.txt'))).toBe(true);
    expect(quarantined.some((f) => f.endsWith('1f6d3a3e-1111-4222-8333-444455556666.wal'))).toBe(true);
    await b.stop();
  });

  it('answers Unavailable while not running', async () => {
    const { make } = setup();
    const ing = make();
    await expect(push(ing, [[1, traceBytes(1, 1)]])).rejects.toThrow('not accepting writes');
  });
});

describe('WAL replay', () => {
  /** A tenant's one built block (in wal/blocks) after a flush; its WAL segment is gone by then. */
  async function builtBlock() {
    const env = setup();
    const a = env.make();
    await a.start();
    await push(a, [[1, traceBytes(1, 2)]]);
    await a.flushAll();
    await a.stop();
    const blocks = path.join(env.root, 'wal', 'blocks', 't');
    const [blockID] = readdirSync(blocks);
    expect(readdirSync(path.join(env.root, 'wal', 't'))).toEqual([]);
    return { ...env, blockDir: path.join(blocks, blockID!), blockID: blockID! };
  }

  it('quarantines and counts a built block whose meta.json cannot be read, and deletes nothing', async () => {
    const { make, root, blockDir, blockID } = await builtBlock();
    writeFileSync(path.join(blockDir, 'meta.json'), '{ not json');
    const registry = new Registry();
    const c = make({ registry });
    await c.start();
    expect(existsSync(blockDir)).toBe(false);
    const [moved] = readdirSync(path.join(root, 'wal', 'quarantine')).filter((f) => f.endsWith(blockID));
    expect(moved).toBeDefined();
    // The block's data is kept, whole, for an operator.
    expect(readdirSync(path.join(root, 'wal', 'quarantine', moved!))).toEqual(expect.arrayContaining(['data.parquet', 'meta.json']));
    expect(await metric(registry, 'tempo_ingester_replay_errors_total')).toBe(1);
    expect(await metric(registry, 'stave_ingester_wal_quarantined_files_total', { reason: 'unreadable_block' })).toBe(1);
    await c.stop();
  });

  it('rebuilds a block whose build was cut short (no meta.json) from its WAL segment', async () => {
    const { make, root } = setup();
    const a = make();
    await a.start();
    await push(a, [[1, traceBytes(1, 3)]]);
    await a.stop();
    const [segment] = readdirSync(path.join(root, 'wal', 't'));
    const blockID = segment!.replace('.wal', '');
    // What a build killed before writing meta.json leaves behind.
    mkdirSync(path.join(root, 'wal', 'blocks', 't', blockID), { recursive: true });
    writeFileSync(path.join(root, 'wal', 'blocks', 't', blockID, 'data.parquet'), 'half a block');
    const b = make();
    await b.start();
    expect(await spans(b, 1)).toBe(3);
    expect(existsSync(path.join(root, 'wal', 'quarantine'))).toBe(false);
    await b.stop();
  });

  it.each([
    ['the WAL path is a file', (wal: string) => writeFileSync(wal, 'x'), (wal: string) => wal],
    ['wal/blocks is a file', (wal: string) => (mkdirSync(wal), writeFileSync(path.join(wal, 'blocks'), 'x')), (wal: string) => path.join(wal, 'blocks')],
  ])('fails start-up, naming the path, when %s', async (_name, arrange, named) => {
    const { make, root } = setup();
    const wal = path.join(root, 'wal');
    arrange(wal);
    const ing = make();
    await expect(ing.start()).rejects.toThrow(`WAL directory ${named(wal)} (storage.trace.wal.path)`);
  });

  it('writes the span time range of each push into its WAL records', async () => {
    const { make, root } = setup();
    const a = make();
    await a.start();
    await a.pushBytes(pushBytesRequest({ tenant: 't', ids: [id(1)], traces: [traceBytes(1, 1)], startSeconds: [1_700_000_000], endSeconds: [1_700_000_001] }));
    await push(a, [[2, traceBytes(2, 1)]]); // an older sender: no times, 0
    await a.stop();
    const [segment] = readdirSync(path.join(root, 'wal', 't'));
    const { records } = decodeSegment(readFileSync(path.join(root, 'wal', 't', segment!)));
    expect(records.map((r) => [r.traceID[15], r.startSeconds, r.endSeconds])).toEqual([
      [1, 1_700_000_000, 1_700_000_001],
      [2, 0, 0],
    ]);
  });
});

/** An object store whose writes hang while `down` (a store that accepts connections and never answers). */
class HangingStore implements ObjectStore {
  down = true;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly inner: ObjectStore) {}
  read(key: string) {
    return this.inner.read(key);
  }
  readRange(key: string, offset: number, length: number) {
    return this.inner.readRange(key, offset, length);
  }
  stat(key: string) {
    return this.inner.stat(key);
  }
  list(prefix: string, opts?: { delimiter?: string }) {
    return this.inner.list(prefix, opts);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>) {
    if (this.down) await new Promise<void>((r) => this.waiting.push(r));
    return this.inner.write(key, data);
  }
  recover(): void {
    this.down = false;
    for (const w of this.waiting.splice(0)) w();
  }
}

describe('flushing', () => {
  it('answers /flush with DeadlineExceeded naming flush_op_timeout while the store hangs, and flushes once it is back', async () => {
    const env = setup();
    const store = new HangingStore(env.store);
    const registry = new Registry();
    const hung = env.make({ registry, store, flushOpTimeoutMs: 300 });
    await hung.start();
    await push(hung, [[1, traceBytes(1, 2)]]);
    const t0 = Date.now();
    await expect(hung.flushAll()).rejects.toMatchObject({
      code: Code.DeadlineExceeded,
      message: expect.stringContaining('ingester.flush_op_timeout (300 ms)'),
    });
    expect(Date.now() - t0).toBeLessThan(5000);
    // The copy itself timed out too (and is being retried), counted as a failed flush.
    await waitFor(async () => (await metric(registry, 'tempo_ingester_failed_flushes_total')) >= 1);
    store.recover();
    await waitFor(async () => (await metric(registry, 'tempo_ingester_blocks_flushed_total')) === 1, 10_000);
    expect((await env.store.list('t/')).objects.some((k) => k.endsWith('/meta.json'))).toBe(true);
    await hung.flushAll();
    await hung.stop();
  });

  it('asks for every CPU: lifted when a push is refused for the WAL backlog, held while a flush runs (past its timeout) until flushed', async () => {
    const calls: string[] = [];
    const cpu = {
      lift: (reason: string) => void calls.push(`lift: ${reason}`),
      hold: (reason: string) => {
        calls.push(`hold: ${reason}`);
        return () => void calls.push('release');
      },
    };
    const env = setup();
    const store = new HangingStore(env.store);
    const registry = new Registry();
    const ing = env.make({ registry, store, flushOpTimeoutMs: 300, cpu, budget: { maxLiveTracesBytes: 0, maxWalBacklogBytes: 1 } });
    await ing.start();
    await push(ing, [[1, traceBytes(1, 2)]]);
    expect(calls).toEqual([]);
    // The backlog holds the first push, so the second is refused.
    await expect(push(ing, [[2, traceBytes(2, 2)]])).rejects.toMatchObject({ code: Code.Unavailable });
    expect(calls).toEqual(['lift: block building is behind: a push was refused for the WAL backlog']);
    await expect(ing.flushAll()).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    expect(calls.slice(1)).toEqual(['hold: every block is flushed (/flush)']);
    store.recover();
    await waitFor(async () => calls.length === 3);
    expect(calls[2]).toBe('release');
    expect(await metric(registry, 'tempo_ingester_blocks_flushed_total')).toBeGreaterThanOrEqual(1);
    await ing.stop();
  });

  it('lifts the CPU reservation, without refusing, once the WAL backlog is past 7/8 of its budget', async () => {
    const calls: string[] = [];
    const cpu = { lift: (reason: string) => void calls.push(reason), hold: () => () => undefined };
    const big = pushBytesRequest({ tenant: 't', ids: [id(1)], traces: [traceBytes(1, 2, 1, 8000)] });
    const small = pushBytesRequest({ tenant: 't', ids: [id(2)], traces: [traceBytes(2, 1)] });
    // The first push alone fills 90% of the budget: the second fits, and finds the backlog past 7/8.
    const max = Math.ceil(walBytesOf(big) / 0.9);
    expect(walBytesOf(big) + walBytesOf(small)).toBeLessThanOrEqual(max);
    const ing = setup().make({ cpu, budget: { maxLiveTracesBytes: 0, maxWalBacklogBytes: max } });
    await ing.start();
    await ing.pushBytes(big);
    expect(calls).toEqual([]);
    await ing.pushBytes(small);
    expect(calls).toEqual(['block building is behind: the WAL backlog is past 7/8 of ingester.max_wal_backlog_bytes']);
    expect(await spans(ing, 2)).toBe(1);
    await ing.stop();
  });

  it('with flush_all_on_shutdown, stop flushes every block to the backend', async () => {
    const { make, store, root } = setup({ flushAllOnShutdown: true });
    const ing = make();
    await ing.start();
    await push(ing, [[1, traceBytes(1, 2)]]);
    await ing.stop();
    expect((await store.list('t/')).objects.some((k) => k.endsWith('/meta.json'))).toBe(true);
    expect(readdirSync(path.join(root, 'wal', 't'))).toEqual([]);
  });

  it('with flush_all_on_shutdown and the store hanging, stop ends within flush_op_timeout and the next start flushes', async () => {
    const env = setup({ flushAllOnShutdown: true });
    const a = env.make({ store: new HangingStore(env.store), flushOpTimeoutMs: 200 });
    await a.start();
    await push(a, [[1, traceBytes(1, 2)]]);
    const t0 = Date.now();
    await a.stop();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await env.store.list('t/')).objects).toEqual([]);
    const b = env.make();
    await b.start();
    expect(await spans(b, 1)).toBe(2);
    await waitFor(async () => (await env.store.list('t/')).objects.some((k) => k.endsWith('/meta.json')));
    await b.stop();
  });

  it('without it, stop leaves the data in the WAL for replay and refuses writes from the drain on', async () => {
    const { make, store, root } = setup();
    const ing = make();
    await ing.start();
    await push(ing, [[1, traceBytes(1, 2)]]);
    await ing.drain();
    await expect(push(ing, [[2, traceBytes(2, 1)]])).rejects.toMatchObject({ code: Code.Unavailable });
    await ing.stop();
    expect((await store.list('t/')).objects).toEqual([]);
    expect(readdirSync(path.join(root, 'wal', 't'))).toHaveLength(1);
  });
});

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const values = (m?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((a, v) => a + v.value, 0);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 20));
  }
}
