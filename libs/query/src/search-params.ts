// `GET /api/search` parameters, parsed and checked as Tempo's ParseSearchRequest does (with its 400
// messages), and Tempo's `tags` (logfmt) turned into the TraceQL query Stave evaluates.

import { Code, ConnectError } from '@stave/server';
import { DEFAULT_SPANS_PER_SPANSET, staticToString } from '@stave/traceql';

export interface SearchParams {
  /** TraceQL to evaluate (from `q`, or built from `tags`; `{}` when neither is given). */
  query: string;
  limit: number;
  spss: number;
  start: number;
  end: number;
  minDurationMs: number;
  maxDurationMs: number;
}

export interface SearchLimits {
  /** `query_frontend.search.default_result_limit`. */
  defaultLimit: number;
  /** `query_frontend.search.max_result_limit` (0: none). */
  maxLimit: number;
  /** `query_frontend.search.max_duration` in ms (0: none). */
  maxDurationMs: number;
  /** `query_frontend.search.max_spans_per_span_set` (0: none). */
  maxSpansPerSpanSet: number;
  /** Tempo's default `spss` (3). */
  defaultSpansPerSpanSet?: number;
}

const bad = (msg: string) => new ConnectError(msg, Code.InvalidArgument);

/** Go's strconv error text, which Tempo's messages wrap. */
function parseIntGo(fn: 'ParseInt' | 'Atoi', s: string, bits32: boolean): number {
  if (!/^[+-]?\d+$/.test(s)) throw new Error(`strconv.${fn}: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || (bits32 && (n > 2 ** 31 - 1 || n < -(2 ** 31))))
    throw new Error(`strconv.${fn}: parsing ${JSON.stringify(s)}: value out of range`);
  return n;
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds. */
function parseGoDurationMs(s: string): number {
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (s === '0') return 0;
  if (!m) throw new Error(`time: invalid duration ${JSON.stringify(s)}`);
  let total = 0;
  for (const part of s.replace(/^[+-]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(part[1]) * GO_UNITS[part[2]!]!;
  return m[1] === '-' ? -total : total;
}

/** Tempo's logfmt `tags`: `key=value key2="quoted value"`; a key set twice is an error. */
export function parseLogfmt(s: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n')) i++;
    if (i >= n) break;
    const ks = i;
    while (i < n && s[i] !== '=' && s[i] !== ' ' && s[i] !== '"') i++;
    if (s[i] === '"') throw bad(`invalid tags: unexpected '"' at pos ${i + 1}`);
    const key = s.slice(ks, i);
    if (key === '') throw bad(`invalid tags: unexpected '=' at pos ${i + 1}`);
    let value = '';
    if (s[i] === '=') {
      i++;
      if (s[i] === '"') {
        i++;
        let v = '';
        for (;;) {
          if (i >= n) throw bad(`invalid tags: unterminated quoted value at pos ${i + 1}`);
          const c = s[i]!;
          if (c === '\\' && i + 1 < n) {
            const e = s[i + 1]!;
            v += e === 'n' ? '\n' : e === 't' ? '\t' : e;
            i += 2;
            continue;
          }
          if (c === '"') {
            i++;
            break;
          }
          v += c;
          i++;
        }
        value = v;
      } else {
        const vs = i;
        while (i < n && s[i] !== ' ' && s[i] !== '\t' && s[i] !== '\n') i++;
        value = s.slice(vs, i);
      }
    }
    if (out.has(key)) throw bad(`invalid tags: tag ${key} has been set twice`);
    out.set(key, value);
  }
  return out;
}

const quote = (v: string) => JSON.stringify(v);
const escapeRegex = (v: string) => v.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/**
 * Tempo's tag search as TraceQL: the well-known columns (`name`, `service.name`, `root.name`,
 * `root.service.name`, `http.method`, `http.url`) match by substring, `status.code` and a numeric
 * `http.status_code` exactly, any other tag is an attribute (span or resource) equal to the value. Every
 * tag must match somewhere in the trace.
 */
export function tagsToTraceQL(tags: ReadonlyMap<string, string>): string {
  const filters: string[] = [];
  const substring = (field: string, v: string) => `{ ${field} =~ ${quote(`.*${escapeRegex(v)}.*`)} }`;
  for (const [k, v] of tags) {
    switch (k) {
      case 'name':
        filters.push(substring('name', v));
        break;
      case 'root.name':
        filters.push(substring('rootName', v));
        break;
      case 'root.service.name':
        filters.push(substring('rootServiceName', v));
        break;
      case 'service.name':
        filters.push(substring('resource.service.name', v));
        break;
      case 'http.method':
      case 'http.url':
        filters.push(substring(`span.${k}`, v));
        break;
      case 'status.code':
        filters.push(`{ status = ${/^(error|ok|unset)$/.test(v) ? v : quote(v)} }`);
        break;
      case 'http.status_code':
        filters.push(/^\d+$/.test(v) ? `{ span.http.status_code = ${v} }` : `{ span.http.status_code = ${quote(v)} }`);
        break;
      default:
        filters.push(`{ .${/^[\w.-]+$/.test(k) ? k : quote(k)} = ${quote(v)} }`);
    }
  }
  return filters.length === 0 ? '{}' : filters.join(' && ');
}

/** `start`/`end` of the tag endpoints: Tempo parses them as 32-bit integers (0 when absent). */
export function parseUnixSeconds32(name: 'start' | 'end', v: string | null): number {
  if (v === null || v === '') return 0;
  try {
    return parseIntGo('ParseInt', v, true);
  } catch (err) {
    throw bad(`invalid ${name}: ${(err as Error).message}`);
  }
}

/** The search request in `url`, as Tempo's ParseSearchRequest plus the frontend's limit and range checks. */
export function parseSearchParams(url: URL, limits: SearchLimits): SearchParams {
  const p = url.searchParams;
  const wrap = <T>(prefix: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ConnectError) throw err;
      throw bad(`${prefix}: ${(err as Error).message}`);
    }
  };
  const has = (k: string) => p.has(k) && p.get(k) !== '';
  const start = has('start') ? wrap('invalid start', () => parseIntGo('ParseInt', p.get('start')!, true)) : 0;
  const end = has('end') ? wrap('invalid end', () => parseIntGo('ParseInt', p.get('end')!, true)) : 0;
  let query = has('q') ? p.get('q')! : '';
  if (has('tags')) {
    if (has('q')) throw bad("invalid request: can't specify tags and q in the same query");
    query = tagsToTraceQL(parseLogfmt(p.get('tags')!));
  }
  if (query.trim() === '') query = '{}';
  const minDurationMs = has('minDuration') ? wrap('invalid minDuration', () => Math.trunc(parseGoDurationMs(p.get('minDuration')!))) : 0;
  let maxDurationMs = 0;
  if (has('maxDuration')) {
    maxDurationMs = wrap('invalid maxDuration', () => Math.trunc(parseGoDurationMs(p.get('maxDuration')!)));
    if (minDurationMs !== 0 && minDurationMs > maxDurationMs) throw bad('invalid maxDuration: must be greater than minDuration');
  }
  let limit = 0;
  if (has('limit')) {
    limit = wrap('invalid limit', () => parseIntGo('Atoi', p.get('limit')!, false));
    if (limit <= 0) throw bad('invalid limit: must be a positive number');
  }
  let spss = limits.defaultSpansPerSpanSet ?? DEFAULT_SPANS_PER_SPANSET;
  if (has('spss')) {
    spss = wrap('invalid spss', () => parseIntGo('Atoi', p.get('spss')!, false));
    if (spss < 0) throw bad('invalid spss: must be a non-negative number');
  }
  if (!(start === 0 && end === 0) && end <= start) throw bad(`http parameter start must be before end. received start=${start} end=${end}`);
  if (limit === 0) limit = limits.defaultLimit;
  else if (limits.maxLimit > 0 && limit > limits.maxLimit) throw bad(`limit ${limit} exceeds max limit ${limits.maxLimit}`);
  if (limits.maxDurationMs > 0 && (end - start) * 1000 > limits.maxDurationMs) {
    throw bad(
      `range specified by start and end exceeds ${staticToString({ type: 'duration', value: limits.maxDurationMs * 1e6 }, false)}. received start=${start} end=${end}`,
    );
  }
  if (limits.maxSpansPerSpanSet > 0 && spss > limits.maxSpansPerSpanSet) throw bad(`spans per span set exceeds ${limits.maxSpansPerSpanSet}. received ${spss}`);
  return { query, limit, spss, start, end, minDurationMs, maxDurationMs };
}
