// Realistic generated traces for tests and benchmarks: many services with Kubernetes-style resources,
// 5–30 spans per trace in a call tree, HTTP server/client, database and messaging spans with the
// attributes real instrumentations set, some events (logs, exceptions), a few links and errors.
// Deterministic for a seed, so benchmark numbers are comparable between runs.

import { create } from '@bufbuild/protobuf';
import {
  type AnyValue,
  AnyValueSchema,
  type KeyValue,
  KeyValueSchema,
  ResourceSpansSchema,
  type ScopeSpans,
  ScopeSpansSchema,
  type Span,
  type Span_Event,
  Span_EventSchema,
  Span_LinkSchema,
  Span_SpanKind,
  SpanSchema,
  Status_StatusCode,
  StatusSchema,
  type TracesData,
  TracesDataSchema,
} from '@stave/proto';

/** A small, fast, seedable PRNG (mulberry32): test data must be reproducible, not secure. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
  hex(n: number): string {
    return Buffer.from(this.bytes(n)).toString('hex');
  }
}

const str = (key: string, v: string): KeyValue => create(KeyValueSchema, { key, value: create(AnyValueSchema, { value: { case: 'stringValue', value: v } }) });
const int = (key: string, v: number): KeyValue =>
  create(KeyValueSchema, { key, value: create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(v) } }) });
const bool = (key: string, v: boolean): KeyValue => create(KeyValueSchema, { key, value: create(AnyValueSchema, { value: { case: 'boolValue', value: v } }) });
const dbl = (key: string, v: number): KeyValue => create(KeyValueSchema, { key, value: create(AnyValueSchema, { value: { case: 'doubleValue', value: v } }) });
const arr = (key: string, vs: string[]): KeyValue =>
  create(KeyValueSchema, {
    key,
    value: create(AnyValueSchema, {
      value: { case: 'arrayValue', value: { values: vs.map((v): AnyValue => create(AnyValueSchema, { value: { case: 'stringValue', value: v } })) } },
    }),
  });

type Lang = 'nodejs' | 'java' | 'go' | 'python';
interface Instance {
  readonly resourceAttrs: KeyValue[];
}
interface Service {
  readonly name: string;
  readonly lang: Lang;
  readonly instances: Instance[];
  readonly routes: string[];
  readonly db: 'postgresql' | 'redis' | 'mongodb' | undefined;
  readonly scopes: { http: [string, string]; db: [string, string]; internal: [string, string]; messaging: [string, string] };
}

const SCOPES: Record<Lang, Service['scopes']> = {
  nodejs: {
    http: ['@opentelemetry/instrumentation-http', '0.52.1'],
    db: ['@opentelemetry/instrumentation-pg', '0.43.0'],
    internal: ['@opentelemetry/instrumentation-express', '0.41.0'],
    messaging: ['@opentelemetry/instrumentation-kafkajs', '0.1.0'],
  },
  java: {
    http: ['io.opentelemetry.spring-webmvc-6.0', '2.6.0-alpha'],
    db: ['io.opentelemetry.jdbc', '2.6.0-alpha'],
    internal: ['io.opentelemetry.spring-data-1.8', '2.6.0-alpha'],
    messaging: ['io.opentelemetry.kafka-clients-2.6', '2.6.0-alpha'],
  },
  go: {
    http: ['go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp', '0.53.0'],
    db: ['github.com/XSAM/otelsql', '0.32.0'],
    internal: ['checkout', ''],
    messaging: ['github.com/IBM/sarama/otelsarama', '0.43.0'],
  },
  python: {
    http: ['opentelemetry.instrumentation.flask', '0.47b0'],
    db: ['opentelemetry.instrumentation.psycopg2', '0.47b0'],
    internal: ['app.worker', ''],
    messaging: ['opentelemetry.instrumentation.kafka', '0.47b0'],
  },
};
const SDK_VERSION: Record<Lang, string> = { nodejs: '1.25.1', java: '1.40.0', go: '1.28.0', python: '1.26.0' };
const NOUNS = ['users', 'orders', 'carts', 'payments', 'products', 'inventory', 'shipping', 'reviews', 'sessions', 'accounts', 'invoices', 'search'];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'okhttp/4.12.0',
  'python-requests/2.32.3',
  'Go-http-client/1.1',
];

function makeServices(rng: Rng, count: number): Service[] {
  const langs: Lang[] = ['nodejs', 'java', 'go', 'python'];
  const out: Service[] = [];
  for (let s = 0; s < count; s++) {
    const noun = NOUNS[s % NOUNS.length]!;
    const name = s === 0 ? 'frontend' : `${noun}-${['service', 'api', 'worker', 'gateway'][Math.floor(s / NOUNS.length) % 4]}`;
    const lang = rng.pick(langs);
    const ns = rng.pick(['shop', 'payments', 'platform']);
    const version = `${rng.int(1, 4)}.${rng.int(0, 20)}.${rng.int(0, 9)}`;
    const instances: Instance[] = [];
    const region = rng.pick(['eu-west-1', 'us-east-1', 'ap-southeast-2']);
    for (let i = 0; i < rng.int(2, 4); i++) {
      const pod = `${name}-${rng.hex(5).slice(0, 10)}-${rng.hex(3).slice(0, 5)}`;
      instances.push({
        resourceAttrs: [
          str('service.name', name),
          str('service.namespace', ns),
          str('service.version', version),
          str('service.instance.id', `${rng.hex(4)}-${rng.hex(2)}-${rng.hex(2)}-${rng.hex(2)}-${rng.hex(6)}`),
          str('deployment.environment', 'production'),
          str('host.name', pod),
          str('k8s.pod.name', pod),
          str('k8s.namespace.name', ns),
          str('k8s.deployment.name', name),
          str('k8s.node.name', `ip-10-0-${rng.int(0, 255)}-${rng.int(0, 255)}.${region}.compute.internal`),
          str('cloud.provider', 'aws'),
          str('cloud.region', region),
          str('telemetry.sdk.name', 'opentelemetry'),
          str('telemetry.sdk.language', lang),
          str('telemetry.sdk.version', SDK_VERSION[lang]),
          int('process.pid', rng.int(1, 65535)),
        ],
      });
    }
    const routes = [`/api/v1/${noun}`, `/api/v1/${noun}/:id`, `/api/v1/${noun}/:id/items`, `/internal/${noun}/sync`];
    const db = s === 0 ? undefined : rng.pick(['postgresql', 'postgresql', 'redis', 'mongodb', undefined] as const);
    out.push({ name, lang, instances, routes, db, scopes: SCOPES[lang] });
  }
  return out;
}

export interface RealisticOptions {
  readonly seed?: number;
  readonly services?: number;
  /** Start of the generated time range, in milliseconds since the epoch. */
  readonly startMs?: number;
}

