// OTLP validation on the wire bytes: what the full decoder (fromBinary, used when blocks are built) would
// reject later — wire types of known fields, nesting depth, UTF-8 in string fields — checked for the whole
// span tree of a request without decoding it. An acknowledged span that could not be decoded later would
// be a lost span, so bad input is refused before it is acknowledged.

import {
  InvalidUtf8Error,
  MAX_NESTING_DEPTH,
  ProtobufWireError,
  readLength,
  readTag,
  skipField,
  skipVarint,
  validUtf8,
  wire,
  WT_I32,
  WT_I64,
  WT_LEN,
  WT_VARINT,
} from './protobuf-wire';

// --- schema-aware validation ----------------------------------------------------------------------------
// Field kinds per message type, indexed by field number (0 = unknown field: skipped, as protobuf does).

const K_VARINT = 1;
const K_I64 = 2;
const K_I32 = 3;
export const K_STRING = 4;
const K_BYTES = 5;
export const K_MSG = 16; // K_MSG + message type

export const T_RESOURCE = 0;
export const T_SCOPE = 1;
const T_KEY_VALUE = 2;
const T_ANY_VALUE = 3;
const T_ARRAY_VALUE = 4;
const T_KV_LIST = 5;
const T_EVENT = 6;
const T_LINK = 7;
const T_STATUS = 8;
const T_ENTITY_REF = 9;
export const T_SPAN = 10;

const TYPE_NAMES = [
  'Resource',
  'InstrumentationScope',
  'KeyValue',
  'AnyValue',
  'ArrayValue',
  'KeyValueList',
  'Span.Event',
  'Span.Link',
  'Status',
  'EntityRef',
  'Span',
];

export const SCHEMA: readonly Uint8Array[] = [
  /* Resource */ Uint8Array.of(0, K_MSG + T_KEY_VALUE, K_VARINT, K_MSG + T_ENTITY_REF),
  /* InstrumentationScope */ Uint8Array.of(0, K_STRING, K_STRING, K_MSG + T_KEY_VALUE, K_VARINT),
  /* KeyValue */ Uint8Array.of(0, K_STRING, K_MSG + T_ANY_VALUE),
  /* AnyValue */ Uint8Array.of(0, K_STRING, K_VARINT, K_VARINT, K_I64, K_MSG + T_ARRAY_VALUE, K_MSG + T_KV_LIST, K_BYTES),
  /* ArrayValue */ Uint8Array.of(0, K_MSG + T_ANY_VALUE),
  /* KeyValueList */ Uint8Array.of(0, K_MSG + T_KEY_VALUE),
  /* Span.Event */ Uint8Array.of(0, K_I64, K_STRING, K_MSG + T_KEY_VALUE, K_VARINT),
  /* Span.Link */ Uint8Array.of(0, K_BYTES, K_BYTES, K_STRING, K_MSG + T_KEY_VALUE, K_VARINT, K_I32),
  /* Status (field 1 is reserved) */ Uint8Array.of(0, 0, K_STRING, K_VARINT),
  /* EntityRef */ Uint8Array.of(0, K_STRING, K_STRING, K_STRING, K_STRING),
  /* Span */ Uint8Array.of(
    0,
    K_BYTES,
    K_BYTES,
    K_STRING,
    K_BYTES,
    K_STRING,
    K_VARINT,
    K_I64,
    K_I64,
    K_MSG + T_KEY_VALUE,
    K_VARINT,
    K_MSG + T_EVENT,
    K_VARINT,
    K_MSG + T_LINK,
    K_VARINT,
    K_MSG + T_STATUS,
    K_I32,
  ),
];

export function wireTypeOfKind(kind: number): number {
  switch (kind) {
    case K_VARINT:
      return WT_VARINT;
    case K_I64:
      return WT_I64;
    case K_I32:
      return WT_I32;
    default:
      return WT_LEN;
  }
}

