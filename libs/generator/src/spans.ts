// Forwarded spans for the processors, read straight from the protobuf wire into one reused table of
// numbers (SpanBatch): per span only the offsets of the fields the processors read (IDs, name, status
// message, attributes), its kind, status code and times; nothing is decoded into strings or objects. The
// processors hash and compare those bytes, and decode a string only when they meet a new series
// (bench/results/metrics-generator.md: decoding each span into an object with hex IDs and BigInt times,
// then building a label key string per span, cost ~5 µs of the generator thread per span and about as
// much again in the garbage collector's threads). Each span's encoded size (traces_spanmetrics_size_total
// counts Tempo's span.Size(): the Span message's encoded bytes) comes for free.
//
//   TracesData    { 1: repeated ResourceSpans }
//   ResourceSpans { 1: Resource, 2: repeated ScopeSpans, 3: schema_url }
//   Resource      { 1: repeated attributes (KeyValue), 2: dropped_attributes_count }
//   ScopeSpans    { 1: InstrumentationScope, 2: repeated Span, 3: schema_url }
//   Span          { 1: trace_id, 2: span_id, 3: trace_state, 4: parent_span_id, 5: name, 6: kind,
//                   7: start_time_unix_nano (fixed64), 8: end_time_unix_nano (fixed64), 9: repeated
//                   attributes (KeyValue), 10..14: dropped counts, events, links, 15: status, 16: flags }
//   Status        { 2: message, 3: code }
//   KeyValue      { 1: key, 2: value (AnyValue) }
//
// A field that occurs twice takes its last value, as protobuf decoders do.

import { fromBinary } from '@bufbuild/protobuf';
import { AnyValueSchema } from '@stave/proto';
import { stringifyAnyValue } from './attributes';
import { formatFloat } from './registry/metric';

const LEN = 2; // wire types
const VARINT = 0;
const I64 = 1;
const I32 = 5;

/** Position after the last readVarint/skipField (module state: no cursor object per field). */
let at = 0;

/** The varint at buf[pos], below `end`; `at` is left after it. Numbers past 2^53 lose precision. */
function readVarint(buf: Uint8Array, pos: number, end: number): number {
  // One byte: tags and most lengths.
  if (pos < end) {
    const b = buf[pos]!;
    if (b < 0x80) {
      at = pos + 1;
      return b;
    }
  }
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new Error('truncated varint');
    const b = buf[pos++]!;
    v += (b & 0x7f) * mul;
    if (b < 0x80) {
      at = pos;
      return v;
    }
    mul *= 128;
  }
  throw new Error('varint longer than 10 bytes');
}

/** The start of a length-delimited field's contents at buf[pos] (its length prefix); `at` is left after it. */
function readLength(buf: Uint8Array, pos: number, end: number): number {
  const len = readVarint(buf, pos, end);
  const s = at;
  if (s + len > end) throw pastEnd(len);
  at = s + len;
  return s;
}

function pastEnd(len: number): Error {
  return new Error(`field of ${len} bytes runs past its message`);
}

/** Skips one field's value of wire type `wt` at buf[pos]; `at` is left after it. */
function skipField(buf: Uint8Array, pos: number, end: number, wt: number): void {
  if (wt === VARINT) readVarint(buf, pos, end);
  else if (wt === LEN) readLength(buf, pos, end);
  else {
    const n = wt === I64 ? 8 : wt === I32 ? 4 : -1;
    if (n < 0) throw new Error(`unsupported wire type ${wt}`);
    if (pos + n > end) throw new Error('truncated fixed-width field');
    at = pos + n;
  }
}

