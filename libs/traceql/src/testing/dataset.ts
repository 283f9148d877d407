// A fixed, generated trace dataset for TraceQL conformance: deterministic for a seed, built first as flat
// span records (what the brute-force reference reads) and then encoded as OTLP batches (what the engine,
// the ingesters and the blocks read). Traces are spread over several batches and resources, nest up to
// eight levels, span six services, carry errors, events, links and attributes of every type TraceQL
// searches: string, int, float, bool and arrays of each; some keys hold an int on one span and a float or
// a string on another, and `region` exists on both spans and resources, to exercise coercion and scoping.

import { create } from '@bufbuild/protobuf';
import { TracesDataSchema, type AnyValue, type KeyValue, type TracesData } from '@stave/proto';

export type FlatValue =
  | { readonly t: 'string'; readonly v: string }
  | { readonly t: 'int'; readonly v: number }
  | { readonly t: 'float'; readonly v: number }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'stringArray'; readonly v: readonly string[] }
  | { readonly t: 'intArray'; readonly v: readonly number[] }
  | { readonly t: 'floatArray'; readonly v: readonly number[] }
  | { readonly t: 'boolArray'; readonly v: readonly boolean[] };

export type FlatAttributes = Readonly<Record<string, FlatValue>>;
export type FlatKind = 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type FlatStatus = 'unset' | 'ok' | 'error';

export interface FlatEvent {
  readonly name: string;
  readonly timeUnixNano: bigint;
  readonly attributes: FlatAttributes;
}

export interface FlatLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly attributes: FlatAttributes;
}

export interface FlatSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: FlatKind;
  readonly status: FlatStatus;
  readonly statusMessage: string;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: FlatAttributes;
  readonly resource: FlatAttributes;
  readonly scopeName: string;
  readonly scopeVersion: string;
  readonly events: readonly FlatEvent[];
  readonly links: readonly FlatLink[];
}

export interface FlatTrace {
  readonly traceId: string;
  readonly spans: readonly FlatSpan[];
}

export interface Dataset {
  readonly traces: readonly FlatTrace[];
  /** The same spans as OTLP: each trace's spans grouped by resource, traces spread over batches. */
  readonly batches: readonly TracesData[];
}

export interface DatasetOptions {
  readonly traces?: number;
  readonly seed?: number;
  /** Start of the first trace (default 2026-01-01T00:00:00Z); traces start one second apart. */
  readonly baseTimeUnixNano?: bigint;
}

