// The write path's hot spot: cut one OTLP ExportTraceServiceRequest into one TracesData per trace ID by
// scanning the protobuf wire bytes, without building a JavaScript object per span.
//
// Wire shapes scanned (field numbers are the OTLP ones; ExportTraceServiceRequest, TracesData and
// stave.v1.Trace are the same message on the wire):
//   TracesData    { 1: repeated ResourceSpans }
//   ResourceSpans { 1: Resource, 2: repeated ScopeSpans, 3: string schema_url }
//   ScopeSpans    { 1: InstrumentationScope, 2: repeated Span, 3: string schema_url }
//   Span          { 1: bytes trace_id, 2: bytes span_id, 7: fixed64 start, 8: fixed64 end, ... }
//
// Every field other than the repeated ones we regroup (resource, scope, schema URLs, unknown fields, and
// each span) is copied verbatim as a byte range; only the length prefixes of the regrouped ResourceSpans
// and ScopeSpans are written anew. So the output decodes to exactly the input spans, unknown fields
// included, grouped by trace.
//
// Speed comes from: one pass over the bytes; per-span state kept in reused typed-array scratch lists (no
// objects, no strings, no BigInts per span); consecutive spans of the same trace found by a 16-byte compare
// before any hash lookup; and all output written into one buffer sized exactly in a first pass.
//
// By default the scan also validates what the full decoder (fromBinary, used when blocks are built) would
// reject later: wire types of known fields, nesting, and UTF-8 in string fields of the whole span tree. An
// acknowledged span that could not be decoded later would be a lost span, so bad input is refused here.
//
// The wire reading is protobuf-wire.ts; the schema-aware validation of the span tree is validate.ts.

import { Code, ConnectError } from '@stave/core';
import {
  InvalidUtf8Error,
  ProtobufWireError,
  readFixed64,
  readLength,
  readTag,
  skipField,
  validUtf8,
  varintSize,
  wire,
  writeVarint,
  WT_I64,
  WT_LEN,
} from './protobuf-wire';
import { repairUtf8 } from './repair-utf8';
import { SCHEMA, T_RESOURCE, T_SCOPE, T_SPAN, validateField, validateMessage, wireTypeOfKind } from './validate';

export interface TraceSplit {
  /** The trace ID, 16 bytes: a copy, or (split-pool.ts) a view of the request's output buffer. */
  readonly id: Uint8Array;
  /**
   * A valid TracesData (= ExportTraceServiceRequest = stave.v1.Trace on the wire) holding only this
   * trace's spans with their resource and scope context. All traces of one request share one backing
   * buffer, so keeping one alive keeps the request's output alive (at most the request's size).
   */
  readonly bytes: Uint8Array;
  readonly spanCount: number;
  /**
   * Smallest span start and largest span end in Unix nanoseconds (exact, as bigint). Spans without the
   * field are ignored; 0n when no span of the trace has it.
   */
  readonly startUnixNano: bigint;
  readonly endUnixNano: bigint;
  /** The same range in whole Unix seconds (start rounded down, end up), clamped to a u32; 0: unknown. */
  readonly startSeconds: number;
  readonly endSeconds: number;
}

const TWO_POW_23 = 0x800000;
/** 10^9 / 2^9: nanoseconds per second without their factor 512. */
const D = 1_953_125;

/**
 * floor(nanos / 10^9) for nanos = hi·2^32 + lo, in exact integer arithmetic on doubles (no BigInt);
 * `ceil` rounds up instead. Clamped to a u32 (the WAL's field).
 */
export function secondsOf(hi: number, lo: number, ceil: boolean): number {
  // ≥ 2^62 ns is past 2^32 s: clamped. Below, nanos / 2^9 < 2^53 is exact in a double, and dropping the
  // 9 low bits cannot change floor(nanos / 10^9) = floor((nanos / 2^9) / D).
  if (hi >= 0x40000000) return 0xffffffff;
  const x = hi * TWO_POW_23 + (lo >>> 9);
  let q = Math.floor(x / D);
  if (q * D > x) q--;
  else if ((q + 1) * D <= x) q++;
  if (ceil && (q * D !== x || (lo & 511) !== 0)) q++;
  return Math.min(q, 0xffffffff);
}

