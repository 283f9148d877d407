// Reading a block. A cold by-ID lookup with meta.json in hand costs at most three object reads:
//   1. bloom-<shard>            (whole object; skip the block when the ID is absent)
//   2. index, one page          (ranged; the page is chosen from meta.indexPageFirstIDs)
//   3. data.parquet, one page   (ranged; the `trace` column page the index entry points at)
// Bloom shards, index pages and decompressed `trace` pages are cached (a byte-bounded BlockCache, shared
// by every reader of a process); the Parquet footer is never needed for by-ID. IDs outside [minID, maxID] cost no read at
// all, and once a block's bloom shard is cached, `excludes` rules the block out synchronously: no
// read, no promise, a hash and a few bit tests.

import type { ObjectStore } from '@stave/backend';
import type { TracesData } from '@stave/proto';
import { errors } from '@stave/core';
import { bloomShardOf, BloomShard } from './bloom';
import { BlockCache, type ColumnChunkValues, DictionaryPage, TracePage } from './block-cache';
import { type BlockMeta, blockPrefix, bloomName, DATA_NAME, hexID, INDEX_NAME } from './meta';
import { Codec, decodeFileMeta, type FileMeta, MAGIC, PageType } from './parquet/format';
import { byteArrayValueOffsets, readPage } from './parquet/page';
import { decodeTrace } from './trace-codec';
import { IndexPage, indexPageFor } from './trace-index';

export interface BlockReaderOptions {
  /**
   * Cache for bloom shards, index pages and `trace` pages, normally one per process shared by all readers;
   * a private 8 MiB one (no pages kept) when absent.
   */
  readonly cache?: BlockCache;
}

const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;
const EMPTY_PAGE = Buffer.alloc(0);

/**
 * A contiguous range of a block's Parquet row groups, [startRowGroup, startRowGroup + rowGroups): one
 * search job's share of a block. The writer cuts a row group only between traces, so every trace of the
 * block lies in exactly one row group and a set of ranges that partitions the row groups partitions the
 * traces.
 */
export interface RowGroupRange {
  readonly startRowGroup: number;
  readonly rowGroups: number;
}

function codecOfMeta(meta: BlockMeta): Codec {
  switch (meta.encoding) {
    case 'brotli':
      return Codec.BROTLI;
    case 'gzip':
      return Codec.GZIP;
    case 'none':
      return Codec.UNCOMPRESSED;
    default:
      throw errors.invalid(`block ${meta.blockID}: unknown page codec ${JSON.stringify(meta.encoding)}`);
  }
}

export function openBlock(store: ObjectStore, meta: BlockMeta, opts: BlockReaderOptions = {}): BlockReader {
  return new BlockReader(store, meta, opts);
}

/** Throws InvalidArgument unless `range` names at least one row group of the block, starting inside it. */
export function checkRowGroupRange(meta: BlockMeta, range: RowGroupRange): void {
  const total = meta.rowGroups;
  const { startRowGroup: start, rowGroups: count } = range;
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start >= total) {
    throw errors.invalid(`block ${meta.blockID} has ${total} row groups: no row groups ${start}..${start + count - 1}`);
  }
}

export class BlockReader {
  private readonly prefix: string;
  private readonly cache: BlockCache;
  /** Cache keys of the bloom shards, built once (no string concatenation per lookup). */
  private readonly bloomKeys: string[];
  /** Keys of the `trace` pages this reader has put in the cache, to forget them with the block. */
  private readonly pageKeys = new Set<string>();
  private footerPromise: Promise<FileMeta> | undefined;
  /** The block's page codec. */
  readonly codec: Codec;

  constructor(
    private readonly store: ObjectStore,
    readonly meta: BlockMeta,
    opts: BlockReaderOptions = {},
  ) {
    this.prefix = blockPrefix(meta.tenantID, meta.blockID);
    this.cache = opts.cache ?? new BlockCache(DEFAULT_CACHE_BYTES);
    this.codec = codecOfMeta(meta);
    this.bloomKeys = Array.from({ length: meta.bloomShards }, (_, i) => this.prefix + bloomName(i));
  }

