import { create } from '@bufbuild/protobuf';
import { PushBytesRequestSchema } from '@stave/proto';
import { Code } from '@stave/server';
import { Registry } from 'prom-client';
import {
  BUILD_THREAD_BYTES,
  BudgetReason,
  budgetReasonOf,
  buildPlan,
  buildReservation,
  compactionJobBytes,
  MIN_BUILD_ROW_GROUP_BYTES,
  walBytesOf,
  WorkMemoryGate,
  WriteBudget,
  type TenantUsage,
} from './budget';
import { encodeRecord } from './wal';

const u = (tenant: string, backlogBytes: number, liveBytes = backlogBytes, building = 0): TenantUsage => ({ tenant, liveBytes, backlogBytes, building });

describe('WriteBudget.check (the flush backlog)', () => {
  const budget = new WriteBudget({ maxLiveTracesBytes: 0, maxWalBacklogBytes: 1000 });
  const cases: Array<{ name: string; tenant: string; bytes: number; usage: TenantUsage[]; want?: { reason: BudgetReason; code: Code } }> = [
    { name: 'fits', tenant: 'a', bytes: 100, usage: [u('a', 900)] },
    { name: 'fits exactly', tenant: 'a', bytes: 100, usage: [u('a', 400), u('b', 500)] },
    { name: 'empty backlog takes a push larger than the budget (no wedge)', tenant: 'a', bytes: 5000, usage: [u('a', 0)] },
    {
      name: 'one tenant over: the ingester is full (503)',
      tenant: 'a',
      bytes: 101,
      usage: [u('a', 900)],
      want: { reason: BudgetReason.INGESTER_FULL, code: Code.Unavailable },
    },
    {
      name: 'tenant over its share of a full backlog (429)',
      tenant: 'a',
      bytes: 10,
      usage: [u('a', 700), u('b', 295)],
      want: { reason: BudgetReason.TENANT_BACKLOG_EXCEEDED, code: Code.ResourceExhausted },
    },
    {
      name: 'tenant within its share of a full backlog (503)',
      tenant: 'b',
      bytes: 10,
      usage: [u('a', 700), u('b', 295)],
      want: { reason: BudgetReason.INGESTER_FULL, code: Code.Unavailable },
    },
    {
      name: 'a new tenant counts among the holders',
      tenant: 'c',
      bytes: 10,
      usage: [u('a', 500), u('b', 495)],
      want: { reason: BudgetReason.INGESTER_FULL, code: Code.Unavailable },
    },
    {
      name: 'tenants without a backlog do not dilute the share',
      tenant: 'a',
      bytes: 10,
      usage: [u('a', 995), u('b', 0)],
      want: { reason: BudgetReason.INGESTER_FULL, code: Code.Unavailable },
    },
  ];
  test.each(cases)('$name', ({ tenant, bytes, usage, want }) => {
    const r = budget.check(tenant, bytes, usage);
    if (!want) return expect(r).toBeUndefined();
    expect(r).toMatchObject(want);
    expect(r!.message).toContain('ingester.max_wal_backlog_bytes');
    expect(r!.message).toContain('1000');
    expect(budgetReasonOf(`write failed (${r!.message})`)).toBe(want.reason);
  });

  test('0 turns the budget off', () => {
    expect(new WriteBudget({ maxLiveTracesBytes: 0, maxWalBacklogBytes: 0 }).check('a', 1e9, [u('a', 1e12)])).toBeUndefined();
  });

  test('backlogPast compares the WAL backlog of every tenant with a share of the budget, never without one', () => {
    const b = new WriteBudget({ maxLiveTracesBytes: 0, maxWalBacklogBytes: 1000 });
    expect(b.backlogPast([u('a', 500), u('b', 375)], 7 / 8)).toBe(false);
    expect(b.backlogPast([u('a', 500), u('b', 376)], 7 / 8)).toBe(true);
    expect(new WriteBudget({ maxLiveTracesBytes: 0, maxWalBacklogBytes: 0 }).backlogPast([u('a', 1e12)], 7 / 8)).toBe(false);
  });

  test('admit counts refusals by reason', async () => {
    const registry = new Registry();
    const b = new WriteBudget({ maxLiveTracesBytes: 0, maxWalBacklogBytes: 1000 }, registry);
    b.admit('a', 200, [u('a', 900)]);
    b.admit('a', 10, [u('a', 900)]);
    const m = await registry.getSingleMetric('stave_ingester_refused_pushes_total')!.get();
    expect(m.values).toEqual([{ labels: { reason: BudgetReason.INGESTER_FULL }, value: 1 }]);
  });
});

