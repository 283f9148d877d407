// Page codecs from Node's own zlib (no native add-on to build, nothing to download). BROTLI is the
// default: on realistic trace pages it stores ~40% fewer bytes than GZIP at a similar speed
// (bench/results/block.md), and DuckDB, Spark/parquet-mr, Arrow and hyparquet all read it.

import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { Codec } from './format';

const brotliCompress = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

export type CodecName = 'brotli' | 'gzip' | 'none';

export function codecOf(name: CodecName): Codec {
  return name === 'brotli' ? Codec.BROTLI : name === 'gzip' ? Codec.GZIP : Codec.UNCOMPRESSED;
}

/**
 * Compresses on libuv's thread pool, so page compression overlaps with encoding on the calling thread.
 * The output chunk covers the whole page: zlib's async mode otherwise needs the calling thread for
 * every 16 KiB of output, and that thread is busy encoding. Brotli quality 5: the knee of size vs
 * speed measured on trace pages (bench/results/block.md).
 */
export function compress(codec: Codec, data: Buffer): Promise<Buffer> {
  const chunkSize = Math.max(64 * 1024, data.length + 1024);
  switch (codec) {
    case Codec.BROTLI:
      return brotliCompress(data, {
        chunkSize,
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length },
      });
    case Codec.GZIP:
      return gzip(data, { level: 6, chunkSize });
    case Codec.UNCOMPRESSED:
      return Promise.resolve(data);
    default:
      return Promise.reject(new RangeError(`parquet: codec ${Codec[codec]} is not supported for writing`));
  }
}

/**
 * Decompresses one page; `expected` (the page header's uncompressed size) caps the output, so a
 * corrupt or hostile page cannot balloon memory.
 */
export function decompress(codec: Codec, data: Buffer, expected: number): Buffer {
  let out: Buffer;
  switch (codec) {
    case Codec.BROTLI:
      out = zlib.brotliDecompressSync(data, { maxOutputLength: Math.max(1, expected) });
      break;
    case Codec.GZIP:
      out = zlib.gunzipSync(data, { maxOutputLength: Math.max(1, expected) });
      break;
    case Codec.UNCOMPRESSED:
      out = data;
      break;
    default:
      throw new RangeError(`parquet: codec ${Codec[codec]} is not supported for reading`);
  }
  if (out.length !== expected) throw new RangeError(`parquet: page decompressed to ${out.length} bytes, header says ${expected}`);
  return out;
}