interface Pending {
  service: Service;
  instance: Instance;
  scope: [string, string];
  span: Span;
}

/**
 * Makes `traces` traces (sorted by trace ID, unique IDs). Spans of one trace are grouped by
 * instance (ResourceSpans) and instrumentation scope (ScopeSpans), as an SDK exporter would send them.
 */
export function realisticTraces(traces: number, opts: RealisticOptions = {}): { id: Uint8Array; trace: TracesData }[] {
  return [...realisticTraceStream(traces, opts)];
}

/**
 * The same traces as realisticTraces, built one at a time as they are consumed, so a benchmark holds
 * one trace in memory rather than all of them (as an ingester building a block from its WAL would).
 */
export function* realisticTraceStream(traces: number, opts: RealisticOptions = {}): Generator<{ id: Uint8Array; trace: TracesData }> {
  const seed = opts.seed ?? 1;
  const rng = new Rng(seed);
  const services = makeServices(rng, opts.services ?? 40);
  const start = BigInt(opts.startMs ?? Date.UTC(2025, 0, 15, 12, 0, 0)) * 1_000_000n;
  const ids: { id: Buffer; n: number }[] = [];
  const seen = new Set<string>();
  for (let t = 0; t < traces; t++) {
    let id = Buffer.from(rng.bytes(16));
    while (seen.has(id.toString('hex'))) id = Buffer.from(rng.bytes(16));
    seen.add(id.toString('hex'));
    ids.push({ id, n: t });
  }
  seen.clear();
  ids.sort((a, b) => Buffer.compare(a.id, b.id));
  for (const { id, n } of ids) {
    // Each trace has its own stream of randomness, so it does not depend on generation order.
    const r = new Rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(n + 1, 0x85ebca6b)) >>> 0);
    // Traces arrive spread over ~an hour; nanosecond timestamps with full precision.
    const t0 = start + BigInt(Math.floor(r.next() * 3600e9));
    yield { id: new Uint8Array(id), trace: makeTrace(r, services, new Uint8Array(id), t0) };
  }
}

