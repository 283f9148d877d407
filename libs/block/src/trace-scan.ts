// Reading the structure of one encoded trace (trace-codec.ts's layout) without decoding it: where each
// resource, scope and span lies in the five streams, and the few span fields that blocks store as columns
// or that merging needs (span ID, parent, kind, times, status code, name, service name). No message
// objects and no strings are built; the records are reused from one trace to the next, so scanning a
// trace allocates (almost) nothing. The byte ranges let a merge copy a span's bytes as they are.
//
// The walk mirrors TraceEncoder/Decoder exactly; a change to the layout must change all three.

import { ByteReader } from './bytes';
import { OTHER_INT } from './layout';
import {
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

/** A header (resource or scope): its bytes in the shape, strs and nums streams, count varint excluded. */
export interface HeaderRec {
  shapeA: number;
  shapeB: number;
  strsA: number;
  strsB: number;
  numsA: number;
  numsB: number;
}

// Resource and scope records are classes (one hidden class each, as SpanRec): built as object spreads
// they got a hidden class per object, and every property access of the scan, the merger's header cache
// and the rows builder went megamorphic (~10% of the merge thread's CPU in V8's IC handlers under perf).

/** The stream ranges every header record has (HeaderRec), declared once; each subclass is one hidden class. */
abstract class HeaderRanges implements HeaderRec {
  shapeA = 0;
  shapeB = 0;
  strsA = 0;
  strsB = 0;
  numsA = 0;
  numsB = 0;
}

export class ResourceRec extends HeaderRanges {
  /** service.name's UTF-8 bytes in strs ([serviceA, serviceB)), serviceA -1 when absent, ATTR_OTHER when not a string. */
  serviceA = -1;
  serviceB = -1;
  firstScope = 0;
  scopeCount = 0;
}

export class ScopeRec extends HeaderRanges {
  resource = 0;
  firstSpan = 0;
  spanCount = 0;
}

/**
 * One span. Streams: shape [shapeA, parentShapeA) flags..span ID length, [parentShapeA, parentShapeB) the
 * parent reference, [parentShapeB, shapeB) the rest; ids [idsA, spanIdA) own trace ID when not the trace's,
 * [spanIdA, spanIdB) span ID, [spanIdB, idsB) explicit parent then link IDs; times [timesA, timesTailA) the
 * start (relative to the trace's base), [timesTailA, timesB) duration and event times (relative to the
 * span); strs [strsA, strsB) with the name at [nameA, nameB); nums [numsA, numsB).
 */
export class SpanRec {
  scope = 0;
  shapeA = 0;
  parentShapeA = 0;
  parentShapeB = 0;
  shapeB = 0;
  idsA = 0;
  spanIdA = 0;
  spanIdB = 0;
  /** Explicit parent ID bytes in ids, or -1. */
  parentIdA = -1;
  parentIdB = -1;
  idsB = 0;
  timesA = 0;
  timesTailA = 0;
  timesB = 0;
  strsA = 0;
  nameA = 0;
  nameB = 0;
  strsB = 0;
  numsA = 0;
  numsB = 0;
  /** -1 no parent, -2 explicit parent bytes, k ≥ 0 the k-th span of this trace. */
  parentRef = -1;
  kind = 0;
  statusCode = 0;
  /** Status message's UTF-8 bytes in strs, statusMsgA -1 when the span has no status. */
  statusMsgA = -1;
  statusMsgB = -1;
  /** Span attributes http.method and http.url in strs: -1 when absent, ATTR_OTHER when not a string. */
  httpMethodA = -1;
  httpMethodB = -1;
  httpUrlA = -1;
  httpUrlB = -1;
  /**
   * Span attribute http.status_code: `httpStatusSmall` when it is an int that a number holds exactly
   * (NaN otherwise), else `httpStatus`: the int, or OTHER_INT when not an int; both unset when absent.
   */
  httpStatus: bigint | undefined = undefined;
  httpStatusSmall = NaN;
  /**
   * Times: with `small`, start = base + startOff and end = start + dur exactly, as numbers (no bigint per
   * span; the common case: a real clock's base and deltas below 2^48 ns); otherwise `bigStart`/`bigEnd`.
   */
  small = false;
  base = 0n;
  startOff = 0;
  dur = 0;
  bigStart = 0n;
  bigEnd = 0n;

  /** Start in ns since the epoch (a bigint made on demand). */
  get start(): bigint {
    return this.small ? this.base + BigInt(this.startOff) : this.bigStart;
  }

  /** End in ns since the epoch (a bigint made on demand). */
  get end(): bigint {
    return this.small ? this.base + BigInt(this.startOff) + BigInt(this.dur) : this.bigEnd;
  }
}

/**
 * What the writer of an encoding knows of one of its headers (a resource's or scope's region, HeaderRec):
 * its bytes in each stream, so a scan moves past it without walking its attributes. `serviceA`/`serviceB`
 * (a resource's service.name range relative to its strs bytes, as ResourceRec holds it) are filled by the
 * first scan that walks the header.
 */
export interface HeaderLengths {
  readonly shapeLen: number;
  readonly strsLen: number;
  readonly numsLen: number;
  serviceA: number | undefined;
  serviceB: number;
}

/** Lengths of an encoding's headers, in the order it holds them (`scan`). */
export interface ScanHints {
  readonly resources: readonly HeaderLengths[];
  readonly scopes: readonly HeaderLengths[];
}

/** Bases from which base + (a delta below 2^48) neither goes negative nor reaches 2^64: no wrap to handle. */
const SMALL_BASE_MIN = 2n ** 53n;
const SMALL_BASE_MAX = 2n ** 63n;

/**
 * A column-backed attribute's first value (as TraceQL reads attributes: the first of a type it converts)
 * is not a string: its column holds a marker that search cannot rule out.
 */
export const ATTR_OTHER = -2;

/** Whether TraceQL turns a value of this tag into a value (bytes, maps and empty values it skips). */
function convertible(tag: number): boolean {
  return tag === V_STRING || tag === V_INT || tag === V_DOUBLE || tag === V_TRUE || tag === V_FALSE || tag === V_ARRAY;
}

const SERVICE_NAME = Buffer.from('service.name');
const HTTP_METHOD = Buffer.from('http.method');
const HTTP_URL = Buffer.from('http.url');
const HTTP_STATUS_CODE = Buffer.from('http.status_code');

/** A reusable scanner: `scan` one encoded trace, then read its records until the next `scan`. */
export class TraceScan {
  buf: Buffer = Buffer.alloc(0);
  /** Where the encoded trace starts and ends in `buf`. */
  start = 0;
  end = 0;
  readonly shape = new ByteReader(Buffer.alloc(0));
  readonly ids = new ByteReader(Buffer.alloc(0));
  readonly times = new ByteReader(Buffer.alloc(0));
  readonly strs = new ByteReader(Buffer.alloc(0));
  readonly nums = new ByteReader(Buffer.alloc(0));
  /** The stream lengths' reader (reused: a scan per part of a trace in block building). */
  private readonly hdr = new ByteReader(Buffer.alloc(0));
  private hints: ScanHints | undefined;
  /** Stream starts in `buf`. */
  shapeStart = 0;
  idsStart = 0;
  timesStart = 0;
  strsStart = 0;
  numsStart = 0;
  base = 0n;
  /** Whether span times may be read as numbers relative to `base` (SpanRec.small). */
  private smallBase = false;
  readonly resources: ResourceRec[] = [];
  readonly scopes: ScopeRec[] = [];
  readonly spans: SpanRec[] = [];
  resourceCount = 0;
  scopeCount = 0;
  spanCount = 0;
  /** The first span without a parent (empty or all-zero parent ID): TraceQL's root span; -1 when none. */
  rootSpan = -1;

  /**
   * Scans `buf[start, end)`. Throws RangeError on a malformed encoding. `hints`, when given, must describe
   * this encoding's headers (OtlpTraceCombiner: what its transcoder wrote): they are trusted, not checked.
   */
  scan(buf: Buffer, start = 0, end = buf.length, hints?: ScanHints): this {
    this.buf = buf;
    this.hints = hints;
    this.start = start;
    this.end = end;
    const hdr = this.hdr;
    hdr.reset(buf, start, end);
    const shapeLen = hdr.varint();
    const idsLen = hdr.varint();
    const timesLen = hdr.varint();
    const strsLen = hdr.varint();
    let p = hdr.pos;
    this.shapeStart = p;
    this.shape.reset(buf, p, (p += shapeLen));
    this.idsStart = p;
    this.ids.reset(buf, p, (p += idsLen));
    this.timesStart = p;
    this.times.reset(buf, p, (p += timesLen));
    this.strsStart = p;
    this.strs.reset(buf, p, (p += strsLen));
    this.numsStart = p;
    if (p > end) throw new RangeError(`corrupt trace encoding: streams end at ${p}, past ${end}`);
    this.nums.reset(buf, p, end);
    this.resourceCount = 0;
    this.scopeCount = 0;
    this.spanCount = 0;

    this.base = this.times.varintBig();
    this.smallBase = this.base >= SMALL_BASE_MIN && this.base < SMALL_BASE_MAX;
    const n = this.shape.varint();
    for (let i = 0; i < n; i++) this.resource();
    this.rootSpan = -1;
    for (let i = 0; i < this.spanCount; i++) {
      const sp = this.spans[i]!;
      const ref = sp.parentRef;
      if (ref >= this.spanCount) throw new RangeError(`corrupt trace encoding: parent reference ${ref} of ${this.spanCount} spans`);
      if (this.rootSpan < 0 && (ref === -1 || (ref === -2 && allZero(buf, sp.parentIdA, sp.parentIdB)))) this.rootSpan = i;
    }
    return this;
  }

  /** The bytes of the k-th span's ID (a view into the scanned buffer). */
  spanId(k: number): Buffer {
    const s = this.spans[k]!;
    return this.buf.subarray(s.spanIdA, s.spanIdB);
  }

  /** The k-th span's parent ID (a view), or undefined when it has none. */
  parentId(k: number): Buffer | undefined {
    const s = this.spans[k]!;
    if (s.parentRef === -1) return undefined;
    if (s.parentRef === -2) return this.buf.subarray(s.parentIdA, s.parentIdB);
    return this.spanId(s.parentRef);
  }

  private header<T extends HeaderRec>(h: T): T {
    h.shapeA = this.shape.pos;
    h.strsA = this.strs.pos;
    h.numsA = this.nums.pos;
    return h;
  }

  private endHeader(h: HeaderRec): void {
    h.shapeB = this.shape.pos;
    h.strsB = this.strs.pos;
    h.numsB = this.nums.pos;
  }

  private resource(): void {
    const { shape, strs } = this;
    const r = (this.resources[this.resourceCount] ??= new ResourceRec());
    const ri = this.resourceCount++;
    this.header(r);
    r.serviceA = -1;
    r.serviceB = -1;
    const hint = this.hints?.resources[ri];
    if (hint?.serviceA !== undefined) {
      shape.skip(hint.shapeLen);
      strs.skip(hint.strsLen);
      this.nums.skip(hint.numsLen);
      if (hint.serviceA >= 0) {
        r.serviceA = r.strsA + hint.serviceA;
        r.serviceB = r.strsA + hint.serviceB;
      } else r.serviceA = hint.serviceA;
      this.endHeader(r);
      r.firstScope = this.scopeCount;
      r.scopeCount = shape.varint();
      for (let i = 0; i < r.scopeCount; i++) this.scope(ri);
      return;
    }
    const bits = shape.varint();
    if (bits & 1) {
      this.attrs(r);
      shape.skipVarint(); // dropped attributes
      const refs = shape.varint();
      for (let i = 0; i < refs; i++) {
        strs.skipLenBytes(); // schema URL
        strs.skipLenBytes(); // type
        for (let k = 0, n = shape.varint(); k < n; k++) strs.skipLenBytes();
        for (let k = 0, n = shape.varint(); k < n; k++) strs.skipLenBytes();
      }
    }
    if (bits & 2) strs.skipLenBytes();
    this.endHeader(r);
    if (hint) {
      hint.serviceA = r.serviceA >= 0 ? r.serviceA - r.strsA : r.serviceA;
      hint.serviceB = r.serviceA >= 0 ? r.serviceB - r.strsA : -1;
    }
    r.firstScope = this.scopeCount;
    r.scopeCount = shape.varint();
    for (let i = 0; i < r.scopeCount; i++) this.scope(ri);
  }

  private scope(ri: number): void {
    const { shape, strs } = this;
    const s = (this.scopes[this.scopeCount] ??= new ScopeRec());
    const si = this.scopeCount++;
    this.header(s);
    s.resource = ri;
    const hint = this.hints?.scopes[si];
    if (hint) {
      shape.skip(hint.shapeLen);
      strs.skip(hint.strsLen);
      this.nums.skip(hint.numsLen);
    } else {
      const bits = shape.varint();
      if (bits & 1) {
        strs.skipLenBytes(); // name
        strs.skipLenBytes(); // version
        this.attrs();
        shape.skipVarint(); // dropped attributes
      }
      if (bits & 2) strs.skipLenBytes();
    }
    this.endHeader(s);
    s.firstSpan = this.spanCount;
    s.spanCount = shape.varint();
    for (let i = 0; i < s.spanCount; i++) this.span(si);
  }

  private span(si: number): void {
    const { shape, ids, times, strs, nums } = this;
    const sp = (this.spans[this.spanCount] ??= new SpanRec());
    this.spanCount++;
    sp.scope = si;
    sp.shapeA = shape.pos;
    sp.idsA = ids.pos;
    sp.timesA = times.pos;
    sp.strsA = strs.pos;
    sp.numsA = nums.pos;
    const bits = shape.varint();
    if (!(bits & S_OWN_TRACE_ID)) ids.skip(shape.varint());
    const idLen = shape.varint();
    sp.spanIdA = ids.pos;
    ids.skip(idLen);
    sp.spanIdB = ids.pos;
    sp.parentShapeA = shape.pos;
    const pref = shape.varint();
    sp.parentIdA = -1;
    sp.parentIdB = -1;
    if (pref === P_EMPTY) sp.parentRef = -1;
    else if (pref === P_EXPLICIT) {
      sp.parentRef = -2;
      const n = shape.varint();
      sp.parentIdA = ids.pos;
      ids.skip(n);
      sp.parentIdB = ids.pos;
    } else sp.parentRef = pref - 2;
    sp.parentShapeB = shape.pos;
    if (bits & S_TRACE_STATE) strs.skipLenBytes();
    if (bits & S_FLAGS) shape.skipVarint();
    const nameLen = strs.varint();
    sp.nameA = strs.pos;
    strs.skip(nameLen);
    sp.nameB = strs.pos;
    sp.kind = shape.zigzag();
    const startOff = this.smallBase ? times.zigzagSmall() : NaN;
    if (startOff === startOff) {
      sp.timesTailA = times.pos;
      const dur = times.zigzagSmall();
      if (dur === dur) {
        sp.small = true;
        sp.base = this.base;
        sp.startOff = startOff;
        sp.dur = dur;
      } else {
        sp.small = false;
        sp.bigStart = this.base + BigInt(startOff);
        sp.bigEnd = BigInt.asUintN(64, sp.bigStart + times.zigzagBig());
      }
    } else {
      sp.small = false;
      sp.bigStart = BigInt.asUintN(64, this.base + times.zigzagBig());
      sp.timesTailA = times.pos;
      sp.bigEnd = BigInt.asUintN(64, sp.bigStart + times.zigzagBig());
    }
    sp.httpMethodA = sp.httpMethodB = sp.httpUrlA = sp.httpUrlB = -1;
    sp.httpStatus = undefined;
    sp.httpStatusSmall = NaN;
    this.attrs(undefined, sp);
    if (bits & S_DROPPED) {
      shape.skipVarint();
      shape.skipVarint();
      shape.skipVarint();
    }
    if (bits & S_EVENTS) {
      for (let i = 0, n = shape.varint(); i < n; i++) {
        times.skipVarint();
        strs.skipLenBytes();
        this.attrs();
        shape.skipVarint();
      }
    }
    if (bits & S_LINKS) {
      for (let i = 0, n = shape.varint(); i < n; i++) {
        ids.skip(shape.varint());
        ids.skip(shape.varint());
        strs.skipLenBytes();
        this.attrs();
        shape.skipVarint();
        shape.skipVarint();
      }
    }
    sp.statusCode = 0;
    sp.statusMsgA = sp.statusMsgB = -1;
    if (bits & S_STATUS) {
      const len = strs.varint();
      sp.statusMsgA = strs.pos;
      strs.skip(len);
      sp.statusMsgB = strs.pos;
      sp.statusCode = shape.zigzag();
    }
    sp.shapeB = shape.pos;
    sp.idsB = ids.pos;
    sp.timesB = times.pos;
    sp.strsB = strs.pos;
    sp.numsB = nums.pos;
  }

  /**
   * Skips a KeyValue list; for a resource, notes the first string service.name (the writer's rule); for a
   * span, the well-known HTTP attributes that have columns.
   */
  private attrs(resource?: ResourceRec, span?: SpanRec): void {
    const { shape, strs } = this;
    for (let i = 0, n = shape.varint(); i < n; i++) {
      const keyLen = strs.varint();
      const keyA = strs.pos;
      strs.skip(keyLen);
      const tag = shape.u8();
      if (span && keyLen >= HTTP_URL.length && keyLen <= HTTP_STATUS_CODE.length && this.wellKnown(span, tag, keyA, keyLen)) continue;
      if (resource && resource.serviceA === -1 && convertible(tag) && keyLen === SERVICE_NAME.length && bytesAt(this.buf, keyA, SERVICE_NAME)) {
        if (tag !== V_STRING) {
          resource.serviceA = ATTR_OTHER;
        } else {
          const len = strs.varint();
          resource.serviceA = strs.pos;
          strs.skip(len);
          resource.serviceB = strs.pos;
          continue;
        }
      }
      this.value(tag);
    }
  }

  /**
   * Notes a span's http.method / http.url / http.status_code: the first value TraceQL would see (the first
   * of a type it converts), or ATTR_OTHER / OTHER_INT when that value is not of the column's type.
   * True when it consumed the value.
   */
  private wellKnown(span: SpanRec, tag: number, keyA: number, keyLen: number): boolean {
    if (!convertible(tag)) return false;
    // The three keys differ in length: one byte comparison in JS (a Buffer.compare per attribute cost more).
    const key =
      keyLen === HTTP_STATUS_CODE.length ? HTTP_STATUS_CODE : keyLen === HTTP_METHOD.length ? HTTP_METHOD : keyLen === HTTP_URL.length ? HTTP_URL : undefined;
    if (key === undefined || !bytesAt(this.buf, keyA, key)) return false;
    if (key === HTTP_STATUS_CODE) {
      if (span.httpStatus !== undefined || span.httpStatusSmall === span.httpStatusSmall) return false;
      if (tag !== V_INT) {
        span.httpStatus = OTHER_INT;
        return false;
      }
      const v = this.nums.zigzagSmall();
      if (v === v) span.httpStatusSmall = v;
      else span.httpStatus = BigInt.asIntN(64, this.nums.zigzagBig());
      return true;
    }
    const method = key === HTTP_METHOD;
    if ((method ? span.httpMethodA : span.httpUrlA) !== -1) return false;
    if (tag !== V_STRING) {
      if (method) span.httpMethodA = ATTR_OTHER;
      else span.httpUrlA = ATTR_OTHER;
      return false;
    }
    const len = this.strs.varint();
    const a = this.strs.pos;
    this.strs.skip(len);
    if (method) {
      span.httpMethodA = a;
      span.httpMethodB = a + len;
    } else {
      span.httpUrlA = a;
      span.httpUrlB = a + len;
    }
    return true;
  }

  private value(tag: number): void {
    switch (tag) {
      case V_ABSENT:
      case V_EMPTY:
      case V_TRUE:
      case V_FALSE:
        return;
      case V_STRING:
      case V_BYTES:
        this.strs.skipLenBytes();
        return;
      case V_INT:
        this.nums.skipVarint();
        return;
      case V_DOUBLE:
        this.nums.skip(8);
        return;
      case V_ARRAY:
        for (let i = 0, n = this.shape.varint(); i < n; i++) this.value(this.shape.u8());
        return;
      case V_KVLIST:
        this.attrs();
        return;
      default:
        throw new RangeError(`corrupt trace encoding: AnyValue tag ${tag}`);
    }
  }
}

/** Whether `buf` holds `key` at `at` (the caller checked that it fits). */
function bytesAt(buf: Buffer, at: number, key: Buffer): boolean {
  for (let i = 0; i < key.length; i++) if (buf[at + i] !== key[i]) return false;
  return true;
}

function allZero(buf: Buffer, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (buf[i] !== 0) return false;
  return true;
}
