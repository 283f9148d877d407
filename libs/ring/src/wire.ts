// Bounded binary encoding for everything the ring puts on the network (gossip packets, push/pull state,
// ring descriptors). Every read checks the bytes left and every length against a caller-given maximum,
// so a stranger's garbage costs one thrown WireError and nothing else: no huge allocation, no partial state.

import { WireError } from '@stave/core';

export { WireError };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

export class Writer {
  private buf: Buffer;
  private len = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf.writeUInt8(v, this.len);
    this.len += 1;
    return this;
  }

  u16(v: number): this {
    this.reserve(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }

  f64(v: number): this {
    this.reserve(8);
    this.buf.writeDoubleBE(v, this.len);
    this.len += 8;
    return this;
  }

  /** A string with a u16 byte length. */
  str(s: string): this {
    const b = utf8Encoder.encode(s);
    if (b.length > 0xffff) throw new WireError(`string of ${b.length} bytes is longer than 65535`);
    this.u16(b.length);
    return this.raw(b);
  }

  /** Bytes with a u32 length. */
  bytes(b: Uint8Array): this {
    this.u32(b.length);
    return this.raw(b);
  }

  raw(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

export class Reader {
  private pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) throw new WireError(`truncated: ${what} needs ${n} bytes, ${this.end - this.pos} left at offset ${this.pos}`);
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  f64(what = 'f64'): number {
    this.need(8, what);
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readDoubleBE(0);
    this.pos += 8;
    return v;
  }

  /** A u32 count that must not exceed `max` (checked before anything is allocated for it). */
  count(max: number, what: string): number {
    const n = this.u32(what);
    if (n > max) throw new WireError(`${what}: ${n} is more than the limit of ${max}`);
    return n;
  }

  str(maxBytes: number, what = 'string'): string {
    const n = this.u16(what);
    if (n > maxBytes) throw new WireError(`${what}: ${n} bytes is more than the limit of ${maxBytes}`);
    this.need(n, what);
    let s: string;
    try {
      s = utf8.decode(this.buf.subarray(this.pos, this.pos + n));
    } catch {
      throw new WireError(`${what}: invalid UTF-8`);
    }
    this.pos += n;
    return s;
  }

  bytes(maxBytes: number, what = 'bytes'): Uint8Array {
    const n = this.u32(what);
    if (n > maxBytes) throw new WireError(`${what}: ${n} bytes is more than the limit of ${maxBytes}`);
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }

  expectEnd(what: string): void {
    if (this.pos !== this.end) throw new WireError(`${what}: ${this.end - this.pos} unexpected trailing bytes`);
  }
}
