// One tag job's evaluation, shared by the ingester and the querier: whole traces go in, and out come the
// attribute names per scope (Tempo's tag names), or the distinct values of one TraceQL attribute or
// intrinsic (Tempo's tag values, typed as its v2 API prints them), optionally only over the spans a TraceQL
// query matches. Bounded: at most MAX_TAG_VALUES distinct names or values per job.

import { create } from '@bufbuild/protobuf';
import type { TraceLike } from '@stave/model';
import { SearchTagsResponseSchema, type SearchTagsRequest, type SearchTagsResponse, type TracesData } from '@stave/proto';
import { Code, ConnectError } from '@stave/server';
import { indexTraces, parseFieldExpression, staticToString, type AttributeExpr, type CompiledQuery, type EvalSpan, type Static } from '@stave/traceql';
import { compileSearch } from './search';

/** Distinct names or values one job collects at most (a high-cardinality attribute stops here). */
export const MAX_TAG_VALUES = 10_000;

/** The scopes `/api/v2/search/tags` accepts (`""` and `none` mean all). */
export const TAG_SCOPES = ['', 'none', 'span', 'resource', 'event', 'link', 'instrumentation', 'intrinsic'] as const;

/** The intrinsics Stave's TraceQL answers, listed under the `intrinsic` scope. */
export const INTRINSIC_TAGS = ['duration', 'kind', 'name', 'rootName', 'rootServiceName', 'span:id', 'status', 'statusMessage', 'trace:id', 'traceDuration'];

/** A TraceQL attribute for tag values; 400 naming the problem as Tempo's v2 API does. */
export function parseTagName(tag: string): AttributeExpr {
  let e;
  try {
    e = parseFieldExpression(tag);
  } catch (err) {
    throw new ConnectError(`please provide a valid tagName: ${(err as { rawMessage?: string }).rawMessage ?? String(err)}`, Code.InvalidArgument);
  }
  if (e.kind !== 'attribute') throw new ConnectError(`please provide a valid tagName: ${tag} is not an attribute`, Code.InvalidArgument);
  return e;
}

function valueOf(a: AttributeExpr, s: EvalSpan): Static | undefined {
  if (a.intrinsic !== undefined) {
    switch (a.intrinsic) {
      case 'name':
        return { type: 'string', value: s.name };
      case 'status':
        return { type: 'status', value: s.status };
      case 'kind':
        return { type: 'kind', value: s.kind };
      case 'statusMessage':
        return s.statusMessage === '' ? undefined : { type: 'string', value: s.statusMessage };
      case 'duration':
        return { type: 'duration', value: s.durationNanos };
      case 'traceDuration':
        return { type: 'duration', value: s.trace.durationNanos };
      case 'rootName':
        return s.trace.root ? { type: 'string', value: s.trace.root.name } : undefined;
      case 'rootServiceName':
        return s.trace.rootServiceName ? { type: 'string', value: s.trace.rootServiceName } : undefined;
      default:
        return undefined;
    }
  }
  switch (a.scope) {
    case 'span':
      return s.attributes.get(a.name);
    case 'resource':
      return s.resourceAttributes.get(a.name);
    case 'none':
      return s.attributes.get(a.name) ?? s.resourceAttributes.get(a.name);
    case 'instrumentation':
      return s.scopeAttributes.get(a.name);
    case 'event':
      return s.events.map((e) => e.attributes.get(a.name)).find((v) => v !== undefined);
    case 'link':
      return s.links.map((l) => l.attributes.get(a.name)).find((v) => v !== undefined);
  }
}

/** Tempo's v2 value type for a TraceQL static; arrays give one value per element. */
function typedValues(s: Static): Array<[string, string]> {
  switch (s.type) {
    case 'status':
    case 'kind':
      return [['keyword', staticToString(s, false)]];
    case 'stringArray':
      return s.value.map((v) => ['string', v]);
    case 'intArray':
      return s.value.map((v) => ['int', String(v)]);
    case 'floatArray':
      return s.value.map((v) => ['float', staticToString({ type: 'float', value: v }, false)]);
    case 'boolArray':
      return s.value.map((v) => ['bool', String(v)]);
    case 'nil':
      return [];
    default:
      return [[s.type, staticToString(s, false)]];
  }
}

export class TagsCollector {
  private readonly filter: CompiledQuery | undefined;
  private readonly tag: AttributeExpr | undefined;
  private readonly names = new Map<string, Set<string>>();
  private readonly values = new Map<string, [string, string]>();
  private count = 0;
  inspectedTraces = 0;
  inspectedBytes = 0n;
  inspectedBlocks = 0;
  totalBlockBytes = 0n;

  constructor(private readonly req: SearchTagsRequest) {
    this.filter = req.query.trim() !== '' && req.query.trim() !== '{}' ? compileSearch(req.query) : undefined;
    this.tag = req.tagName !== '' ? parseTagName(req.tagName) : undefined;
    if (!this.tag) for (const s of this.scopes()) this.names.set(s, new Set(s === 'intrinsic' ? INTRINSIC_TAGS : []));
  }

  get full(): boolean {
    return this.count >= MAX_TAG_VALUES;
  }

  private scopes(): string[] {
    const s = this.req.scope;
    return s === '' || s === 'none' ? ['span', 'resource', 'intrinsic'] : [s];
  }

  add(trace: TraceLike, bytes = 0): void {
    if (this.full) return;
    this.inspectedTraces++;
    this.inspectedBytes += BigInt(bytes);
    for (const t of indexTraces(trace as TracesData)) {
      const spans = this.filter ? [...new Set(this.filter.evaluate(t).flatMap((ss) => ss.spans))] : t.spans;
      for (const s of spans) {
        if (this.tag) this.addValues(this.tag, s);
        else this.addNames(s);
        if (this.full) return;
      }
    }
  }

  /** The tag whose values this job lists when no query narrows them (values may then come from block columns). */
  get unfilteredTag(): AttributeExpr | undefined {
    return this.filter ? undefined : this.tag;
  }

  private addValues(tag: AttributeExpr, s: EvalSpan): void {
    const v = valueOf(tag, s);
    if (v !== undefined) this.addStatic(v);
  }

  /** One value of the tag, found without a trace (a block column's dictionary). */
  addStatic(v: Static): void {
    if (this.full) return;
    for (const [type, value] of typedValues(v)) {
      const k = `${type}\u0000${value}`;
      if (this.values.has(k)) continue;
      this.values.set(k, [type, value]);
      this.count++;
    }
  }

  private addNames(s: EvalSpan): void {
    const add = (scope: string, keys: Iterable<string>) => {
      const set = this.names.get(scope);
      if (!set) return;
      for (const k of keys) {
        if (set.has(k)) continue;
        set.add(k);
        this.count++;
      }
    };
    add('span', s.attributes.keys());
    add('resource', s.resourceAttributes.keys());
    add('instrumentation', s.scopeAttributes.keys());
    for (const e of s.events) add('event', e.attributes.keys());
    for (const l of s.links) add('link', l.attributes.keys());
  }

  response(): SearchTagsResponse {
    return create(SearchTagsResponseSchema, {
      scopes: [...this.names].map(([name, tags]) => ({ name, tags: [...tags].sort() })),
      values: [...this.values.values()].map(([type, value]) => ({ type, value })),
      metrics: {
        inspectedTraces: this.inspectedTraces,
        inspectedBytes: this.inspectedBytes,
        inspectedBlocks: this.inspectedBlocks,
        totalBlockBytes: this.totalBlockBytes,
      },
    });
  }
}
