import { existsSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema } from '@stave/proto';
import { Code, ConnectError } from '@stave/core';
import { secondsOf, splitByTrace, type SplitResult, type TraceSplit } from './split';
import { ArenaPool, arenaSizeFor, MIN_ARENA_BYTES } from './arena-pool';
import { frameArena, framedResult, SplitPool, splitFramed, WAL_FRAME_PREFIX, walFrameOf } from './split-pool';

const SECOND = 1_000_000_000n;

/** A request of `traces` traces over two resources, each trace with a span in both (plus some padding). */
function requestBytes(traces: number, pad = 0): Uint8Array {
  const spans = (service: number) =>
    Array.from({ length: traces }, (_, t) => ({
      traceId: new Uint8Array(16).fill(t + 1),
      spanId: new Uint8Array(8).fill(service + 1),
      name: `op-${service}-${t}-${'x'.repeat(pad)}`,
      startTimeUnixNano: 1_700_000_000n * SECOND + BigInt(t) * SECOND + 123n,
      endTimeUnixNano: 1_700_000_000n * SECOND + BigInt(t + service) * SECOND + 456n,
    }));
  return toBinary(
    ExportTraceServiceRequestSchema,
    create(ExportTraceServiceRequestSchema, {
      resourceSpans: [0, 1].map((service) => ({
        resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue' as const, value: `svc-${service}` } } }] },
        scopeSpans: [{ scope: { name: 'lib' }, spans: spans(service) }],
      })),
    }),
  );
}

function expectSameSplit(got: SplitResult, want: SplitResult): void {
  expect(got.spanCount).toBe(want.spanCount);
  expect(got.traceCount).toBe(want.traceCount);
  const row = (t: TraceSplit) => [
    Buffer.from(t.id).toString('hex'),
    Buffer.from(t.bytes).toString('hex'),
    t.spanCount,
    t.startUnixNano,
    t.endUnixNano,
    t.startSeconds,
    t.endSeconds,
  ];
  expect(got.traces.map(row)).toEqual(want.traces.map(row));
}

/** Every trace framed as a WAL record with a correct length, ID, time range and CRC. */
function expectFramed(res: SplitResult): void {
  for (const t of res.traces) {
    const arena = frameArena(t.bytes)!;
    expect(arena).toBeDefined();
    const off = walFrameOf(arena, t.id, t.startSeconds!, t.endSeconds!, t.bytes);
    expect(off).toBe(t.bytes.byteOffset - WAL_FRAME_PREFIX);
    expect(arena.readUInt32LE(off)).toBe(WAL_FRAME_PREFIX - 8 + t.bytes.length);
    expect(arena.readUInt32LE(off + 4)).toBe(crc32(arena.subarray(off + 8, off + WAL_FRAME_PREFIX + t.bytes.length)));
  }
}

describe('secondsOf', () => {
  const NS = 1_000_000_000n;
  const max = 0xffffffffn;
  const exact = (n: bigint, ceil: boolean): number => {
    const s = ceil ? (n + NS - 1n) / NS : n / NS;
    return Number(s > max ? max : s);
  };
  it('is floor / ceil of nanoseconds over 10^9, exactly, clamped to a u32', () => {
    const samples = [0n, 1n, 511n, 512n, NS - 1n, NS, NS + 1n, 1_764_000_000n * NS, 1_764_000_000n * NS - 1n, 1_764_000_000n * NS + 512n];
    samples.push(max * NS, max * NS + 1n, (max + 1n) * NS, (1n << 62n) - 1n, 1n << 62n, (1n << 64n) - 1n);
    let x = 0x9e3779b97f4a7c15n;
    for (let i = 0; i < 2000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
      samples.push(x >> BigInt(i % 12), (x % 5_000_000_000n) * NS + (x % 3n) - 1n > 0n ? (x % 5_000_000_000n) * NS + (x % 3n) - 1n : 0n);
    }
    for (const n of samples) {
      const hi = Number(n >> 32n);
      const lo = Number(n & 0xffffffffn);
      expect([n, secondsOf(hi, lo, false), secondsOf(hi, lo, true)]).toEqual([n, exact(n, false), exact(n, true)]);
    }
  });
});

