// A small, bounded Thrift decoder for the two wire protocols Jaeger clients use: the binary protocol
// (HTTP bodies, UDP 6832) and the compact protocol (UDP 6831). It decodes from one in-memory buffer and
// never allocates more than the input can back: every string, binary and container length is checked
// against the bytes that remain before anything is read, and nesting is limited. Malformed input is a
// ConnectError InvalidArgument that names the protocol, what was being read and the byte offset.
//
// Type codes below are the binary protocol's; the compact reader translates its own codes to these so
// that schema decoders are written once.

import { Code, ConnectError } from '@stave/core';

export type ThriftProtocol = 'binary' | 'compact';

export const TType = {
  STOP: 0,
  BOOL: 2,
  BYTE: 3,
  DOUBLE: 4,
  I16: 6,
  I32: 8,
  I64: 10,
  STRING: 11,
  STRUCT: 12,
  MAP: 13,
  SET: 14,
  LIST: 15,
  UUID: 16,
} as const;
export type TType = (typeof TType)[keyof typeof TType];

export const MessageType = { CALL: 1, REPLY: 2, EXCEPTION: 3, ONEWAY: 4 } as const;

export interface MessageHeader {
  readonly name: string;
  readonly type: number;
  readonly seqId: number;
}

export interface FieldHeader {
  /** TType.STOP ends the struct. */
  readonly type: TType;
  readonly id: number;
}

export interface ListHeader {
  readonly elemType: TType;
  readonly size: number;
}

export interface MapHeader {
  readonly keyType: TType;
  readonly valueType: TType;
  readonly size: number;
}

/** Deep enough for any real schema; a hostile payload cannot recurse the stack away. */
export const MAX_THRIFT_DEPTH = 64;

const TYPE_NAMES: Record<number, string> = {
  0: 'stop',
  2: 'bool',
  3: 'byte',
  4: 'double',
  6: 'i16',
  8: 'i32',
  10: 'i64',
  11: 'string',
  12: 'struct',
  13: 'map',
  14: 'set',
  15: 'list',
  16: 'uuid',
};

export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `type ${t}`;
}

const utf8 = new TextDecoder('utf-8');

export abstract class ThriftReader {
  protected pos = 0;
  protected readonly view: DataView;
  protected depth = 0;

