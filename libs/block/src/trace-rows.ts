// The search columns' values of one encoded trace (layout.ts: service, name, kind, duration bucket, status,
// http.*, root service and name, trace start and end), as the block writer needs them, in one flat
// Int32Array: whoever has already walked the trace (the merger that produced it) hands them over, and the
// writer does not scan the encoding again. Strings are byte ranges of the encoded trace (every string a
// column holds is in the encoding's strs stream), so the array crosses threads next to the trace's bytes.
//
// Layout: ROWS_HEADER int32 (span count, root span or -1, trace start and end as uint32 halves), then
// ROW_FIELDS int32 per span in the encoding's order. A string range's A is -1 when absent and ATTR_OTHER
// when the value is not a string (trace-scan.ts's conventions); the status message is -1 when empty.

import { durationBucket, durationBucketSmall } from './layout';
import type { SpanRec, TraceScan } from './trace-scan';

export const ROWS_HEADER = 6;
export const H_SPANS = 0;
export const H_ROOT = 1;
export const H_START_LO = 2;
export const H_START_HI = 3;
export const H_END_LO = 4;
export const H_END_HI = 5;

export const ROW_FIELDS = 16;
export const R_SERVICE_A = 0;
export const R_SERVICE_B = 1;
export const R_NAME_A = 2;
export const R_NAME_B = 3;
export const R_KIND = 4;
export const R_DURATION = 5;
export const R_STATUS = 6;
export const R_MSG_A = 7;
export const R_MSG_B = 8;
export const R_METHOD_A = 9;
export const R_METHOD_B = 10;
export const R_URL_A = 11;
export const R_URL_B = 12;
/** 1 when the span has http.status_code (then R_HTTP_LO/HI hold it as int64 halves), 0 when not. */
export const R_HTTP = 13;
export const R_HTTP_LO = 14;
export const R_HTTP_HI = 15;

const U32 = 0x1_0000_0000n;