describe('WriteBudget.headToCut', () => {
  const budget = new WriteBudget({ maxLiveTracesBytes: 1000, maxWalBacklogBytes: 4000 });
  const cases: Array<{ name: string; usage: TenantUsage[]; refused: boolean; want?: string }> = [
    { name: 'head blocks within the live budget', usage: [u('a', 600), u('b', 400)], refused: false },
    { name: 'over the live budget: the largest head', usage: [u('a', 300), u('b', 701)], refused: false, want: 'b' },
    { name: 'refused while blocks are being built: building drains it', usage: [u('a', 2000, 500, 2)], refused: true },
    { name: 'refused with nothing being built: cut so that building can drain it', usage: [u('a', 10, 10), u('b', 900, 900)], refused: true, want: 'b' },
    { name: 'nothing live, nothing to cut', usage: [u('a', 3000, 0, 1)], refused: true },
  ];
  test.each(cases)('$name', ({ usage, refused, want }) => expect(budget.headToCut(usage, refused)).toBe(want));

  test('0 turns the live budget off', () => {
    expect(new WriteBudget({ maxLiveTracesBytes: 0, maxWalBacklogBytes: 0 }).headToCut([u('a', 1e12)], false)).toBeUndefined();
  });
});

test('walBytesOf is what the WAL appends for the push', () => {
  const traces = [new Uint8Array(10), new Uint8Array(300)];
  const ids = [new Uint8Array(16), new Uint8Array(16).fill(1)];
  const req = create(PushBytesRequestSchema, { tenant: 't', traces, ids });
  const written = traces.reduce((n, data, i) => n + encodeRecord({ traceID: ids[i]!, startSeconds: 0, endSeconds: 0, data }).length, 0);
  expect(walBytesOf(req)).toBe(written);
});

describe('buildPlan (ingester.max_block_building_bytes)', () => {
  const MiB = 1024 * 1024;
  const cases: Array<{
    name: string;
    max: number;
    builders: number;
    threads: number;
    rowGroup: number;
    want: { builders: number; rowGroupSizeBytes: number };
  }> = [
    { name: 'no budget: as configured', max: 0, builders: 3, threads: 7, rowGroup: 100 * MiB, want: { builders: 3, rowGroupSizeBytes: 100 * MiB } },
    {
      name: 'room for the configured row group',
      max: 1024 * MiB,
      builders: 1,
      threads: 1,
      rowGroup: 100 * MiB,
      want: { builders: 1, rowGroupSizeBytes: 100 * MiB },
    },
    {
      name: 'the row group shrinks to fit',
      max: 256 * MiB,
      builders: 1,
      threads: 1,
      rowGroup: 100 * MiB,
      want: { builders: 1, rowGroupSizeBytes: 128 * MiB - BUILD_THREAD_BYTES },
    },
    {
      name: 'fewer builds at once before row groups below the minimum',
      // Room for three builds of two threads and two 2 MiB row groups: four would get less than 1 MiB each.
      max: 3 * (2 * BUILD_THREAD_BYTES + 4 * MiB),
      builders: 4,
      threads: 1,
      rowGroup: 100 * MiB,
      want: { builders: 3, rowGroupSizeBytes: 2 * MiB },
    },
    {
      name: 'never below the minimum row group, never fewer than one build',
      max: 10 * MiB,
      builders: 2,
      threads: 1,
      rowGroup: 100 * MiB,
      want: { builders: 1, rowGroupSizeBytes: MIN_BUILD_ROW_GROUP_BYTES },
    },
  ];
  test.each(cases)('$name', ({ max, builders, threads, rowGroup, want }) =>
    expect(buildPlan({ maxBuildingBytes: max, builders, combineThreads: threads, rowGroupSizeBytes: rowGroup })).toMatchObject(want),
  );

  test('the plan fits the budget', () => {
    const p = buildPlan({ maxBuildingBytes: 512 * MiB, builders: 4, combineThreads: 3, rowGroupSizeBytes: 100 * MiB });
    expect(p.buildBytes).toBe(BUILD_THREAD_BYTES * 4 + 2 * p.rowGroupSizeBytes);
    expect(p.builders * p.buildBytes).toBeLessThanOrEqual(512 * MiB);
  });
});

