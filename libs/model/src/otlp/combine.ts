// Combining the parts of one trace (from several ingesters, blocks or pushes) into one trace.
//
// Rules:
// - A span is identified by (span ID, kind), Tempo's rule: Zipkin lets a client and a server span share a
//   span ID, and they must stay two spans.
// - ResourceSpans with byte-identical resource and the same schema URL are merged; within them, ScopeSpans
//   with byte-identical scope and the same schema URL are merged.
// - When two parts hold the same span (same ID and kind), one copy is kept: the one whose
//   (resource, scope, span) encoding sorts first. Choosing by content rather than by input order is what
//   makes combining commutative, associative and idempotent (a CRDT-style merge: replicas may combine their
//   parts in any order and grouping and agree on the result); tests prove it with fast-check.
// - Output order is deterministic: resources by encoding, then scopes by encoding, then spans by start
//   time, span ID and kind.
//
// Identity is the protobuf encoding (toBinary), which is deterministic for one message value (fields in
// number order, unknown fields last). Attribute order is significant: the same attributes in another
// order are another resource.

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  InstrumentationScopeSchema,
  ResourceSchema,
  ResourceSpansSchema,
  ScopeSpansSchema,
  SpanSchema,
  TraceSchema,
  type ResourceSpans,
  type Span,
  type Trace,
} from '@stave/proto';

/** Anything shaped like a trace: stave.v1.Trace, TracesData or ExportTraceServiceRequest. */
export interface TraceLike {
  readonly resourceSpans: readonly ResourceSpans[];
}

interface ScopeGroup {
  readonly key: string;
  readonly scopeSpans: ResourceSpans['scopeSpans'][number];
  readonly spans: Span[];
}

interface ResourceGroup {
  readonly key: string;
  readonly resourceSpans: ResourceSpans;
  readonly scopes: Map<string, ScopeGroup>;
}

interface Kept {
  readonly span: Span;
  readonly resource: ResourceGroup;
  readonly scope: ScopeGroup;
  /** The span's encoding, computed only when a duplicate has to be decided. */
  encoded?: string;
}

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

/** A ResourceSpans' identity and output order: its resource and schema URL (its scopes play no part). */
export function resourceKey(rs: ResourceSpans): string {
  const r = rs.resource ? latin1(toBinary(ResourceSchema, rs.resource)) : '';
  // `\u0001` separates the parts and marks presence: an absent resource differs from an empty one.
  return `${rs.resource ? '\u0001' : '\u0000'}${r}\u0000${rs.schemaUrl}`;
}

/** A ScopeSpans' identity and output order within its resource: its scope and schema URL. */
export function scopeKey(ss: ResourceSpans['scopeSpans'][number]): string {
  const s = ss.scope ? latin1(toBinary(InstrumentationScopeSchema, ss.scope)) : '';
  return `${ss.scope ? '\u0001' : '\u0000'}${s}\u0000${ss.schemaUrl}`;
}

function spanKey(span: Span): string {
  return `${latin1(span.spanId)}\u0000${span.kind}`;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodedSpan(k: Kept): string {
  k.encoded ??= latin1(toBinary(SpanSchema, k.span));
  return k.encoded;
}

/** Which of two copies of one span to keep: the smaller (resource, scope, span) encoding. */
function prefer(a: Kept, b: Kept): Kept {
  const c = compareStrings(a.resource.key, b.resource.key) || compareStrings(a.scope.key, b.scope.key) || compareStrings(encodedSpan(a), encodedSpan(b));
  return c <= 0 ? a : b;
}

/**
 * Combines parts of one trace into one stave.v1.Trace: spans deduplicated by (span ID, kind), equal
 * resources and scopes merged, order deterministic. The inputs are not modified; output messages are new
 * containers holding the input's span objects (do not mutate them in place afterwards).
 */
export function combineTraces(parts: readonly TraceLike[]): Trace {
  const resources = new Map<string, ResourceGroup>();
  const kept = new Map<string, Kept>();

  for (const part of parts) {
    for (const rs of part.resourceSpans) {
      const rKey = resourceKey(rs);
      let rg = resources.get(rKey);
      if (!rg) {
        rg = { key: rKey, resourceSpans: rs, scopes: new Map() };
        resources.set(rKey, rg);
      }
      for (const ss of rs.scopeSpans) {
        const sKey = scopeKey(ss);
        let sg = rg.scopes.get(sKey);
        if (!sg) {
          sg = { key: sKey, scopeSpans: ss, spans: [] };
          rg.scopes.set(sKey, sg);
        }
        for (const span of ss.spans) {
          const candidate: Kept = { span, resource: rg, scope: sg };
          const key = spanKey(span);
          const existing = kept.get(key);
          kept.set(key, existing ? prefer(existing, candidate) : candidate);
        }
      }
    }
  }

  for (const k of kept.values()) k.scope.spans.push(k.span);

  const out: ResourceSpans[] = [];
  for (const rg of [...resources.values()].sort((a, b) => compareStrings(a.key, b.key))) {
    const scopeSpans = [];
    for (const sg of [...rg.scopes.values()].sort((a, b) => compareStrings(a.key, b.key))) {
      if (sg.spans.length === 0) continue;
      sg.spans.sort(compareSpans);
      scopeSpans.push(create(ScopeSpansSchema, { scope: sg.scopeSpans.scope, schemaUrl: sg.scopeSpans.schemaUrl, spans: sg.spans }));
    }
    if (scopeSpans.length === 0) continue;
    out.push(create(ResourceSpansSchema, { resource: rg.resourceSpans.resource, schemaUrl: rg.resourceSpans.schemaUrl, scopeSpans }));
  }
  return create(TraceSchema, { resourceSpans: out });
}

function compareSpans(a: Span, b: Span): number {
  if (a.startTimeUnixNano !== b.startTimeUnixNano) return a.startTimeUnixNano < b.startTimeUnixNano ? -1 : 1;
  return Buffer.compare(a.spanId, b.spanId) || a.kind - b.kind;
}

/**
 * Joins parts that are each already combined (an ingester's answer, a block's trace, a job's result): one
 * part is taken as it is, only several are combined. Undefined when there is none. Read paths use this so a
 * trace found in one place is not combined again at every hop (for a 20,000-span trace that is the cost).
 */
export function joinCombined(parts: readonly TraceLike[]): Trace | undefined {
  if (parts.length === 0) return undefined;
  if (parts.length > 1) return combineTraces(parts);
  const only = parts[0]!;
  return isTrace(only) ? only : create(TraceSchema, { resourceSpans: [...only.resourceSpans] });
}

function isTrace(t: TraceLike): t is Trace {
  return (t as { $typeName?: string }).$typeName === TraceSchema.typeName;
}

/**
 * These rules for the wire-level combine (@stave/block's WireTraceMerger): the identity and order keys of
 * resources and scopes, and this module's combine for the traces it hands back.
 */
export const COMBINE_RULES = Object.freeze({ resourceOrder: resourceKey, scopeOrder: scopeKey, combine: combineTraces });

/** Combines per-trace protobuf encodings (stave.v1.Trace / TracesData), e.g. the slices splitByTrace makes. */
export function combineTraceBytes(parts: readonly Uint8Array[]): Trace {
  return combineTraces(parts.map((p) => fromBinary(TraceSchema, p)));
}

/** The number of spans in a trace. */
export function countSpans(trace: TraceLike): number {
  let n = 0;
  for (const rs of trace.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}