/** A bigint in [0, 2^64) (span times) from its halves. */
export function u64(lo: number, hi: number): bigint {
  return hi === 0 ? BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** A signed 64-bit value from its halves (hi signed). */
export function i64(lo: number, hi: number): bigint {
  return hi === 0 && lo >= 0 ? BigInt(lo) : (BigInt(hi | 0) << 32n) | BigInt(lo >>> 0);
}

/** Builds one trace's rows; reused from trace to trace. */
export class TraceRowsBuilder {
  private data = new Int32Array(ROWS_HEADER + 64 * ROW_FIELDS);
  private n = 0;
  private root = -1;
  private start: bigint | undefined;
  private end: bigint | undefined;
  /** Spans with number times (SpanRec.small) of one base: their earliest start and latest end from it. */
  private smallBase: bigint | undefined;
  private smallStart = 0;
  private smallEnd = 0;

  reset(): void {
    this.n = 0;
    this.root = -1;
    this.start = undefined;
    this.end = undefined;
    this.smallBase = undefined;
  }

  private times(sp: SpanRec, base: bigint, s: number): void {
    if (sp.small && (this.smallBase === undefined || this.smallBase === base)) {
      const e = s + sp.dur; // |s| < 2^50, |dur| < 2^48: exact
      if (this.smallBase === undefined) {
        this.smallBase = base;
        this.smallStart = s;
        this.smallEnd = e;
      } else {
        if (s < this.smallStart) this.smallStart = s;
        if (e > this.smallEnd) this.smallEnd = e;
      }
      return;
    }
    const start = sp.start;
    const end = sp.end;
    if (this.start === undefined || start < this.start) this.start = start;
    if (this.end === undefined || end > this.end) this.end = end;
  }

  /**
   * Adds span `sp` of a scanned buffer whose strs bytes land `shift` bytes further in the trace the rows
   * describe; the service range is given as it is in the output already (`serviceA` -1 / ATTR_OTHER as is).
   * A small span's start may be given from another base (`base` + `startOff`, |startOff| < 2^50): spans of
   * several parts then share one.
   */
  add(sp: SpanRec, shift: number, serviceA: number, serviceB: number, root: boolean, base = sp.base, startOff = sp.startOff): void {
    const at = ROWS_HEADER + this.n * ROW_FIELDS;
    if (at + ROW_FIELDS > this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    const d = this.data;
    if (root && this.root < 0) this.root = this.n;
    this.n++;
    this.times(sp, base, startOff);
    d[at + R_SERVICE_A] = serviceA;
    d[at + R_SERVICE_B] = serviceB;
    d[at + R_NAME_A] = sp.nameA + shift;
    d[at + R_NAME_B] = sp.nameB + shift;
    d[at + R_KIND] = sp.kind;
    d[at + R_DURATION] = sp.small ? durationBucketSmall(sp.dur) : durationBucket(sp.end - sp.start);
    d[at + R_STATUS] = sp.statusCode;
    if (sp.statusMsgB > sp.statusMsgA) {
      d[at + R_MSG_A] = sp.statusMsgA + shift;
      d[at + R_MSG_B] = sp.statusMsgB + shift;
    } else d[at + R_MSG_A] = d[at + R_MSG_B] = -1;
    d[at + R_METHOD_A] = sp.httpMethodA >= 0 ? sp.httpMethodA + shift : sp.httpMethodA;
    d[at + R_METHOD_B] = sp.httpMethodA >= 0 ? sp.httpMethodB + shift : -1;
    d[at + R_URL_A] = sp.httpUrlA >= 0 ? sp.httpUrlA + shift : sp.httpUrlA;
    d[at + R_URL_B] = sp.httpUrlA >= 0 ? sp.httpUrlB + shift : -1;
    const h = sp.httpStatus;
    const small = sp.httpStatusSmall;
    if (small === small) {
      // Two's complement halves of a number below 2^48 in magnitude.
      const hi = Math.floor(small / 4294967296);
      d[at + R_HTTP] = 1;
      d[at + R_HTTP_LO] = (small - hi * 4294967296) | 0;
      d[at + R_HTTP_HI] = hi | 0;
    } else if (h === undefined) d[at + R_HTTP] = d[at + R_HTTP_LO] = d[at + R_HTTP_HI] = 0;
    else {
      const v = BigInt.asIntN(64, h);
      d[at + R_HTTP] = 1;
      d[at + R_HTTP_LO] = Number(BigInt.asUintN(32, v)) | 0;
      d[at + R_HTTP_HI] = Number(v >> 32n) | 0;
    }
  }

  /** Moves every string range of the rows so far by `delta` bytes (the merger learns its strs stream's place last). */
  shiftStrings(delta: number): void {
    const d = this.data;
    const shift = (i: number): void => {
      if (d[i]! >= 0) {
        d[i]! += delta;
        d[i + 1]! += delta;
      }
    };
    for (let k = 0; k < this.n; k++) {
      const at = ROWS_HEADER + k * ROW_FIELDS;
      shift(at + R_SERVICE_A);
      shift(at + R_NAME_A);
      shift(at + R_MSG_A);
      shift(at + R_METHOD_A);
      shift(at + R_URL_A);
    }
  }

  /** The rows: a view valid until the next reset. */
  view(): Int32Array {
    const d = this.data;
    d[H_SPANS] = this.n;
    d[H_ROOT] = this.root;
    if (this.smallBase !== undefined) {
      const ss = this.smallBase + BigInt(this.smallStart);
      const se = this.smallBase + BigInt(this.smallEnd);
      if (this.start === undefined || ss < this.start) this.start = ss;
      if (this.end === undefined || se > this.end) this.end = se;
      this.smallBase = undefined;
    }
    const s = this.start ?? 0n;
    const e = this.end ?? 0n;
    d[H_START_LO] = Number(s % U32) | 0;
    d[H_START_HI] = Number(s / U32) | 0;
    d[H_END_LO] = Number(e % U32) | 0;
    d[H_END_HI] = Number(e / U32) | 0;
    return d.subarray(0, ROWS_HEADER + this.n * ROW_FIELDS);
  }

  /** The rows of a scanned trace (the scan's buffer is the trace the rows describe). */
  fromScan(scan: TraceScan): Int32Array {
    this.reset();
    for (let r = 0; r < scan.resourceCount; r++) {
      const rr = scan.resources[r]!;
      for (let s = rr.firstScope; s < rr.firstScope + rr.scopeCount; s++) {
        const sr = scan.scopes[s]!;
        for (let k = sr.firstSpan; k < sr.firstSpan + sr.spanCount; k++) {
          this.add(
            scan.spans[k]!,
            -scan.start,
            rr.serviceA >= 0 ? rr.serviceA - scan.start : rr.serviceA,
            rr.serviceA >= 0 ? rr.serviceB - scan.start : -1,
            k === scan.rootSpan,
          );
        }
      }
    }
    return this.view();
  }
}