  /**
   * True when the block certainly does not hold the trace and that is known without I/O: the ID lies
   * outside [minID, maxID], or its bloom shard is cached and says absent. False means "look": the
   * block may hold it, or its bloom is not cached yet. `hex` is hexID(id), when the caller has it.
   */
  excludes(id: Uint8Array, hex: string = hexID(id)): boolean {
    if (hex < this.meta.minID || hex > this.meta.maxID) return true;
    const bloom = this.cache.peek(this.bloomKeys[bloomShardOf(id, this.meta.bloomShards)]!, 'bloom') as BloomShard | undefined;
    return bloom !== undefined && !bloom.mayContain(id);
  }

  /** Forgets what the cache holds for this block (it left the blocklist). */
  evict(): void {
    for (const k of this.bloomKeys) this.cache.delete(k);
    for (let p = 0; p < this.meta.indexPageFirstIDs.length; p++) this.cache.delete(this.indexKey(p));
    for (const k of this.pageKeys) this.cache.delete(k);
    this.pageKeys.clear();
  }

  /** Spans in the block (from meta.json: no read). */
  spanCount(): number {
    return this.meta.totalSpans;
  }

  /** The trace with this 16-byte ID, exactly as written, or undefined when the block does not hold it. */
  async findTraceByID(id: Uint8Array, hex: string = hexID(id)): Promise<TracesData | undefined> {
    if (id.length !== 16) throw errors.invalid(`trace ID must be 16 bytes, got ${id.length}`);
    if (hex < this.meta.minID || hex > this.meta.maxID) return undefined;

    const bloomKey = this.bloomKeys[bloomShardOf(id, this.meta.bloomShards)]!;
    const bloom = (await this.cache.get(bloomKey, 'bloom', async () => BloomShard.decode(await this.store.read(bloomKey)))) as BloomShard;
    if (!bloom.mayContain(id)) return undefined;
    return this.findIndexed(id, hex);
  }

  /**
   * The trace with this ID through the index alone (no bloom filter): for search, which found the ID in
   * the block's own trace_id column.
   */
  async findIndexed(id: Uint8Array, hex: string = hexID(id)): Promise<TracesData | undefined> {
    const p = indexPageFor(this.meta.indexPageFirstIDs, hex);
    if (p < 0) return undefined;
    const page = (await this.cache.get(this.indexKey(p), 'index', () => this.readIndexPage(p))) as IndexPage;
    const loc = page.find(id);
    if (!loc) return undefined;

    const pageKey = `${this.prefix}${DATA_NAME}@${loc.pageOffset}`;
    this.pageKeys.add(pageKey);
    const { body, starts, ends } = (await this.cache.get(pageKey, 'page', () => this.readTracePage(loc.pageOffset, loc.pageLength))) as TracePage;
    if (loc.ordinal >= starts.length) {
      throw errors.internal(`block ${this.meta.blockID}: index points at value ${loc.ordinal} of a page with ${starts.length} traces`);
    }
    return decodeTrace(id, body, starts[loc.ordinal]!, ends[loc.ordinal]!);
  }

  /**
   * One `trace` column page, read with one ranged read and decompressed: into `into` when given and large
   * enough (readPage), else into a new buffer.
   */
  private async readTracePage(offset: number, length: number, into?: Buffer): Promise<TracePage> {
    // A view of what was read, not a copy (compaction reads every page of its inputs).
    const bytes = await this.readData(offset, length);
    const data = readPage(bytes, 0, this.codec, into);
    const { starts, ends } = byteArrayValueOffsets(data, true);
    return new TracePage(data.body, starts, ends);
  }

