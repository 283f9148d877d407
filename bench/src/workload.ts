// The synthetic workload: realistic OTLP traces from a seeded PRNG, cut into ExportTraceServiceRequest
// bodies the way a collector's batch processor cuts them (each request holds spans of many traces, and a
// trace's spans arrive over several requests).
//
// Bodies are generated before anything is timed, into a pool bounded by span count. A run larger than the
// pool replays it in rounds, rewriting every span's trace ID in place (first 4 bytes XOR the round
// number), so ~1.75M spans cost the memory of the pool, not of the run. Only trace IDs change between
// rounds; timestamps and attribute values repeat (see README: this flatters compression a little).

import { create, toBinary } from '@bufbuild/protobuf';
import {
  ExportTraceServiceRequestSchema,
  InstrumentationScopeSchema,
  ResourceSchema,
  ResourceSpansSchema,
  ScopeSpansSchema,
  SpanSchema,
  Span_EventSchema,
  Span_LinkSchema,
  Span_SpanKind,
  Status_StatusCode,
  type AnyValue,
  type InstrumentationScope,
  type KeyValue,
  type Resource,
  type Span,
} from '@stave/proto';
import { Prng } from './prng';

export const MIN_SPANS_PER_TRACE = 5;
export const MAX_SPANS_PER_TRACE = 30;
export const MEAN_SPANS_PER_TRACE = (MIN_SPANS_PER_TRACE + MAX_SPANS_PER_TRACE) / 2;
export const SEMCONV_SCHEMA = 'https://opentelemetry.io/schemas/1.26.0';

// ---------------------------------------------------------------------------------------------------
// Attribute helpers

type Scalar = string | number | boolean | bigint;

function anyValue(v: Scalar | Scalar[]): AnyValue {
  if (Array.isArray(v)) {
    return {
      $typeName: 'opentelemetry.proto.common.v1.AnyValue',
      value: { case: 'arrayValue', value: { $typeName: 'opentelemetry.proto.common.v1.ArrayValue', values: v.map((x) => anyValue(x)) } },
    };
  }
  const value: AnyValue['value'] =
    typeof v === 'string'
      ? { case: 'stringValue', value: v }
      : typeof v === 'boolean'
        ? { case: 'boolValue', value: v }
        : typeof v === 'bigint'
          ? { case: 'intValue', value: v }
          : Number.isInteger(v)
            ? { case: 'intValue', value: BigInt(v) }
            : { case: 'doubleValue', value: v };
  return { $typeName: 'opentelemetry.proto.common.v1.AnyValue', value };
}

