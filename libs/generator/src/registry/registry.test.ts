import { nopLogger } from '@stave/core';
import { Registry as PromRegistry } from 'prom-client';
import { seriesKey } from '../testing';
import { GeneratorMetrics } from '../metrics';
import { formatFloat } from './metric';
import { Registry, type RegistryOptions } from './registry';

function setup(over: Partial<RegistryOptions> & { max?: number; disable?: boolean } = {}) {
  const prom = new PromRegistry();
  let now = 1_700_000_000_000;
  const reg = new Registry({
    tenant: 't1',
    collectionIntervalMs: 15_000,
    staleDurationMs: 60_000,
    externalLabels: { cluster: 'c1' },
    maxLabelNameLength: 1024,
    maxLabelValueLength: 2048,
    limits: { maxActiveSeries: () => over.max ?? 0, collectionIntervalMs: () => 0, disableCollection: () => over.disable ?? false },
    metrics: new GeneratorMetrics(prom),
    logger: nopLogger,
    instanceLabel: 'gen-1',
    now: () => now,
    ...over,
  });
  return {
    reg,
    prom,
    advance: (ms: number) => (now += ms),
    now: () => now,
    value: async (name: string) => (await prom.getSingleMetric(name)!.get()).values.find((v) => v.labels.tenant === 't1')?.value ?? 0,
  };
}

