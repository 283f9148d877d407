// One search job's evaluation, shared by the ingester (its live and local data) and the querier (backend
// blocks): whole traces go in one at a time, each is evaluated with @stave/traceql, and the matches come
// out in the fields of Tempo's search result. The query is compiled once per job. Blocks hand it only the
// traces their search columns cannot rule out (searchBlock); head blocks hand it every trace.

import { create } from '@bufbuild/protobuf';
import {
  SearchResponseSchema,
  type AnyValue,
  type KeyValue,
  type SearchRequest,
  type SearchResponse,
  type TraceSearchMetadata,
  type TracesData,
} from '@stave/proto';
import type { TraceLike } from '@stave/model';
import { Code, ConnectError } from '@stave/server';
import {
  compileQuery,
  DEFAULT_SPANS_PER_SPANSET,
  indexTraces,
  isTraceQLError,
  staticToString,
  type CompiledQuery,
  type ResultAttribute,
  type Static,
} from '@stave/traceql';

/** Tempo's root service name for a trace whose root span is not (yet) there. */
export const ROOT_NOT_YET_RECEIVED = '<root span not yet received>';

/** Compiles a job's query; a query that does not parse or type-check is the request's fault (400). */
export function compileSearch(query: string): CompiledQuery {
  try {
    return compileQuery(query);
  } catch (err) {
    // Told apart by reason, not class: @stave/traceql may see another copy of the error class. Its
    // rawMessage is Tempo's text.
    if (isTraceQLError(err)) throw new ConnectError(err.rawMessage, Code.InvalidArgument);
    throw err;
  }
}

/** A TraceQL value as the OTLP AnyValue Tempo's search JSON prints for it. */
function anyValue(s: Static): AnyValue {
  const v = (value: AnyValue['value']): AnyValue => ({ $typeName: 'opentelemetry.proto.common.v1.AnyValue', value });
  const arr = (values: AnyValue[]): AnyValue => v({ case: 'arrayValue', value: { $typeName: 'opentelemetry.proto.common.v1.ArrayValue', values } });
  switch (s.type) {
    case 'string':
      return v({ case: 'stringValue', value: s.value });
    case 'bool':
      return v({ case: 'boolValue', value: s.value });
    case 'int':
      return v({ case: 'intValue', value: BigInt(Math.trunc(s.value)) });
    case 'float':
      return v({ case: 'doubleValue', value: s.value });
    case 'stringArray':
      return arr(s.value.map((x) => v({ case: 'stringValue', value: x })));
    case 'boolArray':
      return arr(s.value.map((x) => v({ case: 'boolValue', value: x })));
    case 'intArray':
      return arr(s.value.map((x) => v({ case: 'intValue', value: BigInt(Math.trunc(x)) })));
    case 'floatArray':
      return arr(s.value.map((x) => v({ case: 'doubleValue', value: x })));
    default:
      // Durations, statuses, kinds and nil print as TraceQL writes them.
      return v({ case: 'stringValue', value: staticToString(s, false) });
  }
}

function keyValues(attrs: readonly ResultAttribute[]): KeyValue[] {
  return attrs.map((a) => ({ $typeName: 'opentelemetry.proto.common.v1.KeyValue', key: a.key, value: anyValue(a.value) }));
}

/** What a scan over traces feeds: whole traces, and the blocks it read. */
export interface TraceSink {
  add(trace: TraceLike, bytes?: number): void;
  /** Enough collected: the scan stops. */
  readonly full: boolean;
  inspectedBlocks: number;
  inspectedBytes: bigint;
  totalBlockBytes: bigint;
}

/** Collects one job's matches: add whole traces (all parts of each), then take `response()`. */
export class SearchCollector implements TraceSink {
  private readonly q: CompiledQuery;
  private readonly traces: TraceSearchMetadata[] = [];
  private readonly startNs: bigint;
  private readonly endNs: bigint;
  inspectedTraces = 0;
  inspectedBytes = 0n;
  inspectedBlocks = 0;
  totalBlockBytes = 0n;

  constructor(private readonly req: SearchRequest) {
    this.q = compileSearch(req.query);
    this.startNs = req.startUnixSeconds > 0n ? req.startUnixSeconds * 1_000_000_000n : 0n;
    // `end` is a whole second: a trace starting within it is in the window.
    this.endNs = req.endUnixSeconds > 0n ? (req.endUnixSeconds + 1n) * 1_000_000_000n : 0n;
  }

  /** Enough traces found (`limit` reached): the caller stops feeding. */
  get full(): boolean {
    return this.req.limit > 0 && this.traces.length >= this.req.limit;
  }

  /** Evaluates one whole trace; `bytes` is its encoded size, for the metrics. */
  add(trace: TraceLike, bytes = 0): void {
    if (this.full) return;
    this.inspectedTraces++;
    this.inspectedBytes += BigInt(bytes);
    for (const t of indexTraces(trace as TracesData)) {
      if (t.spans.length === 0) continue;
      // The trace must overlap the window and fall within the duration bounds.
      if (this.startNs > 0n && t.endTimeUnixNano < this.startNs) continue;
      if (this.endNs > 0n && t.startTimeUnixNano >= this.endNs) continue;
      const ms = t.durationNanos / 1e6;
      if (this.req.minDurationMs > 0 && ms < this.req.minDurationMs) continue;
      if (this.req.maxDurationMs > 0 && ms > this.req.maxDurationMs) continue;
      const spss = this.req.spansPerSpanSet > 0 ? this.req.spansPerSpanSet : DEFAULT_SPANS_PER_SPANSET;
      for (const r of this.q.search([t], { spansPerSpanSet: spss })) {
        this.traces.push({
          $typeName: 'stave.v1.TraceSearchMetadata',
          traceId: Buffer.from(r.traceId, 'hex'),
          // Tempo's placeholder while a trace's root span has not arrived.
          rootServiceName: r.rootServiceName ?? ROOT_NOT_YET_RECEIVED,
          rootTraceName: r.rootTraceName ?? '',
          startTimeUnixNano: r.startTimeUnixNano,
          durationNanos: BigInt(Math.round(r.durationNanos)),
          spanSets: r.spanSets.map((ss) => ({
            $typeName: 'stave.v1.SearchSpanSet',
            matched: ss.matched,
            attributes: keyValues(ss.attributes),
            spans: ss.spans.map((sp) => ({
              $typeName: 'stave.v1.SearchSpan',
              spanId: Buffer.from(sp.spanId, 'hex'),
              name: sp.name,
              startTimeUnixNano: sp.startTimeUnixNano,
              durationNanos: BigInt(Math.round(sp.durationNanos)),
              attributes: keyValues(sp.attributes),
            })),
          })),
        });
        if (this.full) return;
      }
    }
  }

  response(): SearchResponse {
    return create(SearchResponseSchema, {
      traces: this.traces,
      metrics: {
        inspectedTraces: this.inspectedTraces,
        inspectedBytes: this.inspectedBytes,
        inspectedBlocks: this.inspectedBlocks,
        totalBlockBytes: this.totalBlockBytes,
      },
    });
  }
}
