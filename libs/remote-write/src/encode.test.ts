import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { PromWriteRequestSchema } from '@stave/proto';
import { cachedLabelStrings, compress, encodeChunks, uncompress, withoutExemplars } from './encode';
import type { Series } from './types';

const calls: Series = {
  labels: [
    ['__name__', 'traces_spanmetrics_calls_total'],
    ['service', 'checkout'],
    ['span_kind', 'SPAN_KIND_SERVER'],
  ],
  samples: [
    { value: 3, timestampMs: 1_700_000_000_000 },
    { value: 5, timestampMs: 1_700_000_015_000 },
  ],
  exemplars: [{ labels: [['trace_id', '0af7651916cd43dd8448eb211c80319c']], value: 0.25, timestampMs: 1_700_000_014_000 }],
};

function decode(bytes: Uint8Array) {
  return fromBinary(PromWriteRequestSchema, bytes, { readUnknownFields: true });
}

/** The WriteRequest of `series` as protobuf-es encodes it, in hex. */
function protobufEsHex(series: readonly Series[], withExemplars: boolean): string {
  const label = ([name, value]: readonly [string, string]) => ({ name, value });
  const want = create(PromWriteRequestSchema, {
    timeseries: series.map((s) => ({
      labels: s.labels.map(label),
      samples: s.samples.map((x) => ({ value: x.value, timestamp: BigInt(x.timestampMs) })),
      exemplars: withExemplars ? (s.exemplars ?? []).map((e) => ({ labels: e.labels.map(label), value: e.value, timestamp: BigInt(e.timestampMs) })) : [],
    })),
  });
  want.timeseries = want.timeseries.filter((ts) => ts.samples.length + ts.exemplars.length > 0);
  return Buffer.from(toBinary(PromWriteRequestSchema, want)).toString('hex');
}