/** One trace of a split; the nanosecond range is kept as two u32 halves and made a bigint when asked. */
export class SplitTrace implements TraceSplit {
  readonly startSeconds: number;
  readonly endSeconds: number;

  constructor(
    readonly id: Uint8Array,
    readonly bytes: Uint8Array,
    readonly spanCount: number,
    readonly startHi: number,
    readonly startLo: number,
    readonly endHi: number,
    readonly endLo: number,
  ) {
    this.startSeconds = secondsOf(startHi, startLo, false);
    this.endSeconds = secondsOf(endHi, endLo, true);
  }

  get startUnixNano(): bigint {
    return (BigInt(this.startHi) << 32n) | BigInt(this.startLo);
  }

  get endUnixNano(): bigint {
    return (BigInt(this.endHi) << 32n) | BigInt(this.endLo);
  }
}

export interface SplitResult {
  /** One entry per distinct trace ID, in order of first appearance. */
  readonly traces: TraceSplit[];
  readonly spanCount: number;
  readonly traceCount: number;
}

export interface SplitOptions {
  /**
   * Validate the whole span tree (wire types, nesting depth, UTF-8 of strings) and not only the framing
   * and IDs. Default true; false is for callers that validated the bytes already.
   */
  readonly deep?: boolean;
  /**
   * Bytes left free in front of each trace's output (the caller writes a record header there; see
   * split-pool.ts). Default 0: the traces follow each other.
   */
  readonly framePrefix?: number;
  /**
   * Where the output goes: called once with the bytes every trace needs together, it returns a buffer of
   * at least that many bytes (split-pool.ts hands out reused arenas). Default: a new buffer of that size.
   */
  readonly output?: (bytes: number) => Buffer;
}

// --- scratch lists --------------------------------------------------------------------------------------

/** A growable list of uint32 backed by a typed array; reused across calls (reset, never shrunk). */
class U32List {
  a: Uint32Array;
  n = 0;
  constructor(capacity: number) {
    this.a = new Uint32Array(capacity);
  }
  push(v: number): number {
    if (this.n === this.a.length) {
      const next = new Uint32Array(this.a.length * 2);
      next.set(this.a);
      this.a = next;
    }
    this.a[this.n] = v;
    return this.n++;
  }
}

// Context byte ranges (fields copied verbatim) of the request, of each ResourceSpans and of each ScopeSpans.
const topRanges = new U32List(8); // start, end pairs
const rsRanges = new U32List(64);
const rsFirst = new U32List(16); // first pair index in rsRanges
const rsCount = new U32List(16);
const rsCtxLen = new U32List(16);
const ssRanges = new U32List(64);
const ssFirst = new U32List(32);
const ssCount = new U32List(32);
const ssCtxLen = new U32List(32);
const ssResource = new U32List(32);
// Per span: its field's byte range (tag included), its ScopeSpans and its trace group.
const spStart = new U32List(256);
const spEnd = new U32List(256);
const spScope = new U32List(256);
const spGroup = new U32List(256);
// Per trace group.
const gIdOff = new U32List(64);
const gCount = new U32List(64);
const gHash = new U32List(64);
const gFlags = new U32List(64); // HAS_START | HAS_END
const gStartHi = new U32List(64);
const gStartLo = new U32List(64);
const gEndHi = new U32List(64);
const gEndLo = new U32List(64);
// Open-addressing hash table of trace groups: slot -> group index + 1 (0 = empty), linear probing.
const MIN_TABLE = 1024;
let table = new Int32Array(MIN_TABLE);
const sizes = new U32List(64);
let order = new Uint32Array(256);

const NONE = 0xffffffff;
const HAS_START = 1;
const HAS_END = 2;

