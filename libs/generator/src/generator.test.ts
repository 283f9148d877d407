// The processors end to end through a tenant's instance: a known set of spans in, hand-computed series out.

import { nopLogger, Code, ConnectError } from '@stave/core';
import { create } from '@bufbuild/protobuf';
import { PushSpansRequestSchema, ServiceGraphRequestSchema } from '@stave/proto';
import { Registry as PromRegistry } from 'prom-client';
import { Generator } from './generator';
import type { TenantOverrides } from './instance';
import { DEFAULT_SERVICE_GRAPHS_BUCKETS } from './processors/service-graphs';
import { DEFAULT_SPAN_METRICS_BUCKETS } from './processors/span-metrics';
import { encodedSpanSize, MemoryAppender, testGeneratorConfig, tracesData, type TestResource, type TestSpan } from './testing';

const T0 = 1_700_000_000_000;
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;
const OK = 1;
const ERROR = 2;

const config = testGeneratorConfig;

function setup(cfg = config(), overrides: Partial<TenantOverrides> = {}) {
  let now = T0;
  const prom = new PromRegistry();
  const appender = new MemoryAppender();
  const g = new Generator({
    config: cfg,
    overrides: () => ({ processors: ['span-metrics', 'service-graphs'], maxActiveSeries: 0, collectionIntervalMs: 0, disableCollection: false, ...overrides }),
    appender,
    registry: prom,
    logger: nopLogger,
    now: () => now,
    timers: false,
  });
  const push = (resources: TestResource[], tenant = 't1') => g.pushSpans(create(PushSpansRequestSchema, { tenant, traces: [tracesData(resources)] }));
  /** Collects the tenant's registry; series keyed as PromQL prints them, without __metrics_gen_instance. */
  const collect = (tenant = 't1') => {
    appender.appended.length = 0;
    appender.append(tenant, g.instance(tenant)!.registry.collect());
    return appender.latest(tenant);
  };
  const expire = (tenant = 't1') => (g.instance(tenant)!.processor('service-graphs') as unknown as { expire(): void }).expire();
  const counter = async (name: string, labels: Record<string, string> = {}) => {
    const m = (await prom.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
    return m?.value ?? 0;
  };
  return { g, push, collect, expire, counter, advance: (ms: number) => (now += ms), start: () => g.start() };
}

/** Only the series of one metric, from a collection. */
function only(series: Map<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries([...series].filter(([k]) => k.startsWith(`${prefix}{`)).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The cumulative bucket values of a histogram series, for the given bounds. */
function buckets(series: Map<string, number>, name: string, labels: string, bounds: readonly number[]): number[] {
  return [...bounds.map(String), '+Inf'].map((le) => {
    const v = series.get(`${name}_bucket{${labels.replace('LE', `le="${le}"`)}}`);
    if (v === undefined) throw new Error(`no ${name}_bucket{${labels.replace('LE', `le="${le}"`)}}`);
    return v;
  });
}

const TRACE_A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const TRACE_B = '0000000000000000bbbbbbbbbbbbbbbb';
const start = T0 - 2000;

// Trace A: frontend serves GET / (root, 250 ms) and calls backend (client side 200 ms); backend serves it
// (150 ms, ERROR) and queries the database shop (5 ms). Trace B: frontend serves GET / (3 ms, OK).
const frontendRoot: TestSpan = { traceId: TRACE_A, spanId: '000000000000000a', name: 'GET /', kind: SERVER, startUnixMs: start, durationMs: 250 };
const frontendCall: TestSpan = {
  traceId: TRACE_A,
  spanId: '000000000000000b',
  parentSpanId: '000000000000000a',
  name: 'GET /api',
  kind: CLIENT,
  startUnixMs: start + 20,
  durationMs: 200,
};
const backendServe: TestSpan = {
  traceId: TRACE_A,
  spanId: '000000000000000c',
  parentSpanId: '000000000000000b',
  name: 'GET /api',
  kind: SERVER,
  startUnixMs: start + 30,
  durationMs: 150,
  status: ERROR,
};
const backendQuery: TestSpan = {
  traceId: TRACE_A,
  spanId: '000000000000000d',
  parentSpanId: '000000000000000c',
  name: 'SELECT',
  kind: CLIENT,
  startUnixMs: start + 40,
  durationMs: 5,
  attributes: { 'db.system': 'postgresql', 'db.name': 'shop' },
};
const frontendRootB: TestSpan = { traceId: TRACE_B, spanId: '00000000000000b1', name: 'GET /', kind: SERVER, startUnixMs: start, durationMs: 3, status: OK };

const SHOP: TestResource[] = [
  { service: 'frontend', spans: [frontendRoot, frontendCall, frontendRootB] },
  { service: 'backend', spans: [backendServe, backendQuery] },
];

describe('span-metrics', () => {
  it('counts calls, latency buckets and sizes per service, span name, kind and status', async () => {
    const { push, collect, start: begin } = setup();
    await begin();
    push(SHOP);
    const s = collect();
    const k = (svc: string, name: string, kind: string, status: string) => `service="${svc}",span_kind="${kind}",span_name="${name}",status_code="${status}"`;
    expect(only(s, 'traces_spanmetrics_calls_total')).toEqual({
      [`traces_spanmetrics_calls_total{${k('backend', 'GET /api', 'SPAN_KIND_SERVER', 'STATUS_CODE_ERROR')}}`]: 1,
      [`traces_spanmetrics_calls_total{${k('backend', 'SELECT', 'SPAN_KIND_CLIENT', 'STATUS_CODE_UNSET')}}`]: 1,
      [`traces_spanmetrics_calls_total{${k('frontend', 'GET /', 'SPAN_KIND_SERVER', 'STATUS_CODE_OK')}}`]: 1,
      [`traces_spanmetrics_calls_total{${k('frontend', 'GET /', 'SPAN_KIND_SERVER', 'STATUS_CODE_UNSET')}}`]: 1,
      [`traces_spanmetrics_calls_total{${k('frontend', 'GET /api', 'SPAN_KIND_CLIENT', 'STATUS_CODE_UNSET')}}`]: 1,
    });
    const lat = (svc: string, name: string, kind: string, status: string) =>
      buckets(s, 'traces_spanmetrics_latency', `LE,${k(svc, name, kind, status)}`, DEFAULT_SPAN_METRICS_BUCKETS);
    // Bounds: 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 4.096 8.192 16.384 +Inf
    expect(lat('frontend', 'GET /', 'SPAN_KIND_SERVER', 'STATUS_CODE_UNSET')).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]); // 0.25 s
    expect(lat('frontend', 'GET /', 'SPAN_KIND_SERVER', 'STATUS_CODE_OK')).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]); // 0.003 s
    expect(lat('frontend', 'GET /api', 'SPAN_KIND_CLIENT', 'STATUS_CODE_UNSET')).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]); // 0.2 s
    expect(lat('backend', 'GET /api', 'SPAN_KIND_SERVER', 'STATUS_CODE_ERROR')).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]); // 0.15 s
    expect(lat('backend', 'SELECT', 'SPAN_KIND_CLIENT', 'STATUS_CODE_UNSET')).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]); // 0.005 s
    expect(s.get(`traces_spanmetrics_latency_sum{${k('frontend', 'GET /', 'SPAN_KIND_SERVER', 'STATUS_CODE_UNSET')}}`)).toBeCloseTo(0.25, 9);
    expect(s.get(`traces_spanmetrics_latency_count{${k('backend', 'SELECT', 'SPAN_KIND_CLIENT', 'STATUS_CODE_UNSET')}}`)).toBe(1);
    expect(s.get(`traces_spanmetrics_size_total{${k('backend', 'SELECT', 'SPAN_KIND_CLIENT', 'STATUS_CODE_UNSET')}}`)).toBe(encodedSpanSize(backendQuery));
    expect(s.get(`traces_spanmetrics_size_total{${k('frontend', 'GET /', 'SPAN_KIND_SERVER', 'STATUS_CODE_OK')}}`)).toBe(encodedSpanSize(frontendRootB));
  });

  it('adds configured dimensions from resource then span attributes, sanitised, with __ before intrinsic names', async () => {
    const cfg = config({ spanMetrics: { dimensions: ['http.method', 'status_code', 'region'] } });
    const { push, collect, start: begin } = setup(cfg);
    await begin();
    const span: TestSpan = { ...frontendRootB, attributes: { 'http.method': 'GET', status_code: 200, region: 'span-level' } };
    push([{ service: 'frontend', attributes: { region: 'eu' }, spans: [span] }]);
    expect(only(collect(), 'traces_spanmetrics_calls_total')).toEqual({
      'traces_spanmetrics_calls_total{__status_code="200",http_method="GET",region="eu",service="frontend",span_kind="SPAN_KIND_SERVER",span_name="GET /",status_code="STATUS_CODE_OK"}': 1,
    });
  });

  it('drops the intrinsic dimensions switched off and adds status_message when on', async () => {
    const cfg = config({
      spanMetrics: { intrinsicDimensions: { service: true, span_name: false, span_kind: false, status_code: false, status_message: true } },
    });
    const { push, collect, start: begin } = setup(cfg);
    await begin();
    push([
      {
        service: 'frontend',
        spans: [
          { ...frontendRootB, statusMessage: 'fine' },
          { ...frontendRoot, statusMessage: 'fine' },
        ],
      },
    ]);
    expect(only(collect(), 'traces_spanmetrics_calls_total')).toEqual({ 'traces_spanmetrics_calls_total{service="frontend",status_message="fine"}': 2 });
  });

  it('gives an exemplar with the trace ID (hex, no leading zeros) to the bucket an observation falls in', async () => {
    const { g, push, start: begin } = setup();
    await begin();
    push([{ service: 'frontend', spans: [frontendRootB] }]);
    const series = g.instance('t1')!.registry.collect();
    const withExemplar = series.filter((x) => x.exemplars);
    expect(withExemplar.map((x) => [x.labels.find(([n]) => n === 'le')![1], x.exemplars])).toEqual([
      ['0.004', [{ labels: [['traceID', 'bbbbbbbbbbbbbbbb']], value: 0.003, timestampMs: T0 }]],
    ]);
  });
});

