import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { LocalStore } from '@stave/backend';
import { KeyValueSchema, PushErrorReason, QueryMode, TracesDataSchema } from '@stave/proto';
import { defaultConfig, nopLogger, Overrides, parseConfig, limitsSection } from '@stave/server';
import { Registry } from 'prom-client';
import { pushBytesRequest, traceByIDRequest } from './client';
import { Ingester, type IngesterOptions } from './ingester';

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
  const make = () =>
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

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 20));
  }
}
