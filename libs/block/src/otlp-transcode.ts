// OTLP protobuf (TracesData, as the ingester's WAL holds a trace's parts) straight into the `trace`
// column's encoding (trace-codec.ts), at the byte level: no message objects, no per-span allocation but
// the span-ID keys the encoding's parent references need. The result is byte for byte what
// `TraceEncoder.encode(traceId, fromBinary(TracesDataSchema, bytes))` writes; the property test in
// otlp-transcode.test.ts holds it to that.
//
// Field order on the wire is free, so each message is scanned once for its singular fields (the last
// occurrence wins, as in protobuf) and the counts of its repeated ones, then written in the encoding's
// order, walking each repeated field again. Unknown fields are skipped (the encoding does not keep them).
// What protobuf decoders merge rather than replace (a singular message field given twice: resource,
// scope, status, KeyValue.value, a second AnyValue case), known fields with an unexpected wire type, and
// malformed bytes are not handled here: `transcode` returns false and the caller takes the object path,
// which then gives the same result (or the same error) it always did.
//
// Strings are copied as they are: the WAL holds what the receivers accepted, and they reject or repair
// invalid UTF-8 (@stave/model's split validates it), so the bytes equal what decoding and re-encoding give.

import { fromBinary } from '@bufbuild/protobuf';
import { TracesDataSchema } from '@stave/proto';
import { rangeEqual, sampleHash } from './byte-strings';
import { ByteWriter } from './bytes';
import { IdTable } from './id-table';
import { type HeaderOrder, type WireMergeRules, WireTraceMerger } from './trace-merge';
import type { HeaderLengths } from './trace-scan';
import {
  TraceEncoder,
  P_EMPTY,
  P_EXPLICIT,
  S_DROPPED,
  S_EVENTS,
  S_FLAGS,
  S_LINKS,
  S_OWN_TRACE_ID,
  S_STATUS,
  S_TRACE_STATE,
  V_ABSENT,
  V_ARRAY,
  V_BYTES,
  V_DOUBLE,
  V_EMPTY,
  V_FALSE,
  V_INT,
  V_KVLIST,
  V_STRING,
  V_TRUE,
} from './trace-codec';

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;

/** Thrown inside the transcoder: these bytes take the object path. */
class NeedsObjectPath extends Error {}
const NEEDS_OBJECT_PATH = new NeedsObjectPath('needs the object path');

