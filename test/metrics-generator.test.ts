// The metrics-generator as a user runs it: `bin/stave` takes a known set of client/server spans over OTLP
// HTTP, the distributor forwards them (in process in `-target=all`, over Connect between a separate
// distributor and metrics-generator on loopback), and the generator's series come out with exactly the
// values computed by hand below.

import { tracesData, type TestResource, type TestSpan } from '@stave/generator/testing';
import { configYaml, OTLP_HTTP_RECEIVER } from './support/config';
import { poll } from './support/poll';
import { startStave, type StaveProcess } from './support/stave-process';

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

/** Generator settings that make a test quick: collect every second, pair within 2 s. */
const GENERATOR = ['metrics_generator:', '  registry:', '    collection_interval: 1s', '  processor:', '    service_graphs:', '      wait: 2s'];
const PROCESSORS = ['overrides:', '  defaults:', '    metrics_generator:', '      processors: [span-metrics, service-graphs]'];

async function push(p: StaveProcess, resources: TestResource[]): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${await p.receiverPort(/otlp.*http/)}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf' },
    body: tracesData(resources),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

async function ready(p: StaveProcess): Promise<void> {
  const url = await p.url('/ready');
  await poll('/ready to answer 200', async () => (await fetch(url)).status === 200, { timeoutMs: 30_000, intervalMs: 200 });
}

/** Sum of a metric's samples on a process's /metrics whose labels contain every `match`. */
async function metric(p: StaveProcess, name: string, ...match: string[]): Promise<number> {
  const text = await (await fetch(await p.url('/metrics'))).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.split(/[{ ]/)[0] === name && match.every((m) => line.includes(m))) sum += Number(line.split(' ').pop());
  return sum;
}

async function untilMetric(p: StaveProcess, name: string, want: number, ...match: string[]): Promise<void> {
  await poll(`${name}${match.length ? `{${match.join(',')}}` : ''} to reach ${want}`, async () => (await metric(p, name, ...match)) === want, {
    timeoutMs: 20_000,
    intervalMs: 200,
  });
}

describe('metrics-generator in -target=all', () => {
  let p: StaveProcess;
  beforeAll(async () => {
    p = startStave({ configYaml: configYaml(OTLP_HTTP_RECEIVER, GENERATOR, PROCESSORS) });
    await ready(p);
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
    expect(await metric(p, 'tempo_metrics_generator_processor_service_graphs_expired_edges', 'tenant="single-tenant"')).toBe(3);
    expect(await metric(p, 'tempo_distributor_metrics_generator_pushes_failures_total')).toBe(0);
  });
});

describe('metrics-generator as its own process', () => {
  const procs: StaveProcess[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((x) => x.stop()));
    for (const x of procs) x.cleanup();
  });

  it('gets the spans from a separate distributor over Connect, chosen through the generator ring', async () => {
    const config = configYaml(OTLP_HTTP_RECEIVER, GENERATOR, PROCESSORS);
    const start = (target: string, ...args: string[]) => {
      const x = startStave({ configYaml: config, args: [`-target=${target}`, ...args] });
      procs.push(x);
      return x;
    };
    const ingester = start('ingester', '-ingester.lifecycler.id=ingester-0');
    const seed = await poll('memberlist to listen', () => {
      const l = ingester.logs.find((x) => x.msg === 'memberlist listening');
      return l ? Number(String(l.advertise).split(':').pop()) : undefined;
    });
    const join = `-memberlist.join-members=127.0.0.1:${seed}`;
    const generator = start('metrics-generator', '-metrics-generator.ring.instance-id=generator-0', join);
    const distributor = start('distributor', '-ingester.lifecycler.id=distributor-0', join);
    for (const x of [ingester, generator, distributor]) await ready(x);
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
  });
});
