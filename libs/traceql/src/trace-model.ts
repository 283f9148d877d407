// The view of traces the engine evaluates: OTLP spans grouped by trace ID, with attribute values turned
// into TraceQL statics once, and each trace's tree numbered as a nested set (left/right in a depth-first
// walk from the root spans) so "descendant of" is two comparisons, as in Tempo's vParquet4 columns.
// A span whose parent is not in the trace is not connected to a root: it takes part in no structural
// relation (Tempo leaves such spans' nested-set numbers at 0 and never matches them).

import type { AnyValue, KeyValue, ResourceSpans, Span, TracesData } from '@stave/proto';
import { KIND, STATUS, type Static } from './static';

export interface EvalEvent {
  readonly name: string;
  /** Nanoseconds since the span started. */
  readonly timeSinceStartNanos: number;
  readonly attributes: ReadonlyMap<string, Static>;
}

export interface EvalLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly attributes: ReadonlyMap<string, Static>;
}

export interface EvalTrace {
  readonly traceId: string;
  readonly spans: EvalSpan[];
  root: EvalSpan | undefined;
  rootServiceName: string | undefined;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  durationNanos: number;
}

const OTLP_KIND_TO_TEMPO = [KIND.unspecified, KIND.internal, KIND.server, KIND.client, KIND.producer, KIND.consumer];
const OTLP_STATUS_TO_TEMPO = [STATUS.unset, STATUS.ok, STATUS.error];

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** A TraceQL value for an OTLP attribute value; undefined for kinds TraceQL cannot search (bytes, kvlists, mixed arrays). */
export function anyValueToStatic(v: AnyValue | undefined): Static | undefined {
  const val = v?.value;
  switch (val?.case) {
    case 'stringValue':
      return { type: 'string', value: val.value };
    case 'boolValue':
      return { type: 'bool', value: val.value };
    case 'intValue':
      return { type: 'int', value: Number(val.value) };
    case 'doubleValue':
      return { type: 'float', value: val.value };
    case 'arrayValue': {
      const items = val.value.values.map((x) => x.value);
      if (items.length === 0) return undefined;
      const first = items[0]!.case;
      if (!items.every((x) => x.case === first)) return undefined;
      switch (first) {
        case 'stringValue':
          return { type: 'stringArray', value: items.map((x) => x.value as string) };
        case 'boolValue':
          return { type: 'boolArray', value: items.map((x) => x.value as boolean) };
        case 'intValue':
          return { type: 'intArray', value: items.map((x) => Number(x.value as bigint)) };
        case 'doubleValue':
          return { type: 'floatArray', value: items.map((x) => x.value as number) };
        default:
          return undefined;
      }
    }
    default:
      return undefined;
  }
}

function attributeMap(kvs: readonly KeyValue[] | undefined): Map<string, Static> {
  const m = new Map<string, Static>();
  for (const kv of kvs ?? []) {
    const s = anyValueToStatic(kv.value);
    if (s !== undefined && !m.has(kv.key)) m.set(kv.key, s);
  }
  return m;
}

/**
 * Groups the spans of OTLP batches by trace ID (one trace may be spread over many batches) and prepares
 * them for evaluation. Traces keep the order in which their first span appears; a span seen again (same
 * span ID and kind) is dropped.
 */