describe('WorkMemoryGate (block builds and compaction jobs share max_block_building_bytes)', () => {
  /** Work that runs until `finish()` is called, recording when it started. */
  const task = (log: string[], name: string) => {
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    return {
      finish: () => finish(),
      work: async () => {
        log.push(name);
        await done;
        return name;
      },
    };
  };
  const settle = () => new Promise<void>((r) => setImmediate(r));

  test('runs work only while it fits, first come first served, and gives the bytes back', async () => {
    const gate = new WorkMemoryGate(100);
    const log: string[] = [];
    const build1 = task(log, 'build1');
    const compaction = task(log, 'compaction');
    const build2 = task(log, 'build2');
    const small = task(log, 'small');
    const p1 = gate.run(60, build1.work);
    const p2 = gate.run(500, compaction.work); // larger than the budget: runs alone
    const p3 = gate.run(60, build2.work);
    const p4 = gate.run(10, small.work); // fits beside build1, but waits its turn
    await settle();
    expect(log).toEqual(['build1']);
    expect(gate.inUse).toBe(60);
    expect(gate.queued).toBe(3);
    build1.finish();
    await expect(p1).resolves.toBe('build1');
    await settle();
    expect(log).toEqual(['build1', 'compaction']);
    expect(gate.inUse).toBe(100);
    compaction.finish();
    await p2;
    await settle();
    expect(log).toEqual(['build1', 'compaction', 'build2', 'small']);
    expect(gate.inUse).toBe(70);
    build2.finish();
    small.finish();
    await Promise.all([p3, p4]);
    expect(gate.inUse).toBe(0);
    expect(gate.queued).toBe(0);
  });

  test('a build takes its bytes at once, even past a running compaction job; a job waits until it fits beside builds', async () => {
    const gate = new WorkMemoryGate(100);
    const log: string[] = [];
    const compaction = task(log, 'compaction');
    const next = task(log, 'next compaction');
    const p1 = gate.run(100, compaction.work);
    await settle();
    const releaseBuild = gate.take(60); // the write path waits for builds: no queueing behind the job
    expect(gate.inUse).toBe(160);
    const p2 = gate.run(50, next.work);
    await settle();
    compaction.finish();
    await p1;
    await settle();
    expect(log).toEqual(['compaction']); // 60 + 50 > 100: waits for the build
    expect(gate.queued).toBe(1);
    releaseBuild();
    releaseBuild(); // once only
    await settle();
    expect(log).toEqual(['compaction', 'next compaction']);
    expect(gate.inUse).toBe(50);
    next.finish();
    await p2;
    expect(gate.inUse).toBe(0);
  });

  test('gives the bytes back when the work fails', async () => {
    const gate = new WorkMemoryGate(100);
    await expect(gate.run(100, () => Promise.reject(new Error('build failed')))).rejects.toThrow('build failed');
    expect(gate.inUse).toBe(0);
    await expect(gate.run(100, () => Promise.resolve(1))).resolves.toBe(1);
  });

  test('capacity 0 is no budget', async () => {
    const gate = new WorkMemoryGate(0);
    const log: string[] = [];
    const a = task(log, 'a');
    const b = task(log, 'b');
    const pa = gate.run(1e12, a.work);
    const pb = gate.run(1e12, b.work);
    await settle();
    expect(log).toEqual(['a', 'b']);
    a.finish();
    b.finish();
    await Promise.all([pa, pb]);
  });

  test('a compaction job holds its thread and two row groups', () => {
    const MiB = 1024 * 1024;
    expect(compactionJobBytes(24 * MiB)).toBe(BUILD_THREAD_BYTES + 48 * MiB);
  });
});

describe('buildReservation (building threads beside a compaction job)', () => {
  const o = { held: 0, wide: 128, narrow: 87, capacity: 128, inUse: 0 };

  test('all the threads need when it fits beside what other work holds', () => {
    expect(buildReservation(o)).toBe(128);
    expect(buildReservation({ ...o, capacity: 300, inUse: 172 })).toBe(128);
    expect(buildReservation({ ...o, capacity: 0, inUse: 500 })).toBe(128); // no budget
  });

  test('the writing threads alone while a compaction job holds the budget, past it if need be', () => {
    expect(buildReservation({ ...o, inUse: 128 })).toBe(87);
    expect(buildReservation({ ...o, inUse: 60 })).toBe(87);
    expect(buildReservation({ ...o, narrow: 200 })).toBe(128); // never more than wide
  });

  test('narrow threads widen once the job is done, and never give back what they hold', () => {
    expect(buildReservation({ ...o, held: 87, inUse: 87 })).toBe(128); // 41 more fit
    expect(buildReservation({ ...o, held: 87, inUse: 87 + 60 })).toBe(87); // a job runs again
    expect(buildReservation({ ...o, held: 128, inUse: 256 })).toBe(128);
  });
});
