// The metrics-generator as a user runs it (issue 13, acceptance 1): `bin/stave` takes a known set of
// client/server spans over OTLP HTTP, the distributor forwards them (in process in `-target=all`, over
// Connect between a separate distributor and metrics-generator on loopback), the generator remote-writes its
// series to Debian's real Prometheus, and PromQL returns exactly the values computed by hand below.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tracesData, type TestResource, type TestSpan } from '@stave/generator/testing';
import { configYaml, GENERATOR_PROCESSORS, generatorYaml, OTLP_HTTP_RECEIVER } from './support/config';
import { poll } from './support/poll';
import { startPrometheus, type PrometheusProcess } from './support/prometheus';
import { metricSum } from './support/stave-http';
import { gossipPort, startStave, type StaveProcess } from './support/stave-process';

jest.setTimeout(120_000);

let prom: PrometheusProcess;
beforeAll(async () => {
  prom = await startPrometheus();
});
afterAll(async () => {
  await prom?.cleanup();
});

const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

/**
 * Three checkouts: frontend serves GET /checkout (root, 300 ms) and calls payments (client side 120 ms);
 * payments serves POST /pay (100 ms), failing (ERROR) in the third trace.
 */
function checkouts(nowMs: number): TestResource[] {
  const frontend: TestSpan[] = [];
  const payments: TestSpan[] = [];
  for (let i = 1; i <= 3; i++) {
    const traceId = `${String(i).padStart(2, '0')}${'ab'.repeat(15)}`;
    const start = nowMs - 2000;
    frontend.push(
      { traceId, spanId: `${String(i).padStart(2, '0')}00000000000001`, name: 'GET /checkout', kind: SERVER, startUnixMs: start, durationMs: 300 },
      {
        traceId,
        spanId: `${String(i).padStart(2, '0')}00000000000002`,
        parentSpanId: `${String(i).padStart(2, '0')}00000000000001`,
        name: 'POST /pay',
        kind: CLIENT,
        startUnixMs: start + 10,
        durationMs: 120,
      },
    );
    payments.push({
      traceId,
      spanId: `${String(i).padStart(2, '0')}00000000000003`,
      parentSpanId: `${String(i).padStart(2, '0')}00000000000002`,
      name: 'POST /pay',
      kind: SERVER,
      startUnixMs: start + 15,
      durationMs: 100,
      ...(i === 3 ? { status: ERROR } : {}),
    });
  }
  return [
    { service: 'frontend', spans: frontend },
    { service: 'payments', spans: payments },
  ];
}
const SPANS = 9;

/** Remote writing to the test's Prometheus with `deployment` as an external label: each Stave here writes its own series. */
function generatorConfig(deployment: string, remoteWrite = true): string[] {
  return generatorYaml({ wait: '2s', deployment, ...(remoteWrite ? { remoteWriteUrl: prom.remoteWriteUrl, sendExemplars: true } : {}) });
}
const PROCESSORS = GENERATOR_PROCESSORS;