export function indexTraces(input: TracesData | readonly TracesData[] | readonly ResourceSpans[]): EvalTrace[] {
  const batches: ResourceSpans[] = [];
  const list = Array.isArray(input) ? input : [input];
  for (const item of list as (TracesData | ResourceSpans)[]) {
    if ('resourceSpans' in item) batches.push(...item.resourceSpans);
    else batches.push(item);
  }
  const traces = new Map<string, { trace: EvalTrace; seen: Set<string> }>();
  let lastTraceIdBytes: Uint8Array | undefined;
  let lastTraceId = '';
  for (const rs of batches) {
    const resourceAttributes = attributeMap(rs.resource?.attributes);
    for (const ss of rs.scopeSpans) {
      const scopeAttributes = attributeMap(ss.scope?.attributes);
      for (const span of ss.spans) {
        // The spans of a batch mostly share one trace ID: its hex is made once.
        if (!sameBytes(span.traceId, lastTraceIdBytes)) {
          lastTraceIdBytes = span.traceId;
          lastTraceId = toHex(span.traceId);
        }
        const traceId = lastTraceId;
        let entry = traces.get(traceId);
        if (entry === undefined) {
          entry = {
            trace: { traceId, spans: [], root: undefined, rootServiceName: undefined, startTimeUnixNano: 0n, endTimeUnixNano: 0n, durationNanos: 0 },
            seen: new Set(),
          };
          traces.set(traceId, entry);
        }
        // a span sent twice (a retried push, replicas of one write) counts once; the kind is part of the
        // identity because Zipkin's shared client/server spans carry one span ID
        const spanId = toHex(span.spanId);
        const key = `${spanId}/${span.kind}`;
        if (entry.seen.has(key)) continue;
        entry.seen.add(key);
        entry.trace.spans.push(new EvalSpan(entry.trace, span, spanId, resourceAttributes, ss.scope?.name ?? '', ss.scope?.version ?? '', scopeAttributes));
      }
    }
  }
  const out = [...traces.values()].map((e) => e.trace);
  for (const t of out) linkTree(t);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A span as the engine sees it. Attributes, events and links are turned into statics when first read:
 * most queries read few of them (a search by service or status reads none of a span's attributes), and
 * building them was most of the cost of preparing a trace (bench/results/search.md).
 */
export class EvalSpan {
  /** Position in trace.spans (input order). */
  readonly index: number;
  readonly parentSpanId: string;
  readonly name: string;
  /** Tempo's kind enum value (see KIND). */
  readonly kind: number;
  /** Tempo's status enum value (see STATUS). */
  readonly status: number;
  readonly statusMessage: string;
  readonly startTimeUnixNano: bigint;
  readonly durationNanos: number;
  parent: EvalSpan | undefined = undefined;
  readonly children: EvalSpan[] = [];
  /** Nested-set bounds; 0 when the span is not connected to a root. */
  left = 0;
  right = 0;
  private attrs: ReadonlyMap<string, Static> | undefined = undefined;
  private evs: readonly EvalEvent[] | undefined = undefined;
  private lks: readonly EvalLink[] | undefined = undefined;

  constructor(
    readonly trace: EvalTrace,
    private readonly span: Span,
    readonly spanId: string,
    readonly resourceAttributes: ReadonlyMap<string, Static>,
    readonly scopeName: string,
    readonly scopeVersion: string,
    readonly scopeAttributes: ReadonlyMap<string, Static>,
  ) {
    this.index = trace.spans.length;
    this.parentSpanId = toHex(span.parentSpanId);
    this.name = span.name;
    this.kind = OTLP_KIND_TO_TEMPO[span.kind] ?? KIND.unspecified;
    this.status = OTLP_STATUS_TO_TEMPO[span.status?.code ?? 0] ?? STATUS.unset;
    this.statusMessage = span.status?.message ?? '';
    this.startTimeUnixNano = span.startTimeUnixNano;
    this.durationNanos = Number(span.endTimeUnixNano - span.startTimeUnixNano);
  }

  get attributes(): ReadonlyMap<string, Static> {
    return (this.attrs ??= attributeMap(this.span.attributes));
  }

  get events(): readonly EvalEvent[] {
    const span = this.span;
    return (this.evs ??= span.events.map((e) => ({
      name: e.name,
      timeSinceStartNanos: Number(e.timeUnixNano - span.startTimeUnixNano),
      attributes: attributeMap(e.attributes),
    })));
  }

  get links(): readonly EvalLink[] {
    return (this.lks ??= this.span.links.map((l) => ({ traceId: toHex(l.traceId), spanId: toHex(l.spanId), attributes: attributeMap(l.attributes) })));
  }
}

/** Parent/child links, nested-set numbers, and the per-trace intrinsics (root, duration). */
function linkTree(t: EvalTrace): void {
  const byId = new Map<string, EvalSpan>();
  for (const s of t.spans) if (!byId.has(s.spanId)) byId.set(s.spanId, s);
  const roots: EvalSpan[] = [];
  let start: bigint | undefined;
  let end: bigint | undefined;
  for (const s of t.spans) {
    const sEnd = s.startTimeUnixNano + BigInt(s.durationNanos);
    if (start === undefined || s.startTimeUnixNano < start) start = s.startTimeUnixNano;
    if (end === undefined || sEnd > end) end = sEnd;
    if (s.parentSpanId === '' || /^0+$/.test(s.parentSpanId)) {
      roots.push(s);
      continue;
    }
    const p = byId.get(s.parentSpanId);
    if (p !== undefined && p !== s) {
      s.parent = p;
      p.children.push(s);
    }
  }
  // iterative depth-first numbering: a deep trace must not overflow the stack
  let counter = 0;
  for (const root of roots) {
    const stack: { span: EvalSpan; next: number }[] = [{ span: root, next: 0 }];
    root.left = ++counter;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const child = top.span.children[top.next++];
      if (child === undefined) {
        top.span.right = ++counter;
        stack.pop();
      } else if (child.left === 0) {
        child.left = ++counter;
        stack.push({ span: child, next: 0 });
      }
    }
  }
  t.root = roots[0];
  const service = t.root?.resourceAttributes.get('service.name');
  t.rootServiceName = service?.type === 'string' ? service.value : undefined;
  t.startTimeUnixNano = start ?? 0n;
  t.endTimeUnixNano = end ?? 0n;
  t.durationNanos = Number(t.endTimeUnixNano - t.startTimeUnixNano);
}