  constructor(
    readonly protocol: ThriftProtocol,
    protected readonly buf: Uint8Array,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** An InvalidArgument error naming the protocol, what was read and where. */
  error(what: string, at: number = this.pos): ConnectError {
    return new ConnectError(`thrift ${this.protocol} protocol: ${what} at byte ${at}`, Code.InvalidArgument);
  }

  protected need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) {
      throw this.error(`truncated input reading ${what}: need ${n} bytes, ${this.buf.length - this.pos} left`);
    }
  }

  abstract readMessageBegin(): MessageHeader;
  abstract readFieldBegin(): FieldHeader;
  abstract readListBegin(): ListHeader;
  abstract readMapBegin(): MapHeader;
  abstract readBool(): boolean;
  abstract readI16(): number;
  abstract readI32(): number;
  abstract readI64(): bigint;
  abstract readDouble(): number;
  abstract readBinary(): Uint8Array;

  readByte(): number {
    this.need(1, 'byte');
    return this.view.getInt8(this.pos++);
  }

  readString(): string {
    return utf8.decode(this.readBinary());
  }

  readUuid(): Uint8Array {
    this.need(16, 'uuid');
    const out = this.buf.subarray(this.pos, this.pos + 16);
    this.pos += 16;
    return out;
  }

  /** Enters a struct; callers pair it with `structEnd` (compact tracks field-id deltas per struct). */
  structBegin(): void {
    if (++this.depth > MAX_THRIFT_DEPTH) throw this.error(`nesting deeper than ${MAX_THRIFT_DEPTH}`);
  }

  structEnd(): void {
    this.depth--;
  }

  /** Skips one value of the given type (unknown fields, or fields whose type does not match the schema). */
  skip(type: number): void {
    switch (type) {
      case TType.BOOL:
        this.readBool();
        return;
      case TType.BYTE:
        this.readByte();
        return;
      case TType.I16:
        this.readI16();
        return;
      case TType.I32:
        this.readI32();
        return;
      case TType.I64:
        this.readI64();
        return;
      case TType.DOUBLE:
        this.readDouble();
        return;
      case TType.STRING:
        this.readBinary();
        return;
      case TType.UUID:
        this.readUuid();
        return;
      case TType.STRUCT: {
        this.structBegin();
        for (;;) {
          const f = this.readFieldBegin();
          if (f.type === TType.STOP) break;
          this.skip(f.type);
        }
        this.structEnd();
        return;
      }
      case TType.LIST:
      case TType.SET: {
        const l = this.readListBegin();
        this.nest(() => {
          for (let i = 0; i < l.size; i++) this.skip(l.elemType);
        });
        return;
      }
      case TType.MAP: {
        const m = this.readMapBegin();
        this.nest(() => {
          for (let i = 0; i < m.size; i++) {
            this.skip(m.keyType);
            this.skip(m.valueType);
          }
        });
        return;
      }
      default:
        throw this.error(`cannot skip unknown ${typeName(type)}`);
    }
  }

  protected nest(fn: () => void): void {
    if (++this.depth > MAX_THRIFT_DEPTH) throw this.error(`nesting deeper than ${MAX_THRIFT_DEPTH}`);
    fn();
    this.depth--;
  }

  /** A container of `size` elements needs at least `size * minBytes` bytes: refuse sizes the input cannot back. */
  protected checkSize(size: number, minBytesPerElement: number, what: string, at: number): void {
    if (size < 0) throw this.error(`negative ${what} size ${size}`, at);
    if (size * minBytesPerElement > this.remaining) {
      throw this.error(`${what} of ${size} elements exceeds the ${this.remaining} bytes left`, at);
    }
  }

  protected checkType(t: number, what: string, at: number): TType {
    if (!(t in TYPE_NAMES) || t === TType.STOP) throw this.error(`invalid ${what} type ${t}`, at);
    return t as TType;
  }
}

/** Smallest encoding of one element, used to bound container sizes. */
function minBinarySize(t: TType): number {
  switch (t) {
    case TType.BOOL:
    case TType.BYTE:
    case TType.STRUCT:
      return 1;
    case TType.I16:
      return 2;
    case TType.I32:
    case TType.STRING:
      return 4;
    case TType.I64:
    case TType.DOUBLE:
      return 8;
    case TType.LIST:
    case TType.SET:
      return 5;
    case TType.MAP:
      return 6;
    case TType.UUID:
      return 16;
    default:
      return 1;
  }
}

export class BinaryReader extends ThriftReader {
  constructor(buf: Uint8Array) {
    super('binary', buf);
  }

  /** Reads a strict (version 1) or old-style (non-strict) message header. */
  readMessageBegin(): MessageHeader {
    const at = this.pos;
    this.need(4, 'message header');
    const first = this.view.getInt32(this.pos);
    if (first < 0) {
      // Strict: 1vvvvvvv vvvvvvvv unused 00000mmm, then name, then seq id.
      const version = (first >>> 16) & 0x7fff;
      if (version !== 1) throw this.error(`unsupported binary protocol version ${version}`, at);
      this.pos += 4;
      const type = first & 0xff;
      const name = this.readString();
      const seqId = this.readI32();
      return { name, type, seqId };
    }
    // Non-strict: name (i32 length + bytes), one type byte, seq id.
    const name = this.readString();
    this.need(1, 'message type');
    const type = this.buf[this.pos++]!;
    const seqId = this.readI32();
    return { name, type, seqId };
  }

  readFieldBegin(): FieldHeader {
    const at = this.pos;
    this.need(1, 'field header');
    const t = this.buf[this.pos++]!;
    if (t === TType.STOP) return { type: TType.STOP, id: 0 };
    const type = this.checkType(t, 'field', at);
    this.need(2, 'field id');
    const id = this.view.getInt16(this.pos);
    this.pos += 2;
    return { type, id };
  }