describe('service-graphs', () => {
  const edge = (client: string, server: string, type = '') => `client="${client}",connection_type="${type}",server="${server}"`;
  /** The same labels with the place of `le` marked (labels sort by name). */
  const edgeLE = (client: string, server: string, type = '') => `client="${client}",connection_type="${type}",LE,server="${server}"`;

  it('pairs client and server spans into edges; database calls complete at once', async () => {
    const { push, collect, start: begin } = setup();
    await begin();
    push(SHOP);
    const s = collect();
    expect(only(s, 'traces_service_graph_request_total')).toEqual({
      [`traces_service_graph_request_total{${edge('backend', 'shop', 'database')}}`]: 1,
      [`traces_service_graph_request_total{${edge('frontend', 'backend')}}`]: 1,
    });
    // Failed: the backend's server span has status ERROR.
    expect(only(s, 'traces_service_graph_request_failed_total')).toEqual({ [`traces_service_graph_request_failed_total{${edge('frontend', 'backend')}}`]: 1 });
    // Bounds 0.1 0.2 0.4 0.8 1.6 3.2 6.4 12.8 +Inf; server side 0.15 s, client side 0.2 s (on the bound).
    expect(buckets(s, 'traces_service_graph_request_server_seconds', edgeLE('frontend', 'backend'), DEFAULT_SERVICE_GRAPHS_BUCKETS)).toEqual([
      0, 1, 1, 1, 1, 1, 1, 1, 1,
    ]);
    expect(buckets(s, 'traces_service_graph_request_client_seconds', edgeLE('frontend', 'backend'), DEFAULT_SERVICE_GRAPHS_BUCKETS)).toEqual([
      0, 1, 1, 1, 1, 1, 1, 1, 1,
    ]);
    expect(s.get(`traces_service_graph_request_server_seconds_sum{${edge('frontend', 'backend')}}`)).toBeCloseTo(0.15, 9);
    expect(s.get(`traces_service_graph_request_client_seconds_sum{${edge('frontend', 'backend')}}`)).toBeCloseTo(0.2, 9);
    // The database edge: both latencies are the client span's 5 ms.
    expect(s.get(`traces_service_graph_request_server_seconds_sum{${edge('backend', 'shop', 'database')}}`)).toBeCloseTo(0.005, 9);
    expect(s.get(`traces_service_graph_request_client_seconds_count{${edge('backend', 'shop', 'database')}}`)).toBe(1);
    // The two root server spans wait for a client.
    expect(only(s, 'traces_service_graph_unpaired_spans_total')).toEqual({});
  });

  it('pairs in either order, across pushes', async () => {
    const { push, collect, start: begin } = setup();
    await begin();
    push([{ service: 'backend', spans: [backendServe] }]);
    expect(only(collect(), 'traces_service_graph_request_total')).toEqual({});
    push([{ service: 'frontend', spans: [frontendCall] }]);
    expect(only(collect(), 'traces_service_graph_request_total')).toEqual({ [`traces_service_graph_request_total{${edge('frontend', 'backend')}}`]: 1 });
  });

  it('after wait, counts unpaired spans, and root server spans as requests from user (virtual node)', async () => {
    const { push, collect, expire, advance, counter, start: begin } = setup();
    await begin();
    push(SHOP);
    advance(9_999);
    expire();
    expect(only(collect(), 'traces_service_graph_unpaired_spans_total')).toEqual({});
    advance(1);
    expire();
    const s = collect();
    expect(only(s, 'traces_service_graph_unpaired_spans_total')).toEqual({ [`traces_service_graph_unpaired_spans_total{${edge('', 'frontend')}}`]: 2 });
    expect(only(s, 'traces_service_graph_request_total')).toEqual({
      [`traces_service_graph_request_total{${edge('backend', 'shop', 'database')}}`]: 1,
      [`traces_service_graph_request_total{${edge('frontend', 'backend')}}`]: 1,
      [`traces_service_graph_request_total{${edge('user', 'frontend', 'virtual_node')}}`]: 2,
    });
    // Server side 0.25 s and 0.003 s; the client side is unknown: 0.
    expect(buckets(s, 'traces_service_graph_request_server_seconds', edgeLE('user', 'frontend', 'virtual_node'), DEFAULT_SERVICE_GRAPHS_BUCKETS)).toEqual([
      1, 1, 2, 2, 2, 2, 2, 2, 2,
    ]);
    expect(buckets(s, 'traces_service_graph_request_client_seconds', edgeLE('user', 'frontend', 'virtual_node'), DEFAULT_SERVICE_GRAPHS_BUCKETS)).toEqual([
      2, 2, 2, 2, 2, 2, 2, 2, 2,
    ]);
    expect(await counter('tempo_metrics_generator_processor_service_graphs_expired_edges', { tenant: 't1' })).toBe(2);
  });

  it('names the server of an unanswered client span by its peer attribute after wait; without one it stays unpaired', async () => {
    const { push, collect, expire, advance, start: begin } = setup();
    await begin();
    const toPayments: TestSpan = { ...frontendCall, spanId: '00000000000000c1', attributes: { 'peer.service': 'payments' } };
    const toNowhere: TestSpan = { ...frontendCall, spanId: '00000000000000c2' };
    push([{ service: 'frontend', spans: [toPayments, toNowhere] }]);
    advance(10_000);
    expire();
    const s = collect();
    expect(only(s, 'traces_service_graph_request_total')).toEqual({
      [`traces_service_graph_request_total{${edge('frontend', 'payments', 'virtual_node')}}`]: 1,
    });
    expect(only(s, 'traces_service_graph_unpaired_spans_total')).toEqual({ [`traces_service_graph_unpaired_spans_total{${edge('frontend', '')}}`]: 2 });
  });

  it('drops spans that would store more than max_items waiting edges, and counts them', async () => {
    const { push, collect, counter, start: begin } = setup(config({ serviceGraphs: { maxItems: 1 } }));
    await begin();
    push([{ service: 'frontend', spans: [frontendRoot, frontendRootB, frontendCall] }]);
    const s = collect();
    expect(only(s, 'traces_service_graph_dropped_spans_total')).toEqual({
      [`traces_service_graph_dropped_spans_total{${edge('', 'frontend')}}`]: 1,
      [`traces_service_graph_dropped_spans_total{${edge('frontend', '')}}`]: 1,
    });
    expect(await counter('tempo_metrics_generator_processor_service_graphs_dropped_spans', { tenant: 't1' })).toBe(2);
    // A span that completes a waiting edge is never dropped.
    push([{ service: 'backend', spans: [{ ...backendServe, parentSpanId: undefined, spanId: '00000000000000d1', traceId: TRACE_A }] }]);
    expect(await counter('tempo_metrics_generator_processor_service_graphs_dropped_spans', { tenant: 't1' })).toBe(2);
  });

  it('pairs producer and consumer spans as messaging_system edges', async () => {
    const { push, collect, start: begin } = setup(config({ serviceGraphs: { enableMessagingSystemLatencyHistogram: true } }));
    await begin();
    const produce: TestSpan = { traceId: TRACE_A, spanId: '00000000000000e1', name: 'publish', kind: PRODUCER, startUnixMs: start, durationMs: 2 };
    const consume: TestSpan = {
      traceId: TRACE_A,
      spanId: '00000000000000e2',
      parentSpanId: '00000000000000e1',
      name: 'process',
      kind: CONSUMER,
      startUnixMs: start + 502,
      durationMs: 40,
    };
    push([
      { service: 'orders', spans: [produce] },
      { service: 'billing', spans: [consume] },
    ]);
    const s = collect();
    expect(only(s, 'traces_service_graph_request_total')).toEqual({
      [`traces_service_graph_request_total{${edge('orders', 'billing', 'messaging_system')}}`]: 1,
    });
    // From the producer's end to the consumer's start: 0.5 s.
    expect(s.get(`traces_service_graph_request_messaging_system_seconds_sum{${edge('orders', 'billing', 'messaging_system')}}`)).toBeCloseTo(0.5, 9);
  });

  it.each([
    ['peer.service first', { 'db.name': 'shop', 'peer.service': 'pg-main', 'server.address': 'db1', 'network.peer.address': '10.0.0.1' }, 'pg-main'],
    ['then server.address', { 'db.name': 'shop', 'server.address': 'db1', 'network.peer.address': '10.0.0.1' }, 'db1'],
    ['then network.peer.address:port', { 'db.system': 'redis', 'network.peer.address': '10.0.0.1', 'network.peer.port': 6379 }, '10.0.0.1:6379'],
    ['then network.peer.address', { 'db.system': 'redis', 'network.peer.address': '10.0.0.1' }, '10.0.0.1'],
    ['then db.name', { 'db.name': 'shop', 'db.system': 'postgresql' }, 'shop'],
  ])('names the database of a database edge: %s', async (_name, attributes, server) => {
    const { push, collect, start: begin } = setup();
    await begin();
    push([{ service: 'backend', spans: [{ ...backendQuery, attributes }] }]);
    expect(only(collect(), 'traces_service_graph_request_total')).toEqual({
      [`traces_service_graph_request_total{${edge('backend', server, 'database')}}`]: 1,
    });
  });

  it('labels dimensions per side with enable_client_server_prefix, and virtual_node with enable_virtual_node_label', async () => {
    const {
      push,
      collect,
      expire,
      advance,
      start: begin,
    } = setup(config({ serviceGraphs: { dimensions: ['deployment.env'], enableClientServerPrefix: true, enableVirtualNodeLabel: true } }));
    await begin();
    push([
      { service: 'frontend', attributes: { 'deployment.env': 'prod' }, spans: [frontendCall, frontendRoot] },
      { service: 'backend', attributes: { 'deployment.env': 'canary' }, spans: [backendServe] },
    ]);
    advance(10_000);
    expire();
    expect(only(collect(), 'traces_service_graph_request_total')).toEqual({
      'traces_service_graph_request_total{client="frontend",client_deployment_env="prod",connection_type="",server="backend",server_deployment_env="canary",virtual_node=""}': 1,
      'traces_service_graph_request_total{client="user",client_deployment_env="",connection_type="virtual_node",server="frontend",server_deployment_env="prod",virtual_node="client"}': 1,
    });
  });

  it('skips spans of resources without service.name', async () => {
    const { push, collect, start: begin } = setup();
    await begin();
    push([{ spans: [frontendCall] }, { service: 'backend', spans: [backendServe] }]);
    expect(only(collect(), 'traces_service_graph_request_total')).toEqual({});
  });
});

