import { planSearch, rowGroupsPerJob, SEARCH_SHARD_DEFAULTS, type SearchPlan } from './search-sharder';
import { testBlockMeta, testBlockName } from './testing/block-meta';

const MIB = 1024 * 1024;
const NOW = Date.parse('2026-06-01T12:00:00Z');
const nowS = NOW / 1000;
const minutesAgo = (m: number) => nowS - m * 60;
const iso = (s: number) => new Date(s * 1000).toISOString();

/** Blocks of the last hours: `old` ended 3 h ago, `mid` 1 h ago, `recent` 5 min ago. */
const blocks = [
  testBlockMeta('old', { start: iso(minutesAgo(240)), end: iso(minutesAgo(180)), size: 10 * MIB, rowGroups: 10 }),
  testBlockMeta('recent', { start: iso(minutesAgo(20)), end: iso(minutesAgo(5)), size: 4 * MIB, rowGroups: 4 }),
  testBlockMeta('mid', { start: iso(minutesAgo(90)), end: iso(minutesAgo(60)), size: 300 * MIB, rowGroups: 3 }),
];

const jobs = (p: SearchPlan) => p.blocks.map((b) => `${testBlockName(b.meta.blockID)}:${b.startRowGroup}+${b.rowGroups}`);
const names = (p: SearchPlan) => [...new Set(p.blocks.map((b) => testBlockName(b.meta.blockID)))];

describe('planSearch: which parts of the window go to the ingesters and which to the blocks', () => {
  const cases: Array<{ name: string; start: number; end: number; ingesters: Array<[number, number]>; blocks: string[] }> = [
    {
      name: 'a window within query_backend_after: ingesters only',
      start: minutesAgo(10),
      end: nowS,
      ingesters: [
        [minutesAgo(10), minutesAgo(10) + 200],
        [minutesAgo(10) + 200, minutesAgo(10) + 400],
        [minutesAgo(10) + 400, nowS],
      ],
      blocks: [],
    },
    {
      name: 'a window older than query_ingesters_until: blocks only',
      start: minutesAgo(300),
      end: minutesAgo(45),
      ingesters: [],
      blocks: ['mid', 'old'],
    },
    {
      name: 'the last 2 h: ingesters for the last 30 min, blocks up to 15 min ago',
      start: minutesAgo(120),
      end: nowS,
      ingesters: [
        [minutesAgo(30), minutesAgo(20)],
        [minutesAgo(20), minutesAgo(10)],
        [minutesAgo(10), nowS],
      ],
      blocks: ['recent', 'mid'],
    },
    {
      name: 'a short recent window: ingester slices of at least a minute',
      start: minutesAgo(2),
      end: nowS,
      ingesters: [
        [minutesAgo(2), minutesAgo(1)],
        [minutesAgo(1), nowS],
      ],
      blocks: [],
    },
    {
      name: 'no window: the ingesters and every block (Stave, not Tempo)',
      start: 0,
      end: 0,
      ingesters: [[0, 0]],
      blocks: ['recent', 'mid', 'old'],
    },
    {
      name: 'only end: the ingesters and the blocks that start before it',
      start: 0,
      end: minutesAgo(100),
      ingesters: [[0, minutesAgo(100)]],
      blocks: ['old'],
    },
  ];
  it.each(cases)('$name', ({ start, end, ingesters, blocks: want }) => {
    const p = planSearch({ start, end }, () => blocks, NOW, SEARCH_SHARD_DEFAULTS);
    expect(p.ingesters.map((w) => [w.start, w.end])).toEqual(ingesters);
    expect(names(p)).toEqual(want);
    expect(p.totalBlocks).toBe(want.length);
    expect(p.totalBlockBytes).toBe(want.reduce((n, b) => n + BigInt(blocks.find((m) => testBlockName(m.blockID) === b)!.size), 0n));
  });

  it('follows configured query_backend_after and query_ingesters_until', () => {
    const p = planSearch({ start: minutesAgo(120), end: nowS }, () => blocks, NOW, {
      ...SEARCH_SHARD_DEFAULTS,
      queryBackendAfterMs: 0,
      queryIngestersUntilMs: 0,
      ingesterShards: 1,
    });
    // Backend up to now: every overlapping block; ingesters: nothing left of the window.
    expect(p.ingesters).toEqual([]);
    expect(names(p)).toEqual(['recent', 'mid']);
  });
});

