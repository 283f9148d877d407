// Parquet's RLE / bit-packing hybrid (definition levels and dictionary indices), written from the
// Parquet encodings spec.

import { ByteReader, ByteWriter } from '../bytes';

export function bitWidth(maxValue: number): number {
  let w = 0;
  while (maxValue > 0) {
    w++;
    maxValue = Math.floor(maxValue / 2);
  }
  return w;
}

/**
 * Appends `values[0..n)` as RLE/bit-packed hybrid runs. Runs of 8+ equal values become RLE runs;
 * everything else is bit-packed in groups of 8 (a literal run in the middle must hold a multiple of 8
 * values, so a few values of a following repeat are taken into it).
 */
export function writeRleHybrid(out: ByteWriter, values: ArrayLike<number>, n: number, width: number): void {
  const byteWidth = Math.ceil(width / 8);
  let litStart = 0;
  let litCount = 0;
  let i = 0;
  while (i < n) {
    const v = values[i]!;
    let j = i + 1;
    while (j < n && values[j] === v) j++;
    let run = j - i;
    if (run >= 8) {
      const pad = litCount % 8 === 0 ? 0 : 8 - (litCount % 8);
      if (litCount === 0) litStart = i;
      litCount += pad;
      run -= pad;
      if (litCount > 0) writeBitPacked(out, values, litStart, litCount, width);
      litCount = 0;
      if (run > 0) {
        out.varint(run * 2);
        let x = v;
        for (let b = 0; b < byteWidth; b++) {
          out.u8(x & 0xff);
          x >>>= 8;
        }
      }
    } else {
      if (litCount === 0) litStart = i;
      litCount += run;
    }
    i = j;
  }
  if (litCount > 0) writeBitPacked(out, values, litStart, litCount, width);
}

/** One bit-packed run of ceil(count/8) groups; the last group is padded with zeros. */
function writeBitPacked(out: ByteWriter, values: ArrayLike<number>, start: number, count: number, width: number): void {
  const groups = Math.ceil(count / 8);
  out.varint(groups * 2 + 1);
  const total = groups * 8;
  out.ensure(groups * width);
  if (width <= 24) {
    // 32-bit integer arithmetic (dictionary indices and levels): fewer than 8 bits wait in the
    // accumulator when a value goes in, so it never holds more than width + 7 ≤ 31 bits.
    const b = out.buf;
    let p = out.pos;
    let acc = 0;
    let bits = 0;
    for (let k = 0; k < total; k++) {
      acc |= (k < count ? values[start + k]! : 0) << bits;
      bits += width;
      while (bits >= 8) {
        b[p++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
    out.pos = p;
    return;
  }
  let acc = 0;
  let bits = 0;
  for (let k = 0; k < total; k++) {
    const v = k < count ? values[start + k]! : 0;
    // Accumulate LSB-first; width ≤ 32 and we drain whole bytes, so acc stays below 2^40.
    acc += v * 2 ** bits;
    bits += width;
    while (bits >= 8) {
      out.u8(acc % 256);
      acc = Math.floor(acc / 256);
      bits -= 8;
    }
  }
  if (bits > 0) out.u8(acc);
}

/** Decodes `n` values of the hybrid encoding from `r` (which must end where the runs end or later). */
export function readRleHybrid(r: ByteReader, n: number, width: number, out: Uint32Array = new Uint32Array(n)): Uint32Array {
  const byteWidth = Math.ceil(width / 8);
  let i = 0;
  while (i < n) {
    const h = r.varint();
    if (h % 2 === 0) {
      const run = h / 2;
      let v = 0;
      for (let b = 0; b < byteWidth; b++) v += r.u8() * 2 ** (8 * b);
      const end = Math.min(n, i + run);
      out.fill(v, i, end);
      i = end;
    } else {
      const count = ((h - 1) / 2) * 8;
      // Read where the run lies (no view per run: definition levels alternate in short runs). Neither
      // loop reads past the run's ceil(count * width / 8) bytes.
      const bytes = r.buf;
      const start = r.pos;
      r.skip(Math.ceil((count * width) / 8));
      if (width <= 24) {
        // 32-bit integer arithmetic: the accumulator never holds more than width + 7 ≤ 31 bits.
        const mask = (1 << width) - 1;
        let acc = 0;
        let bits = 0;
        let p = start;
        const stop = Math.min(n, i + count);
        while (i < stop) {
          while (bits < width) {
            acc |= bytes[p++]! << bits;
            bits += 8;
          }
          out[i++] = acc & mask;
          acc >>>= width;
          bits -= width;
        }
        continue;
      }
      let acc = 0;
      let bits = 0;
      let p = start;
      const mask = 2 ** width;
      for (let k = 0; k < count; k++) {
        while (bits < width) {
          acc += bytes[p++]! * 2 ** bits;
          bits += 8;
        }
        if (i < n) out[i++] = acc % mask;
        acc = Math.floor(acc / mask);
        bits -= width;
      }
    }
  }
  return out;
}