  readListBegin(): ListHeader {
    const at = this.pos;
    this.need(5, 'list header');
    const elemType = this.checkType(this.buf[this.pos++]!, 'list element', at);
    const size = this.view.getInt32(this.pos);
    this.pos += 4;
    this.checkSize(size, minBinarySize(elemType), 'list', at);
    return { elemType, size };
  }

  readMapBegin(): MapHeader {
    const at = this.pos;
    this.need(6, 'map header');
    const keyType = this.checkType(this.buf[this.pos++]!, 'map key', at);
    const valueType = this.checkType(this.buf[this.pos++]!, 'map value', at);
    const size = this.view.getInt32(this.pos);
    this.pos += 4;
    this.checkSize(size, minBinarySize(keyType) + minBinarySize(valueType), 'map', at);
    return { keyType, valueType, size };
  }

  readBool(): boolean {
    this.need(1, 'bool');
    return this.buf[this.pos++] !== 0;
  }

  readI16(): number {
    this.need(2, 'i16');
    const v = this.view.getInt16(this.pos);
    this.pos += 2;
    return v;
  }

  readI32(): number {
    this.need(4, 'i32');
    const v = this.view.getInt32(this.pos);
    this.pos += 4;
    return v;
  }

  readI64(): bigint {
    this.need(8, 'i64');
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }

  readDouble(): number {
    this.need(8, 'double');
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  readBinary(): Uint8Array {
    const at = this.pos;
    this.need(4, 'binary length');
    const len = this.view.getInt32(this.pos);
    this.pos += 4;
    if (len < 0) throw this.error(`negative binary length ${len}`, at);
    if (len > this.remaining) throw this.error(`binary length ${len} exceeds the ${this.remaining} bytes left`, at);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
}

// Compact protocol type codes (field headers; list element types use the same numbers, with bool as 1 or 2).
const COMPACT_TO_TTYPE: Record<number, TType> = {
  1: TType.BOOL, // BOOLEAN_TRUE
  2: TType.BOOL, // BOOLEAN_FALSE
  3: TType.BYTE,
  4: TType.I16,
  5: TType.I32,
  6: TType.I64,
  7: TType.DOUBLE,
  8: TType.STRING,
  9: TType.LIST,
  10: TType.SET,
  11: TType.MAP,
  12: TType.STRUCT,
  13: TType.UUID,
};

const COMPACT_PROTOCOL_ID = 0x82;
const COMPACT_VERSION = 1;

function minCompactSize(t: TType): number {
  switch (t) {
    case TType.DOUBLE:
      return 8;
    case TType.UUID:
      return 16;
    default:
      return 1; // varints, bools-as-bytes, empty strings, stop bytes and short container headers
  }
}

export class CompactReader extends ThriftReader {
  private lastFieldId = 0;
  private readonly fieldIdStack: number[] = [];
  /** A bool field carries its value in the field header; it is held here until readBool. */
  private pendingBool: boolean | undefined;

  constructor(buf: Uint8Array) {
    super('compact', buf);
  }

  override structBegin(): void {
    super.structBegin();
    this.fieldIdStack.push(this.lastFieldId);
    this.lastFieldId = 0;
  }

  override structEnd(): void {
    super.structEnd();
    this.lastFieldId = this.fieldIdStack.pop() ?? 0;
  }

  readMessageBegin(): MessageHeader {
    const at = this.pos;
    this.need(2, 'message header');
    const protocolId = this.buf[this.pos++]!;
    if (protocolId !== COMPACT_PROTOCOL_ID) {
      throw this.error(`bad compact protocol id 0x${protocolId.toString(16)} (want 0x82)`, at);
    }
    const versionAndType = this.buf[this.pos++]!;
    const version = versionAndType & 0x1f;
    if (version !== COMPACT_VERSION) throw this.error(`unsupported compact protocol version ${version}`, at);
    const type = (versionAndType >> 5) & 0x07;
    const seqId = this.readVarint32('message seq id');
    const name = this.readString();
    return { name, type, seqId };
  }

  readFieldBegin(): FieldHeader {
    const at = this.pos;
    this.need(1, 'field header');
    const byte = this.buf[this.pos++]!;
    const compactType = byte & 0x0f;
    if (compactType === 0) return { type: TType.STOP, id: 0 };
    const type = COMPACT_TO_TTYPE[compactType];
    if (type === undefined) throw this.error(`invalid field type ${compactType}`, at);
    const delta = byte >> 4;
    const id = delta !== 0 ? this.lastFieldId + delta : zigzag32(this.readVarint32('field id'));
    if (id > 0x7fff || id < -0x8000) throw this.error(`field id ${id} out of i16 range`, at);
    this.lastFieldId = id;
    if (type === TType.BOOL) this.pendingBool = compactType === 1;
    return { type, id };
  }

  readListBegin(): ListHeader {
    const at = this.pos;
    this.need(1, 'list header');
    const byte = this.buf[this.pos++]!;
    const elemType = this.elementType(byte & 0x0f, 'list element', at);
    let size = byte >> 4;
    if (size === 15) size = this.readVarint32('list size');
    this.checkSize(size, minCompactSize(elemType), 'list', at);
    return { elemType, size };
  }

  readMapBegin(): MapHeader {
    const at = this.pos;
    const size = this.readVarint32('map size');
    if (size === 0) return { keyType: TType.STRING, valueType: TType.STRING, size: 0 };
    this.need(1, 'map types');
    const kv = this.buf[this.pos++]!;
    const keyType = this.elementType(kv >> 4, 'map key', at);
    const valueType = this.elementType(kv & 0x0f, 'map value', at);
    this.checkSize(size, minCompactSize(keyType) + minCompactSize(valueType), 'map', at);
    return { keyType, valueType, size };
  }

  readBool(): boolean {
    if (this.pendingBool !== undefined) {
      const v = this.pendingBool;
      this.pendingBool = undefined;
      return v;
    }
    // A container element: one byte, 1 = true. The spec says false is 0; Apache's libraries write 2.
    this.need(1, 'bool');
    return this.buf[this.pos++] === 1;
  }

  readI16(): number {
    return zigzag32(this.readVarint32('i16'));
  }

  readI32(): number {
    return zigzag32(this.readVarint32('i32'));
  }

  readI64(): bigint {
    const u = this.readVarint64('i64');
    return (u >> 1n) ^ -(u & 1n);
  }

  readDouble(): number {
    // Little-endian in the compact protocol (a historical accident that became the standard).
    this.need(8, 'double');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  readBinary(): Uint8Array {
    const at = this.pos;
    const len = this.readVarint32('binary length');
    if (len < 0) throw this.error(`negative binary length ${len}`, at);
    if (len > this.remaining) throw this.error(`binary length ${len} exceeds the ${this.remaining} bytes left`, at);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  private elementType(code: number, what: string, at: number): TType {
    const t = COMPACT_TO_TTYPE[code];
    if (t === undefined) throw this.error(`invalid ${what} type ${code}`, at);
    return t;
  }

  /** An unsigned LEB128 varint of at most 5 bytes, returned as a signed 32-bit value (its bit pattern). */
  private readVarint32(what: string): number {
    const at = this.pos;
    let result = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.buf.length) throw this.error(`truncated varint reading ${what}`, at);
      const b = this.buf[this.pos++]!;
      result |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return result | 0;
    }
    throw this.error(`varint too long reading ${what}`, at);
  }

  private readVarint64(what: string): bigint {
    const at = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw this.error(`truncated varint reading ${what}`, at);
      const b = this.buf[this.pos++]!;
      const bits = b & 0x7f;
      const shift = 7 * i;
      if (shift < 28) {
        lo |= bits << shift;
      } else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >> 4;
      } else {
        hi |= bits << (shift - 32);
      }
      if ((b & 0x80) === 0) return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    }
    throw this.error(`varint too long reading ${what}`, at);
  }
}

function zigzag32(n: number): number {
  return (n >>> 1) ^ -(n & 1);
}

export function thriftReader(protocol: ThriftProtocol, buf: Uint8Array): ThriftReader {
  return protocol === 'binary' ? new BinaryReader(buf) : new CompactReader(buf);
}