  /**
   * Every trace in ID order, decoded. Holds one index page and one data page at a time; reads each index
   * page once and each `trace` page once.
   */
  async *iterateTraces(range?: RowGroupRange): AsyncGenerator<{ id: Uint8Array; trace: TracesData }> {
    for await (const { id, encoded } of this.iterateEncodedTraces(range)) {
      yield { id, trace: decodeTrace(id, Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)) };
    }
  }

  /**
   * Every trace in ID order as stored (the `trace` column's encoding, for compaction: writeBlock takes it
   * back as it is), with its span count from the index. `encoded` is a view into the data page (the page
   * stays alive while a view of it is held; a new page is a new buffer).
   *
   * With `reuseBuffers`, pages are decompressed into two buffers taken in turn, so a yielded `encoded` is
   * valid only until the generator has read the page after the next one: a consumer may hold one trace
   * while asking for the next (a k-way merge holds each input's head), not more. Compaction reads ~1.8 GB
   * of pages in the bench; a buffer per page made that much external memory for V8 to collect.
   *
   * With `range`, only the traces of those row groups (one footer read more): the index pages that may
   * hold their IDs (from the row groups' trace_id statistics) are read, and of their entries those whose
   * `trace` page lies in the row groups' `trace` column chunks are kept.
   */
  async *iterateEncodedTraces(
    range?: RowGroupRange,
    opts: { reuseBuffers?: boolean } = {},
  ): AsyncGenerator<{ id: Uint8Array; encoded: Uint8Array; spans: number }> {
    const sel = range ? await this.selectRowGroups(range) : { firstPage: 0, lastPage: this.meta.indexPageFirstIDs.length - 1, lo: 0, hi: Infinity };
    const buffers = opts.reuseBuffers ? [EMPTY_PAGE, EMPTY_PAGE] : undefined;
    let turn = 0;
    let lastOffset = -1;
    let body: Buffer | undefined;
    let starts: Uint32Array | undefined;
    let ends: Uint32Array | undefined;
    for (let p = sel.firstPage; p <= sel.lastPage; p++) {
      const page = await this.readIndexPage(p);
      for (let i = 0; i < page.length; i++) {
        const loc = page.locationAt(i);
        if (loc.pageOffset < sel.lo || loc.pageOffset >= sel.hi) continue;
        if (loc.pageOffset !== lastOffset) {
          turn ^= 1;
          ({ body, starts, ends } = await this.readTracePage(loc.pageOffset, loc.pageLength, buffers?.[turn]));
          // A page larger than its buffer was decompressed into a new one: the buffer grows for the next
          // (with room to spare: pages end at a trace boundary past the writer's page size).
          if (buffers && body!.length >= buffers[turn]!.length) buffers[turn] = Buffer.allocUnsafeSlow(Math.ceil(((body!.length + 1) * 9) / 8 / 65536) * 65536);
          lastOffset = loc.pageOffset;
        }
        if (loc.ordinal >= starts!.length) {
          throw errors.internal(`block ${this.meta.blockID}: index points at value ${loc.ordinal} of a page with ${starts!.length} traces`);
        }
        yield { id: new Uint8Array(page.idAt(i)), encoded: body!.subarray(starts![loc.ordinal]!, ends![loc.ordinal]!), spans: loc.spans };
      }
    }
  }

  /** Every trace ID of the block in order, a page of the index at a time (cached index pages; no data read). */
  async *traceIds(): AsyncGenerator<Buffer[]> {
    for (let p = 0; p < this.meta.indexPageFirstIDs.length; p++) {
      const page = (await this.cache.get(this.indexKey(p), 'index', () => this.readIndexPage(p))) as IndexPage;
      yield Array.from({ length: page.length }, (_, i) => page.idAt(i));
    }
  }

  /** data.parquet's FileMetaData, read once per reader (search reads it for every query). */
  footer(): Promise<FileMeta> {
    this.footerPromise ??= this.readFooter().catch((err: unknown) => {
      this.footerPromise = undefined;
      throw err;
    });
    return this.footerPromise;
  }

  /** A column chunk's dictionary page (`length` bytes at `offset`), decompressed, through the cache. */
  async dictionaryPage(offset: number, length: number): Promise<DictionaryPage> {
    const key = `${this.prefix}${DATA_NAME}#dictionary@${offset}`;
    this.pageKeys.add(key);
    return (await this.cache.get(key, 'page', async () => {
      const page = readPage(await this.readData(offset, length), 0, this.codec);
      if (page.header.type !== PageType.DICTIONARY_PAGE) throw errors.internal(`block ${this.meta.blockID}: no dictionary page at ${offset}`);
      return new DictionaryPage(page.body, page.header.numValues);
    })) as DictionaryPage;
  }

  /** A search column chunk (starting at `offset`) decoded by `load`, through the cache. */
  async columnChunk(offset: number, load: () => Promise<ColumnChunkValues>): Promise<ColumnChunkValues> {
    const key = `${this.prefix}${DATA_NAME}#chunk@${offset}`;
    this.pageKeys.add(key);
    return (await this.cache.get(key, 'page', load)) as ColumnChunkValues;
  }

  /** `length` bytes of data.parquet from `offset`: one ranged read (search's column chunks). */
  async readData(offset: number, length: number): Promise<Buffer> {
    const b = await this.store.readRange(this.prefix + DATA_NAME, offset, length);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }

  /** data.parquet's FileMetaData in one ranged read (meta.footerSize says how much): for search. */
  async readFooter(): Promise<FileMeta> {
    const tail = this.meta.footerSize + 8;
    const bytes = Buffer.from(await this.store.readRange(this.prefix + DATA_NAME, this.meta.size - tail, tail));
    if (!bytes.subarray(tail - 4).equals(MAGIC) || bytes.readUInt32LE(tail - 8) !== this.meta.footerSize) {
      throw errors.internal(`block ${this.meta.blockID}: data.parquet footer does not match meta.json (footerSize ${this.meta.footerSize})`);
    }
    return decodeFileMeta(bytes.subarray(0, this.meta.footerSize));
  }

  /** The index pages and `trace` byte interval [lo, hi) of a row-group range. */
  private async selectRowGroups(range: RowGroupRange): Promise<{ firstPage: number; lastPage: number; lo: number; hi: number }> {
    checkRowGroupRange(this.meta, range);
    const total = this.meta.rowGroups;
    const { startRowGroup: start, rowGroups: count } = range;
    const groups = (await this.readFooter()).rowGroups.slice(start, Math.min(total, start + count));
    const column = (name: string): number => groups[0]!.columns.findIndex((c) => c.path.length === 1 && c.path[0] === name);
    const traceCol = column('trace');
    const idCol = column('trace_id');
    if (traceCol < 0 || idCol < 0) throw errors.internal(`block ${this.meta.blockID}: data.parquet has no trace or trace_id column`);
    const chunkStart = (rg: (typeof groups)[number]): number => {
      const c = rg.columns[traceCol]!;
      return c.dictionaryPageOffset !== undefined ? Math.min(c.dictionaryPageOffset, c.dataPageOffset) : c.dataPageOffset;
    };
    const last = groups[groups.length - 1]!;
    const lo = chunkStart(groups[0]!);
    const hi = chunkStart(last) + last.columns[traceCol]!.totalCompressedSize;
    // Rows are sorted by trace ID across the file: the range's IDs lie between its first group's min and
    // its last group's max. Without statistics, every index page is read (the byte interval still decides).
    const minStat = groups[0]!.columns[idCol]!.statistics?.min;
    const maxStat = last.columns[idCol]!.statistics?.max;
    const pages = this.meta.indexPageFirstIDs;
    const firstPage = minStat?.length === 16 ? Math.max(0, indexPageFor(pages, hexID(minStat))) : 0;
    const lastPage = maxStat?.length === 16 ? indexPageFor(pages, hexID(maxStat)) : pages.length - 1;
    return { firstPage, lastPage, lo, hi };
  }

  private async readIndexPage(p: number): Promise<IndexPage> {
    const offs = this.meta.indexPageOffsets;
    const bytes = await this.store.readRange(this.prefix + INDEX_NAME, offs[p]!, offs[p + 1]! - offs[p]!);
    return IndexPage.decode(bytes);
  }

  private indexKey(p: number): string {
    return `${this.prefix}${INDEX_NAME}@${p}`;
  }
}