describe('planSearch: the blocklist only when the window reaches the backend', () => {
  const unpolled = (): never => {
    throw new Error('the blocklist has not been loaded from the backend yet');
  };
  it('plans a search of the recent window without asking for the blocklist (before the first poll)', () => {
    const p = planSearch({ start: minutesAgo(5), end: nowS }, unpolled, NOW, SEARCH_SHARD_DEFAULTS);
    expect(p.ingesters.length).toBeGreaterThan(0);
    expect(p.blocks).toEqual([]);
  });
  it('asks for it when the window reaches the backend', () => {
    expect(() => planSearch({ start: minutesAgo(120), end: nowS }, unpolled, NOW, SEARCH_SHARD_DEFAULTS)).toThrow('not been loaded');
    expect(() => planSearch({ start: 0, end: 0 }, unpolled, NOW, SEARCH_SHARD_DEFAULTS)).toThrow('not been loaded');
  });
});

describe('planSearch: block jobs of about target_bytes_per_job, by row groups', () => {
  it('cuts each block by its bytes per row group, newest block first, row groups in order', () => {
    const p = planSearch({ start: 0, end: 0 }, () => blocks, NOW, { ...SEARCH_SHARD_DEFAULTS, targetBytesPerJob: 3 * MIB });
    expect(jobs(p)).toEqual([
      // 1 MiB per row group: 3 per job.
      'recent:0+3',
      'recent:3+1',
      // 100 MiB per row group is above the target: one per job.
      'mid:0+1',
      'mid:1+1',
      'mid:2+1',
      'old:0+3',
      'old:3+3',
      'old:6+3',
      'old:9+1',
    ]);
  });

  it('searches a whole block in one job when the target exceeds it (Tempo default 100 MiB)', () => {
    const p = planSearch({ start: 0, end: 0 }, () => blocks, NOW, SEARCH_SHARD_DEFAULTS);
    expect(jobs(p)).toEqual(['recent:0+4', 'mid:0+1', 'mid:1+1', 'mid:2+1', 'old:0+10']);
  });

  it('covers every row group of every block exactly once, whatever the target', () => {
    for (const target of [1, 700_000, 2 * MIB, 5 * MIB, 10 * MIB, 1e12]) {
      const p = planSearch({ start: 0, end: 0 }, () => blocks, NOW, { ...SEARCH_SHARD_DEFAULTS, targetBytesPerJob: target });
      for (const m of blocks) {
        const covered = p.blocks.filter((b) => b.meta === m).flatMap((b) => Array.from({ length: b.rowGroups }, (_, i) => b.startRowGroup + i));
        expect(covered).toEqual(Array.from({ length: m.rowGroups }, (_, i) => i));
      }
    }
  });

  it('orders blocks that end together by block ID', () => {
    const same = [
      testBlockMeta('b', { end: '2026-06-01T10:00:00Z', size: 1, rowGroups: 1 }),
      testBlockMeta('a', { end: '2026-06-01T10:00:00Z', size: 1, rowGroups: 1 }),
      testBlockMeta('c', { end: '2026-06-01T11:00:00Z', size: 1, rowGroups: 1 }),
    ];
    expect(names(planSearch({ start: 0, end: 0 }, () => same, NOW, SEARCH_SHARD_DEFAULTS))).toEqual(['c', 'a', 'b']);
  });

  it('sizes jobs as Tempo does: at least one row group each', () => {
    expect(rowGroupsPerJob({ size: 1000, rowGroups: 10 }, 1)).toBe(1);
    expect(rowGroupsPerJob({ size: 1000, rowGroups: 10 }, 250)).toBe(2);
    expect(rowGroupsPerJob({ size: 1000, rowGroups: 10 }, 10_000)).toBe(100);
    expect(rowGroupsPerJob({ size: 0, rowGroups: 3 }, 10)).toBe(3);
  });
});