function makeTrace(rng: Rng, services: Service[], traceId: Uint8Array, t0: bigint): TracesData {
  const target = rng.int(5, 30);
  const pending: Pending[] = [];
  const flags = rng.next() < 0.5 ? 0x301 : 0x101;
  const ns = (ms: number): bigint => BigInt(Math.floor(ms * 1e6)) + BigInt(rng.int(0, 999));

  // Root: an HTTP request into the frontend.
  const rootSvc = services[0]!;
  const rootDur = 20 + rng.next() * 400;
  const queue: { span: Span; svc: Service; startMs: number; durMs: number; depth: number }[] = [];
  const root = serverSpan(rng, rootSvc, traceId, new Uint8Array(0), t0, ns(0), ns(rootDur), flags);
  pending.push({ service: rootSvc, instance: rng.pick(rootSvc.instances), scope: rootSvc.scopes.http, span: root });
  queue.push({ span: root, svc: rootSvc, startMs: 0, durMs: rootDur, depth: 0 });

  while (pending.length < target && queue.length > 0) {
    const parent = queue.shift()!;
    const fanout = parent.depth === 0 ? rng.int(2, 6) : rng.int(1, 4);
    for (let c = 0; c < fanout && pending.length < target; c++) {
      const off = parent.durMs * rng.next() * 0.5;
      const dur = Math.max(0.05, (parent.durMs - off) * (0.2 + rng.next() * 0.7));
      const roll = rng.next();
      const inst = rng.pick(parent.svc.instances);
      if (roll < 0.25 && parent.svc.db) {
        const span = dbSpan(rng, parent.svc, traceId, parent.span.spanId, t0 + ns(parent.startMs + off), t0 + ns(parent.startMs + off + dur), flags);
        pending.push({ service: parent.svc, instance: inst, scope: parent.svc.scopes.db, span });
      } else if (roll < 0.33) {
        const span = internalSpan(rng, traceId, parent.span.spanId, t0 + ns(parent.startMs + off), t0 + ns(parent.startMs + off + dur), flags);
        pending.push({ service: parent.svc, instance: inst, scope: parent.svc.scopes.internal, span });
        queue.push({ span, svc: parent.svc, startMs: parent.startMs + off, durMs: dur, depth: parent.depth + 1 });
      } else if (roll < 0.38 && pending.length + 2 <= target) {
        // Kafka: producer here, consumer in another service with a link back.
        const to = services[rng.int(1, services.length - 1)]!;
        const topic = `${rng.pick(NOUNS)}-events`;
        const prod = msgSpan(
          rng,
          traceId,
          parent.span.spanId,
          Span_SpanKind.PRODUCER,
          topic,
          t0 + ns(parent.startMs + off),
          t0 + ns(parent.startMs + off + 0.3),
          flags,
        );
        pending.push({ service: parent.svc, instance: inst, scope: parent.svc.scopes.messaging, span: prod });
        const cstart = parent.startMs + off + 1 + rng.next() * 5;
        const cons = msgSpan(rng, traceId, prod.spanId, Span_SpanKind.CONSUMER, topic, t0 + ns(cstart), t0 + ns(cstart + dur), flags);
        cons.links.push(
          create(Span_LinkSchema, {
            traceId: rng.bytes(16),
            spanId: rng.bytes(8),
            traceState: rng.next() < 0.5 ? 'rojo=00f067aa0ba902b7' : '',
            flags,
            attributes: [str('messaging.operation', 'publish')],
          }),
        );
        pending.push({ service: to, instance: rng.pick(to.instances), scope: to.scopes.messaging, span: cons });
        queue.push({ span: cons, svc: to, startMs: cstart, durMs: dur, depth: parent.depth + 1 });
      } else {
        const to = services[rng.int(1, services.length - 1)]!;
        const method = rng.pick(METHODS);
        const route = rng.pick(to.routes);
        const path = route.replace(':id', String(rng.int(1, 999999)));
        const cs = t0 + ns(parent.startMs + off);
        const client = create(SpanSchema, {
          traceId,
          spanId: rng.bytes(8),
          parentSpanId: parent.span.spanId,
          flags,
          name: method,
          kind: Span_SpanKind.CLIENT,
          startTimeUnixNano: cs,
          endTimeUnixNano: t0 + ns(parent.startMs + off + dur),
          attributes: [
            str('http.request.method', method),
            str('url.full', `http://${to.name}.${to.name.split('-')[0]}.svc.cluster.local:8080${path}`),
            str('server.address', `${to.name}.svc.cluster.local`),
            int('server.port', 8080),
            str('network.protocol.version', '1.1'),
            int('http.response.status_code', 200),
          ],
          status: create(StatusSchema, {}),
        });
        pending.push({ service: parent.svc, instance: inst, scope: parent.svc.scopes.http, span: client });
        const sOff = 0.1 + rng.next() * 0.5;
        const server = serverSpan(
          rng,
          to,
          traceId,
          client.spanId,
          t0,
          ns(parent.startMs + off + sOff),
          ns(parent.startMs + off + dur - sOff / 2),
          flags,
          method,
          route,
          path,
        );
        const code = Number(server.attributes.find((a) => a.key === 'http.response.status_code')?.value?.value.value ?? 200);
        client.attributes[5] = int('http.response.status_code', code);
        if (code >= 500) client.status = create(StatusSchema, { code: Status_StatusCode.ERROR });
        pending.push({ service: to, instance: rng.pick(to.instances), scope: to.scopes.http, span: server });
        queue.push({ span: server, svc: to, startMs: parent.startMs + off + sOff, durMs: dur - sOff, depth: parent.depth + 1 });
      }
    }
  }

  // Group as an SDK would: per instance (resource), then per scope.
  const byInstance = new Map<Instance, { svc: Service; scopes: Map<string, ScopeSpans> }>();
  for (const p of pending) {
    let g = byInstance.get(p.instance);
    if (!g) byInstance.set(p.instance, (g = { svc: p.service, scopes: new Map() }));
    const key = p.scope.join('@');
    let ss = g.scopes.get(key);
    if (!ss) {
      ss = create(ScopeSpansSchema, {
        scope: { name: p.scope[0], version: p.scope[1] },
        schemaUrl: p.scope[0].startsWith('io.opentelemetry') ? 'https://opentelemetry.io/schemas/1.24.0' : '',
      });
      g.scopes.set(key, ss);
    }
    ss.spans.push(p.span);
  }
  const td = create(TracesDataSchema, {});
  for (const [inst, g] of byInstance) {
    td.resourceSpans.push(
      create(ResourceSpansSchema, {
        resource: { attributes: inst.resourceAttrs },
        scopeSpans: [...g.scopes.values()],
        schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
      }),
    );
  }
  return td;
}