describe('encodeChunks', () => {
  it('writes what the generated prometheus.WriteRequest decodes, field for field', () => {
    const [chunk] = encodeChunks([calls], 2000);
    expect(chunk).toMatchObject({ samples: 2, exemplars: 1, newestMs: 1_700_000_015_000 });
    const req = decode(chunk!.bytes);
    expect(req.timeseries).toHaveLength(1);
    const ts = req.timeseries[0]!;
    expect(ts.labels.map((l) => [l.name, l.value])).toEqual(calls.labels);
    expect(ts.samples.map((s) => [s.value, Number(s.timestamp)])).toEqual([
      [3, 1_700_000_000_000],
      [5, 1_700_000_015_000],
    ]);
    expect(ts.exemplars.map((e) => ({ labels: e.labels.map((l) => [l.name, l.value]), value: e.value, ts: Number(e.timestamp) }))).toEqual([
      { labels: [['trace_id', '0af7651916cd43dd8448eb211c80319c']], value: 0.25, ts: 1_700_000_014_000 },
    ]);
    expect(ts.$unknown).toBeUndefined();
    expect(req.$unknown).toBeUndefined();
  });

  it("writes the bytes protobuf-es's own encoder writes for the same WriteRequest", () => {
    const series: Series[] = [
      calls,
      {
        labels: [
          ['__name__', 'm'],
          ['', 'no name'],
          ['no_value', ''],
          ['ü', '日本 \u{1f600}'],
        ],
        samples: [{ value: -0, timestampMs: -1500 }],
      },
      {
        labels: [['__name__', 'n']],
        samples: [
          { value: 0, timestampMs: 0 },
          { value: 2 ** 60, timestampMs: 2 ** 52 + 1 },
          { value: NaN, timestampMs: 128 },
        ],
      },
      {
        labels: [],
        samples: [],
        exemplars: [
          { labels: [], value: 0, timestampMs: 0 },
          { labels: [['a', '']], value: -1, timestampMs: 300 },
        ],
      },
    ];
    for (const withExemplars of [true, false]) {
      const [chunk] = encodeChunks(series, 100, withExemplars);
      expect(Buffer.from(chunk!.bytes).toString('hex')).toBe(protobufEsHex(series, withExemplars));
      // Encoded again (the label bytes now come from the cache): the same bytes.
      expect(Buffer.from(encodeChunks(series, 100, withExemplars)[0]!.bytes).toString('hex')).toBe(Buffer.from(chunk!.bytes).toString('hex'));
    }
  });

  it('writes the same bytes for label strings met before, for lone surrogates, and after its string cache starts over', () => {
    // New label lists each time (as a collection's new series bring), sharing their names and some values.
    const lists = (n: number, tag: string): Series[] =>
      Array.from({ length: n }, (_, i) => ({
        labels: [
          ['__name__', 'traces_spanmetrics_latency_bucket'],
          ['le', i % 2 ? '+Inf' : '0.002'],
          ['service', `${tag}-${i}`],
          ['span_name', i % 3 ? 'lone \ud800 high' : 'lone \udc00 low, then \u{1f600}'],
        ],
        samples: [{ value: i, timestampMs: 1_700_000_000_000 + i }],
        exemplars: [{ labels: [['trace_id', `${tag}${i}`]], value: i / 8, timestampMs: 1_700_000_000_000 }],
      }));
    const check = (series: Series[]) => {
      for (const withExemplars of [true, false])
        expect(encodeChunks(series, series.length * 2, withExemplars).map((c) => Buffer.from(c.bytes).toString('hex'))).toEqual([
          protobufEsHex(series, withExemplars),
        ]);
    };
    check(lists(50, 'a'));
    check(lists(50, 'a'));
    const before = cachedLabelStrings();
    // Enough distinct values to pass the cache's cap (64k strings), then the first ones again.
    for (let round = 0; round < 14; round++) encodeChunks(lists(5000, `r${round}`), 10_000, false);
    expect(cachedLabelStrings()).toBeLessThan(before + 14 * 5000);
    check(lists(50, 'a'));
    check(lists(50, 'r13'));
  });

  it('gives every chunk a buffer of its own (moved whole between threads)', () => {
    const many: Series[] = Array.from({ length: 50 }, (_, i) => ({ labels: [['__name__', `m${i}`]], samples: [{ value: i, timestampMs: i }] }));
    const chunks = encodeChunks(many, 7);
    expect(chunks).toHaveLength(8);
    for (const c of chunks) expect([c.bytes.byteOffset, c.bytes.byteLength]).toEqual([0, c.bytes.buffer.byteLength]);
    expect(chunks.flatMap((c) => decode(c.bytes).timeseries.map((ts) => ts.labels[0]!.value))).toEqual(many.map((s) => s.labels[0]![1]));
  });

  it('writes the bytes the field numbers dictate (prometheus.WriteRequest, computed by hand)', () => {
    const [chunk] = encodeChunks([{ labels: [['a', 'b']], samples: [{ value: 1, timestampMs: 2 }] }], 10);
    // timeseries(1) len 21 { labels(1) len 6 { name(1) "a", value(2) "b" }, samples(2) len 11 { value(1) double 1.0, timestamp(2) 2 } }
    const want = [0x0a, 0x15, 0x0a, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x01, 0x62, 0x12, 0x0b, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0x02];
    expect([...chunk!.bytes]).toEqual(want);
  });

  it.each([
    ['zero', 0],
    ['negative zero', -0],
    ['NaN (the staleness marker family)', NaN],
    ['+Inf', Infinity],
    ['-Inf', -Infinity],
    ['a large counter', 2 ** 53 - 1],
    ['a tiny fraction', 1e-300],
  ])('round-trips %s exactly', (_name, value) => {
    const [chunk] = encodeChunks([{ labels: [['__name__', 'm']], samples: [{ value, timestampMs: 0 }] }], 10);
    const got = decode(chunk!.bytes).timeseries[0]!.samples[0]!;
    expect(Object.is(got.value, value)).toBe(true);
    expect(got.timestamp).toBe(0n);
  });

  it('keeps empty label values and non-ASCII text', () => {
    const [chunk] = encodeChunks(
      [
        {
          labels: [
            ['__name__', 'm'],
            ['empty', ''],
            ['name', 'Zürich → 東京'],
          ],
          samples: [{ value: 1, timestampMs: 1 }],
        },
      ],
      10,
    );
    expect(decode(chunk!.bytes).timeseries[0]!.labels.map((l) => [l.name, l.value])).toEqual([
      ['__name__', 'm'],
      ['empty', ''],
      ['name', 'Zürich → 東京'],
    ]);
  });

  it('cuts requests at maxSamples, splitting a long series in time order and keeping exemplars with its last part', () => {
    const long: Series = {
      labels: [['__name__', 'long']],
      samples: Array.from({ length: 7 }, (_, i) => ({ value: i, timestampMs: 1000 + i })),
      exemplars: [{ labels: [], value: 6, timestampMs: 1006 }],
    };
    const short: Series = { labels: [['__name__', 'short']], samples: [{ value: 1, timestampMs: 5 }] };
    const chunks = encodeChunks([short, long], 3);
    expect(chunks.map((c) => c.samples + c.exemplars)).toEqual([3, 3, 3]);
    const decoded = chunks.map((c) => decode(c.bytes).timeseries.map((ts) => [ts.labels[0]!.value, ts.samples.map((s) => s.value), ts.exemplars.length]));
    expect(decoded).toEqual([
      [
        ['short', [1], 0],
        ['long', [0, 1], 0],
      ],
      [['long', [2, 3, 4], 0]],
      [['long', [5, 6], 1]],
    ]);
  });

  it('skips series with nothing to send and returns no chunk for nothing', () => {
    expect(encodeChunks([], 10)).toEqual([]);
    expect(encodeChunks([{ labels: [['__name__', 'm']], samples: [] }], 10)).toEqual([]);
  });

  it('concatenated requests decode as one request holding both lists (how the queue batches)', () => {
    const a = encodeChunks([calls], 2000)[0]!.bytes;
    const b = encodeChunks([{ labels: [['__name__', 'other']], samples: [{ value: 9, timestampMs: 9 }] }], 2000)[0]!.bytes;
    const merged = decode(Buffer.concat([a, b]));
    expect(merged.timeseries.map((ts) => ts.labels[0]!.value)).toEqual(['traces_spanmetrics_calls_total', 'other']);
  });
});