function u32le(buf: Uint8Array, p: number): number {
  return (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
}

// One span's columns in SpanBatch.spans (Int32Array, SPAN_STRIDE per span). Absent byte fields are the
// empty range [0, 0); times are the two 32-bit halves of the fixed64 (read with >>> 0).
export const S_START = 0;
export const S_END = 1;
export const S_RESOURCE = 2;
export const S_TRACE = 3; // [S_TRACE, S_TRACE + 1): start and end
export const S_ID = 5;
export const S_PARENT = 7;
export const S_NAME = 9;
export const S_MESSAGE = 11;
export const S_KIND = 13;
export const S_STATUS = 14;
/** First attribute (index into SpanBatch.attrs, in pairs) and count. */
export const S_ATTR_FIRST = 15;
export const S_ATTR_COUNT = 16;
export const S_START_HI = 17;
export const S_START_LO = 18;
export const S_END_HI = 19;
export const S_END_LO = 20;
/** 1: inside metrics_ingestion_time_range_slack, processed; 0: dropped. */
export const S_KEPT = 21;
const SPAN_STRIDE = 22;

// One resource's columns in SpanBatch.resources.
const R_BUF = 0;
const R_ATTR_FIRST = 1;
const R_ATTR_COUNT = 2;
const RESOURCE_STRIDE = 3;

/**
 * The spans of one PushSpans call, decoded to offsets. Reused from call to call (decode resets it): the
 * columns grow to the largest call seen and are never shrunk. Not reentrant; processors read it
 * synchronously.
 */
export class SpanBatch {
  bufs: Uint8Array[] = [];
  /** `bufs` of decodeRanges (one buffer). */
  private readonly one: Uint8Array[] = [new Uint8Array(0)];
  /** Spans, and their columns (SPAN_STRIDE each). */
  n = 0;
  spans = new Int32Array(SPAN_STRIDE * 256);
  /**
   * Each span's duration in seconds, 0 when the end is not after the start (Tempo treats negative latency
   * as zero). An array, not a method's result: see RegistryHistogram.observeWithTraceId.
   */
  durations = new Float64Array(256);
  nResources = 0;
  resources = new Int32Array(RESOURCE_STRIDE * 64);
  /** [start, end) of every KeyValue message of resources and spans, in pairs. */
  nAttrs = 0;
  attrs = new Int32Array(2 * 1024);

  /** Reads every span of the TracesData messages. Throws on malformed bytes (before any processor ran). */
  decode(traces: readonly Uint8Array[]): void {
    this.reset(traces as Uint8Array[]);
    for (let b = 0; b < traces.length; b++) this.tracesData(b, traces[b]!, 0, traces[b]!.length);
  }

  /** decode() of the `count` TracesData messages buf[ranges[2i], ranges[2i + 1]) (a span ring record). */
  decodeRanges(buf: Uint8Array, ranges: Int32Array, count: number): void {
    this.one[0] = buf;
    this.reset(this.one);
    for (let i = 0; i < count; i++) this.tracesData(0, buf, ranges[2 * i]!, ranges[2 * i + 1]!);
  }

  private reset(bufs: Uint8Array[]): void {
    this.bufs = bufs;
    this.n = 0;
    this.nResources = 0;
    this.nAttrs = 0;
  }

  /** The TracesData message buf[start, end), buffer `b` of `bufs`. */
  private tracesData(b: number, buf: Uint8Array, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      const tag = readVarint(buf, pos, end);
      if (tag === 0x0a) {
        const s = readLength(buf, at, end);
        pos = at;
        this.resourceSpans(b, buf, s, pos);
      } else {
        skipField(buf, at, end, tag & 7);
        pos = at;
      }
    }
  }

  private resourceSpans(b: number, buf: Uint8Array, start: number, end: number): void {
    const r = this.nResources++;
    if (this.resources.length < (r + 1) * RESOURCE_STRIDE) this.resources = grow(this.resources, (r + 1) * RESOURCE_STRIDE);
    const res = this.resources;
    const attrFirst = this.nAttrs;
    res[r * RESOURCE_STRIDE + R_BUF] = b;
    res[r * RESOURCE_STRIDE + R_ATTR_FIRST] = attrFirst;
    // Two passes over the few fields of ResourceSpans: the Resource's attributes first (kept together in
    // `attrs` whatever the field order), then the spans.
    for (let pass = 0; pass < 2; pass++) {
      let pos = start;
      while (pos < end) {
        const tag = readVarint(buf, pos, end);
        if (tag !== (pass === 0 ? 0x0a : 0x12)) {
          skipField(buf, at, end, tag & 7);
          pos = at;
          continue;
        }
        const s = readLength(buf, at, end);
        pos = at;
        let p = s;
        while (p < pos) {
          const t = readVarint(buf, p, pos);
          if (pass === 0 && t === 0x0a) {
            // Resource.attributes (a second Resource field would merge: its attributes append); a one-byte
            // length read here.
            const q = at;
            const len = q < pos ? buf[q]! : 0x80;
            if (len < 0x80) {
              p = q + 1 + len;
              if (p > pos) throw pastEnd(len);
              this.pushAttribute(q + 1, p);
            } else {
              this.pushAttribute(readLength(buf, q, pos), at);
              p = at;
            }
          } else if (pass === 1 && t === 0x12) {
            // ScopeSpans.spans
            const sp = readLength(buf, at, pos);
            const spEnd = at;
            this.span(r, buf, sp, spEnd);
            p = spEnd;
          } else {
            skipField(buf, at, pos, t & 7);
            p = at;
          }
        }
      }
      if (pass === 0) res[r * RESOURCE_STRIDE + R_ATTR_COUNT] = this.nAttrs - attrFirst;
    }
  }

  private pushAttribute(start: number, end: number): void {
    if (this.nAttrs * 2 + 2 > this.attrs.length) this.attrs = grow(this.attrs, this.nAttrs * 2 + 2);
    this.attrs[this.nAttrs * 2] = start;
    this.attrs[this.nAttrs * 2 + 1] = end;
    this.nAttrs++;
  }

  private span(r: number, buf: Uint8Array, start: number, end: number): void {
    const i = this.n++;
    const attrFirst = this.nAttrs;
    // The fields in locals, stored once at the end: each store into the columns (a typed array) checks
    // the array again, and the columns need no zeroing first.
    let traceS = 0;
    let traceE = 0;
    let idS = 0;
    let idE = 0;
    let parentS = 0;
    let parentE = 0;
    let nameS = 0;
    let nameE = 0;
    let messageS = 0;
    let messageE = 0;
    let kind = 0;
    let status = 0;
    let startHi = 0;
    let startLo = 0;
    let endHi = 0;
    let endLo = 0;
    let pos = start;
    while (pos < end) {
      // A one-byte tag (every field the processors read has one) without the varint reader.
      let tag = buf[pos]!;
      if (tag < 0x80) pos++;
      else {
        tag = readVarint(buf, pos, end);
        pos = at;
      }
      // A length-delimited field's contents [s, e), read here for a one-byte length (most of them).
      let s = 0;
      let e = 0;
      if ((tag & 7) === LEN) {
        const len = pos < end ? buf[pos]! : 0x80;
        if (len < 0x80) {
          s = pos + 1;
          e = s + len;
          if (e > end) throw pastEnd(len);
        } else {
          s = readLength(buf, pos, end);
          e = at;
        }
        pos = e;
      }
      switch (tag) {
        case 0x0a: // trace_id
          traceS = s;
          traceE = e;
          break;
        case 0x12: // span_id
          idS = s;
          idE = e;
          break;
        case 0x22: // parent_span_id
          parentS = s;
          parentE = e;
          break;
        case 0x2a: // name
          nameS = s;
          nameE = e;
          break;
        case 0x30: // kind
          kind = readVarint(buf, pos, end) | 0;
          pos = at;
          break;
        case 0x39: // start_time_unix_nano
        case 0x41: {
          // end_time_unix_nano
          if (pos + 8 > end) throw new Error('truncated fixed-width field');
          const lo = u32le(buf, pos);
          const hi = u32le(buf, pos + 4);
          if (tag === 0x39) {
            startLo = lo;
            startHi = hi;
          } else {
            endLo = lo;
            endHi = hi;
          }
          pos += 8;
          break;
        }
        case 0x4a: // attributes
          this.pushAttribute(s, e);
          break;
        case 0x7a: {
          // status: the last one wins whole
          status = 0;
          messageS = 0;
          messageE = 0;
          let p = s;
          while (p < e) {
            const t = readVarint(buf, p, e);
            if (t === 0x12) {
              messageS = readLength(buf, at, e);
              messageE = at;
            } else if (t === 0x18) status = readVarint(buf, at, e) | 0;
            else skipField(buf, at, e, t & 7);
            p = at;
          }
          break;
        }
        default:
          if ((tag & 7) !== LEN) {
            skipField(buf, pos, end, tag & 7);
            pos = at;
          }
      }
    }
    if (this.spans.length < (i + 1) * SPAN_STRIDE) this.spans = grow(this.spans, (i + 1) * SPAN_STRIDE);
    const c = this.spans;
    const o = i * SPAN_STRIDE;
    c[o + S_START] = start;
    c[o + S_END] = end;
    c[o + S_RESOURCE] = r;
    c[o + S_TRACE] = traceS;
    c[o + S_TRACE + 1] = traceE;
    c[o + S_ID] = idS;
    c[o + S_ID + 1] = idE;
    c[o + S_PARENT] = parentS;
    c[o + S_PARENT + 1] = parentE;
    c[o + S_NAME] = nameS;
    c[o + S_NAME + 1] = nameE;
    c[o + S_MESSAGE] = messageS;
    c[o + S_MESSAGE + 1] = messageE;
    c[o + S_KIND] = kind;
    c[o + S_STATUS] = status;
    c[o + S_ATTR_FIRST] = attrFirst;
    c[o + S_ATTR_COUNT] = this.nAttrs - attrFirst;
    c[o + S_START_HI] = startHi;
    c[o + S_START_LO] = startLo;
    c[o + S_END_HI] = endHi;
    c[o + S_END_LO] = endLo;
    c[o + S_KEPT] = 1;
    if (this.durations.length <= i) {
      const d = new Float64Array(this.durations.length * 2);
      d.set(this.durations);
      this.durations = d;
    }
    // Exact as Number(end - start) on BigInts: the product is exact, the sum rounds once. 0 when the end is
    // not after the start.
    this.durations[i] = endHi < startHi || (endHi === startHi && endLo <= startLo) ? 0 : ((endHi - startHi) * 4294967296 + (endLo - startLo)) / 1e9;
  }

  /** The buffer span `i` (or resource `r`) was read from. */
  bufOf(i: number): Uint8Array {
    return this.bufs[this.resources[this.spans[i * SPAN_STRIDE + S_RESOURCE]! * RESOURCE_STRIDE + R_BUF]!]!;
  }

  /** Column `f` of span `i`. */
  get(i: number, f: number): number {
    return this.spans[i * SPAN_STRIDE + f]!;
  }

  resourceOf(i: number): number {
    return this.spans[i * SPAN_STRIDE + S_RESOURCE]!;
  }

  resourceAttrFirst(r: number): number {
    return this.resources[r * RESOURCE_STRIDE + R_ATTR_FIRST]!;
  }

  resourceAttrCount(r: number): number {
    return this.resources[r * RESOURCE_STRIDE + R_ATTR_COUNT]!;
  }

  /**
   * Marks the spans whose end lies outside [oldest, newest] (Unix ns, as hi/lo 32-bit halves) as not
   * kept; returns how many.
   */
  dropOutside(oldestHi: number, oldestLo: number, newestHi: number, newestLo: number): number {
    let out = 0;
    const c = this.spans;
    for (let i = 0; i < this.n; i++) {
      const o = i * SPAN_STRIDE;
      const hi = c[o + S_END_HI]! >>> 0;
      const lo = c[o + S_END_LO]! >>> 0;
      const before = hi < oldestHi || (hi === oldestHi && lo < oldestLo);
      const after = hi > newestHi || (hi === newestHi && lo > newestLo);
      if (before || after) {
        c[o + S_KEPT] = 0;
        out++;
      }
    }
    return out;
  }

  /** Span `i`'s duration in seconds (durations[i]). */
  durationSeconds(i: number): number {
    return this.durations[i]!;
  }
}

