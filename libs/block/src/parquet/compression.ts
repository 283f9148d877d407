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

/**
 * decompress() into `out` when it holds `expected + 1` bytes: returns a view of its first `expected`
 * bytes, valid until `out` is written again. A reader that goes through a block's pages one after the
 * other decompresses each into the same two buffers instead of a new one per page: a compaction
 * decompresses ~1.8 GB of pages (the bench's), and each new page buffer is memory V8 counts as external,
 * whose growth starts full collections; brotli also wrote its output into memory not touched before
 * (measured on a level-0 block's 29 pages: 67–73 against 87–117 ms per pass). Falls back to decompress()
 * for the other codecs, or when `out` is too small.
 */
export function decompressInto(codec: Codec, data: Buffer, expected: number, out: Buffer): Buffer {
  if (codec !== Codec.BROTLI || out.length < expected + 1) return decompress(codec, data, expected);
  const n = BROTLI_PAGES.decode(data, out, expected + 1);
  if (n === undefined) return decompress(codec, data, expected);
  if (n !== expected) throw new RangeError(`parquet: page decompressed to ${n > expected ? 'more than ' + expected : n} bytes, header says ${expected}`);
  return out.subarray(0, expected);
}

/** What BrotliPageDecoder uses of a zlib stream's native handle (Node's zlib.js drives it the same way for its sync calls). */
interface ZlibHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  reset(): void;
}

/**
 * One brotli decoder, reset for each page and decoding straight into the caller's buffer. Node has no
 * public call that decompresses into a given buffer (brotliDecompressSync allocates its output), so this
 * drives the stream's native handle as zlib.js's own sync path does (`_handle.writeSync`, whose
 * available-out and available-in counts land in `_writeState`). When a Node version lacks them, decode()
 * returns undefined and the caller takes the public path; a test checks that the handle is used.
 */
class BrotliPageDecoder {
  private stream: zlib.BrotliDecompress | undefined;
  private handle: ZlibHandle | undefined;
  private state: Uint32Array | undefined;
  private usable: boolean | undefined;

  /** Bytes decoded into `out[0, outLen)`, or undefined when this Node offers no handle to drive. */
  decode(data: Buffer, out: Buffer, outLen: number): number | undefined {
    if (this.usable === false) return undefined;
    if (this.stream === undefined || this.stream.destroyed) this.open();
    if (!this.usable) return undefined;
    const [stream, handle, state] = [this.stream!, this.handle!, this.state!];
    handle.reset();
    handle.writeSync(zlib.constants.BROTLI_OPERATION_FINISH, data, 0, data.length, out, 0, outLen);
    if (stream.destroyed) throw new RangeError('parquet: corrupt brotli page');
    const [availOut, availIn] = [state[0]!, state[1]!];
    if (availIn !== 0) throw new RangeError(`parquet: brotli page has ${availIn} bytes past its end, or more output than its header says`);
    return outLen - availOut;
  }

  /** A new stream (the first, or after a corrupt page destroyed the last one), its handle checked once. */
  private open(): void {
    const stream = zlib.createBrotliDecompress({ chunkSize: 64 }) as zlib.BrotliDecompress & { _handle?: ZlibHandle; _writeState?: Uint32Array };
    // A corrupt page destroys the stream (an 'error' event follows); the next page gets a new one.
    stream.on('error', () => {});
    const handle = stream._handle;
    const state = stream._writeState;
    this.stream = stream;
    this.usable = typeof handle?.writeSync === 'function' && typeof handle.reset === 'function' && ArrayBuffer.isView(state) && state.length >= 2;
    this.handle = this.usable ? handle : undefined;
    this.state = this.usable ? state : undefined;
  }

  /** Whether decode() drives the native handle (for tests: false means every page takes the public path). */
  get native(): boolean | undefined {
    return this.usable;
  }
}

const BROTLI_PAGES = new BrotliPageDecoder();

/** For tests: whether decompressInto() decodes brotli pages in place (undefined before the first one). */
export function brotliDecodesInPlace(): boolean | undefined {
  return BROTLI_PAGES.native;
}