let deepValidation = true;
let lastGroup = NONE;
// Where the scan is, for error messages.
let atResource = -1;
let atScope = -1;
let atSpan = -1;

function reset(deep: boolean): void {
  topRanges.n = rsRanges.n = rsFirst.n = rsCount.n = rsCtxLen.n = 0;
  ssRanges.n = ssFirst.n = ssCount.n = ssCtxLen.n = ssResource.n = 0;
  spStart.n = spEnd.n = spScope.n = spGroup.n = 0;
  gIdOff.n = gCount.n = gHash.n = gFlags.n = gStartHi.n = gStartLo.n = gEndHi.n = gEndLo.n = 0;
  sizes.n = 0;
  if (table.length > MIN_TABLE * 4) table = new Int32Array(MIN_TABLE);
  else table.fill(0);
  deepValidation = deep;
  lastGroup = NONE;
  atResource = atScope = atSpan = -1;
}

/** Appends [start, end) to a range list, merging with the previous range of the same owner when adjacent. */
function addRange(list: U32List, first: number, start: number, end: number): void {
  if (list.n > first * 2 && list.a[list.n - 1] === start) {
    list.a[list.n - 1] = end;
    return;
  }
  list.push(start);
  list.push(end);
}

// --- scanning -------------------------------------------------------------------------------------------

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function where(): string {
  let s = 'request';
  if (atResource >= 0) s = `resourceSpans[${atResource}]`;
  if (atScope >= 0) s += `.scopeSpans[${atScope}]`;
  if (atSpan >= 0) s += `.spans[${atSpan}]`;
  return s;
}

function wrongWireType(pos: number, message: string, field: number, wt: number, expected: number): ProtobufWireError {
  return new ProtobufWireError(pos, `${message} field ${field} has wire type ${wt}, expected ${expected}`);
}

/**
 * Splits an ExportTraceServiceRequest (or TracesData) by trace ID. Throws ConnectError(InvalidArgument)
 * naming the problem and where it is: malformed wire data (with its byte offset), a trace ID that is not
 * 16 bytes or is all zeros, or a span ID that is present but not 8 bytes.
 */
export function splitByTrace(req: Uint8Array, opts: SplitOptions = {}): SplitResult {
  return split(req, opts, false);
}

function split(req: Uint8Array, opts: SplitOptions, repaired: boolean): SplitResult {
  reset(opts.deep ?? true);
  try {
    scanRequest(req);
  } catch (err) {
    if (err instanceof InvalidUtf8Error && !repaired) {
      // Stave's one rule for every receiver (docs/limits.md): invalid UTF-8 becomes U+FFFD and the batch is
      // kept. Rare, so the repair is a second pass over a rewritten copy rather than a cost on the hot path.
      let fixed: Uint8Array;
      try {
        fixed = repairUtf8(req);
      } catch (e) {
        if (e instanceof ProtobufWireError) throw invalid(`${where()}: ${e.message}`);
        throw e;
      }
      return split(fixed, opts, true);
    }
    if (err instanceof ProtobufWireError) throw invalid(`${where()}: ${err.message}`);
    throw err;
  }
  return buildOutput(req, opts.framePrefix ?? 0, opts.output);
}

function scanRequest(buf: Uint8Array): void {
  const end = buf.length;
  let pos = 0;
  let resourceIndex = 0;
  while (pos < end) {
    const fieldStart = pos;
    pos = readTag(buf, pos, end);
    const tag = wire.u32;
    if (tag === ((1 << 3) | WT_LEN)) {
      pos = readLength(buf, pos, end);
      const len = wire.u32;
      atResource = resourceIndex;
      scanResourceSpans(buf, pos, pos + len);
      atResource = -1;
      resourceIndex++;
      pos += len;
    } else if (tag >>> 3 === 1) {
      throw wrongWireType(fieldStart, 'ExportTraceServiceRequest', 1, tag & 7, WT_LEN);
    } else {
      pos = skipField(buf, pos, end, tag, 0);
      addRange(topRanges, 0, fieldStart, pos);
    }
  }
}

