// Combining the encoded parts of one trace (trace-codec.ts's layout, as blocks store them) without
// decoding them: compaction's hot path. The result is byte for byte what
// `TraceEncoder.encode(combine(parts.map(decodeTrace)))` gives with @stave/model's combineTraces:
//
// - Resources and scopes are grouped and ordered by the caller's keys (`resourceOrder`, `scopeOrder`:
//   combineTraces's protobuf-encoding keys). A key is computed once per distinct resource or scope encoding
//   (from a tiny decode of that header alone) and cached; the cache is bounded (`MAX_ORDER_KEYS`).
// - Spans are deduplicated by (span ID, kind). A copy that is byte-identical to the one kept, under the same
//   resource and scope, is dropped. When two copies differ (content or where they sit), the rule that picks
//   one (smallest encoding) needs the protobuf encodings: that trace is combined at the object level by
//   the caller's `combine` (counted in `fallbacks`); replicas write identical copies, so this is rare.
// - Spans are ordered by start time, span ID and kind; each span's bytes are copied from its part, with only
//   its start time (relative to the trace's base time) and its parent reference (an index into the trace's
//   spans) rewritten.
//
// Memory: the scanned records of the parts of one trace and the output streams, reused from trace to trace.

import type { ResourceSpans, ScopeSpans, TracesData } from '@stave/proto';
import { rangeEqual, sampleHash } from './byte-strings';
import { ByteWriter } from './bytes';
import { IdTable } from './id-table';
import { decodeTrace, TraceEncoder } from './trace-codec';
import { TraceRowsBuilder } from './trace-rows';
import { type HeaderLengths, type HeaderRec, type SpanRec, TraceScan } from './trace-scan';

export interface WireMergeRules {
  /** Identity and order of a ResourceSpans (resource and schema URL; its scopeSpans are empty). */
  resourceOrder(rs: ResourceSpans): string;
  /** Identity and order of a ScopeSpans (scope and schema URL; its spans are empty). */
  scopeOrder(ss: ScopeSpans): string;
  /** The object-level combine, for traces whose duplicate spans differ. */
  combine(parts: TracesData[]): Pick<TracesData, 'resourceSpans'>;
}

/** Where the order key of one header is kept, shared by every part that holds that header. */
export interface HeaderOrder {
  order: string | undefined;
}

/**
 * What the caller knows of a part's headers (OtlpTraceCombiner: the transcoder's cache entries), in the
 * order the encoding holds them: one slot per resource and per scope, so equal headers are keyed once per
 * build instead of hashed and compared in every part.
 */
export interface PartHeaderOrders {
  readonly resources: ReadonlyArray<HeaderOrder & HeaderLengths>;
  readonly scopes: ReadonlyArray<HeaderOrder & HeaderLengths>;
}

/** Distinct header encodings whose order key is cached (a few per service and library in practice). */
const MAX_ORDER_KEYS = 16_384;

interface ScopeGroup {
  readonly order: string;
  readonly part: number;
  readonly rec: number;
  /** Kept spans (entries of the merger's span table). */
  readonly spans: number[];
}

interface ResourceGroup {
  readonly order: string;
  readonly part: number;
  readonly rec: number;
  readonly scopes: Map<string, ScopeGroup>;
}

interface HeaderEntry {
  /** The header's shape, strs and nums bytes, back to back. */
  readonly bytes: Buffer;
  readonly shapeLen: number;
  readonly strsLen: number;
  readonly key: string;
  readonly next: HeaderEntry | undefined;
}

/**
 * Order keys by header encoding: the bytes are hashed and compared where they lie (no string of them is
 * made per lookup). Bounded by MAX_ORDER_KEYS.
 */
class HeaderKeys {
  private readonly table = new Map<number, HeaderEntry>();
  private size = 0;

  private static hash(buf: Buffer, h: HeaderRec): number {
    return sampleHash(buf, h.numsA, h.numsB, sampleHash(buf, h.strsA, h.strsB, sampleHash(buf, h.shapeA, h.shapeB)));
  }