describe('metrics-generator instance', () => {
  it('drops and counts spans that ended outside metrics_ingestion_time_range_slack', async () => {
    const { push, collect, counter, start: begin } = setup();
    await begin();
    const old: TestSpan = { ...frontendRootB, spanId: '00000000000000f1', startUnixMs: T0 - 31_000 };
    const future: TestSpan = { ...frontendRootB, spanId: '00000000000000f2', startUnixMs: T0 + 30_000 };
    push([{ service: 'frontend', spans: [old, future, frontendRootB] }]);
    expect(only(collect(), 'traces_spanmetrics_calls_total')).toEqual({
      'traces_spanmetrics_calls_total{service="frontend",span_kind="SPAN_KIND_SERVER",span_name="GET /",status_code="STATUS_CODE_OK"}': 1,
    });
    expect(await counter('tempo_metrics_generator_spans_discarded_total', { tenant: 't1', reason: 'outside_metrics_ingestion_slack' })).toBe(2);
    expect(await counter('tempo_metrics_generator_spans_received_total', { tenant: 't1' })).toBe(3);
  });

  it('runs only the processors the tenant enables', async () => {
    const { g, push, collect, counter, start: begin } = setup(config(), { processors: ['service-graphs', 'local-blocks'] });
    await begin();
    push(SHOP);
    expect(g.instance('t1')!.activeProcessors).toEqual(['service-graphs']);
    expect(only(collect(), 'traces_spanmetrics_calls_total')).toEqual({});
    expect(await counter('tempo_metrics_generator_active_processors', { tenant: 't1', processor: 'span-metrics' })).toBe(0);
    expect(await counter('tempo_metrics_generator_active_processors', { tenant: 't1', processor: 'service-graphs' })).toBe(1);
  });

  it('keeps tenants apart', async () => {
    const { push, collect, start: begin } = setup();
    await begin();
    push([{ service: 'frontend', spans: [frontendRootB] }], 'a');
    push([{ service: 'backend', spans: [backendQuery] }], 'b');
    expect(Object.keys(only(collect('a'), 'traces_spanmetrics_calls_total'))).toEqual([
      'traces_spanmetrics_calls_total{service="frontend",span_kind="SPAN_KIND_SERVER",span_name="GET /",status_code="STATUS_CODE_OK"}',
    ]);
    expect(Object.keys(only(collect('b'), 'traces_spanmetrics_calls_total'))).toEqual([
      'traces_spanmetrics_calls_total{service="backend",span_kind="SPAN_KIND_CLIENT",span_name="SELECT",status_code="STATUS_CODE_UNSET"}',
    ]);
  });

  it('refuses malformed traces with InvalidArgument and an empty tenant, and keeps serving', async () => {
    const { g, push, start: begin } = setup();
    await begin();
    const bad = () => g.pushSpans(create(PushSpansRequestSchema, { tenant: 't1', traces: [new Uint8Array([0x0a, 0x05, 0x01])] }));
    expect(bad).toThrow(ConnectError);
    try {
      bad();
    } catch (err) {
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    }
    expect(() => g.pushSpans(create(PushSpansRequestSchema, { tenant: '', traces: [] }))).toThrow(/tenant is empty/);
    push([{ service: 'frontend', spans: [frontendRootB] }]);
  });
});