function grow(a: Int32Array, min: number): Int32Array<ArrayBuffer> {
  let n = a.length * 2;
  while (n < min) n *= 2;
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

/**
 * A fixed set of attribute keys searched in one pass over a list of KeyValue messages: for each key, the
 * value of its first occurrence (Tempo's FindAttributeValue takes the first).
 */
export class AttributeKeys {
  readonly keys: readonly Buffer[];
  /** Per key, in the span scanned last: the AnyValue's [start, end) of its first occurrence; -1: the KeyValue has no value; -2: absent. */
  readonly valueStart: Int32Array;
  readonly valueEnd: Int32Array;
  /** The same, in the resource scanned last. */
  readonly resourceStart: Int32Array;
  readonly resourceEnd: Int32Array;
  /** Key indices by key length (keys longer than 255 bytes never match a lookup here: none are configured that long). */
  private readonly byLength: number[][] = [];

  constructor(keys: readonly string[]) {
    this.keys = keys.map((k) => Buffer.from(k, 'utf8'));
    this.valueStart = new Int32Array(keys.length);
    this.valueEnd = new Int32Array(keys.length);
    this.resourceStart = new Int32Array(keys.length);
    this.resourceEnd = new Int32Array(keys.length);
    this.keys.forEach((k, i) => (this.byLength[k.length] ??= []).push(i));
  }

  /** Index of `key` in the set; -1 when it is not in it. */
  indexOf(key: string): number {
    const b = Buffer.from(key, 'utf8');
    return this.keys.findIndex((k) => k.equals(b));
  }

  /** Searches the attributes of resource `r` (into resourceStart/End). */
  scanResource(b: SpanBatch, r: number, buf: Uint8Array): void {
    this.scan(buf, b.attrs, b.resourceAttrFirst(r), b.resourceAttrCount(r));
    // Loops, not set(): a few elements, and set() is a call into the runtime.
    for (let k = 0; k < this.keys.length; k++) {
      this.resourceStart[k] = this.valueStart[k]!;
      this.resourceEnd[k] = this.valueEnd[k]!;
    }
  }

  /** Searches the attributes of span `i` (into valueStart/End). */
  scanSpan(b: SpanBatch, i: number, buf: Uint8Array): void {
    this.scan(buf, b.attrs, b.get(i, S_ATTR_FIRST), b.get(i, S_ATTR_COUNT));
  }

  /** Searches the `count` KeyValues of `batch.attrs` from `first`, in `buf`. */
  private scan(buf: Uint8Array, attrs: Int32Array, first: number, count: number): void {
    for (let k = 0; k < this.keys.length; k++) this.valueStart[k] = -2;
    let left = this.keys.length;
    for (let a = first; a < first + count && left > 0; a++) {
      const end = attrs[a * 2 + 1]!;
      let pos = attrs[a * 2]!;
      // The usual layout, key first with a one-byte length: a key of a length no wanted key has is passed
      // over without reading the value; and when the value is the message's only other field (or it has
      // none), the key's bytes are compared before the value is read, and the value is where it lies.
      if (buf[pos] === 0x0a && buf[pos + 1]! < 0x80) {
        const candidates = this.byLength[buf[pos + 1]!];
        if (candidates === undefined) continue;
        const kS = pos + 2;
        const kE = kS + buf[pos + 1]!;
        if (kE === end) {
          left -= this.take(candidates, buf, kS, -1, -1);
          continue;
        }
        if (kE < end && buf[kE] === 0x12) {
          const len = readVarint(buf, kE + 1, end);
          if (at + len === end) {
            left -= this.take(candidates, buf, kS, at, end);
            continue;
          }
        }
      }
      // Any other layout: every field read, the last key and value win (as protobuf decoders do).
      let kS = -1;
      let kE = -1;
      let vS = -1;
      let vE = -1;
      while (pos < end) {
        const tag = readVarint(buf, pos, end);
        if ((tag & 7) === LEN && (tag === 0x0a || tag === 0x12)) {
          const s = readLength(buf, at, end);
          if (tag === 0x0a) {
            kS = s;
            kE = at;
          } else {
            vS = s;
            vE = at;
          }
        } else skipField(buf, at, end, tag & 7);
        pos = at;
      }
      if (kS < 0) continue;
      const candidates = this.byLength[kE - kS];
      if (candidates) left -= this.take(candidates, buf, kS, vS, vE);
    }
  }

  /**
   * Records the value [vS, vE) for each of `candidates` (keys of the same length) not found yet whose
   * bytes are the key's at buf[kS]; returns how many.
   */
  private take(candidates: readonly number[], buf: Uint8Array, kS: number, vS: number, vE: number): number {
    let n = 0;
    for (let c = 0; c < candidates.length; c++) {
      const k = candidates[c]!;
      if (this.valueStart[k] !== -2 || !sameBytes(buf, kS, this.keys[k]!)) continue;
      this.valueStart[k] = vS;
      this.valueEnd[k] = vE;
      n++;
    }
    return n;
  }

  found(k: number): boolean {
    return this.valueStart[k] !== -2;
  }
}

function sameBytes(buf: Uint8Array, s: number, key: Buffer): boolean {
  for (let i = 0; i < key.length; i++) if (buf[s + i] !== key[i]) return false;
  return true;
}

/**
 * An AnyValue as stringifyAnyValue prints it, read straight from the wire for the scalar cases (string,
 * bool, int that fits a double exactly, double); arrays, maps, bytes and large ints go through the schema.
 * start < 0 (a KeyValue without value): ''.
 */
export function anyValueString(buf: Uint8Array, start: number, end: number): string {
  if (start < 0) return '';
  if (start < end) {
    const tag = buf[start]!;
    const len = tag === 0x0a ? readVarint(buf, start + 1, end) : -1;
    if (tag === 0x0a && at + len === end) return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8', at, end);
    if (tag === 0x10 && end - start === 2) return buf[start + 1] ? 'true' : 'false';
    if (tag === 0x18 && end - start <= 8) return String(readVarint(buf, start + 1, end));
    if (tag === 0x21 && end - start === 9) return formatFloat(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).readDoubleLE(start + 1));
  }
  // A copy (slice): the bytes may be the span ring's shared memory, which the decoder's TextDecoder refuses.
  return stringifyAnyValue(fromBinary(AnyValueSchema, buf.slice(start, end)));
}