function scanResourceSpans(buf: Uint8Array, pos: number, end: number): void {
  const r = rsFirst.n;
  rsFirst.push(rsRanges.n / 2);
  let scopeIndex = 0;
  while (pos < end) {
    const fieldStart = pos;
    pos = readTag(buf, pos, end);
    const tag = wire.u32;
    switch (tag) {
      case (2 << 3) | WT_LEN: {
        pos = readLength(buf, pos, end);
        const len = wire.u32;
        atScope = scopeIndex++;
        scanScopeSpans(buf, pos, pos + len, r);
        atScope = -1;
        pos += len;
        break;
      }
      case (1 << 3) | WT_LEN: {
        // resource
        pos = readLength(buf, pos, end);
        const len = wire.u32; // wire.u32 is reused by the nested reads
        if (deepValidation) validateMessage(buf, pos, pos + len, T_RESOURCE, 1);
        pos += len;
        addRange(rsRanges, rsFirst.a[r]!, fieldStart, pos);
        break;
      }
      case (3 << 3) | WT_LEN: // schema_url
        pos = readLength(buf, pos, end);
        if (deepValidation && !validUtf8(buf, pos, pos + wire.u32)) throw new InvalidUtf8Error(pos, 'schema_url is not valid UTF-8');
        pos += wire.u32;
        addRange(rsRanges, rsFirst.a[r]!, fieldStart, pos);
        break;
      default:
        if (tag >>> 3 <= 3) throw wrongWireType(fieldStart, 'ResourceSpans', tag >>> 3, tag & 7, WT_LEN);
        pos = skipField(buf, pos, end, tag, 1);
        addRange(rsRanges, rsFirst.a[r]!, fieldStart, pos);
    }
  }
  const first = rsFirst.a[r]!;
  const count = rsRanges.n / 2 - first;
  rsCount.push(count);
  let len = 0;
  for (let i = first; i < first + count; i++) len += rsRanges.a[2 * i + 1]! - rsRanges.a[2 * i]!;
  rsCtxLen.push(len);
}

function scanScopeSpans(buf: Uint8Array, pos: number, end: number, resource: number): void {
  const s = ssFirst.n;
  ssFirst.push(ssRanges.n / 2);
  ssResource.push(resource);
  let spanIndex = 0;
  while (pos < end) {
    const fieldStart = pos;
    pos = readTag(buf, pos, end);
    const tag = wire.u32;
    switch (tag) {
      case (2 << 3) | WT_LEN: {
        pos = readLength(buf, pos, end);
        const len = wire.u32;
        atSpan = spanIndex++;
        scanSpan(buf, fieldStart, pos, pos + len, s);
        atSpan = -1;
        pos += len;
        break;
      }
      case (1 << 3) | WT_LEN: {
        // scope
        pos = readLength(buf, pos, end);
        const len = wire.u32; // wire.u32 is reused by the nested reads
        if (deepValidation) validateMessage(buf, pos, pos + len, T_SCOPE, 1);
        pos += len;
        addRange(ssRanges, ssFirst.a[s]!, fieldStart, pos);
        break;
      }
      case (3 << 3) | WT_LEN: // schema_url
        pos = readLength(buf, pos, end);
        if (deepValidation && !validUtf8(buf, pos, pos + wire.u32)) throw new InvalidUtf8Error(pos, 'schema_url is not valid UTF-8');
        pos += wire.u32;
        addRange(ssRanges, ssFirst.a[s]!, fieldStart, pos);
        break;
      default:
        if (tag >>> 3 <= 3) throw wrongWireType(fieldStart, 'ScopeSpans', tag >>> 3, tag & 7, WT_LEN);
        pos = skipField(buf, pos, end, tag, 1);
        addRange(ssRanges, ssFirst.a[s]!, fieldStart, pos);
    }
  }
  const first = ssFirst.a[s]!;
  const count = ssRanges.n / 2 - first;
  ssCount.push(count);
  let len = 0;
  for (let i = first; i < first + count; i++) len += ssRanges.a[2 * i + 1]! - ssRanges.a[2 * i]!;
  ssCtxLen.push(len);
}

