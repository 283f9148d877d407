// Thrift compact protocol: just what Parquet's footer and page headers use (structs, i16/i32/i64,
// binary, bool, lists). Written from the Thrift compact protocol spec; field ids come from
// parquet-format's parquet.thrift (see format.ts).

import { ByteReader, ByteWriter } from '../bytes';

const enum CType {
  Stop = 0,
  True = 1,
  False = 2,
  Byte = 3,
  I16 = 4,
  I32 = 5,
  I64 = 6,
  Double = 7,
  Binary = 8,
  List = 9,
  Set = 10,
  Map = 11,
  Struct = 12,
}

/** Writes one struct at a time; nested structs and lists go through the callbacks. */
export class CompactWriter {
  private lastId: number[] = [0];

  constructor(readonly out: ByteWriter = new ByteWriter(256)) {}

  private header(id: number, type: CType): void {
    const last = this.lastId[this.lastId.length - 1]!;
    const delta = id - last;
    if (delta > 0 && delta <= 15) this.out.u8((delta << 4) | type);
    else {
      this.out.u8(type);
      this.out.zigzag(id);
    }
    this.lastId[this.lastId.length - 1] = id;
  }

  i32(id: number, v: number): this {
    this.header(id, CType.I32);
    this.out.zigzag(v);
    return this;
  }

  i64(id: number, v: number | bigint): this {
    this.header(id, CType.I64);
    if (typeof v === 'bigint') this.out.zigzagBig(v);
    else this.out.zigzag(v);
    return this;
  }

  i8(id: number, v: number): this {
    this.header(id, CType.Byte);
    this.out.u8(v & 0xff);
    return this;
  }

  bool(id: number, v: boolean): this {
    this.header(id, v ? CType.True : CType.False);
    return this;
  }

  binary(id: number, v: Uint8Array | string): this {
    this.header(id, CType.Binary);
    if (typeof v === 'string') this.out.string(v);
    else this.out.lenBytes(v);
    return this;
  }

  struct(id: number, body: (w: this) => void): this {
    this.header(id, CType.Struct);
    this.lastId.push(0);
    body(this);
    this.out.u8(CType.Stop);
    this.lastId.pop();
    return this;
  }

  /** A list of i32 (enums are i32). */
  listI32(id: number, vs: readonly number[]): this {
    this.listHeader(id, CType.I32, vs.length);
    for (const v of vs) this.out.zigzag(v);
    return this;
  }

  listBinary(id: number, vs: readonly string[]): this {
    this.listHeader(id, CType.Binary, vs.length);
    for (const v of vs) this.out.string(v);
    return this;
  }

  listStruct<T>(id: number, items: readonly T[], body: (w: this, item: T) => void): this {
    this.listHeader(id, CType.Struct, items.length);
    for (const item of items) {
      this.lastId.push(0);
      body(this, item);
      this.out.u8(CType.Stop);
      this.lastId.pop();
    }
    return this;
  }

  private listHeader(id: number, elem: CType, n: number): void {
    this.header(id, CType.List);
    if (n < 15) this.out.u8((n << 4) | elem);
    else {
      this.out.u8(0xf0 | elem);
      this.out.varint(n);
    }
  }

  /** Ends the top-level struct. */
  end(): Buffer {
    this.out.u8(CType.Stop);
    return this.out.toBytes();
  }
}

/** A decoded struct: field id → value (number | bigint | boolean | Buffer | TStruct | list). */
export type TValue = number | bigint | boolean | Buffer | TStruct | TValue[];
export interface TStruct {
  [id: number]: TValue;
}

/** Reads one struct from `r`; unknown fields are kept by id (callers pick what they know). */
export function readStruct(r: ByteReader, depth = 0): TStruct {
  if (depth > 64) throw new RangeError('thrift: nesting too deep');
  const out: TStruct = {};
  let last = 0;
  for (;;) {
    const b = r.u8();
    const type = b & 0x0f;
    if (type === CType.Stop) return out;
    const delta = b >> 4;
    const id = delta ? last + delta : r.zigzag();
    last = id;
    out[id] = readValue(r, type, depth);
  }
}

function readValue(r: ByteReader, type: number, depth: number): TValue {
  switch (type) {
    case CType.True:
      return true;
    case CType.False:
      return false;
    case CType.Byte:
      return r.u8();
    case CType.I16:
    case CType.I32:
      return r.zigzag();
    case CType.I64: {
      const v = r.zigzagBig();
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case CType.Double:
      return r.f64le();
    case CType.Binary:
      return r.bytes(r.varint());
    case CType.List:
    case CType.Set: {
      const h = r.u8();
      let n = h >> 4;
      const elem = h & 0x0f;
      if (n === 15) n = r.varint();
      const items: TValue[] = [];
      for (let i = 0; i < n; i++) {
        // Booleans inside collections are one byte each (1 = true).
        if (elem === CType.True || elem === CType.False) items.push(r.u8() === 1);
        else items.push(readValue(r, elem, depth + 1));
      }
      return items;
    }
    case CType.Struct:
      return readStruct(r, depth + 1);
    case CType.Map: {
      const n = r.varint();
      if (n === 0) return [];
      const kv = r.u8();
      const items: TValue[] = [];
      for (let i = 0; i < n; i++) items.push([readValue(r, kv >> 4, depth + 1), readValue(r, kv & 0x0f, depth + 1)]);
      return items;
    }
    default:
      throw new RangeError(`thrift: unknown compact type ${type}`);
  }
}
