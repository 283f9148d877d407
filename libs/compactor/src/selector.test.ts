import { FORMAT, type BlockMeta } from '@stave/block';
import { selectCompactionJobs, type SelectorOptions } from './selector';

const HOUR = 3_600_000;
// A fixed "now" in the middle of an hour window.
const NOW = Date.UTC(2026, 0, 10, 12, 30);

let seq = 0;
function block(o: { endMs: number; level?: number; objects?: number; size?: number; tenant?: string }): BlockMeta {
  const id = `00000000-0000-4000-8000-${(seq++).toString(16).padStart(12, '0')}`;
  return {
    format: FORMAT,
    blockID: id,
    tenantID: o.tenant ?? 't',
    startTime: new Date(o.endMs - 1000).toISOString(),
    endTime: new Date(o.endMs).toISOString(),
    totalObjects: o.objects ?? 10,
    totalSpans: (o.objects ?? 10) * 3,
    size: o.size ?? 1000,
    compactionLevel: o.level ?? 0,
    encoding: 'none',
    dataEncoding: FORMAT,
    bloomShards: 1,
    minID: '00',
    maxID: 'ff',
    footerSize: 0,
    rowGroups: 1,
    indexSize: 0,
    indexPageFirstIDs: [],
    indexPageOffsets: [0],
    createdAt: '',
  };
}

const OPTS: SelectorOptions = { windowMs: HOUR, maxCompactionObjects: 1_000_000, maxBlockBytes: 1 << 30, now: NOW };
const ids = (bs: readonly BlockMeta[]) => bs.map((b) => b.blockID);

describe('selectCompactionJobs (Tempo time-window selection)', () => {
  it('groups active blocks by level and window, most recent window and lowest level first, at most 4 per job', () => {
    const recentL0 = Array.from({ length: 6 }, (_, i) => block({ endMs: NOW - 60_000, objects: 10 + i }));
    const olderL0 = Array.from({ length: 2 }, () => block({ endMs: NOW - 2 * HOUR }));
    const recentL1 = Array.from({ length: 2 }, () => block({ endMs: NOW - 60_000, level: 1 }));
    const jobs = selectCompactionJobs([...recentL1, ...olderL0, ...recentL0], OPTS);
    expect(jobs.map((j) => ids(j.blocks))).toEqual([ids(recentL0.slice(0, 4)), ids(recentL0.slice(4)), ids(olderL0), ids(recentL1)]);
    const w = Math.floor((NOW - 60_000) / HOUR);
    expect(jobs[0]!.hash).toBe(`t-0-${w}-0`);
    expect(jobs[3]!.hash).toBe(`t-1-${w}-0`);
  });

  it('orders a group smallest first, and stops a job at max_compaction_objects and max_block_bytes', () => {
    const a = block({ endMs: NOW - 1000, objects: 50 });
    const b = block({ endMs: NOW - 1000, objects: 10 });
    const c = block({ endMs: NOW - 1000, objects: 30 });
    expect(selectCompactionJobs([a, b, c], OPTS).map((j) => ids(j.blocks))).toEqual([ids([b, c, a])]);
    expect(selectCompactionJobs([a, b, c], { ...OPTS, maxCompactionObjects: 45 }).map((j) => ids(j.blocks))).toEqual([ids([b, c])]);
    const big = [block({ endMs: NOW - 1000, size: 600 }), block({ endMs: NOW - 1000, size: 600 }), block({ endMs: NOW - 1000, size: 600 })];
    expect(selectCompactionJobs(big, { ...OPTS, maxBlockBytes: 1000 })).toEqual([]);
    expect(selectCompactionJobs(big, { ...OPTS, maxBlockBytes: 1200 }).map((j) => j.blocks.length)).toEqual([2]);
  });

  it('needs min_input_blocks and caps at max_input_blocks', () => {
    const bs = Array.from({ length: 5 }, () => block({ endMs: NOW - 1000 }));
    expect(selectCompactionJobs(bs.slice(0, 1), OPTS)).toEqual([]);
    expect(selectCompactionJobs(bs, { ...OPTS, maxInputBlocks: 5 }).map((j) => j.blocks.length)).toEqual([5]);
    expect(selectCompactionJobs(bs, { ...OPTS, minInputBlocks: 3, maxInputBlocks: 3 }).map((j) => j.blocks.length)).toEqual([3]);
  });

  it('mixes levels outside the active window (older than 24 h), keyed by window only', () => {
    const old = [block({ endMs: NOW - 48 * HOUR, level: 2 }), block({ endMs: NOW - 48 * HOUR, level: 0 })];
    const jobs = selectCompactionJobs(old, OPTS);
    expect(jobs.map((j) => ids(j.blocks))).toEqual([ids([old[1]!, old[0]!])]);
    expect(jobs[0]!.hash).toBe(`t-${Math.floor((NOW - 48 * HOUR) / HOUR)}-0`);
  });

  it('leaves alone the window that is crossing from active to inactive', () => {
    const edge = [block({ endMs: NOW - 24 * HOUR }), block({ endMs: NOW - 24 * HOUR })];
    expect(selectCompactionJobs(edge, OPTS)).toEqual([]);
  });

  it('never puts blocks of different replication factors in one job', () => {
    const a = { ...block({ endMs: NOW - 1000 }), replicationFactor: 1 };
    const b = { ...block({ endMs: NOW - 1000 }), replicationFactor: 3 };
    expect(selectCompactionJobs([a, b], OPTS)).toEqual([]);
  });
});