const SPAN_SCHEMA = SCHEMA[T_SPAN]!;

function scanSpan(buf: Uint8Array, fieldStart: number, pos: number, end: number, scope: number): void {
  let idOff = -1;
  let idLen = 0;
  let spanIdLen = -1;
  let flags = 0;
  let startHi = 0;
  let startLo = 0;
  let endHi = 0;
  let endLo = 0;
  while (pos < end) {
    pos = readTag(buf, pos, end);
    const tag = wire.u32;
    switch (tag) {
      case (1 << 3) | WT_LEN:
        pos = readLength(buf, pos, end);
        idOff = pos;
        idLen = wire.u32;
        pos += wire.u32;
        break;
      case (2 << 3) | WT_LEN:
        pos = readLength(buf, pos, end);
        spanIdLen = wire.u32;
        pos += wire.u32;
        break;
      case (7 << 3) | WT_I64:
        pos = readFixed64(buf, pos, end);
        startHi = wire.hi;
        startLo = wire.lo;
        flags |= HAS_START;
        break;
      case (8 << 3) | WT_I64:
        pos = readFixed64(buf, pos, end);
        endHi = wire.hi;
        endLo = wire.lo;
        flags |= HAS_END;
        break;
      default: {
        const field = tag >>> 3;
        const kind = field < SPAN_SCHEMA.length ? SPAN_SCHEMA[field]! : 0;
        if (deepValidation) {
          pos = validateField(buf, pos, end, T_SPAN, tag, kind, 1);
        } else {
          if (kind !== 0 && (tag & 7) !== wireTypeOfKind(kind)) {
            throw wrongWireType(pos, 'Span', field, tag & 7, wireTypeOfKind(kind));
          }
          pos = skipField(buf, pos, end, tag, 1);
        }
      }
    }
  }

  if (idLen !== 16) throw invalid(`${where()}: trace ID must be 16 bytes, got ${idOff < 0 ? 0 : idLen}`);
  let nonZero = 0;
  for (let i = 0; i < 16; i++) nonZero |= buf[idOff + i]!;
  if (nonZero === 0) throw invalid(`${where()}: trace ID must not be all zeros`);
  if (spanIdLen > 0 && spanIdLen !== 8) throw invalid(`${where()}: span ID must be 8 bytes, got ${spanIdLen}`);

  const g = groupOf(buf, idOff);
  spStart.push(fieldStart);
  spEnd.push(end);
  spScope.push(scope);
  spGroup.push(g);
  gCount.a[g]!++;
  if (flags & HAS_START) {
    const h = gStartHi.a[g]!;
    if ((gFlags.a[g]! & HAS_START) === 0 || startHi < h || (startHi === h && startLo < gStartLo.a[g]!)) {
      gStartHi.a[g] = startHi;
      gStartLo.a[g] = startLo;
    }
  }
  if (flags & HAS_END) {
    const h = gEndHi.a[g]!;
    if ((gFlags.a[g]! & HAS_END) === 0 || endHi > h || (endHi === h && endLo > gEndLo.a[g]!)) {
      gEndHi.a[g] = endHi;
      gEndLo.a[g] = endLo;
    }
  }
  gFlags.a[g]! |= flags;
}