function serverSpan(
  rng: Rng,
  svc: Service,
  traceId: Uint8Array,
  parent: Uint8Array,
  t0: bigint,
  s: bigint,
  e: bigint,
  flags: number,
  method = rng.pick(METHODS),
  route = rng.pick(svc.routes),
  path = route.replace(':id', String(rng.int(1, 999999))),
): Span {
  const r = rng.next();
  const code = r < 0.02 ? 500 : r < 0.05 ? 404 : r < 0.07 ? 201 : 200;
  const span = create(SpanSchema, {
    traceId,
    spanId: rng.bytes(8),
    parentSpanId: parent,
    flags,
    name: `${method} ${route}`,
    kind: Span_SpanKind.SERVER,
    startTimeUnixNano: t0 + s,
    endTimeUnixNano: t0 + e,
    attributes: [
      str('http.request.method', method),
      str('url.path', path),
      str('url.scheme', 'http'),
      str('http.route', route),
      int('http.response.status_code', code),
      str('server.address', `${svc.name}.svc.cluster.local`),
      int('server.port', 8080),
      str('network.protocol.version', '1.1'),
      str('client.address', `10.${rng.int(0, 3)}.${rng.int(0, 255)}.${rng.int(1, 254)}`),
      str('user_agent.original', rng.pick(AGENTS)),
    ],
    status: code >= 500 ? create(StatusSchema, { code: Status_StatusCode.ERROR, message: 'Internal Server Error' }) : create(StatusSchema, {}),
  });
  if (code >= 500) span.events.push(exception(rng, t0 + e - 1000n));
  else if (rng.next() < 0.08) {
    span.events.push(
      create(Span_EventSchema, {
        timeUnixNano: t0 + s + BigInt(rng.int(1000, 900000)),
        name: rng.pick(['cache miss', 'request validated', 'retrying upstream call', 'feature flag evaluated']),
        attributes: [str('cache.key', `${rng.pick(NOUNS)}:${rng.int(1, 99999)}`), bool('retry', rng.next() < 0.2), int('attempt', rng.int(1, 3))],
      }),
    );
  }
  return span;
}

