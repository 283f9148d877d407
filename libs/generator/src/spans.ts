// Decoding forwarded spans for the processors, straight from the wire: only the fields the processors
// read are decoded (IDs, name, kind, times, status), and a span's attributes are kept as byte ranges,
// searched by key without decoding the others (LazyAttributes). Decoding every span in full with the
// generated schema cost ~20 µs a span, on the event loop the write path shares in `-target=all`
// (bench/results/metrics-generator.md). Each span's encoded size (traces_spanmetrics_size_total counts
// Tempo's span.Size(): the Span message's encoded bytes) comes for free.
//
//   TracesData    { 1: repeated ResourceSpans }
//   ResourceSpans { 1: Resource, 2: repeated ScopeSpans, 3: schema_url }
//   ScopeSpans    { 1: InstrumentationScope, 2: repeated Span, 3: schema_url }
//   Span          { 1: trace_id, 2: span_id, 3: trace_state, 4: parent_span_id, 5: name, 6: kind,
//                   7: start_time_unix_nano (fixed64), 8: end_time_unix_nano (fixed64), 9: repeated
//                   attributes (KeyValue), 10..14: dropped counts, events, links, 15: status, 16: flags }
//   Status        { 2: message, 3: code }
//   KeyValue      { 1: key, 2: value (AnyValue) }

import { fromBinary } from '@bufbuild/protobuf';
import { AnyValueSchema, KeyValueSchema, type KeyValue } from '@stave/proto';
import { stringifyAnyValue } from './attributes';
import { formatFloat } from './registry/metric';

const LEN = 2; // wire type: length-delimited
const VARINT = 0;
const I64 = 1;
const I32 = 5;

/**
 * A cursor over one protobuf message inside a buffer (absolute offsets, nothing copied). Malformed
 * input (a truncated field, a varint past 10 bytes, an unknown wire type) throws.
 */
class Cursor {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint as a number (exact up to 2^53: tags, lengths, enums; larger only in fields skipped). */
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** The [start, end) of a length-delimited field's contents, after its tag. */
  lengthDelimited(): number {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new Error(`field of ${len} bytes runs past its message`);
    this.pos = start + len;
    return start;
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.varint();
    else if (wireType === LEN) this.lengthDelimited();
    else if (wireType === I64) this.advance(8);
    else if (wireType === I32) this.advance(4);
    else throw new Error(`unsupported wire type ${wireType}`);
  }

  advance(n: number): void {
    if (this.pos + n > this.end) throw new Error('truncated fixed-width field');
    this.pos += n;
  }
}

/** Position after the last `readVarint` (module state: no cursor object per lookup on the hot path). */
let at = 0;