/** mulberry32: small, fast, and the same sequence on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const SERVICES = ['frontend', 'checkout', 'cart', 'payment', 'inventory', 'db'] as const;
type Service = (typeof SERVICES)[number];
const CALLS: Record<Service, readonly Service[]> = {
  frontend: ['checkout', 'cart', 'inventory'],
  checkout: ['payment', 'cart', 'inventory'],
  cart: ['db', 'inventory'],
  payment: ['db'],
  inventory: ['db'],
  db: [],
};
const ROUTES = ['GET /', 'GET /cart', 'POST /checkout', 'GET /product/{id}', 'GET /café'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const STATUS_CODES = [200, 200, 200, 201, 404, 500, 503];
const STATEMENTS = ['SELECT * FROM users WHERE id = ?', 'SELECT * FROM carts', 'UPDATE stock SET n = n - 1', 'INSERT INTO orders VALUES (?)'];
const TAGS: readonly (readonly string[])[] = [['alpha'], ['alpha', 'beta'], ['gamma'], ['beta', 'delta', 'alpha']];

const s = (v: string): FlatValue => ({ t: 'string', v });
const i = (v: number): FlatValue => ({ t: 'int', v });
const f = (v: number): FlatValue => ({ t: 'float', v });
const b = (v: boolean): FlatValue => ({ t: 'bool', v });

export function generateDataset(options: DatasetOptions = {}): Dataset {
  const rand = rng(options.seed ?? 20260101);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chance = (p: number): boolean => rand() < p;
  const hex = (bytes: number): string => {
    let out = '';
    for (let k = 0; k < bytes; k++)
      out += Math.floor(rand() * 256)
        .toString(16)
        .padStart(2, '0');
    return out;
  };
  const base = options.baseTimeUnixNano ?? 1767225600000000000n;
  const traces: FlatTrace[] = [];
  const count = options.traces ?? 60;

  for (let n = 0; n < count; n++) {
    const traceId = hex(16);
    const env = n % 3 === 0 ? 'staging' : 'prod';
    const resources = new Map<Service, FlatAttributes>();
    const resourceOf = (svc: Service): FlatAttributes => {
      let r = resources.get(svc);
      if (r === undefined) {
        const attrs: Record<string, FlatValue> = {
          'service.name': s(svc),
          'deployment.environment': s(env),
          'host.name': s(`${svc}-${Math.floor(rand() * 3)}`),
          region: s(pick(['eu-west', 'us-east'])),
        };
        if (chance(0.5)) attrs.shard = i(Math.floor(rand() * 4));
        if (svc === 'db') attrs['db.system'] = s(pick(['postgresql', 'redis']));
        r = attrs;
        resources.set(svc, r);
      }
      return r;
    };
    const spans: FlatSpan[] = [];
    const start = base + BigInt(n) * 1_000_000_000n;
    const maxDepth = 1 + Math.floor(rand() * 6);

    const makeSpan = (
      svc: Service,
      parent: FlatSpan | undefined,
      depth: number,
      startNs: bigint,
      budgetNs: number,
      kind: FlatKind,
      callee?: Service,
    ): FlatSpan => {
      const spanId = hex(8);
      const durationNs = Math.max(1000, Math.floor(budgetNs * (0.3 + rand() * 0.7)));
      const attrs: Record<string, FlatValue> = {};
      let name: string;
      if (parent === undefined) name = pick(ROUTES);
      else if (callee !== undefined) name = `${callee} call`;
      else if (svc === 'db') name = pick(['query', 'connect']);
      else name = `${svc}.${pick(['handle', 'process', 'validate'])}`;
      if (kind === 'server' || kind === 'client') {
        attrs['http.method'] = s(pick(METHODS));
        attrs['http.status_code'] = i(pick(STATUS_CODES));
      }
      if (kind === 'client') attrs['http.url'] = s(`http://${callee ?? svc}:8080/api/${Math.floor(rand() * 1000)}`);
      if (kind === 'client' && chance(0.5)) attrs['retry.count'] = i(Math.floor(rand() * 4));
      if (svc === 'db') {
        attrs['db.statement'] = s(pick(STATEMENTS));
        attrs['cache.hit'] = b(chance(0.4));
      }
      if (svc === 'cart' || svc === 'checkout') attrs.price = f(pick([9.99, 20, 15.5, 42]));
      if (chance(0.3)) attrs.amount = chance(0.5) ? i(pick([100, 250])) : f(pick([100, 99.5]));
      if (chance(0.25)) attrs.code = chance(0.5) ? s('200') : i(200);
      if (chance(0.3)) attrs.tags = { t: 'stringArray', v: pick(TAGS) };
      if (chance(0.2)) attrs.ids = { t: 'intArray', v: [1 + Math.floor(rand() * 3), 5] };
      if (chance(0.15)) attrs.ratios = { t: 'floatArray', v: [0.5, pick([0.25, 1.5])] };
      if (chance(0.15)) attrs.flags = { t: 'boolArray', v: [chance(0.5), false] };
      if (chance(0.15)) attrs.region = s(pick(['eu-west', 'ap-south']));
      if (chance(0.1)) attrs['http status'] = s(pick(['fine', 'bad "quoted"']));
      if (chance(0.1)) attrs.note = s('line one\nline two');
      attrs.depth = i(depth);

      let status: FlatStatus = 'unset';
      let statusMessage = '';
      const events: FlatEvent[] = [];
      const code = attrs['http.status_code'];
      if ((code?.t === 'int' && code.v >= 500) || chance(0.05)) {
        status = 'error';
        statusMessage = pick(['boom', 'timeout', 'connection refused']);
        events.push({
          name: 'exception',
          timeUnixNano: startNs + BigInt(Math.floor(durationNs / 2)),
          attributes: { 'exception.type': s(pick(['IOError', 'Timeout'])), 'exception.message': s(statusMessage) },
        });
      } else if (chance(0.2)) {
        status = 'ok';
      }
      if (chance(0.15))
        events.push({
          name: 'cache.miss',
          timeUnixNano: startNs + 1000n,
          attributes: { key: s(`k${Math.floor(rand() * 5)}`), attempt: i(1 + Math.floor(rand() * 2)) },
        });

      const span: FlatSpan = {
        traceId,
        spanId,
        parentSpanId: parent?.spanId ?? '',
        name,
        kind,
        status,
        statusMessage,
        startTimeUnixNano: startNs,
        endTimeUnixNano: startNs + BigInt(durationNs),
        attributes: attrs,
        resource: resourceOf(svc),
        scopeName: `stave-test/${svc}`,
        scopeVersion: svc === 'frontend' || svc === 'cart' || svc === 'db' ? '1.2.0' : '1.0.0',
        events,
        links: [],
      };
      spans.push(span);

      if (depth < maxDepth && callee === undefined) {
        let cursor = startNs + 1000n;
        const callees = CALLS[svc];
        const fanout = depth === 0 ? 1 + Math.floor(rand() * 3) : Math.floor(rand() * 3);
        for (let c = 0; c < fanout; c++) {
          const childBudget = Math.floor(durationNs / (fanout + 1));
          if (callees.length > 0 && chance(0.75)) {
            // an outgoing call: a client span in this service, a server span below it in the callee
            const to = pick(callees);
            const client = makeSpan(svc, span, depth + 1, cursor, childBudget, 'client', to);
            makeSpan(to, client, depth + 2, cursor + 500n, Math.floor(childBudget * 0.9), to === 'db' && chance(0.3) ? 'consumer' : 'server');
          } else {
            makeSpan(svc, span, depth + 1, cursor, childBudget, chance(0.2) ? 'producer' : 'internal');
          }
          cursor += BigInt(childBudget);
        }
      }
      return span;
    };

    makeSpan(n % 7 === 6 ? 'checkout' : 'frontend', undefined, 0, start, 50_000_000 + Math.floor(rand() * 2_000_000_000), 'server');
    // links: consumers point at a producer of this trace when there is one
    const producer = spans.find((x) => x.kind === 'producer');
    for (let k = 0; k < spans.length; k++) {
      const sp = spans[k]!;
      if (sp.kind === 'consumer' && producer !== undefined)
        spans[k] = { ...sp, links: [{ traceId, spanId: producer.spanId, attributes: { 'link.kind': s('follows') } }] };
    }
    // every tenth trace loses a middle span's parent: an orphan, connected to no root
    if (n % 10 === 5 && spans.length > 3) {
      const k = spans.length - 1;
      spans[k] = { ...spans[k]!, parentSpanId: hex(8) };
    }
    traces.push({ traceId, spans });
  }
  return { traces, batches: toBatches(traces) };
}

// ---- OTLP encoding ----

const KIND_NUMBER: Record<FlatKind, number> = { unspecified: 0, internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
const STATUS_NUMBER: Record<FlatStatus, number> = { unset: 0, ok: 1, error: 2 };

function anyValue(v: FlatValue): AnyValue {
  const scalar = (x: string | number | boolean, t: string): unknown => {
    switch (t) {
      case 'string':
        return { case: 'stringValue', value: x };
      case 'int':
        return { case: 'intValue', value: BigInt(x as number) };
      case 'float':
        return { case: 'doubleValue', value: x };
      default:
        return { case: 'boolValue', value: x };
    }
  };
  if (v.t.endsWith('Array')) {
    const et = v.t.replace('Array', '');
    const values = (v.v as readonly (string | number | boolean)[]).map((x) => ({ value: scalar(x, et) }));
    return { value: { case: 'arrayValue', value: { values } } } as unknown as AnyValue;
  }
  return { value: scalar(v.v as string | number | boolean, v.t) } as unknown as AnyValue;
}

const keyValues = (attrs: FlatAttributes): KeyValue[] => Object.entries(attrs).map(([key, v]) => ({ key, value: anyValue(v) }) as unknown as KeyValue);
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

/** Three batches; each trace's spans are grouped by resource, and every other trace is split over two batches. */
function toBatches(traces: readonly FlatTrace[]): TracesData[] {
  const batches: { resource: FlatAttributes; spans: FlatSpan[] }[][] = [[], [], []];
  traces.forEach((t, n) => {
    const half = Math.ceil(t.spans.length / 2);
    const parts = n % 2 === 0 ? [t.spans.slice(0, half), t.spans.slice(half)] : [t.spans];
    parts.forEach((part, p) => {
      const batch = batches[(n + p) % batches.length]!;
      for (const sp of part) {
        let group = batch.find((g) => g.resource === sp.resource);
        if (group === undefined) {
          group = { resource: sp.resource, spans: [] };
          batch.push(group);
        }
        group.spans.push(sp);
      }
    });
  });
  return batches.map((groups) =>
    create(TracesDataSchema, {
      resourceSpans: groups.map((g) => ({
        resource: { attributes: keyValues(g.resource) },
        scopeSpans: [
          {
            scope: { name: g.spans[0]!.scopeName, version: g.spans[0]!.scopeVersion },
            spans: g.spans.map((sp) => ({
              traceId: bytes(sp.traceId),
              spanId: bytes(sp.spanId),
              parentSpanId: sp.parentSpanId === '' ? new Uint8Array(0) : bytes(sp.parentSpanId),
              name: sp.name,
              kind: KIND_NUMBER[sp.kind],
              startTimeUnixNano: sp.startTimeUnixNano,
              endTimeUnixNano: sp.endTimeUnixNano,
              attributes: keyValues(sp.attributes),
              events: sp.events.map((e) => ({ name: e.name, timeUnixNano: e.timeUnixNano, attributes: keyValues(e.attributes) })),
              links: sp.links.map((l) => ({ traceId: bytes(l.traceId), spanId: bytes(l.spanId), attributes: keyValues(l.attributes) })),
              status: { code: STATUS_NUMBER[sp.status], message: sp.statusMessage },
            })),
          },
        ],
      })),
    }),
  );
}