function exception(rng: Rng, at: bigint): Span_Event {
  const type = rng.pick(['Error', 'java.net.SocketTimeoutException', 'ConnectionResetError', 'TimeoutError']);
  const frames = rng.int(3, 6);
  const stack = [`${type}: upstream request failed after ${rng.int(100, 30000)}ms`];
  for (let i = 0; i < frames; i++)
    stack.push(
      `    at ${rng.pick(['handle', 'process', 'callUpstream', 'fetchJson', 'query'])} (/app/src/${rng.pick(NOUNS)}/${rng.pick(['handler', 'client', 'repo'])}.js:${rng.int(10, 400)}:${rng.int(3, 40)})`,
    );
  return create(Span_EventSchema, {
    timeUnixNano: at,
    name: 'exception',
    attributes: [str('exception.type', type), str('exception.message', stack[0]!), str('exception.stacktrace', stack.join('\n'))],
  });
}

function dbSpan(rng: Rng, svc: Service, traceId: Uint8Array, parent: Uint8Array, s: bigint, e: bigint, flags: number): Span {
  const table = rng.pick(NOUNS);
  const system = svc.db!;
  let op: string;
  let text: string;
  if (system === 'redis') {
    op = rng.pick(['GET', 'SET', 'HGETALL', 'EXPIRE']);
    text = `${op} ${table}:${rng.int(1, 999999)}`;
  } else if (system === 'mongodb') {
    op = rng.pick(['find', 'insert', 'update', 'aggregate']);
    text = `{"${op}":"${table}","filter":{"_id":"?"}}`;
  } else {
    op = rng.pick(['SELECT', 'SELECT', 'INSERT', 'UPDATE']);
    text =
      op === 'SELECT'
        ? `SELECT id, name, created_at, updated_at FROM ${table} WHERE tenant_id = $1 AND id = $2 LIMIT ${rng.pick([1, 10, 50])}`
        : op === 'INSERT'
          ? `INSERT INTO ${table} (id, tenant_id, payload, created_at) VALUES ($1, $2, $3, now())`
          : `UPDATE ${table} SET payload = $1, updated_at = now() WHERE id = $2`;
  }
  const attributes = [
    str('db.system', system),
    str('db.namespace', `${svc.name.split('-')[0]}_db`),
    str('db.operation.name', op),
    str('db.query.text', text),
    str('server.address', `${system}.${svc.name.split('-')[0]}.svc.cluster.local`),
    int('server.port', system === 'redis' ? 6379 : system === 'mongodb' ? 27017 : 5432),
  ];
  if (rng.next() < 0.3) attributes.push(int('db.response.returned_rows', rng.int(0, 50)));
  return create(SpanSchema, {
    traceId,
    spanId: rng.bytes(8),
    parentSpanId: parent,
    flags,
    name: `${op} ${table}`,
    kind: Span_SpanKind.CLIENT,
    startTimeUnixNano: s,
    endTimeUnixNano: e,
    attributes,
    status: create(StatusSchema, {}),
  });
}

