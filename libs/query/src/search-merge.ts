// Merges the answers of a search's jobs (ingesters, block ranges, several ingesters) into one result:
// a trace matched by several jobs is one result; its spansets are combined by their attributes (the
// `by()` groups), spans deduplicated by span ID. A spanset's `matched` count is not added twice for the
// same spans: when two answers report overlapping spans they saw the same data (an ingester's local copy
// of a block and the flushed block, or two replicas), and the larger count is kept; disjoint spans are
// different parts of the trace (a trace spread over blocks) and their counts add up.

import { create } from '@bufbuild/protobuf';
import {
  SearchResponseSchema,
  SearchTagsResponseSchema,
  type KeyValue,
  type SearchMetrics,
  type SearchResponse,
  type SearchSpanSet,
  type SearchTagsResponse,
  type TraceSearchMetadata,
} from '@stave/proto';

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function attrKey(attrs: readonly KeyValue[]): string {
  return JSON.stringify(attrs.map((a) => [a.key, a.value?.value.case, String(a.value?.value.value)]));
}

function combineSpanSets(into: SearchSpanSet, from: SearchSpanSet, spss: number): void {
  const seen = new Set(into.spans.map((s) => hex(s.spanId)));
  const overlap = from.spans.some((s) => seen.has(hex(s.spanId)));
  into.matched = overlap ? Math.max(into.matched, from.matched) : into.matched + from.matched;
  for (const s of from.spans) {
    if (into.spans.length >= spss) break;
    const k = hex(s.spanId);
    if (seen.has(k)) continue;
    seen.add(k);
    into.spans.push(s);
  }
}

function combineTrace(into: TraceSearchMetadata, from: TraceSearchMetadata, spss: number): void {
  // A part with the root span names the trace; the earliest start and the widest span of time win.
  if (into.rootTraceName === '' && from.rootTraceName !== '') {
    into.rootTraceName = from.rootTraceName;
    into.rootServiceName = from.rootServiceName;
  }
  const end = (t: TraceSearchMetadata) => t.startTimeUnixNano + t.durationNanos;
  const hi = end(into) > end(from) ? end(into) : end(from);
  if (from.startTimeUnixNano < into.startTimeUnixNano) into.startTimeUnixNano = from.startTimeUnixNano;
  into.durationNanos = hi - into.startTimeUnixNano;
  for (const ss of from.spanSets) {
    const k = attrKey(ss.attributes);
    const same = into.spanSets.find((x) => attrKey(x.attributes) === k);
    if (same) combineSpanSets(same, ss, spss);
    else into.spanSets.push(ss);
  }
}

/** Sums the jobs' metrics and counts the jobs. */
class Metrics {
  readonly metrics = { inspectedTraces: 0, inspectedBytes: 0n, inspectedBlocks: 0, totalBlockBytes: 0n };
  completedJobs = 0;

  protected count(m: SearchMetrics | undefined): void {
    this.completedJobs++;
    if (!m) return;
    this.metrics.inspectedTraces += m.inspectedTraces;
    this.metrics.inspectedBytes += m.inspectedBytes;
    this.metrics.inspectedBlocks += m.inspectedBlocks;
    this.metrics.totalBlockBytes += m.totalBlockBytes;
  }
}

export class SearchMerger extends Metrics {
  private readonly traces = new Map<string, TraceSearchMetadata>();

  constructor(private readonly spansPerSpanSet: number) {
    super();
  }

  /** Distinct traces found so far. */
  get size(): number {
    return this.traces.size;
  }

  add(res: SearchResponse): void {
    this.count(res.metrics);
    for (const t of res.traces) {
      const k = hex(t.traceId);
      const have = this.traces.get(k);
      // Copies: answers are combined in place and may be shared by callers.
      if (!have) this.traces.set(k, structuredClone(t));
      else combineTrace(have, t, this.spansPerSpanSet);
    }
  }

  /** The merged answer: newest first (by start time, then trace ID), at most `limit` traces (0: all). */
  result(limit: number): SearchResponse {
    const all = [...this.traces.values()].sort((a, b) =>
      a.startTimeUnixNano === b.startTimeUnixNano ? (hex(a.traceId) < hex(b.traceId) ? -1 : 1) : a.startTimeUnixNano > b.startTimeUnixNano ? -1 : 1,
    );
    return create(SearchResponseSchema, { traces: limit > 0 ? all.slice(0, limit) : all, metrics: this.metrics });
  }
}

/** Tag jobs' answers: the union of names per scope, and of typed values. */
export class TagsMerger extends Metrics {
  private readonly scopes = new Map<string, Set<string>>();
  private readonly values = new Map<string, { type: string; value: string }>();

  add(res: SearchTagsResponse): void {
    this.count(res.metrics);
    for (const s of res.scopes) {
      let set = this.scopes.get(s.name);
      if (!set) this.scopes.set(s.name, (set = new Set()));
      for (const t of s.tags) set.add(t);
    }
    for (const v of res.values) this.values.set(`${v.type}\u0000${v.value}`, { type: v.type, value: v.value });
  }

  /** Names sorted within each scope; values sorted by type, then value. */
  result(): SearchTagsResponse {
    return create(SearchTagsResponseSchema, {
      scopes: [...this.scopes].map(([name, tags]) => ({ name, tags: [...tags].sort() })),
      values: [...this.values.values()].sort((a, b) => (a.type === b.type ? (a.value < b.value ? -1 : a.value > b.value ? 1 : 0) : a.type < b.type ? -1 : 1)),
      metrics: this.metrics,
    });
  }
}