async function push(p: StaveProcess, resources: TestResource[], tenant?: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${await p.receiverPort(/otlp.*http/)}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', ...(tenant ? { 'x-scope-orgid': tenant } : {}) },
    body: tracesData(resources),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

/** Sum of a metric's samples on a process's /metrics whose labels contain every `match`. */
async function metric(p: StaveProcess, name: string, ...match: string[]): Promise<number> {
  return metricSum(await p.url('/metrics'), name, ...match);
}

async function untilMetric(p: StaveProcess, name: string, want: number, ...match: string[]): Promise<void> {
  await poll(`${name}${match.length ? `{${match.join(',')}}` : ''} to reach ${want}`, async () => (await metric(p, name, ...match)) === want, {
    timeoutMs: 20_000,
    intervalMs: 200,
  });
}

/**
 * The values PromQL must return for the checkouts of one deployment, computed by hand: the span durations
 * are 300 ms (frontend server), 120 ms (frontend client), 100 ms (payments server), against the default
 * buckets (span metrics 0.002 doubling to 16.384; service graphs 0.1 doubling to 12.8).
 */
async function expectCheckoutSeries(deployment: string, traceIDs: readonly string[]): Promise<void> {
  const d = `deployment="${deployment}"`;
  const calls = (svc: string, name: string, kind: string, status: string) =>
    `traces_spanmetrics_calls_total{${d},service="${svc}",span_name="${name}",span_kind="SPAN_KIND_${kind}",status_code="STATUS_CODE_${status}"}`;
  const latency = (svc: string, name: string, kind: string, le: string) =>
    `traces_spanmetrics_latency_bucket{${d},service="${svc}",span_name="${name}",span_kind="SPAN_KIND_${kind}",status_code="STATUS_CODE_UNSET",le="${le}"}`;
  const edge = (metric: string, client: string, server: string, type: string, le?: string) =>
    `traces_service_graph_${metric}{${d},client="${client}",server="${server}",connection_type="${type}"${le ? `,le="${le}"` : ''}}`;
  const want: Array<[string, number]> = [
    [calls('frontend', 'GET /checkout', 'SERVER', 'UNSET'), 3],
    [calls('frontend', 'POST /pay', 'CLIENT', 'UNSET'), 3],
    [calls('payments', 'POST /pay', 'SERVER', 'UNSET'), 2],
    [calls('payments', 'POST /pay', 'SERVER', 'ERROR'), 1],
    [latency('frontend', 'GET /checkout', 'SERVER', '0.256'), 0],
    [latency('frontend', 'GET /checkout', 'SERVER', '0.512'), 3],
    [latency('frontend', 'POST /pay', 'CLIENT', '0.064'), 0],
    [latency('frontend', 'POST /pay', 'CLIENT', '0.128'), 3],
    [latency('frontend', 'POST /pay', 'CLIENT', '+Inf'), 3],
    [latency('payments', 'POST /pay', 'SERVER', '0.064'), 0],
    [latency('payments', 'POST /pay', 'SERVER', '0.128'), 2],
    [`traces_spanmetrics_latency_count{${d},service="frontend",span_name="GET /checkout"}`, 3],
    [edge('request_total', 'frontend', 'payments', ''), 3],
    [edge('request_failed_total', 'frontend', 'payments', ''), 1],
    [edge('request_server_seconds_bucket', 'frontend', 'payments', '', '0.1'), 3],
    [edge('request_client_seconds_bucket', 'frontend', 'payments', '', '0.1'), 0],
    [edge('request_client_seconds_bucket', 'frontend', 'payments', '', '0.2'), 3],
    [edge('request_server_seconds_count', 'frontend', 'payments', ''), 3],
    // After wait, the root spans are requests from a user, and counted as unpaired.
    [edge('request_total', 'user', 'frontend', 'virtual_node'), 3],
    [edge('request_server_seconds_bucket', 'user', 'frontend', 'virtual_node', '0.2'), 0],
    [edge('request_server_seconds_bucket', 'user', 'frontend', 'virtual_node', '0.4'), 3],
    [edge('unpaired_spans_total', '', 'frontend', ''), 3],
  ];
  const got = async () => Promise.all(want.map(async ([q]) => [q, await prom.queryOne(q)] as const));
  await poll(
    `Prometheus to hold the ${deployment} checkout series`,
    async () => {
      const g = await got();
      return g.every(([q, v], i) => v === want[i]![1] && q);
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  ).catch(async (err: unknown) => {
    // Show every value next to its expectation.
    expect(Object.fromEntries(await got())).toEqual(Object.fromEntries(want));
    throw err;
  });
  expect(await prom.queryOne(`traces_spanmetrics_latency_sum{${d},service="frontend",span_name="GET /checkout"}`)).toBeCloseTo(0.9, 9);
  expect(await prom.queryOne(`traces_spanmetrics_size_total{${d},service="frontend",span_name="GET /checkout"}`)).toBeGreaterThan(0);
  // Exemplars carry the trace IDs (hex without leading zeros, as Tempo prints them).
  const exemplars = await prom.exemplars(`traces_spanmetrics_latency_bucket{${d}}`, Date.now() - 300_000, Date.now() + 60_000);
  expect(exemplars.length).toBeGreaterThan(0);
  for (const e of exemplars) expect(traceIDs).toContain(e.labels.traceID);
}

/** The trace IDs of the checkouts as exemplars show them. */
const CHECKOUT_TRACE_IDS = [1, 2, 3].map((i) => `${i}${'ab'.repeat(15)}`);

describe('metrics-generator in -target=all', () => {
  let p: StaveProcess;
  beforeAll(async () => {
    p = startStave({ configYaml: configYaml(OTLP_HTTP_RECEIVER, generatorConfig('all'), PROCESSORS) });
    await p.ready();
  });
  afterAll(async () => {
    await p.stop();
    p.cleanup();
  });

  it('takes the spans, forwards them in process, and builds the expected series', async () => {
    await push(p, checkouts(Date.now()));
    await untilMetric(p, 'tempo_metrics_generator_spans_received_total', SPANS, 'tenant="single-tenant"');
    // Span-metrics: 4 label sets (frontend server, frontend client, payments OK, payments ERROR), each a
    // calls and a size counter and a latency histogram of 14 buckets + +Inf + sum + count: 4 × 19.
    // Service-graphs: frontend→payments (request and failed counters, two histograms of 8 buckets + +Inf +
    // sum + count) 2 + 2 × 11; after wait, user→frontend (no failure) 1 + 2 × 11; the roots' unpaired
    // counter 1.
    await untilMetric(p, 'tempo_metrics_generator_registry_active_series', 4 * 19 + (2 + 2 * 11) + (1 + 2 * 11) + 1, 'tenant="single-tenant"');
    expect(await metric(p, 'tempo_metrics_generator_registry_series_limited_total')).toBe(0);
    // Edges expire on the processor's own sweep after `wait`: poll for all three.
    await untilMetric(p, 'tempo_metrics_generator_processor_service_graphs_expired_edges', 3, 'tenant="single-tenant"');
    expect(await metric(p, 'tempo_distributor_metrics_generator_pushes_failures_total')).toBe(0);
    await expectCheckoutSeries('all', CHECKOUT_TRACE_IDS);
    // Remote write runs on the generator's thread: its metrics, a histogram's among them, are read from there.
    expect(await metric(p, 'prometheus_remote_storage_samples_total')).toBeGreaterThan(0);
    expect(await metric(p, 'prometheus_remote_storage_sent_batch_duration_seconds_count')).toBeGreaterThan(0);
    expect(await metric(p, 'prometheus_remote_storage_sent_batch_duration_seconds_bucket', 'le="+Inf"')).toBeGreaterThan(0);
  });
});

describe('metrics-generator as its own process', () => {
  const procs: StaveProcess[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((x) => x.stop()));
    for (const x of procs) x.cleanup();
  });

  it('gets the spans from a separate distributor over Connect, chosen through the generator ring', async () => {
    const config = configYaml(OTLP_HTTP_RECEIVER, generatorConfig('fleet'), PROCESSORS);
    const start = (target: string, ...args: string[]) => {
      const x = startStave({ configYaml: config, args: [`-target=${target}`, ...args] });
      procs.push(x);
      return x;
    };
    const ingester = start('ingester', '-ingester.lifecycler.id=ingester-0');
    const seed = await gossipPort(ingester);
    const join = `-memberlist.join-members=127.0.0.1:${seed}`;
    const generator = start('metrics-generator', '-metrics-generator.ring.instance-id=generator-0', join);
    const distributor = start('distributor', '-ingester.lifecycler.id=distributor-0', join);
    for (const x of [ingester, generator, distributor]) await x.ready();
    await poll(
      'the distributor to see the generator ACTIVE',
      async () => {
        const r = (await (await fetch(await distributor.url('/metrics-generator/ring'), { headers: { accept: 'application/json' } })).json()) as {
          shards: Array<{ id: string; state: string }>;
        };
        return r.shards.some((s) => s.id === 'generator-0' && s.state === 'ACTIVE');
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await push(distributor, checkouts(Date.now()));
    await untilMetric(generator, 'tempo_metrics_generator_spans_received_total', SPANS, 'tenant="single-tenant"');
    expect(await metric(distributor, 'tempo_distributor_metrics_generator_pushes_failures_total')).toBe(0);
    expect(await metric(distributor, 'tempo_distributor_metrics_generator_pushes_total')).toBeGreaterThanOrEqual(1);
    await untilMetric(generator, 'tempo_metrics_generator_processor_service_graphs_expired_edges', 3, 'tenant="single-tenant"');
    await expectCheckoutSeries('fleet', CHECKOUT_TRACE_IDS);
  });
});

describe('max_active_series per tenant', () => {
  let p: StaveProcess;
  afterAll(async () => {
    await p?.stop();
    p?.cleanup();
  });

  // Not remote-written: Prometheus keeps no tenants apart (Tempo sends X-Scope-OrgID for Mimir or Cortex to),
  // and both tenants here make the same series.
  it('caps the series of a tenant whose override sets it, counts the refusals, and leaves other tenants alone', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-mgen-overrides-'));
    const overrides = path.join(dir, 'overrides.yaml');
    writeFileSync(overrides, 'overrides:\n  capped:\n    metrics_generator_max_active_series: 20\n');
    p = startStave({
      configYaml: configYaml(['multitenancy_enabled: true'], OTLP_HTTP_RECEIVER, generatorConfig('tenants', false), PROCESSORS, [
        `  per_tenant_override_config: ${overrides}`,
      ]),
    });
    await p.ready();
    await push(p, checkouts(Date.now()), 'capped');
    await push(p, checkouts(Date.now()), 'free');
    for (const tenant of ['capped', 'free']) await untilMetric(p, 'tempo_metrics_generator_spans_received_total', SPANS, `tenant="${tenant}"`);
    // The first span (frontend's GET /checkout) creates calls, size and a latency histogram of 17 series:
    // 19; the next one's calls series makes 20; every series after that is refused.
    await untilMetric(p, 'tempo_metrics_generator_registry_active_series', 20, 'tenant="capped"');
    expect(await metric(p, 'tempo_metrics_generator_registry_series_limited_total', 'tenant="capped"')).toBeGreaterThan(0);
    expect(await metric(p, 'tempo_metrics_generator_registry_series_limited_total', 'tenant="free"')).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });
});
