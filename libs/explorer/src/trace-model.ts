// A trace as the waterfall (and `stave query trace`) needs it, read from Tempo's trace-by-ID JSON (v2 {"trace":{"resourceSpans"}},
// v1 {"batches"} or bare {"resourceSpans"}): one flat array of spans with times relative to the trace's
// start (nanoseconds as numbers: absolute times need BigInt, offsets within a trace fit a double), each
// linked to its parent, children ordered by start time. A span whose parent is absent is a root; spans
// caught in a parent cycle become roots too, so every span is shown exactly once.

export interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  bytesValue?: string;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
}
export interface KeyValue {
  key: string;
  value?: AnyValue;
}
interface JsonEvent {
  timeUnixNano?: string;
  name?: string;
  attributes?: KeyValue[];
}
interface JsonLink {
  traceId?: string;
  spanId?: string;
  attributes?: KeyValue[];
}
interface JsonSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  /** An enum name ("SPAN_KIND_SERVER"), or its number (OTLP/JSON allows both). */
  kind?: string | number;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  attributes?: KeyValue[];
  events?: JsonEvent[];
  links?: JsonLink[];
  status?: { code?: string | number; message?: string };
}
interface JsonResourceSpans {
  resource?: { attributes?: KeyValue[] };
  scopeSpans?: Array<{ scope?: { name?: string; version?: string }; spans?: JsonSpan[] }>;
}
export interface TraceJson {
  trace?: { resourceSpans?: JsonResourceSpans[] };
  batches?: JsonResourceSpans[];
  resourceSpans?: JsonResourceSpans[];
}

export interface Attr {
  key: string;
  value: string;
}

export type SpanEvent = { offsetNs: number; name: string; attributes: Attr[] };
export type SpanLink = { traceId: string; spanId: string; attributes: Attr[] };

/**
 * One span. What the waterfall draws is read up front; attributes, events and links are converted from
 * the JSON on first use (the details panel, the in-trace search), which keeps a 20,000-span trace's first
 * screen to the work it shows.
 */
export class Span {
  parent: Span | undefined = undefined;
  children: Span[] = [];
  depth = 0;
  /** Lower-cased text searched by the in-trace search (name, service, attribute keys and values); see haystack(). */
  haystack: string | undefined = undefined;
  private attrs: Attr[] | undefined = undefined;
  private hexID: string | undefined = undefined;

  constructor(
    /** Position in `Trace.spans`. */
    readonly index: number,
    /** The span ID and its parent's as Tempo's JSON has them (base64): the tree is linked by these. */
    readonly idB64: string,
    readonly parentB64: string,
    readonly name: string,
    readonly service: string,
    readonly kind: string,
    /** Nanoseconds from the trace's start. */
    readonly startNs: number,
    readonly durationNs: number,
    readonly error: boolean,
    readonly statusMessage: string,
    readonly resource: Attr[],
    readonly scope: string,
    private readonly json: JsonSpan,
    private readonly start: Nanos,
  ) {}

  /** The span ID in hex (converted on first use: most spans of a big trace are never shown). */
  get id(): string {
    this.hexID ??= base64ToHex(this.idB64);
    return this.hexID;
  }

  get parentId(): string {
    return this.parent?.id ?? base64ToHex(this.parentB64);
  }

  get attributes(): Attr[] {
    this.attrs ??= attrs(this.json.attributes);
    return this.attrs;
  }

  get events(): SpanEvent[] {
    return (this.json.events ?? []).map((e) => ({
      offsetNs: nsBetween(this.start, nanos(e.timeUnixNano)),
      name: e.name ?? '',
      attributes: attrs(e.attributes),
    }));
  }

  get links(): SpanLink[] {
    return (this.json.links ?? []).map((l) => ({ traceId: base64ToHex(l.traceId), spanId: base64ToHex(l.spanId), attributes: attrs(l.attributes) }));
  }
}

export interface Trace {
  traceId: string;
  spans: Span[];
  roots: Span[];
  durationNs: number;
  /** Absolute start in whole milliseconds, for display. */
  startUnixMs: number;
  services: string[];
}

/** Base64 (Tempo's JSON for IDs) to lower-case hex; '' for absent. */
export function base64ToHex(b64: string | undefined): string {
  if (!b64) return '';
  const bin = atob(b64);
  let out = '';
  for (let i = 0; i < bin.length; i++) out += bin.charCodeAt(i).toString(16).padStart(2, '0');
  return out;
}

export function valueText(v: AnyValue | undefined): string {
  if (!v) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.bytesValue !== undefined) return base64ToHex(v.bytesValue);
  if (v.arrayValue) return `[${(v.arrayValue.values ?? []).map(valueText).join(', ')}]`;
  if (v.kvlistValue) return `{${(v.kvlistValue.values ?? []).map((kv) => `${kv.key}: ${valueText(kv.value)}`).join(', ')}}`;
  return '';
}

const attrs = (kvs: KeyValue[] | undefined): Attr[] => (kvs ?? []).map((kv) => ({ key: kv.key, value: valueText(kv.value) }));

const KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

function kindName(kind: string | number | undefined): string {
  if (typeof kind === 'number') return KINDS[kind] ?? String(kind);
  return (kind ?? 'SPAN_KIND_UNSPECIFIED').replace(/^SPAN_KIND_/, '').toLowerCase();
}

