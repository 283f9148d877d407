// The TraceQL conformance table: each query with the trace set the brute-force reference expects, over
// `generateDataset()`. Shared by the in-memory engine test and (later) the end-to-end search tests against
// ingesters and flushed blocks, so every path answers the same questions the same way.

import { SERVICES, type FlatSpan, type FlatTrace } from './dataset';
import { durationNs as d, elements, fullMatch, isTrue, ms, num, RefTrace, sec, text, unscoped } from './reference';

export interface ConformanceCase {
  readonly query: string;
  /** True when the trace belongs in the result. */
  readonly expect: (t: RefTrace) => boolean;
  /** The expected set is deliberately empty or complete (other cases must split the dataset). */
  readonly trivial?: 'none' | 'all';
}

type P = (s: FlatSpan) => boolean;
const svc =
  (name: string): P =>
  (s) =>
    text(s.resource['service.name']) === name;
const kind =
  (k: FlatSpan['kind']): P =>
  (s) =>
    s.kind === k;
const status =
  (st: FlatSpan['status']): P =>
  (s) =>
    s.status === st;
const and =
  (...ps: P[]): P =>
  (s) =>
    ps.every((p) => p(s));
const any: P = () => true;
const attr = (s: FlatSpan, k: string) => s.attributes[k];
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