const tag = (field: number, wt: number): number => (field << 3) | wt;
/** Field numbers each message declares (bit n = field n): a declared field with another wire type is not ours to read. */
const mask = (...fields: number[]): number => fields.reduce((m, f) => m | (1 << f), 0);
const RESOURCE_SPANS = mask(1, 2, 3);
const RESOURCE = mask(1, 2, 3);
const ENTITY_REF = mask(1, 2, 3, 4);
const SCOPE_SPANS = mask(1, 2, 3);
const SCOPE = mask(1, 2, 3, 4);
const SPAN = mask(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
const EVENT = mask(1, 2, 3, 4);
const LINK = mask(1, 2, 3, 4, 5, 6);
const STATUS = mask(1, 2, 3);
const KEY_VALUE = mask(1, 2);
const ANY_VALUE = mask(1, 2, 3, 4, 5, 6, 7);

const TWO_32 = 4294967296;
/** What the transcoder holds between calls (not the last part's bytes). */
const NO_BYTES = Buffer.alloc(0);

/**
 * Bytes of header encodings one transcoder keeps (HeaderCache): past this it starts over. Counted in each
 * block-building thread's share of `ingester.max_block_building_bytes` (BUILD_THREAD_BYTES, @stave/ingester).
 */
export const MAX_HEADER_CACHE_BYTES = 1024 * 1024;

/** What an entry costs besides its bytes (the object, its buffer's header, the table's slot), roughly. */
const ENTRY_OVERHEAD = 160;

/**
 * A resource's or scope's header as the encoding writes it (TraceScan's HeaderRec: its bits, the message,
 * the schema URL), with the OTLP bytes it was transcoded from.
 */
export class EncodedHeader implements HeaderOrder, HeaderLengths {
  /** The merge's order key of this header, set by the merge the first time it needs it. */
  order: string | undefined = undefined;
  /** A resource's service.name range in its strs bytes, set by the first scan of it (TraceScan). */
  serviceA: number | undefined = undefined;
  serviceB = -1;
  constructor(
    /** OTLP bytes: the message (`messageLen`, -1 when absent), then the schema URL; then shape, strs, nums. */
    readonly bytes: Buffer,
    readonly messageLen: number,
    readonly urlLen: number,
    readonly shapeLen: number,
    readonly strsLen: number,
    readonly next: EncodedHeader | undefined,
  ) {}

  get numsLen(): number {
    return this.bytes.length - Math.max(0, this.messageLen) - this.urlLen - this.shapeLen - this.strsLen;
  }
}

/**
 * The encodings of the resources and scopes one transcoder has seen, by their OTLP bytes: in a collector's
 * requests every trace's part carries its own copy of its resource (~330 bytes of attributes) and scope, and
 * a block's parts repeat a few hundred distinct ones. The bytes are hashed from a sample and compared in
 * full. Bounded by MAX_HEADER_CACHE_BYTES.
 */
class HeaderCache {
  private readonly table = new Map<number, EncodedHeader>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** An int32 (a small integer to V8: Map keys above 2^31 are heap numbers, slower to look up). */
  static hash(buf: Buffer, hA: number, hB: number, urlA: number, urlB: number): number {
    return sampleHash(buf, urlA, urlB, hA < 0 ? 0x9e3779b9 : sampleHash(buf, hA, hB)) | 0;
  }

  find(hash: number, buf: Buffer, hA: number, hB: number, urlA: number, urlB: number): EncodedHeader | undefined {
    const messageLen = hA < 0 ? -1 : hB - hA;
    const urlLen = urlB - urlA;
    const keyLen = Math.max(0, messageLen);
    for (let e = this.table.get(hash); e !== undefined; e = e.next) {
      if (
        e.messageLen === messageLen &&
        e.urlLen === urlLen &&
        (messageLen <= 0 || rangeEqual(e.bytes, 0, buf, hA, messageLen)) &&
        rangeEqual(e.bytes, keyLen, buf, urlA, urlLen)
      )
        return e;
    }
    return undefined;
  }

  /** A new entry: the OTLP bytes, and the encoding written into the streams from the given positions. */
  add(
    hash: number,
    buf: Buffer,
    hA: number,
    hB: number,
    urlA: number,
    urlB: number,
    shape: ByteWriter,
    shapeA: number,
    strs: ByteWriter,
    strsA: number,
    nums: ByteWriter,
    numsA: number,
  ): EncodedHeader {
    const messageLen = hA < 0 ? -1 : hB - hA;
    const keyLen = Math.max(0, messageLen);
    const urlLen = urlB - urlA;
    const shapeLen = shape.length - shapeA;
    const strsLen = strs.length - strsA;
    const size = keyLen + urlLen + shapeLen + strsLen + nums.length - numsA;
    if (this.bytes + size > this.maxBytes) {
      this.table.clear();
      this.bytes = 0;
    }
    const bytes = Buffer.allocUnsafeSlow(size);
    let p = 0;
    if (keyLen > 0) p += buf.copy(bytes, p, hA, hB);
    p += buf.copy(bytes, p, urlA, urlB);
    p += shape.buf.copy(bytes, p, shapeA, shape.length);
    p += strs.buf.copy(bytes, p, strsA, strs.length);
    nums.buf.copy(bytes, p, numsA, nums.length);
    const e = new EncodedHeader(bytes, messageLen, urlLen, shapeLen, strsLen, this.table.get(hash));
    this.table.set(hash, e);
    this.bytes += size + ENTRY_OVERHEAD;
    return e;
  }
}

/** The headers of one transcoded part, in the order the encoding holds them (WireTraceMerger's hints). */
export interface PartHeaders {
  readonly resources: EncodedHeader[];
  readonly scopes: EncodedHeader[];
}

export class OtlpTranscoder {
  private readonly resourceCache = new HeaderCache(MAX_HEADER_CACHE_BYTES / 2);
  private readonly scopeCache = new HeaderCache(MAX_HEADER_CACHE_BYTES / 2);
  /** Where `transcode` notes the headers of the part, when asked. */
  private headers: PartHeaders | undefined;
  private readonly shape = new ByteWriter(4096);
  private readonly ids = new ByteWriter(1024);
  private readonly times = new ByteWriter(1024);
  private readonly strs = new ByteWriter(8192);
  private readonly nums = new ByteWriter(512);
  /** First index of each span ID in the trace (parents become back-references). */
  private readonly spanIndex = new IdTable();
  private buf: Buffer = NO_BYTES;
  private pos = 0;
  /** Result of the last `v64`: the unsigned halves. */
  private lo = 0;
  private hi = 0;
  /** Base time of the trace (smallest span start), as unsigned halves. */
  private baseLo = 0;
  private baseHi = 0;
  private hasBase = false;
  private traceId: Uint8Array = new Uint8Array(0);
  private spanCount = 0;

  /**
   * Appends to `out` the encoding of the TracesData in `data`, whose trace ID is `traceId`. Returns false,
   * with `out` unchanged, when the bytes need the object path (see the top of this file).
   */
  transcode(traceId: Uint8Array, data: Uint8Array, out: ByteWriter, headers?: PartHeaders): boolean {
    this.buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.headers = headers;
    // pop, not `length = 0`: a part has one or two of each, and shrinking by length is a runtime call.
    if (headers) {
      while (headers.resources.length > 0) headers.resources.pop();
      while (headers.scopes.length > 0) headers.scopes.pop();
    }
    this.traceId = traceId;
    this.shape.reset();
    this.ids.reset();
    this.times.reset();
    this.strs.reset();
    this.nums.reset();
    this.spanIndex.reset(16);
    this.spanCount = 0;
    this.hasBase = false;
    this.baseLo = 0;
    this.baseHi = 0;
    try {
      this.trace(0, this.buf.length);
    } catch (err) {
      if (err === NEEDS_OBJECT_PATH || err instanceof RangeError) return false;
      throw err;
    } finally {
      this.buf = NO_BYTES;
    }
    out.varint(this.shape.length);
    out.varint(this.ids.length);
    out.varint(this.times.length);
    out.varint(this.strs.length);
    out.copyFrom(this.shape.buf, 0, this.shape.length);
    out.copyFrom(this.ids.buf, 0, this.ids.length);
    out.copyFrom(this.times.buf, 0, this.times.length);
    out.copyFrom(this.strs.buf, 0, this.strs.length);
    out.copyFrom(this.nums.buf, 0, this.nums.length);
    return true;
  }

  // ---- wire reading ----

  private fail(): never {
    throw NEEDS_OBJECT_PATH;
  }

  /** A varint's low 32 bits, unsigned (protobuf's uint32 reading); the rest of it is skipped. */
  private v32(): number {
    const b = this.buf;
    let p = this.pos;
    let v = 0;
    for (let shift = 0; shift < 32; shift += 7) {
      if (p >= b.length) this.fail();
      const c = b[p++]!;
      v |= (c & 0x7f) << shift;
      if ((c & 0x80) === 0) {
        this.pos = p;
        return v >>> 0;
      }
    }
    for (let i = 0; i < 5; i++) {
      if (p >= b.length) this.fail();
      if ((b[p++]! & 0x80) === 0) {
        this.pos = p;
        return v >>> 0;
      }
    }
    return this.fail();
  }

  /** A full 64-bit varint into `lo` and `hi`. */
  private v64(): void {
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let c: number;
    for (let shift = 0; shift < 28; shift += 7) {
      if (p >= b.length) this.fail();
      c = b[p++]!;
      lo |= (c & 0x7f) << shift;
      if ((c & 0x80) === 0) {
        this.pos = p;
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    if (p >= b.length) this.fail();
    c = b[p++]!;
    lo |= (c & 0x0f) << 28;
    let hi = (c & 0x7f) >> 4;
    if ((c & 0x80) !== 0) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31 || p >= b.length) this.fail();
        c = b[p++]!;
        hi |= (c & 0x7f) << shift;
        if ((c & 0x80) === 0) break;
      }
    }
    this.pos = p;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** A length-delimited field's payload: returns its end, `pos` at its start. */
  private len(limit: number): number {
    const n = this.v32();
    const end = this.pos + n;
    if (n > 0x7fffffff || end > limit) this.fail();
    return end;
  }

  /** Skips a field the full scan of a message did not take: a declared number (`known`) there has an unexpected wire type. */
  private skip(t: number, known: number, limit: number): void {
    const field = t >>> 3;
    if (field < 32 && (known & (1 << field)) !== 0) this.fail();
    this.skipAny(t, limit);
  }

  /** Skips any field (passes that look for one field only). */
  private skipAny(t: number, limit: number): void {
    switch (t & 7) {
      case WT_VARINT:
        this.v64();
        return;
      case WT_I64:
        this.pos += 8;
        break;
      case WT_LEN:
        this.pos = this.len(limit);
        return;
      case WT_I32:
        this.pos += 4;
        break;
      default:
        this.fail();
    }
    if (this.pos > limit) this.fail();
  }

  /** Counts the occurrences of field `t` (a LEN field) in `[a, b)` (the field with another wire type is not ours). */
  private count(a: number, b: number, t: number): number {
    let n = 0;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f === t) {
        this.pos = this.len(b);
        n++;
      } else this.skip(f, 1 << (t >>> 3), b);
    }
    if (this.pos !== b) this.fail();
    return n;
  }

  /** Moves `pos` to the payload of the next occurrence of LEN field `t` in `[pos, b)`; returns its end. */
  private next(b: number, t: number): number {
    while (this.pos < b) {
      const f = this.v32();
      if (f === t) return this.len(b);
      this.skip(f, 1 << (t >>> 3), b);
    }
    return this.fail();
  }

  /** A string or bytes value `[a, b)` of `buf` into `w`: varint length, then the bytes. */
  private lenBytes(w: ByteWriter, a: number, b: number): void {
    w.varint(b - a);
    w.copyFrom(this.buf, a, b);
  }

  // ---- the encoding ----

  private trace(a: number, b: number): void {
    // First pass: the span IDs' first indexes and the base time, in the order the spans are written.
    this.walkSpans(a, b, (sa, sb) => this.indexSpan(sa, sb));
    this.times.varint64(this.baseHi, this.baseLo);
    const n = this.count(a, b, tag(1, WT_LEN));
    this.shape.varint(n);
    this.pos = a;
    for (let i = 0; i < n; i++) {
      const e = this.next(b, tag(1, WT_LEN));
      const s = this.pos;
      this.resourceSpans(s, e);
      this.pos = e;
    }
  }

  /** Calls `fn` with the bytes of every span, in order. */
  private walkSpans(a: number, b: number, fn: (sa: number, sb: number) => void): void {
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f !== tag(1, WT_LEN)) {
        this.skipAny(f, b);
        continue;
      }
      const rsEnd = this.len(b);
      while (this.pos < rsEnd) {
        const g = this.v32();
        if (g !== tag(2, WT_LEN)) {
          this.skipAny(g, rsEnd);
          continue;
        }
        const ssEnd = this.len(rsEnd);
        while (this.pos < ssEnd) {
          const h = this.v32();
          if (h !== tag(2, WT_LEN)) {
            this.skipAny(h, ssEnd);
            continue;
          }
          const spEnd = this.len(ssEnd);
          fn(this.pos, spEnd);
          this.pos = spEnd;
        }
        if (this.pos !== ssEnd) this.fail();
      }
      if (this.pos !== rsEnd) this.fail();
    }
    if (this.pos !== b) this.fail();
  }

  private indexSpan(a: number, b: number): void {
    let idA = 0;
    let idB = 0;
    let startLo = 0;
    let startHi = 0;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f === tag(2, WT_LEN)) {
        idB = this.len(b);
        idA = this.pos;
        this.pos = idB;
      } else if (f === tag(7, WT_I64)) {
        if (this.pos + 8 > b) this.fail();
        startLo = this.buf.readUInt32LE(this.pos);
        startHi = this.buf.readUInt32LE(this.pos + 4);
        this.pos += 8;
      } else this.skipAny(f, b);
    }
    if (this.spanIndex.find(this.buf, idA, idB, 0) < 0) this.spanIndex.add(this.buf, idA, idB, 0, this.spanCount);
    this.spanCount++;
    if (!this.hasBase || startHi < this.baseHi || (startHi === this.baseHi && startLo < this.baseLo)) {
      this.baseHi = startHi;
      this.baseLo = startLo;
      this.hasBase = true;
    }
  }

  private resourceSpans(a: number, b: number): void {
    this.group(a, b, RESOURCE_SPANS, this.resourceCache, this.resourceFn, this.scopeSpansFn);
  }

  private readonly resourceFn = (a: number, b: number): void => this.resource(a, b);
  private readonly scopeSpansFn = (a: number, b: number): void => this.scopeSpans(a, b);
  private readonly scopeFn = (a: number, b: number): void => this.scope(a, b);
  private readonly spanFn = (a: number, b: number): void => this.span(a, b);

  /**
   * ResourceSpans and ScopeSpans, which share a shape: 1 their header (resource, scope; given twice, it
   * would merge), 2 their repeated items (scope spans, spans), 3 a schema URL.
   */
  private group(a: number, b: number, known: number, cache: HeaderCache, header: (a: number, b: number) => void, item: (a: number, b: number) => void): void {
    let hA = -1;
    let hB = -1;
    let urlA = 0;
    let urlB = 0;
    let items = 0;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f === tag(1, WT_LEN)) {
        if (hA >= 0) this.fail();
        hB = this.len(b);
        hA = this.pos;
        this.pos = hB;
      } else if (f === tag(2, WT_LEN)) {
        this.pos = this.len(b);
        items++;
      } else if (f === tag(3, WT_LEN)) {
        urlB = this.len(b);
        urlA = this.pos;
        this.pos = urlB;
      } else this.skip(f, known, b);
    }
    // The header's encoding depends on its bytes alone: from the cache when they were seen before.
    const hash = HeaderCache.hash(this.buf, hA, hB, urlA, urlB);
    const { shape, strs, nums } = this;
    let e = cache.find(hash, this.buf, hA, hB, urlA, urlB);
    if (e) {
      let p = Math.max(0, e.messageLen) + e.urlLen;
      shape.copyFrom(e.bytes, p, (p += e.shapeLen));
      strs.copyFrom(e.bytes, p, (p += e.strsLen));
      nums.copyFrom(e.bytes, p, e.bytes.length);
    } else {
      const shapeA = shape.length;
      const strsA = strs.length;
      const numsA = nums.length;
      shape.varint((hA >= 0 ? 1 : 0) | (urlB > urlA ? 2 : 0));
      if (hA >= 0) header(hA, hB);
      if (urlB > urlA) this.lenBytes(strs, urlA, urlB);
      e = cache.add(hash, this.buf, hA, hB, urlA, urlB, shape, shapeA, strs, strsA, nums, numsA);
    }
    if (this.headers) (cache === this.resourceCache ? this.headers.resources : this.headers.scopes).push(e);
    shape.varint(items);
    this.pos = a;
    for (let i = 0; i < items; i++) {
      const e = this.next(b, tag(2, WT_LEN));
      item(this.pos, e);
      this.pos = e;
    }
  }

  private resource(a: number, b: number): void {
    let attrs = 0;
    let dropped = 0;
    let refs = 0;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f === tag(1, WT_LEN)) {
        this.pos = this.len(b);
        attrs++;
      } else if (f === tag(2, WT_VARINT)) dropped = this.v32();
      else if (f === tag(3, WT_LEN)) {
        this.pos = this.len(b);
        refs++;
      } else this.skip(f, RESOURCE, b);
    }
    this.attrs(a, b, tag(1, WT_LEN), attrs);
    this.shape.varint(dropped);
    this.shape.varint(refs);
    this.pos = a;
    for (let i = 0; i < refs; i++) {
      const e = this.next(b, tag(3, WT_LEN));
      this.entityRef(this.pos, e);
      this.pos = e;
    }
  }

  private entityRef(a: number, b: number): void {
    let urlA = 0;
    let urlB = 0;
    let typeA = 0;
    let typeB = 0;
    let idKeys = 0;
    let descKeys = 0;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f === tag(1, WT_LEN)) {
        urlB = this.len(b);
        urlA = this.pos;
        this.pos = urlB;
      } else if (f === tag(2, WT_LEN)) {
        typeB = this.len(b);
        typeA = this.pos;
        this.pos = typeB;
      } else if (f === tag(3, WT_LEN)) {
        this.pos = this.len(b);
        idKeys++;
      } else if (f === tag(4, WT_LEN)) {
        this.pos = this.len(b);
        descKeys++;
      } else this.skip(f, ENTITY_REF, b);
    }
    this.lenBytes(this.strs, urlA, urlB);
    this.lenBytes(this.strs, typeA, typeB);
    this.strings(a, b, tag(3, WT_LEN), idKeys);
    this.strings(a, b, tag(4, WT_LEN), descKeys);
  }

  private strings(a: number, b: number, t: number, n: number): void {
    this.shape.varint(n);
    this.pos = a;
    for (let i = 0; i < n; i++) {
      const e = this.next(b, t);
      this.lenBytes(this.strs, this.pos, e);
      this.pos = e;
    }
  }

  private scopeSpans(a: number, b: number): void {
    this.group(a, b, SCOPE_SPANS, this.scopeCache, this.scopeFn, this.spanFn);
  }

  private scope(a: number, b: number): void {
    let nameA = 0;
    let nameB = 0;
    let verA = 0;
    let verB = 0;
    let attrs = 0;
    let dropped = 0;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f === tag(1, WT_LEN)) {
        nameB = this.len(b);
        nameA = this.pos;
        this.pos = nameB;
      } else if (f === tag(2, WT_LEN)) {
        verB = this.len(b);
        verA = this.pos;
        this.pos = verB;
      } else if (f === tag(3, WT_LEN)) {
        this.pos = this.len(b);
        attrs++;
      } else if (f === tag(4, WT_VARINT)) dropped = this.v32();
      else this.skip(f, SCOPE, b);
    }
    this.lenBytes(this.strs, nameA, nameB);
    this.lenBytes(this.strs, verA, verB);
    this.attrs(a, b, tag(3, WT_LEN), attrs);
    this.shape.varint(dropped);
  }

  private span(a: number, b: number): void {
    const buf = this.buf;
    let tidA = 0;
    let tidB = 0;
    let sidA = 0;
    let sidB = 0;
    let tsA = 0;
    let tsB = 0;
    let pidA = 0;
    let pidB = 0;
    let nameA = 0;
    let nameB = 0;
    let flags = 0;
    let kind = 0;
    let startLo = 0;
    let startHi = 0;
    let endLo = 0;
    let endHi = 0;
    let attrs = 0;
    let events = 0;
    let links = 0;
    let dAttrs = 0;
    let dEvents = 0;
    let dLinks = 0;
    let stA = -1;
    let stB = -1;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      switch (f) {
        case tag(1, WT_LEN):
          tidB = this.len(b);
          tidA = this.pos;
          this.pos = tidB;
          break;
        case tag(2, WT_LEN):
          sidB = this.len(b);
          sidA = this.pos;
          this.pos = sidB;
          break;
        case tag(3, WT_LEN):
          tsB = this.len(b);
          tsA = this.pos;
          this.pos = tsB;
          break;
        case tag(4, WT_LEN):
          pidB = this.len(b);
          pidA = this.pos;
          this.pos = pidB;
          break;
        case tag(5, WT_LEN):
          nameB = this.len(b);
          nameA = this.pos;
          this.pos = nameB;
          break;
        case tag(6, WT_VARINT):
          kind = this.v32() | 0;
          break;
        case tag(7, WT_I64):
          if (this.pos + 8 > b) this.fail();
          startLo = buf.readUInt32LE(this.pos);
          startHi = buf.readUInt32LE(this.pos + 4);
          this.pos += 8;
          break;
        case tag(8, WT_I64):
          if (this.pos + 8 > b) this.fail();
          endLo = buf.readUInt32LE(this.pos);
          endHi = buf.readUInt32LE(this.pos + 4);
          this.pos += 8;
          break;
        case tag(9, WT_LEN):
          this.pos = this.len(b);
          attrs++;
          break;
        case tag(10, WT_VARINT):
          dAttrs = this.v32();
          break;
        case tag(11, WT_LEN):
          this.pos = this.len(b);
          events++;
          break;
        case tag(12, WT_VARINT):
          dEvents = this.v32();
          break;
        case tag(13, WT_LEN):
          this.pos = this.len(b);
          links++;
          break;
        case tag(14, WT_VARINT):
          dLinks = this.v32();
          break;
        case tag(15, WT_LEN):
          if (stA >= 0) this.fail();
          stB = this.len(b);
          stA = this.pos;
          this.pos = stB;
          break;
        case tag(16, WT_I32):
          if (this.pos + 4 > b) this.fail();
          flags = buf.readUInt32LE(this.pos);
          this.pos += 4;
          break;
        default:
          this.skip(f, SPAN, b);
      }
    }
    const { shape, strs } = this;
    const ownTraceId = rangeEquals(buf, tidA, tidB, this.traceId);
    const dropped = dAttrs !== 0 || dEvents !== 0 || dLinks !== 0;
    shape.varint(
      (ownTraceId ? S_OWN_TRACE_ID : 0) |
        (tsB > tsA ? S_TRACE_STATE : 0) |
        (stA >= 0 ? S_STATUS : 0) |
        (events ? S_EVENTS : 0) |
        (links ? S_LINKS : 0) |
        (dropped ? S_DROPPED : 0) |
        (flags !== 0 ? S_FLAGS : 0),
    );
    if (!ownTraceId) this.lenBytes2(tidA, tidB);
    this.lenBytes2(sidA, sidB);
    if (pidB === pidA) shape.varint(P_EMPTY);
    else {
      const k = this.spanIndex.find(buf, pidA, pidB, 0);
      if (k >= 0) shape.varint(this.spanIndex.value(k) + 2);
      else {
        shape.varint(P_EXPLICIT);
        this.lenBytes2(pidA, pidB);
      }
    }
    if (tsB > tsA) this.lenBytes(strs, tsA, tsB);
    if (flags !== 0) shape.varint(flags);
    this.lenBytes(strs, nameA, nameB);
    shape.zigzag(kind);
    this.timeDiff(startHi, startLo, this.baseHi, this.baseLo);
    this.timeDiff(endHi, endLo, startHi, startLo);
    this.attrs(a, b, tag(9, WT_LEN), attrs);
    if (dropped) {
      shape.varint(dAttrs);
      shape.varint(dEvents);
      shape.varint(dLinks);
    }
    if (events) {
      shape.varint(events);
      this.pos = a;
      for (let i = 0; i < events; i++) {
        const e = this.next(b, tag(11, WT_LEN));
        this.event(this.pos, e, startHi, startLo);
        this.pos = e;
      }
    }
    if (links) {
      shape.varint(links);
      this.pos = a;
      for (let i = 0; i < links; i++) {
        const e = this.next(b, tag(13, WT_LEN));
        this.link(this.pos, e);
        this.pos = e;
      }
    }
    if (stA >= 0) this.status(stA, stB);
  }

  /** An ID: its length in the shape stream, its bytes in the ids stream. */
  private lenBytes2(a: number, b: number): void {
    this.shape.varint(b - a);
    this.ids.copyFrom(this.buf, a, b);
  }

  /** `(xHi, xLo) − (yHi, yLo)` of two uint64 as a zigzag varint in the times stream (TraceEncoder's zigzagBig). */
  private timeDiff(xHi: number, xLo: number, yHi: number, yLo: number): void {
    const dHi = xHi - yHi;
    // |difference| < 2^51: exact as a number.
    if (dHi > -0x80000 && dHi < 0x80000) this.times.zigzag(dHi * TWO_32 + (xLo - yLo));
    else this.times.zigzagBig(((BigInt(xHi) << 32n) | BigInt(xLo)) - ((BigInt(yHi) << 32n) | BigInt(yLo)));
  }

  private event(a: number, b: number, spanHi: number, spanLo: number): void {
    let tLo = 0;
    let tHi = 0;
    let nameA = 0;
    let nameB = 0;
    let attrs = 0;
    let dropped = 0;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f === tag(1, WT_I64)) {
        if (this.pos + 8 > b) this.fail();
        tLo = this.buf.readUInt32LE(this.pos);
        tHi = this.buf.readUInt32LE(this.pos + 4);
        this.pos += 8;
      } else if (f === tag(2, WT_LEN)) {
        nameB = this.len(b);
        nameA = this.pos;
        this.pos = nameB;
      } else if (f === tag(3, WT_LEN)) {
        this.pos = this.len(b);
        attrs++;
      } else if (f === tag(4, WT_VARINT)) dropped = this.v32();
      else this.skip(f, EVENT, b);
    }
    this.timeDiff(tHi, tLo, spanHi, spanLo);
    this.lenBytes(this.strs, nameA, nameB);
    this.attrs(a, b, tag(3, WT_LEN), attrs);
    this.shape.varint(dropped);
  }

  private link(a: number, b: number): void {
    let tidA = 0;
    let tidB = 0;
    let sidA = 0;
    let sidB = 0;
    let tsA = 0;
    let tsB = 0;
    let attrs = 0;
    let dropped = 0;
    let flags = 0;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f === tag(1, WT_LEN)) {
        tidB = this.len(b);
        tidA = this.pos;
        this.pos = tidB;
      } else if (f === tag(2, WT_LEN)) {
        sidB = this.len(b);
        sidA = this.pos;
        this.pos = sidB;
      } else if (f === tag(3, WT_LEN)) {
        tsB = this.len(b);
        tsA = this.pos;
        this.pos = tsB;
      } else if (f === tag(4, WT_LEN)) {
        this.pos = this.len(b);
        attrs++;
      } else if (f === tag(5, WT_VARINT)) dropped = this.v32();
      else if (f === tag(6, WT_I32)) {
        if (this.pos + 4 > b) this.fail();
        flags = this.buf.readUInt32LE(this.pos);
        this.pos += 4;
      } else this.skip(f, LINK, b);
    }
    this.lenBytes2(tidA, tidB);
    this.lenBytes2(sidA, sidB);
    this.lenBytes(this.strs, tsA, tsB);
    this.attrs(a, b, tag(4, WT_LEN), attrs);
    this.shape.varint(dropped);
    this.shape.varint(flags);
  }

  private status(a: number, b: number): void {
    let msgA = 0;
    let msgB = 0;
    let code = 0;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f === tag(2, WT_LEN)) {
        msgB = this.len(b);
        msgA = this.pos;
        this.pos = msgB;
      } else if (f === tag(3, WT_VARINT)) code = this.v32() | 0;
      else this.skip(f, STATUS, b);
    }
    this.lenBytes(this.strs, msgA, msgB);
    this.shape.zigzag(code);
  }

  /** The `n` KeyValues of field `t` in message `[a, b)`; `pos` is left undefined. */
  private attrs(a: number, b: number, t: number, n: number): void {
    this.shape.varint(n);
    this.pos = a;
    for (let i = 0; i < n; i++) {
      const e = this.next(b, t);
      this.keyValue(this.pos, e);
      this.pos = e;
    }
  }

  private keyValue(a: number, b: number): void {
    let keyA = 0;
    let keyB = 0;
    let valA = -1;
    let valB = -1;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      if (f === tag(1, WT_LEN)) {
        keyB = this.len(b);
        keyA = this.pos;
        this.pos = keyB;
      } else if (f === tag(2, WT_LEN)) {
        if (valA >= 0) this.fail();
        valB = this.len(b);
        valA = this.pos;
        this.pos = valB;
      } else this.skip(f, KEY_VALUE, b);
    }
    this.lenBytes(this.strs, keyA, keyB);
    if (valA < 0) this.shape.u8(V_ABSENT);
    else this.anyValue(valA, valB);
  }

  private anyValue(a: number, b: number): void {
    const { shape, strs, nums } = this;
    let which = 0;
    let valA = 0;
    let valB = 0;
    this.pos = a;
    while (this.pos < b) {
      const f = this.v32();
      const field = f >>> 3;
      if (field >= 1 && field <= 7) {
        // One case of the oneof: a second one would replace (or merge into) the first.
        if (which !== 0) this.fail();
        which = field;
        valA = this.pos;
      }
      switch (f) {
        case tag(1, WT_LEN):
        case tag(5, WT_LEN):
        case tag(6, WT_LEN):
        case tag(7, WT_LEN):
          valB = this.len(b);
          valA = this.pos;
          this.pos = valB;
          break;
        case tag(2, WT_VARINT):
        case tag(3, WT_VARINT):
          this.v64();
          break;
        case tag(4, WT_I64):
          if (this.pos + 8 > b) this.fail();
          this.pos += 8;
          break;
        default:
          this.skip(f, ANY_VALUE, b);
      }
    }
    switch (which) {
      case 0:
        shape.u8(V_EMPTY);
        return;
      case 1:
        shape.u8(V_STRING);
        this.lenBytes(strs, valA, valB);
        return;
      case 2:
        this.pos = valA;
        this.v64();
        shape.u8(this.lo !== 0 || this.hi !== 0 ? V_TRUE : V_FALSE);
        return;
      case 3: {
        shape.u8(V_INT);
        this.pos = valA;
        this.v64();
        const hi = this.hi | 0;
        // |value| < 2^52: exact as a number, and what zigzagBig writes for it.
        if (hi > -0x100000 && hi < 0x100000) nums.zigzag(hi * TWO_32 + this.lo);
        else nums.zigzagBig(BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo)));
        return;
      }
      case 4:
        shape.u8(V_DOUBLE);
        nums.copyFrom(this.buf, valA, valA + 8);
        return;
      case 5: {
        shape.u8(V_ARRAY);
        const n = this.count(valA, valB, tag(1, WT_LEN));
        shape.varint(n);
        this.pos = valA;
        for (let i = 0; i < n; i++) {
          const e = this.next(valB, tag(1, WT_LEN));
          this.anyValue(this.pos, e);
          this.pos = e;
        }
        return;
      }
      case 6:
        shape.u8(V_KVLIST);
        this.attrs(valA, valB, tag(1, WT_LEN), this.count(valA, valB, tag(1, WT_LEN)));
        return;
      default:
        shape.u8(V_BYTES);
        this.lenBytes(strs, valA, valB);
    }
  }
}