/** Validates the value of one field (tag just read, `kind` from SCHEMA) and returns the position after it. */
export function validateField(buf: Uint8Array, pos: number, end: number, type: number, tag: number, kind: number, depth: number): number {
  if (kind === 0) return skipField(buf, pos, end, tag, depth);
  const wt = tag & 7;
  if (wt !== wireTypeOfKind(kind)) {
    throw new ProtobufWireError(pos, `${TYPE_NAMES[type]} field ${tag >>> 3} has wire type ${wt}, expected ${wireTypeOfKind(kind)}`);
  }
  if (wt !== WT_LEN) return skipField(buf, pos, end, tag, depth);
  pos = readLength(buf, pos, end);
  const len = wire.u32;
  if (kind === K_STRING) {
    if (!validUtf8(buf, pos, pos + len)) throw new InvalidUtf8Error(pos, `${TYPE_NAMES[type]} field ${tag >>> 3} is not valid UTF-8`);
  } else if (kind === K_MSG + T_KEY_VALUE) {
    validateKeyValue(buf, pos, pos + len, depth + 1);
  } else if (kind >= K_MSG) {
    validateMessage(buf, pos, pos + len, kind - K_MSG, depth + 1);
  }
  return pos + len;
}

// KeyValue and AnyValue are most of the bytes of a span (attributes), so they get their own loops; anything
// unusual (unknown fields, wrong wire types) falls back to the generic validateField.

const KEY_VALUE_SCHEMA = SCHEMA[T_KEY_VALUE]!;
const ANY_VALUE_SCHEMA = SCHEMA[T_ANY_VALUE]!;

function validateKeyValue(buf: Uint8Array, pos: number, end: number, depth: number): void {
  while (pos < end) {
    pos = readTag(buf, pos, end);
    const tag = wire.u32;
    if (tag === ((1 << 3) | WT_LEN)) {
      pos = readLength(buf, pos, end);
      const len = wire.u32;
      if (!validUtf8(buf, pos, pos + len)) throw new InvalidUtf8Error(pos, 'KeyValue field 1 is not valid UTF-8');
      pos += len;
    } else if (tag === ((2 << 3) | WT_LEN)) {
      pos = readLength(buf, pos, end);
      const len = wire.u32;
      validateAnyValue(buf, pos, pos + len, depth + 1);
      pos += len;
    } else {
      const field = tag >>> 3;
      pos = validateField(buf, pos, end, T_KEY_VALUE, tag, field < KEY_VALUE_SCHEMA.length ? KEY_VALUE_SCHEMA[field]! : 0, depth);
    }
  }
}

function validateAnyValue(buf: Uint8Array, pos: number, end: number, depth: number): void {
  if (depth > MAX_NESTING_DEPTH) throw new ProtobufWireError(pos, `messages nested deeper than ${MAX_NESTING_DEPTH} levels`);
  while (pos < end) {
    pos = readTag(buf, pos, end);
    const tag = wire.u32;
    switch (tag) {
      case (1 << 3) | WT_LEN: {
        pos = readLength(buf, pos, end);
        const len = wire.u32;
        if (!validUtf8(buf, pos, pos + len)) throw new InvalidUtf8Error(pos, 'AnyValue field 1 is not valid UTF-8');
        pos += len;
        break;
      }
      case (2 << 3) | WT_VARINT:
      case (3 << 3) | WT_VARINT:
        pos = skipVarint(buf, pos, end);
        break;
      case (4 << 3) | WT_I64:
        if (pos + 8 > end) throw new ProtobufWireError(pos, 'truncated fixed64');
        pos += 8;
        break;
      default: {
        const field = tag >>> 3;
        pos = validateField(buf, pos, end, T_ANY_VALUE, tag, field < ANY_VALUE_SCHEMA.length ? ANY_VALUE_SCHEMA[field]! : 0, depth);
      }
    }
  }
}

export function validateMessage(buf: Uint8Array, pos: number, end: number, type: number, depth: number): void {
  if (depth > MAX_NESTING_DEPTH) throw new ProtobufWireError(pos, `messages nested deeper than ${MAX_NESTING_DEPTH} levels`);
  const schema = SCHEMA[type]!;
  while (pos < end) {
    pos = readTag(buf, pos, end);
    const tag = wire.u32;
    const field = tag >>> 3;
    pos = validateField(buf, pos, end, type, tag, field < schema.length ? schema[field]! : 0, depth);
  }
}
