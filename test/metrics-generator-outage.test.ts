// Issue 13, acceptance 2, end to end: spans go into a running `bin/stave -target=all` over OTLP HTTP while
// Debian's Prometheus, the metrics-generator's remote write target, is stopped for 30 s and restarted. The
// counters in Prometheus must then equal exactly what was sent: every span counted once in
// traces_spanmetrics_calls_total, every client/server pair once in traces_service_graph_request_total.
// What the generator collected during the outage waited in its on-disk queue and went out after the restart.

import { tracesData, type TestResource } from '@stave/generator/testing';
import { configYaml, GENERATOR_PROCESSORS, generatorYaml, OTLP_HTTP_RECEIVER } from './support/config';
import { poll } from './support/poll';
import { startPrometheus, type PrometheusProcess } from './support/prometheus';
import { metricSum } from './support/stave-http';
import { startStave, type StaveProcess } from './support/stave-process';

jest.setTimeout(240_000);

const OUTAGE_MS = 30_000;
const TRACES_PER_PUSH = 10;
const SPANS_PER_TRACE = 3;
/** Every FAILING_EVERY-th trace's payments span has status ERROR. */
const FAILING_EVERY = 7;
const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

let prom: PrometheusProcess;
let stave: StaveProcess;

beforeAll(async () => {
  prom = await startPrometheus();
  stave = startStave({
    configYaml: configYaml(
      OTLP_HTTP_RECEIVER,
      generatorYaml({ wait: '2s', deployment: 'outage', remoteWriteUrl: prom.remoteWriteUrl, remoteTimeout: '2s' }),
      GENERATOR_PROCESSORS,
    ),
  });
  await stave.ready();
});

afterAll(async () => {
  await stave?.stop();
  stave?.cleanup();
  await prom?.cleanup();
});

/** Trace n: frontend serves GET /checkout (root) and calls payments (client + server span). */
function checkout(n: number, nowMs: number): TestResource[] {
  const id = n.toString(16).padStart(8, '0');
  const traceId = `${id}${'cd'.repeat(12)}`;
  const span = (k: number) => `${id}0000000${k}`;
  const start = nowMs - 500;
  return [
    {
      service: 'frontend',
      spans: [
        { traceId, spanId: span(1), name: 'GET /checkout', kind: SERVER, startUnixMs: start, durationMs: 300 },
        { traceId, spanId: span(2), parentSpanId: span(1), name: 'POST /pay', kind: CLIENT, startUnixMs: start + 10, durationMs: 120 },
      ],
    },
    {
      service: 'payments',
      spans: [
        {
          traceId,
          spanId: span(3),
          parentSpanId: span(2),
          name: 'POST /pay',
          kind: SERVER,
          startUnixMs: start + 15,
          durationMs: 100,
          ...(n % FAILING_EVERY === 0 ? { status: ERROR } : {}),
        },
      ],
    },
  ];
}

describe('metrics-generator with Prometheus down for 30 s under load', () => {
  it('Prometheus ends up with counter totals equal to the spans sent', async () => {
    const otlp = `http://127.0.0.1:${await stave.receiverPort(/otlp.*http/)}/v1/traces`;
    const metrics = await stave.url('/metrics');
    const received = () => metricSum(metrics, 'tempo_metrics_generator_spans_received_total');
    let traces = 0;

    /**
     * One push of TRACES_PER_PUSH traces, then a wait until the generator has every span so far: the load
     * is paced by the generator's own progress, never by a sleep.
     */
    const pushOnce = async (): Promise<void> => {
      const resources: TestResource[] = [];
      const now = Date.now();
      for (let i = 0; i < TRACES_PER_PUSH; i++) resources.push(...checkout(++traces, now));
      const res = await fetch(otlp, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: tracesData(resources) });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      const want = traces * SPANS_PER_TRACE;
      await poll(`the generator to receive ${want} spans`, async () => (await received()) === want, { timeoutMs: 10_000, intervalMs: 50 });
    };
    const q = (metric: string, labels = '') => `sum(${metric}{deployment="outage"${labels}})`;

    // Before the outage: load until Prometheus shows it.
    await poll(
      'the first counts in Prometheus',
      async () => {
        await pushOnce();
        return ((await prom.queryOne(q('traces_spanmetrics_calls_total'))) ?? 0) > 0;
      },
      { timeoutMs: 30_000, intervalMs: 1 },
    );

    // The outage: Prometheus is down for 30 s while the load goes on.
    await prom.stop();
    const stoppedAt = Date.now();
    const tracesBefore = traces;
    for (let i = 0; i < 10_000 && Date.now() - stoppedAt < OUTAGE_MS; i++) await pushOnce();
    const outageTraces = traces - tracesBefore;
    expect(outageTraces).toBeGreaterThanOrEqual(10 * TRACES_PER_PUSH);
    // Remote write kept failing and retrying meanwhile, nothing dropped.
    expect(await metricSum(metrics, 'prometheus_remote_storage_samples_retried_total')).toBeGreaterThan(0);

    // Restart, and load until Prometheus has samples newer than the restart.
    await prom.restart();
    const restartedAt = Date.now();
    await poll(
      'samples collected after the restart',
      async () => {
        await pushOnce();
        return ((await prom.queryOne(`max(timestamp(${q('traces_spanmetrics_calls_total')}))`)) ?? 0) * 1000 > restartedAt;
      },
      { timeoutMs: 60_000, intervalMs: 1 },
    );

    // The load is over: every counter reaches exactly what was sent once the last collections are written
    // (the root spans become user → frontend requests once `wait` expires them).
    const failing = Math.floor(traces / FAILING_EVERY);
    const want: Array<[string, number]> = [
      [q('traces_spanmetrics_calls_total'), traces * SPANS_PER_TRACE],
      [q('traces_spanmetrics_calls_total', ',service="payments",status_code="STATUS_CODE_ERROR"'), failing],
      [q('traces_spanmetrics_latency_count'), traces * SPANS_PER_TRACE],
      [q('traces_service_graph_request_total', ',client="frontend",server="payments"'), traces],
      [q('traces_service_graph_request_failed_total', ',client="frontend",server="payments"'), failing],
      [q('traces_service_graph_request_server_seconds_count', ',client="frontend",server="payments"'), traces],
      [q('traces_service_graph_request_total', ',client="user",server="frontend"'), traces],
    ];
    const got = async () => Object.fromEntries(await Promise.all(want.map(async ([query]) => [query, await prom.queryOne(query)] as const)));
    await poll(
      'Prometheus to hold the totals of every span sent',
      async () => {
        const g = await got();
        return want.every(([query, v]) => g[query] === v);
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch(async (err: unknown) => {
      expect(await got()).toEqual(Object.fromEntries(want));
      throw err;
    });
    expect(await metricSum(metrics, 'tempo_distributor_metrics_generator_pushes_failures_total')).toBe(0);
    expect(await metricSum(metrics, 'tempo_metrics_generator_spans_discarded_total')).toBe(0);
    expect(await metricSum(metrics, 'prometheus_remote_storage_samples_dropped_total')).toBe(0);
    expect(await metricSum(metrics, 'prometheus_remote_storage_samples_failed_total')).toBe(0);
    // Nothing waits in the queue, and the samples Prometheus counted are the samples Stave sent.
    await poll('the remote write queue to drain', async () => (await metricSum(metrics, 'prometheus_remote_storage_samples_pending')) === 0, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
  });
});
