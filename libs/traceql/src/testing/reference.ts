// A brute-force reference for TraceQL conformance, written independently of the engine: plain loops over
// the flat span records of the dataset. It is not a TraceQL evaluator: each conformance case states its
// expected answer as a predicate built from these helpers, which spell out Tempo's rules directly:
// a comparison needs the attribute present and of a comparable type; an int equals a float of the same
// value; a string never equals a number; an unscoped `.x` is the span's x, else its resource's; arrays
// match when any element does; regexes match the whole value; only spans connected to a root take part
// in structural relations.

import type { FlatSpan, FlatTrace, FlatValue } from './dataset';

export class RefTrace {
  readonly spans: readonly FlatSpan[];
  private readonly byId = new Map<string, FlatSpan>();
  private readonly connected = new Set<FlatSpan>();

  constructor(readonly trace: FlatTrace) {
    this.spans = trace.spans;
    for (const s of this.spans) this.byId.set(s.spanId, s);
    // connected: reachable from a root by parent links
    let frontier = this.spans.filter((s) => s.parentSpanId === '');
    while (frontier.length > 0) {
      for (const s of frontier) this.connected.add(s);
      frontier = this.spans.filter((s) => !this.connected.has(s) && frontier.some((p) => p.spanId === s.parentSpanId));
    }
  }

  get traceId(): string {
    return this.trace.traceId;
  }

  /** True when some span satisfies p. */
  some(p: (s: FlatSpan) => boolean): boolean {
    return this.spans.some(p);
  }

  where(p: (s: FlatSpan) => boolean): FlatSpan[] {
    return this.spans.filter(p);
  }

  count(p: (s: FlatSpan) => boolean = () => true): number {
    return this.where(p).length;
  }

  root(): FlatSpan | undefined {
    return this.spans.find((s) => s.parentSpanId === '');
  }

  rootName(): string | undefined {
    return this.root()?.name;
  }

  rootServiceName(): string | undefined {
    const v = this.root()?.resource['service.name'];
    return v?.t === 'string' ? v.v : undefined;
  }

  durationNs(): number {
    let min = this.spans[0]!.startTimeUnixNano;
    let max = this.spans[0]!.endTimeUnixNano;
    for (const s of this.spans) {
      if (s.startTimeUnixNano < min) min = s.startTimeUnixNano;
      if (s.endTimeUnixNano > max) max = s.endTimeUnixNano;
    }
    return Number(max - min);
  }

  isConnected(s: FlatSpan): boolean {
    return this.connected.has(s);
  }

  parentOf(s: FlatSpan): FlatSpan | undefined {
    return this.isConnected(s) ? this.byId.get(s.parentSpanId) : undefined;
  }

  isChildOf(child: FlatSpan, parent: FlatSpan): boolean {
    return this.isConnected(child) && this.isConnected(parent) && child.parentSpanId === parent.spanId;
  }

  isDescendantOf(d: FlatSpan, a: FlatSpan): boolean {
    if (!this.isConnected(d) || !this.isConnected(a)) return false;
    for (let p = this.parentOf(d); p !== undefined; p = this.parentOf(p)) if (p === a) return true;
    return false;
  }

  isSiblingOf(a: FlatSpan, b: FlatSpan): boolean {
    return a !== b && this.isConnected(a) && this.isConnected(b) && a.parentSpanId === b.parentSpanId;
  }

  /** Spans of `right` related to some span of `left` by rel(r, l): what `{L} op {R}` returns. */
  related(left: (s: FlatSpan) => boolean, right: (s: FlatSpan) => boolean, rel: (r: FlatSpan, l: FlatSpan) => boolean): FlatSpan[] {
    const ls = this.where(left);
    return this.where(right).filter((r) => ls.some((l) => rel(r, l)));
  }

  /** Spans of `right` related to no span of `left`: what `{L} !op {R}` returns (when L is not empty). */
  unrelated(left: (s: FlatSpan) => boolean, right: (s: FlatSpan) => boolean, rel: (r: FlatSpan, l: FlatSpan) => boolean): FlatSpan[] {
    const ls = this.where(left);
    if (ls.length === 0) return [];
    return this.where(right).filter((r) => !ls.some((l) => rel(r, l)));
  }
}

export const durationNs = (s: FlatSpan): number => Number(s.endTimeUnixNano - s.startTimeUnixNano);

/** The span attribute, or the resource's when the span has none (an unscoped `.name`). */
export const unscoped = (s: FlatSpan, key: string): FlatValue | undefined => s.attributes[key] ?? s.resource[key];

/** A number when the value is an int or a float. */
export function num(v: FlatValue | undefined): number | undefined {
  return v?.t === 'int' || v?.t === 'float' ? v.v : undefined;
}

export function text(v: FlatValue | undefined): string | undefined {
  return v?.t === 'string' ? v.v : undefined;
}

export function isTrue(v: FlatValue | undefined): boolean {
  return v?.t === 'bool' && v.v;
}

/** Elements of an array value ([] for scalars and missing values). */
export function elements(v: FlatValue | undefined): readonly (string | number | boolean)[] {
  return v !== undefined && v.t.endsWith('Array') ? (v.v as readonly (string | number | boolean)[]) : [];
}

/** Whole-value match, `.` matching newlines too (Prometheus' (?s) anchoring, which Tempo uses). */
export function fullMatch(pattern: string, value: string | undefined, flags = ''): boolean {
  return value !== undefined && new RegExp(`^(?:${pattern})$`, 's' + flags).test(value);
}

const MS = 1e6;
export const ms = (n: number): number => n * MS;
export const sec = (n: number): number => n * 1e9;