describe('framed split (split-pool)', () => {
  it('gives the same traces as splitByTrace, each framed as a WAL record', () => {
    const body = requestBytes(50);
    const { answer } = splitFramed({ seq: 1, body });
    if ('error' in answer) throw new Error(answer.error);
    const res = framedResult(answer);
    expectSameSplit(res, splitByTrace(body));
    expectFramed(res);
  });

  it('refuses what splitByTrace refuses, with the same code and message', () => {
    const body = requestBytes(3).slice(0, 40);
    let want: unknown;
    try {
      splitByTrace(body);
    } catch (err) {
      want = err;
    }
    expect(want).toBeInstanceOf(ConnectError);
    const { answer } = splitFramed({ seq: 2, body });
    expect(answer).toEqual({ seq: 2, error: (want as ConnectError).rawMessage, code: Code.InvalidArgument });
  });

  it('does not take a look-alike for a framed record: only arenas from split workers are trusted', () => {
    const body = requestBytes(2);
    const { answer } = splitFramed({ seq: 3, body });
    if ('error' in answer) throw new Error(answer.error);
    const t = framedResult(answer).traces[0]!;
    const copy = Buffer.from(frameArena(t.bytes)!);
    expect(frameArena(copy.subarray(t.bytes.byteOffset, t.bytes.byteOffset + t.bytes.length))).toBeUndefined();
    // A different time range than the frame's is not this record.
    expect(walFrameOf(frameArena(t.bytes)!, t.id, t.startSeconds! + 1, t.endSeconds!, t.bytes)).toBe(-1);
  });

  it('splits on a worker thread with the same answers, errors included', async () => {
    const script = path.join(__dirname, '../../dist/otlp/split-worker.js');
    expect(existsSync(script)).toBe(true); // built by `make build` (tsc -b)
    const pool = new SplitPool(2, script, 0); // 0: hand every split off, however idle this thread is
    try {
      const bodies = [requestBytes(190, 40), requestBytes(120, 30), requestBytes(1)];
      const results = await Promise.all(bodies.map((b) => pool.split(b)));
      results.forEach((r, i) => expectSameSplit(r, splitByTrace(bodies[i]!)));
      expectFramed(results[0]!);
      expectFramed(results[1]!);
      const bad = Buffer.concat([requestBytes(100, 40).slice(0, 4000)]);
      await expect(pool.split(bad)).rejects.toMatchObject({ code: Code.InvalidArgument });
      // The caller's body is its own still (the worker got a copy).
      expect(bodies[0]!.length).toBeGreaterThan(2048);
      expectSameSplit(await pool.split(bodies[0]!), splitByTrace(bodies[0]!));
      // A disposable body that owns its buffer is moved to the worker, not copied.
      const moved = new Uint8Array(bodies[1]!);
      expectSameSplit(await pool.split(moved, true), splitByTrace(bodies[1]!));
      expect(moved.length).toBe(0);
    } finally {
      await pool.close();
    }
    // By default a split is handed off only while the event loop is busy: the first one (nothing measured
    // yet) runs in place, so a disposable body stays the caller's.
    const adaptive = new SplitPool(1, script);
    const kept = new Uint8Array(requestBytes(120, 30));
    expectSameSplit(await adaptive.split(kept, true), splitByTrace(requestBytes(120, 30)));
    expect(kept.length).toBeGreaterThan(0);
    await adaptive.close();
    // After close, splits run on the calling thread.
    expectSameSplit(await pool.split(requestBytes(5, 500)), splitByTrace(requestBytes(5, 500)));
  });
});