describe('withoutExemplars', () => {
  it('removes exemplars and exemplar-only series, keeping samples', () => {
    const exemplarOnly: Series = { labels: [['__name__', 'x']], samples: [], exemplars: [{ labels: [], value: 1, timestampMs: 1 }] };
    const [chunk] = encodeChunks([calls, exemplarOnly], 100);
    const stripped = decode(withoutExemplars(chunk!.bytes));
    expect(stripped.timeseries).toHaveLength(1);
    expect(stripped.timeseries[0]!.exemplars).toEqual([]);
    expect(stripped.timeseries[0]!.samples).toHaveLength(2);
  });
});

describe('snappy (block format)', () => {
  it('round-trips encoded requests and compresses repetitive ones', () => {
    const many = Array.from({ length: 500 }, (_, i): Series => ({
      labels: [
        ['__name__', 'traces_spanmetrics_latency_bucket'],
        ['le', String(i)],
      ],
      samples: [{ value: i, timestampMs: 1_700_000_000_000 }],
    }));
    const raw = encodeChunks(many, 10_000)[0]!.bytes;
    const packed = compress(raw);
    expect(packed.length).toBeLessThan(raw.length / 2);
    expect(Buffer.from(uncompress(packed)).equals(Buffer.from(raw))).toBe(true);
  });

  it('decodes a block written by hand from the format (varint length, one literal)', () => {
    // 0x05 = uncompressed length 5; tag 0x10 = literal of (0x10 >> 2) + 1 = 5 bytes.
    const block = Uint8Array.from([0x05, 0x10, ...Buffer.from('hello')]);
    expect(Buffer.from(uncompress(block)).toString()).toBe('hello');
  });

  it('refuses a block that claims more than the cap', () => {
    const packed = compress(new Uint8Array(1000));
    expect(() => uncompress(packed, 100)).toThrow();
  });
});
