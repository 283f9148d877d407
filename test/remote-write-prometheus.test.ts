// Remote write against Debian's real Prometheus (--web.enable-remote-write-receiver): what RemoteWriter
// appends comes back from PromQL with exact values, and a Prometheus outage of 30 s during load loses no
// sample (issue 13, acceptance 2, for the library; metrics-generator-outage.test.ts runs it through bin/stave).

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RemoteWriter, type Labels, type Series } from '@stave/remote-write';
import { poll } from './support/poll';
import { startPrometheus, type PrometheusProcess } from './support/prometheus';

jest.setTimeout(180_000);

let prom: PrometheusProcess;
const dirs: string[] = [];
const writers: RemoteWriter[] = [];

beforeAll(async () => {
  prom = await startPrometheus();
});
afterAll(async () => {
  await Promise.all(writers.map((w) => w.stop()));
  await prom?.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startWriter(): Promise<RemoteWriter> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-rw-prom-'));
  dirs.push(dir);
  const w = new RemoteWriter({
    path: dir,
    endpoints: [{ url: prom.remoteWriteUrl, sendExemplars: true, remoteTimeoutMs: 5000 }],
    addOrgIdHeader: true,
    flushDeadlineMs: 5000,
  });
  writers.push(w);
  await w.start();
  return w;
}

async function counterValue(w: RemoteWriter, name: 'samplesFailed' | 'samplesDropped' | 'samplesSent'): Promise<number> {
  const { values } = await w.metrics[name].get();
  return values.reduce((n, v) => n + v.value, 0);
}

/** Sorted labels, `__name__` first (it sorts before lower-case names). */
function labels(name: string, rest: Record<string, string>): Labels {
  return [['__name__', name] as const, ...Object.entries(rest).map(([k, v]) => [k, v] as const)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

describe('remote write to a real Prometheus', () => {
  it('PromQL returns exactly what was appended: counters, histogram buckets, sum, count and exemplars', async () => {
    const w = await startWriter();
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    const t1 = t0 + 15_000;
    const svc = { service: 'checkout', span_kind: 'SPAN_KIND_SERVER', span_name: 'GET /cart', status_code: 'STATUS_CODE_UNSET' };
    const buckets = [0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384];
    // Latencies observed by t1: 0.003, 0.05, 0.05, 0.3, 20 (s).
    const observed = [0.003, 0.05, 0.05, 0.3, 20];
    const cumulative = (le: number): number => observed.filter((v) => v <= le).length;
    const series: Series[] = [
      {
        labels: labels('traces_spanmetrics_calls_total', svc),
        samples: [
          { value: 3, timestampMs: t0 },
          { value: 5, timestampMs: t1 },
        ],
        exemplars: [{ labels: [['trace_id', '4bf92f3577b34da6a3ce929d0e0e4736']], value: 0.3, timestampMs: t1 }],
      },
      ...[...buckets.map(String), '+Inf'].map((le): Series => ({
        labels: labels('traces_spanmetrics_latency_bucket', { ...svc, le }),
        samples: [{ value: le === '+Inf' ? observed.length : cumulative(Number(le)), timestampMs: t1 }],
      })),
      { labels: labels('traces_spanmetrics_latency_sum', svc), samples: [{ value: observed.reduce((a, b) => a + b, 0), timestampMs: t1 }] },
      { labels: labels('traces_spanmetrics_latency_count', svc), samples: [{ value: observed.length, timestampMs: t1 }] },
      {
        labels: labels('traces_service_graph_request_total', { client: 'frontend', server: 'checkout', connection_type: '' }),
        samples: [{ value: 42, timestampMs: t1 }],
      },
    ];
    w.append('tenant-a', series);
    await poll('the request acknowledged', () => w.drained(), { timeoutMs: 20_000 });

    expect(await prom.queryOne('traces_spanmetrics_calls_total{service="checkout"}', t0)).toBe(3);
    expect(await prom.queryOne('traces_spanmetrics_calls_total{service="checkout"}', t1)).toBe(5);
    const got = await prom.query('traces_spanmetrics_latency_bucket{service="checkout"}', t1);
    const byLe = Object.fromEntries(got.map((s) => [s.metric.le, s.value]));
    expect(byLe).toEqual({
      '0.002': 0,
      '0.004': 1,
      '0.008': 1,
      '0.016': 1,
      '0.032': 1,
      '0.064': 3,
      '0.128': 3,
      '0.256': 3,
      '0.512': 4,
      '1.024': 4,
      '2.048': 4,
      '4.096': 4,
      '8.192': 4,
      '16.384': 4,
      '+Inf': 5,
    });
    expect(got[0]!.metric).toMatchObject(svc);
    expect(await prom.queryOne('traces_spanmetrics_latency_sum{service="checkout"}', t1)).toBe(observed.reduce((a, b) => a + b, 0));
    expect(await prom.queryOne('traces_spanmetrics_latency_count{service="checkout"}', t1)).toBe(5);
    // The median falls in (0.032, 0.064]: linear interpolation inside that bucket.
    expect(await prom.queryOne('histogram_quantile(0.5, traces_spanmetrics_latency_bucket{service="checkout"})', t1)).toBeCloseTo(
      0.032 + (0.064 - 0.032) * ((2.5 - 1) / 2),
      12,
    );
    // An empty label value is no label at all in Prometheus.
    const edge = await prom.query('traces_service_graph_request_total', t1);
    expect(edge).toEqual([{ metric: { __name__: 'traces_service_graph_request_total', client: 'frontend', server: 'checkout' }, value: 42 }]);
    expect(await prom.exemplars('traces_spanmetrics_calls_total{service="checkout"}', t0, t1 + 1000)).toEqual([
      { labels: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' }, value: 0.3, timestampMs: t1 },
    ]);
    expect(await counterValue(w, 'samplesFailed')).toBe(0);
  });

  it('a Stave stopped with samples unsent (Prometheus down) sends them on its next start', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-rw-prom-'));
    dirs.push(dir);
    const opts = { path: dir, endpoints: [{ url: prom.remoteWriteUrl, remoteTimeoutMs: 2000 }], addOrgIdHeader: false, flushDeadlineMs: 200 };
    await prom.stop();
    const first = new RemoteWriter(opts);
    await first.start();
    const t0 = Date.now() - 30_000;
    for (let i = 1; i <= 10; i++)
      first.append('tenant-restart', [{ labels: labels('restart_calls_total', {}), samples: [{ value: i, timestampMs: t0 + i * 1000 }] }]);
    await first.stop(); // Prometheus is down: the flush deadline passes, the samples stay on disk
    await prom.restart();
    const second = new RemoteWriter(opts);
    writers.push(second);
    await second.start();
    await poll('the samples of the earlier run', () => second.drained(), { timeoutMs: 30_000 });
    expect(await prom.queryOne('count_over_time(restart_calls_total[5m])', t0 + 11_000)).toBe(10);
    expect(await prom.queryOne('restart_calls_total', t0 + 11_000)).toBe(10);
  });

  it('Prometheus stopped for 30 s under load and restarted: every appended sample arrives (acceptance 2)', async () => {
    const w = await startWriter();
    const SERIES = 20;
    const totals = new Array<number>(SERIES).fill(0);
    let appendedSamples = 0;
    let lastTs = 0;
    // A collection every 250 ms: each series' counter grows by its index + 1 per collection.
    const collect = (): void => {
      const ts = Math.max(Date.now(), lastTs + 1);
      lastTs = ts;
      const batch: Series[] = totals.map((_, i) => {
        totals[i]! += i + 1;
        return { labels: labels('outage_calls_total', { series: String(i) }), samples: [{ value: totals[i]!, timestampMs: ts }] };
      });
      appendedSamples += batch.length;
      w.append('tenant-outage', batch);
    };
    const timer = setInterval(collect, 250);
    try {
      await poll('samples flowing before the outage', async () => ((await prom.queryOne('count(outage_calls_total)')) ?? 0) === SERIES, { timeoutMs: 20_000 });
      await prom.stop();
      const before = appendedSamples;
      const stoppedAt = Date.now();
      // The outage itself: 30 s, and at least 100 collections appended while Prometheus is down.
      await poll('30 s of collections with Prometheus down', () => Date.now() - stoppedAt >= 30_000 && appendedSamples - before >= 100 * SERIES, {
        timeoutMs: 60_000,
        intervalMs: 250,
      });
      await prom.restart();
      await poll('new samples after the restart', async () => ((await prom.queryOne('max(timestamp(outage_calls_total))')) ?? 0) * 1000 > Date.now() - 5_000, {
        timeoutMs: 30_000,
        intervalMs: 250,
      });
    } finally {
      clearInterval(timer);
    }
    const end = lastTs;
    await poll('the queue drained', () => w.drained(), { timeoutMs: 30_000 });
    const at = end + 1;
    const last = await prom.query('outage_calls_total', at);
    expect(Object.fromEntries(last.map((s) => [s.metric.series, s.value]))).toEqual(Object.fromEntries(totals.map((v, i) => [String(i), v])));
    // Not only the last value: every sample of every series is there.
    expect(await prom.queryOne('sum(count_over_time(outage_calls_total[10m]))', at)).toBe(appendedSamples);
    expect(await counterValue(w, 'samplesFailed')).toBe(0);
    expect(await counterValue(w, 'samplesDropped')).toBe(0);
    expect(await counterValue(w, 'samplesSent')).toBe(appendedSamples);
  });
});