/**
 * Tempo's span multiplier: 1 / the last double attribute named `key` of span `i` when > 0, else 1. Runs
 * only when span_multiplier_key is set.
 */
export function spanMultiplier(batch: SpanBatch, i: number, key: Buffer): number {
  const buf = batch.bufOf(i);
  const first = batch.get(i, S_ATTR_FIRST);
  const count = batch.get(i, S_ATTR_COUNT);
  let m = 1;
  for (let a = first; a < first + count; a++) {
    const end = batch.attrs[a * 2 + 1]!;
    let pos = batch.attrs[a * 2]!;
    let matched = false;
    let vS = -1;
    let vE = -1;
    while (pos < end) {
      const tag = readVarint(buf, pos, end);
      if (tag === 0x0a || tag === 0x12) {
        const s = readLength(buf, at, end);
        if (tag === 0x0a) matched = at - s === key.length && sameBytes(buf, s, key);
        else {
          vS = s;
          vE = at;
        }
      } else skipField(buf, at, end, tag & 7);
      pos = at;
    }
    if (!matched || vS < 0) continue;
    const v = fromBinary(AnyValueSchema, buf.slice(vS, vE)).value; // a copy: see anyValueString
    if (v.case === 'doubleValue' && v.value > 0) m = 1 / v.value;
  }
  return m;
}

const HEX = '0123456789abcdef';

/** A trace ID as Tempo prints it in exemplars: hex without leading zeros ('' for an ID of zeros). */
export function traceIdString(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (s === '') {
      if (b === 0) continue;
      s = b < 16 ? HEX[b]! : HEX[b >> 4]! + HEX[b & 15]!;
    } else s += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return s;
}

/** Whether the bytes hold anything but zeros (an exemplar needs a trace ID that prints non-empty). */
export function nonZero(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return true;
  return false;
}
