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
 * The output chunk is large (zlib's async mode otherwise needs the calling thread for every 16 KiB of
 * output, and that thread is busy encoding). Brotli quality 5 by default: the knee of
 * size vs speed measured on trace pages (bench/results/block.md); `level` overrides it.
 */
export function compress(codec: Codec, data: Buffer, level?: number): Promise<Buffer> {
  // A quarter of the page: trace pages compress 4–15×, so nearly always one chunk; a page that does not
  // fit takes a few more (each a trip through the calling thread), rarer than allocating (and V8
  // counting as external memory) a whole page's size for every page.
  const chunkSize = Math.max(64 * 1024, (data.length >> 2) + 1024);
  switch (codec) {
    case Codec.BROTLI:
      return brotliCompress(data, {
        chunkSize,
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: level ?? 5,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
          // Literal context modeling: ~15% of quality 5's time on trace pages for 0.4% of their size.
          [zlib.constants.BROTLI_PARAM_DISABLE_LITERAL_CONTEXT_MODELING]: 1,
        },
      }).then(compact);
    case Codec.GZIP:
      return gzip(data, { level: level ?? 6, chunkSize }).then(compact);
    case Codec.UNCOMPRESSED:
      return Promise.resolve(data);
    default:
      return Promise.reject(new RangeError(`parquet: codec ${Codec[codec]} is not supported for writing`));
  }
}

/**
 * zlib hands back a view into its output chunk, which is as large as the page before compression: a
 * row group's compressed pages would keep the memory of its uncompressed pages (measured: ~100 MiB per
 * 100 MiB row group). A compressed page that uses less than half of its chunk is copied out.
 */
function compact(b: Buffer): Buffer {
  return b.byteLength * 2 < b.buffer.byteLength ? Buffer.from(b) : b;
}

/**
 * Decompresses one page; `expected` (the page header's uncompressed size) caps the output, so a
 * corrupt or hostile page cannot balloon memory.
 */
export function decompress(codec: Codec, data: Buffer, expected: number): Buffer {
  // One output chunk a little larger than the page: zlib's sync mode otherwise fills 16 KiB chunks and
  // concatenates them (three times the page's bytes allocated, all of it external memory to V8, whose
  // growth starts its full collections).
  const opts = { maxOutputLength: Math.max(1, expected), chunkSize: Math.max(64, expected + 64) };
  let out: Buffer;
  switch (codec) {
    case Codec.BROTLI:
      out = zlib.brotliDecompressSync(data, opts);
      break;
    case Codec.GZIP:
      out = zlib.gunzipSync(data, opts);
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