function attrs(kv: Record<string, Scalar | Scalar[] | undefined>): KeyValue[] {
  const out: KeyValue[] = [];
  for (const [key, v] of Object.entries(kv)) {
    if (v !== undefined) out.push({ $typeName: 'opentelemetry.proto.common.v1.KeyValue', key, value: anyValue(v) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The simulated system: services, their instances (one OTLP resource each), what they call.

type Lang = 'go' | 'java' | 'nodejs' | 'python' | 'dotnet';
interface ServiceDef {
  name: string;
  lang: Lang;
  routes: string[];
  /** Downstream services this one calls over HTTP/gRPC. */
  calls: string[];
  db?: { system: string; name: string; ops: string[] };
}

const DB_PG = (name: string) => ({ system: 'postgresql', name, ops: ['SELECT', 'SELECT', 'SELECT', 'INSERT', 'UPDATE'] });
const DB_REDIS = { system: 'redis', name: '0', ops: ['GET', 'GET', 'SET', 'HGETALL', 'EXPIRE'] };
const DB_MONGO = (name: string) => ({ system: 'mongodb', name, ops: ['find', 'find', 'insert', 'update', 'aggregate'] });

const SERVICES: ServiceDef[] = [
  {
    name: 'frontend',
    lang: 'nodejs',
    routes: ['GET /', 'GET /product/{id}', 'POST /cart', 'GET /cart', 'POST /checkout'],
    calls: ['api-gateway', 'ad', 'recommendation', 'currency'],
  },
  {
    name: 'api-gateway',
    lang: 'go',
    routes: ['GET /api/v1/products', 'GET /api/v1/products/{id}', 'POST /api/v1/orders', 'GET /api/v1/users/{id}'],
    calls: ['product-catalog', 'checkout', 'user', 'auth', 'cart', 'search'],
  },
  { name: 'mobile-bff', lang: 'java', routes: ['GET /m/home', 'GET /m/feed', 'POST /m/order'], calls: ['api-gateway', 'recommendation', 'notification'] },
  { name: 'auth', lang: 'go', routes: ['POST /oauth/token', 'GET /session'], calls: ['user'], db: DB_REDIS },
  { name: 'user', lang: 'java', routes: ['GetUser', 'UpdateUser', 'ListAddresses'], calls: [], db: DB_PG('users') },
  { name: 'product-catalog', lang: 'go', routes: ['ListProducts', 'GetProduct', 'SearchProducts'], calls: ['inventory', 'pricing'], db: DB_PG('catalog') },
  { name: 'search', lang: 'python', routes: ['POST /search', 'GET /suggest'], calls: ['product-catalog'], db: DB_REDIS },
  { name: 'cart', lang: 'dotnet', routes: ['AddItem', 'GetCart', 'EmptyCart'], calls: ['product-catalog'], db: DB_REDIS },
  { name: 'checkout', lang: 'go', routes: ['PlaceOrder'], calls: ['cart', 'payment', 'shipping', 'currency', 'email', 'fraud-detection', 'order'] },
  { name: 'payment', lang: 'nodejs', routes: ['Charge', 'Refund'], calls: ['fraud-detection', 'ledger'] },
  { name: 'shipping', lang: 'java', routes: ['GetQuote', 'ShipOrder'], calls: ['quote'], db: DB_PG('shipping') },
  { name: 'quote', lang: 'python', routes: ['POST /getquote'], calls: [] },
  { name: 'currency', lang: 'go', routes: ['Convert', 'GetSupportedCurrencies'], calls: [], db: DB_REDIS },
  { name: 'email', lang: 'python', routes: ['POST /send_order_confirmation'], calls: ['notification'] },
  { name: 'notification', lang: 'java', routes: ['Notify', 'Enqueue'], calls: [], db: DB_MONGO('notifications') },
  { name: 'recommendation', lang: 'python', routes: ['ListRecommendations'], calls: ['product-catalog', 'feature-store'] },
  { name: 'feature-store', lang: 'go', routes: ['GetFeatures'], calls: [], db: DB_REDIS },
  { name: 'ad', lang: 'java', routes: ['GetAds'], calls: ['feature-store'] },
  { name: 'inventory', lang: 'go', routes: ['CheckStock', 'Reserve'], calls: ['warehouse'], db: DB_PG('inventory') },
  { name: 'warehouse', lang: 'java', routes: ['GetLocation'], calls: [], db: DB_PG('warehouse') },
  { name: 'pricing', lang: 'dotnet', routes: ['GetPrice', 'ApplyDiscount'], calls: ['currency'], db: DB_REDIS },
  { name: 'fraud-detection', lang: 'python', routes: ['Score'], calls: ['feature-store'], db: DB_MONGO('fraud') },
  { name: 'ledger', lang: 'java', routes: ['Post', 'Balance'], calls: [], db: DB_PG('ledger') },
  { name: 'order', lang: 'go', routes: ['CreateOrder', 'GetOrder'], calls: ['inventory'], db: DB_PG('orders') },
];
const ENTRY_SERVICES = ['frontend', 'frontend', 'api-gateway', 'mobile-bff'];
export const INSTANCES_PER_SERVICE = 3;
const HTTP_LANGS = new Set<Lang>(['nodejs', 'python']);

const SERVICE_INDEX = new Map(SERVICES.map((s, i) => [s.name, i]));
const SDK_VERSION: Record<Lang, string> = { go: '1.32.0', java: '1.44.1', nodejs: '1.30.1', python: '1.29.0', dotnet: '1.10.0' };

function buildResources(rng: Prng): { resources: Resource[]; scopes: InstrumentationScope[] } {
  const resources: Resource[] = [];
  const scopes: InstrumentationScope[] = [];
  for (const s of SERVICES) {
    scopes.push(create(InstrumentationScopeSchema, { name: `io.opentelemetry.${s.lang}.instrumentation`, version: SDK_VERSION[s.lang] }));
    for (let i = 0; i < INSTANCES_PER_SERVICE; i++) {
      const pod = `${s.name}-${rng.int(0x10000000, 0xffffffff).toString(16).slice(0, 8)}-${rng.int(0x10000, 0xfffff).toString(36)}`;
      resources.push(
        create(ResourceSchema, {
          attributes: attrs({
            'service.name': s.name,
            'service.namespace': 'shop',
            'service.version': `1.${rng.int(0, 40)}.${rng.int(0, 9)}`,
            'service.instance.id': pod,
            'deployment.environment.name': 'production',
            'host.name': `node-${rng.int(1, 48)}.eu-west-1.compute.internal`,
            'k8s.pod.name': pod,
            'telemetry.sdk.language': s.lang,
          }),
        }),
      );
    }
  }
  return { resources, scopes };
}

// ---------------------------------------------------------------------------------------------------
// One trace

export interface SpanDraft {
  span: Span;
  /** Index into the pool's resources (one per service instance). */
  resource: number;
  /** Service index, for the scope. */
  service: number;
}

interface Node {
  draft: SpanDraft;
  start: bigint;
  end: bigint;
  /** Can this span have children (SERVER/INTERNAL, not a leaf client call)? */
  container: boolean;
}

const MS = 1_000_000n;

function hex(rng: Prng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += rng.int(0, 15).toString(16);
  return s;
}

/** Generates one trace of exactly `n` spans with a proper parent/child tree and consistent timing. */
export function generateTrace(rng: Prng, traceId: Uint8Array, n: number, startNs: bigint): SpanDraft[] {
  const nodes: Node[] = [];
  const instanceOf = new Map<number, number>(); // one instance per service per trace
  const resourceFor = (svc: number): number => {
    let inst = instanceOf.get(svc);
    if (inst === undefined) instanceOf.set(svc, (inst = rng.int(0, INSTANCES_PER_SERVICE - 1)));
    return svc * INSTANCES_PER_SERVICE + inst;
  };
  const newSpan = (
    svc: number,
    parent: Node | undefined,
    name: string,
    kind: Span_SpanKind,
    start: bigint,
    end: bigint,
    a: KeyValue[],
    container: boolean,
  ): Node => {
    const span = create(SpanSchema, {
      traceId,
      spanId: rng.bytes(new Uint8Array(8)),
      parentSpanId: parent ? parent.draft.span.spanId : new Uint8Array(0),
      flags: 0x100 | 1, // sampled, with the "has is-remote" bit as modern SDKs send it
      name,
      kind,
      startTimeUnixNano: start,
      endTimeUnixNano: end,
      attributes: a,
      status: { code: Status_StatusCode.UNSET },
    });
    const node: Node = { draft: { span, resource: resourceFor(svc), service: svc }, start, end, container };
    nodes.push(node);
    return node;
  };

  // Root: an HTTP server span in an entry service.
  const entry = SERVICE_INDEX.get(rng.pick(ENTRY_SERVICES))!;
  const entryDef = SERVICES[entry]!;
  const route = rng.pick(entryDef.routes);
  const [method, path] = route.includes(' ') ? route.split(' ') : ['GET', `/${route}`];
  const rootDur = BigInt(rng.int(5, 1500)) * MS + BigInt(rng.int(0, 999_999));
  newSpan(
    entry,
    undefined,
    route,
    Span_SpanKind.SERVER,
    startNs,
    startNs + rootDur,
    attrs({
      'http.request.method': method,
      'http.route': path,
      'url.path': path!.replace('{id}', String(rng.int(1, 99999))),
      'url.scheme': 'https',
      'server.address': 'shop.example.com',
      'client.address': `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
      'user_agent.original': rng.pick([
        'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5) Mobile/15E148',
        'okhttp/4.12.0',
        'curl/8.5.0',
      ]),
      'http.response.status_code': 200,
      'http.response.body.size': rng.int(200, 90000),
    }),
    true,
  );

  while (nodes.length < n) {
    const budget = n - nodes.length;
    // Prefer recent containers so trees grow deep as well as wide.
    const containers = nodes.filter((x) => x.container);
    const parent = rng.chance(0.6) ? containers[containers.length - 1 - rng.int(0, Math.min(2, containers.length - 1))]! : rng.pick(containers);
    const svc = parent.draft.service;
    const def = SERVICES[svc]!;
    const pDur = parent.end - parent.start;
    const cStart = parent.start + (pDur * BigInt(rng.int(0, 600))) / 1000n;
    const cEnd = cStart + ((parent.end - cStart) * BigInt(rng.int(50, 1000))) / 1000n;
    const roll = rng.next();
    let what = roll < 0.45 ? 'rpc' : roll < 0.75 ? 'db' : roll < 0.8 ? 'produce' : 'internal';
    if (what === 'rpc' && (def.calls.length === 0 || budget < 2)) what = def.db ? 'db' : 'internal';
    if (what === 'db' && !def.db) what = 'internal';
    if (what === 'rpc') {
      // Remote call: a CLIENT span here, a SERVER span in the callee.
      const callee = SERVICE_INDEX.get(rng.pick(def.calls))!;
      const cdef = SERVICES[callee]!;
      const op = rng.pick(cdef.routes);
      const http = HTTP_LANGS.has(cdef.lang) || op.includes(' ');
      const peer = `${cdef.name}.shop.svc.cluster.local`;
      const rpcService = `shop.${cdef.name.replace(/-/g, '')}.v1.${cdef.name.replace(/(^|-)(\w)/g, (_m, _d: string, c: string) => c.toUpperCase())}Service`;
      const client = newSpan(
        svc,
        parent,
        http ? (op.includes(' ') ? op.split(' ')[0]! : 'POST') : `${rpcService}/${op}`,
        Span_SpanKind.CLIENT,
        cStart,
        cEnd,
        http
          ? attrs({
              'http.request.method': op.includes(' ') ? op.split(' ')[0] : 'POST',
              'url.full': `http://${peer}:8080${op.includes(' ') ? op.split(' ')[1] : '/' + op}`,
              'server.address': peer,
              'server.port': 8080,
              'http.response.status_code': 200,
            })
          : attrs({
              'rpc.system': 'grpc',
              'rpc.service': rpcService,
              'rpc.method': op,
              'server.address': peer,
              'server.port': 50051,
              'rpc.grpc.status_code': 0,
            }),
        false,
      );
      const net = (cEnd - cStart) / 20n;
      newSpan(
        callee,
        client,
        http ? (op.includes(' ') ? op : `POST /${op}`) : `${rpcService}/${op}`,
        Span_SpanKind.SERVER,
        cStart + net,
        cEnd - net,
        http
          ? attrs({
              'http.request.method': op.includes(' ') ? op.split(' ')[0] : 'POST',
              'http.route': op.includes(' ') ? op.split(' ')[1] : '/' + op,
              'http.response.status_code': 200,
              'network.peer.address': `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
            })
          : attrs({ 'rpc.system': 'grpc', 'rpc.service': rpcService, 'rpc.method': op, 'rpc.grpc.status_code': 0 }),
        true,
      );
    } else if (what === 'db' && def.db) {
      const op = rng.pick(def.db.ops);
      const table = rng.pick(['items', 'orders', 'accounts', 'sessions', 'events', 'prices']);
      const statement =
        def.db.system === 'postgresql'
          ? op === 'SELECT'
            ? `SELECT id, name, updated_at FROM ${table} WHERE id = $1 AND tenant_id = $2 LIMIT ${rng.int(1, 100)}`
            : op === 'INSERT'
              ? `INSERT INTO ${table} (id, payload, created_at) VALUES ($1, $2, now())`
              : `UPDATE ${table} SET payload = $1, updated_at = now() WHERE id = $2`
          : def.db.system === 'redis'
            ? `${op} ${def.name}:${table}:${hex(rng, 8)}`
            : `{"${op}":"${table}","filter":{"_id":"?"}}`;
      newSpan(
        svc,
        parent,
        `${op} ${def.db.name}.${table}`,
        Span_SpanKind.CLIENT,
        cStart,
        cEnd,
        attrs({
          'db.system': def.db.system,
          'db.namespace': def.db.name,
          'db.operation.name': op,
          'db.collection.name': table,
          'db.query.text': statement,
          'server.address': `${def.db.system}-${def.name}.shop.svc.cluster.local`,
          'db.response.returned_rows': op === 'SELECT' || op === 'find' ? rng.int(0, 100) : undefined,
        }),
        false,
      );
    } else if (what === 'produce') {
      // Async hand-off to a queue.
      newSpan(
        svc,
        parent,
        `${def.name}-events publish`,
        Span_SpanKind.PRODUCER,
        cStart,
        cStart + (cEnd - cStart) / 10n + 1n,
        attrs({
          'messaging.system': 'kafka',
          'messaging.destination.name': `${def.name}-events`,
          'messaging.operation.type': 'publish',
          'messaging.kafka.message.key': hex(rng, 12),
          'messaging.message.body.size': rng.int(100, 4000),
        }),
        false,
      );
    } else {
      newSpan(
        svc,
        parent,
        rng.pick(['validate request', 'serialize response', 'render template', 'compute totals', 'load config', 'authorize']),
        Span_SpanKind.INTERNAL,
        cStart,
        cEnd,
        attrs({
          'code.function.name': rng.pick(['handle', 'process', 'run', 'apply']),
          'code.file.path': `src/${def.name}/${rng.pick(['handler', 'service', 'util'])}.${def.lang === 'go' ? 'go' : def.lang === 'java' ? 'java' : 'ts'}`,
          'app.items.count': rng.int(0, 50),
          'app.cache.hit': rng.chance(0.7),
          'app.cost.ratio': Math.round(rng.next() * 10000) / 10000,
        }),
        true,
      );
    }
  }

  // Occasional events (a retry or cache miss on any span).
  for (const x of nodes) {
    if (rng.chance(0.08)) {
      const t = x.start + (x.end - x.start) / 2n;
      x.draft.span.events.push(
        create(Span_EventSchema, {
          timeUnixNano: t,
          name: rng.pick(['cache miss', 'retry', 'message received']),
          attributes: attrs({ 'retry.attempt': rng.int(1, 3), 'cache.key': hex(rng, 10) }),
        }),
      );
    }
  }
  // About one trace in 25 fails: a span errors, and the error climbs to the root.
  if (rng.chance(0.04) && nodes.length > 1) {
    let x: Node | undefined = rng.pick(nodes.slice(1));
    const exType = rng.pick([
      'java.net.SocketTimeoutException',
      'TimeoutError',
      'psycopg2.OperationalError',
      'context deadline exceeded',
      'NullPointerException',
    ]);
    x.draft.span.events.push(
      create(Span_EventSchema, {
        timeUnixNano: x.end,
        name: 'exception',
        attributes: attrs({
          'exception.type': exType,
          'exception.message': `${exType}: upstream took longer than ${rng.int(1, 30)}s`,
          'exception.stacktrace': `${exType}\n\tat handler (src/handler.ts:${rng.int(10, 400)}:${rng.int(1, 80)})\n\tat process (node:internal/process/task_queues:95:5)`,
          'exception.escaped': true,
        }),
      }),
    );
    const byId = new Map(nodes.map((nd) => [Buffer.from(nd.draft.span.spanId).toString('hex'), nd]));
    while (x) {
      x.draft.span.status = { $typeName: 'opentelemetry.proto.trace.v1.Status', code: Status_StatusCode.ERROR, message: exType };
      for (const kv of x.draft.span.attributes) {
        if (kv.key === 'http.response.status_code') kv.value = anyValue(rng.pick([500, 502, 503, 504]));
      }
      x.draft.span.attributes.push(...attrs({ 'error.type': exType }));
      x = x.draft.span.parentSpanId.length ? byId.get(Buffer.from(x.draft.span.parentSpanId).toString('hex')) : undefined;
    }
  }
  // Rare links to another (unrelated) trace, as batch consumers make them.
  if (rng.chance(0.02)) {
    const x = rng.pick(nodes);
    x.draft.span.links.push(
      create(Span_LinkSchema, {
        traceId: rng.bytes(new Uint8Array(16)),
        spanId: rng.bytes(new Uint8Array(8)),
        attributes: attrs({ 'messaging.batch.message_count': rng.int(1, 50) }),
      }),
    );
  }
  return nodes.map((x) => x.draft);
}

// ---------------------------------------------------------------------------------------------------
// Bodies and the pool

export interface Body {
  buf: Buffer;
  spans: number;
  /** Pool trace index and span count of every trace with spans in this body. */
  traces: Uint32Array;
  counts: Uint16Array;
  /** Byte offsets of every Span.trace_id in `buf` (rewritten between rounds). */
  idOffsets: Uint32Array;
  /** The round whose trace IDs `buf` currently holds. */
  round: number;
  inFlight: number;
}

export interface Pool {
  seed: number;
  bodies: Body[];
  /** Round-0 trace IDs, 16 bytes each. */
  traceIds: Buffer;
  traceCount: number;
  spanCount: number;
  /** Spans generated for each pool trace. */
  spansPerTrace: Uint16Array;
  bytes: number;
  generateMs: number;
}

export interface PoolOptions {
  seed: number;
  /** Traces in the pool (one round). */
  traces: number;
  batchSpans: number;
  /** Timestamps of the traces spread over the minute before this instant. */
  nowMs: number;
  /** Traces open at once while cutting batches (default: enough for ~2–3 requests per trace). */
  window?: number;
}

function encodeBody(drafts: SpanDraft[], resources: Resource[], scopes: InstrumentationScope[]): Buffer {
  const byResource = new Map<number, Span[]>();
  for (const d of drafts) {
    let list = byResource.get(d.resource);
    if (!list) byResource.set(d.resource, (list = []));
    list.push(d.span);
  }
  const req = create(ExportTraceServiceRequestSchema, {
    resourceSpans: [...byResource].map(([r, spans]) =>
      create(ResourceSpansSchema, {
        resource: resources[r]!,
        schemaUrl: SEMCONV_SCHEMA,
        scopeSpans: [create(ScopeSpansSchema, { scope: scopes[Math.floor(r / INSTANCES_PER_SERVICE)]!, spans, schemaUrl: SEMCONV_SCHEMA })],
      }),
    ),
  });
  const u8 = toBinary(ExportTraceServiceRequestSchema, req);
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/**
 * The pool's traces in order, from the seed: the resources, then trace `t`'s unique non-zero ID and its
 * 5–30 spans, starting within the minute before `nowMs`. Both workload shapes draw the same traces.
 */
export class TraceSource {
  readonly resources: Resource[];
  readonly scopes: InstrumentationScope[];
  readonly traceIds: Buffer;
  readonly spansPerTrace: Uint16Array;
  /** The stream that cuts requests (independent of trace generation). */
  readonly cutRng: Prng;
  private readonly idRng: Prng;
  private readonly traceRng: Prng;
  private readonly seen = new Set<string>();
  private readonly nowNs: bigint;

  constructor(private readonly opts: PoolOptions) {
    const rng = new Prng(opts.seed);
    ({ resources: this.resources, scopes: this.scopes } = buildResources(rng.fork()));
    this.idRng = rng.fork();
    this.traceRng = rng.fork();
    this.cutRng = rng.fork();
    this.traceIds = Buffer.alloc(16 * opts.traces);
    this.spansPerTrace = new Uint16Array(opts.traces);
    this.nowNs = BigInt(opts.nowMs) * MS;
  }

  /** Trace `t`'s spans; call for t = 0, 1, 2, … in order. */
  trace(t: number): SpanDraft[] {
    const id = this.traceIds.subarray(16 * t, 16 * t + 16);
    do this.idRng.bytes(id);
    while (this.seen.has(id.toString('hex')) || id.every((b) => b === 0));
    this.seen.add(id.toString('hex'));
    const n = this.traceRng.int(MIN_SPANS_PER_TRACE, MAX_SPANS_PER_TRACE);
    this.spansPerTrace[t] = n;
    const spreadNs = 60_000n * MS;
    const start = this.nowNs - spreadNs + (spreadNs * BigInt(t)) / BigInt(this.opts.traces);
    return generateTrace(this.traceRng, new Uint8Array(id), n, start);
  }
}

/** A pool body for an encoded request of `spans` spans, `counts` spans per pool trace (checked against the bytes). */
export function poolBody(buf: Buffer, spans: number, counts: Map<number, number>): Body {
  const idOffsets = Uint32Array.from(spanTraceIdOffsets(buf));
  if (idOffsets.length !== spans) throw new Error(`internal: found ${idOffsets.length} trace IDs in a body of ${spans} spans`);
  return { buf, spans, traces: Uint32Array.from(counts.keys()), counts: Uint16Array.from(counts.values()), idOffsets, round: 0, inFlight: 0 };
}

/** Generates the pool: `traces` traces cut into requests of `batchSpans` spans. Deterministic in `seed` and `nowMs`. */
export function generatePool(opts: PoolOptions): Pool {
  const t0 = performance.now();
  const src = new TraceSource(opts);
  const { resources, scopes, traceIds, spansPerTrace, cutRng } = src;
  const window = Math.max(2, opts.window ?? Math.ceil((2 * opts.batchSpans) / MEAN_SPANS_PER_TRACE));
  const bodies: Body[] = [];
  const open: Array<{ idx: number; drafts: SpanDraft[]; pos: number }> = [];
  let nextTrace = 0;
  let spanCount = 0;
  let bytes = 0;
  while (nextTrace < opts.traces || open.length > 0) {
    const batch: SpanDraft[] = [];
    const counts = new Map<number, number>();
    while (batch.length < opts.batchSpans) {
      while (open.length < window && nextTrace < opts.traces) {
        open.push({ idx: nextTrace, drafts: src.trace(nextTrace), pos: 0 });
        nextTrace++;
      }
      if (open.length === 0) break;
      // Take a short run of one trace's spans (spans of one process tend to be exported together).
      const j = cutRng.int(0, open.length - 1);
      const t = open[j]!;
      const take = Math.min(cutRng.int(1, 6), t.drafts.length - t.pos, opts.batchSpans - batch.length);
      for (let k = 0; k < take; k++) batch.push(t.drafts[t.pos++]!);
      counts.set(t.idx, (counts.get(t.idx) ?? 0) + take);
      if (t.pos === t.drafts.length) open.splice(j, 1);
    }
    if (batch.length === 0) break;
    const buf = encodeBody(batch, resources, scopes);
    bodies.push(poolBody(buf, batch.length, counts));
    spanCount += batch.length;
    bytes += buf.length;
  }
  return { seed: opts.seed, bodies, traceIds, traceCount: opts.traces, spanCount, spansPerTrace, bytes, generateMs: performance.now() - t0 };
}

// ---------------------------------------------------------------------------------------------------
// Rounds: trace ID of pool trace t in round r = round-0 ID with its first 4 bytes XOR r (big-endian).

/** The bytes to send for `body` in `round`: rewritten in place when idle, or a rewritten copy if a send of it is still in flight. */
export function bodyForRound(body: Body, round: number): Buffer {
  if (body.round === round) return body.buf;
  const delta = (body.round ^ round) >>> 0;
  const target = body.inFlight > 0 ? Buffer.from(body.buf) : body.buf;
  for (const off of body.idOffsets) target.writeUInt32BE((target.readUInt32BE(off) ^ delta) >>> 0, off);
  if (target === body.buf) body.round = round;
  return target;
}

/** The bytes of `body` in `round`, never rewriting `body` itself (a copy unless `round` is the body's own). */
export function bodyCopyForRound(body: Body, round: number): Buffer {
  if (body.round === round) return body.buf;
  const delta = (body.round ^ round) >>> 0;
  const target = Buffer.from(body.buf);
  for (const off of body.idOffsets) target.writeUInt32BE((target.readUInt32BE(off) ^ delta) >>> 0, off);
  return target;
}

export function traceIdHex(pool: Pool, poolTrace: number, round: number): string {
  const first = (pool.traceIds.readUInt32BE(16 * poolTrace) ^ round) >>> 0;
  return first.toString(16).padStart(8, '0') + pool.traceIds.toString('hex', 16 * poolTrace + 4, 16 * poolTrace + 16);
}

// ---------------------------------------------------------------------------------------------------
// Protobuf wire walking: find each Span.trace_id without decoding (ExportTraceServiceRequest.resource_spans=1
// → ResourceSpans.scope_spans=2 → ScopeSpans.spans=2 → Span.trace_id=1).

function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++]!;
    if (shift < 28) result |= (b & 0x7f) << shift;
    else result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7;
    if (shift > 63) throw new Error('varint too long');
  }
}

function forEachLenField(buf: Uint8Array, start: number, end: number, field: number, fn: (from: number, to: number) => void): void {
  let pos = start;
  while (pos < end) {
    const [tag, p1] = readVarint(buf, pos);
    const no = Math.floor(tag / 8);
    const wt = tag & 7;
    pos = p1;
    switch (wt) {
      case 0:
        pos = readVarint(buf, pos)[1];
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const [len, p2] = readVarint(buf, pos);
        if (no === field) fn(p2, p2 + len);
        pos = p2 + len;
        break;
      }
      default:
        throw new Error(`unsupported wire type ${wt} at ${pos}`);
    }
  }
  if (pos !== end) throw new Error('field overran its message');
}

/** Offsets of the 16 trace-ID bytes of every span in an ExportTraceServiceRequest body. */
export function spanTraceIdOffsets(buf: Uint8Array): number[] {
  const out: number[] = [];
  forEachLenField(buf, 0, buf.length, 1, (rs, rsEnd) =>
    forEachLenField(buf, rs, rsEnd, 2, (ss, ssEnd) =>
      forEachLenField(buf, ss, ssEnd, 2, (sp, spEnd) =>
        forEachLenField(buf, sp, spEnd, 1, (from, to) => {
          if (to - from !== 16) throw new Error(`span trace_id of ${to - from} bytes`);
          out.push(from);
        }),
      ),
    ),
  );
  return out;
}