function rangeEquals(buf: Buffer, a: number, b: number, id: Uint8Array): boolean {
  if (b - a !== id.length) return false;
  for (let i = 0; i < id.length; i++) if (buf[a + i] !== id[i]) return false;
  return true;
}

/**
 * The parts of one trace as OTLP protobuf (TracesData each, as the ingester's WAL holds them) into one
 * combined trace in the `trace` column's encoding: each part transcoded at the byte level (or, when its
 * bytes need it, decoded and encoded), then combined by WireTraceMerger under `rules`. Byte for byte what
 * encoding `combineTraces(parts.map(fromBinary))` gives. Memory: the encodings of one trace's parts and
 * the merged trace, in buffers reused from trace to trace.
 */
export class OtlpTraceCombiner {
  /** Parts that took the object path. */
  objectPathParts = 0;
  private readonly transcoder = new OtlpTranscoder();
  private readonly encoder = new TraceEncoder();
  private readonly merger: WireTraceMerger;
  private readonly writers: ByteWriter[] = [];
  private readonly views: Buffer[] = [];
  /** Each part's headers (the transcoder's cache entries), undefined for a part that took the object path. */
  private readonly headers: PartHeaders[] = [];
  private readonly hints: Array<PartHeaders | undefined> = [];

  constructor(rules: WireMergeRules) {
    this.merger = new WireTraceMerger(rules);
  }

  /** Spans in the last combined trace. */
  get lastSpanCount(): number {
    return this.merger.lastSpanCount;
  }

  /** The last combined trace's column values (trace-rows.ts), or undefined; valid until the next call. */
  get lastRows(): Int32Array | undefined {
    return this.merger.lastRows;
  }

  /** The combined encoding; a view valid until the next call. */
  combine(traceId: Uint8Array, parts: readonly Uint8Array[]): Buffer {
    const { views, hints } = this;
    views.length = hints.length = 0;
    for (let i = 0; i < parts.length; i++) {
      const w = (this.writers[i] ??= new ByteWriter(4096));
      const h = (this.headers[i] ??= { resources: [], scopes: [] });
      w.reset();
      if (this.transcoder.transcode(traceId, parts[i]!, w, h)) hints.push(h);
      else {
        this.objectPathParts++;
        this.encoder.encode(traceId, fromBinary(TracesDataSchema, parts[i]!), w);
        hints.push(undefined);
      }
      views.push(w.view());
    }
    // Writers past this trace's parts count keep their buffers: a trace with many parts is rare, and
    // a large one is released when the combiner is.
    return this.merger.merge(traceId, views, hints);
  }
}