describe('arena reuse (split-pool, arena-pool)', () => {
  const row = (r: SplitResult) => r.traces.map((t) => Buffer.from(t.bytes).toString('hex'));

  it('writes a released split’s arena again, and never one not released', async () => {
    const pool = new SplitPool(0); // every split on this thread
    const a = await pool.split(requestBytes(30, 20));
    const wantA = row(a);
    const b = await pool.split(requestBytes(40, 10));
    expect(b.traces[0]!.bytes.buffer).not.toBe(a.traces[0]!.bytes.buffer);
    expect(row(a)).toEqual(wantA);
    pool.release(a);
    pool.release(a); // a second release does nothing
    const c = await pool.split(requestBytes(40, 10));
    expect(c.traces[0]!.bytes.buffer).toBe(a.traces[0]!.bytes.buffer);
    const d = await pool.split(requestBytes(40, 10));
    expect(d.traces[0]!.bytes.buffer).not.toBe(a.traces[0]!.bytes.buffer);
    // Reused or not, the records are what splitByTrace gives, framed.
    for (const r of [b, c, d]) {
      expectSameSplit(r, splitByTrace(requestBytes(40, 10)));
      expectFramed(r);
    }
    expect(pool.arenaStats()).toMatchObject({ reused: 1, made: 3, dropped: 0, bytes: 0 });
  });

  it('moves a kept arena to the worker with the next request, and back', async () => {
    const script = path.join(__dirname, '../../dist/otlp/split-worker.js');
    const pool = new SplitPool(1, script, 0);
    try {
      const body = requestBytes(150, 40); // 30 KB, its records 46 KB: a 64 KiB arena
      const first = await pool.split(body);
      expect(pool.arenaStats()).toMatchObject({ reused: 0, made: 1 });
      pool.release(first);
      expect(pool.arenaStats().bytes).toBe(MIN_ARENA_BYTES);
      const second = await pool.split(body);
      expect(pool.arenaStats()).toMatchObject({ reused: 1, made: 1, bytes: 0 });
      expect(second.traces[0]!.bytes.buffer.byteLength).toBe(MIN_ARENA_BYTES);
      expectSameSplit(second, splitByTrace(body));
      expectFramed(second);
      // A kept arena too small for the records comes back unused (and is kept again).
      pool.release(second);
      const larger = requestBytes(200, 60); // 47 KB, its records 69 KB
      const third = await pool.split(larger);
      expectSameSplit(third, splitByTrace(larger));
      expectFramed(third);
      expect(third.traces[0]!.bytes.buffer.byteLength).toBe(2 * MIN_ARENA_BYTES);
      expect(pool.arenaStats()).toMatchObject({ reused: 1, made: 2, bytes: MIN_ARENA_BYTES });
    } finally {
      await pool.close();
    }
  });

  it('keeps arenas of arena sizes only, up to its capacity', () => {
    expect([1, MIN_ARENA_BYTES, MIN_ARENA_BYTES + 1, 150_000, 300_000].map(arenaSizeFor)).toEqual([65536, 65536, 131072, 262144, 524288]);
    const pool = new ArenaPool(1024 * 1024);
    pool.give(new ArrayBuffer(100_000)); // not an arena size
    pool.give(new ArrayBuffer(512 * 1024)); // over a quarter of the capacity
    for (let i = 0; i < 5; i++) pool.give(new ArrayBuffer(256 * 1024)); // the fifth does not fit
    expect(pool.stats()).toMatchObject({ bytes: 1024 * 1024, dropped: 3 });
    expect(pool.take(300_000)).toBeUndefined();
    expect(pool.take(100_000)!.byteLength).toBe(256 * 1024);
    expect(pool.takeOrMake(300_000).byteLength).toBe(512 * 1024);
    expect(pool.stats()).toMatchObject({ bytes: 768 * 1024, reused: 1, made: 1 });
  });
});
