import { collect, forEachLimited, prepend, rechunk } from './chunks';

async function* gen(sizes: number[]): AsyncGenerator<Uint8Array> {
  let v = 0;
  for (const n of sizes) yield Uint8Array.from({ length: n }, () => v++ & 0xff);
}

describe('rechunk', () => {
  it.each([
    ['exact multiples', [4, 4], 4, [4, 4]],
    ['uneven input', [3, 0, 7, 1], 4, [4, 4, 3]],
    ['one small chunk', [2], 4, [2]],
    ['empty stream', [], 4, []],
    ['one big chunk', [10], 3, [3, 3, 3, 1]],
  ])('%s', async (_name, input, size, want) => {
    const all: number[] = [];
    const sizes: number[] = [];
    for await (const p of rechunk(gen(input as number[]), size as number, 2)) {
      sizes.push(p.bytes.length);
      all.push(...p.bytes);
      p.release();
    }
    expect(sizes).toEqual(want);
    expect(all).toEqual(Array.from({ length: (input as number[]).reduce((a, b) => a + b, 0) }, (_, i) => i & 0xff));
  });

  it('never has more than `buffers` parts unreleased: the producer waits', async () => {
    const it = rechunk(gen([16]), 4, 2);
    const a = await it.next();
    const b = await it.next();
    let third = false;
    const c = it.next().then((r) => ((third = true), r));
    await new Promise((r) => setImmediate(r));
    expect(third).toBe(false);
    a.value!.release();
    await c;
    expect(third).toBe(true);
    b.value!.release();
  });
});

describe('forEachLimited', () => {
  it('runs at most `limit` at once and stops pulling after a failure', async () => {
    let running = 0;
    let peak = 0;
    let pulled = 0;
    async function* items() {
      for (let i = 0; i < 10; i++) {
        pulled++;
        yield i;
      }
    }
    const err = await forEachLimited(items(), 3, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (i === 4) throw new Error('part 4 failed');
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toBe('part 4 failed');
    expect(peak).toBe(3);
    expect(pulled).toBeLessThan(10);
  });
});

describe('prepend and collect', () => {
  it('puts peeked items back in front, and closes the source when abandoned', async () => {
    let closed = false;
    async function* src() {
      try {
        yield 2;
        yield 3;
      } finally {
        closed = true;
      }
    }
    const it = src();
    const first = await it.next();
    const seen: number[] = [];
    for await (const v of prepend([1, first.value as number], it)) {
      seen.push(v);
      if (v === 2) break;
    }
    expect(seen).toEqual([1, 2]);
    expect(closed).toBe(true);
  });

  it('collects with and without a size hint', async () => {
    expect([...(await collect(gen([3, 2])))]).toEqual([0, 1, 2, 3, 4]);
    expect([...(await collect(gen([3, 2]), 5))]).toEqual([0, 1, 2, 3, 4]);
    expect([...(await collect(gen([3, 2]), 4))]).toEqual([0, 1, 2, 3, 4]);
  });
});