  get(buf: Buffer, h: HeaderRec): string | undefined {
    const shapeLen = h.shapeB - h.shapeA;
    const strsLen = h.strsB - h.strsA;
    const numsLen = h.numsB - h.numsA;
    for (let e = this.table.get(HeaderKeys.hash(buf, h)); e !== undefined; e = e.next) {
      if (
        e.shapeLen === shapeLen &&
        e.strsLen === strsLen &&
        e.bytes.length === shapeLen + strsLen + numsLen &&
        rangeEqual(e.bytes, 0, buf, h.shapeA, shapeLen) &&
        rangeEqual(e.bytes, shapeLen, buf, h.strsA, strsLen) &&
        rangeEqual(e.bytes, shapeLen + strsLen, buf, h.numsA, numsLen)
      )
        return e.key;
    }
    return undefined;
  }

  set(buf: Buffer, h: HeaderRec, key: string): void {
    if (this.size >= MAX_ORDER_KEYS) {
      this.table.clear();
      this.size = 0;
    }
    const shapeLen = h.shapeB - h.shapeA;
    const strsLen = h.strsB - h.strsA;
    const bytes = Buffer.allocUnsafeSlow(shapeLen + strsLen + h.numsB - h.numsA);
    buf.copy(bytes, 0, h.shapeA, h.shapeB);
    buf.copy(bytes, shapeLen, h.strsA, h.strsB);
    buf.copy(bytes, shapeLen + strsLen, h.numsA, h.numsB);
    const hash = HeaderKeys.hash(buf, h);
    this.table.set(hash, { bytes, shapeLen, strsLen, key, next: this.table.get(hash) });
    this.size++;
  }
}