describe('registry', () => {
  it('collects a new counter series as 0 one second before its value, then the value alone', () => {
    const { reg, now, advance } = setup();
    const c = reg.newCounter('calls_total');
    c.inc(reg.labels(['service'], ['a']), 2);
    c.inc(reg.labels(['service'], ['a']), 3);
    const first = reg.collect();
    expect(first).toEqual([
      {
        labels: [
          ['__metrics_gen_instance', 'gen-1'],
          ['__name__', 'calls_total'],
          ['cluster', 'c1'],
          ['service', 'a'],
        ],
        samples: [
          { value: 0, timestampMs: now() - 1000 },
          { value: 5, timestampMs: now() },
        ],
      },
    ]);
    advance(15_000);
    c.inc(reg.labels(['service'], ['a']), 1);
    expect(reg.collect()[0]!.samples).toEqual([{ value: 6, timestampMs: now() }]);
  });

  it('lets a series label win over an external label of the same name', () => {
    const { reg } = setup();
    reg.newCounter('x_total').inc(reg.labels(['cluster'], ['mine']), 1);
    expect(seriesKey(reg.collect()[0]!.labels)).toBe('x_total{__metrics_gen_instance="gen-1",cluster="mine"}');
  });

  it('collects a classic histogram: cumulative buckets with le as Go prints it, +Inf, sum and count', () => {
    const { reg } = setup();
    const h = reg.newHistogram('latency', [0.1, 0.5, 2]);
    const l = reg.labels(['service'], ['a']);
    h.observe(l, 0.05, 'aa');
    h.observe(l, 0.1, 'bb'); // on a bound: counted in that bucket (le is "less or equal")
    h.observe(l, 0.3, 'cc');
    h.observe(l, 7, 'dd');
    const got = new Map(reg.collect().map((s) => [seriesKey(s.labels.filter(([n]) => n !== '__metrics_gen_instance' && n !== 'cluster')), s]));
    const v = (k: string) => got.get(k)!.samples.at(-1)!.value;
    expect(v('latency_bucket{le="0.1",service="a"}')).toBe(2);
    expect(v('latency_bucket{le="0.5",service="a"}')).toBe(3);
    expect(v('latency_bucket{le="2",service="a"}')).toBe(3);
    expect(v('latency_bucket{le="+Inf",service="a"}')).toBe(4);
    expect(v('latency_count{service="a"}')).toBe(4);
    expect(v('latency_sum{service="a"}')).toBeCloseTo(7.45, 12);
    // Exemplars: the latest observation of each bucket it first falls in, sent once.
    expect(got.get('latency_bucket{le="0.1",service="a"}')!.exemplars).toEqual([{ labels: [['traceID', 'bb']], value: 0.1, timestampMs: expect.any(Number) }]);
    expect(got.get('latency_bucket{le="0.5",service="a"}')!.exemplars).toEqual([{ labels: [['traceID', 'cc']], value: 0.3, timestampMs: expect.any(Number) }]);
    expect(got.get('latency_bucket{le="2",service="a"}')!.exemplars).toBeUndefined();
    expect(got.get('latency_bucket{le="+Inf",service="a"}')!.exemplars).toEqual([{ labels: [['traceID', 'dd']], value: 7, timestampMs: expect.any(Number) }]);
    expect(reg.collect().some((s) => s.exemplars !== undefined)).toBe(false);
  });

  it('adds every bucket up in arrival order, whole counts and span multipliers mixed, across collections', () => {
    const { reg } = setup();
    const bounds = [0.1, 0.5, 2];
    const h = reg.newHistogram('latency', bounds);
    const l = reg.labels(['service'], ['a']);
    // Each bucket counted in place, observation by observation, as the reference.
    const want = [0, 0, 0, 0];
    const bucketValues = () =>
      reg
        .collect()
        .filter((s) => s.labels.some(([n, v]) => n === '__name__' && v === 'latency_bucket'))
        .map((s) => s.samples.at(-1)!.value);
    const steps: Array<[number, number]> = [
      [0.05, 1],
      [0.3, 1],
      [7, 1],
      [0.3, 1 / 3],
      [0.05, 1],
      [0.4, 1 / 7],
      [1, 1],
    ];
    for (const [i, [value, m]] of steps.entries()) {
      h.observe(l, value, '', m);
      [...bounds, Infinity].forEach((b, k) => {
        if (value <= b) want[k]! += m;
      });
      // Collections between observations fold what was counted so far.
      if (i === 1 || i === 4) expect(bucketValues()).toEqual(want);
    }
    expect(bucketValues()).toEqual(want);
  });

  it('keeps no exemplars when told none are sent, with the same values', () => {
    const { reg } = setup({ exemplars: false });
    const h = reg.newHistogram('latency', [0.1]);
    h.observe(reg.labels(['service'], ['a']), 0.05, 'aa');
    const got = reg.collect();
    expect(got.some((s) => s.exemplars !== undefined)).toBe(false);
    expect(got.map((s) => s.samples.at(-1)!.value)).toEqual([0.05, 1, 1, 1]);
  });

  it('prints bucket bounds as Go FormatFloat does', () => {
    expect([0.002, 16.384, 1, 100, 1e-7, 1e21, Infinity].map(formatFloat)).toEqual([
      '0.002',
      '16.384',
      '1',
      '100',
      '0.0000001',
      '1000000000000000000000',
      '+Inf',
    ]);
  });

  it('refuses new series past max_active_series and counts each refusal; existing series still update', async () => {
    const { reg, value } = setup({ max: 7 });
    const c = reg.newCounter('c_total');
    const h = reg.newHistogram('h', [1, 2]); // 2 buckets + +Inf + sum + count = 5 series per label set
    c.inc(reg.labels(['a'], ['1']), 1);
    c.inc(reg.labels(['a'], ['2']), 1);
    h.observe(reg.labels(['a'], ['1']), 0.5, ''); // 2 + 5 = 7: fits
    c.inc(reg.labels(['a'], ['3']), 1); // 8 > 7: refused
    h.observe(reg.labels(['a'], ['2']), 0.5, ''); // 12 > 7: refused
    c.inc(reg.labels(['a'], ['1']), 1); // existing: updated
    expect(reg.activeSeries).toBe(7);
    expect(await value('tempo_metrics_generator_registry_series_limited_total')).toBe(2);
    const names = reg.collect().map((s) => seriesKey(s.labels.filter(([n]) => n === '__name__' || n === 'a')));
    expect(names.sort()).toEqual([
      'c_total{a="1"}',
      'c_total{a="2"}',
      'h_bucket{a="1"}',
      'h_bucket{a="1"}',
      'h_bucket{a="1"}',
      'h_count{a="1"}',
      'h_sum{a="1"}',
    ]);
    expect(
      reg
        .collect()
        .find((s) => seriesKey(s.labels.filter(([n]) => n === '__name__' || n === 'a')) === 'c_total{a="1"}')!
        .samples.at(-1)!.value,
    ).toBe(2);
    expect(await value('tempo_metrics_generator_registry_max_active_series')).toBe(7);
  });

  it('removes series not updated within stale_duration, freeing their room', async () => {
    const { reg, advance, value } = setup({ max: 1 });
    const c = reg.newCounter('c_total');
    c.inc(reg.labels(['a'], ['old']), 1);
    advance(30_000);
    reg.collect();
    c.inc(reg.labels(['a'], ['new']), 1); // refused: the old one is not stale yet
    expect(reg.activeSeries).toBe(1);
    advance(30_001); // old last updated 60.001 s ago
    expect(reg.collect()).toEqual([]);
    expect(await value('tempo_metrics_generator_registry_series_removed_total')).toBe(1);
    c.inc(reg.labels(['a'], ['new']), 1);
    expect(reg.collect().map((s) => s.labels.find(([n]) => n === 'a')![1])).toEqual(['new']);
  });

  it('truncates label names and values to max_label_name_length and max_label_value_length', () => {
    const { reg } = setup({ maxLabelNameLength: 3, maxLabelValueLength: 4 });
    reg.newCounter('c_total').inc(reg.labels(['service'], ['abcdefgh']), 1);
    expect(reg.collect()[0]!.labels).toContainEqual(['ser', 'abcd']);
  });

  it('collects nothing while the tenant disables collection', () => {
    const { reg } = setup({ disable: true });
    reg.newCounter('c_total').inc(reg.labels(['a'], ['1']), 1);
    expect(reg.collect()).toEqual([]);
  });

  it('collects on its timer into the appender', async () => {
    const prom = new PromRegistry();
    const got: number[] = [];
    const reg = new Registry({
      tenant: 't1',
      collectionIntervalMs: 20,
      staleDurationMs: 60_000,
      externalLabels: {},
      maxLabelNameLength: 1024,
      maxLabelValueLength: 2048,
      limits: { maxActiveSeries: () => 0, collectionIntervalMs: () => 0, disableCollection: () => false },
      metrics: new GeneratorMetrics(prom),
      logger: nopLogger,
    });
    reg.newCounter('c_total').inc(reg.labels([], []), 1);
    reg.start({ append: (_t, series) => got.push(series.length) });
    const deadline = Date.now() + 5000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    reg.stop();
    expect(got.slice(0, 2)).toEqual([1, 1]);
  });
});