export const CONFORMANCE_CASES: readonly ConformanceCase[] = [
  // ---- filters, intrinsics ----
  { query: '{ }', expect: () => true, trivial: 'all' },
  { query: '{ true }', expect: () => true, trivial: 'all' },
  { query: '{ false }', expect: () => false, trivial: 'none' },
  { query: '{ name = "GET /cart" }', expect: (t) => t.some((s) => s.name === 'GET /cart') },
  { query: '{ span.depth = 0 && name != "GET /" }', expect: (t) => t.some((s) => num(attr(s, 'depth')) === 0 && s.name !== 'GET /') },
  { query: '{ name =~ "GET .*" }', expect: (t) => t.some((s) => s.name.startsWith('GET ')) },
  { query: '{ name =~ "cart" }', expect: (t) => t.some((s) => s.name === 'cart'), trivial: 'none' },
  { query: '{ name =~ ".*cart.*" }', expect: (t) => t.some((s) => s.name.includes('cart')) },
  { query: '{ kind = client && name !~ "db.*" }', expect: (t) => t.some((s) => s.kind === 'client' && !s.name.startsWith('db')) },
  { query: '{ name = "GET /café" }', expect: (t) => t.some((s) => s.name === 'GET /café') },
  { query: '{ status = error }', expect: (t) => t.some(status('error')) },
  { query: '{ status != error }', expect: (t) => t.some((s) => s.status !== 'error') },
  { query: '{ status = ok }', expect: (t) => t.some(status('ok')) },
  { query: '{ status = unset && kind = server }', expect: (t) => t.some(and(status('unset'), kind('server'))) },
  { query: '{ kind = client }', expect: (t) => t.some(kind('client')) },
  { query: '{ kind = producer }', expect: (t) => t.some(kind('producer')) },
  { query: '{ kind = consumer }', expect: (t) => t.some(kind('consumer')) },
  { query: '{ kind != internal && kind != server && kind != client }', expect: (t) => t.some((s) => !['internal', 'server', 'client'].includes(s.kind)) },
  { query: '{ statusMessage = "timeout" }', expect: (t) => t.some((s) => s.statusMessage === 'timeout') },
  { query: '{ statusMessage =~ "conn.*" }', expect: (t) => t.some((s) => s.statusMessage.startsWith('conn')) },
  { query: '{ duration > 500ms }', expect: (t) => t.some((s) => d(s) > ms(500)) },
  { query: '{ duration >= 1s && duration < 1.5s }', expect: (t) => t.some((s) => d(s) >= sec(1) && d(s) < sec(1.5)) },
  { query: '{ duration < 2ms }', expect: (t) => t.some((s) => d(s) < ms(2)) },
  { query: '{ traceDuration > 1s }', expect: (t) => t.durationNs() > sec(1) },
  { query: '{ rootName = "POST /checkout" }', expect: (t) => t.rootName() === 'POST /checkout' },
  { query: '{ rootServiceName = "checkout" }', expect: (t) => t.rootServiceName() === 'checkout' },
  { query: '{ rootServiceName != "frontend" }', expect: (t) => t.rootServiceName() !== undefined && t.rootServiceName() !== 'frontend' },
  { query: '{ kind = client && duration * 4 > traceDuration }', expect: (t) => t.some((s) => s.kind === 'client' && d(s) * 4 > t.durationNs()) },
  {
    query: '{ kind = server && duration > traceDuration / 4 && span.depth > 0 }',
    expect: (t) => t.some((s) => s.kind === 'server' && d(s) > t.durationNs() / 4 && num(attr(s, 'depth'))! > 0),
  },

  // ---- scoped forms of intrinsics ----
  { query: '{ trace:rootService = "checkout" }', expect: (t) => t.rootServiceName() === 'checkout' },
  { query: '{ trace:rootName =~ "GET.*" }', expect: (t) => fullMatch('GET.*', t.rootName()) },
  { query: '{ trace:duration > 1500ms }', expect: (t) => t.durationNs() > ms(1500) },
  { query: '{ span:status = error && span:duration > 100ms }', expect: (t) => t.some((s) => s.status === 'error' && d(s) > ms(100)) },
  { query: '{ span:name = "query" && span:kind = consumer }', expect: (t) => t.some((s) => s.name === 'query' && s.kind === 'consumer') },
  {
    query: '{ instrumentation:version = "1.0.0" && resource.service.name = "checkout" }',
    expect: (t) => t.some((s) => s.scopeVersion === '1.0.0' && svc('checkout')(s)),
  },
  { query: '{ instrumentation:name = "stave-test/payment" }', expect: (t) => t.some(svc('payment')) },

  // ---- attributes, scopes and types ----
  { query: '{ span.http.status_code = 500 }', expect: (t) => t.some((s) => num(attr(s, 'http.status_code')) === 500) },
  { query: '{ span.http.status_code >= 500 }', expect: (t) => t.some((s) => (num(attr(s, 'http.status_code')) ?? -1) >= 500) },
  {
    query: '{ span.http.status_code <= 201 && kind = client }',
    expect: (t) => t.some((s) => (num(attr(s, 'http.status_code')) ?? 1e9) <= 201 && s.kind === 'client'),
  },
  {
    query: '{ span.http.status_code < 300 && duration <= 5ms }',
    expect: (t) => t.some((s) => (num(attr(s, 'http.status_code')) ?? 1e9) < 300 && d(s) <= ms(5)),
  },
  {
    query: '{ span.http.status_code != 200 }',
    expect: (t) => t.some((s) => num(attr(s, 'http.status_code')) !== undefined && num(attr(s, 'http.status_code')) !== 200),
  },
  { query: '{ .http.method = "POST" }', expect: (t) => t.some((s) => text(unscoped(s, 'http.method')) === 'POST') },
  { query: '{ span.http.method =~ "PUT|DELETE" }', expect: (t) => t.some((s) => ['PUT', 'DELETE'].includes(text(attr(s, 'http.method')) ?? '')) },
  { query: '{ resource.service.name = "payment" }', expect: (t) => t.some(svc('payment')) },
  { query: '{ resource.service.name =~ "(?i)DB" }', expect: (t) => t.some(svc('db')) },
  { query: '{ resource.service.name > "db" && resource.service.name < "inventory" }', expect: (t) => t.some((s) => { const n = text(s.resource['service.name'])!; return n > 'db' && n < 'inventory'; }) }, // prettier-ignore
  {
    query: '{ resource.deployment.environment = "staging" && span.http.method = "GET" }',
    expect: (t) => t.some((s) => text(s.resource['deployment.environment']) === 'staging' && text(attr(s, 'http.method')) === 'GET'),
  },
  { query: '{ .service.name = "db" }', expect: (t) => t.some((s) => text(unscoped(s, 'service.name')) === 'db') },
  { query: '{ .region = "ap-south" }', expect: (t) => t.some((s) => text(unscoped(s, 'region')) === 'ap-south') },
  { query: '{ .region = "us-east" }', expect: (t) => t.some((s) => text(unscoped(s, 'region')) === 'us-east') },
  { query: '{ resource.region = "us-east" }', expect: (t) => t.some((s) => text(s.resource.region) === 'us-east') },
  { query: '{ span.region = "us-east" }', expect: () => false, trivial: 'none' },
  { query: '{ resource.shard = 2 }', expect: (t) => t.some((s) => num(s.resource.shard) === 2) },
  { query: '{ span.amount = 100 }', expect: (t) => t.some((s) => num(attr(s, 'amount')) === 100) },
  { query: '{ span.amount = 100.0 }', expect: (t) => t.some((s) => num(attr(s, 'amount')) === 100) },
  { query: '{ span.amount > 99.9 }', expect: (t) => t.some((s) => (num(attr(s, 'amount')) ?? -1) > 99.9) },
  { query: '{ span.amount = 99.5 }', expect: (t) => t.some((s) => num(attr(s, 'amount')) === 99.5) },
  { query: '{ span.code = 200 }', expect: (t) => t.some((s) => attr(s, 'code')?.t === 'int') },
  { query: '{ span.code = "200" }', expect: (t) => t.some((s) => text(attr(s, 'code')) === '200') },
  { query: '{ span.code != "200" }', expect: (t) => t.some((s) => text(attr(s, 'code')) !== undefined && text(attr(s, 'code')) !== '200'), trivial: 'none' },
  { query: '{ span.price = 20 }', expect: (t) => t.some((s) => num(attr(s, 'price')) === 20) },
  { query: '{ span.price > 10 && span.price < 30 }', expect: (t) => t.some((s) => { const p = num(attr(s, 'price')); return p !== undefined && p > 10 && p < 30; }) }, // prettier-ignore
  { query: '{ span.cache.hit = true }', expect: (t) => t.some((s) => isTrue(attr(s, 'cache.hit'))) },
  { query: '{ span.cache.hit != true }', expect: (t) => t.some((s) => attr(s, 'cache.hit')?.t === 'bool' && !isTrue(attr(s, 'cache.hit'))) },
  { query: '{ span.cache.hit }', expect: (t) => t.some((s) => isTrue(attr(s, 'cache.hit'))) },
  { query: '{ !span.cache.hit }', expect: (t) => t.some((s) => attr(s, 'cache.hit')?.t === 'bool' && !isTrue(attr(s, 'cache.hit'))) },
  { query: '{ span.retry.count > 1 }', expect: (t) => t.some((s) => (num(attr(s, 'retry.count')) ?? -1) > 1) },
  { query: '{ span.retry.count != nil }', expect: (t) => t.some((s) => attr(s, 'retry.count') !== undefined) },
  { query: '{ span.amount != nil && span.code != nil }', expect: (t) => t.some((s) => attr(s, 'amount') !== undefined && attr(s, 'code') !== undefined) },
  { query: '{ span.nope = "x" }', expect: () => false, trivial: 'none' },
  { query: '{ span.http.url =~ "http://db:8080/.*" }', expect: (t) => t.some((s) => (text(attr(s, 'http.url')) ?? '').startsWith('http://db:8080/')) },
  { query: '{ span.db.statement =~ "SELECT .*" }', expect: (t) => t.some((s) => fullMatch('SELECT .*', text(attr(s, 'db.statement')))) },
  {
    query: '{ span.db.statement !~ "SELECT.*" }',
    expect: (t) => t.some((s) => text(attr(s, 'db.statement')) !== undefined && !fullMatch('SELECT.*', text(attr(s, 'db.statement')))),
  },
  { query: '{ span.note =~ "line one.line two" }', expect: (t) => t.some((s) => attr(s, 'note') !== undefined) },
  { query: '{ span."http status" = "bad \\"quoted\\"" }', expect: (t) => t.some((s) => text(attr(s, 'http status')) === 'bad "quoted"') },
  { query: '{ span.tags = "beta" }', expect: (t) => t.some((s) => elements(attr(s, 'tags')).includes('beta')) },
  { query: '{ span.tags != "alpha" }', expect: (t) => t.some((s) => elements(attr(s, 'tags')).some((e) => e !== 'alpha')) },
  { query: '{ span.tags =~ "de.*" }', expect: (t) => t.some((s) => elements(attr(s, 'tags')).some((e) => fullMatch('de.*', String(e)))) },
  { query: '{ span.ids = 2 }', expect: (t) => t.some((s) => elements(attr(s, 'ids')).includes(2)) },
  { query: '{ span.ids < 2 }', expect: (t) => t.some((s) => elements(attr(s, 'ids')).some((e) => (e as number) < 2)) },
  { query: '{ span.ratios = 1.5 }', expect: (t) => t.some((s) => elements(attr(s, 'ratios')).includes(1.5)) },
  { query: '{ span.ratios >= 1 }', expect: (t) => t.some((s) => elements(attr(s, 'ratios')).some((e) => (e as number) >= 1)) },
  { query: '{ span.flags = true }', expect: (t) => t.some((s) => elements(attr(s, 'flags')).includes(true)) },

  // ---- arithmetic and boolean structure ----
  { query: '{ span.depth = 3 }', expect: (t) => t.some((s) => num(attr(s, 'depth')) === 3) },
  { query: '{ span.depth * 2 = 6 }', expect: (t) => t.some((s) => num(attr(s, 'depth')) === 3) },
  { query: '{ span.depth + 1 > 4 }', expect: (t) => t.some((s) => num(attr(s, 'depth'))! + 1 > 4) },
  { query: '{ span.retry.count - 1 = 1 }', expect: (t) => t.some((s) => num(attr(s, 'retry.count')) === 2) },
  { query: '{ span.depth / 2 = 1 }', expect: (t) => t.some((s) => Math.trunc(num(attr(s, 'depth'))! / 2) === 1) },
  { query: '{ span.depth % 2 = 1 && span.depth > 2 }', expect: (t) => t.some((s) => num(attr(s, 'depth'))! % 2 === 1 && num(attr(s, 'depth'))! > 2) },
  { query: '{ span.price * 2 > 40 }', expect: (t) => t.some((s) => (num(attr(s, 'price')) ?? 0) * 2 > 40) },
  { query: '{ span.price ^ 2 > 400 }', expect: (t) => t.some((s) => (num(attr(s, 'price')) ?? 0) ** 2 > 400) },
  { query: '{ -span.depth < -3 }', expect: (t) => t.some((s) => -num(attr(s, 'depth'))! < -3) },
  {
    // && and || share one precedence level and associate left: ((a || b) && c)
    query: '{ span.depth > 4 || span.http.status_code = 404 && kind = client }',
    expect: (t) => t.some((s) => (num(attr(s, 'depth'))! > 4 || num(attr(s, 'http.status_code')) === 404) && s.kind === 'client'),
  },
  {
    query: '{ kind = server && (span.depth > 4 || span.http.status_code = 404) }',
    expect: (t) => t.some((s) => s.kind === 'server' && (num(attr(s, 'depth'))! > 4 || num(attr(s, 'http.status_code')) === 404)),
  },
  {
    query: '{ !(kind = server || kind = client) && status = error }',
    expect: (t) => t.some((s) => s.kind !== 'server' && s.kind !== 'client' && s.status === 'error'),
  },

  // ---- events and links ----
  { query: '{ event:name = "exception" }', expect: (t) => t.some((s) => s.events.some((e) => e.name === 'exception')) },
  { query: '{ event.exception.type = "Timeout" }', expect: (t) => t.some((s) => s.events.some((e) => text(e.attributes['exception.type']) === 'Timeout')) },
  {
    query: '{ event:name = "cache.miss" && event.attempt = 2 }',
    expect: (t) => t.some((s) => s.events.some((e) => e.name === 'cache.miss' && num(e.attributes.attempt) === 2)),
  },
  {
    query: '{ event:name = "exception" && resource.service.name = "db" }',
    expect: (t) => t.some((s) => svc('db')(s) && s.events.some((e) => e.name === 'exception')),
  },
  { query: '{ link:spanID != nil }', expect: (t) => t.some((s) => s.links.length > 0) },
  {
    query: '{ link.link.kind = "follows" && kind = consumer }',
    expect: (t) => t.some((s) => s.kind === 'consumer' && s.links.some((l) => text(l.attributes['link.kind']) === 'follows')),
  },

  // ---- spanset operators ----
  { query: '{ resource.service.name = "payment" } && { status = error }', expect: (t) => t.some(svc('payment')) && t.some(status('error')) },
  {
    query: '{ resource.service.name = "payment" } || { span.retry.count = 3 }',
    expect: (t) => t.some(svc('payment')) || t.some((s) => num(attr(s, 'retry.count')) === 3),
  },
  {
    query: '{ span.cache.hit = true } && { span.cache.hit = false }',
    expect: (t) => t.some((s) => isTrue(attr(s, 'cache.hit'))) && t.some((s) => attr(s, 'cache.hit')?.t === 'bool' && !isTrue(attr(s, 'cache.hit'))),
  },
  {
    query: '({ kind = server } && { status = error }) || { rootServiceName = "checkout" }',
    expect: (t) => (t.some(kind('server')) && t.some(status('error'))) || t.rootServiceName() === 'checkout',
  },

  // ---- structural ----
  {
    query: '{ resource.service.name = "frontend" } > { resource.service.name = "checkout" }',
    expect: (t) => t.related(svc('frontend'), svc('checkout'), (r, l) => t.isChildOf(r, l)).length > 0,
  },
  { query: '{ kind = client } > { kind = consumer }', expect: (t) => t.related(kind('client'), kind('consumer'), (r, l) => t.isChildOf(r, l)).length > 0 },
  {
    query: '{ resource.service.name = "db" } < { kind = client }',
    expect: (t) => t.related(svc('db'), kind('client'), (r, l) => t.isChildOf(l, r)).length > 0,
  },
  {
    query: '{ rootServiceName = "frontend" && kind = server } >> { resource.service.name = "db" }',
    expect: (t) =>
      t.related(
        (s) => t.rootServiceName() === 'frontend' && s.kind === 'server',
        svc('db'),
        (r, l) => t.isDescendantOf(r, l),
      ).length > 0,
  },
  { query: '{ status = error } << { kind = server }', expect: (t) => t.related(status('error'), kind('server'), (r, l) => t.isDescendantOf(l, r)).length > 0 },
  { query: '{ } >> { status = error }', expect: (t) => t.related(any, status('error'), (r, l) => t.isDescendantOf(r, l)).length > 0 },
  {
    query: '{ name = "query" } ~ { name = "connect" }',
    expect: (t) =>
      t.related(
        (s) => s.name === 'query',
        (s) => s.name === 'connect',
        (r, l) => t.isSiblingOf(r, l),
      ).length > 0,
  },
  { query: '{ kind = client } ~ { kind = client }', expect: (t) => t.related(kind('client'), kind('client'), (r, l) => t.isSiblingOf(r, l)).length > 0 },
  {
    query: '{ resource.service.name = "frontend" } !> { resource.service.name = "checkout" }',
    expect: (t) => t.unrelated(svc('frontend'), svc('checkout'), (r, l) => t.isChildOf(r, l)).length > 0,
  },
  {
    query: '{ kind = server } !>> { status = error }',
    expect: (t) => t.unrelated(kind('server'), status('error'), (r, l) => t.isDescendantOf(r, l)).length > 0,
  },
  {
    query: '{ status = error } !<< { kind = server }',
    expect: (t) => t.unrelated(status('error'), kind('server'), (r, l) => t.isDescendantOf(l, r)).length > 0,
  },
  { query: '{ status = error } !< { kind = client }', expect: (t) => t.unrelated(status('error'), kind('client'), (r, l) => t.isChildOf(l, r)).length > 0 },
  {
    query: '{ name = "query" } !~ { resource.service.name = "db" }',
    expect: (t) =>
      t.unrelated(
        (s) => s.name === 'query',
        svc('db'),
        (r, l) => t.isSiblingOf(r, l),
      ).length > 0,
  },
  { query: '{ kind = client } &> { kind = server }', expect: (t) => t.related(kind('client'), kind('server'), (r, l) => t.isChildOf(r, l)).length > 0 },
  { query: '{ status = error } &<< { kind = server }', expect: (t) => t.related(status('error'), kind('server'), (r, l) => t.isDescendantOf(l, r)).length > 0 },
  {
    query: '{ kind = server } &>> { resource.service.name = "db" }',
    expect: (t) => t.related(kind('server'), svc('db'), (r, l) => t.isDescendantOf(r, l)).length > 0,
  },
  {
    query: '{ } &~ { name = "query" }',
    expect: (t) =>
      t.related(
        any,
        (s) => s.name === 'query',
        (r, l) => t.isSiblingOf(r, l),
      ).length > 0,
  },
  { query: '{ status = error } &< { kind = client }', expect: (t) => t.related(status('error'), kind('client'), (r, l) => t.isChildOf(l, r)).length > 0 },
  {
    // structural binds tighter than spanset &&
    query: '{ resource.service.name = "cart" } && { kind = client } > { status = error }',
    expect: (t) => t.some(svc('cart')) && t.related(kind('client'), status('error'), (r, l) => t.isChildOf(r, l)).length > 0,
  },
  {
    query: '{ resource.deployment.environment = "staging" } >> { span.http.status_code = 503 }',
    expect: (t) =>
      t.related(
        (s) => text(s.resource['deployment.environment']) === 'staging',
        (s) => num(attr(s, 'http.status_code')) === 503,
        (r, l) => t.isDescendantOf(r, l),
      ).length > 0,
  },
  {
    // chained: spans of C below a B that is below an A
    query: '{ resource.service.name = "frontend" } >> { resource.service.name = "cart" } >> { resource.service.name = "db" }',
    expect: (t) => {
      const carts = t.related(svc('frontend'), svc('cart'), (r, l) => t.isDescendantOf(r, l));
      return t.where(svc('db')).some((r) => carts.some((l) => t.isDescendantOf(r, l)));
    },
  },

  // ---- pipelines ----
  { query: '{ } | count() > 15', expect: (t) => t.count() > 15 },
  { query: 'count() > 12', expect: (t) => t.count() > 12 },
  { query: '{ kind = client } | count() >= 4', expect: (t) => t.count(kind('client')) >= 4 },
  { query: '{ status = error } | count() = 1', expect: (t) => t.count(status('error')) === 1 },
  { query: '{ status = error } | count() != 1', expect: (t) => t.count(status('error')) > 1 },
  {
    query: '{ resource.service.name = "db" } | avg(duration) > 20ms',
    expect: (t) => {
      const ds = t.where(svc('db')).map(d);
      return ds.length > 0 && Math.trunc(sum(ds) / ds.length) > ms(20);
    },
  },
  { query: '{ } | max(duration) > 1s', expect: (t) => Math.max(...t.spans.map(d)) > sec(1) },
  { query: '{ kind = server } | min(duration) < 10ms', expect: (t) => t.count(kind('server')) > 0 && Math.min(...t.where(kind('server')).map(d)) < ms(10) },
  { query: '{ span.http.status_code != nil } | sum(span.http.status_code) > 2000', expect: (t) => { const xs = t.spans.map((s) => num(attr(s, 'http.status_code'))).filter((x): x is number => x !== undefined); return xs.length > 0 && sum(xs) > 2000; } }, // prettier-ignore
  { query: '{ span.price != nil } | avg(span.price) > 20', expect: (t) => { const xs = t.spans.map((s) => num(attr(s, 'price'))).filter((x): x is number => x !== undefined); return xs.length > 0 && sum(xs) / xs.length > 20; } }, // prettier-ignore
  { query: '{ status = error || kind = client } | count() > 5', expect: (t) => t.count((s) => s.status === 'error' || s.kind === 'client') > 5 },
  {
    query: '{ } | by(resource.service.name) | count() > 5',
    expect: (t) => SERVICES.some((n) => t.count(svc(n)) > 5),
  },
  {
    query: '{ status = error } | by(resource.service.name) | count() >= 2',
    expect: (t) => SERVICES.some((n) => t.count(and(svc(n), status('error'))) >= 2),
  },
  { query: '{ } | by(resource.service.name) | coalesce() | count() > 20', expect: (t) => t.count() > 20 },
  {
    query: '{ } | by(kind) | count() > 6',
    expect: (t) => (['internal', 'server', 'client', 'producer', 'consumer'] as const).some((k) => t.count(kind(k)) > 6),
  },
  { query: '{ span.depth >= 2 } | select(span.http.method, resource.service.name)', expect: (t) => t.some((s) => num(attr(s, 'depth'))! >= 2) },
  {
    query: '({ kind = server } | count() > 3) && ({ status = error } | count() > 1)',
    expect: (t) => t.count(kind('server')) > 3 && t.count(status('error')) > 1,
  },
  {
    query: '({ resource.service.name = "db" } | count() > 2) || ({ rootName = "GET /café" })',
    expect: (t) => t.count(svc('db')) > 2 || t.rootName() === 'GET /café',
  },
  {
    query: '{ span.http.status_code = 500 || span.http.status_code = 503 } | count() > 1 | { kind = server }',
    expect: (t) =>
      t.count((s) => [500, 503].includes(num(attr(s, 'http.status_code')) ?? 0)) > 1 &&
      t.some((s) => s.kind === 'server' && [500, 503].includes(num(attr(s, 'http.status_code')) ?? 0)),
  },
];

/** The trace IDs the reference expects for a case, in dataset order. */
export function expectedTraceIds(c: ConformanceCase, traces: readonly FlatTrace[]): string[] {
  return traces
    .map((t) => new RefTrace(t))
    .filter((t) => c.expect(t))
    .map((t) => t.traceId);
}
