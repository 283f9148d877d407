// Merges the answers of a search's jobs (ingesters, block ranges, several ingesters) into one result:
// a trace matched by several jobs is one result; its spansets are combined by their attributes (the
// `by()` groups), spans deduplicated by span ID. A spanset's `matched` count is not added twice for the
// same spans: when two answers report overlapping spans they saw the same data (an ingester's local copy
// of a block and the flushed block, or two replicas), and the larger count is kept; disjoint spans are
// different parts of the trace (a trace spread over blocks) and their counts add up.

import { create } from '@bufbuild/protobuf';
import { SearchResponseSchema, type KeyValue, type SearchMetrics, type SearchResponse, type SearchSpanSet, type TraceSearchMetadata } from '@stave/proto';

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

export class SearchMerger {
  private readonly traces = new Map<string, TraceSearchMetadata>();
  private readonly metrics = { inspectedTraces: 0, inspectedBytes: 0n, inspectedBlocks: 0, totalBlockBytes: 0n };
  completedJobs = 0;

  constructor(private readonly spansPerSpanSet: number) {}

  /** Distinct traces found so far. */
  get size(): number {
    return this.traces.size;
  }

  add(res: SearchResponse): void {
    this.completedJobs++;
    const m: SearchMetrics | undefined = res.metrics;
    if (m) {
      this.metrics.inspectedTraces += m.inspectedTraces;
      this.metrics.inspectedBytes += m.inspectedBytes;
      this.metrics.inspectedBlocks += m.inspectedBlocks;
      this.metrics.totalBlockBytes += m.totalBlockBytes;
    }
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
