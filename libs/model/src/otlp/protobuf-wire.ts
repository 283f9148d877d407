// Reading protobuf wire bytes without decoding them into objects: tags, varints, fixed64, length prefixes,
// skipping any field (groups included, nesting bounded), and UTF-8 checks. Every read checks the bytes left
// and throws ProtobufWireError naming the offset. Used by the OTLP validation and the splitter on the write
// path's hot loop, hence the register object below instead of returned tuples.

import { isUtf8 } from 'node:buffer';
import { WireError } from '@stave/core';

export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_SGROUP = 3;
export const WT_EGROUP = 4;
export const WT_I32 = 5;

/**
 * How deep messages may nest (AnyValue arrays and maps are recursive). Deeper input is refused rather than
 * risking a stack overflow here or in the full decoder later.
 */
export const MAX_NESTING_DEPTH = 100;

/** Bytes that are not the protobuf they should be; the message names the byte offset and the problem. */
export class ProtobufWireError extends WireError {
  constructor(offset: number, problem: string) {
    super(`malformed protobuf at byte offset ${offset}: ${problem}`, offset);
  }
}

/** A string field that is not valid UTF-8: repairable (repair-utf8.ts), unlike other wire errors. */
export class InvalidUtf8Error extends ProtobufWireError {}

/**
 * Where the readers leave what they read (a varint in `u32`, a fixed64 as `hi`/`lo` 32-bit halves): they
 * return the new position, so the hot loops allocate nothing. Readers are synchronous, so two calls never
 * share these at once.
 */
export const wire = { u32: 0, lo: 0, hi: 0 };

export function readVarint32(buf: Uint8Array, pos: number, end: number): number {
  const start = pos;
  let v = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) throw new ProtobufWireError(start, 'truncated varint');
    const b = buf[pos++]!;
    v |= (b & 0x7f) << shift;
    if (b < 0x80) {
      wire.u32 = v;
      return pos;
    }
  }
  if (pos >= end) throw new ProtobufWireError(start, 'truncated varint');
  const b = buf[pos++]!;
  if (b > 0x0f) throw new ProtobufWireError(start, 'varint does not fit in 32 bits');
  wire.u32 = v + b * 0x10000000;
  return pos;
}

export function skipVarint(buf: Uint8Array, pos: number, end: number): number {
  const start = pos;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new ProtobufWireError(start, 'truncated varint');
    if (buf[pos++]! < 0x80) return pos;
  }
  throw new ProtobufWireError(start, 'varint longer than 10 bytes');
}

export function readFixed64(buf: Uint8Array, pos: number, end: number): number {
  if (pos + 8 > end) throw new ProtobufWireError(pos, 'truncated fixed64');
  wire.lo = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
  wire.hi = (buf[pos + 4]! | (buf[pos + 5]! << 8) | (buf[pos + 6]! << 16) | (buf[pos + 7]! << 24)) >>> 0;
  return pos + 8;
}

/** Reads a tag into wire.u32, refusing field number 0 and wire types 6 and 7. */
export function readTag(buf: Uint8Array, pos: number, end: number): number {
  const start = pos;
  const b = buf[pos]!; // callers check pos < end
  if (b < 0x80) {
    wire.u32 = b;
    pos++;
  } else {
    pos = readVarint32(buf, pos, end);
  }
  if (wire.u32 < 8) throw new ProtobufWireError(start, 'field number 0');
  if ((wire.u32 & 7) > 5) throw new ProtobufWireError(start, `invalid wire type ${wire.u32 & 7}`);
  return pos;
}

/** Reads a length prefix into wire.u32 and checks that the payload fits before `end`. */
export function readLength(buf: Uint8Array, pos: number, end: number): number {
  const start = pos;
  if (pos < end && buf[pos]! < 0x80) {
    wire.u32 = buf[pos++]!;
  } else {
    pos = readVarint32(buf, pos, end);
  }
  if (wire.u32 > end - pos) throw new ProtobufWireError(start, `length ${wire.u32} exceeds the ${end - pos} bytes remaining`);
  return pos;
}

export function skipField(buf: Uint8Array, pos: number, end: number, tag: number, depth: number): number {
  switch (tag & 7) {
    case WT_VARINT:
      return skipVarint(buf, pos, end);
    case WT_I64:
      if (pos + 8 > end) throw new ProtobufWireError(pos, 'truncated fixed64');
      return pos + 8;
    case WT_LEN:
      pos = readLength(buf, pos, end);
      return pos + wire.u32;
    case WT_I32:
      if (pos + 4 > end) throw new ProtobufWireError(pos, 'truncated fixed32');
      return pos + 4;
    case WT_SGROUP: {
      if (depth >= MAX_NESTING_DEPTH) throw new ProtobufWireError(pos, `messages nested deeper than ${MAX_NESTING_DEPTH} levels`);
      const field = tag >>> 3;
      for (;;) {
        if (pos >= end) throw new ProtobufWireError(pos, `group of field ${field} has no end tag`);
        const at = pos;
        pos = readTag(buf, pos, end);
        const t = wire.u32;
        if ((t & 7) === WT_EGROUP) {
          if (t >>> 3 !== field) throw new ProtobufWireError(at, `end tag of field ${t >>> 3} inside group of field ${field}`);
          return pos;
        }
        pos = skipField(buf, pos, end, t, depth + 1);
      }
    }
    default:
      throw new ProtobufWireError(pos, `end-group tag of field ${tag >>> 3} without a start`);
  }
}

/** Whether buf[pos, end) is well-formed UTF-8 by the rules of a fatal TextDecoder (no overlongs, no surrogates). */
export function isValidUtf8(buf: Uint8Array, pos: number, end: number): boolean {
  while (pos < end) {
    // ASCII fast path: four bytes at a time.
    while (pos + 4 <= end && ((buf[pos]! | buf[pos + 1]! | buf[pos + 2]! | buf[pos + 3]!) & 0x80) === 0) pos += 4;
    if (pos >= end) break;
    const c = buf[pos]!;
    if (c < 0x80) {
      pos++;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (pos + 1 >= end || (buf[pos + 1]! & 0xc0) !== 0x80) return false;
      pos += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      if (pos + 2 >= end) return false;
      const c1 = buf[pos + 1]!;
      if (c1 < (c === 0xe0 ? 0xa0 : 0x80) || c1 > (c === 0xed ? 0x9f : 0xbf) || (buf[pos + 2]! & 0xc0) !== 0x80) return false;
      pos += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      if (pos + 3 >= end) return false;
      const c1 = buf[pos + 1]!;
      if (c1 < (c === 0xf0 ? 0x90 : 0x80) || c1 > (c === 0xf4 ? 0x8f : 0xbf)) return false;
      if ((buf[pos + 2]! & 0xc0) !== 0x80 || (buf[pos + 3]! & 0xc0) !== 0x80) return false;
      pos += 4;
    } else {
      return false;
    }
  }
  return true;
}

/** UTF-8 check of a string field: the native (SIMD) validator pays off past ~128 bytes, a JS loop below. */
export function validUtf8(buf: Uint8Array, pos: number, end: number): boolean {
  return end - pos >= 128 ? isUtf8(buf.subarray(pos, end)) : isValidUtf8(buf, pos, end);
}

/** Bytes of a uint32 as a varint. */
export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Writes a uint32 varint at `pos` of `out` (which has room); returns the position after it. */
export function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
  return pos;
}