/** The varint at buf[pos], below `end`; `at` is left after it. Numbers past 2^53 lose precision. */
function readVarint(buf: Buffer, pos: number, end: number): number {
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

/**
 * A list of attributes still encoded (KeyValue messages as byte ranges): a lookup compares keys as bytes
 * and decodes only the value it finds.
 */
export class LazyAttributes {
  private decoded: KeyValue[] | undefined;
  /** Lookups answered so far, when the list is asked often (a resource: once per span of the batch). */
  private readonly memo: Map<string, string | undefined> | undefined;

  /** `ranges`: start and end of each KeyValue message in `buf`, in pairs. */
  constructor(
    private readonly buf: Buffer,
    private readonly ranges: readonly number[],
    memoize = false,
  ) {
    if (memoize) this.memo = new Map();
  }

  /** The value of the first attribute named `key`, as a label value (stringifyAnyValue); undefined when absent. */
  findString(key: string): string | undefined {
    if (!this.memo) return this.scan(key);
    if (this.memo.has(key)) return this.memo.get(key);
    const v = this.scan(key);
    this.memo.set(key, v);
    return v;
  }

  private scan(key: string): string | undefined {
    const want = keyBytes(key);
    const buf = this.buf;
    for (let i = 0; i < this.ranges.length; i += 2) {
      const end = this.ranges[i + 1]!;
      let pos = this.ranges[i]!;
      let matched = false;
      let vStart = -1;
      let vEnd = -1;
      while (pos < end) {
        const tag = readVarint(buf, pos, end);
        pos = at;
        const wt = tag & 7;
        if (wt === LEN) {
          const len = readVarint(buf, pos, end);
          const s = at;
          pos = s + len;
          if (pos > end) throw new Error(`field of ${len} bytes runs past its message`);
          if (tag === 0x0a) matched = len === want.length && buf.compare(want, 0, len, s, pos) === 0;
          else if (tag === 0x12) {
            vStart = s;
            vEnd = pos;
          }
        } else pos = skipField(buf, pos, end, wt);
        if (tag === 0x0a && !matched) break;
      }
      if (matched) return vStart < 0 ? '' : anyValueString(buf, vStart, vEnd);
    }
    return undefined;
  }

  /** Every attribute, decoded (once). */
  all(): readonly KeyValue[] {
    if (!this.decoded) {
      this.decoded = [];
      for (let i = 0; i < this.ranges.length; i += 2) this.decoded.push(fromBinary(KeyValueSchema, this.buf.subarray(this.ranges[i]!, this.ranges[i + 1]!)));
    }
    return this.decoded;
  }
}

/** Skips one field's value of wire type `wt` at buf[pos]; returns the position after it. */
function skipField(buf: Buffer, pos: number, end: number, wt: number): number {
  if (wt === VARINT) {
    readVarint(buf, pos, end);
    return at;
  }
  if (wt === LEN) {
    const len = readVarint(buf, pos, end);
    if (at + len > end) throw new Error(`field of ${len} bytes runs past its message`);
    return at + len;
  }
  const n = wt === I64 ? 8 : wt === I32 ? 4 : -1;
  if (n < 0) throw new Error(`unsupported wire type ${wt}`);
  if (pos + n > end) throw new Error('truncated fixed-width field');
  return pos + n;
}

/**
 * An AnyValue as stringifyAnyValue prints it, read straight from the wire for the scalar cases (string,
 * bool, int that fits a double exactly, double); arrays, maps, bytes and large ints go through the schema.
 */
function anyValueString(buf: Buffer, start: number, end: number): string {
  if (start < end) {
    const tag = buf[start]!;
    const len = tag === 0x0a ? readVarint(buf, start + 1, end) : -1;
    if (tag === 0x0a && at + len === end) return buf.toString('utf8', at, end);
    if (tag === 0x10 && end - start === 2) return buf[start + 1] ? 'true' : 'false';
    if (tag === 0x18 && end - start <= 8) return String(readVarint(buf, start + 1, end));
    if (tag === 0x21 && end - start === 9) return formatFloat(buf.readDoubleLE(start + 1));
  }
  return stringifyAnyValue(fromBinary(AnyValueSchema, buf.subarray(start, end)));
}

const encodedKeys = new Map<string, Buffer>();

/** Attribute keys looked up are few (configured dimensions, Tempo's fixed names): encoded once each. */
function keyBytes(key: string): Buffer {
  let b = encodedKeys.get(key);
  if (!b) {
    b = Buffer.from(key, 'utf8');
    if (encodedKeys.size < 10_000) encodedKeys.set(key, b);
  }
  return b;
}

/** The fields of a span the processors read. */
export interface SpanLite {
  /** IDs in lower-case hex ('' when absent): the processors key edges and exemplars by them. */
  readonly traceIdHex: string;
  readonly spanIdHex: string;
  readonly parentSpanIdHex: string;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly status: { readonly code: number; readonly message: string } | undefined;
  readonly attributes: LazyAttributes;
}

export interface SizedSpan {
  readonly span: SpanLite;
  /** Encoded size of the Span message, bytes. */
  readonly size: number;
}

export interface ResourceBatch {
  readonly resourceAttributes: LazyAttributes;
  readonly spans: SizedSpan[];
}

function decodeStatus(buf: Buffer, start: number, end: number): { code: number; message: string } {
  const c = new Cursor(buf, start, end);
  let code = 0;
  let message = '';
  while (c.pos < c.end) {
    const tag = c.varint();
    const no = Math.floor(tag / 8);
    const wt = tag & 7;
    if (no === 2 && wt === LEN) {
      const s = c.lengthDelimited();
      message = buf.toString('utf8', s, c.pos);
    } else if (no === 3 && wt === VARINT) code = c.varint() | 0;
    else c.skip(wt);
  }
  return { code, message };
}

/** The Span message in buf[start, end): the fields the processors read. Throws on malformed bytes. */
export function decodeSpan(buf: Buffer, start: number, end: number): SpanLite {
  const c = new Cursor(buf, start, end);
  let traceIdHex = '';
  let spanIdHex = '';
  let parentSpanIdHex = '';
  let name = '';
  let kind = 0;
  let startTimeUnixNano = 0n;
  let endTimeUnixNano = 0n;
  let status: { code: number; message: string } | undefined;
  const attributes: number[] = [];
  while (c.pos < c.end) {
    const tag = c.varint();
    const no = Math.floor(tag / 8);
    const wt = tag & 7;
    if (wt === LEN && (no === 1 || no === 2 || no === 4 || no === 5 || no === 9 || no === 15)) {
      const s = c.lengthDelimited();
      if (no === 9) attributes.push(s, c.pos);
      else if (no === 1) traceIdHex = buf.toString('hex', s, c.pos);
      else if (no === 2) spanIdHex = buf.toString('hex', s, c.pos);
      else if (no === 4) parentSpanIdHex = buf.toString('hex', s, c.pos);
      else if (no === 5) name = buf.toString('utf8', s, c.pos);
      else status = decodeStatus(buf, s, c.pos);
    } else if (wt === VARINT && no === 6) kind = c.varint() | 0;
    else if (wt === I64 && (no === 7 || no === 8)) {
      const at = c.pos;
      c.advance(8);
      if (no === 7) startTimeUnixNano = buf.readBigUInt64LE(at);
      else endTimeUnixNano = buf.readBigUInt64LE(at);
    } else c.skip(wt);
  }
  return { traceIdHex, spanIdHex, parentSpanIdHex, name, kind, startTimeUnixNano, endTimeUnixNano, status, attributes: new LazyAttributes(buf, attributes) };
}

/**
 * Calls `fn` with the [start, end) of every length-delimited field numbered `fieldNo` in buf[start, end), in
 * order (a callback rather than a generator: no iterator objects per span).
 */
function eachField(buf: Buffer, start: number, end: number, fieldNo: number, fn: (s: number, e: number) => void): void {
  const c = new Cursor(buf, start, end);
  while (c.pos < c.end) {
    const tag = c.varint();
    const wt = tag & 7;
    if (Math.floor(tag / 8) === fieldNo && wt === LEN) {
      const s = c.lengthDelimited();
      fn(s, c.pos);
    } else c.skip(wt);
  }
}

/** Every resource batch of the given TracesData messages. Throws on malformed bytes. */
export function decodeTraces(traces: readonly Uint8Array[]): ResourceBatch[] {
  const out: ResourceBatch[] = [];
  for (const td of traces) {
    const buf = Buffer.from(td.buffer, td.byteOffset, td.byteLength);
    eachField(buf, 0, buf.length, 1, (rs, rsEnd) => {
      const resource: number[] = [];
      const spans: SizedSpan[] = [];
      const c = new Cursor(buf, rs, rsEnd);
      while (c.pos < c.end) {
        const tag = c.varint();
        const no = Math.floor(tag / 8);
        const wt = tag & 7;
        if (no === 1 && wt === LEN) {
          const s = c.lengthDelimited();
          eachField(buf, s, c.pos, 1, (kv, kvEnd) => resource.push(kv, kvEnd));
        } else if (no === 2 && wt === LEN) {
          const s = c.lengthDelimited();
          eachField(buf, s, c.pos, 2, (sp, spEnd) => spans.push({ span: decodeSpan(buf, sp, spEnd), size: spEnd - sp }));
        } else c.skip(wt);
      }
      const resourceAttributes = new LazyAttributes(buf, resource, true);
      out.push({ resourceAttributes, spans });
    });
  }
  return out;
}
