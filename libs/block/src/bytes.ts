// Growable byte buffers and a cursor reader with the varint/zigzag helpers the block format uses.
// Numbers stay numbers on the fast path; values past 2^52 fall back to bigint so uint64/int64 fields
// (timestamps, int attributes) survive exactly.

const TWO_52 = 2 ** 52;
const TWO_64 = 2n ** 64n;

export class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(initial = 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  reset(): void {
    this.pos = 0;
  }

  get length(): number {
    return this.pos;
  }

  /** A view of the written bytes; valid until the next write or reset. */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of the written bytes. */
  toBytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32le(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  i32le(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
  }

  /** `v` must be within the int64 range. */
  i64le(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(v, this.pos);
    this.pos += 8;
  }

  f64le(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** Unsigned varint of a non-negative safe integer. */
  varint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    while (v >= 0x80) {
      b[p++] = (v & 0x7f) | 0x80;
      v = v >= 0x1_0000_0000 ? Math.floor(v / 128) : v >>> 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  /** Unsigned varint of an arbitrarily large non-negative bigint. */
  varintBig(v: bigint): void {
    if (v < TWO_52) {
      this.varint(Number(v));
      return;
    }
    if (v < TWO_64) {
      // Timestamps (~2^60 ns): two bigint operations instead of one per 7 bits.
      this.varint64(Number(v >> 32n), Number(v & 0xffffffffn));
      return;
    }
    while (v >= 0x80n) {
      this.u8(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.u8(Number(v));
  }

  /** Unsigned varint of the uint64 `hi · 2^32 + lo` (`hi`, `lo`: unsigned 32-bit halves), without a bigint. */
  varint64(hi: number, lo: number): void {
    if (hi < 0x100000) {
      this.varint(hi * 0x1_0000_0000 + lo);
      return;
    }
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < 4; i++) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    // Bits 28–31 of lo, then hi from its bit 0 on.
    let v = (lo & 0x0f) | ((hi & 0x07) << 4);
    hi >>>= 3;
    while (hi !== 0) {
      b[p++] = v | 0x80;
      v = hi & 0x7f;
      hi >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  /** Zigzag varint of a signed safe integer. */
  zigzag(v: number): void {
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  /** Zigzag varint of any bigint (unbounded, so differences of two uint64 values fit). */
  zigzagBig(v: bigint): void {
    if (v > -TWO_52 && v < TWO_52) {
      const n = Number(v);
      this.varint(n >= 0 ? n * 2 : -n * 2 - 1);
      return;
    }
    this.varintBig(v >= 0n ? v * 2n : -v * 2n - 1n);
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Appends `src[start, end)` without making a view of it (short ranges copied in JS: no native call). */
  copyFrom(src: Buffer, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    if (n < 32) {
      const b = this.buf;
      let p = this.pos;
      for (let i = start; i < end; i++) b[p++] = src[i]!;
    } else src.copy(this.buf, this.pos, start, end);
    this.pos += n;
  }

  /** varint length + bytes. */
  lenBytes(src: Uint8Array): void {
    this.varint(src.length);
    this.bytes(src);
  }

  /** Parquet PLAIN byte array: u32 little-endian byte length + UTF-8. */
  plainString(s: string): void {
    this.ensure(4 + s.length * 3);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.pos);
    this.pos += 4 + n;
  }

  /** varint byte length + UTF-8. */
  string(s: string): void {
    const n = s.length;
    if (n < 128) {
      // Short ASCII (most keys and values): one length byte, no encoder call.
      this.ensure(1 + n * 3);
      let p = this.pos + 1;
      const b = this.buf;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === n) {
        b[this.pos] = n;
        this.pos = p;
        return;
      }
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.ensure(len);
    this.buf.write(s, this.pos, len, 'utf8');
    this.pos += len;
  }
}

export class ByteReader {
  pos: number;
  end: number;
  buf: Buffer;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /** Points the reader at `buf[start, end)` (readers are reused to avoid an allocation per trace). */
  reset(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new RangeError(`truncated data: need ${n} bytes at ${this.pos}, have ${this.end - this.pos}`);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32le(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  i32le(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  i64le(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  f64le(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Unsigned varint that must fit a safe integer. */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new RangeError(`varint too long at ${this.pos}`);
  }

  /** Unsigned varint of any size. */
  varintBig(): bigint {
    const start = this.pos;
    let small = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      const b = this.u8();
      small += (b & 0x7f) * mul;
      if (b < 0x80) return BigInt(small);
      mul *= 128;
    }
    // Up to 10 bytes (a uint64, as timestamps are): 28 bits in `small`, the rest as numbers, one bigint made.
    let hi = 0;
    for (let i = 7, shift = 49 - 32; i < 10; i++, shift += 7) {
      const b = this.u8();
      hi += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) {
        if (hi >= 2 ** 32) break;
        // small holds bits 0–48: its top 17 bits belong with hi.
        const top = Math.floor(small / 0x1_0000_0000);
        return (BigInt(hi + top) << 32n) | BigInt(small - top * 0x1_0000_0000);
      }
    }
    this.pos = start;
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.u8();
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      shift += 7n;
      if (shift > 700n) throw new RangeError(`varint too long at ${this.pos}`);
    }
  }

  zigzag(): number {
    const z = this.varint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /**
   * A zigzag varint as a number when it has at most 7 bytes (|value| < 2^48), without a bigint; NaN (and
   * the position unchanged) when it is longer: read it with zigzagBig then.
   */
  zigzagSmall(): number {
    const start = this.pos;
    let small = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      const b = this.u8();
      small += (b & 0x7f) * mul;
      if (b < 0x80) return small % 2 === 0 ? small / 2 : -(small + 1) / 2;
      mul *= 128;
    }
    this.pos = start;
    return NaN;
  }

  zigzagBig(): bigint {
    // Fast path: fits in 7 bytes (49 bits).
    const small = this.zigzagSmall();
    if (small === small) return BigInt(small);
    const z = this.varintBig();
    return z & 1n ? -(z + 1n) / 2n : z / 2n;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Moves past `n` bytes. */
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** Moves past one varint of any size. */
  skipVarint(): void {
    for (let i = 0; i < 100; i++) if (this.u8() < 0x80) return;
    throw new RangeError(`varint too long at ${this.pos}`);
  }

  /** Moves past a varint length and that many bytes (a string or bytes value). */
  skipLenBytes(): void {
    this.skip(this.varint());
  }

  /** A copy, so decoded messages never alias a (possibly pooled or cached) page buffer. */
  lenBytesCopy(): Uint8Array {
    const n = this.varint();
    return new Uint8Array(this.bytes(n));
  }

  string(): string {
    const n = this.varint();
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}
