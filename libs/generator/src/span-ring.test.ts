import { createSpanRing, SpanRingReader, SpanRingWriter, type RingRecord } from './span-ring';

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const noOverrides = (): string => '{}';

/** Every record in the ring, each copied (a record's traces are valid until the next read). */
function drain(r: SpanRingReader): Array<Pick<RingRecord, 'tenant' | 'overrides' | 'bytes'> & { traces: Uint8Array[] }> {
  const out: Array<Pick<RingRecord, 'tenant' | 'overrides' | 'bytes'> & { traces: Uint8Array[] }> = [];
  for (let rec = r.read(); rec !== undefined; rec = r.read())
    out.push({ tenant: rec.tenant, overrides: rec.overrides, bytes: rec.bytes, traces: rec.traces().map((t) => t.slice()) });
  return out;
}

describe('span ring', () => {
  it('hands records over in order, with the tenant and trace bytes as written', () => {
    const b = createSpanRing(1);
    const w = new SpanRingWriter(b);
    const r = new SpanRingReader(b);
    expect(w.capacity).toBe(64 * 1024);
    expect(w.write('t1', [bytes(10, 1), bytes(0, 0), bytes(3, 2)], 'k', noOverrides)).toBe(true);
    expect(w.write('tenant-ü', [bytes(5, 3)], 'k', noOverrides)).toBe(true);
    const got = drain(r);
    expect(got.map((x) => [x.tenant, x.traces.map(hex), x.bytes])).toEqual([
      ['t1', [hex(bytes(10, 1)), '', hex(bytes(3, 2))], 13],
      ['tenant-ü', [hex(bytes(5, 3))], 5],
    ]);
    expect(r.read()).toBeUndefined();
    expect(w.used).toBe(0);
  });

  it("carries a tenant's overrides once, and again only when their key changes", () => {
    const b = createSpanRing(1);
    const w = new SpanRingWriter(b);
    const r = new SpanRingReader(b);
    w.write('a', [bytes(1, 1)], 'k1', () => '{"v":1}');
    w.write('a', [bytes(1, 1)], 'k1', () => '{"v":1}');
    w.write('b', [bytes(1, 1)], 'k1', () => '{"v":2}');
    w.write('a', [bytes(1, 1)], 'k2', () => '{"v":3}');
    expect(drain(r).map((x) => [x.tenant, x.overrides])).toEqual([
      ['a', '{"v":1}'],
      ['a', undefined],
      ['b', '{"v":2}'],
      ['a', '{"v":3}'],
    ]);
  });

  it('refuses what does not fit, whole, and takes it again once the reader is done with a record', () => {
    const b = createSpanRing(1);
    const w = new SpanRingWriter(b);
    const r = new SpanRingReader(b);
    const trace = bytes(10_000, 7);
    let taken = 0;
    while (w.write('t', [trace], 'k', noOverrides)) taken++;
    expect(taken).toBe(6); // 64 KiB of ~10 KiB records
    const before = w.used;
    expect(w.write('t', [trace, trace], 'k', noOverrides)).toBe(false);
    expect(w.used).toBe(before);
    expect(r.read()!.traces()[0]).toEqual(trace);
    // The record just read is processed in place: its room is the writer's again at the next read.
    expect(w.write('t', [trace], 'k', noOverrides)).toBe(false);
    expect(r.read()!.traces()[0]).toEqual(trace);
    expect(w.write('t', [trace], 'k', noOverrides)).toBe(true);
    expect(drain(r)).toHaveLength(5);
    expect(w.used).toBe(0);
  });

  it('wraps around the end of the ring many times without a record crossing it', () => {
    const b = createSpanRing(1);
    const w = new SpanRingWriter(b);
    const r = new SpanRingReader(b);
    // Sizes that do not divide the ring, so skips of every length (0-3 bytes and more) come up.
    const size = (i: number): number => 1 + ((i * 7919) % 6000);
    const wrong: number[] = [];
    let read = 0;
    const check = (): void => {
      for (const rec of drain(r)) {
        const t = rec.traces[0]!;
        if (rec.tenant !== `t${read % 3}` || t.length !== size(read) || t[0] !== (read & 0xff) || t[t.length - 1] !== (read & 0xff)) wrong.push(read);
        read++;
      }
    };
    for (let i = 0; i < 2000; i++) {
      const traces = [bytes(size(i), i & 0xff), bytes(i % 5, (i + 1) & 0xff)];
      if (w.write(`t${i % 3}`, traces, 'k', noOverrides)) continue;
      check();
      expect(w.write(`t${i % 3}`, traces, 'k', noOverrides)).toBe(true);
    }
    check();
    expect(wrong).toEqual([]);
    expect(read).toBe(2000);
  });

  it('cuts a push larger than a record may be into several records; a trace alone that large is refused', () => {
    const b = createSpanRing(1);
    const w = new SpanRingWriter(b);
    const r = new SpanRingReader(b);
    const traces = Array.from({ length: 6 }, (_, i) => bytes(5000, i));
    expect(w.write('t', traces, 'k', () => '{"v":1}')).toBe(true);
    const got = drain(r);
    expect(got.length).toBeGreaterThan(1);
    expect(got.flatMap((x) => x.traces.map(hex))).toEqual(traces.map(hex));
    expect(got.map((x) => x.overrides)).toEqual(['{"v":1}', ...got.slice(1).map(() => undefined)]);
    expect(w.write('t', [bytes(w.maxRecordBytes, 1)], 'k', noOverrides)).toBe(false);
  });

  it("puts each trace at its source's offset modulo 8 (shared memory copies by words only when equally aligned)", () => {
    const b = createSpanRing(1);
    const w = new SpanRingWriter(b);
    const r = new SpanRingReader(b);
    const source = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff);
    for (let off = 0; off < 24; off++) {
      // Two traces per record, of lengths that leave the writer at every offset modulo 8.
      const traces = [source.subarray(off, off + 100 + off), source.subarray(off + 1, off + 1 + 9 * off)];
      expect(w.write('t', traces, 'k', noOverrides)).toBe(true);
      const rec = r.read()!;
      const got = rec.traces();
      expect(got.map((t) => t.byteOffset % 8)).toEqual(traces.map((t) => t.byteOffset % 8));
      expect(got.map(hex)).toEqual(traces.map(hex));
      expect(rec.bytes).toBe(traces[0]!.length + traces[1]!.length);
    }
    expect(r.read()).toBeUndefined();
    expect(w.used).toBe(0);
  });

  it('refuses an empty tenant', () => {
    const w = new SpanRingWriter(createSpanRing(1));
    expect(w.write('', [bytes(1, 1)], 'k', noOverrides)).toBe(false);
  });
});