function sameId(buf: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

/** The group of the trace ID at buf[off, off+16), created on first sight. */
function groupOf(buf: Uint8Array, off: number): number {
  if (lastGroup !== NONE && sameId(buf, off, gIdOff.a[lastGroup]!)) return lastGroup;
  // Trace IDs are random (W3C), so mixing their four words is a good enough hash.
  const h =
    ((buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) ^
      Math.imul(buf[off + 4]! | (buf[off + 5]! << 8) | (buf[off + 6]! << 16) | (buf[off + 7]! << 24), 0x9e3779b1) ^
      Math.imul(buf[off + 8]! | (buf[off + 9]! << 8) | (buf[off + 10]! << 16) | (buf[off + 11]! << 24), 0x85ebca6b) ^
      Math.imul(buf[off + 12]! | (buf[off + 13]! << 8) | (buf[off + 14]! << 16) | (buf[off + 15]! << 24), 0xc2b2ae35)) >>>
    0;
  const mask = table.length - 1;
  let slot = (h ^ (h >>> 16)) & mask;
  for (;;) {
    const e = table[slot]!;
    if (e === 0) break;
    if (gHash.a[e - 1] === h && sameId(buf, off, gIdOff.a[e - 1]!)) {
      lastGroup = e - 1;
      return lastGroup;
    }
    slot = (slot + 1) & mask;
  }
  const g = gIdOff.push(off);
  gHash.push(h);
  gCount.push(0);
  gFlags.push(0);
  gStartHi.push(0);
  gStartLo.push(0);
  gEndHi.push(0);
  gEndLo.push(0);
  table[slot] = g + 1;
  if (gIdOff.n * 2 > table.length) growTable();
  lastGroup = g;
  return g;
}

/** Doubles the group table (kept at most half full) and re-inserts every group. */
function growTable(): void {
  table = new Int32Array(table.length * 2);
  const mask = table.length - 1;
  for (let g = 0; g < gIdOff.n; g++) {
    const h = gHash.a[g]!;
    let slot = (h ^ (h >>> 16)) & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = g + 1;
  }
}

// --- output ---------------------------------------------------------------------------------------------

// Writing copies byte ranges of the request. Ranges that follow each other in the request (a scope field and
// the span after it, consecutive spans of one trace) are merged into one copy, since every copy call costs
// far more than the bytes it moves.
let pendingStart = 0;
let pendingEnd = 0;

/** Queues src[start, end) for copying at the current output position. */
function queue(start: number, end: number, src: Buffer, out: Buffer, pos: number): number {
  if (start === pendingEnd && pendingEnd !== pendingStart) {
    pendingEnd = end;
    return pos;
  }
  pos = flush(src, out, pos);
  pendingStart = start;
  pendingEnd = end;
  return pos;
}

/** Copies the queued range; native copy for longer ranges, a loop for short ones. Returns the new position. */
function flush(src: Buffer, out: Buffer, pos: number): number {
  const len = pendingEnd - pendingStart;
  if (len > 64) {
    src.copy(out, pos, pendingStart, pendingEnd);
  } else {
    for (let i = 0; i < len; i++) out[pos + i] = src[pendingStart + i]!;
  }
  pendingStart = pendingEnd = 0;
  return pos + len;
}

function queueRanges(src: Buffer, out: Buffer, pos: number, list: U32List, first: number, count: number): number {
  for (let i = first; i < first + count; i++) pos = queue(list.a[2 * i]!, list.a[2 * i + 1]!, src, out, pos);
  return pos;
}

function buildOutput(req: Uint8Array, framePrefix: number, output: ((bytes: number) => Buffer) | undefined): SplitResult {
  const spanCount = spStart.n;
  const groupCount = gIdOff.n;
  if (groupCount === 0) return { traces: [], spanCount: 0, traceCount: 0 };

  // Spans grouped by trace (a counting sort that keeps request order within each trace).
  if (order.length < spanCount) order = new Uint32Array(Math.max(spanCount, order.length * 2));
  const groupStart = new Uint32Array(groupCount + 1);
  for (let g = 0; g < groupCount; g++) groupStart[g + 1] = groupStart[g]! + gCount.a[g]!;
  const fill = groupStart.slice(0, groupCount);
  for (let i = 0; i < spanCount; i++) order[fill[spGroup.a[i]!]!++] = i;

  let topLen = 0;
  for (let i = 0; i < topRanges.n; i += 2) topLen += topRanges.a[i + 1]! - topRanges.a[i]!;

  // Pass 1: sizes. For each trace, `sizes` receives, in write order, each ResourceSpans' and each
  // ScopeSpans' content length (a ResourceSpans slot is reserved first and filled once its scopes are summed).
  const traceSize = new Uint32Array(groupCount);
  let total = 0;
  for (let g = 0; g < groupCount; g++) {
    let size = topLen;
    let i = groupStart[g]!;
    const to = groupStart[g + 1]!;
    while (i < to) {
      const r = ssResource.a[spScope.a[order[i]!]!]!;
      const rsSlot = sizes.push(0);
      let rsContent = rsCtxLen.a[r]!;
      while (i < to && ssResource.a[spScope.a[order[i]!]!] === r) {
        const s = spScope.a[order[i]!]!;
        const ssSlot = sizes.push(0);
        let ssContent = ssCtxLen.a[s]!;
        while (i < to && spScope.a[order[i]!] === s) {
          const k = order[i]!;
          ssContent += spEnd.a[k]! - spStart.a[k]!;
          i++;
        }
        sizes.a[ssSlot] = ssContent;
        rsContent += 1 + varintSize(ssContent) + ssContent;
      }
      sizes.a[rsSlot] = rsContent;
      size += 1 + varintSize(rsContent) + rsContent;
    }
    traceSize[g] = size;
    total += framePrefix + size;
  }

  // Pass 2: write every trace into one buffer.
  const src = Buffer.isBuffer(req) ? req : Buffer.from(req.buffer, req.byteOffset, req.byteLength);
  const out = output ? output(total) : Buffer.allocUnsafeSlow(total);
  const traces: TraceSplit[] = new Array<TraceSplit>(groupCount);
  let pos = 0;
  let slot = 0;
  for (let g = 0; g < groupCount; g++) {
    pos += framePrefix;
    const begin = pos;
    for (let i = 0; i < topRanges.n; i += 2) pos = queue(topRanges.a[i]!, topRanges.a[i + 1]!, src, out, pos);
    let i = groupStart[g]!;
    const to = groupStart[g + 1]!;
    while (i < to) {
      const r = ssResource.a[spScope.a[order[i]!]!]!;
      pos = flush(src, out, pos);
      out[pos++] = (1 << 3) | WT_LEN;
      pos = writeVarint(out, pos, sizes.a[slot++]!);
      pos = queueRanges(src, out, pos, rsRanges, rsFirst.a[r]!, rsCount.a[r]!);
      while (i < to && ssResource.a[spScope.a[order[i]!]!] === r) {
        const s = spScope.a[order[i]!]!;
        pos = flush(src, out, pos);
        out[pos++] = (2 << 3) | WT_LEN;
        pos = writeVarint(out, pos, sizes.a[slot++]!);
        pos = queueRanges(src, out, pos, ssRanges, ssFirst.a[s]!, ssCount.a[s]!);
        while (i < to && spScope.a[order[i]!] === s) {
          const k = order[i]!;
          pos = queue(spStart.a[k]!, spEnd.a[k]!, src, out, pos);
          i++;
        }
      }
    }
    pos = flush(src, out, pos);
    const idOff = gIdOff.a[g]!;
    const id = new Uint8Array(16);
    for (let b = 0; b < 16; b++) id[b] = req[idOff + b]!;
    const f = gFlags.a[g]!;
    const hasStart = (f & HAS_START) !== 0;
    const hasEnd = (f & HAS_END) !== 0;
    traces[g] = new SplitTrace(
      id,
      out.subarray(begin, pos),
      gCount.a[g]!,
      hasStart ? gStartHi.a[g]! : 0,
      hasStart ? gStartLo.a[g]! : 0,
      hasEnd ? gEndHi.a[g]! : 0,
      hasEnd ? gEndLo.a[g]! : 0,
    );
    if (pos - begin !== traceSize[g]) throw new Error(`splitByTrace: wrote ${pos - begin} bytes for a trace sized ${traceSize[g]}`);
  }
  return { traces, spanCount, traceCount: groupCount };
}
