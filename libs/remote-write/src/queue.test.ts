import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nopLogger } from '@stave/core';
import { encodeChunks, type EncodedChunk } from './encode';
import { TenantQueue, type DropReason, type QueueOptions } from './queue';

const dirs: string[] = [];
const queues: TenantQueue[] = [];
afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const NOW = 1_800_000_000_000;

/** One record per call: `n` samples of series `name` at NOW + i. */
function chunk(name: string, n = 1, from = 0): EncodedChunk {
  const samples = Array.from({ length: n }, (_, i) => ({ value: from + i, timestampMs: NOW + from + i }));
  return encodeChunks([{ labels: [['__name__', name]], samples }], 1_000_000)[0]!;
}

interface Harness {
  dir: string;
  drops: Array<{ endpoint: string; reason: DropReason; samples: number }>;
  open(over?: Partial<QueueOptions>): Promise<TenantQueue>;
}

function harness(base: Partial<QueueOptions> = {}): Harness {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-rw-queue-'));
  dirs.push(dir);
  const drops: Harness['drops'] = [];
  return {
    dir,
    drops,
    async open(over = {}) {
      const q = await TenantQueue.open({
        dir,
        endpoints: ['a'],
        segmentBytes: 1 << 20,
        maxBytes: 64 << 20,
        maxPendingBytes: 8 << 20,
        maxAgeMs: Number.MAX_SAFE_INTEGER,
        now: () => NOW,
        logger: nopLogger,
        onDrop: (endpoint, reason, samples) => void drops.push({ endpoint, reason, samples }),
        ...base,
        ...over,
      });
      queues.push(q);
      return q;
    },
  };
}

const ALL = { maxSamples: 1_000_000, maxBytes: 1 << 30 };

async function drain(q: TenantQueue, endpoint: string, limits = ALL): Promise<number[]> {
  const sizes: number[] = [];
  for (let b = await q.nextBatch(endpoint, limits); b; b = await q.nextBatch(endpoint, limits)) {
    sizes.push(b.records.length);
    await q.ack(endpoint, b);
  }
  return sizes;
}

