// Reading a block. A cold by-ID lookup with meta.json in hand costs at most three object reads:
//   1. bloom-<shard>            (whole object; skip the block when the ID is absent)
//   2. index, one page          (ranged; the page is chosen from meta.indexPageFirstIDs)
//   3. data.parquet, one page   (ranged; the `trace` column page the index entry points at)
// Bloom shards and index pages are cached (byte-bounded LRU, shareable between readers); the Parquet
// footer is never needed for by-ID. IDs outside [minID, maxID] cost no read at all.

import type { ObjectStore } from '@stave/backend';
import type { TracesData } from '@stave/proto';
import { errors } from '@stave/core';
import { bloomShardOf, BloomShard } from './bloom';
import { ByteLru } from './lru';
import { type BlockMeta, blockPrefix, bloomName, DATA_NAME, hexID, INDEX_NAME } from './meta';
import { Codec, decodeFileMeta, type FileMeta, MAGIC } from './parquet/format';
import { byteArrayValueOffsets, readPage } from './parquet/page';
import { decodeTrace } from './trace-codec';
import { IndexPage, indexPageFor } from './trace-index';

export interface BlockReaderOptions {
  /** Shared cache for bloom shards and index pages; a private 8 MiB one when absent. */
  readonly cache?: ByteLru<BloomShard | IndexPage>;
}

const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;

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

export class BlockReader {
  private readonly prefix: string;
  private readonly cache: ByteLru<BloomShard | IndexPage>;
  private readonly codec: Codec;
  private readonly inflight = new Map<string, Promise<BloomShard | IndexPage>>();

  constructor(
    private readonly store: ObjectStore,
    readonly meta: BlockMeta,
    opts: BlockReaderOptions = {},
  ) {
    this.prefix = blockPrefix(meta.tenantID, meta.blockID);
    this.cache = opts.cache ?? new ByteLru(DEFAULT_CACHE_BYTES);
    this.codec = codecOfMeta(meta);
  }

  /** Spans in the block (from meta.json: no read). */
  spanCount(): number {
    return this.meta.totalSpans;
  }

  /** The trace with this 16-byte ID, exactly as written, or undefined when the block does not hold it. */
  async findTraceByID(id: Uint8Array): Promise<TracesData | undefined> {
    if (id.length !== 16) throw errors.invalid(`trace ID must be 16 bytes, got ${id.length}`);
    const hex = hexID(id);
    if (hex < this.meta.minID || hex > this.meta.maxID) return undefined;

    const shard = bloomShardOf(id, this.meta.bloomShards);
    const bloom = (await this.cached(bloomName(shard), async () => BloomShard.decode(await this.store.read(this.prefix + bloomName(shard))))) as BloomShard;
    if (!bloom.mayContain(id)) return undefined;

    const p = indexPageFor(this.meta.indexPageFirstIDs, hex);
    if (p < 0) return undefined;
    const page = (await this.cached(`${INDEX_NAME}@${p}`, () => this.readIndexPage(p))) as IndexPage;
    const loc = page.find(id);
    if (!loc) return undefined;

    const bytes = Buffer.from(await this.store.readRange(this.prefix + DATA_NAME, loc.pageOffset, loc.pageLength));
    const data = readPage(bytes, 0, this.codec);
    const { starts, ends } = byteArrayValueOffsets(data, true);
    if (loc.ordinal >= starts.length) {
      throw errors.internal(`block ${this.meta.blockID}: index points at value ${loc.ordinal} of a page with ${starts.length} traces`);
    }
    return decodeTrace(id, data.body, starts[loc.ordinal]!, ends[loc.ordinal]!);
  }

  /**
   * Every trace in ID order (for compaction). Holds one index page and one data page at a time; reads
   * each index page once and each `trace` page once.
   */
  async *iterateTraces(): AsyncGenerator<{ id: Uint8Array; trace: TracesData }> {
    let lastOffset = -1;
    let body: Buffer | undefined;
    let starts: Uint32Array | undefined;
    let ends: Uint32Array | undefined;
    for (let p = 0; p < this.meta.indexPageFirstIDs.length; p++) {
      const page = await this.readIndexPage(p);
      for (let i = 0; i < page.length; i++) {
        const loc = page.locationAt(i);
        if (loc.pageOffset !== lastOffset) {
          const bytes = Buffer.from(await this.store.readRange(this.prefix + DATA_NAME, loc.pageOffset, loc.pageLength));
          const data = readPage(bytes, 0, this.codec);
          ({ starts, ends } = byteArrayValueOffsets(data, true));
          body = data.body;
          lastOffset = loc.pageOffset;
        }
        const id = new Uint8Array(page.idAt(i));
        yield { id, trace: decodeTrace(id, body!, starts![loc.ordinal]!, ends![loc.ordinal]!) };
      }
    }
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

  private async readIndexPage(p: number): Promise<IndexPage> {
    const offs = this.meta.indexPageOffsets;
    const bytes = await this.store.readRange(this.prefix + INDEX_NAME, offs[p]!, offs[p + 1]! - offs[p]!);
    return IndexPage.decode(bytes);
  }

  /** Cache lookup with in-flight de-duplication, so concurrent lookups share one read. */
  private async cached(name: string, load: () => Promise<BloomShard | IndexPage>): Promise<BloomShard | IndexPage> {
    const key = this.prefix + name;
    const hit = this.cache.get(key);
    if (hit) return hit;
    let p = this.inflight.get(key);
    if (!p) {
      p = load().finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
      const v = await p;
      this.cache.set(key, v, v.byteSize);
      return v;
    }
    return p;
  }
}