function internalSpan(rng: Rng, traceId: Uint8Array, parent: Uint8Array, s: bigint, e: bigint, flags: number): Span {
  const name = rng.pick(['validateRequest', 'computePrice', 'renderTemplate', 'authorize', 'loadConfig', 'serialize']);
  const attributes = [str('code.function', name), str('code.namespace', `app.${rng.pick(NOUNS)}`)];
  if (rng.next() < 0.3) attributes.push(dbl('app.score', Math.round(rng.next() * 10000) / 100));
  if (rng.next() < 0.1) attributes.push(arr('app.tags', [rng.pick(NOUNS), rng.pick(NOUNS)]));
  return create(SpanSchema, {
    traceId,
    spanId: rng.bytes(8),
    parentSpanId: parent,
    flags,
    name,
    kind: Span_SpanKind.INTERNAL,
    startTimeUnixNano: s,
    endTimeUnixNano: e,
    attributes,
  });
}

function msgSpan(rng: Rng, traceId: Uint8Array, parent: Uint8Array, kind: Span_SpanKind, topic: string, s: bigint, e: bigint, flags: number): Span {
  return create(SpanSchema, {
    traceId,
    spanId: rng.bytes(8),
    parentSpanId: parent,
    flags,
    name: `${topic} ${kind === Span_SpanKind.PRODUCER ? 'publish' : 'process'}`,
    kind,
    startTimeUnixNano: s,
    endTimeUnixNano: e,
    attributes: [
      str('messaging.system', 'kafka'),
      str('messaging.destination.name', topic),
      str('messaging.operation.type', kind === Span_SpanKind.PRODUCER ? 'publish' : 'process'),
      int('messaging.kafka.message.offset', rng.int(0, 5_000_000)),
      int('messaging.destination.partition.id', rng.int(0, 11)),
      ...(kind === Span_SpanKind.CONSUMER ? [str('messaging.consumer.group.name', `${topic}-consumer`)] : []),
    ],
  });
}

/** Total spans in a trace. */
export function countSpans(trace: TracesData): number {
  let n = 0;
  for (const rs of trace.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}

/** `n` random trace IDs, none of them among `present` (for lookups that must find nothing). */
export function absentTraceIDs(n: number, present: readonly Uint8Array[], seed = 99): Uint8Array[] {
  const hex = (id: Uint8Array): string => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
  const have = new Set(present.map(hex));
  const rng = new Rng(seed);
  const out: Uint8Array[] = [];
  while (out.length < n) {
    const id = rng.bytes(16);
    if (!have.has(hex(id))) out.push(id);
  }
  return out;
}

const LEGACY_HTTP: Record<string, string> = { 'url.full': 'http.url', 'http.request.method': 'http.method', 'http.response.status_code': 'http.status_code' };

/**
 * Renames the HTTP attributes of every other HTTP span of a trace to the pre-1.21 semantic-convention names
 * (http.url, http.method, http.status_code: the attributes with their own block columns), in place, as older
 * SDKs still send them.
 */
export function addLegacyHttpAttributes(trace: TracesData): TracesData {
  let n = 0;
  for (const rs of trace.resourceSpans)
    for (const ss of rs.scopeSpans)
      for (const s of ss.spans) {
        if (!s.attributes.some((a) => a.key === 'url.full') || n++ % 2 === 1) continue;
        s.attributes = s.attributes.map((a) => (LEGACY_HTTP[a.key] ? create(KeyValueSchema, { key: LEGACY_HTTP[a.key], value: a.value }) : a));
      }
  return trace;
}