describe('TenantQueue', () => {
  it('gives records back in order, batched within the limits, and nothing once acknowledged', async () => {
    const q = await harness().open();
    q.enqueue([chunk('a', 2), chunk('b', 2), chunk('c', 2)]);
    await q.flush();
    expect(q.pendingFor('a')).toEqual({ samples: 6, exemplars: 0 });
    const first = await q.nextBatch('a', { maxSamples: 4, maxBytes: 1 << 20 });
    expect(first!.records.map((r) => r.samples)).toEqual([2, 2]);
    await q.ack('a', first!);
    expect(q.pendingFor('a').samples).toBe(2);
    expect(await drain(q, 'a')).toEqual([1]);
    expect(await q.nextBatch('a', ALL)).toBeUndefined();
    expect(q.drained).toBe(true);
  });

  it('a reopened queue resumes after the last acknowledged record', async () => {
    const h = harness();
    const q = await h.open();
    q.enqueue([chunk('a'), chunk('b'), chunk('c')]);
    await q.flush();
    const b = await q.nextBatch('a', { maxSamples: 1, maxBytes: 1 << 20 });
    await q.ack('a', b!);
    await q.close();
    const again = await h.open();
    expect(again.pendingFor('a').samples).toBe(2);
    const rest = await again.nextBatch('a', ALL);
    expect(rest!.records).toHaveLength(2);
  });

  it('after a restart, the records up to the persisted in-flight end are given one per batch', async () => {
    const h = harness();
    const q = await h.open();
    q.enqueue([chunk('a'), chunk('b'), chunk('c')]);
    await q.flush();
    const b = await q.nextBatch('a', ALL);
    expect(b!.records).toHaveLength(3);
    await q.beforeSend('a', b!); // sent, maybe committed by the receiver, never acknowledged here
    await q.close();
    const again = await h.open();
    again.enqueue([chunk('d'), chunk('e')]);
    await again.flush();
    expect(await drain(again, 'a')).toEqual([1, 1, 1, 2]);
  });

  it('writes acknowledgements once the endpoint has caught up; a crash before resends what may have been sent, one per batch', async () => {
    const h = harness();
    const q = await h.open();
    q.enqueue([chunk('a'), chunk('b'), chunk('c')]);
    await q.flush();
    const one = { maxSamples: 1, maxBytes: 1 << 20 };
    for (let i = 0; i < 2; i++) {
      const b = await q.nextBatch('a', one);
      await q.beforeSend('a', b!);
      await q.ack('a', b!);
    }
    // A crash here: the file has the first acknowledgement (written with the lease, before the second
    // request), not the second, and everything on disk as possibly sent.
    const crashed = await h.open();
    expect(crashed.pendingFor('a').samples).toBe(2);
    crashed.enqueue([chunk('d'), chunk('e')]);
    await crashed.flush();
    expect(await drain(crashed, 'a')).toEqual([1, 1, 2]);
  });

  it('an endpoint that caught up has its acknowledgements on disk, without a close', async () => {
    const h = harness();
    const q = await h.open();
    q.enqueue([chunk('a'), chunk('b'), chunk('c')]);
    await q.flush();
    for (let b = await q.nextBatch('a', { maxSamples: 1, maxBytes: 1 << 20 }); b; b = await q.nextBatch('a', { maxSamples: 1, maxBytes: 1 << 20 })) {
      await q.beforeSend('a', b);
      await q.ack('a', b);
    }
    const crashed = await h.open();
    expect(crashed.pendingFor('a').samples).toBe(0);
    expect(await crashed.nextBatch('a', ALL)).toBeUndefined();
  });

  it('drops appends past maxPendingBytes at once, counting them for every endpoint', async () => {
    const h = harness({ endpoints: ['a', 'b'] });
    const one = chunk('x', 10);
    const q = await h.open({ maxPendingBytes: one.bytes.length * 2 });
    q.enqueue([one, one, one]);
    expect(h.drops).toEqual([
      { endpoint: 'a', reason: 'queue_full', samples: 10 },
      { endpoint: 'b', reason: 'queue_full', samples: 10 },
    ]);
    await q.flush();
    expect(q.pendingFor('a').samples).toBe(20);
  });

  it('stays under its byte cap by dropping the oldest segments, counting what was unsent', async () => {
    const h = harness({ endpoints: ['a', 'b'] });
    const q = await h.open({ segmentBytes: 2048, maxBytes: 8192 });
    let appended = 0;
    for (let i = 0; i < 100; i++) {
      q.enqueue([chunk('s', 5, i * 5)]);
      appended += 5;
      await q.flush();
      expect(q.diskBytes).toBeLessThanOrEqual(8192 + 2048);
    }
    const dropped = (e: string): number => h.drops.filter((d) => d.endpoint === e && d.reason === 'disk_full').reduce((n, d) => n + d.samples, 0);
    expect(dropped('a')).toBeGreaterThan(0);
    expect(dropped('a') + q.pendingFor('a').samples).toBe(appended);
    const files = readdirSync(h.dir).filter((f) => f.endsWith('.seg'));
    expect(files.length).toBeLessThanOrEqual(6);
    // What is left comes out in order: the newest samples, contiguous.
    const values: number[] = [];
    for (let b = await q.nextBatch('a', ALL); b; b = await q.nextBatch('a', ALL)) {
      for (const r of b.records) values.push(r.newestMs - NOW);
      await q.ack('a', b);
    }
    expect(values[values.length - 1]).toBe(appended - 1);
    expect(values).toEqual([...values].sort((x, y) => x - y));
  });

  it('deletes a segment once every endpoint is past it, not before', async () => {
    const h = harness({ endpoints: ['a', 'b'] });
    const q = await h.open({ segmentBytes: 50 * 1024 });
    for (let i = 0; i < 6; i++) {
      q.enqueue([chunk('s', 2000, i * 2000)]); // ~ 40 KB each
      await q.flush();
    }
    const segs = (): number => readdirSync(h.dir).filter((f) => f.endsWith('.seg')).length;
    const before = segs();
    expect(before).toBeGreaterThan(1);
    await drain(q, 'a');
    expect(segs()).toBe(before);
    await drain(q, 'b');
    expect(segs()).toBe(1);
  });

  it('cuts a torn tail on reopen and keeps every record before it', async () => {
    const h = harness();
    const q = await h.open();
    q.enqueue([chunk('a'), chunk('b')]);
    await q.flush();
    await q.close();
    const seg = path.join(
      h.dir,
      readdirSync(h.dir).find((f) => f.endsWith('.seg'))!,
    );
    const good = statSync(seg).size;
    appendFileSync(seg, Buffer.from([0x40, 0, 0, 0, 1, 2, 3])); // a header promising 64 bytes, then 3
    const again = await h.open();
    expect(statSync(seg).size).toBe(good);
    expect((await again.nextBatch('a', ALL))!.records).toHaveLength(2);
  });

  it('drops sealed segments whose newest sample is older than max age', async () => {
    const h = harness();
    let now = NOW;
    const q = await h.open({ segmentBytes: 1, maxAgeMs: 1000, now: () => now }); // a segment per write
    q.enqueue([chunk('old')]);
    await q.flush();
    now += 10_000;
    q.enqueue([chunk('new', 1, 10_000)]);
    await q.flush();
    expect(h.drops).toEqual([{ endpoint: 'a', reason: 'too_old', samples: 1 }]);
    const b = await q.nextBatch('a', ALL);
    expect(b!.records.map((r) => r.newestMs)).toEqual([NOW + 10_000]);
  });
});
