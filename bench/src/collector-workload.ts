// The collector-shaped workload: what an OpenTelemetry Collector's batch processor sends when many SDKs
// export through it. Every span of every trace is shuffled over the whole run (a trace's spans arrive in
// many requests, minutes apart, so every trace stays live until the end: the worst case for live-trace
// bookkeeping), and each request of `batchSpans` spans holds one ResourceSpans per service instance
// (grouped by service, as the batch processor concatenates its senders' ResourceSpans).
//
// The same simulated shop as workload.ts (same traces for the same seed), only cut differently. Spans are
// encoded once, into arenas, and requests are assembled on the wire from those bytes, so the pool costs
// about its encoded size. A run larger than the pool replays it in rounds with rewritten trace IDs, as
// the project workload does; `interleavedOrder` spreads the rounds over the whole run too.

import { toBinary } from '@bufbuild/protobuf';
import { InstrumentationScopeSchema, ResourceSchema, SpanSchema } from '@stave/proto';
import { INSTANCES_PER_SERVICE, MAX_SPANS_PER_TRACE, SEMCONV_SCHEMA, TraceSource, poolBody, type Body, type Pool, type PoolOptions } from './workload';

const ARENA_BYTES = 16 * 1024 * 1024;

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Size of a length-delimited field (tag byte + length varint + payload); fields here are all < 16. */
const lenField = (len: number): number => 1 + varintSize(len) + len;

class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(v: number): void {
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  /** Tag of a length-delimited field, then its length. */
  head(field: number, len: number): void {
    this.buf[this.pos++] = (field << 3) | 2;
    this.varint(len);
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** Encoded spans in arenas: span i is `arenas[arena[i]].subarray(off[i], off[i] + len[i])`. */
class SpanStore {
  readonly arenas: Buffer[] = [];
  private cur = Buffer.allocUnsafe(ARENA_BYTES);
  private used = 0;
  count = 0;
  constructor(
    readonly arena: Uint16Array,
    readonly off: Uint32Array,
    readonly len: Uint32Array,
  ) {
    this.arenas.push(this.cur);
  }
  add(bytes: Uint8Array): void {
    if (this.used + bytes.length > this.cur.length) {
      this.cur = Buffer.allocUnsafe(Math.max(ARENA_BYTES, bytes.length));
      this.arenas.push(this.cur);
      this.used = 0;
    }
    this.cur.set(bytes, this.used);
    this.arena[this.count] = this.arenas.length - 1;
    this.off[this.count] = this.used;
    this.len[this.count] = bytes.length;
    this.used += bytes.length;
    this.count++;
  }
  span(i: number): Buffer {
    return this.arenas[this.arena[i]!]!.subarray(this.off[i]!, this.off[i]! + this.len[i]!);
  }
}

/**
 * Generates the collector-shaped pool: `traces` traces whose spans are shuffled together and cut into
 * requests of `batchSpans` spans. Deterministic in `seed` and `nowMs`.
 */
export function generateCollectorPool(opts: PoolOptions): Pool {
  const t0 = performance.now();
  const src = new TraceSource(opts);
  const { resources, scopes, traceIds, spansPerTrace, cutRng } = src;
  const resourceBytes = resources.map((r) => toBinary(ResourceSchema, r));
  const scopeBytes = scopes.map((s) => toBinary(InstrumentationScopeSchema, s));
  const schema = Buffer.from(SEMCONV_SCHEMA);

  const maxSpans = opts.traces * MAX_SPANS_PER_TRACE;
  const store = new SpanStore(new Uint16Array(maxSpans), new Uint32Array(maxSpans), new Uint32Array(maxSpans));
  const spanTrace = new Uint32Array(maxSpans);
  const spanResource = new Uint16Array(maxSpans);
  for (let t = 0; t < opts.traces; t++) {
    for (const d of src.trace(t)) {
      spanTrace[store.count] = t;
      spanResource[store.count] = d.resource;
      store.add(toBinary(SpanSchema, d.span));
    }
  }
  const spanCount = store.count;
  // Every span of every trace, in a seeded random order (Fisher–Yates).
  const order = new Uint32Array(spanCount);
  for (let i = 0; i < spanCount; i++) order[i] = i;
  for (let i = spanCount - 1; i > 0; i--) {
    const j = Math.floor(cutRng.next() * (i + 1));
    const x = order[i]!;
    order[i] = order[j]!;
    order[j] = x;
  }

  const bodies: Body[] = [];
  let bytes = 0;
  for (let from = 0; from < spanCount; from += opts.batchSpans) {
    const batch = order.subarray(from, Math.min(spanCount, from + opts.batchSpans));
    const byResource = new Map<number, number[]>();
    const counts = new Map<number, number>();
    for (const s of batch) {
      const r = spanResource[s]!;
      let list = byResource.get(r);
      if (!list) byResource.set(r, (list = []));
      list.push(s);
      counts.set(spanTrace[s]!, (counts.get(spanTrace[s]!) ?? 0) + 1);
    }
    // Sizes bottom-up: ScopeSpans, then ResourceSpans, then the request.
    const groups = [...byResource].sort((a, b) => a[0] - b[0]);
    const sizes = groups.map(([r, spans]) => {
      let scopeSpans = lenField(scopeBytes[Math.floor(r / INSTANCES_PER_SERVICE)]!.length) + lenField(schema.length);
      for (const s of spans) scopeSpans += lenField(store.len[s]!);
      const resourceSpans = lenField(resourceBytes[r]!.length) + lenField(scopeSpans) + lenField(schema.length);
      return { scopeSpans, resourceSpans };
    });
    const total = sizes.reduce((n, s) => n + lenField(s.resourceSpans), 0);
    const w = new Writer(Buffer.allocUnsafe(total));
    groups.forEach(([r, spans], g) => {
      const { scopeSpans, resourceSpans } = sizes[g]!;
      w.head(1, resourceSpans); // ExportTraceServiceRequest.resource_spans
      w.head(1, resourceBytes[r]!.length); // ResourceSpans.resource
      w.bytes(resourceBytes[r]!);
      w.head(2, scopeSpans); // ResourceSpans.scope_spans
      const scope = scopeBytes[Math.floor(r / INSTANCES_PER_SERVICE)]!;
      w.head(1, scope.length); // ScopeSpans.scope
      w.bytes(scope);
      for (const s of spans) {
        w.head(2, store.len[s]!); // ScopeSpans.spans
        w.bytes(store.span(s));
      }
      w.head(3, schema.length); // ScopeSpans.schema_url
      w.bytes(schema);
      w.head(3, schema.length); // ResourceSpans.schema_url
      w.bytes(schema);
    });
    if (w.pos !== total) throw new Error(`internal: request encoded to ${w.pos} bytes, sized ${total}`);
    bodies.push(poolBody(w.buf, batch.length, counts));
    bytes += total;
  }
  return { seed: opts.seed, bodies, traceIds, traceCount: opts.traces, spanCount, spansPerTrace, bytes, generateMs: performance.now() - t0 };
}