describe('metrics-generator shutdown', () => {
  it('collects each tenant once more on stop, so the last counts reach the appender', async () => {
    const appender = new MemoryAppender();
    const g = new Generator({
      config: config(),
      overrides: () => ({ processors: ['span-metrics'], maxActiveSeries: 0, collectionIntervalMs: 3_600_000, disableCollection: false }),
      appender,
      registry: new PromRegistry(),
      logger: nopLogger,
      instanceLabel: 'gen-test',
    });
    await g.start();
    const now = Date.now();
    g.pushSpans(
      create(PushSpansRequestSchema, { tenant: 't1', traces: [tracesData([{ service: 'frontend', spans: [{ ...frontendRootB, startUnixMs: now - 1000 }] }])] }),
    );
    expect(appender.appended).toEqual([]);
    await g.stop();
    expect(only(appender.latest('t1'), 'traces_spanmetrics_calls_total')).toEqual({
      'traces_spanmetrics_calls_total{service="frontend",span_kind="SPAN_KIND_SERVER",span_name="GET /",status_code="STATUS_CODE_OK"}': 1,
    });
  });
});

describe('service graph for the explorer (Generator.serviceGraph)', () => {
  const graph = (g: Generator, tenant = 't1') => {
    const r = g.serviceGraph(create(ServiceGraphRequestSchema, { tenant }));
    return { enabled: r.enabled, windowSeconds: r.windowSeconds, edges: r.edges.map(({ $typeName: _, ...e }) => e) };
  };

  it('sums the edges over dimensions, with totals, latency sums and rates over the last minute', async () => {
    const { g, push, expire, advance, start: begin } = setup(config({ serviceGraphs: { dimensions: ['http.route'] } }));
    await begin();
    push(SHOP);
    // 20 s later, the same call again, on another route (another series of the same edge).
    advance(20_000);
    expire();
    push([
      { service: 'frontend', spans: [{ ...frontendCall, traceId: TRACE_B, attributes: { 'http.route': '/other' } }] },
      { service: 'backend', spans: [{ ...backendServe, traceId: TRACE_B, status: OK }] },
    ]);
    const r = graph(g);
    expect(r.enabled).toBe(true);
    expect(r.windowSeconds).toBe(20);
    expect(r.edges).toEqual([
      {
        client: 'frontend',
        server: 'backend',
        connectionType: '',
        requests: 2,
        failed: 1,
        requestRate: 2 / 20,
        failedRate: 1 / 20,
        serverSecondsSum: expect.closeTo(0.3, 9) as number,
        clientSecondsSum: expect.closeTo(0.4, 9) as number,
      },
      {
        client: 'backend',
        server: 'shop',
        connectionType: 'database',
        requests: 1,
        failed: 0,
        requestRate: 1 / 20,
        failedRate: 0,
        serverSecondsSum: expect.closeTo(0.005, 9) as number,
        clientSecondsSum: expect.closeTo(0.005, 9) as number,
      },
      // The two roots expired (wait 10 s) into requests from the virtual node `user`.
      {
        client: 'user',
        server: 'frontend',
        connectionType: 'virtual_node',
        requests: 2,
        failed: 0,
        requestRate: 2 / 20,
        failedRate: 0,
        serverSecondsSum: expect.closeTo(0.253, 9) as number,
        clientSecondsSum: 0,
      },
    ]);
  });

  it('measures rates over the last minute only: older requests count in the totals, not the rate', async () => {
    const { g, push, expire, advance, start: begin } = setup();
    await begin();
    push(SHOP);
    // Snapshots every 2 s for 90 s with no new requests: the rate window moves past the first push.
    for (let t = 0; t < 90_000; t += 2000) {
      advance(2000);
      expire();
    }
    const r = graph(g);
    expect(r.windowSeconds).toBe(60);
    const e = r.edges.find((x) => x.client === 'frontend' && x.server === 'backend')!;
    expect([e.requests, e.requestRate, e.failed, e.failedRate]).toEqual([1, 0, 1, 0]);
    // One more call: 1 request over the last 60 s.
    push([
      { service: 'frontend', spans: [{ ...frontendCall, traceId: TRACE_B, startUnixMs: T0 + 88_000 }] },
      { service: 'backend', spans: [{ ...backendServe, traceId: TRACE_B, startUnixMs: T0 + 88_010 }] },
    ]);
    const after = graph(g).edges.find((x) => x.client === 'frontend' && x.server === 'backend')!;
    expect([after.requests, after.requestRate, after.failed, after.failedRate]).toEqual([2, 1 / 60, 2, 1 / 60]);
  });

  it('says whether the tenant has service-graphs on; a tenant with no spans here has no edges', async () => {
    const on = setup();
    await on.start();
    expect(graph(on.g, 'quiet')).toEqual({ enabled: true, windowSeconds: 0, edges: [] });
    const off = setup(config(), { processors: ['span-metrics'] });
    await off.start();
    off.push(SHOP);
    expect(graph(off.g)).toEqual({ enabled: false, windowSeconds: 0, edges: [] });
    expect(() => on.g.serviceGraph(create(ServiceGraphRequestSchema, { tenant: '' }))).toThrow(
      expect.objectContaining({ code: Code.InvalidArgument }) as Error,
    );
  });
});