/** Part bases further apart than this from the first part's take the bigint path (numbers stay exact below 2^53). */
const REL_LIMIT = 2n ** 50n;

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class WireTraceMerger {
  /** Traces combined at the object level because duplicate spans differed. */
  fallbacks = 0;
  /** Spans in the last merged trace. */
  lastSpanCount = 0;
  /**
   * The last merged trace's column values (trace-rows.ts), so the block writer need not scan it again;
   * undefined when it was combined at the object level. Valid until the next call, as the encoding is.
   */
  lastRows: Int32Array | undefined;
  private readonly rows = new TraceRowsBuilder();
  /** The trace's kept spans by (span ID, kind); each entry's part, span and groups in the arrays below. */
  private readonly kept = new IdTable();
  private keptPart = new Int32Array(256);
  private keptSpan = new Int32Array(256);
  /** With `numeric`: each kept span's start, relative to `relBase` (numericStarts). */
  private keptStart = new Float64Array(256);
  private numeric = false;
  private relBase = 0n;
  private partDelta: number[] = [];
  private readonly keptScope: ScopeGroup[] = [];
  private readonly keptResource: ResourceGroup[] = [];
  /** The output's span IDs, each with the output index of its first span: parents become references. */
  private readonly spanIndex = new IdTable();
  private readonly scans: TraceScan[] = [];
  /** The header hints of the distinct parts (merge). */
  private readonly hints: Array<PartHeaderOrders | undefined> = [];
  private readonly shape = new ByteWriter(4096);
  private readonly ids = new ByteWriter(1024);
  private readonly times = new ByteWriter(1024);
  private readonly strs = new ByteWriter(8192);
  private readonly nums = new ByteWriter(512);
  private readonly out = new ByteWriter(16 * 1024);
  private readonly mini = new ByteWriter(1024);
  private readonly encoder = new TraceEncoder();
  private readonly resourceKeys = new HeaderKeys();
  private readonly scopeKeys = new HeaderKeys();

  constructor(private readonly rules: WireMergeRules) {}

  /**
   * Combines the encoded parts of trace `traceId` into one encoding. Returns a view that is valid until
   * the next call. `headers[i]`, when given, holds the order-key slots of part i's headers.
   */
  merge(traceId: Uint8Array, parts: readonly Uint8Array[], headers?: ReadonlyArray<PartHeaderOrders | undefined>): Buffer {
    // Identical parts (replicas of one flush) are one part.
    const distinct: Buffer[] = [];
    const hints = this.hints;
    hints.length = 0;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      const b = Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
      if (!distinct.some((d) => d.length === b.length && d.equals(b))) {
        distinct.push(b);
        hints.push(headers?.[i]);
      }
    }
    for (let i = 0; i < distinct.length; i++) {
      const d = distinct[i]!;
      const h = hints[i];
      const sc = (this.scans[i] ??= new TraceScan()).scan(d, 0, d.length, h);
      if (h && (h.resources.length !== sc.resourceCount || h.scopes.length !== sc.scopeCount)) {
        // Not this part's headers (never from OtlpTraceCombiner): scanned again without them.
        hints[i] = undefined;
        sc.scan(d);
      }
    }
    const scans = this.scans;

    const resources = new Map<string, ResourceGroup>();
    // The kept spans, by (span ID, kind): entries of `kept`, with their part, span and groups beside it.
    let total = 0;
    for (let p = 0; p < distinct.length; p++) total += scans[p]!.spanCount;
    const kept = this.kept;
    kept.reset(total);
    if (this.keptPart.length < total) {
      this.keptPart = new Int32Array(Math.max(total, 2 * this.keptPart.length));
      this.keptSpan = new Int32Array(this.keptPart.length);
    }
    const { keptPart, keptSpan, keptScope, keptResource } = this;
    for (let p = 0; p < distinct.length; p++) {
      const sc = scans[p]!;
      const hint = hints[p];
      for (let r = 0; r < sc.resourceCount; r++) {
        const rr = sc.resources[r]!;
        const rSlot = hint?.resources[r];
        const rOrder = rSlot ? (rSlot.order ??= this.resourceOrder(sc, rr)) : this.resourceOrder(sc, rr);
        let rg = resources.get(rOrder);
        if (!rg) {
          rg = { order: rOrder, part: p, rec: r, scopes: new Map() };
          resources.set(rOrder, rg);
        }
        for (let s = rr.firstScope; s < rr.firstScope + rr.scopeCount; s++) {
          const sr = sc.scopes[s]!;
          const sSlot = hint?.scopes[s];
          const sOrder = sSlot ? (sSlot.order ??= this.scopeOrder(sc, sr)) : this.scopeOrder(sc, sr);
          let sg = rg.scopes.get(sOrder);
          if (!sg) {
            sg = { order: sOrder, part: p, rec: s, spans: [] };
            rg.scopes.set(sOrder, sg);
          }
          for (let k = sr.firstSpan; k < sr.firstSpan + sr.spanCount; k++) {
            const sp = sc.spans[k]!;
            const e = kept.find(sc.buf, sp.spanIdA, sp.spanIdB, sp.kind | 0);
            if (e < 0) {
              const added = kept.add(sc.buf, sp.spanIdA, sp.spanIdB, sp.kind | 0);
              keptPart[added] = p;
              keptSpan[added] = k;
              keptScope[added] = sg;
              keptResource[added] = rg;
              sg.spans.push(added);
            } else if (keptScope[e] !== sg || keptResource[e] !== rg || !this.sameSpan(keptPart[e]!, keptSpan[e]!, p, k)) {
              keptScope.length = keptResource.length = 0;
              return this.fallback(traceId, distinct);
            }
          }
        }
      }
    }
    keptScope.length = keptResource.length = 0;
    this.numericStarts(distinct.length, kept.size);

    // Output order, and the first pass of the encoder: base time and the first index of each span ID.
    const order: ResourceGroup[] = [...resources.values()].sort((a, b) => compareStrings(a.order, b.order));
    const scopeOrders: ScopeGroup[][] = [];
    const spanIndex = this.spanIndex;
    spanIndex.reset(kept.size);
    let first: SpanRec | undefined;
    const numeric = this.numeric;
    const keptStart = this.keptStart;
    let firstRel = Infinity;
    let n = 0;
    for (const rg of order) {
      const groups = [...rg.scopes.values()].filter((g) => g.spans.length > 0).sort((a, b) => compareStrings(a.order, b.order));
      scopeOrders.push(groups);
      for (const sg of groups) {
        sg.spans.sort((a, b) => this.compareSpans(a, b));
        for (const e of sg.spans) {
          const sc = scans[keptPart[e]!]!;
          const sp = sc.spans[keptSpan[e]!]!;
          if (spanIndex.find(sc.buf, sp.spanIdA, sp.spanIdB, 0) < 0) spanIndex.add(sc.buf, sp.spanIdA, sp.spanIdB, 0, n);
          n++;
          if (numeric) {
            if (keptStart[e]! < firstRel) firstRel = keptStart[e]!;
          } else if (first === undefined || compareStarts(sp, first) < 0) first = sp;
        }
      }
    }
    const base = numeric ? (n > 0 ? this.relBase + BigInt(firstRel) : 0n) : (first?.start ?? 0n);
    this.lastSpanCount = n;

    const { shape, ids, times, strs, nums } = this;
    shape.reset();
    ids.reset();
    times.reset();
    strs.reset();
    nums.reset();
    times.varintBig(base);
    this.rows.reset();
    let resourcesOut = 0;
    for (const groups of scopeOrders) if (groups.length > 0) resourcesOut++;
    shape.varint(resourcesOut);
    for (let i = 0; i < order.length; i++) {
      const groups = scopeOrders[i]!;
      if (groups.length === 0) continue;
      const rg = order[i]!;
      const rsc = scans[rg.part]!;
      const rr = rsc.resources[rg.rec]!;
      // The service name's place in the output's strs stream (the rows are moved to the trace's bytes last).
      const serviceA = rr.serviceA >= 0 ? rr.serviceA - rr.strsA + strs.length : rr.serviceA;
      const serviceB = rr.serviceA >= 0 ? rr.serviceB - rr.strsA + strs.length : -1;
      this.copyHeader(rsc, rr);
      shape.varint(groups.length);
      for (const sg of groups) {
        const ssc = scans[sg.part]!;
        this.copyHeader(ssc, ssc.scopes[sg.rec]!);
        shape.varint(sg.spans.length);
        for (const e of sg.spans) this.copySpan(scans[keptPart[e]!]!, keptSpan[e]!, e, base, firstRel, serviceA, serviceB);
      }
    }
    const out = this.assemble();
    this.rows.shiftStrings(out.length - strs.length - nums.length);
    this.lastRows = this.rows.view();
    return out;
  }

  private assemble(): Buffer {
    const { out, shape, ids, times, strs, nums } = this;
    out.reset();
    out.varint(shape.length);
    out.varint(ids.length);
    out.varint(times.length);
    out.varint(strs.length);
    out.copyFrom(shape.buf, 0, shape.length);
    out.copyFrom(ids.buf, 0, ids.length);
    out.copyFrom(times.buf, 0, times.length);
    out.copyFrom(strs.buf, 0, strs.length);
    out.copyFrom(nums.buf, 0, nums.length);
    return out.view();
  }

  private copyHeader(sc: TraceScan, h: HeaderRec): void {
    this.shape.copyFrom(sc.buf, h.shapeA, h.shapeB);
    this.strs.copyFrom(sc.buf, h.strsA, h.strsB);
    this.nums.copyFrom(sc.buf, h.numsA, h.numsB);
  }

  /**
   * Whether every kept span's start is a number relative to one base (`relBase`), `keptStart`: spans of
   * different parts (each scanned relative to its own base) then sort and write without a bigint per span.
   */
  private numericStarts(parts: number, kept: number): void {
    this.numeric = false;
    if (parts === 0) return;
    const scans = this.scans;
    const relBase = scans[0]!.base;
    const delta = this.partDelta;
    for (let p = 0; p < parts; p++) {
      const d = scans[p]!.base - relBase;
      if (d >= REL_LIMIT || d <= -REL_LIMIT) return;
      delta[p] = Number(d);
    }
    if (this.keptStart.length < kept) this.keptStart = new Float64Array(this.keptPart.length);
    const { keptPart, keptSpan, keptStart } = this;
    for (let e = 0; e < kept; e++) {
      const p = keptPart[e]!;
      const sp = scans[p]!.spans[keptSpan[e]!]!;
      // small: the span's times are numbers from its part's base, below 2^48 (TraceScan).
      if (!sp.small) return;
      keptStart[e] = delta[p]! + sp.startOff;
    }
    this.relBase = relBase;
    this.numeric = true;
  }

  private copySpan(sc: TraceScan, k: number, e: number, base: bigint, firstRel: number, serviceA: number, serviceB: number): void {
    const { shape, ids, times, strs, nums } = this;
    const sp = sc.spans[k]!;
    const buf = sc.buf;
    shape.copyFrom(buf, sp.shapeA, sp.parentShapeA);
    ids.copyFrom(buf, sp.idsA, sp.spanIdB);
    // TraceScan's root rule on the output: no parent, or an explicit (not referenced) all-zero one.
    let root = false;
    if (sp.parentRef === -1) {
      shape.varint(0);
      root = true;
    } else {
      // The parent's ID: explicit, or the ID of the span of this part it referred to.
      const ref = sp.parentRef === -2 ? sp : sc.spans[sp.parentRef]!;
      const pa = sp.parentRef === -2 ? ref.parentIdA : ref.spanIdA;
      const pb = sp.parentRef === -2 ? ref.parentIdB : ref.spanIdB;
      const e = this.spanIndex.find(buf, pa, pb, 0);
      if (e >= 0) shape.varint(this.spanIndex.value(e) + 2);
      else {
        shape.varint(1);
        shape.varint(pb - pa);
        ids.copyFrom(buf, pa, pb);
        root = allZero(buf, pa, pb);
      }
    }
    if (this.numeric) this.rows.add(sp, strs.length - sp.strsA, serviceA, serviceB, root, this.relBase, this.keptStart[e]!);
    else this.rows.add(sp, strs.length - sp.strsA, serviceA, serviceB, root);
    shape.copyFrom(buf, sp.parentShapeB, sp.shapeB);
    ids.copyFrom(buf, sp.parentRef === -2 ? sp.parentIdB : sp.spanIdB, sp.idsB);
    if (this.numeric) times.zigzag(this.keptStart[e]! - firstRel);
    else times.zigzagBig(sp.start - base);
    times.copyFrom(buf, sp.timesTailA, sp.timesB);
    strs.copyFrom(buf, sp.strsA, sp.strsB);
    nums.copyFrom(buf, sp.numsA, sp.numsB);
  }

  private compareSpans(a: number, b: number): number {
    const sa = this.scans[this.keptPart[a]!]!;
    const sb = this.scans[this.keptPart[b]!]!;
    const x = sa.spans[this.keptSpan[a]!]!;
    const y = sb.spans[this.keptSpan[b]!]!;
    const c = this.numeric ? this.keptStart[a]! - this.keptStart[b]! : compareStarts(x, y);
    if (c !== 0) return c;
    return sa.buf.compare(sb.buf, y.spanIdA, y.spanIdB, x.spanIdA, x.spanIdB) || x.kind - y.kind;
  }

  /** Whether two span copies are the same span: every byte equal but for the context-relative parts. */
  private sameSpan(pa: number, ka: number, pb: number, kb: number): boolean {
    const sa = this.scans[pa]!;
    const sb = this.scans[pb]!;
    const x = sa.spans[ka]!;
    const y = sb.spans[kb]!;
    if (compareStarts(x, y) !== 0) return false;
    const eq = (a0: number, a1: number, b0: number, b1: number) => a1 - a0 === b1 - b0 && sa.buf.compare(sb.buf, b0, b1, a0, a1) === 0;
    if (!eq(x.shapeA, x.parentShapeA, y.shapeA, y.parentShapeA)) return false;
    if (!eq(x.parentShapeB, x.shapeB, y.parentShapeB, y.shapeB)) return false;
    if (!eq(x.idsA, x.spanIdB, y.idsA, y.spanIdB)) return false;
    if (!eq(x.parentRef === -2 ? x.parentIdB : x.spanIdB, x.idsB, y.parentRef === -2 ? y.parentIdB : y.spanIdB, y.idsB)) return false;
    if (!eq(x.timesTailA, x.timesB, y.timesTailA, y.timesB)) return false;
    if (!eq(x.strsA, x.strsB, y.strsA, y.strsB)) return false;
    if (!eq(x.numsA, x.numsB, y.numsA, y.numsB)) return false;
    const p = sa.parentId(ka);
    const q = sb.parentId(kb);
    return p === undefined ? q === undefined : q !== undefined && p.equals(q);
  }

  private fallback(traceId: Uint8Array, parts: readonly Buffer[]): Buffer {
    this.fallbacks++;
    this.lastRows = undefined;
    const combined = this.rules.combine(parts.map((p) => decodeTrace(traceId, p)));
    let n = 0;
    for (const rs of combined.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
    this.lastSpanCount = n;
    this.out.reset();
    this.encoder.encode(traceId, combined as TracesData, this.out);
    return this.out.view();
  }

  /** combineTraces's key of a resource, from a decode of its header alone (cached by encoding). */
  private resourceOrder(sc: TraceScan, h: HeaderRec): string {
    let key = this.resourceKeys.get(sc.buf, h);
    if (key === undefined) {
      // A trace of one resource with no scopes: shape [1, header, 0].
      const rs = this.decodeMini(sc, h, [1], [0]).resourceSpans[0]!;
      key = this.rules.resourceOrder(rs);
      this.resourceKeys.set(sc.buf, h, key);
    }
    return key;
  }

  private scopeOrder(sc: TraceScan, h: HeaderRec): string {
    let key = this.scopeKeys.get(sc.buf, h);
    if (key === undefined) {
      // A trace of one bare resource holding one scope with no spans: shape [1, 0, 1, header, 0].
      const ss = this.decodeMini(sc, h, [1, 0, 1], [0]).resourceSpans[0]!.scopeSpans[0]!;
      key = this.rules.scopeOrder(ss);
      this.scopeKeys.set(sc.buf, h, key);
    }
    return key;
  }

  private decodeMini(sc: TraceScan, h: HeaderRec, before: number[], after: number[]): TracesData {
    const m = this.mini;
    const shapeLen = before.length + (h.shapeB - h.shapeA) + after.length;
    m.reset();
    m.varint(shapeLen);
    m.varint(0); // ids
    m.varint(1); // times: base 0
    m.varint(h.strsB - h.strsA);
    for (const v of before) m.u8(v);
    m.bytes(sc.buf.subarray(h.shapeA, h.shapeB));
    for (const v of after) m.u8(v);
    m.u8(0);
    m.bytes(sc.buf.subarray(h.strsA, h.strsB));
    m.bytes(sc.buf.subarray(h.numsA, h.numsB));
    return decodeTrace(new Uint8Array(16), m.toBytes());
  }
}

function allZero(buf: Buffer, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Orders two spans by start time; numbers when both have them from one base (no bigint per comparison). */
function compareStarts(x: SpanRec, y: SpanRec): number {
  if (x.small && y.small && x.base === y.base) return x.startOff < y.startOff ? -1 : x.startOff > y.startOff ? 1 : 0;
  const xs = x.start;
  const ys = y.start;
  return xs < ys ? -1 : xs > ys ? 1 : 0;
}