/**
 * Unix nanoseconds as [whole milliseconds, nanoseconds within the millisecond]: both parts are exact
 * doubles, and differences within a trace are exact too. (BigInt(string) per span was the largest cost of
 * reading a 20,000-span trace.)
 */
type Nanos = [number, number];

function nanos(s: string | undefined): Nanos {
  if (!s || !/^\d+$/.test(s)) return [0, 0];
  return s.length <= 6 ? [0, Number(s)] : [Number(s.slice(0, -6)), Number(s.slice(-6))];
}

const nsBetween = (a: Nanos, b: Nanos): number => (b[0] - a[0]) * 1e6 + (b[1] - a[1]);

export function parseTrace(doc: TraceJson, traceIdHex = ''): Trace {
  const batches = doc.trace?.resourceSpans ?? doc.batches ?? doc.resourceSpans ?? [];
  const raw: Array<{ s: JsonSpan; resource: Attr[]; service: string; scope: string; start: Nanos; end: Nanos }> = [];
  let min: Nanos | undefined;
  let max: Nanos = [0, 0];
  for (const rs of batches) {
    const resource = attrs(rs.resource?.attributes);
    const service = resource.find((a) => a.key === 'service.name')?.value ?? '';
    for (const ss of rs.scopeSpans ?? []) {
      const scope = [ss.scope?.name, ss.scope?.version].filter(Boolean).join(' ');
      for (const s of ss.spans ?? []) {
        const start = nanos(s.startTimeUnixNano);
        let end = nanos(s.endTimeUnixNano);
        if (nsBetween(start, end) < 0) end = start;
        if (min === undefined || nsBetween(start, min) > 0) min = start;
        if (nsBetween(max, end) > 0) max = end;
        raw.push({ s, resource, service, scope, start, end });
      }
    }
  }
  const t0: Nanos = min ?? [0, 0];
  const spans: Span[] = raw.map(
    (r, index) =>
      new Span(
        index,
        r.s.spanId ?? '',
        r.s.parentSpanId ?? '',
        r.s.name ?? '',
        r.service,
        kindName(r.s.kind),
        nsBetween(t0, r.start),
        nsBetween(r.start, r.end),
        r.s.status?.code === 'STATUS_CODE_ERROR' || r.s.status?.code === 2,
        r.s.status?.message ?? '',
        r.resource,
        r.scope,
        r.s,
        r.start,
      ),
  );
  const byId = new Map<string, Span>();
  for (const s of spans) if (!byId.has(s.idB64)) byId.set(s.idB64, s);
  for (const s of spans) {
    const p = s.parentB64 ? byId.get(s.parentB64) : undefined;
    if (p && p !== s) {
      s.parent = p;
      p.children.push(s);
    }
  }
  const byStart = (a: Span, b: Span): number => a.startNs - b.startNs || a.index - b.index;
  const roots = spans.filter((s) => !s.parent).sort(byStart);
  // Depths by walking down from the roots; spans never reached sit in a parent cycle: cut them loose.
  const seen = new Set<Span>();
  const walk = (from: Span[]): void => {
    const stack = from.map((s) => ({ s, depth: 0 }));
    while (stack.length) {
      const { s, depth } = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      s.depth = depth;
      s.children.sort(byStart);
      for (const c of s.children) stack.push({ s: c, depth: depth + 1 });
    }
  };
  walk(roots);
  for (const s of spans) {
    if (seen.has(s)) continue;
    s.parent?.children.splice(s.parent.children.indexOf(s), 1);
    s.parent = undefined;
    roots.push(s);
    walk([s]);
  }
  roots.sort(byStart);
  const services = [...new Set(spans.map((s) => s.service))].sort();
  const traceId = traceIdHex || base64ToHex(raw[0]?.s.traceId);
  return { traceId, spans, roots, durationNs: nsBetween(t0, max), startUnixMs: t0[0], services };
}

/** The text the in-trace search looks in, built on first use (most traces are never searched). */
export function haystack(s: Span): string {
  s.haystack ??= [s.name, s.service, ...s.attributes.flatMap((a) => [a.key, a.value])].join('\n').toLowerCase();
  return s.haystack;
}

/** The rows the waterfall shows: depth-first, children of collapsed spans left out. */
export function visibleRows(trace: Trace, collapsed: ReadonlySet<string>): Span[] {
  const out: Span[] = [];
  const stack = [...trace.roots].reverse();
  while (stack.length) {
    const s = stack.pop()!;
    out.push(s);
    // An empty set is the common case: skip the lookup, which would convert every span's ID to hex.
    if (collapsed.size > 0 && collapsed.has(s.id)) continue;
    for (let i = s.children.length - 1; i >= 0; i--) stack.push(s.children[i]!);
  }
  return out;
}

/** Human durations: 800 ns, 45.6 µs, 120 ms, 1.25 s, 2 m 5 s. */
export function formatDuration(ns: number): string {
  const trim = (n: number): string => String(Number(n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)));
  if (ns < 1_000) return `${Math.round(ns)} ns`;
  if (ns < 1_000_000) return `${trim(ns / 1_000)} µs`;
  if (ns < 1_000_000_000) return `${trim(ns / 1_000_000)} ms`;
  if (ns < 60_000_000_000) return `${trim(ns / 1_000_000_000)} s`;
  const s = Math.round(ns / 1_000_000_000);
  return `${Math.floor(s / 60)} m ${s % 60} s`;
}
